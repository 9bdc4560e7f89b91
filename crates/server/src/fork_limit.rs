//! Forks a second: each fork records a run and a starting state, so a client forking as
//! fast as it can grew the database by ≈50 MB/s (issue 21). Forks are limited per
//! address (an IPv6 peer by its /64, as [`crate::flood`] counts them) and per token
//! (every holder of the access token together), each a bucket of [`Rate::burst`] forks
//! refilled at [`Rate::per_second`]. A fork the engine refuses (a bad setting, a fifth
//! branch) is handed back: only forks that make a branch count.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::flood::source;

/// A bucket's size and refill.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Forks at once.
    pub burst: f64,
    /// Forks a second, sustained.
    pub per_second: f64,
}

/// Forks from one address.
pub const PER_ADDRESS: Rate = Rate { burst: 10.0, per_second: 2.0 };

/// Forks by every holder of the token together.
pub const PER_TOKEN: Rate = Rate { burst: 20.0, per_second: 4.0 };

/// Addresses tracked at once; past it, a new address has only the token's bucket.
const MAX_ADDRESSES: usize = 1_024;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(rate: Rate, now: Instant) -> Self {
        Self { tokens: rate.burst, at: now }
    }

    /// Refilled up to `now`.
    fn refill(&mut self, rate: Rate, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate.per_second).min(rate.burst);
        self.at = now;
    }

    /// How long until one fork is allowed.
    fn wait(&self, rate: Rate) -> Duration {
        Duration::from_secs_f64(((1.0 - self.tokens) / rate.per_second).max(0.0))
    }
}

/// The buckets of forks per address and per token.
#[derive(Debug)]
pub struct ForkLimit {
    buckets: Mutex<Buckets>,
}

#[derive(Debug)]
struct Buckets {
    by_address: HashMap<IpAddr, Bucket>,
    token: Bucket,
}

impl Default for ForkLimit {
    fn default() -> Self {
        let now = Instant::now();
        Self { buckets: Mutex::new(Buckets { by_address: HashMap::new(), token: Bucket::full(PER_TOKEN, now) }) }
    }
}

/// Why a fork is refused: which limit, and when one is allowed again.
#[derive(Debug, Clone, PartialEq)]
pub struct TooFast {
    /// `per address` or `per token`.
    pub limit: &'static str,
    /// The limit's rate.
    pub rate: Rate,
    /// When the next fork is allowed.
    pub retry_after: Duration,
}

impl std::fmt::Display for TooFast {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "too many forks: at most {} a second {} (bursts of {}); try again in {:.1} s",
            self.rate.per_second,
            self.limit,
            self.rate.burst,
            self.retry_after.as_secs_f64()
        )
    }
}

impl ForkLimit {
    /// Takes one fork from `peer`'s bucket and the token's, or says which is empty.
    pub fn take(&self, peer: IpAddr) -> Result<(), TooFast> {
        let mut guard = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let b = &mut *guard;
        let now = Instant::now();
        let ip = source(peer);
        if !b.by_address.contains_key(&ip) && b.by_address.len() >= MAX_ADDRESSES {
            // Forget the addresses whose buckets are full again: they owe nothing.
            b.by_address.retain(|_, bucket| {
                bucket.refill(PER_ADDRESS, now);
                bucket.tokens < PER_ADDRESS.burst
            });
        }
        b.token.refill(PER_TOKEN, now);
        let tracked = b.by_address.len() < MAX_ADDRESSES || b.by_address.contains_key(&ip);
        let mut address = tracked.then(|| *b.by_address.entry(ip).or_insert_with(|| Bucket::full(PER_ADDRESS, now)));
        if let Some(bucket) = address.as_mut() {
            bucket.refill(PER_ADDRESS, now);
            if bucket.tokens < 1.0 {
                return Err(TooFast { limit: "per address", rate: PER_ADDRESS, retry_after: bucket.wait(PER_ADDRESS) });
            }
        }
        if b.token.tokens < 1.0 {
            return Err(TooFast { limit: "per token", rate: PER_TOKEN, retry_after: b.token.wait(PER_TOKEN) });
        }
        b.token.tokens -= 1.0;
        if let Some(mut bucket) = address {
            bucket.tokens -= 1.0;
            b.by_address.insert(ip, bucket);
        }
        Ok(())
    }

    /// Hands back a fork taken for `peer` that made no branch.
    pub fn refund(&self, peer: IpAddr) {
        let mut guard = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let b = &mut *guard;
        b.token.tokens = (b.token.tokens + 1.0).min(PER_TOKEN.burst);
        if let Some(bucket) = b.by_address.get_mut(&source(peer)) {
            bucket.tokens = (bucket.tokens + 1.0).min(PER_ADDRESS.burst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate_per_address_and_per_token() {
        let limit = ForkLimit::default();
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..PER_ADDRESS.burst as usize {
            limit.take(a).unwrap();
        }
        let refused = limit.take(a).unwrap_err();
        assert_eq!(refused.limit, "per address");
        assert!(refused.retry_after <= Duration::from_secs_f64(1.0 / PER_ADDRESS.per_second));
        assert!(refused.to_string().starts_with("too many forks: at most 2 a second per address"), "{refused}");
        // A refunded fork (one the engine refused) is taken again.
        limit.refund(a);
        limit.take(a).unwrap();
        // Another address has its own bucket, until the token's is empty.
        let (b, c): (IpAddr, IpAddr) = ("127.0.0.2".parse().unwrap(), "::1".parse().unwrap());
        let rest = (PER_TOKEN.burst - PER_ADDRESS.burst) as usize;
        for _ in 0..rest / 2 {
            limit.take(b).unwrap();
        }
        for _ in 0..rest - rest / 2 {
            limit.take(c).unwrap();
        }
        assert_eq!(limit.take(c).unwrap_err().limit, "per token");
    }
}
