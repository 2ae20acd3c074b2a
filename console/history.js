// History and statistics (supervisor; history also for viewers): the
// history search with paging and CSV download, and the statistics as
// tables and bar charts (by date, by age band), suppressed cells shown as
// such rather than as a number.

import { plugin, may } from './api.js';
import { $, el, rows, wareki, count, download, MAKERS } from './ui.js';

const MARKUP = `
<h2>接種履歴と統計</h2>
<section aria-labelledby="h-title">
<h3 id="h-title">接種履歴の検索</h3>
<form id="h-form" autocomplete="off">
  <label for="h-maker">メーカー</label>
  <select id="h-maker"><option value="">すべて</option>${Object.entries(MAKERS).map(([k, v]) => `<option value="${k}">${v}</option>`).join('')}</select>
  <label for="h-dose">接種回数</label>
  <input id="h-dose" inputmode="numeric" maxlength="1">
  <label for="h-lot">ロット番号</label>
  <input id="h-lot">
  <label for="h-from">接種日（から）</label>
  <input id="h-from" type="date">
  <label for="h-to">接種日（まで）</label>
  <input id="h-to" type="date">
  <label for="h-age-from">年齢（以上）</label>
  <input id="h-age-from" inputmode="numeric" maxlength="3">
  <label for="h-age-to">年齢（以下）</label>
  <input id="h-age-to" inputmode="numeric" maxlength="3">
  <button type="submit" id="h-search">検索</button>
  <p class="error" id="h-error" role="alert"></p>
</form>
<p id="h-count" role="status"></p>
<table class="doses"><thead><tr><th scope="col">氏名</th><th scope="col">カナ</th><th scope="col">生年月日</th><th scope="col">住所</th><th scope="col">接種</th></tr></thead>
<tbody id="h-rows"></tbody></table>
<p><button type="button" id="h-next" hidden>次のページ</button> <button type="button" id="h-csv" class="secondary" hidden>この条件でCSVを保存</button></p>
</section>
<section aria-labelledby="s-title" id="s-section">
<h3 id="s-title">統計</h3>
<form id="s-form" autocomplete="off">
  <label for="s-by">集計の単位</label>
  <select id="s-by"><option value="date">接種日別</option><option value="age_band">年齢階級別</option><option value="dose_number">接種回数別</option><option value="maker">メーカー別</option><option value="district">地区別</option></select>
  <label for="s-from">接種日（から）</label>
  <input id="s-from" type="date">
  <label for="s-to">接種日（まで）</label>
  <input id="s-to" type="date">
  <button type="submit" id="s-count">集計</button>
  <p class="error" id="s-error" role="alert"></p>
</form>
<p id="s-note"></p>
<div id="s-chart" class="scroll" tabindex="0" role="region" aria-label="集計のグラフ"></div>
<div class="scroll" tabindex="0" role="region" aria-label="集計の表">
<table class="doses"><thead><tr><th scope="col" id="s-dim">区分</th><th scope="col">件数</th></tr></thead><tbody id="s-rows"></tbody></table>
</div>
<p><button type="button" id="s-csv" class="secondary" hidden>CSVを保存</button></p>
</section>`;

let query = null;
let next = null;
let page = 0;
let stats = null;

function number(id) {
  const v = $(id).value.trim();
  return v === '' ? undefined : Number(v);
}

function conditions() {
  const q = {
    maker: $('h-maker').value || undefined, dose_number: number('h-dose'), lot: $('h-lot').value.trim() || undefined,
    date_from: $('h-from').value || undefined, date_to: $('h-to').value || undefined,
    age_from: number('h-age-from'), age_to: number('h-age-to'),
  };
  return Object.fromEntries(Object.entries(q).filter(([, v]) => v !== undefined));
}

async function search(after) {
  $('h-error').textContent = '';
  try {
    const answer = await plugin('history-list', 'search', { ...query, limit: 50, ...(after ? { after } : {}) });
    const persons = answer.persons ?? [];
    $('h-rows').replaceChildren(...rows(persons, (p) => [
      p.kanji_name, p.kana_name, wareki(p.birth_date), p.address,
      (p.doses ?? []).map((d) => `${d.dose_number}回目 ${d.date ?? ''} ${MAKERS[d.maker] ?? d.maker ?? ''}`).join(' / '),
    ]));
    next = answer.next_after ?? null;
    page = after ? page + 1 : 1;
    $('h-count').textContent = `${page}ページ目：${count(persons.length)} 人${next ? '（続きあり）' : ''}`;
    $('h-next').hidden = !next;
    $('h-csv').hidden = !may('history-list/export');
  } catch (e) {
    $('h-error').textContent = e.message;
  }
}

async function exportCsv() {
  let after = null;
  let text = '';
  for (;;) {
    const answer = await plugin('history-list', 'export', { ...query, limit: 5000, ...(after ? { after } : {}) });
    text += answer.csv ?? '';
    if (!answer.next_after) break;
    after = answer.next_after;
  }
  download('history.csv', 'text/csv;charset=utf-8', text);
}

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A horizontal bar chart; a suppressed cell is a hatched bar marked ＊. */
function chart(cells, label) {
  const shown = cells.filter((c) => typeof c.count === 'number');
  const most = Math.max(1, ...shown.map((c) => c.count));
  const [rowH, left, width] = [22, 150, 520];
  const root = svg('svg', { viewBox: `0 0 ${left + width + 80} ${cells.length * rowH + 10}`, role: 'img', class: 'chart', 'aria-labelledby': 's-chart-title' });
  root.append(svg('title', { id: 's-chart-title' }, `${label}の件数（＊は10件未満のため秘匿）`));
  root.append(svg('defs', {}));
  cells.forEach((c, i) => {
    const y = i * rowH + 5;
    const hidden = typeof c.count !== 'number';
    const w = hidden ? width * 0.04 : Math.max(1, (c.count / most) * width);
    root.append(svg('text', { x: left - 6, y: y + 15, 'text-anchor': 'end', class: 'chart-label' }, c.label));
    root.append(svg('rect', { x: left, y, width: w, height: rowH - 6, class: hidden ? 'bar suppressed' : 'bar' }));
    root.append(svg('text', { x: left + w + 6, y: y + 15, class: 'chart-value' }, hidden ? '＊' : count(c.count)));
  });
  return root;
}

const DIMS = { date: '接種日', age_band: '年齢階級', dose_number: '接種回数', maker: 'メーカー', district: '地区' };

async function onCount(event) {
  event.preventDefault();
  $('s-error').textContent = '';
  const by = $('s-by').value;
  const input = { group_by: [by], ...($('s-from').value ? { from: $('s-from').value } : {}), ...($('s-to').value ? { to: $('s-to').value } : {}) };
  try {
    stats = await plugin('statistics', 'counts', input);
    const cells = (stats.cells ?? []).map((c) => ({
      label: by === 'date' ? c[by] : by === 'maker' ? (MAKERS[c[by]] ?? c[by]) : by === 'dose_number' ? `${c[by]}回目` : String(c[by]),
      count: c.count,
    }));
    $('s-dim').textContent = DIMS[by];
    $('s-rows').replaceChildren(...rows(cells, (c) => [c.label, typeof c.count === 'number' ? count(c.count) : '秘匿（＊）']));
    $('s-chart').replaceChildren(chart(cells, DIMS[by]));
    const total = typeof stats.total === 'number' ? count(stats.total) : '秘匿';
    $('s-note').textContent = `合計 ${total} 件。${stats.threshold} 件未満の区分は「＊」（秘匿）として表示します。`;
    $('s-csv').hidden = false;
  } catch (e) {
    $('s-error').textContent = e.message;
  }
}

export default {
  id: 'history',
  title: '履歴・統計',
  shows: () => may('history-list/search') || may('statistics/counts'),
  render(root) {
    root.innerHTML = MARKUP;
    [query, next, page, stats] = [null, null, 0, null];
    $('h-form').closest('section').hidden = !may('history-list/search');
    $('s-section').hidden = !may('statistics/counts');
    $('h-form').addEventListener('submit', (event) => { event.preventDefault(); query = conditions(); search(null); });
    $('h-next').addEventListener('click', () => search(next));
    $('h-csv').addEventListener('click', () => exportCsv().catch((e) => { $('h-error').textContent = e.message; }));
    $('s-form').addEventListener('submit', onCount);
    $('s-csv').addEventListener('click', () => stats && download('statistics.csv', 'text/csv;charset=utf-8', stats.csv));
  },
};
