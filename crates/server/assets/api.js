// api.js: the dashboard's HTTP calls to its own server (same origin only), each bounded
// by a timeout so a hung request never blocks the page.

const TIMEOUT_MS = 10_000;

/**
 * Fetches `path` (with `payload` as a JSON body, if given) and parses JSON. Resolves to
 * `{status, body}` (body is null if the response was not JSON); rejects only on network
 * failure or timeout.
 */
export async function getJSON(path, { token, method = 'GET', body: payload, timeout = TIMEOUT_MS } = {}) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeout);
  try {
    const headers = { Accept: 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (payload !== undefined) headers['Content-Type'] = 'application/json';
    const response = await fetch(path, {
      method, headers, signal: controller.signal, cache: 'no-store', body: payload === undefined ? undefined : JSON.stringify(payload),
    });
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    return { status: response.status, body };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `GET /api/history` of `run` (default: the main run) between `from` and `to`
 * (inclusive); [] if the server has no store.
 */
export async function history(from, to, run = null) {
  const limit = Math.max(1, to - from + 1);
  const which = run == null ? '' : `run=${run}&`;
  const { status, body } = await getJSON(`/api/history?${which}from=${from}&to=${to}&limit=${limit}`, { timeout: 20_000 });
  if (status !== 200 || !body || !Array.isArray(body.ticks)) return { run: null, ticks: [] };
  return { run: body.run, ticks: body.ticks };
}
