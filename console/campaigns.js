// Campaigns (supervisor): the criteria as a form, a preview (count and
// sample), the extraction as a job with a live progress bar and cancel,
// then the mailing vendor's CSV and the PDF notices.

import { plugin, may, runJob } from './api.js';
import { $, rows, wareki, count, download, base64Bytes, localToday, jobPanel } from './ui.js';

const MARKUP = `
<h2>接種券の発行（対象者抽出）</h2>
<form id="camp-form" autocomplete="off">
  <label for="c-id">キャンペーンID</label>
  <input id="c-id" required pattern="[a-z0-9-]+" value="covid-2026-autumn">
  <label for="c-dose">接種回数</label>
  <input id="c-dose" inputmode="numeric" maxlength="1" required value="8">
  <label for="c-starts">開始日（年齢の基準日）</label>
  <input id="c-starts" type="date" required>
  <label for="c-min-age">年齢（以上）</label>
  <input id="c-min-age" inputmode="numeric" maxlength="3">
  <label for="c-max-age">年齢（以下）</label>
  <input id="c-max-age" inputmode="numeric" maxlength="3">
  <label for="c-min-doses">接種済み回数（以上）</label>
  <input id="c-min-doses" inputmode="numeric" maxlength="1">
  <label for="c-max-doses">接種済み回数（以下）</label>
  <input id="c-max-doses" inputmode="numeric" maxlength="1">
  <label for="c-days">前回接種からの日数（以上）</label>
  <input id="c-days" inputmode="numeric" maxlength="4">
  <span class="label" id="c-status-label">住民の状態</span>
  <span role="group" aria-labelledby="c-status-label">
    <label><input type="checkbox" id="c-st-resident" checked> 住民</label>
    <label><input type="checkbox" id="c-st-moved-out"> 転出</label>
  </span>
  <button type="submit" id="c-preview">対象者を確認（試算）</button>
  <p class="error" id="c-error" role="alert"></p>
</form>
<div id="c-result" hidden>
  <p id="c-count" role="status"></p>
  <table class="doses"><caption>対象者の例（最大10件）</caption>
  <thead><tr><th scope="col">利用者ID</th><th scope="col">年齢</th><th scope="col">接種済み回数</th><th scope="col">前回接種日</th></tr></thead>
  <tbody id="c-sample"></tbody></table>
  <p><button type="button" id="c-extract">抽出して接種券を発行</button></p>
</div>
<div id="c-job" hidden></div>
<div id="c-print" hidden>
  <h3>印刷データ</h3>
  <button type="button" id="c-csv">郵送用CSVを保存</button>
  <button type="button" id="c-pdf">通知書PDFを保存（次の100件）</button>
  <p id="c-print-state" role="status"></p>
</div>`;

let panel = null;
let notices = 0;

function number(id) {
  const v = $(id).value.trim();
  return v === '' ? undefined : Number(v);
}

function criteria() {
  const statuses = ['resident', 'moved-out'].filter((s) => $(`c-st-${s}`).checked);
  const campaign = {
    id: $('c-id').value.trim(),
    dose_number: number('c-dose'),
    starts_on: $('c-starts').value,
    min_age: number('c-min-age'),
    max_age: number('c-max-age'),
    min_doses: number('c-min-doses'),
    max_doses: number('c-max-doses'),
    min_days_since_last_dose: number('c-days'),
    statuses,
  };
  return { campaign: Object.fromEntries(Object.entries(campaign).filter(([, v]) => v !== undefined)) };
}

async function onPreview(event) {
  event.preventDefault();
  $('c-error').textContent = '';
  $('c-result').hidden = true;
  try {
    const p = await plugin('target-extraction', 'preview', criteria());
    $('c-count').textContent = `対象者は ${count(p.targets)} 人です（まだ発行していません）。`;
    $('c-sample').replaceChildren(...rows((p.sample ?? []).slice(0, 10), (s) => [
      s.person_id, `${s.age}歳`, `${s.doses_received}回`, s.last_dose ? wareki(s.last_dose) : 'なし',
    ]));
    $('c-extract').disabled = !may('target-extraction/extract') || !p.targets;
    $('c-result').hidden = false;
    $('c-extract').focus();
  } catch (e) {
    $('c-error').textContent = e.message;
  }
}

async function onExtract() {
  $('c-extract').disabled = true;
  $('c-print').hidden = true;
  const job = runJob('target-extraction', 'extract', criteria(), panel.show);
  const out = await panel.run(job, '発行しています…');
  if (out) {
    panel.say(`${count(out.issued)} 枚の接種券を発行しました。`);
    notices = 0;
    $('c-print').hidden = false;
  }
}

/** Every page of the mailing CSV, joined under one header line. */
async function onCsv() {
  const [id, dose] = [$('c-id').value.trim(), number('c-dose')];
  let after = 0;
  let text = '';
  for (;;) {
    const page = await plugin('target-extraction', 'print-batch', { campaign: id, dose_number: dose, after, limit: 1000 });
    const csv = page.csv ?? '';
    text += text === '' ? csv : csv.slice(csv.indexOf('\n') + 1);
    $('c-print-state').textContent = `${count(text.split('\n').length - 2)} 行`;
    if (!page.next_after) break;
    after = page.next_after;
  }
  download(`${id}-${dose}.csv`, 'text/csv;charset=utf-8', text);
}

async function onPdf() {
  const [id, dose] = [$('c-id').value.trim(), number('c-dose')];
  const page = await plugin('target-extraction', 'print-notices', { campaign: id, dose_number: dose, after: notices, limit: 100 });
  download(`${id}-${dose}-notices-${notices}.pdf`, 'application/pdf', base64Bytes(page.pdf_base64));
  notices = page.next_after ?? notices;
  $('c-print-state').textContent = page.next_after ? '続きがあります。' : 'すべて保存しました。';
}

const guard = (f) => () => f().catch((e) => { $('c-print-state').textContent = e.message; });

export default {
  id: 'campaigns',
  title: '接種券発行',
  shows: () => may('target-extraction/preview'),
  render(root) {
    root.innerHTML = MARKUP;
    $('c-starts').value = localToday();
    $('camp-form').addEventListener('submit', onPreview);
    $('c-extract').addEventListener('click', onExtract);
    panel = jobPanel($('c-job'), 'c', '発行の進み具合');
    $('c-csv').addEventListener('click', guard(onCsv));
    $('c-pdf').addEventListener('click', guard(onPdf));
  },
};
