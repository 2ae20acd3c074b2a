// Dose import (supervisor, admin): a VRS export or Kiroku CSV (UTF-8 or
// Shift_JIS, sent as its exact bytes), a dry run with the per-row error
// report, then the import as a job with its progress.

import { upload, runJob, may } from './api.js';
import { $, rows, count, jobPanel } from './ui.js';

const MARKUP = `
<h2>接種記録の取込み</h2>
<form id="i-form" autocomplete="off">
  <label for="i-file">ファイル（VRSの出力またはKiroku形式のCSV）</label>
  <input id="i-file" type="file" accept=".csv,text/csv" required>
  <span class="label">取込み方法</span>
  <label><input type="checkbox" id="i-all"> エラーが1行でもあれば何も取り込まない</label>
  <button type="submit" id="i-check">検査（試行・書き込みません）</button>
  <p class="error" id="i-error" role="alert"></p>
</form>
<div id="i-report" hidden>
  <dl class="facts" id="i-summary"></dl>
  <table class="doses"><caption>エラーのある行</caption><thead><tr><th scope="col">行</th><th scope="col">項目</th><th scope="col">理由</th></tr></thead><tbody id="i-errors"></tbody></table>
  <p><button type="button" id="i-apply">取り込む</button></p>
</div>
<div id="i-job" hidden></div>`;

let panel = null;

function summary(r) {
  const pairs = [
    ['形式', r.layout === 'vrs' ? 'VRS出力' : 'Kiroku形式'], ['行数', count(r.rows)],
    ['取り込む記録', count(r.to_apply)], ['登録済みのため省く', count(r.already_recorded)], ['エラーの行', count(r.error_rows)],
  ];
  if (!r.dry_run) pairs.push(['取り込んだ記録', count(r.applied)]);
  $('i-summary').replaceChildren(...pairs.flatMap(([k, v]) => [Object.assign(document.createElement('dt'), { textContent: k }), Object.assign(document.createElement('dd'), { textContent: v })]));
  $('i-errors').replaceChildren(...rows(r.errors ?? [], (e) => [e.line, e.field, e.reason]));
  $('i-report').hidden = false;
}

const options = () => ($('i-all').checked ? { all_or_nothing: 'true' } : {});

async function onCheck(event) {
  event.preventDefault();
  $('i-error').textContent = '';
  $('i-report').hidden = true;
  const file = $('i-file').files[0];
  if (!file) return;
  try {
    const r = await upload('dose-import', 'check', file, options());
    summary(r);
    $('i-apply').disabled = !may('dose-import/import') || r.to_apply === 0 || (r.error_rows > 0 && $('i-all').checked);
    $('i-apply').focus();
  } catch (e) {
    $('i-error').textContent = e.message;
  }
}

async function onApply() {
  const file = $('i-file').files[0];
  if (!file) return;
  $('i-apply').disabled = true;
  const out = await panel.run(runJob('dose-import', 'import', file, panel.show, options()), '取り込んでいます…');
  if (out) {
    summary(out);
    panel.say(`${count(out.applied)} 件を取り込みました。`);
  }
}

export default {
  id: 'import',
  title: '取込み',
  shows: () => may('dose-import/check'),
  render(root) {
    root.innerHTML = MARKUP;
    panel = jobPanel($('i-job'), 'i', '取込みの進み具合');
    $('i-form').addEventListener('submit', onCheck);
    $('i-apply').addEventListener('click', onApply);
  },
};
