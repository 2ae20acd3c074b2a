// Kiroku staff console. The session rides on its HttpOnly cookie only:
// this script never sees or keeps the token, keeps the CSRF value in
// memory (sent with every write), and keeps nothing in the browser's
// storage (web storage, IndexedDB). Personal values live only in the DOM of
// the screen showing them and are removed on lock and logout.

const state = { tenant: null, csrf: null, idleMs: 0, timer: null, locked: false, person: null };

const $ = (id) => document.getElementById(id);

/** A JSON request to the host; errors come back as {error:{code,message}}. */
async function api(method, path, body) {
  const headers = { 'content-type': 'application/json' };
  if (method !== 'GET' && state.csrf) headers['x-csrf-token'] = state.csrf;
  const response = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    cache: 'no-store',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let answer = {};
  try { answer = await response.json(); } catch { answer = {}; }
  if (!response.ok) {
    const error = new Error(message(answer));
    error.code = answer?.error?.code;
    error.raw = answer?.error?.message ?? '';
    throw error;
  }
  return answer;
}

/** The host's messages name fields and limits, never values. */
function message(answer) {
  const code = answer?.error?.code;
  const known = {
    'login-failed': '利用者名、パスワードまたはワンタイムパスワードが正しくありません。',
    'rate-limited': '失敗が続いたため、しばらく受け付けません。1分後にもう一度お試しください。',
    'session-locked': '画面がロックされています。',
    'unauthorized': 'ログインしてください。',
    'forbidden': 'この操作を行う権限がありません。',
    'not-found': '該当する記録がありません。',
    'unknown-tenant': 'この自治体コードはこのサーバーにありません。',
  };
  return known[code] ?? `エラー：${answer?.error?.message ?? '通信に失敗しました。'}`;
}

function plugin(name, op, input) {
  return api('POST', `/v1/${state.tenant}/${name}/${op}`, input);
}

function show(section) {
  for (const id of ['login', 'counter']) $(id).hidden = id !== section;
}

/** Removes every personal value from the screen. */
function clearPersonal() {
  $('person').hidden = true;
  for (const id of ['p-kanji', 'p-kana', 'p-birth', 'p-sex', 'p-address', 'p-status']) {
    $(id).textContent = '';
  }
  $('dose-rows').replaceChildren();
  $('find-form').reset();
  $('find-error').textContent = '';
  state.person = null;
  resetDoseForm();
  $('dose-done').textContent = '';
}

function signedIn(session) {
  state.csrf = session.csrf_token;
  state.idleMs = (session.idle_timeout_s || 900) * 1000;
  $('who-name').textContent = session.operator ?? session.user;
  $('who-role').textContent = ROLES[session.role] ?? session.role;
  $('who').hidden = false;
  show('counter');
  $('find-ticket').focus();
  touch();
}

function signedOut() {
  clearPersonal();
  Object.assign(state, { tenant: null, csrf: null, locked: false });
  clearTimeout(state.timer);
  $('who').hidden = true;
  $('lock').hidden = true;
  $('login-form').reset();
  show('login');
  $('login-tenant').focus();
}

/** Any input postpones the idle lock. */
function touch() {
  if (!state.csrf || state.locked) return;
  clearTimeout(state.timer);
  state.timer = setTimeout(lock, state.idleMs);
}

function lock() {
  state.locked = true;
  clearPersonal();
  document.body.classList.add('locked');
  $('lock').hidden = false;
  $('lock-totp').value = '';
  $('lock-totp').focus();
}

const SEX = { '1': '男', '2': '女', '3': 'その他', male: '男', female: '女' };
const STATUS = { resident: '住民', 'moved-out': '転出', deceased: '死亡' };
const MAKERS = {
  pfizer: 'ファイザー', moderna: 'モデルナ', takeda: '武田', astrazeneca: 'アストラゼネカ',
  'daiichi-sankyo': '第一三共', 'meiji-seika': 'Meiji Seikaファルマ',
};
const ROLES = {
  clerk: '窓口担当', verifier: '確認担当', supervisor: '責任者', auditor: '監査担当', admin: '管理者',
};

/** `2021-10-31` as 令和3年10月31日 (2021-10-31): staff read the era, forms carry both. */
function wareki(iso) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso ?? '');
  if (!m) return iso ?? '';
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const key = y * 10000 + mo * 100 + d;
  const [era, start] = key >= 20190501 ? ['令和', 2018] : key >= 19890108 ? ['平成', 1988]
    : key >= 19261225 ? ['昭和', 1925] : key >= 19120730 ? ['大正', 1911] : ['明治', 1867];
  const n = y - start;
  return `${era}${n === 1 ? '元' : n}年${mo}月${d}日（${iso}）`;
}

/** The record-dose form's fields, in order, with their labels. */
const FIELDS = [
  ['dose_number', '接種回数'], ['date', '接種日'], ['maker', 'メーカー'], ['product', 'ワクチン名'],
  ['lot', 'ロット番号'], ['amount', '接種量'], ['facility_code', '医療機関コード'], ['doctor', '医師名'],
  ['override_reason', '規則外で記録する理由'],
];

function resetDoseForm() {
  $('dose-form').reset();
  for (const [name] of FIELDS) $(`e-${name}`).textContent = '';
  $('dose-error').textContent = '';
  $('dose-confirm').hidden = true;
  $('confirm-list').replaceChildren();
  for (const el of document.querySelectorAll('.override')) el.hidden = true;
}

function localToday() {
  const d = new Date();
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** The form's values, or null (with the empty fields marked). */
function doseValues() {
  const values = {};
  let complete = true;
  for (const [name] of FIELDS) {
    const value = $(`f-${name}`).value.trim();
    $(`e-${name}`).textContent = '';
    if (name === 'override_reason') {
      if (!$(`f-${name}`).closest('span').hidden && value) values[name] = value;
      continue;
    }
    if (!value) {
      $(`e-${name}`).textContent = '入力してください';
      complete = false;
    }
    values[name] = name === 'dose_number' ? Number(value) : value;
  }
  return complete ? values : null;
}

function onCheck(event) {
  event.preventDefault();
  $('dose-error').textContent = '';
  $('dose-done').textContent = '';
  const values = doseValues();
  if (!values) return;
  const rows = FIELDS.filter(([name]) => name in values).flatMap(([name, label]) => {
    const dt = document.createElement('dt');
    dt.textContent = label;
    const dd = document.createElement('dd');
    const v = values[name];
    dd.textContent = name === 'date' ? wareki(v) : name === 'maker' ? (MAKERS[v] ?? v) : String(v);
    return [dt, dd];
  });
  $('confirm-list').replaceChildren(...rows);
  $('dose-confirm').hidden = false;
  $('dose-save').focus();
}

async function onSave() {
  const values = doseValues();
  if (!values || state.person === null) return;
  $('dose-confirm').hidden = true;
  try {
    const saved = await plugin('dose-entry', 'record-dose', { person_id: state.person, ...values });
    const list = await plugin('dose-entry', 'list-doses', { person_id: state.person });
    showDoses(list.doses ?? []);
    resetDoseForm();
    prefill(list.doses ?? []);
    $('dose-done').textContent = `${saved.dose_number}回目を記録しました（確認待ち）。`;
  } catch (e) {
    if (e.code === 'session-locked') return lock();
    showDoseError(e);
  }
}

/** The host's messages begin with the field they are about. */
function showDoseError(e) {
  const raw = e.raw ?? '';
  if (raw.includes('give override_reason')) {
    for (const el of document.querySelectorAll('.override')) el.hidden = false;
    $('dose-error').textContent = `通常の規則に合わない入力です（${raw.split('; give')[0]}）。理由を入力して、もう一度確認へ進んでください。`;
    $('f-override_reason').focus();
    return;
  }
  const field = FIELDS.find(([name]) => raw.startsWith(name));
  if (field) {
    $(`e-${field[0]}`).textContent = raw;
    $(`f-${field[0]}`).focus();
  } else {
    $('dose-error').textContent = e.message;
  }
}

function prefill(doses) {
  const last = Math.max(0, ...doses.map((d) => d.dose_number ?? 0));
  $('f-dose_number').value = String(last + 1);
  $('f-date').value = localToday();
}

function showPerson(p, doses) {
  $('p-kanji').textContent = p.kanji_name ?? '';
  $('p-kana').textContent = p.kana_name ?? '';
  $('p-birth').textContent = `${wareki(p.birth_date)} ${p.age ?? '?'}歳`;
  $('p-sex').textContent = SEX[p.sex] ?? p.sex ?? '';
  $('p-address').textContent = p.address ?? '';
  $('p-status').textContent = STATUS[p.status] ?? p.status ?? '';
  state.person = p.person_id;
  showDoses(doses);
  resetDoseForm();
  prefill(doses);
  $('person').hidden = false;
}

function showDoses(doses) {
  const rows = doses.map((d) => {
    const tr = document.createElement('tr');
    for (const v of [d.dose_number, wareki(d.date), MAKERS[d.maker] ?? d.maker, d.lot, d.entered_by]) {
      const td = document.createElement('td');
      td.textContent = v ?? '';
      tr.append(td);
    }
    return tr;
  });
  $('dose-rows').replaceChildren(...rows);
}

/**
 * A 10-digit ticket number, typed or read by a barcode reader, or the one
 * in an 18-digit OCR line (type, dose number, municipality, ticket).
 * `null` for an OCR line of another municipality.
 */
function ticketOf(text) {
  const digits = text.replace(/[^0-9０-９]/g, '').replace(/[０-９]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xfee0));
  if (digits.length === 18) return digits.slice(2, 8) === state.tenant ? digits.slice(8) : null;
  return digits;
}

async function onLogin(event) {
  event.preventDefault();
  $('login-error').textContent = '';
  const tenant = $('login-tenant').value.trim();
  const body = {
    name: $('login-name').value,
    password: $('login-password').value,
    totp: $('login-totp').value.trim(),
  };
  $('login-password').value = '';
  try {
    state.tenant = tenant;
    signedIn(await api('POST', `/v1/${tenant}/login`, body));
  } catch (e) {
    state.tenant = null;
    $('login-error').textContent = e.message;
  }
}

async function onFind(event) {
  event.preventDefault();
  $('find-error').textContent = '';
  $('person').hidden = true;
  try {
    const ticket = ticketOf($('find-ticket').value);
    if (ticket === null) {
      $('find-error').textContent = '他の自治体の接種券です。';
      return;
    }
    const found = await plugin('dose-entry', 'find-person', { ticket_number: ticket });
    const person = found.persons?.[0];
    if (!person) {
      $('find-error').textContent = '該当する方が見つかりません。';
      return;
    }
    const list = await plugin('dose-entry', 'list-doses', { person_id: person.person_id });
    showPerson(person, list.doses ?? []);
  } catch (e) {
    if (e.code === 'session-locked') return lock();
    $('find-error').textContent = e.message;
  }
}

async function onUnlock(event) {
  event.preventDefault();
  $('lock-error').textContent = '';
  try {
    await api('POST', `/v1/${state.tenant}/unlock`, { totp: $('lock-totp').value.trim() });
    state.locked = false;
    document.body.classList.remove('locked');
    $('lock').hidden = true;
    $('find-ticket').focus();
    touch();
  } catch (e) {
    $('lock-error').textContent = e.message;
  }
}

async function onLogout() {
  try { await api('POST', `/v1/${state.tenant}/logout`); } catch { /* ended anyway */ }
  signedOut();
}

document.addEventListener('DOMContentLoaded', () => {
  $('login-form').addEventListener('submit', onLogin);
  $('find-form').addEventListener('submit', onFind);
  $('lock-form').addEventListener('submit', onUnlock);
  $('dose-form').addEventListener('submit', onCheck);
  $('dose-save').addEventListener('click', onSave);
  $('dose-back').addEventListener('click', () => { $('dose-confirm').hidden = true; $('f-lot').focus(); });
  $('logout').addEventListener('click', onLogout);
  for (const kind of ['keydown', 'pointerdown']) document.addEventListener(kind, touch, { passive: true });
  signedOut();
});
