// Move-in queries (clerk; the batch for supervisors) and the approval
// queue (federation-approver): ask the previous municipality for the dose
// records of a person who moved in, see found / no record / pending, take
// the answer up into the records; decide queries from other
// municipalities that wait for a person's decision.

import { session, plugin, may, runJob, tenantApi } from './api.js';
import { $, el, rows, wareki, when, MAKERS, count, jobPanel } from './ui.js';

const OUTCOME = { found: '記録あり', 'no-record': '記録なし', refused: '拒否されました', pending: '回答待ち' };

const MARKUP = `
<h2>転入者の接種記録の照会</h2>
<section id="m-query-section" aria-labelledby="m-q-title">
<h3 id="m-q-title">照会</h3>
<form id="m-form" autocomplete="off">
  <label for="m-address">宛名番号（10桁）</label>
  <input id="m-address" inputmode="numeric" maxlength="10" required>
  <label for="m-previous">転出元の自治体コード（6桁）</label>
  <input id="m-previous" inputmode="numeric" maxlength="6" required>
  <label for="m-basis">根拠</label>
  <input id="m-basis" value="mynumber-act-19-16" required>
  <button type="submit" id="m-send">照会する</button>
  <p class="error" id="m-error" role="alert"></p>
</form>
<div id="m-result" hidden>
  <p id="m-outcome" role="status"></p>
  <table class="doses"><thead><tr><th scope="col">回</th><th scope="col">接種日</th><th scope="col">メーカー</th><th scope="col">ロット</th></tr></thead><tbody id="m-doses"></tbody></table>
  <p><button type="button" id="m-collect" class="secondary" hidden>回答を確認</button> <button type="button" id="m-take-up" hidden>記録に取り込む</button></p>
</div>
</section>
<section id="m-batch-section" aria-labelledby="m-b-title">
<h3 id="m-b-title">一括照会（CSV：宛名番号,転出元コード）</h3>
<form id="m-batch" autocomplete="off">
  <label for="m-file">ファイル</label>
  <input id="m-file" type="file" accept=".csv,text/csv" required>
  <button type="submit">一括照会を開始</button>
</form>
<div id="m-job" hidden></div>
<table class="doses"><thead><tr><th scope="col">行</th><th scope="col">結果</th></tr></thead><tbody id="m-report"></tbody></table>
</section>
<section id="m-queue-section" aria-labelledby="m-a-title">
<h3 id="m-a-title">承認待ちの照会（他の自治体から）</h3>
<p><button type="button" id="m-queue-load" class="secondary">一覧を更新</button></p>
<table class="doses"><thead><tr><th scope="col">受付</th><th scope="col">照会元</th><th scope="col">目的</th><th scope="col">項目</th><th scope="col">判断</th></tr></thead><tbody id="m-queue"></tbody></table>
<p class="error" id="m-queue-error" role="alert"></p>
</section>`;

let queryId = null;
let panel = null;

function showAnswer(a) {
  queryId = a.query_id ?? null;
  $('m-outcome').textContent = `${OUTCOME[a.outcome] ?? a.outcome}${a.reason ? `（${a.reason}）` : ''}`;
  $('m-doses').replaceChildren(...rows(a.doses ?? [], (d) => [d.dose_number, wareki(d.date), MAKERS[d.maker] ?? d.maker, d.lot]));
  $('m-collect').hidden = a.outcome !== 'pending' || !queryId;
  $('m-take-up').hidden = a.outcome !== 'found' || !queryId;
  $('m-result').hidden = false;
}

const guarded = (f) => async (event) => {
  event?.preventDefault();
  $('m-error').textContent = '';
  try { await f(); } catch (e) { $('m-error').textContent = e.message; }
};

async function loadQueue() {
  $('m-queue-error').textContent = '';
  try {
    const q = await tenantApi('GET', 'federation/queue');
    $('m-queue').replaceChildren(...(q.queue ?? []).map((item) => {
      const decide = (decision, label) => {
        const b = el('button', { type: 'button', class: 'small', text: label });
        b.addEventListener('click', async () => {
          try { await tenantApi('POST', `federation/queue/${item.id}`, { decision }); await loadQueue(); } catch (e) { $('m-queue-error').textContent = e.message; }
        });
        return b;
      };
      return el('tr', {}, el('td', { text: when(item.received) }), el('td', { text: item.querier }), el('td', { text: item.purpose }),
        el('td', { text: (item.items ?? []).join(', ') }), el('td', {}, decide('approve', '回答する'), decide('refuse', '断る')));
    }));
  } catch (e) {
    $('m-queue-error').textContent = e.message;
  }
}

export default {
  id: 'movein',
  title: '転入照会',
  shows: () => may('move-in-query/query') || Boolean(session.grants.federation),
  render(root) {
    root.innerHTML = MARKUP;
    queryId = null;
    panel = jobPanel($('m-job'), 'm', '一括照会の進み具合');
    $('m-query-section').hidden = !may('move-in-query/query');
    $('m-batch-section').hidden = !may('move-in-query/batch');
    $('m-queue-section').hidden = !session.grants.federation;
    $('m-form').addEventListener('submit', guarded(async () => {
      $('m-result').hidden = true;
      showAnswer(await plugin('move-in-query', 'query', {
        address_number: $('m-address').value.trim(), previous: $('m-previous').value.trim(), basis: $('m-basis').value.trim(),
      }));
    }));
    $('m-collect').addEventListener('click', guarded(async () => showAnswer(await plugin('move-in-query', 'collect', { query_id: queryId }))));
    $('m-take-up').addEventListener('click', guarded(async () => {
      const r = await plugin('move-in-query', 'take-up', { query_id: queryId });
      $('m-take-up').hidden = true;
      $('m-outcome').textContent = `${count((r.dose_ids ?? []).length)} 件の記録を取り込みました。`;
    }));
    $('m-batch').addEventListener('submit', async (event) => {
      event.preventDefault();
      const file = $('m-file').files[0];
      if (!file) return;
      const out = await panel.run(runJob('move-in-query', 'batch', file, panel.show), '照会しています…');
      if (out) {
        panel.say(`照会を終えました。`);
        $('m-report').replaceChildren(...rows(out.report ?? [], (r) => [r.line ?? '', typeof r === 'string' ? r : `${OUTCOME[r.outcome] ?? r.outcome ?? ''} ${r.reason ?? ''}`]));
      }
    });
    $('m-queue-load').addEventListener('click', loadQueue);
    if (session.grants.federation) loadQueue();
  },
};
