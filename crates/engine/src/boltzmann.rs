//! The Boltzmann wealth model: the standard cross-framework benchmark of agent-based
//! modelling (Mesa's introductory tutorial; Drăgulescu & Yakovenko 2000).
//!
//! N agents start with m units each. Every tick, in a fresh uniformly random order,
//! every agent that holds at least one unit gives one unit to an agent drawn uniformly
//! from all agents (itself included, as in Mesa). An agent that received earlier in the
//! same tick may give later in it. Money is conserved; the wealth distribution relaxes
//! to nearly the geometric (discrete Boltzmann–Gibbs) law, whose Gini is (1 + μ)/(1 + 2μ):
//! 0.524 at mean μ = 10 (measured 0.513; a broke agent cannot give, so the rule is not
//! pure Boltzmann–Gibbs exchange, and the gap grows at small μ).
//!
//! The exchange runs in phase 6 (Market) through the same ledger as Mark-0; one unit of
//! wealth is 100 cents.

use serde::{Deserialize, Serialize};
use watchtower_protocol::{Indicators, Telemetry};

use crate::capture::Mark;
use crate::ledger::{AccountId, Ledger};
use crate::model::{CaptureContext, Context, Model, ModelError};
use crate::phase::Phase;
use crate::registry::{ModelKind, Registry};
use crate::rng::{Purpose, Stream, Streams};
use crate::stats::Summarizer;
use watchtower_protocol::FeatureTable;

/// Cents per unit of wealth.
pub const UNIT_CENTS: i64 = 100;

const ISSUER: AccountId = AccountId(0);

/// The Boltzmann wealth model. Clone is a fork; serialised, it is a checkpoint (the
/// next tick's order, already shuffled, and its stream's position included).
#[derive(Clone, Serialize, Deserialize)]
pub struct Boltzmann {
    n: usize,
    /// This tick's order and stream.
    draws: Draws,
    /// The next tick's order, shuffled while this tick's exchange runs (see `exchange`);
    /// between ticks it is only a buffer.
    #[serde(skip)]
    next: Draws,
    transfers: i64,
    #[serde(skip)]
    summarizer: Summarizer,
}

/// One tick's order, shuffled ahead. It depends on the seed, the tick and the previous
/// order only, never on wealth, so it can be made while the previous tick runs.
#[derive(Default, Clone, Serialize, Deserialize)]
struct Draws {
    /// The tick it is for (`None` until first made).
    tick: Option<u64>,
    /// Agent indices (1-based account ids) in the order they act.
    order: Vec<u32>,
    /// The tick's stream, positioned after the shuffle: the receivers come next.
    rng: Option<Stream>,
}

impl Draws {
    /// A fresh uniformly random order for `tick`: Fisher–Yates over the previous one.
    fn make(&mut self, previous: &[u32], streams: &Streams, tick: u64) {
        let mut rng = streams.stream(Purpose::Exchange, tick, 0);
        self.order.clear();
        self.order.extend_from_slice(previous);
        rng.shuffle(&mut self.order);
        self.rng = Some(rng);
        self.tick = Some(tick);
    }
}

impl Boltzmann {
    /// `agents` agents with `boltzmann.initial_wealth` units each.
    pub fn genesis(agents: usize, registry: &Registry) -> Result<(Self, Ledger), ModelError> {
        let m = registry.f64("boltzmann.initial_wealth") as i64;
        let mut ledger = Ledger::new(agents + 1);
        for i in 0..agents {
            ledger.issue(ISSUER, AccountId(1 + i as u32), m * UNIT_CENTS)?;
        }
        let identity = Draws { tick: None, order: (1..=agents as u32).collect(), rng: None };
        let model = Self {
            n: agents,
            draws: identity,
            next: Draws::default(),
            transfers: 0,
            summarizer: Summarizer::default(),
        };
        Ok((model, ledger))
    }

    /// A model saved by [`Model::save`].
    pub fn load(bytes: &[u8]) -> Result<Self, postcard::Error> {
        postcard::from_bytes(bytes)
    }

    /// One tick's exchange. Its order was shuffled during the previous tick's exchange,
    /// on another core when the workers have one: they run the exchange of tick `t`
    /// beside the shuffle of tick `t + 1`, which takes about as long. Each tick's stream
    /// gives the same numbers in the same sequence (shuffle, then one receiver per agent)
    /// whichever thread draws them and whenever, so the run is bit-identical for any
    /// number of threads, and to the plain sequential loop: one thread simply runs the two
    /// halves one after the other. (Acting inside the shuffle, as each position is fixed,
    /// is also uniform but measured 13% slower than the two passes.)
    fn exchange(&mut self, ctx: &mut Context<'_>) -> Result<(), ModelError> {
        if self.draws.tick != Some(ctx.tick) {
            // The first tick: shuffle now.
            let previous = std::mem::take(&mut self.draws.order);
            self.draws.make(&previous, ctx.streams, ctx.tick);
        }
        let (tick, n) = (ctx.tick, self.n as u32);
        let (draws, next, ledger, streams) = (&mut self.draws, &mut self.next, &mut *ctx.ledger, ctx.streams);
        let mut rng = draws.rng.take().expect("made above");
        let order = &draws.order;
        let mut transfers: Result<i64, ModelError> = Ok(0);
        let mut exchange = || {
            let mut moved = 0;
            for &giver in order {
                // The receiver is drawn for every agent, broke or not: the draw is
                // cheaper than the branch it would take to skip it (same outcome).
                let receiver = AccountId(1 + rng.below(n));
                match ledger.give_if_able(AccountId(giver), receiver, UNIT_CENTS) {
                    Ok(gave) => moved += i64::from(gave),
                    Err(e) => {
                        transfers = Err(e.into());
                        return;
                    }
                }
            }
            transfers = Ok(moved);
        };
        let mut shuffle = || next.make(order, streams, tick + 1);
        ctx.workers.run(&mut [&mut exchange, &mut shuffle]);
        self.transfers = transfers?;
        std::mem::swap(&mut self.draws, &mut self.next);
        Ok(())
    }
}

impl Model for Boltzmann {
    fn kind(&self) -> ModelKind {
        ModelKind::Boltzmann
    }

    fn configure(&mut self, _registry: &Registry) {}

    fn fork(&self) -> Box<dyn Model> {
        Box::new(self.clone())
    }

    /// The next tick's order was shuffled from the old streams: shuffle it again from
    /// the new ones, at the next tick (the order itself is kept as the shuffle's start).
    fn reseeded(&mut self) {
        self.draws.tick = None;
        self.draws.rng = None;
    }

    fn save(&self, out: &mut Vec<u8>) -> Result<(), postcard::Error> {
        *out = postcard::to_extend(self, std::mem::take(out))?;
        Ok(())
    }

    fn phases(&self) -> &'static [Phase] {
        &[Phase::Market]
    }

    fn run_phase(&mut self, phase: Phase, ctx: &mut Context<'_>) -> Result<(), ModelError> {
        debug_assert_eq!(phase, Phase::Market);
        self.exchange(ctx)
    }

    fn capture(&mut self, ctx: &mut CaptureContext<'_>) -> Telemetry {
        let (ledger, capture) = (ctx.ledger, ctx.capture);
        let wealth = ledger.balances(1..1 + self.n as u32);
        let held: i64 = wealth.iter().sum();
        (ctx.probe)(Mark::Statistics);
        let summary = (capture.wants("gini_wealth") || capture.distributions())
            .then(|| self.summarizer.summarize_slice("agent_wealth", "cents", wealth));
        let gini_wealth = summary.as_ref().map_or(0.0, |s| s.gini);
        let distributions = summary.filter(|_| capture.distributions()).map(|s| s.distribution).into_iter().collect();
        let indicators = Indicators {
            output_real: self.transfers as f64,
            gini_wealth,
            money_stock: held,
            money_households: held,
            money_issuer: ledger.balance(ISSUER),
            money_drift: ledger.drift() as i64,
            price_level: 1.0,
            ..Indicators::default()
        };
        Telemetry {
            tick: ctx.tick,
            model: "boltzmann".into(),
            registry_version: ctx.registry_version,
            indicators,
            distributions,
        }
    }

    fn agent_features(&self, ledger: &Ledger, limit: usize) -> FeatureTable {
        let mut table = FeatureTable::new(&["wealth"]);
        let take = limit.min(self.n);
        for j in 0..take {
            let i = j * self.n / take.max(1);
            let w = ledger.balance(AccountId(1 + i as u32));
            table.push(i as u64, "agent", if w > 0 { "holding" } else { "broke" }, &[w as f64]);
        }
        table
    }
}
