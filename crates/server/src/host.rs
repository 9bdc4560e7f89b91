//! Which `Host` a request may be addressed to: the defence against DNS rebinding.
//!
//! A page on another site can point its own name at 127.0.0.1 once the browser has loaded
//! it ("rebinding"); its scripts then talk to this server as a same-origin site, sending
//! no `Origin` on a GET, and could read the audit log (peer addresses included), the
//! history and the registry. What they cannot change is the `Host` header: it carries the
//! attacker's name. So every request, on every route, must be addressed to a host this
//! server answers to, or it is refused with 421 Misdirected Request:
//!
//! - any loopback address (`127.0.0.0/8`, `[::1]`) and `localhost`;
//! - the address it is bound to (`--bind`); when that is unspecified (`0.0.0.0`, `[::]`),
//!   any IP address, since clients reach it by whichever of the machine's addresses they
//!   see, and an IP literal is never a name an attacker can rebind;
//! - the hosts of `--allow-origin` origins and every `--allow-host` (a name or address,
//!   any port: `lab-host`, `lab-host:8000` and `watchtower.example.org` all work).
//!
//! Ports are not compared: rebinding needs a name the attacker controls, not a port, and a
//! proxy on the machine may forward from another port. A request with no `Host` at all
//! (HTTP/1.0 tools) passes; where the request line carries an absolute URI, its
//! authority is the host that counts (RFC 9112 §3.2.2).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::uri::Authority;
use axum::http::{StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::metrics::counter::Counter;
use serde_json::json;

/// The hosts a server answers to.
#[derive(Debug, Clone)]
pub struct Hosts {
    bound: IpAddr,
    /// Allowed names and address literals, lower case, without port or trailing dot.
    names: Vec<String>,
    refused: Counter,
}

impl Hosts {
    /// The hosts of a server bound to `bound`, with `--allow-host` values and
    /// `--allow-origin` origins; refusals are counted in `refused`.
    pub fn new(bound: SocketAddr, allowed_hosts: &[String], allowed_origins: &[String], refused: Counter) -> Self {
        let from_hosts = allowed_hosts.iter().filter_map(|h| host_of(h));
        let from_origins = allowed_origins.iter().filter_map(|o| o.parse::<Uri>().ok()?.host().map(normalise));
        Self { bound: bound.ip(), names: from_hosts.chain(from_origins).collect(), refused }
    }

    /// Whether a request addressed to `host` (a `Host` header's value) is served.
    pub fn allows(&self, host: &str) -> bool {
        let Some(name) = host_of(host) else { return false };
        let literal = name.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().ok();
        match literal.map(|ip| ip.to_canonical()) {
            Some(ip) if ip.is_loopback() || ip == self.bound || self.bound.is_unspecified() => true,
            _ => name == "localhost" || self.names.contains(&name),
        }
    }
}

/// Checks an `--allow-host` value: a host name or address, with or without a port.
pub fn check_allowed(value: &str) -> Result<(), String> {
    match host_of(value) {
        Some(host) if !host.is_empty() => Ok(()),
        _ => Err(format!("--allow-host {value}: expected a host name or address, like lab-host or 10.0.0.7:8000")),
    }
}

/// The host part of an authority (`name[:port]`), normalised; `None` if it is not one.
fn host_of(authority: &str) -> Option<String> {
    let authority: Authority = authority.trim().parse().ok()?;
    // `user@host` is an authority but never a Host header.
    (!authority.as_str().contains('@')).then(|| normalise(authority.host()))
}

fn normalise(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// The middleware: refuses a request addressed to a host this server does not answer to.
pub async fn check(State(hosts): State<Arc<Hosts>>, request: Request, next: Next) -> Response {
    let named = match request.uri().authority() {
        Some(authority) => Some(authority.as_str().as_bytes()),
        None => request.headers().get(header::HOST).map(|h| h.as_bytes()),
    };
    let Some(named) = named else {
        return next.run(request).await; // HTTP/1.0 without Host
    };
    let host = std::str::from_utf8(named).unwrap_or("");
    if hosts.allows(host) {
        return next.run(request).await;
    }
    hosts.refused.inc();
    let shown: String = host.chars().filter(|c| !c.is_control()).take(100).collect();
    let message = format!(
        "misdirected request: this server does not answer to the host `{shown}` (a guard against DNS rebinding); \
         if that is how you reach it, start watchtower with --allow-host {}",
        host_of(host).unwrap_or_else(|| "HOST".into())
    );
    (StatusCode::MISDIRECTED_REQUEST, Json(json!({"error": message}))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(bind: &str, allowed: &[&str], origins: &[&str]) -> Hosts {
        let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Hosts::new(bind.parse().unwrap(), &own(allowed), &own(origins), Counter::default())
    }

    #[test]
    fn loopback_serves_itself_and_refuses_other_names() {
        let h = hosts("127.0.0.1:8000", &[], &[]);
        for ok in
            ["127.0.0.1:8000", "127.0.0.1", "localhost:8000", "LOCALHOST", "localhost.", "[::1]:8000", "127.1.2.3"]
        {
            assert!(h.allows(ok), "{ok}");
        }
        for bad in ["evil.example", "evil.example:8000", "localhost.evil.example", "192.168.1.5:8000", "", "a@b", "x y"]
        {
            assert!(!h.allows(bad), "{bad}");
        }
    }

    #[test]
    fn allowed_hosts_and_origins_add_names() {
        let h = hosts("127.0.0.1:8000", &["Lab-Host", "10.0.0.7:9000"], &["http://dash.example:8000/"]);
        assert!(h.allows("lab-host:8000") && h.allows("lab-host") && h.allows("10.0.0.7") && h.allows("dash.example"));
        assert!(!h.allows("other.example"));
    }

    #[test]
    fn allowed_host_values_are_checked() {
        for ok in ["lab-host", "lab-host:8000", "10.0.0.7", "[::1]:8000", "watchtower.example.org"] {
            assert_eq!(check_allowed(ok), Ok(()), "{ok}");
        }
        for bad in ["http://lab-host", "lab-host/x", "", "a@b", "lab host"] {
            assert!(check_allowed(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_unspecified_bind_serves_any_address_but_no_name() {
        let h = hosts("0.0.0.0:8000", &[], &[]);
        assert!(h.allows("192.168.1.5:8000") && h.allows("[fe80::1]:8000") && h.allows("localhost:8000"));
        assert!(!h.allows("evil.example:8000"));
        let h = hosts("192.168.1.5:8000", &[], &[]);
        assert!(h.allows("192.168.1.5:8000") && !h.allows("192.168.1.6:8000"));
    }
}
