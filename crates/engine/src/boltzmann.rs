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

use watchtower_protocol::{Indicators, Telemetry};

use crate::ledger::{AccountId, Ledger};
use crate::model::{Context, Model, ModelError};
use crate::phase::Phase;
use crate::registry::{ModelKind, Registry};
use crate::rng::Purpose;
use crate::stats::Summarizer;
use watchtower_protocol::FeatureTable;

/// Cents per unit of wealth.
pub const UNIT_CENTS: i64 = 100;

const ISSUER: AccountId = AccountId(0);

/// The Boltzmann wealth model.
pub struct Boltzmann {
    n: usize,
    order: Vec<u32>,
    transfers: i64,
    summarizer: Summarizer,
}

impl Boltzmann {
    /// `agents` agents with `boltzmann.initial_wealth` units each.
    pub fn genesis(agents: usize, registry: &Registry) -> Result<(Self, Ledger), ModelError> {
        let m = registry.f64("boltzmann.initial_wealth") as i64;
        let mut ledger = Ledger::new(agents + 1);
        for i in 0..agents {
            ledger.issue(ISSUER, AccountId(1 + i as u32), m * UNIT_CENTS)?;
        }
        let model =
            Self { n: agents, order: (1..=agents as u32).collect(), transfers: 0, summarizer: Summarizer::default() };
        Ok((model, ledger))
    }

    fn exchange(&mut self, ctx: &mut Context<'_>) -> Result<(), ModelError> {
        let mut rng = ctx.streams.stream(Purpose::Exchange, ctx.tick, 0);
        // A fresh uniformly random order, then one pass over it. (Acting inside the
        // shuffle, as each position is fixed, is also uniform but measured 13% slower:
        // the separate passes let the processor overlap their random memory accesses.)
        rng.shuffle(&mut self.order);
        let n = self.n as u32;
        let mut transfers = 0;
        for &giver in &self.order {
            // The receiver is drawn for every agent, broke or not: the draw is cheaper
            // than the branch it would take to skip it (the rule's outcome is the same).
            let receiver = AccountId(1 + rng.below(n));
            transfers += i64::from(ctx.ledger.give_if_able(AccountId(giver), receiver, UNIT_CENTS)?);
        }
        self.transfers = transfers;
        Ok(())
    }
}

impl Model for Boltzmann {
    fn kind(&self) -> ModelKind {
        ModelKind::Boltzmann
    }

    fn configure(&mut self, _registry: &Registry) {}

    fn phases(&self) -> &'static [Phase] {
        &[Phase::Market]
    }

    fn run_phase(&mut self, phase: Phase, ctx: &mut Context<'_>) -> Result<(), ModelError> {
        debug_assert_eq!(phase, Phase::Market);
        self.exchange(ctx)
    }

    fn capture(&mut self, ledger: &Ledger, tick: u64, registry_version: u64) -> Telemetry {
        let wealth = ledger.balances(1..1 + self.n as u32);
        let summary = self.summarizer.summarize_slice("agent_wealth", "cents", wealth);
        let held: i64 = wealth.iter().sum();
        let indicators = Indicators {
            output_real: self.transfers as f64,
            gini_wealth: summary.gini,
            money_stock: held,
            money_households: held,
            money_issuer: ledger.balance(ISSUER),
            money_drift: ledger.drift() as i64,
            price_level: 1.0,
            ..Indicators::default()
        };
        Telemetry {
            tick,
            model: "boltzmann".into(),
            registry_version,
            indicators,
            distributions: vec![summary.distribution],
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
