//! Who may do what: the access token for commands, and the origin check that stops any
//! web page the user happens to visit from steering their simulation.
//!
//! Telemetry and history are readable without the token. Commands need it, as
//! `Authorization: Bearer TOKEN` on HTTP or the `token` query parameter of the WebSocket
//! upgrade. A WebSocket upgrade or command carrying an `Origin` header must come from the
//! server's own loopback address or one allowed with `--allow-origin`: a page on another
//! site is refused with 403.
//!
//! The origin check alone does not stop DNS rebinding: a page whose name was rebound to
//! 127.0.0.1 is same-origin to the browser, and its GETs carry no `Origin`. That is the
//! `Host` check's job (`host.rs`), which refuses every request addressed to a name the
//! server does not answer to, before it reaches any handler here.

use axum::http::{HeaderMap, header};

use crate::state::ServerState;

/// Compares in time independent of where the strings first differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether `presented` is the access token. A viewer has none (its token is empty), so
/// nothing, not even an empty bearer, passes.
pub fn token_ok(state: &ServerState, presented: Option<&str>) -> bool {
    !state.config.token.is_empty()
        && presented.is_some_and(|t| constant_time_eq(t.as_bytes(), state.config.token.as_bytes()))
}

/// The bearer token of an HTTP request, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

/// Whether the request's `Origin` (if it has one) is allowed.
pub fn origin_ok(state: &ServerState, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true; // not a browser: no cross-site risk, and the token still guards commands
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim_end_matches('/');
    let port = state.port.load(std::sync::atomic::Ordering::Relaxed);
    let own = ["127.0.0.1", "localhost", "[::1]"].iter().any(|host| origin == format!("http://{host}:{port}"));
    own || state.config.allowed_origins.iter().any(|o| o.trim_end_matches('/') == origin)
}

#[cfg(test)]
mod tests {
    #[test]
    fn constant_time_eq_compares() {
        assert!(super::constant_time_eq(b"abc", b"abc"));
        assert!(!super::constant_time_eq(b"abc", b"abd"));
        assert!(!super::constant_time_eq(b"abc", b"ab"));
    }
}
