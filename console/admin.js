// Administration (admin): accounts (create with a one-time enrolment
// code, disable, enable, role, reset), the account review report, service
// tokens, and the installed plugins with their digests and imports.

import { session, admin as adminApi, api } from './api.js';
import { $, el, wareki, when, download, ROLES } from './ui.js';

const STAFF_ROLES = ['clerk', 'viewer', 'verifier', 'supervisor', 'auditor', 'admin', 'federation-approver'];
const STATE = { active: '有効', disabled: '停止', 'enrolment-pending': '登録待ち', expired: '期限切れ' };
const FLAGS = {
  'not-used-90-days': '90日以上未使用', 'expires-within-30-days': '30日以内に期限', shared: '共用端末', 'never-enrolled': '未登録',
};
const KIND = { staff: '職員', shared: '共用端末', service: 'サービス' };

const options = (list, labels) => list.map((r) => `<option value="${r}">${labels[r] ?? r}</option>`).join('');

const MARKUP = `
<h2>管理</h2>
<h3>利用者の追加</h3>
<form id="u-form" autocomplete="off">
  <label for="u-name">利用者名（半角英数字）</label>
  <input id="u-name" required pattern="[a-z0-9._-]+">
  <label for="u-role">役割</label>
  <select id="u-role">${options(STAFF_ROLES, ROLES)}</select>
  <label for="u-kind">種別</label>
  <select id="u-kind"><option value="staff">職員</option><option value="shared">共用端末</option></select>
  <label for="u-until">有効期限</label>
  <input id="u-until" type="date">
  <button type="submit">追加</button>
  <p class="error" id="u-error" role="alert"></p>
</form>
<div id="u-code-box" class="confirm" hidden>
  <p>登録コード（本人にだけ渡してください。一度しか表示しません）：</p>
  <p class="code" id="u-code"></p>
  <p>本人はログイン画面の「初めて使う方（利用登録）」で、このコードとパスワードを入力し、表示されるQRコードを認証アプリで読み取ります。</p>
</div>
<h3>利用者の点検（アカウントレビュー）</h3>
<p><button type="button" id="u-review">点検表を表示</button> <button type="button" id="u-review-csv" class="secondary">CSVを保存</button></p>
<table class="doses"><thead><tr><th scope="col">利用者名</th><th scope="col">種別</th><th scope="col">役割</th><th scope="col">状態</th><th scope="col">最終ログイン</th><th scope="col">有効期限</th><th scope="col">注意</th><th scope="col">操作</th></tr></thead>
<tbody id="u-rows"></tbody></table>
<p class="error" id="u-row-error" role="alert"></p>
<h3>サービス用トークン</h3>
<form id="t-form" autocomplete="off">
  <label for="t-service">サービス名</label>
  <input id="t-service" required pattern="[a-z0-9._-]+">
  <label for="t-role">役割</label>
  <select id="t-role">${options(['admin', 'supervisor', 'kiosk', 'app'], ROLES)}</select>
  <label for="t-expires">有効期限</label>
  <input id="t-expires" type="date" required>
  <button type="submit">発行</button>
  <p class="error" id="t-error" role="alert"></p>
</form>
<p class="code" id="t-token" hidden></p>
<h3>導入済みプラグイン</h3>
<p><button type="button" id="p-list" class="secondary">一覧を表示</button></p>
<table class="doses"><thead><tr><th scope="col">名前</th><th scope="col">状態</th><th scope="col">ダイジェスト（sha256）</th><th scope="col">使うKirokuのインターフェース</th><th scope="col">操作</th><th scope="col">権限（policy check）</th></tr></thead>
<tbody id="p-rows"></tbody></table>`;

function action(label, f) {
  const b = el('button', { type: 'button', class: 'small', text: label });
  b.addEventListener('click', async () => {
    $('u-row-error').textContent = '';
    try { await f(); await review(); } catch (e) { $('u-row-error').textContent = e.message; }
  });
  return b;
}

function userRow(u) {
  const role = el('select', { 'aria-label': `${u.name} の役割` });
  role.innerHTML = options(STAFF_ROLES, ROLES);
  role.value = u.role;
  const actions = el('td', {});
  if (u.kind !== 'service') {
    actions.append(u.state === 'disabled'
      ? action('再開', () => adminApi('POST', `users/${encodeURIComponent(u.name)}/enable`, {}))
      : action('停止', () => adminApi('POST', `users/${encodeURIComponent(u.name)}/disable`, { reason: '管理画面から停止' })));
    actions.append(role, action('役割変更', () => adminApi('POST', `users/${encodeURIComponent(u.name)}/role`, { role: role.value })));
    actions.append(action('再登録', async () => {
      const r = await adminApi('POST', `users/${encodeURIComponent(u.name)}/reset`, {});
      showCode(r.enrolment_code);
    }));
  }
  return el('tr', { 'data-user': u.name },
    el('td', { text: u.name }), el('td', { text: KIND[u.kind] ?? u.kind }), el('td', { text: ROLES[u.role] ?? u.role }),
    el('td', { text: STATE[u.state] ?? u.state }), el('td', { text: u.last_login ? when(u.last_login) : 'なし' }),
    el('td', { text: u.valid_until ? wareki(u.valid_until) : '' }),
    el('td', { text: (u.flags ?? []).map((f) => FLAGS[f] ?? f).join('、') }), actions);
}

async function review() {
  const r = await adminApi('GET', 'users/review');
  $('u-rows').replaceChildren(...(r.accounts ?? []).map(userRow));
}

function showCode(code) {
  $('u-code').textContent = code;
  $('u-code-box').hidden = false;
}

async function onAdd(event) {
  event.preventDefault();
  $('u-error').textContent = '';
  $('u-code-box').hidden = true;
  const body = { name: $('u-name').value.trim(), role: $('u-role').value, kind: $('u-kind').value };
  if ($('u-until').value) body.valid_until = $('u-until').value;
  try {
    const r = await adminApi('POST', 'users', body);
    showCode(r.enrolment_code);
    $('u-form').reset();
    await review();
  } catch (e) {
    $('u-error').textContent = e.message;
  }
}

async function onToken(event) {
  event.preventDefault();
  $('t-error').textContent = '';
  try {
    const r = await adminApi('POST', 'tokens', { service: $('t-service').value.trim(), role: $('t-role').value, expires: $('t-expires').value });
    $('t-token').textContent = `トークン（一度しか表示しません）：${r.token}`;
    $('t-token').hidden = false;
  } catch (e) {
    $('t-error').textContent = e.message;
  }
}

async function plugins() {
  const r = await adminApi('GET', 'plugins');
  $('p-rows').replaceChildren(...(r.plugins ?? []).map((p) => el('tr', {},
    el('td', { text: p.name }), el('td', { text: p.status === 'ready' ? '稼働中' : p.status === 'loading' ? '読込中' : `拒否（${p.reason ?? ''}）` }),
    el('td', { class: 'mono', title: p.digest ?? '', text: p.digest ? `${p.digest.slice(0, 16)}…` : '' }),
    el('td', { text: (p.imports ?? []).filter((i) => !i.startsWith('wasi:')).map((i) => i.replace(/@[0-9.]+$/, '')).join(', ') }),
    el('td', { text: (p.operations ?? []).map((o) => o.name).join(', ') }),
    el('td', {}, p.policy ? el('details', {}, el('summary', { text: '権限を見る' }), el('pre', { class: 'policy', text: p.policy })) : ''))));
}

async function reviewCsv() {
  const response = await api('GET', `/v1/admin/${session.tenant}/users/review?format=csv`, undefined, { raw: true });
  download('account-review.csv', 'text/csv;charset=utf-8', await response.text());
}

const guard = (f) => () => f().catch((e) => { $('u-row-error').textContent = e.message; });

export default {
  id: 'admin',
  title: '管理',
  shows: () => Boolean(session.grants.admin),
  render(root) {
    root.innerHTML = MARKUP;
    $('u-form').addEventListener('submit', onAdd);
    $('t-form').addEventListener('submit', onToken);
    $('u-review').addEventListener('click', guard(review));
    $('u-review-csv').addEventListener('click', guard(reviewCsv));
    $('p-list').addEventListener('click', guard(plugins));
  },
};
