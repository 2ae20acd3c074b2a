// Audit (auditor): the log with filters (person, user, session, outcome,
// time), a user's session from login to logout, and the chain check.
// Reading the log is itself recorded by the host.

import { session, tenantApi } from './api.js';
import { $, el, when, count, ROLES } from './ui.js';

const MARKUP = `
<h2>監査ログ</h2>
<form id="a-form" class="filters" autocomplete="off">
  <label for="a-subject">対象者（利用者ID）</label>
  <input id="a-subject" inputmode="numeric">
  <label for="a-actor">職員（利用者名）</label>
  <input id="a-actor">
  <label for="a-session">セッション</label>
  <input id="a-session">
  <label for="a-outcome">結果</label>
  <select id="a-outcome"><option value="">すべて</option><option value="ok">成功</option><option value="deny">拒否</option><option value="error">エラー</option></select>
  <label for="a-from">期間（から）</label>
  <input id="a-from" type="date">
  <label for="a-to">期間（まで）</label>
  <input id="a-to" type="date">
  <button type="submit" id="a-search">検索</button>
  <p class="error" id="a-error" role="alert"></p>
</form>
<p><button type="button" id="a-verify" class="secondary">改ざん検査（チェーンの検証）</button> <span id="a-verified" role="status"></span></p>
<p id="a-count" role="status"></p>
<table class="doses audit">
  <thead><tr><th scope="col">番号</th><th scope="col">日時</th><th scope="col">職員（役割）</th><th scope="col">操作</th><th scope="col">対象者</th><th scope="col">結果</th><th scope="col">内容</th><th scope="col">セッション</th></tr></thead>
  <tbody id="a-rows"></tbody>
</table>
<p><button type="button" id="a-more" hidden>さらに表示</button></p>`;

const OUTCOME = { ok: '成功', deny: '拒否', error: 'エラー' };
/** Actions in Japanese; the host's name stays beside it for the record. */
const ACTIONS = {
  login: 'ログイン', logout: 'ログアウト', 'session.lock': '画面ロック', 'session.unlock': 'ロック解除',
  'session.expire': 'セッション期限切れ', 'session.operator': '操作者の交代', enrol: '利用登録',
  'audit.query': '監査ログの閲覧', 'audit.verify': '改ざん検査', 'user.review': 'アカウント点検',
  'user.add': '利用者の追加', 'user.disable': '利用者の停止', 'user.enable': '利用者の再開', 'user.role': '役割の変更',
  'residents.get': '住民情報の参照', 'doses.for-person': '接種記録の参照', 'doses.add': '接種記録の登録',
  'doses.verify': '接種記録の確認', 'tickets.find': '接種券の照合',
};
const OPERATIONS = {
  'dose-entry/find-person': '本人の検索', 'dose-entry/list-doses': '接種記録の表示', 'dose-entry/record-dose': '接種の記録',
  'dose-entry/verify-dose': '記録の照合', 'certificate/issue': '証明書の発行', 'certificate/verify': '証明書の確認',
  'certificate/revoke': '証明書の失効', 'subject-rights/disclose-pdf': '開示文書の作成', 'subject-rights/suspend': '利用停止',
  'subject-rights/lift-suspension': '利用停止の解除', 'target-extraction/extract': '接種券の発行',
  'target-extraction/preview': '対象者の試算', 'history-list/search': '履歴の検索', 'dose-import/import': '記録の取込み',
  'retention-purge/purge': '保存期間切れの消去',
};
function action(name) {
  const invoked = /^invoke (.+)$/.exec(name ?? '');
  const ja = invoked ? OPERATIONS[invoked[1]] : ACTIONS[name];
  return ja ? `${ja}（${name}）` : name;
}
let filters = null;
let next = null;
let shown = 0;

function query() {
  const q = new URLSearchParams();
  const put = (key, id) => { const v = $(id).value.trim(); if (v) q.set(key, v); };
  put('subject', 'a-subject');
  put('actor', 'a-actor');
  put('session', 'a-session');
  put('outcome', 'a-outcome');
  put('from', 'a-from');
  if ($('a-to').value) {
    // "until" includes the day itself.
    const to = new Date(`${$('a-to').value}T00:00:00Z`);
    to.setUTCDate(to.getUTCDate() + 1);
    q.set('to', to.toISOString().slice(0, 10));
  }
  q.set('limit', '200');
  return q;
}

function row(e) {
  const sessionButton = e.session
    ? el('button', { type: 'button', class: 'link', text: 'セッションを通して表示', title: e.session })
    : '';
  if (e.session) sessionButton.addEventListener('click', () => bySession(e.session));
  const subjects = e.subject ?? (e.subjects?.length ? `${count(e.subjects.length)}人` : '');
  const detail = [e.plugin && `${e.plugin}`, e.count > 1 && `${count(e.count)}件`, e.reason].filter(Boolean).join(' / ');
  return el('tr', { class: `o-${e.outcome}` },
    el('td', { text: e.seq }), el('td', { text: when(e.time) }),
    el('td', { text: `${e.operator ?? e.actor}${e.role ? `（${ROLES[e.role] ?? e.role}）` : ''}${e.automated ? '［自動］' : ''}` }),
    el('td', { text: action(e.action) }), el('td', { text: subjects }), el('td', { text: OUTCOME[e.outcome] ?? e.outcome }),
    el('td', { text: detail }), el('td', {}, sessionButton));
}

async function page(append) {
  $('a-error').textContent = '';
  const q = new URLSearchParams(filters);
  if (append && next) q.set('after', String(next));
  try {
    const answer = await tenantApi('GET', `audit?${q}`);
    const events = answer.events ?? [];
    if (!append) { $('a-rows').replaceChildren(); shown = 0; }
    $('a-rows').append(...events.map(row));
    shown += events.length;
    next = answer.next_after ?? null;
    $('a-more').hidden = !next;
    $('a-count').textContent = `${count(shown)} 件${next ? '（続きあり）' : ''}`;
  } catch (e) {
    $('a-error').textContent = e.message;
  }
}

function onSearch(event) {
  event.preventDefault();
  filters = query().toString();
  page(false);
}

function bySession(id) {
  $('a-form').reset();
  $('a-session').value = id;
  filters = query().toString();
  page(false);
}

async function onVerify() {
  $('a-verified').textContent = '検査しています…';
  try {
    const v = await tenantApi('GET', 'audit/verify');
    $('a-verified').textContent = v.intact
      ? `改ざんはありません（${count(v.events)} 件を検査）。`
      : `改ざんを検出しました：${v.first_bad_event} 番以降（${v.problem}）。`;
    $('a-verified').className = v.intact ? 'done' : 'error';
  } catch (e) {
    $('a-verified').textContent = e.message;
  }
}

export default {
  id: 'audit',
  title: '監査',
  shows: () => Boolean(session.grants.audit),
  render(root) {
    root.innerHTML = MARKUP;
    filters = null;
    next = null;
    $('a-form').addEventListener('submit', onSearch);
    $('a-more').addEventListener('click', () => page(true));
    $('a-verify').addEventListener('click', onVerify);
  },
};
