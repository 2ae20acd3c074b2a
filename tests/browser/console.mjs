// Drives the staff console in Debian's Chromium (headless) against a real
// `kiroku serve`: the counter's flow as a clerk, with the checks a privacy
// auditor would make on the page. Run by tests/integration/console.rs,
// which starts the server and checks storage afterwards; it passes what
// the page must show through the environment and reads the last line
// printed (a JSON summary) back.
//
// Env: KIROKU_URL, KIROKU_TENANT, CLERK_NAME, CLERK_PASSWORD, CLERK_SECRET,
// TICKET, EXPECT_BIRTH, EXPECT_DOSES, TODAY, SCREENSHOTS (a directory).

import { createHmac } from 'node:crypto';
import { readFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const env = (name) => {
  const v = process.env[name];
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
};

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

const base = env('KIROKU_URL');
const shots = env('SCREENSHOTS');
mkdirSync(shots, { recursive: true });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
const summary = {};
try {
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 }, locale: 'ja-JP' });
  const page = await context.newPage();
  const violations = [];
  page.on('console', (m) => { if (/Content Security Policy|Refused to/.test(m.text())) violations.push(m.text()); });
  page.on('pageerror', (e) => violations.push(`page error: ${e.message}`));

  const response = await page.goto(`${base}/console/`);
  summary.status = response.status();
  summary.csp = response.headers()['content-security-policy'] ?? null;
  summary.inline_scripts = await page.evaluate(() => document.querySelectorAll('script:not([src])').length);
  const early = [...violations];
  // An inline script the page tried to add must not run under the policy.
  summary.inline_ran = await page.evaluate(() => new Promise((resolve) => {
    window.__inline = false;
    const s = document.createElement('script');
    s.textContent = 'window.__inline = true';
    document.head.append(s);
    setTimeout(() => resolve(window.__inline), 100);
  }));
  summary.inline_refused = violations.length > early.length;
  violations.length = 0;
  violations.push(...early);

  // Log in with the second factor, keyboard only.
  await page.focus('#login-tenant');
  await page.keyboard.type(env('KIROKU_TENANT'));
  await page.keyboard.press('Tab');
  await page.keyboard.type(env('CLERK_NAME'));
  await page.keyboard.press('Tab');
  await page.keyboard.type(env('CLERK_PASSWORD'));
  await page.keyboard.press('Tab');
  await page.keyboard.type(totp(env('CLERK_SECRET')));
  await page.keyboard.press('Enter');
  await page.waitForSelector('#counter:not([hidden])', { timeout: 10_000 });
  summary.who = [await page.textContent('#who-name'), await page.textContent('#who-role')];
  await page.screenshot({ path: `${shots}/login-done.png` });

  // The counter: a barcode reader types the ticket number and Enter.
  await page.focus('#find-ticket');
  await page.keyboard.type(env('TICKET'));
  await page.keyboard.press('Enter');
  await page.waitForSelector('#person:not([hidden])', { timeout: 10_000 });
  summary.birth_shown = (await page.textContent('#p-birth')).includes(env('EXPECT_BIRTH'));
  summary.dose_rows = await page.locator('#dose-rows tr').count();
  summary.expected_doses = Number(env('EXPECT_DOSES'));
  summary.url_has_digits = /[0-9]{6,}/.test(page.url().replace(base, ''));
  await page.screenshot({ path: `${shots}/counter.png` });

  // Accessibility (axe-core): serious or critical findings on this screen.
  const require = createRequire(import.meta.url);
  const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  const found = await page.evaluate(async (source) => {
    (0, eval)(source);
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations.filter((v) => ['serious', 'critical'].includes(v.impact)).map((v) => v.id);
  }, axeSource).catch((e) => [`axe did not run: ${e.message}`]);
  summary.axe_serious = found;

  // Record the next dose: a future date is refused next to its field and
  // nothing is stored; then the form, its confirmation, and the new row.
  summary.prefilled_number = Number(await page.inputValue('#f-dose_number'));
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
  summary.future_date_error = await page.textContent('#e-date');
  summary.rows_after_refusal = await page.locator('#dose-rows tr').count();
  await page.fill('#f-date', env('TODAY'));
  await page.focus('#dose-check');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#dose-confirm:not([hidden])');
  await page.screenshot({ path: `${shots}/counter-confirm.png` });
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.getElementById('dose-done').textContent !== '', null, { timeout: 10_000 });
  summary.rows_after_record = await page.locator('#dose-rows tr').count();
  summary.dose_error = await page.textContent('#dose-error');

  // Log out: nothing personal left on the page or in the browser's storage.
  await page.click('#logout');
  await page.waitForSelector('#login:not([hidden])', { timeout: 10_000 });
  summary.after_logout = await page.evaluate(async () => ({
    local: localStorage.length,
    session: sessionStorage.length,
    idb: (await indexedDB.databases()).length,
    text_has_birth: document.body.innerText,
  }));
  summary.after_logout.text_has_birth = summary.after_logout.text_has_birth.includes(env('EXPECT_BIRTH'));
  summary.cookies_after_logout = (await context.cookies()).filter((c) => c.value !== '').length;
  summary.violations = violations;
} finally {
  await browser.close();
}
console.log(JSON.stringify(summary));
