// The console's one way to the host: the same /v1 API as any client. The
// session rides on its HttpOnly cookie; the CSRF value is kept here, in
// memory only, and sent with every write.

import { japanese } from './messages.js';

export const session = { tenant: null, csrf: null, user: null, role: null, grants: {}, ops: new Set() };

/** Japanese for the host's error codes; the host's own text otherwise. */
const KNOWN = {
  'login-failed': '利用者名、パスワードまたはワンタイムパスワードが正しくありません。',
  'rate-limited': '失敗が続いたため、しばらく受け付けません。1分後にもう一度お試しください。',
  'session-locked': '画面がロックされています。',
  unauthorized: 'ログインしてください。',
  forbidden: 'この操作を行う権限がありません。',
  'not-found': '該当する記録がありません。',
  'unknown-tenant': 'この自治体コードはこのサーバーにありません。',
  suspended: 'この方の記録は利用停止中です。',
  replayed: 'この操作はすでに処理されています。',
  'unknown-job': 'この処理は見つかりません。',
  cancelled: '中止しました。',
};

/** The host's messages name fields and limits, never values. */
export function message(answer) {
  const code = answer?.error?.code;
  return KNOWN[code] ?? `エラー：${answer?.error?.message ? japanese(answer.error.message) : '通信に失敗しました。'}`;
}

/** A thrown answer: `code` and the host's `raw` text for field routing. */
export class HostError extends Error {
  constructor(answer, status) {
    super(message(answer));
    this.code = answer?.error?.code;
    this.raw = answer?.error?.message ?? '';
    this.status = status;
  }
}

/** Listeners told when the host says the session is locked. */
const onLocked = [];
export function whenLocked(f) { onLocked.push(f); }

/** A request to the host. `raw` answers the Response (CSV downloads). */
export async function api(method, path, body, { raw = false, type = 'application/json' } = {}) {
  const headers = { 'content-type': type };
  if (method !== 'GET' && session.csrf) headers['x-csrf-token'] = session.csrf;
  const response = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    cache: 'no-store',
    body: body === undefined ? undefined : typeof body === 'string' || body instanceof Blob ? body : JSON.stringify(body),
  });
  if (raw && response.ok) return response;
  let answer = {};
  try { answer = await response.json(); } catch { answer = {}; }
  if (!response.ok) {
    const error = new HostError(answer, response.status);
    if (error.code === 'session-locked') for (const f of onLocked) f();
    throw error;
  }
  return answer;
}

/** `POST /v1/{tenant}/{plugin}/{operation}`. */
export function plugin(name, op, input) {
  return api('POST', `/v1/${session.tenant}/${name}/${op}`, input);
}

/** An uploaded file (its exact bytes) with options in the query. */
export function upload(name, op, file, options = {}) {
  const q = new URLSearchParams(options);
  return api('POST', `/v1/${session.tenant}/${name}/${op}?${q}`, file, { type: 'text/csv' });
}

/** `/v1/admin/{tenant}/...`. */
export function admin(method, rest, body) {
  return api(method, `/v1/admin/${session.tenant}/${rest}`, body);
}

/** `/v1/{tenant}/...` (audit, jobs, session). */
export function tenantApi(method, rest, body) {
  return api(method, `/v1/${session.tenant}/${rest}`, body);
}

/** May this session invoke `plugin/operation`? */
export function may(op) { return session.ops.has(op); }

/**
 * Runs an operation as a job, calling `progress(done, total)` at each poll
 * until it ends; answers its output or throws its error. `job.cancel()`
 * asks the host to stop it.
 */
export function runJob(name, op, input, progress, options = null) {
  const job = { id: null, cancelled: false };
  job.cancel = async () => {
    job.cancelled = true;
    if (job.id) await tenantApi('DELETE', `jobs/${job.id}`).catch(() => {});
  };
  job.done = (async () => {
    const started = input instanceof Blob
      ? await api('POST', `/v1/${session.tenant}/jobs/${name}/${op}?${new URLSearchParams(options ?? {})}`, input, { type: 'text/csv' })
      : await tenantApi('POST', `jobs/${name}/${op}`, input);
    job.id = started.job_id;
    if (job.cancelled) await job.cancel();
    for (;;) {
      const s = await tenantApi('GET', `jobs/${job.id}`);
      progress(s.done ?? 0, s.total ?? 0, s.state);
      if (s.state === 'done') return s.output;
      if (s.state !== 'running') {
        const error = new HostError({ error: s.error ?? { code: s.state } }, 200);
        error.state = s.state;
        throw error;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  return job;
}
