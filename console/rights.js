// Retention and subject rights. Retention (admin, supervisor): the purge
// preview by rule, the purge as a job with its progress (admin), legal
// holds. Subject rights (supervisor; disclosure also clerks): a person's
// disclosure as a PDF letter, correction with a reason, suspension of use
// and lifting it.

import { plugin, may, runJob } from './api.js';
import { $, rows, count, download, base64Bytes, jobPanel } from './ui.js';
import { identity, personByTicket } from './counter.js';

const MARKUP = `
<h2>保存期間と本人からの請求</h2>
<section id="r-retention" aria-labelledby="r-ret-title">
<h3 id="r-ret-title">保存期間を過ぎた記録の消去</h3>
<p><button type="button" id="r-preview">対象を確認（試算）</button></p>
<p class="error" id="r-error" role="alert"></p>
<div id="r-result" hidden>
  <p id="r-total" role="status"></p>
  <table class="doses"><thead><tr><th scope="col">規則</th><th scope="col">人数</th><th scope="col">接種記録</th><th scope="col">接種券</th></tr></thead><tbody id="r-rules"></tbody></table>
  <form id="r-purge-form" autocomplete="off">
    <label for="r-confirm">消去は元に戻せません。実行するには「消去」と入力してください</label>
    <input id="r-confirm" required>
    <button type="submit" id="r-purge">消去を実行</button>
  </form>
</div>
<div id="r-job" hidden></div>
</section>
<section id="r-person-section" aria-labelledby="r-person-title">
<h3 id="r-person-title">本人の記録（開示・訂正・利用停止・法的保存）</h3>
<form id="r-find" autocomplete="off">
  <label for="r-ticket">接種券番号（10桁）またはOCR行（18桁）</label>
  <input id="r-ticket" inputmode="numeric" maxlength="18">
  <button type="submit">検索</button>
  <p class="error" id="r-find-error" role="alert"></p>
</form>
<div id="r-person" hidden>
  <dl class="facts" id="r-facts"></dl>
  <form id="r-disclose" autocomplete="off">
    <label for="r-enquirer">請求者</label>
    <input id="r-enquirer" value="本人（窓口）" required>
    <button type="submit">開示文書（PDF）を作成</button>
  </form>
  <form id="r-correct" autocomplete="off">
    <label for="r-field">訂正する項目</label>
    <select id="r-field"><option value="kanji-name">氏名（漢字）</option><option value="kana-name">氏名（カナ）</option><option value="postal-code">郵便番号</option><option value="address">住所</option><option value="building">方書</option><option value="phone">電話番号</option></select>
    <label for="r-value">正しい内容</label>
    <input id="r-value" required>
    <label for="r-correct-reason">理由</label>
    <input id="r-correct-reason" required>
    <button type="submit">訂正する</button>
  </form>
  <form id="r-suspend" autocomplete="off">
    <label for="r-suspend-reason">利用停止・解除の理由</label>
    <input id="r-suspend-reason" required>
    <span><button type="submit" id="r-suspend-on">利用を停止</button> <button type="button" id="r-suspend-off" class="secondary">停止を解除</button></span>
  </form>
  <form id="r-hold" autocomplete="off">
    <label for="r-hold-reason">法的保存（消去しない）の理由</label>
    <input id="r-hold-reason" required>
    <span><button type="submit" id="r-hold-on">法的保存を設定</button> <button type="button" id="r-hold-off" class="secondary">解除</button></span>
  </form>
  <p class="error" id="r-person-error" role="alert"></p>
  <p class="done" id="r-person-done" role="status"></p>
</div>
</section>`;

let person = null;
let panel = null;

async function onPreview() {
  $('r-error').textContent = '';
  try {
    const p = await plugin('retention-purge', 'preview', {});
    $('r-total').textContent = `消去の対象：${count(p.persons)} 人（法的保存のため除外：${count(p.held)} 人）`;
    $('r-rules').replaceChildren(...rows(p.rules ?? [], (r) => [r.rule, count(r.persons), count(r.doses), count(r.tickets)]));
    $('r-purge-form').hidden = !may('retention-purge/purge') || !p.persons;
    $('r-result').hidden = false;
  } catch (e) {
    $('r-error').textContent = e.message;
  }
}

async function onPurge(event) {
  event.preventDefault();
  if ($('r-confirm').value.trim() !== '消去') return;
  $('r-purge-form').hidden = true;
  const out = await panel.run(runJob('retention-purge', 'purge', {}, panel.show), '消去しています…');
  if (out) panel.say(`${count(out.purged)} 人の記録を消去しました。`);
}

/** Runs a person operation; its answer's line shown when done. */
function act(op, input, done) {
  return async (event) => {
    event?.preventDefault();
    $('r-person-error').textContent = '';
    $('r-person-done').textContent = '';
    try {
      const r = await plugin(...op.split('/'), { person_id: person, ...input() });
      $('r-person-done').textContent = done(r);
    } catch (e) {
      $('r-person-error').textContent = e.message;
    }
  };
}

async function onFind(event) {
  event.preventDefault();
  $('r-find-error').textContent = '';
  $('r-person').hidden = true;
  try {
    const p = await personByTicket($('r-ticket').value);
    person = p.person_id;
    $('r-facts').replaceChildren(...identity(p));
    $('r-disclose').hidden = !may('subject-rights/disclose-pdf');
    $('r-correct').hidden = !may('subject-rights/correct');
    $('r-suspend').hidden = !may('subject-rights/suspend');
    $('r-hold').hidden = !may('retention-purge/set-hold');
    $('r-person').hidden = false;
  } catch (e) {
    $('r-find-error').textContent = e.message;
  }
}

export default {
  id: 'rights',
  title: '保存・開示',
  shows: () => may('retention-purge/preview') || may('subject-rights/disclose-pdf'),
  render(root) {
    root.innerHTML = MARKUP;
    person = null;
    panel = jobPanel($('r-job'), 'r', '消去の進み具合');
    $('r-retention').hidden = !may('retention-purge/preview');
    $('r-person-section').hidden = !may('dose-entry/find-person');
    $('r-preview').addEventListener('click', onPreview);
    $('r-purge-form').addEventListener('submit', onPurge);
    $('r-find').addEventListener('submit', onFind);
    $('r-disclose').addEventListener('submit', async (event) => {
      event.preventDefault();
      $('r-person-error').textContent = '';
      try {
        const r = await plugin('subject-rights', 'disclose-pdf', { person_id: person, enquirer: $('r-enquirer').value.trim() });
        download('開示文書.pdf', 'application/pdf', base64Bytes(r.pdf_base64));
        $('r-person-done').textContent = '開示文書を作成しました（請求は記録されています）。';
      } catch (e) {
        $('r-person-error').textContent = e.message;
      }
    });
    $('r-correct').addEventListener('submit', act('subject-rights/correct',
      () => ({ field: $('r-field').value, value: $('r-value').value.trim(), reason: $('r-correct-reason').value.trim() }),
      () => '訂正しました（元の内容は履歴に残ります）。'));
    const reason = (id) => () => ({ reason: $(id).value.trim() });
    $('r-suspend').addEventListener('submit', act('subject-rights/suspend', reason('r-suspend-reason'), () => '利用を停止しました。'));
    $('r-suspend-off').addEventListener('click', act('subject-rights/lift-suspension', reason('r-suspend-reason'), () => '利用停止を解除しました。'));
    $('r-hold').addEventListener('submit', act('retention-purge/set-hold', reason('r-hold-reason'), () => '法的保存を設定しました。'));
    $('r-hold-off').addEventListener('click', act('retention-purge/lift-hold', reason('r-hold-reason'), () => '法的保存を解除しました。'));
  },
};
