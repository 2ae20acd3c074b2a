// Verification (verifier): the second person re-types the paper form's
// fields for an entry someone else made; the host compares them after
// normalisation and names the fields that differ. The stored values of
// those fields are not shown here, so they cannot be copied.

import { session, plugin, may } from './api.js';
import { $, el, when } from './ui.js';
import { identity, personByTicket } from './counter.js';

const MARKUP = `
<h2>確認：入力内容の照合（二者確認）</h2>
<form id="vfind-form" autocomplete="off">
  <label for="vfind-ticket">接種券番号（10桁）またはOCR行（18桁）</label>
  <input id="vfind-ticket" inputmode="numeric" maxlength="18">
  <button type="submit">検索</button>
  <p class="error" id="vfind-error" role="alert"></p>
</form>
<div id="vperson" hidden>
  <dl class="facts" id="vperson-facts"></dl>
  <h3>確認待ちの記録（他の方が入力したもの）</h3>
  <table class="doses"><thead><tr><th scope="col">回</th><th scope="col">入力者</th><th scope="col">入力日時</th><th scope="col"><span class="sr">選択</span></th></tr></thead>
  <tbody id="vqueue"></tbody></table>
  <p id="vqueue-empty" hidden>確認待ちの記録はありません。</p>
</div>
<div id="vform-box" hidden>
<h3 id="vform-title"></h3>
<p>予診票を見て、次の項目を入力してください。</p>
<form id="vform" class="dose-form" autocomplete="off" novalidate aria-labelledby="vform-title">
  <label for="v-date">接種日</label>
  <span><input id="v-date" type="date" required> <span class="error" id="ve-date"></span></span>
  <label for="v-maker">メーカー</label>
  <span><select id="v-maker">
    <option value="pfizer">ファイザー</option><option value="moderna">モデルナ</option>
    <option value="takeda">武田</option><option value="daiichi-sankyo">第一三共</option>
    <option value="meiji-seika">Meiji Seikaファルマ</option><option value="astrazeneca">アストラゼネカ</option>
  </select> <span class="error" id="ve-maker"></span></span>
  <label for="v-lot">ロット番号</label>
  <span><input id="v-lot" required> <span class="error" id="ve-lot"></span></span>
  <label for="v-amount">接種量（mL）</label>
  <span><input id="v-amount" inputmode="decimal" required> <span class="error" id="ve-amount"></span></span>
  <label for="v-facility_code">医療機関コード</label>
  <span><input id="v-facility_code" inputmode="numeric" maxlength="10" required> <span class="error" id="ve-facility_code"></span></span>
  <label for="v-doctor">医師名</label>
  <span><input id="v-doctor" required> <span class="error" id="ve-doctor"></span></span>
  <button type="submit" id="v-submit">照合して確認済にする</button>
  <p class="error" id="v-error" role="alert"></p>
</form>
</div>
<p class="done" id="v-done" role="status"></p>`;

const RETYPED = ['date', 'maker', 'lot', 'amount', 'facility_code', 'doctor'];
let person = null;
let shown = null;
let dose = null;

async function load(p) {
  person = p.person_id;
  shown = p;
  $('vperson-facts').replaceChildren(...identity(p));
  const list = await plugin('dose-entry', 'list-doses', { person_id: person });
  const waiting = (list.doses ?? []).filter((d) => !d.verified_by && d.entered_by !== session.user);
  $('vqueue').replaceChildren(...waiting.map((d) => {
    const pick = el('button', { type: 'button', text: '照合する' });
    pick.addEventListener('click', () => choose(d));
    return el('tr', {}, el('td', { text: `${d.dose_number}回目` }), el('td', { text: d.entered_by }),
      el('td', { text: when(d.entered_at) }), el('td', {}, pick));
  }));
  $('vqueue-empty').hidden = waiting.length > 0;
  $('vperson').hidden = false;
}

function choose(d) {
  dose = d;
  $('vform').reset();
  for (const f of RETYPED) $(`ve-${f}`).textContent = '';
  $('v-error').textContent = '';
  $('v-done').textContent = '';
  $('vform-title').textContent = `${d.dose_number}回目の照合`;
  $('vform-box').hidden = false;
  $('v-date').focus();
}

async function onVerify(event) {
  event.preventDefault();
  if (!dose) return;
  for (const f of RETYPED) $(`ve-${f}`).textContent = '';
  $('v-error').textContent = '';
  const expect = Object.fromEntries(RETYPED.map((f) => [f, $(`v-${f}`).value.trim()]));
  const empty = RETYPED.filter((f) => !expect[f]);
  for (const f of empty) $(`ve-${f}`).textContent = '入力してください';
  if (empty.length) return;
  try {
    await plugin('dose-entry', 'verify-dose', { person_id: person, dose_id: dose.dose_id, expect });
    $('vform-box').hidden = true;
    const done = `${dose.dose_number}回目を確認済にしました。`;
    dose = null;
    await load(shown);
    $('v-done').textContent = done;
  } catch (e) {
    // "the entry differs from the form in: lot, date; it was not verified"
    const differs = /differs from the form in: ([a-z_, ]+)/.exec(e.raw ?? '');
    if (differs) {
      for (const f of differs[1].split(',').map((s) => s.trim())) {
        if ($(`ve-${f}`)) $(`ve-${f}`).textContent = '入力内容と一致しません';
      }
      $('v-error').textContent = '一致しない項目があります。予診票と入力者に確認してください。確認済にはしていません。';
    } else {
      $('v-error').textContent = e.message;
    }
  }
}

async function onFind(event) {
  event.preventDefault();
  $('vfind-error').textContent = '';
  $('vperson').hidden = true;
  $('vform-box').hidden = true;
  try {
    await load(await personByTicket($('vfind-ticket').value));
  } catch (e) {
    $('vfind-error').textContent = e.message;
  }
}

export default {
  id: 'verify',
  title: '照合・確認',
  shows: () => may('dose-entry/verify-dose'),
  render(root) {
    root.innerHTML = MARKUP;
    [person, shown, dose] = [null, null, null];
    $('vfind-form').addEventListener('submit', onFind);
    $('vform').addEventListener('submit', onVerify);
  },
};
