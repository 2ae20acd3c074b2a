// Counter (clerk): find the person by ticket (typed or a barcode reader's
// keystrokes) or by name and birth date, confirm identity by the 4 basic
// facts (never the My Number), see the doses, record one with the rules'
// messages by their fields, the override-with-reason flow and a
// confirmation step; issue a certificate for the person at the counter.

import { session, plugin, may } from './api.js';
import { $, el, rows, facts, wareki, SEX, STATUS, MAKERS, localToday } from './ui.js';
import { issuePanel } from './certificate.js';
import { japanese } from './messages.js';

const MARKUP = `
<h2>窓口：本人確認と接種記録</h2>
<form id="find-form" autocomplete="off">
  <label for="find-ticket">接種券番号（10桁）またはOCR行（18桁）</label>
  <input id="find-ticket" inputmode="numeric" maxlength="18">
  <button type="submit">検索</button>
  <p class="error" id="find-error" role="alert"></p>
</form>
<details id="find-by-name">
  <summary>氏名と生年月日で検索</summary>
  <form id="name-form" autocomplete="off">
    <label for="find-name">氏名（漢字またはカナ）</label>
    <input id="find-name" required>
    <label for="find-birth">生年月日</label>
    <input id="find-birth" type="date" required>
    <button type="submit">検索</button>
  </form>
</details>
<div id="candidates" hidden>
  <h3>該当する方</h3>
  <table class="doses"><thead><tr><th scope="col">氏名</th><th scope="col">生年月日</th><th scope="col">住所</th><th scope="col"><span class="sr">選択</span></th></tr></thead>
  <tbody id="candidate-rows"></tbody></table>
</div>
<div id="person" hidden>
  <h3>本人確認（基本4情報）</h3>
  <dl class="facts" id="person-facts"></dl>
  <h3>接種記録</h3>
  <table class="doses">
    <thead><tr><th scope="col">回</th><th scope="col">接種日</th><th scope="col">メーカー</th><th scope="col">ロット</th><th scope="col">入力元</th><th scope="col">確認</th></tr></thead>
    <tbody id="dose-rows"></tbody>
  </table>
  <div id="record" hidden>
  <h3>接種を記録</h3>
  <form id="dose-form" class="dose-form" autocomplete="off" novalidate>
    <label for="f-dose_number">接種回数</label>
    <span><input id="f-dose_number" inputmode="numeric" maxlength="2" required> <span class="error" id="e-dose_number"></span></span>
    <label for="f-date">接種日</label>
    <span><input id="f-date" type="date" required> <span class="error" id="e-date"></span></span>
    <label for="f-maker">メーカー</label>
    <span><select id="f-maker" required>
      <option value="pfizer">ファイザー</option><option value="moderna">モデルナ</option>
      <option value="takeda">武田</option><option value="daiichi-sankyo">第一三共</option>
      <option value="meiji-seika">Meiji Seikaファルマ</option><option value="astrazeneca">アストラゼネカ</option>
    </select> <span class="error" id="e-maker"></span></span>
    <label for="f-product">ワクチン名</label>
    <span><input id="f-product" list="products" required> <span class="error" id="e-product"></span></span>
    <datalist id="products">
      <option value="コミナティ"></option><option value="スパイクバックス"></option><option value="ヌバキソビッド"></option>
      <option value="ダイチロナ"></option><option value="コスタイベ"></option><option value="バキスゼブリア"></option>
    </datalist>
    <label for="f-lot">ロット番号</label>
    <span><input id="f-lot" required> <span class="error" id="e-lot"></span></span>
    <label for="f-amount">接種量（mL）</label>
    <span><input id="f-amount" inputmode="decimal" value="0.3" required> <span class="error" id="e-amount"></span></span>
    <label for="f-facility_code">医療機関コード（10桁）</label>
    <span><input id="f-facility_code" inputmode="numeric" maxlength="10" required> <span class="error" id="e-facility_code"></span></span>
    <label for="f-doctor">医師名</label>
    <span><input id="f-doctor" required> <span class="error" id="e-doctor"></span></span>
    <label for="f-override_reason" class="override" hidden>規則外で記録する理由</label>
    <span class="override" hidden><input id="f-override_reason"> <span class="error" id="e-override_reason"></span></span>
    <button type="submit" id="dose-check">確認へ</button>
    <p class="error" id="dose-error" role="alert"></p>
  </form>
  <div id="dose-confirm" class="confirm" hidden>
    <p>次の内容で記録します。よろしいですか。</p>
    <dl class="facts" id="confirm-list"></dl>
    <button type="button" id="dose-save">記録する</button>
    <button type="button" id="dose-back" class="secondary">修正する</button>
  </div>
  <p id="dose-done" class="done" role="status"></p>
  </div>
  <div id="certificate-panel"></div>
</div>`;

/** The record-dose form's fields, in order, with their labels. */
export const FIELDS = [
  ['dose_number', '接種回数'], ['date', '接種日'], ['maker', 'メーカー'], ['product', 'ワクチン名'],
  ['lot', 'ロット番号'], ['amount', '接種量'], ['facility_code', '医療機関コード'], ['doctor', '医師名'],
  ['override_reason', '規則外で記録する理由'],
];

let person = null;

function resetDoseForm() {
  $('dose-form').reset();
  for (const [name] of FIELDS) $(`e-${name}`).textContent = '';
  $('dose-error').textContent = '';
  $('dose-confirm').hidden = true;
  $('confirm-list').replaceChildren();
  for (const node of document.querySelectorAll('.override')) node.hidden = true;
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
  const shown = (name, v) => (name === 'date' ? wareki(v) : name === 'maker' ? (MAKERS[v] ?? v) : String(v));
  $('confirm-list').replaceChildren(...facts(FIELDS.filter(([n]) => n in values).map(([n, label]) => [label, shown(n, values[n])])));
  $('dose-confirm').hidden = false;
  $('dose-save').focus();
}

async function onSave() {
  const values = doseValues();
  if (!values || person === null) return;
  $('dose-confirm').hidden = true;
  try {
    const saved = await plugin('dose-entry', 'record-dose', { person_id: person, ...values });
    const list = await plugin('dose-entry', 'list-doses', { person_id: person });
    showDoses(list.doses ?? []);
    resetDoseForm();
    prefill(list.doses ?? []);
    $('dose-done').textContent = `${saved.dose_number}回目を記録しました（確認待ち）。`;
  } catch (e) {
    showDoseError(e);
  }
}

/** The host's messages begin with the field they are about. */
function showDoseError(e) {
  const raw = e.raw ?? '';
  if (raw.includes('give override_reason')) {
    for (const node of document.querySelectorAll('.override')) node.hidden = false;
    $('dose-error').textContent = `通常の規則に合わない入力です：${japanese(raw)} 記録するには理由を入力して、もう一度確認へ進んでください。`;
    $('f-override_reason').focus();
    return;
  }
  const field = FIELDS.find(([name]) => raw.startsWith(name));
  if (field) {
    $(`e-${field[0]}`).textContent = japanese(raw);
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

export function showDoses(doses, tbody = $('dose-rows')) {
  tbody.replaceChildren(...rows(doses, (d) => [
    d.dose_number, wareki(d.date), MAKERS[d.maker] ?? d.maker, d.lot, d.entered_by, d.verified_by ? '確認済' : '未確認',
  ]));
}

/** The 4 basic facts and status, to confirm identity. */
export function identity(p) {
  return facts([
    ['氏名（漢字）', p.kanji_name], ['氏名（カナ）', p.kana_name],
    ['生年月日', `${wareki(p.birth_date)} ${p.age ?? '?'}歳`], ['性別', SEX[p.sex] ?? p.sex],
    ['住所', p.address], ['住民の状態', STATUS[p.status] ?? p.status],
  ]);
}

async function showPerson(p) {
  $('candidates').hidden = true;
  const list = await plugin('dose-entry', 'list-doses', { person_id: p.person_id });
  person = p.person_id;
  $('person-facts').replaceChildren(...identity(p));
  showDoses(list.doses ?? []);
  $('record').hidden = !may('dose-entry/record-dose');
  if (!$('record').hidden) {
    resetDoseForm();
    prefill(list.doses ?? []);
    $('dose-done').textContent = '';
  }
  issuePanel($('certificate-panel'), p.person_id);
  $('person').hidden = false;
}

/**
 * A 10-digit ticket number, typed or read by a barcode reader, or the one
 * in an 18-digit OCR line (type, dose number, municipality, ticket).
 * `null` for an OCR line of another municipality.
 */
export function ticketOf(text) {
  const digits = text.replace(/[^0-9０-９]/g, '').replace(/[０-９]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xfee0));
  if (digits.length === 18) return digits.slice(2, 8) === session.tenant ? digits.slice(8) : null;
  return digits;
}

/** The one person a ticket (or OCR line) names; throws a Japanese message. */
export async function personByTicket(text) {
  const ticket = ticketOf(text);
  if (ticket === null) throw new Error('他の自治体の接種券です。');
  const found = await plugin('dose-entry', 'find-person', { ticket_number: ticket });
  const p = found.persons?.[0];
  if (!p) throw new Error('該当する方が見つかりません。');
  return p;
}

async function find(query, errorAt) {
  $('find-error').textContent = '';
  $('person').hidden = true;
  $('candidates').hidden = true;
  person = null;
  try {
    const found = await plugin('dose-entry', 'find-person', query);
    const persons = found.persons ?? [];
    if (persons.length === 0) errorAt.textContent = '該当する方が見つかりません。';
    else if (persons.length === 1) await showPerson(persons[0]);
    else showCandidates(persons);
  } catch (e) {
    errorAt.textContent = e.message;
  }
}

function showCandidates(persons) {
  $('candidate-rows').replaceChildren(...persons.map((p) => {
    const pick = el('button', { type: 'button', text: 'この方' });
    pick.addEventListener('click', () => showPerson(p));
    return el('tr', {}, el('td', { text: p.kanji_name }), el('td', { text: wareki(p.birth_date) }),
      el('td', { text: p.address }), el('td', {}, pick));
  }));
  $('candidates').hidden = false;
}

function onFind(event) {
  event.preventDefault();
  const ticket = ticketOf($('find-ticket').value);
  if (ticket === null) {
    $('find-error').textContent = '他の自治体の接種券です。';
    return;
  }
  find({ ticket_number: ticket }, $('find-error'));
}

function onFindByName(event) {
  event.preventDefault();
  find({ name: $('find-name').value.trim(), birth_date: $('find-birth').value }, $('find-error'));
}

export default {
  id: 'counter',
  title: '窓口',
  shows: () => may('dose-entry/find-person') && may('dose-entry/list-doses'),
  render(root) {
    root.innerHTML = MARKUP;
    person = null;
    $('find-form').addEventListener('submit', onFind);
    $('name-form').addEventListener('submit', onFindByName);
    $('dose-form').addEventListener('submit', onCheck);
    $('dose-save').addEventListener('click', onSave);
    $('dose-back').addEventListener('click', () => { $('dose-confirm').hidden = true; $('f-lot').focus(); });
  },
};
