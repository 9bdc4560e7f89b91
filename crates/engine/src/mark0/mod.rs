//! Mark-0 with a government: the papers' firm dynamics over individual households.
//!
//! The firm sector follows Gualdi, Tarzia, Zamponi & Bouchaud (2015, 2017) rule for rule,
//! in the order of the authors' C++ code (docs/MODEL.md). Under it sits an accounting
//! layer the papers keep aggregate: individual households with deposits and employers,
//! a government after Godley & Lavoie's SIM, and a zero-equity bank, all settled in
//! integer cents through the [`Ledger`]. Every flow is computed once at the aggregate
//! level in model units, rounded once, and apportioned over payers and recipients, so
//! household sums equal the model's aggregates to the cent.
//!
//! Model units: a firm's production Yᵢ is a share of the labour force (ΣY = N at full
//! employment), prices and wages are ≈ 1, and one unit of money is [`Mark0::unit`] cents,
//! chosen so an average household earns about 1,000.00 a tick.

// Agent state is a struct of arrays: loops index several arrays by the agent's index.
#![allow(clippy::needless_range_loop)]

mod bank;
mod chunks;
mod firms;
mod households;
mod labour;
mod logit;
mod params;
mod telemetry;

use serde::{Deserialize, Serialize};
use watchtower_protocol::Telemetry;

use crate::apportion::{self, divide_rounding, round_cents};
use crate::ledger::{AccountId, Ledger};
use crate::model::{CaptureContext, Context, Model, ModelError};
use crate::phase::Phase;
use crate::registry::{ModelKind, Registry};
use crate::rng::{Purpose, Streams};
use crate::stats::Summarizer;
use watchtower_protocol::FeatureTable;

use labour::Labour;
use params::Params;

/// Fixed accounts of the economy, before the firms' and households'.
pub(crate) mod accounts {
    use crate::ledger::AccountId;

    /// Created the genesis money; its balance is minus that money.
    pub const ISSUER: AccountId = AccountId(0);
    /// The government; negative when it has issued money to cover deficits.
    pub const GOVERNMENT: AccountId = AccountId(1);
    /// The bank; zero equity, so it ends every tick at zero.
    pub const BANK: AccountId = AccountId(2);
    /// Clearing: wage bills in, wages out.
    pub const PAYROLL: AccountId = AccountId(3);
    /// Clearing: purchases in, sales out.
    pub const MARKET: AccountId = AccountId(4);
    /// Clearing: dividends in, dividends out.
    pub const DIVIDENDS: AccountId = AccountId(5);
    /// Clearing: revived firms' start-up cash.
    pub const REVIVAL: AccountId = AccountId(6);
    /// Rounding residue of redenominations.
    pub const RESIDUE: AccountId = AccountId(7);
    /// Number of fixed accounts.
    pub const FIXED: u32 = 8;
    /// The clearing accounts, which must be empty after every phase.
    pub const CLEARING: [(AccountId, &str); 4] =
        [(PAYROLL, "payroll"), (MARKET, "market"), (DIVIDENDS, "dividends"), (REVIVAL, "revival")];
}

/// Where each agent's account sits in the ledger: the fixed accounts, then the firms,
/// then the households.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Layout {
    firms: u32,
    households: u32,
}

impl Layout {
    #[inline]
    fn firm(self, i: usize) -> AccountId {
        AccountId(accounts::FIXED + i as u32)
    }

    #[inline]
    fn household(self, k: usize) -> AccountId {
        AccountId(accounts::FIXED + self.firms + k as u32)
    }

    fn firm_range(self) -> std::ops::Range<u32> {
        accounts::FIXED..accounts::FIXED + self.firms
    }

    fn household_range(self) -> std::ops::Range<u32> {
        let start = accounts::FIXED + self.firms;
        start..start + self.households
    }

    /// The firm (`Ok`) or household (`Err`) index behind an agent's account.
    fn agent(self, account: AccountId) -> Result<usize, usize> {
        let index = (account.0 - accounts::FIXED) as usize;
        if index < self.firms as usize { Ok(index) } else { Err(index - self.firms as usize) }
    }
}

/// Below this, a number is zero (the authors' `ZERO`).
const ZERO: f64 = 1e-10;

/// Redenominate when the price level leaves [1/10, 10].
const REDENOMINATION_BASE: f64 = 10.0;

/// Redenominate mid-tick when hyperinflation takes the price level past this.
const MID_TICK_CEILING: f64 = 1e6;

/// The most powers of ten one redenomination removes (10¹⁸ is the largest `i64` power).
const MAX_REDENOMINATION: i32 = 18;

/// Also redenominate when the money held nears the edge of `i64` (hyperinflation can
/// grow money faster than prices, and a tick's aggregate flows, such as sales, are
/// bounded by what is held, not by the largest balance), and never scale up past a tenth
/// of this.
const LARGEST_BALANCE: i64 = 100_000_000_000_000_000;

/// Firm state, one entry per firm (struct of arrays).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Firms {
    price: Vec<f64>,
    output: Vec<f64>,
    demand: Vec<f64>,
    wage: Vec<f64>,
    /// Last tick's profit, model units (drives wage decisions).
    profit: Vec<f64>,
    alive: Vec<bool>,
    /// This tick's profit so far, cents: interest, minus wages, plus sales.
    flow: Vec<i64>,
}

/// Household flows of the current tick, one entry per household.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Households {
    /// Gross income this tick: wages, benefits, interest, dividends.
    income: Vec<i64>,
    /// Income not yet taxed: wages and interest this tick, dividends since the last tax phase.
    taxable: Vec<i64>,
    /// Disposable income this tick: wages + benefits − income tax.
    disposable: Vec<i64>,
    /// This tick's consumption budget, cents (scratch).
    budget: Vec<f64>,
}

/// The aggregate state the firm rules read, in the authors' names.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Macro {
    pavg: f64,
    wavg: f64,
    wmax: f64,
    pold: f64,
    pmin: f64,
    /// Employment ε and unemployment u = 1 − ε of the model (ΣY/N).
    e: f64,
    u: f64,
    bust: f64,
    inflation: f64,
    pi_avg: f64,
    rp_avg: f64,
    rm_avg: f64,
    u_avg: f64,
    pi_used: f64,
    gamma: f64,
    /// Policy rate ρ₀, loan rate ρℓ, deposit rate ρd.
    rho: f64,
    rhom: f64,
    rhop: f64,
    /// Propensities to consume this tick.
    c_income: f64,
    c_wealth: f64,
    /// Net redenominations: one current cent is worth 10^k genesis cents.
    redenominations: i64,
}

/// This tick's flows, cents, for telemetry.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Flows {
    defaults: i64,
    bankruptcies: i64,
    wage_bill: i64,
    income_tax: i64,
    corporate_tax: i64,
    welfare: i64,
    consumption: i64,
    government_spending: i64,
    sales: i64,
    dividends: i64,
    /// Government purchases to place this tick, model units.
    government_budget: f64,
}

/// Mark-0 with a government.
///
/// Clone is a fork: the copy continues exactly as the original would. Serialised for a
/// checkpoint, everything but the parameters (re-read from the registry on restore) and
/// the scratch buffers (empty between ticks in all that matters) is kept.
#[derive(Clone, Serialize, Deserialize)]
pub struct Mark0 {
    n: usize,
    h: usize,
    layout: Layout,
    /// Cents per model unit of money.
    unit: f64,
    #[serde(skip)]
    p: Params,
    firms: Firms,
    households: Households,
    labour: Labour,
    m: Macro,
    flows: Flows,
    /// One per distribution, so that they can be summarised at once.
    #[serde(skip)]
    summarizers: [Summarizer; 4],
    /// Firms revived by the latest settlement. State, not scratch: the next tick's
    /// decisions read it (a revived firm's zero profit is no tie, see firms.rs), so a
    /// checkpoint keeps it.
    revived: Vec<usize>,
    /// Scratch: (firm, cents) pairs snapshotted before money moves.
    #[serde(skip)]
    firm_scratch: Vec<(usize, i64)>,
    /// Scratch, one per firm: a logit weight (e^{β·…}), computed once a phase.
    #[serde(skip)]
    logit: Vec<f64>,
    /// Scratch, one per firm: the weights of a split over the firms (wage bills,
    /// profits, sales), model units.
    #[serde(skip)]
    per_firm: Vec<f64>,
    /// Scratch, one per firm: cash in model units.
    #[serde(skip)]
    cash: Vec<f64>,
    /// Scratch, one per firm: a deciding firm's draws, found ahead of the decisions.
    #[serde(skip)]
    draws: Vec<firms::Draws>,
    /// Redenominations made at the end of this tick, after its flows were booked (0 if
    /// none): telemetry reports those flows in the closing unit, like the balances. Read
    /// only by the capture that follows in the same tick, so a checkpoint need not keep it.
    #[serde(skip)]
    closing_step: i64,
}

impl Mark0 {
    /// Genesis: `n` firms and `h` households in the authors' initial state, money issued
    /// to them so the total is N model units (none in SIM mode, where H₀ = 0).
    pub fn genesis(n: usize, h: usize, registry: &Registry, streams: &Streams) -> Result<(Self, Ledger), ModelError> {
        let p = Params::from_registry(registry);
        let mut ledger = Ledger::new(accounts::FIXED as usize + n + h);
        let mut model = Self {
            n,
            h,
            layout: Layout { firms: n as u32, households: h as u32 },
            unit: 100_000.0 * h as f64 / n as f64,
            p,
            firms: Firms {
                price: vec![1.0; n],
                output: vec![0.0; n],
                demand: vec![0.0; n],
                wage: vec![1.0; n],
                profit: vec![0.0; n],
                alive: vec![true; n],
                flow: vec![0; n],
            },
            households: Households {
                income: vec![0; h],
                taxable: vec![0; h],
                disposable: vec![0; h],
                budget: vec![0.0; h],
            },
            labour: Labour::new(n, h),
            m: Macro::default(),
            flows: Flows::default(),
            summarizers: Default::default(),
            revived: Vec::new(),
            firm_scratch: Vec::with_capacity(n),
            logit: vec![0.0; n],
            per_firm: vec![0.0; n],
            cash: vec![0.0; n],
            draws: Vec::new(),
            closing_step: 0,
        };
        model.seed_state(&mut ledger, streams)?;
        Ok((model, ledger))
    }

    /// A model saved by [`Model::save`], with its parameters read from `registry`.
    pub fn load(bytes: &[u8], registry: &Registry) -> Result<Self, postcard::Error> {
        let mut model: Self = postcard::from_bytes(bytes)?;
        model.p = Params::from_registry(registry);
        model.labour.restored(model.n);
        model.logit = vec![0.0; model.n];
        model.per_firm = vec![0.0; model.n];
        model.cash = vec![0.0; model.n];
        Ok(model)
    }

    fn seed_state(&mut self, ledger: &mut Ledger, streams: &Streams) -> Result<(), ModelError> {
        let (n, layout) = (self.n, self.layout);
        let f = &mut self.firms;
        let y0 = self.p.initial_production;
        let mut cash = vec![0.0; n];
        if self.p.sim_reduction {
            // SIM: nothing produced and no money before the first tick (H₀ = 0).
            f.output.fill(0.0);
        } else {
            let mut rng = streams.stream(Purpose::Genesis, 0, 0);
            for i in 0..n {
                f.price[i] = 1.0 + 0.01 * (2.0 * rng.uniform() - 1.0);
                f.output[i] = y0 + 0.01 * (2.0 * rng.uniform() - 1.0);
                f.demand[i] = y0;
                f.profit[i] = f.price[i] * f.demand[i].min(f.output[i]) - f.wage[i] * f.output[i];
                cash[i] = 2.0 * f.output[i] * f.wage[i] * rng.uniform();
            }
            // The authors fix the money to N units: households hold S = ε·N before the
            // split, firms their random cash, then both are scaled to sum to N.
            let atot: f64 = cash.iter().sum();
            let ytot: f64 = f.output.iter().sum();
            let savings = ytot;
            let scale = n as f64 / (atot + savings);
            let total = cents("genesis money", n as f64 * self.unit)?;
            let household_money = cents("households' genesis money", savings * scale * self.unit)?;
            apportion::by_f64(total - household_money, cash.iter().copied().enumerate(), |i, c| {
                ledger.issue(accounts::ISSUER, layout.firm(i), c)
            })?;
            apportion::equally(household_money, 0..self.h, |k, c| {
                ledger.issue(accounts::ISSUER, layout.household(k), c)
            })?;
        }
        self.m.pavg = weighted_mean(&f.price, &f.output).unwrap_or(1.0);
        self.m.wavg = weighted_mean(&f.wage, &f.output).unwrap_or(1.0);
        self.m.wmax = 1.0;
        self.m.pold = self.m.pavg;
        self.m.e = (f.output.iter().sum::<f64>() / n as f64).clamp(0.0, 1.0);
        self.m.u = 1.0 - self.m.e;
        self.m.rho = self.p.policy_rate;
        self.m.rhom = self.p.policy_rate;
        self.m.rm_avg = self.p.policy_rate;
        self.labour.rebalance(&self.firms.output, &self.firms.alive, self.h as f64 / n as f64);
        Ok(())
    }

    /// Cents per model unit of money.
    pub fn unit(&self) -> f64 {
        self.unit
    }

    /// Households per unit of firm production (H/N).
    fn households_per_unit(&self) -> f64 {
        self.h as f64 / self.n as f64
    }

    /// Phase 1: moving averages, expected inflation, financial fragility.
    #[inline(never)] // one call a tick; kept apart so profiles name it
    fn expect(&mut self, ctx: &Context<'_>) {
        let (m, p) = (&mut self.m, &self.p);
        let w = p.memory;
        m.pi_avg = w * m.inflation + (1.0 - w) * m.pi_avg;
        m.rp_avg = w * m.rhop + (1.0 - w) * m.rp_avg;
        m.rm_avg = w * m.rhom + (1.0 - w) * m.rm_avg;
        m.u_avg = w * m.u + (1.0 - w) * m.u_avg;
        m.pi_used = p.effective_tau_target() * p.effective_pi_target() + p.tau_measured * m.pi_avg;
        m.gamma = (p.fragility_sensitivity * (m.rm_avg - m.pi_used)).max(p.fragility_floor);
        // c = [[c₀·(1 + αc·(π̂ − ρ̃d))]], applied to both propensities.
        let adjust = 1.0 + p.real_rate_sensitivity * (m.pi_used - m.rp_avg);
        m.c_income = (p.propensity_income * adjust).clamp(0.0, 1.0);
        m.c_wealth = (p.propensity_wealth * adjust).clamp(0.0, 1.0);
        self.flows = Flows::default();
        // Light work (memory cleared): on this thread, where handing it out costs more.
        let _ = ctx;
        self.households.income.fill(0);
        self.households.disposable.fill(0);
        self.firms.flow.fill(0);
    }

    /// Phase 7: revival, final averages, inflation, policy rate, redenomination.
    #[inline(never)] // one call a tick; kept apart so profiles name it
    fn settle(&mut self, ctx: &mut Context<'_>) -> Result<(), ModelError> {
        self.revive(ctx)?;
        // Revived firms hire. Without one, every firm's output is what phase 2's
        // rebalance matched head-counts to, so another would change nothing; with some,
        // theirs are the only outputs that moved since (no phase between touches one).
        if !self.revived.is_empty() {
            let per_unit = self.households_per_unit();
            self.labour.rebalance_changed(&self.firms.output, &self.firms.alive, per_unit, &self.revived);
        }
        let f = &self.firms;
        let (mut ytot, mut wtot, mut ptot, mut wmax, mut dead) = (0.0, 0.0, 0.0, 0.0_f64, 0usize);
        for i in 0..self.n {
            if f.alive[i] {
                ytot += f.output[i];
                wtot += f.output[i] * f.wage[i];
                ptot += f.output[i] * f.price[i];
                wmax = wmax.max(f.wage[i]);
            } else {
                dead += 1;
            }
        }
        let m = &mut self.m;
        if ytot > 0.0 {
            m.pavg = ptot / ytot;
            m.wavg = wtot / ytot;
        }
        m.wmax = wmax;
        m.bust = dead as f64 / self.n as f64;
        m.inflation = if m.pold > 0.0 { (m.pavg - m.pold) / m.pold } else { 0.0 };
        m.pold = m.pavg;
        m.e = (ytot / self.n as f64).clamp(0.0, 1.0);
        m.u = 1.0 - m.e;
        // The central bank (2017): ρ₀ = ρ* + φπ·(π̃ − π*).
        m.rho = self.p.policy_rate + self.p.inflation_response * (m.pi_avg - self.p.effective_pi_target());
        self.redenominate(ctx, Moment::EndOfTick)?;
        for (account, name) in accounts::CLEARING {
            let balance = ctx.ledger.balance(account);
            if balance != 0 {
                return Err(ModelError::Clearing { account: name, balance });
            }
        }
        Ok(())
    }

    /// Changes the unit of account by a power of ten when the price level leaves
    /// [0.1, 10] (the integer-money equivalent of the authors' dividing every nominal stock
    /// by p̄ each tick), or when the money held approaches the `i64` range, so that
    /// hyperinflation under any valid setting cannot overflow the books.
    ///
    /// At the end of a tick ([`Moment::EndOfTick`]) both directions apply. In
    /// hyperinflation prices can also rise by orders of magnitude inside one tick (firms
    /// index them to an expected inflation of, say, 10⁵ per tick), and the tick's flows
    /// priced at that level would leave the range of integer cents: so after the firms'
    /// decisions ([`Moment::MidTick`]) the unit is also changed once the price level
    /// passes [`MID_TICK_CEILING`], far above anything a sane economy reaches.
    #[inline(never)] // one call a tick; kept apart so profiles name it
    fn redenominate(&mut self, ctx: &mut Context<'_>, moment: Moment) -> Result<(), ModelError> {
        if moment == Moment::EndOfTick {
            self.closing_step = 0;
        }
        let ceiling = match moment {
            Moment::EndOfTick => REDENOMINATION_BASE,
            Moment::MidTick => MID_TICK_CEILING,
        };
        let held = ctx.ledger.money_held_on(ctx.workers);
        let mut down = 0_i32;
        if self.m.pavg >= ceiling {
            // A price level past 10¹⁸ (or not a number) cannot be brought back in one step
            // of an `i64` divisor: the economy has left what the books can represent.
            let steps = self.m.pavg.log10().floor();
            if steps.is_nan() || steps > f64::from(MAX_REDENOMINATION) {
                return Err(ModelError::Unrepresentable { what: "price level", value: self.m.pavg });
            }
            down = steps as i32;
        }
        while down < MAX_REDENOMINATION && held / 10_i128.pow(down as u32) >= i128::from(LARGEST_BALANCE) {
            down += 1;
        }
        let (factor, step) = if down > 0 {
            ctx.ledger.redenominate(10_i64.pow(down as u32), accounts::RESIDUE);
            (10f64.powi(-down), i64::from(down))
        } else if moment == Moment::EndOfTick
            && self.m.pavg > 0.0
            && self.m.pavg < 1.0 / REDENOMINATION_BASE
            && held < i128::from(LARGEST_BALANCE / 10)
        {
            ctx.ledger.rescale_up(REDENOMINATION_BASE as i64)?;
            (REDENOMINATION_BASE, -1)
        } else {
            return Ok(());
        };
        let f = &mut self.firms;
        for x in f.price.iter_mut().chain(f.wage.iter_mut()).chain(f.profit.iter_mut()) {
            *x *= factor;
        }
        let m = &mut self.m;
        for x in [&mut m.pavg, &mut m.wavg, &mut m.wmax, &mut m.pold, &mut m.pmin] {
            *x *= factor;
        }
        m.redenominations += step;
        if moment == Moment::EndOfTick {
            self.closing_step = step;
        }
        // Cents that outlive the moment must follow the unit: income not yet taxed
        // always (it is taxed next tick), and mid-tick every flow the rest of the tick adds to.
        let rescale = |x: &mut i64| {
            *x = if step > 0 { divide_rounding(*x, 10_i64.pow(step as u32)) } else { x.saturating_mul(10) }
        };
        let hh = &mut self.households;
        hh.taxable.iter_mut().for_each(rescale);
        if moment == Moment::MidTick {
            hh.income.iter_mut().chain(hh.disposable.iter_mut()).chain(self.firms.flow.iter_mut()).for_each(rescale);
            // This tick's defaults are divided by this tick's debt for the loan rate.
            rescale(&mut self.flows.defaults);
        }
        Ok(())
    }
}

/// When a redenomination may happen (see [`Mark0::redenominate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Moment {
    /// Phase 7, after settlement.
    EndOfTick,
    /// Phase 2, after the firms' decisions, in hyperinflation only.
    MidTick,
}

/// Converts an aggregate flow to whole cents, or names it if it cannot be booked.
fn cents(what: &'static str, value: f64) -> Result<i64, ModelError> {
    // Well inside i64, so the apportioned parts and the balances they land on fit too.
    if value.is_finite() && value.abs() < 1e18 {
        Ok(round_cents(value))
    } else {
        Err(ModelError::Unrepresentable { what, value })
    }
}

/// Σ xᵢwᵢ / Σ wᵢ, or `None` when the weights sum to zero.
fn weighted_mean(x: &[f64], w: &[f64]) -> Option<f64> {
    let total: f64 = w.iter().sum();
    (total > 0.0).then(|| x.iter().zip(w).map(|(a, b)| a * b).sum::<f64>() / total)
}

impl Model for Mark0 {
    fn kind(&self) -> ModelKind {
        ModelKind::Mark0
    }

    fn configure(&mut self, registry: &Registry) {
        self.p = Params::from_registry(registry);
    }

    fn fork(&self) -> Box<dyn Model> {
        Box::new(self.clone())
    }

    fn save(&self, out: &mut Vec<u8>) -> Result<(), postcard::Error> {
        *out = postcard::to_extend(self, std::mem::take(out))?;
        Ok(())
    }

    fn phases(&self) -> &'static [Phase] {
        &Phase::MODEL
    }

    fn run_phase(&mut self, phase: Phase, ctx: &mut Context<'_>) -> Result<(), ModelError> {
        match phase {
            Phase::Expect => {
                self.expect(ctx);
                Ok(())
            }
            Phase::Firms => self.firms_phase(ctx),
            Phase::Wages => self.pay_wages(ctx),
            Phase::Tax => self.collect_taxes(ctx),
            Phase::Welfare => self.pay_welfare(ctx),
            Phase::Market => self.market(ctx),
            Phase::Settle => self.settle(ctx),
            Phase::Intercept | Phase::Broadcast => Ok(()),
        }
    }

    fn capture(&mut self, ctx: &mut CaptureContext<'_>) -> Telemetry {
        self.capture_telemetry(ctx)
    }

    fn agent_features(&self, ledger: &Ledger, limit: usize) -> FeatureTable {
        self.features(ledger, limit)
    }
}
