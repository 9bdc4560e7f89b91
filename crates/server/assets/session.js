// session.js: what this browser tab keeps about itself: the access token and the
// prefixes of the command ids it sent.
//
// The token arrives once in the URL (`?token=…`, as `watchtower serve` prints it) and is
// moved to sessionStorage at once, so it is never left in the address bar, the history or
// a screenshot; a token pasted in the read-only note is kept the same way. Command ids
// start with a prefix of this page load, and the tab remembers its last prefixes so the
// audit log can say "this dashboard" about its own commands, even after a reload.

const TOKEN_KEY = 'watchtower.token';
const CLIENTS_KEY = 'watchtower.clients';

/** The token: taken from the URL (and removed from it) if there, else the tab's. */
export function takeToken() {
  const url = new URL(location.href);
  const fromUrl = url.searchParams.get('token');
  if (fromUrl) {
    sessionStorage.setItem(TOKEN_KEY, fromUrl);
    url.searchParams.delete('token');
    window.history.replaceState(null, '', url.pathname + url.search + url.hash);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

/** Keeps a pasted token (or the token of a pasted URL); returns it, or null if empty. */
export function keepToken(text) {
  let value = text.trim();
  try {
    value = new URL(value).searchParams.get('token') ?? value;
  } catch {
    // not a URL: the token itself
  }
  if (!value) return null;
  sessionStorage.setItem(TOKEN_KEY, value);
  return value;
}

/**
 * This page load's command-id prefix, and a test of whether an id is one of this tab's
 * (this load's or one of the 20 before it).
 */
export function commandIds() {
  const prefix = `dash-${Math.random().toString(16).slice(2, 8)}`;
  let list = [];
  try {
    list = JSON.parse(sessionStorage.getItem(CLIENTS_KEY) ?? '[]');
  } catch {
    list = [];
  }
  list = [...(Array.isArray(list) ? list : []), prefix].slice(-20);
  sessionStorage.setItem(CLIENTS_KEY, JSON.stringify(list));
  const isOwn = (id) => typeof id === 'string' && list.some((p) => id.startsWith(`${p}-`));
  return { prefix, isOwn };
}
