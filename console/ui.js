// Small DOM and formatting helpers shared by the screens. Values always
// go in as text (textContent), never as markup.

export const $ = (id) => document.getElementById(id);

/** `el('td', {class: 'n'}, 'text', child)`: an element with attributes and children. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k === 'text') node.textContent = v;
    else node.setAttribute(k, v === true ? '' : v);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined).map((c) => (c instanceof Node ? c : String(c))));
  return node;
}

/** Rows of cell values as `<tr>`s (values as text). */
export function rows(list, cells) {
  return list.map((item) => el('tr', {}, ...cells(item).map((v) => el('td', {}, v ?? ''))));
}

/** A `<dl>`'s children from [label, value] pairs. */
export function facts(pairs) {
  return pairs.flatMap(([label, value]) => [el('dt', { text: label }), el('dd', { text: value ?? '' })]);
}

export const SEX = { 1: '男', 2: '女', 3: 'その他', male: '男', female: '女' };
export const STATUS = { resident: '住民', 'moved-out': '転出', deceased: '死亡' };
export const MAKERS = {
  pfizer: 'ファイザー', moderna: 'モデルナ', takeda: '武田', astrazeneca: 'アストラゼネカ',
  'daiichi-sankyo': '第一三共', 'meiji-seika': 'Meiji Seikaファルマ',
};
export const ROLES = {
  clerk: '窓口担当', viewer: '閲覧担当', verifier: '確認担当', supervisor: '責任者', auditor: '監査担当',
  admin: '管理者', 'federation-approver': '照会承認担当', kiosk: 'キオスク', app: 'アプリ',
};

/** `2021-10-31` as 令和3年10月31日（2021-10-31）: staff read the era, forms carry both. */
export function wareki(iso) {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(iso ?? '');
  if (!m) return iso ?? '';
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const key = y * 10000 + mo * 100 + d;
  const [era, start] = key >= 20190501 ? ['令和', 2018] : key >= 19890108 ? ['平成', 1988]
    : key >= 19261225 ? ['昭和', 1925] : key >= 19120730 ? ['大正', 1911] : ['明治', 1867];
  const n = y - start;
  return `${era}${n === 1 ? '元' : n}年${mo}月${d}日（${m[0]}）`;
}

/** An RFC 3339 time as local 令和 date and hh:mm:ss. */
export function when(time) {
  const t = new Date(time ?? '');
  if (Number.isNaN(t.getTime())) return time ?? '';
  const pad = (n) => String(n).padStart(2, '0');
  const iso = `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())}`;
  return `${wareki(iso)} ${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}`;
}

export function localToday() {
  const d = new Date();
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** Hands the browser a file to save; the object URL is dropped at once. */
export function download(name, type, data) {
  const url = URL.createObjectURL(new Blob([data], { type }));
  const a = el('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function base64Bytes(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/** Number with thousands separators. */
export const count = (n) => Number(n ?? 0).toLocaleString('ja-JP');

/**
 * A job's progress bar with its percentage, cancel button and state line,
 * built into `holder` with ids `${prefix}-progress`, `-percent`, `-cancel`
 * and `-state`. `run(job)` follows a job from `runJob` to its end and
 * answers its output (or null when it failed or was cancelled).
 */
export function jobPanel(holder, prefix, label) {
  const bar = el('progress', { id: `${prefix}-progress`, max: 100, value: 0 });
  const percent = el('span', { id: `${prefix}-percent`, text: '0%' });
  const cancel = el('button', { type: 'button', id: `${prefix}-cancel`, class: 'secondary', text: '中止' });
  const state = el('p', { id: `${prefix}-state`, role: 'status' });
  holder.replaceChildren(el('label', { for: `${prefix}-progress`, text: label }), bar, ' ', percent, ' ', cancel, state);
  holder.hidden = true;
  let job = null;
  cancel.addEventListener('click', () => job?.cancel());
  const show = (done, total) => {
    const p = total > 0 ? Math.floor((done * 100) / total) : 0;
    bar.value = p;
    percent.textContent = `${p}%`;
  };
  return {
    show,
    async run(started, working) {
      job = started;
      holder.hidden = false;
      cancel.hidden = false;
      state.className = '';
      state.textContent = working;
      show(0, 0);
      try {
        const out = await job.done;
        show(1, 1);
        return out;
      } catch (e) {
        state.className = 'error';
        state.textContent = e.state === 'cancelled' ? '中止しました。' : e.message;
        return null;
      } finally {
        cancel.hidden = true;
        job = null;
      }
    },
    say(text) { state.textContent = text; },
  };
}
