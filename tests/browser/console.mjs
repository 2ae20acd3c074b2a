// Drives the staff console in Debian's Chromium (headless) against a real
// `kiroku serve`: each role's main flow, with the checks a privacy auditor
// would make on the page. Run by tests/integration/console.rs, which
// starts the server, makes the accounts and checks storage afterwards; it
// passes what the page must show through the environment and reads the
// last line printed (a JSON summary, booleans and counts) back.
//
// Env: KIROKU_URL, KIROKU_TENANT, STAFF (JSON: role -> {name, password,
// secret}), TICKET, PERSON_ID, EXPECT_BIRTH, EXPECT_DOSES, TODAY,
// NEW_USER, SCREENSHOTS (a directory).

import { createHmac } from 'node:crypto';
import { readFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const jsQR = require('jsqr');
const { PNG } = require('pngjs');
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const env = (name) => {
  const v = process.env[name];
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
};
const base = env('KIROKU_URL');
const tenant = env('KIROKU_TENANT');
const staff = JSON.parse(env('STAFF'));
const shots = env('SCREENSHOTS');
mkdirSync(shots, { recursive: true });

/** RFC 6238 code (SHA-1, 30 s, 6 digits) of a base32 secret. */
function totp(secret, now = Date.now()) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of secret.replace(/=+$/, '').toUpperCase()) {
    bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  }
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(now / 1000 / 30)));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

/** The text of the QR code in an <img> whose src is a PNG data URL. */
async function qrOf(page, selector) {
  const src = await page.getAttribute(selector, 'src');
  const png = PNG.sync.read(Buffer.from(src.replace(/^data:image\/png;base64,/, ''), 'base64'));
  const found = (jsQR.default ?? jsQR)(Uint8ClampedArray.from(png.data), png.width, png.height);
  return found?.data ?? null;
}

/** Serious or critical axe-core findings on the page as it is now. */
async function axe(page) {
  return page.evaluate(async (source) => {
    if (!window.axe) (0, eval)(source);
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations.filter((v) => ['serious', 'critical'].includes(v.impact)).map((v) => `${v.id}: ${v.nodes[0]?.target}`);
  }, axeSource).catch((e) => [`axe did not run: ${e.message}`]);
}

/** What the browser keeps after logout or lock: nothing personal. */
async function leftovers(page, needle) {
  return page.evaluate(async (text) => ({
    local: localStorage.length,
    session: sessionStorage.length,
    idb: (await indexedDB.databases()).length,
    text_has_birth: document.body.innerText.includes(text),
    dom_has_birth: document.body.innerHTML.includes(text),
  }), needle);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
const summary = { axe: {}, violations: [] };
/** What one flow leaves for the next (the clerk's dose for the verifier). */
const shared = {};

/** A fresh browser context on the console, its CSP violations collected. */
async function open({ clock = false } = {}) {
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 }, locale: 'ja-JP', acceptDownloads: true });
  const page = await context.newPage();
  page.on('console', (m) => { if (/Content Security Policy|Refused to/.test(m.text())) summary.violations.push(m.text()); });
  page.on('pageerror', (e) => summary.violations.push(`page error: ${e.message}`));
  if (clock) await page.clock.install();
  const response = await page.goto(`${base}/console/`);
  return { context, page, response };
}

/** Logs in by keyboard only, as a counter clerk would. */
async function login(page, who, code = totp(who.secret)) {
  await page.focus('#login-tenant');
  await page.keyboard.type(tenant);
  await page.keyboard.press('Tab');
  await page.keyboard.type(who.name);
  await page.keyboard.press('Tab');
  await page.keyboard.type(who.password);
  await page.keyboard.press('Tab');
  await page.keyboard.type(code);
  await page.keyboard.press('Enter');
  await page.waitForSelector('#work:not([hidden])', { timeout: 10_000 });
  return page.locator('#nav-list button').allTextContents();
}

async function screen(page, id, name) {
  await page.click(`#nav-list button[data-screen="${id}"]`);
  await page.waitForSelector(`#${id}:not([hidden])`);
  summary.axe[name ?? id] = await axe(page);
}

/**
 * The screens of the menu that need scrolling sideways at 1366×768 or on
 * a tablet (820×1180 portrait): a page wider than the window.
 */
async function overflowing(page) {
  const wide = [];
  const ids = await page.locator('#nav-list button').evaluateAll((bs) => bs.map((b) => b.dataset.screen));
  for (const size of [{ width: 1366, height: 768 }, { width: 820, height: 1180 }]) {
    await page.setViewportSize(size);
    for (const id of ids) {
      await page.click(`#nav-list button[data-screen="${id}"]`);
      const over = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
      if (over) wide.push(`${id}@${size.width}`);
      if (size.width === 820) await page.screenshot({ path: `${shots}/tablet-${id}.png` });
    }
  }
  await page.setViewportSize({ width: 1366, height: 768 });
  return wide;
}

async function logout(context, page) {
  await page.click('#logout');
  await page.waitForSelector('#login:not([hidden])', { timeout: 10_000 });
  const left = await leftovers(page, env('EXPECT_BIRTH'));
  left.cookies = (await context.cookies()).filter((c) => c.value !== '').length;
  await context.close();
  return left;
}

async function counterFlow() {
  const out = {};
  const { context, page, response } = await open({ clock: true });
  summary.status = response.status();
  summary.csp = response.headers()['content-security-policy'] ?? null;
  summary.inline_scripts = await page.evaluate(() => document.querySelectorAll('script:not([src])').length);
  const early = summary.violations.length;
  // An inline script the page tried to add must not run under the policy.
  summary.inline_ran = await page.evaluate(() => new Promise((resolve) => {
    window.__inline = false;
    const s = document.createElement('script');
    s.textContent = 'window.__inline = true';
    document.head.append(s);
    setTimeout(() => resolve(window.__inline), 100);
  }));
  summary.inline_refused = summary.violations.length > early;
  summary.violations.length = early;
  summary.axe.login = await axe(page);

  const clerk = staff.clerk;
  const answered = page.waitForResponse((r) => r.url().endsWith('/login'));
  out.menu = await login(page, clerk);
  out.token_in_login_answer = (await (await answered).json()).token ?? null;
  out.who = [await page.textContent('#who-name'), await page.textContent('#who-role')];

  // A barcode reader types the ticket number and Enter.
  await page.focus('#find-ticket');
  await page.keyboard.type(env('TICKET'));
  await page.keyboard.press('Enter');
  await page.waitForSelector('#person:not([hidden])', { timeout: 10_000 });
  out.birth_shown = (await page.textContent('#person-facts')).includes(env('EXPECT_BIRTH'));
  out.dose_rows = await page.locator('#dose-rows tr').count();
  out.url_has_digits = /[0-9]{6,}/.test(page.url().replace(base, ''));
  summary.axe.counter = await axe(page);
  await page.screenshot({ path: `${shots}/counter.png` });

  // The idle lock: personal values leave the page; the factor brings it back.
  await page.clock.fastForward(16 * 60 * 1000);
  await page.waitForSelector('#lock:not([hidden])', { timeout: 5_000 });
  out.locked = await leftovers(page, env('EXPECT_BIRTH'));
  summary.axe.lock = await axe(page);
  await page.screenshot({ path: `${shots}/lock.png` });
  await page.fill('#lock-totp', '000000');
  await page.press('#lock-totp', 'Enter');
  await page.waitForFunction(() => document.getElementById('lock-error').textContent !== '');
  out.wrong_unlock_refused = !(await page.isHidden('#lock'));
  await page.fill('#lock-totp', totp(clerk.secret, Date.now() + 30_000));
  await page.press('#lock-totp', 'Enter');
  await page.waitForSelector('#lock', { state: 'hidden', timeout: 10_000 });
  out.unlocked = true;

  // Find again, then record the next dose: a future date is refused next
  // to its field and nothing is stored; then the form, its confirmation,
  // and the new row.
  await page.fill('#find-ticket', env('TICKET'));
  await page.press('#find-ticket', 'Enter');
  await page.waitForSelector('#person:not([hidden])', { timeout: 10_000 });
  out.prefilled_number = Number(await page.inputValue('#f-dose_number'));
  await page.fill('#f-date', '2099-01-01');
  await page.selectOption('#f-maker', 'pfizer');
  await page.fill('#f-product', 'コミナティ');
  await page.fill('#f-lot', 'QX7Q21');
  await page.fill('#f-facility_code', '1412345678');
  await page.fill('#f-doctor', '湘南 太郎');
  await page.click('#dose-check');
  await page.waitForSelector('#dose-confirm:not([hidden])');
  await page.click('#dose-save');
  await page.waitForFunction(() => document.getElementById('e-date').textContent !== '');
  out.future_date_error = await page.textContent('#e-date');
  out.rows_after_refusal = await page.locator('#dose-rows tr').count();
  await page.fill('#f-date', env('TODAY'));
  await page.focus('#dose-check');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#dose-confirm:not([hidden])');
  await page.screenshot({ path: `${shots}/counter-confirm.png` });
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.getElementById('dose-done').textContent !== '', null, { timeout: 10_000 });
  out.rows_after_record = await page.locator('#dose-rows tr').count();
  out.dose_error = await page.textContent('#dose-error');
  shared.recorded = out.prefilled_number;

  // A dose number that skips one needs a reason: the field appears, the
  // rule's message is in Japanese, and with a reason the dose is recorded.
  await page.fill('#f-dose_number', String(out.prefilled_number + 2));
  await page.fill('#f-product', 'コミナティ');
  await page.fill('#f-lot', 'QX7Q33');
  await page.fill('#f-facility_code', '1412345678');
  await page.fill('#f-doctor', '湘南 太郎');
  await page.click('#dose-check');
  await page.click('#dose-save');
  await page.waitForSelector('#f-override_reason', { state: 'visible', timeout: 10_000 });
  out.override_message = await page.textContent('#dose-error');
  await page.fill('#f-override_reason', '他院で接種済みの記録を後日登録');
  await page.click('#dose-check');
  await page.click('#dose-save');
  await page.waitForFunction(() => document.getElementById('dose-done').textContent !== '', null, { timeout: 10_000 });
  out.rows_after_override = await page.locator('#dose-rows tr').count();

  // A certificate for the person at the counter: the QR decodes to a card
  // the certificate screen then verifies.
  await page.click('#cert-issue');
  await page.waitForSelector('#cert-result:not([hidden])', { timeout: 20_000 });
  await page.screenshot({ path: `${shots}/certificate.png`, fullPage: true });
  const qr = await qrOf(page, '#cert-qr');
  shared.qr = qr;
  shared.certificate = (await page.textContent('#cert-id')).split('：').pop().trim();
  out.qr_is_shc = typeof qr === 'string' && qr.startsWith('shc:/');
  const [pdf] = await Promise.all([page.waitForEvent('download'), page.click('#cert-pdf')]);
  out.pdf_magic = readFileSync(await pdf.path()).subarray(0, 5).toString();
  await screen(page, 'certificates');
  await page.fill('#check-qr', qr ?? '');
  await page.click('#check-form button[type="submit"]');
  await page.waitForSelector('#check-result:not([hidden])', { timeout: 10_000 });
  out.qr_verdict = await page.textContent('#check-verdict');
  out.qr_birth_shown = (await page.textContent('#check-facts')).includes(env('EXPECT_BIRTH'));

  // A move-in query with no exchange set up gets the host's answer.
  await screen(page, 'movein');
  await page.fill('#m-address', env('MOVEIN_ADDRESS'));
  await page.fill('#m-previous', '131016');
  await page.click('#m-send');
  await page.waitForFunction(() => document.getElementById('m-error').textContent !== '' || !document.getElementById('m-result').hidden, null, { timeout: 20_000 });
  out.movein_answer = (await page.textContent('#m-error')) || (await page.textContent('#m-outcome'));
  await page.screenshot({ path: `${shots}/movein.png`, fullPage: true });

  out.after_logout = await logout(context, page);
  return out;
}

async function approverFlow() {
  const out = {};
  const { context, page } = await open();
  out.menu = await login(page, staff['federation-approver']);
  await screen(page, 'movein', 'approval');
  await page.waitForFunction(() => document.getElementById('m-queue-error').textContent !== '' || document.getElementById('m-queue') !== null);
  await page.waitForTimeout(300);
  out.sections = {
    query: await page.isVisible('#m-query-section'),
    batch: await page.isVisible('#m-batch-section'),
    queue: await page.isVisible('#m-queue-section'),
  };
  out.queue_rows = await page.locator('#m-queue tr').count();
  out.queue_error = await page.textContent('#m-queue-error');
  out.overflow = await overflowing(page);
  out.after_logout = await logout(context, page);
  return out;
}

async function verifierFlow() {
  const out = {};
  const { context, page } = await open();
  out.menu = await login(page, staff.verifier);
  await screen(page, 'verify');
  await page.fill('#vfind-ticket', env('TICKET'));
  await page.press('#vfind-ticket', 'Enter');
  await page.waitForSelector('#vperson:not([hidden])', { timeout: 10_000 });
  out.waiting = await page.locator('#vqueue tr').count();
  // The stored values of the re-typed fields are not on the screen.
  out.lot_shown = (await page.textContent('#verify')).includes('QX7Q21');
  await page.locator('#vqueue tr', { hasText: `${shared.recorded}回目` }).locator('button').click();
  await page.fill('#v-date', env('TODAY'));
  await page.selectOption('#v-maker', 'pfizer');
  await page.fill('#v-lot', 'QX7Q12');
  await page.fill('#v-amount', '0.3');
  await page.fill('#v-facility_code', '1412345678');
  await page.fill('#v-doctor', '湘南 太郎');
  await page.click('#v-submit');
  await page.waitForFunction(() => document.getElementById('ve-lot').textContent !== '');
  out.mismatch = { lot: await page.textContent('#ve-lot'), date: await page.textContent('#ve-date') };
  summary.axe.verify = await axe(page);
  await page.screenshot({ path: `${shots}/verify.png`, fullPage: true });
  await page.fill('#v-lot', 'qx7q21');
  await page.click('#v-submit');
  await page.waitForFunction(() => document.getElementById('v-done').textContent !== '', null, { timeout: 10_000 });
  out.done = await page.textContent('#v-done');
  out.waiting_after = await page.locator('#vqueue tr').count();
  out.after_logout = await logout(context, page);
  return out;
}

async function supervisorFlow() {
  const out = {};
  const { context, page } = await open();
  out.menu = await login(page, staff.supervisor);
  await screen(page, 'campaigns');
  await page.fill('#c-starts', '2026-10-01');
  await page.fill('#c-min-age', '65');
  await page.fill('#c-min-doses', '2');
  await page.fill('#c-days', '180');
  await page.click('#c-preview');
  await page.waitForSelector('#c-result:not([hidden])', { timeout: 20_000 });
  out.preview = await page.textContent('#c-count');
  out.sample_rows = await page.locator('#c-sample tr').count();
  // Watch the bar: every value it shows, until the job says it is done.
  await page.evaluate(() => {
    window.__seen = [];
    const bar = document.getElementById('c-progress');
    const set = Object.getOwnPropertyDescriptor(HTMLProgressElement.prototype, 'value').set;
    Object.defineProperty(bar, 'value', { set(v) { window.__seen.push(Number(v)); set.call(this, v); }, get() { return Number(this.getAttribute('value') ?? 0); } });
  });
  await page.click('#c-extract');
  await page.waitForSelector('#c-print:not([hidden])', { timeout: 60_000 });
  out.progress_seen = await page.evaluate(() => window.__seen);
  out.progress_final = await page.textContent('#c-percent');
  out.job_state = await page.textContent('#c-state');
  summary.axe.campaigns = await axe(page);
  await page.screenshot({ path: `${shots}/campaigns.png`, fullPage: true });
  const [csv] = await Promise.all([page.waitForEvent('download', { timeout: 30_000 }), page.click('#c-csv')]);
  const text = readFileSync(await csv.path(), 'utf8');
  out.csv_header = text.split('\n')[0];
  out.csv_rows = text.trim().split('\n').length - 1;

  // The clerk's certificate revoked: its QR no longer verifies.
  await screen(page, 'certificates');
  await page.fill('#revoke-id', shared.certificate ?? '');
  await page.selectOption('#revoke-reason', 'issued-in-error');
  await page.click('#revoke-form button[type="submit"]');
  await page.waitForFunction(() => document.getElementById('revoke-done').textContent !== '' || document.getElementById('revoke-error').textContent !== '', null, { timeout: 10_000 });
  out.revoke_error = await page.textContent('#revoke-error');
  await page.fill('#check-qr', shared.qr ?? '');
  await page.click('#check-form button[type="submit"]');
  await page.waitForSelector('#check-result:not([hidden])', { timeout: 10_000 });
  out.revoked_verdict = await page.textContent('#check-verdict');

  // History: the dose the clerk recorded is found by its maker and lot.
  await screen(page, 'history');
  await page.selectOption('#h-maker', 'pfizer');
  await page.fill('#h-lot', 'QX7Q21');
  await page.click('#h-search');
  await page.waitForFunction(() => document.getElementById('h-count').textContent !== '' || document.getElementById('h-error').textContent !== '', null, { timeout: 20_000 });
  out.history_rows = await page.locator('#h-rows tr').count();
  out.history_error = await page.textContent('#h-error');
  // Statistics by date: small cells (the doses of today and of the
  // import) are shown suppressed, in the table and in the chart.
  await page.selectOption('#s-by', 'date');
  await page.click('#s-count');
  await page.waitForFunction(() => document.getElementById('s-note').textContent !== '' || document.getElementById('s-error').textContent !== '', null, { timeout: 20_000 });
  out.stats_error = await page.textContent('#s-error');
  out.stats_rows = await page.locator('#s-rows tr').count();
  out.stats_bars = await page.locator('#s-chart rect.bar').count();
  out.stats_suppressed_bars = await page.locator('#s-chart rect.bar.suppressed').count();
  out.stats_suppressed_cells = (await page.locator('#s-rows td', { hasText: '秘匿' }).count());
  summary.axe.history = await axe(page);
  await page.screenshot({ path: `${shots}/history.png`, fullPage: true });

  // Dose import: a VRS export with one good row and one bad date; the dry
  // run reports the bad line, the import applies the good one.
  await screen(page, 'import');
  const vrs = '宛名番号,登録日時,接種日,接種券番号,自治体コード,接種会場,医師名,ワクチンメーカー,ロット番号\n'
    + `,20261120103000,20261120,${env('IMPORT_TICKET')},${tenant},藤沢市保健所,湘南 太郎,ファイザー,FA5765\n`
    + `,20261120103000,20261340,${env('IMPORT_TICKET')},${tenant},藤沢市保健所,湘南 太郎,ファイザー,FA5766\n`;
  await page.setInputFiles('#i-file', { name: 'vrs-export.csv', mimeType: 'text/csv', buffer: Buffer.from(vrs) });
  await page.click('#i-check');
  await page.waitForSelector('#i-report:not([hidden])', { timeout: 20_000 });
  out.import_error_lines = await page.locator('#i-errors tr td:first-child').allTextContents();
  summary.axe.import = await axe(page);
  await page.screenshot({ path: `${shots}/import.png`, fullPage: true });
  await page.click('#i-apply');
  await page.waitForFunction(() => /取り込みました|エラー/.test(document.getElementById('i-state').textContent), null, { timeout: 30_000 });
  out.import_state = await page.textContent('#i-state');
  out.import_percent = await page.textContent('#i-percent');

  // Subject rights: the disclosure letter, a suspension and its lifting.
  await screen(page, 'rights');
  await page.fill('#r-ticket', env('TICKET'));
  await page.press('#r-ticket', 'Enter');
  await page.waitForSelector('#r-person:not([hidden])', { timeout: 10_000 });
  const [letter] = await Promise.all([page.waitForEvent('download'), page.click('#r-disclose button')]);
  out.letter_magic = readFileSync(await letter.path()).subarray(0, 5).toString();
  await page.fill('#r-suspend-reason', '利用停止の請求');
  await page.click('#r-suspend-on');
  await page.waitForFunction(() => document.getElementById('r-person-done').textContent !== '' || document.getElementById('r-person-error').textContent !== '');
  out.suspended = await page.textContent('#r-person-done');
  await page.fill('#r-suspend-reason', '請求の取下げ');
  await page.click('#r-suspend-off');
  await page.waitForFunction(() => document.getElementById('r-person-done').textContent.includes('解除') || document.getElementById('r-person-error').textContent !== '');
  out.lifted = await page.textContent('#r-person-done');
  out.rights_error = await page.textContent('#r-person-error');
  summary.axe.rights = await axe(page);
  await page.screenshot({ path: `${shots}/rights.png`, fullPage: true });
  out.overflow = await overflowing(page);
  out.after_logout = await logout(context, page);
  return out;
}

async function auditorFlow() {
  const out = {};
  const { context, page } = await open();
  out.menu = await login(page, staff.auditor);
  await screen(page, 'audit');
  await page.fill('#a-subject', env('PERSON_ID'));
  await page.click('#a-search');
  await page.waitForFunction(() => document.getElementById('a-count').textContent !== '', null, { timeout: 10_000 });
  const table = await page.textContent('#a-rows');
  out.rows = await page.locator('#a-rows tr').count();
  out.mentions = Object.fromEntries(['clerk', 'verifier'].map((r) => [r, table.includes(staff[r].name)]));
  out.birth_shown = table.includes(env('EXPECT_BIRTH'));
  // One of the clerk's rows: the whole session, login to logout.
  await page.locator('#a-rows tr', { hasText: staff.clerk.name }).last().locator('button').click();
  await page.waitForFunction(() => document.getElementById('a-session').value !== '');
  await page.waitForFunction(() => [...document.querySelectorAll('#a-rows tr td:nth-child(4)')].some((td) => td.textContent.endsWith('（login）')), null, { timeout: 10_000 }).catch(() => {});
  const actions = await page.locator('#a-rows tr td:nth-child(4)').allTextContents();
  out.session_actions = [...new Set(actions.map((a) => /（([^）]+)）$/.exec(a)?.[1] ?? a))].sort();
  out.login_in_japanese = actions.includes('ログイン（login）');
  // The outcome filter on that session: only the refusals, all of them.
  const outcomes = await page.locator('#a-rows tr td:nth-child(6)').allTextContents();
  const refusal = outcomes.includes('エラー') ? ['error', 'エラー'] : ['deny', '拒否'];
  await page.selectOption('#a-outcome', refusal[0]);
  await page.click('#a-search');
  await page.waitForFunction((n) => document.querySelectorAll('#a-rows tr').length !== n, outcomes.length, { timeout: 10_000 }).catch(() => {});
  const filtered = await page.locator('#a-rows tr td:nth-child(6)').allTextContents();
  out.outcome_filter = {
    expected: outcomes.filter((o) => o === refusal[1]).length,
    shown: filtered.length,
    only: [...new Set(filtered)],
    refusal: refusal[1],
  };
  await page.click('#a-verify');
  await page.waitForFunction(() => /件を検査|検出/.test(document.getElementById('a-verified').textContent), null, { timeout: 20_000 });
  out.verified = await page.textContent('#a-verified');
  summary.axe.audit = await axe(page);
  await page.screenshot({ path: `${shots}/audit.png`, fullPage: true });
  out.overflow = await overflowing(page);
  out.after_logout = await logout(context, page);
  return out;
}

async function adminFlow() {
  const out = {};
  const newUser = env('NEW_USER');
  let { context, page } = await open();
  out.menu = await login(page, staff.admin);
  await screen(page, 'admin');
  await page.fill('#u-name', newUser);
  await page.selectOption('#u-role', 'clerk');
  await page.click('#u-form button[type="submit"]');
  await page.waitForSelector('#u-code-box:not([hidden])', { timeout: 10_000 });
  const code = (await page.textContent('#u-code')).trim();
  await page.waitForSelector(`#u-rows tr[data-user="${newUser}"]`, { timeout: 10_000 });
  out.review_row = await page.locator(`#u-rows tr[data-user="${newUser}"] td`).allTextContents();
  out.review_users = await page.locator('#u-rows tr').count();
  await page.click('#p-list');
  await page.waitForSelector('#p-rows tr', { timeout: 10_000 });
  out.plugin_rows = await page.locator('#p-rows tr').count();
  const entry = page.locator('#p-rows tr', { hasText: 'dose-entry' }).first();
  await entry.locator('summary').click();
  out.policy_words = (await entry.locator('pre.policy').textContent()).split('\n')[0];
  summary.axe.admin = await axe(page);
  await page.screenshot({ path: `${shots}/admin.png`, fullPage: true });

  // Retention: the preview by rule, then the purge job to its end.
  await screen(page, 'rights', 'retention');
  await page.click('#r-preview');
  await page.waitForSelector('#r-result:not([hidden])', { timeout: 20_000 });
  out.purge_preview = await page.textContent('#r-total');
  out.purge_rules = await page.locator('#r-rules tr').count();
  if (await page.isVisible('#r-confirm')) {
    await page.fill('#r-confirm', '消去');
    await page.click('#r-purge');
    await page.waitForFunction(() => /消去しました|エラー|中止/.test(document.getElementById('r-state').textContent), null, { timeout: 60_000 });
    out.purge_state = await page.textContent('#r-state');
    out.purge_percent = await page.textContent('#r-percent');
  }
  out.overflow = await overflowing(page);
  out.after_logout = await logout(context, page);

  // The new user enrols in the console, scans the QR, and logs in with it.
  ({ context, page } = await open());
  await page.click('#to-enrol');
  await page.fill('#enrol-tenant', tenant);
  await page.fill('#enrol-name', newUser);
  await page.fill('#enrol-code', code);
  const password = 'a long passphrase for the counter';
  await page.fill('#enrol-password', password);
  await page.click('#enrol-form button[type="submit"]');
  await page.waitForSelector('#enrol-done:not([hidden])', { timeout: 10_000 });
  summary.axe.enrol = await axe(page);
  await page.screenshot({ path: `${shots}/enrol.png` });
  const uri = await qrOf(page, '#enrol-qr');
  out.enrol_qr_is_otpauth = typeof uri === 'string' && uri.startsWith('otpauth://totp/');
  const secret = new URL(uri ?? 'otpauth://totp/x?secret=').searchParams.get('secret');
  await page.click('#enrol-finish');
  await page.waitForSelector('#login:not([hidden])');
  out.enrolled_menu = await login(page, { name: newUser, password, secret });
  out.enrolled_role = await page.textContent('#who-role');
  out.enrolled_logout = await logout(context, page);
  return out;
}

try {
  summary.clerk = await counterFlow();
  summary.verifier = await verifierFlow();
  summary.supervisor = await supervisorFlow();
  summary.auditor = await auditorFlow();
  summary.admin = await adminFlow();
  summary.approver = await approverFlow();
} catch (e) {
  summary.failed = `${e.message}`.slice(0, 500);
} finally {
  await browser.close();
}
console.log(JSON.stringify(summary));
