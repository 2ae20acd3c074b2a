// Kiroku staff console: the shell. Login (with the second factor) and
// first enrolment, the menu of screens the session may use, the idle lock
// and logout. The session rides on its HttpOnly cookie only: this script
// never sees or keeps the token and keeps nothing in the browser's storage
// (web storage, IndexedDB). Personal values live only in the DOM of the
// screen showing them; a lock or logout empties every screen.

import { session, api, tenantApi, whenLocked } from './api.js';
import { $, el, ROLES } from './ui.js';
import screens from './screens.js';

const shell = { idleMs: 0, timer: null, locked: false, current: null, built: new Set() };

function showOnly(id) {
  for (const s of ['login', 'enrol', 'work']) $(s).hidden = s !== id;
}

/** Empties every screen: nothing personal stays in the page. */
function emptyScreens() {
  for (const s of screens) {
    const root = $(s.id);
    if (root) root.replaceChildren();
  }
  shell.built.clear();
}

function open(id) {
  const screen = screens.find((s) => s.id === id);
  if (!screen) return;
  shell.current = id;
  for (const s of screens) {
    const root = $(s.id);
    if (root) root.hidden = s.id !== id;
  }
  for (const b of document.querySelectorAll('#nav button')) {
    if (b.dataset.screen === id) b.setAttribute('aria-current', 'page');
    else b.removeAttribute('aria-current');
  }
  const root = $(id);
  if (!shell.built.has(id)) {
    screen.render(root);
    shell.built.add(id);
  }
  root.querySelector('input, select, textarea, button')?.focus();
}

function buildMenu() {
  const visible = screens.filter((s) => s.shows(session));
  const nav = $('nav-list');
  nav.replaceChildren(...visible.map((s) => el('li', {}, el('button', { type: 'button', 'data-screen': s.id, text: s.title }))));
  $('screens').replaceChildren(...visible.map((s) => el('section', { id: s.id, 'aria-label': s.title, hidden: true })));
  return visible;
}

async function signedIn(answer) {
  session.csrf = answer.csrf_token;
  shell.idleMs = (answer.idle_timeout_s || 900) * 1000;
  const mine = await tenantApi('GET', 'plugins');
  Object.assign(session, { user: mine.user, role: mine.role, grants: mine.grants ?? {} });
  session.ops = new Set((mine.plugins ?? []).flatMap((p) => p.operations.map((o) => `${p.name}/${o.name}`)));
  $('who-name').textContent = answer.operator ?? answer.user;
  $('who-role').textContent = ROLES[answer.role] ?? answer.role;
  $('who').hidden = false;
  const visible = buildMenu();
  showOnly('work');
  $('no-screens').hidden = visible.length > 0;
  if (visible.length) open(visible[0].id);
  touch();
}

function signedOut() {
  emptyScreens();
  Object.assign(session, { tenant: null, csrf: null, user: null, role: null, grants: {}, ops: new Set() });
  shell.locked = false;
  clearTimeout(shell.timer);
  document.body.classList.remove('locked');
  $('who').hidden = true;
  $('lock').hidden = true;
  $('nav-list').replaceChildren();
  $('screens').replaceChildren();
  $('login-form').reset();
  showOnly('login');
  $('login-tenant').focus();
}

/** Any input postpones the idle lock. */
function touch() {
  if (!session.csrf || shell.locked) return;
  clearTimeout(shell.timer);
  shell.timer = setTimeout(lock, shell.idleMs);
}

function lock() {
  if (shell.locked || !session.csrf) return;
  shell.locked = true;
  clearTimeout(shell.timer);
  emptyScreens();
  document.body.classList.add('locked');
  $('lock').hidden = false;
  $('lock-form').reset();
  $('lock-error').textContent = '';
  $('lock-totp').focus();
}

async function onLogin(event) {
  event.preventDefault();
  $('login-error').textContent = '';
  const tenant = $('login-tenant').value.trim();
  const body = {
    name: $('login-name').value, password: $('login-password').value, totp: $('login-totp').value.trim(), cookie_only: true,
  };
  $('login-password').value = '';
  try {
    session.tenant = tenant;
    await signedIn(await api('POST', `/v1/${tenant}/login`, body));
  } catch (e) {
    session.tenant = null;
    $('login-error').textContent = e.message;
  }
}

async function onUnlock(event) {
  event.preventDefault();
  $('lock-error').textContent = '';
  try {
    await tenantApi('POST', 'unlock', { totp: $('lock-totp').value.trim() });
    shell.locked = false;
    document.body.classList.remove('locked');
    $('lock').hidden = true;
    open(shell.current);
    touch();
  } catch (e) {
    $('lock-error').textContent = e.message;
  }
}

async function onLogout() {
  try { await tenantApi('POST', 'logout'); } catch { /* ended anyway */ }
  signedOut();
}

/** First use: the one-time code from the administrator, a password, and
 * the authenticator app's QR code (shown once, kept nowhere). */
async function onEnrol(event) {
  event.preventDefault();
  $('enrol-error').textContent = '';
  const tenant = $('enrol-tenant').value.trim();
  const body = { name: $('enrol-name').value, code: $('enrol-code').value.trim(), password: $('enrol-password').value };
  $('enrol-password').value = '';
  try {
    const done = await api('POST', `/v1/${tenant}/enrol`, body);
    $('enrol-qr').src = `data:image/png;base64,${done.qr_png_base64}`;
    $('enrol-secret').textContent = done.secret;
    $('enrol-done').hidden = false;
    $('enrol-form').hidden = true;
  } catch (e) {
    $('enrol-error').textContent = e.message;
  }
}

function toEnrol() {
  $('enrol-form').reset();
  $('enrol-form').hidden = false;
  $('enrol-done').hidden = true;
  $('enrol-qr').removeAttribute('src');
  $('enrol-secret').textContent = '';
  showOnly('enrol');
  $('enrol-tenant').focus();
}

document.addEventListener('DOMContentLoaded', () => {
  $('login-form').addEventListener('submit', onLogin);
  $('lock-form').addEventListener('submit', onUnlock);
  $('enrol-form').addEventListener('submit', onEnrol);
  $('to-enrol').addEventListener('click', toEnrol);
  for (const id of ['enrol-back', 'enrol-finish']) $(id).addEventListener('click', () => { toEnrol(); signedOut(); });
  $('logout').addEventListener('click', onLogout);
  $('nav-list').addEventListener('click', (e) => {
    const id = e.target.closest('button')?.dataset.screen;
    if (id) open(id);
  });
  for (const kind of ['keydown', 'pointerdown']) document.addEventListener(kind, touch, { passive: true });
  whenLocked(lock);
  signedOut();
});
