//! Random numbers: one seeded stream per purpose, tick and chunk, never a global RNG.
//!
//! Each stream is ChaCha8 keyed by the run's seed, with the stream number built from
//! (purpose, tick, chunk). A phase that walks agents in fixed-size chunks draws each
//! chunk's numbers from its own stream, so the numbers an agent sees depend only on the
//! seed, the tick and its index: never on how many threads run the phase or in which
//! order chunks finish. The uniform and bounded draws are written out here (rather than
//! taken from a distribution crate) so their bit patterns are pinned forever.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};

/// What a stream is used for; part of the stream number so purposes never share draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Purpose {
    /// Initial state of agents.
    Genesis = 1,
    /// Firms' price, wage and production decisions.
    Firms = 2,
    /// Revival of dead firms.
    Revival = 3,
    /// The Boltzmann exchange.
    Exchange = 4,
    /// The coin that breaks a firm's exact-zero profit (`firms.exact_profit_ties` off).
    /// A purpose of its own so a run without ties draws exactly the numbers it drew
    /// before the rule existed.
    ProfitTie = 5,
}

/// Agents per chunk in chunked phases. Fixed, so results do not depend on threads.
pub const CHUNK: usize = 4096;

/// The source of every stream of one run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Streams {
    key: [u8; 32],
}

impl Streams {
    /// Streams for `seed`.
    pub fn new(seed: u64) -> Self {
        let mut key = [0u8; 32];
        let mut state = seed;
        for word in key.chunks_exact_mut(8) {
            word.copy_from_slice(&splitmix64(&mut state).to_le_bytes());
        }
        Self { key }
    }

    /// The stream for `purpose` at `tick`, for agents of chunk `chunk`.
    pub fn stream(&self, purpose: Purpose, tick: u64, chunk: usize) -> Stream {
        debug_assert!(tick < 1 << 36 && chunk < 1 << 20);
        let mut rng = ChaCha8Rng::from_seed(self.key);
        rng.set_stream(((purpose as u64) << 56) | ((tick & ((1 << 36) - 1)) << 20) | chunk as u64);
        Stream(rng)
    }
}

/// One deterministic stream of random numbers.
#[derive(Debug, Clone)]
pub struct Stream(ChaCha8Rng);

/// A stream's position, as a checkpoint keeps it: its key, its number and how many
/// words it has given, which fixes every number it gives next.
#[derive(Serialize, Deserialize)]
struct Position {
    key: [u8; 32],
    stream: u64,
    word: u128,
}

impl Serialize for Stream {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Position { key: self.0.get_seed(), stream: self.0.get_stream(), word: self.0.get_word_pos() }
            .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Stream {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let at = Position::deserialize(deserializer)?;
        let mut rng = ChaCha8Rng::from_seed(at.key);
        rng.set_stream(at.stream);
        rng.set_word_pos(at.word);
        Ok(Self(rng))
    }
}

impl Stream {
    /// Uniform in `[0, 1)` with 53 random bits.
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `0..n` without bias (Lemire's multiply-and-reject), `n > 0`.
    #[inline]
    pub fn below(&mut self, n: u32) -> u32 {
        debug_assert!(n > 0);
        let n = u64::from(n);
        let mut m = u64::from(self.0.next_u32()) * n;
        if (m as u32 as u64) < n {
            let threshold = (u64::from(u32::MAX) + 1 - n) % n;
            while (m as u32 as u64) < threshold {
                m = u64::from(self.0.next_u32()) * n;
            }
        }
        (m >> 32) as u32
    }

    /// Shuffles `items` uniformly (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u32 + 1) as usize;
            items.swap(i, j);
        }
    }
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let s = Streams::new(42);
        let a: Vec<f64> = (0..4).map(|_| 0.0).scan(s.stream(Purpose::Firms, 7, 0), |r, _| Some(r.uniform())).collect();
        let b: Vec<f64> = (0..4).map(|_| 0.0).scan(s.stream(Purpose::Firms, 7, 0), |r, _| Some(r.uniform())).collect();
        assert_eq!(a, b);
        let mut other = s.stream(Purpose::Firms, 7, 1);
        assert_ne!(a[0], other.uniform());
        let mut other_seed = Streams::new(43).stream(Purpose::Firms, 7, 0);
        assert_ne!(a[0], other_seed.uniform());
    }

    #[test]
    fn a_saved_stream_continues_where_it_stopped() {
        let mut r = Streams::new(9).stream(Purpose::Exchange, 3, 1);
        for _ in 0..5 {
            r.uniform();
        }
        r.below(7); // a 32-bit draw leaves the stream mid-word
        let mut copy: Stream = postcard::from_bytes(&postcard::to_allocvec(&r).unwrap()).unwrap();
        let a: Vec<u32> = (0..9).map(|_| r.below(1000)).collect();
        let b: Vec<u32> = (0..9).map(|_| copy.below(1000)).collect();
        assert_eq!(a, b);
    }

    #[test]
    fn below_is_in_range_and_roughly_uniform() {
        let mut r = Streams::new(1).stream(Purpose::Exchange, 0, 0);
        let mut counts = [0u32; 7];
        for _ in 0..70_000 {
            counts[r.below(7) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| (9_000..11_000).contains(&c)), "{counts:?}");
    }
}
