//! Phase 2 (firms) and the revival step of phase 7.
//!
//! The decision rules are the authors' C++ `UPDATE` block line for line (docs/MODEL.md
//! §2): a firm whose debt exceeds Θ times its wage bill defaults and its debt is written
//! off by the bank; every other firm moves production towards demand, its price towards
//! the average and its wage with its profits and the labour market, then indexes both
//! to expected inflation. Each firm's two uniform draws come from its chunk's stream.
//!
//! One rule is Watchtower's own: what a profit of exactly zero means
//! (`firms.exact_profit_ties`, docs/MODEL.md §2 and §6). A firm at its wage cap earns
//! exactly its wage bill, so its next profit is zero in real numbers. The authors'
//! `double`s leave a residue of a few ulps whose sign falls either way about half the
//! time, so half such firms raise their wage next tick and half cut it; integer cents give
//! exactly zero, and none moves. By default a fair coin decides, drawn from a stream of
//! its own ([`Purpose::ProfitTie`]) so that runs without ties keep every number they had.

use std::hint::select_unpredictable;

use super::households::firm_split;
use super::logit;
use super::{Mark0, Moment, ZERO, accounts, cents};
use crate::apportion::{self, IntSplit};
use crate::model::{Context, ModelError};
use crate::rng::{CHUNK, Purpose};

/// A deciding firm's inputs found ahead of its decision: its price and wage steps
/// (γp and γw times its two uniform draws) and last tick's profit as its wage rule reads
/// it (a tie broken).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Draws {
    price_step: f64,
    wage_step: f64,
    last_profit: f64,
}

impl Mark0 {
    /// Phase 2: defaults and decisions, hiring and firing, then the bank's rates and
    /// interest.
    pub(super) fn firms_phase(&mut self, ctx: &mut Context<'_>) -> Result<(), ModelError> {
        if self.p.sim_reduction {
            self.sim_production(ctx);
        } else {
            self.decide(ctx)?;
        }
        self.labour.rebalance(&self.firms.output, &self.firms.alive, self.households_per_unit());
        self.redenominate(ctx, Moment::MidTick)?;
        self.bank(ctx)
    }

    #[inline(never)] // one call a tick; kept apart so profiles name it
    fn decide(&mut self, ctx: &mut Context<'_>) -> Result<(), ModelError> {
        let (p, m, f) = (&self.p, &self.m, &mut self.firms);
        let (n, unit) = (self.n, self.unit);
        let beta = p.beta;
        let (eta_plus, eta_minus) = (p.hiring_propensity(), p.firing_propensity);
        let (gamma_p, gamma_w) = (p.price_adjustment, p.wage_adjustment);
        let theta = p.bankruptcy_threshold;
        let wage_index = p.wage_indexation;
        let coin_ties = !p.exact_profit_ties;
        let revived = &self.revived;
        let (pavg, wavg, wmax, u, e, bust) = (m.pavg, m.wavg, m.wmax, m.u, m.e, m.bust);
        let (gamma, pi_used, rhom, rhop) = (m.gamma, m.pi_used, m.rhom, m.rhop);
        let (alive, price, output, demand) = (&mut f.alive[..n], &mut f.price[..n], &mut f.output[..n], &f.demand[..n]);
        let (wage, profit, logit) = (&mut f.wage[..n], &f.profit[..n], &mut self.logit[..n]);

        // Normaliser of the logit that steers the unemployed towards higher wages (each
        // firm's weight kept for its decision below). The arguments first (a dead firm's
        // below the floor: it has no weight), then the weights (see `logit`), then their
        // sum in firm order. A weight is never 0: −1 marks one below the floor.
        let mut wage_norm = 0.0;
        if beta > 0.0 {
            for i in 0..n {
                logit[i] = if alive[i] { beta * (wage[i] - wmax) / wavg } else { f64::NEG_INFINITY };
            }
            logit::weights(logit);
            for i in 0..n {
                // Adding +0 to a sum of positive terms changes nothing: no branch needed.
                wage_norm += if alive[i] && logit[i] >= 0.0 { logit[i] } else { 0.0 };
            }
        }

        // First, firm by firm in each chunk: who defaults (the bank writes its debt off,
        // booked after the loop: a default moves only the firm's own balance, which no
        // other firm reads), and each deciding firm's two draws from its chunk's stream
        // and the profit its wage rule reads, in firm order. The decisions then run
        // without a call.
        let balances = ctx.ledger.balances(self.layout.firm_range());
        let (defaults, cash) = (&mut self.firm_scratch, &mut self.cash[..n]);
        self.draws.resize(n, Draws::default());
        let draws = &mut self.draws[..n];
        defaults.clear();
        for chunk_start in (0..n).step_by(CHUNK) {
            let chunk = chunk_start..n.min(chunk_start + CHUNK);
            let mut rng = ctx.streams.stream(Purpose::Firms, ctx.tick, chunk_start / CHUNK);
            let mut tie_rng = None;
            for i in chunk {
                cash[i] = balances[i] as f64 / unit;
                if !alive[i] {
                    continue;
                }
                let pay_roll = output[i] * wage[i];
                if cash[i] > -theta * pay_roll {
                    let (price_step, wage_step) = (gamma_p * rng.uniform(), gamma_w * rng.uniform());
                    // Last tick's profit as the wage rule reads it. Exactly zero cents
                    // from a firm that paid wages is a tie: sales and wages cancelled,
                    // which the authors' doubles leave as a residue of either sign. A
                    // firm revived at zero profit, or paying no wages, is exactly zero
                    // in their code too, so it gets no coin. (`revived` is in firm order.)
                    let mut last_profit = profit[i];
                    if coin_ties && last_profit == 0.0 && pay_roll > 0.0 && revived.binary_search(&i).is_err() {
                        let coin = tie_rng.get_or_insert_with(|| {
                            ctx.streams.stream(Purpose::ProfitTie, ctx.tick, chunk_start / CHUNK)
                        });
                        last_profit = if coin.uniform() < 0.5 { 1.0 } else { -1.0 };
                    }
                    draws[i] = Draws { price_step, wage_step, last_profit };
                } else {
                    // Default: the bank writes the debt off; the firm shuts down.
                    let balance = balances[i];
                    if balance < 0 {
                        defaults.push((i, -balance));
                        self.flows.defaults += -balance;
                    }
                    self.flows.bankruptcies += 1;
                    output[i] = 0.0;
                    alive[i] = false;
                }
            }
        }

        // The decisions of every living firm. Each rule's both sides are computed and
        // one is kept by a selection the compiler is told not to turn into a branch
        // (whether a firm under- or over-produces, sits above or below the average
        // price, or made a profit are coin flips the processor would mispredict); each
        // kept value is the one the rule's branch computes, with the same operations in
        // the same order. A dead firm's values are computed too, and not kept.
        let share = u * n as f64 * (1.0 - bust);
        let (price_factor, wage_factor) = ((1.0 + pi_used).max(ZERO), (1.0 + wage_index * pi_used).max(0.0));
        let raise_wages = gamma_w > ZERO;
        for i in 0..n {
            let Draws { price_step, wage_step, last_profit } = draws[i];
            let (a, y, p, w, d) = (cash[i], output[i], price[i], wage[i], demand[i]);
            let pay_roll = y * w;
            let ren = if pay_roll > 0.0 { gamma * a / pay_roll } else { 0.0 };
            let dy = d - y;
            let u_share = if beta > 0.0 { if logit[i] >= 0.0 { share * logit[i] / wage_norm } else { 0.0 } } else { u };
            // Under-production: hire, raise a below-average price, and share profits
            // through the wage (capped by what the firm earns). Over-production: fire,
            // cut an above-average price, and cut wages when losing money.
            let under = dy > 0.0;
            let hired = y + ((eta_plus * (1.0 + ren)).clamp(0.0, 1.0) * dy).min(u_share);
            let fired = y + (eta_minus * (1.0 - ren)).clamp(0.0, 1.0) * dy;
            let y = select_unpredictable(under, hired, fired);
            let moves = select_unpredictable(under, p < pavg, p > pavg);
            let step = select_unpredictable(under, 1.0 + price_step, 1.0 - price_step);
            let p = select_unpredictable(moves, p * step, p);
            let raised = w * (1.0 + (1.0 + ren) * wage_step * e);
            let earned = p * d.min(y) + rhom * a.min(0.0) + rhop * a.max(0.0);
            let raised = select_unpredictable(y > 0.0, raised.min(earned / y), raised).max(0.0);
            let cut = (w * (1.0 - (1.0 - ren) * wage_step * u)).max(0.0);
            let w = select_unpredictable(
                under,
                select_unpredictable(last_profit > 0.0 && raise_wages, raised, w),
                select_unpredictable(last_profit < 0.0, cut, w),
            );
            // Indexation to expected inflation. Expected deflation beyond −100% a tick
            // (reachable only by extreme settings) would turn prices and wages negative,
            // which no transfer can book: they fall to nearly nothing instead (the same in
            // every sane run, where the factors are near 1).
            if alive[i] {
                price[i] = p * price_factor;
                wage[i] = w * wage_factor;
                output[i] = y.max(0.0);
            }
        }
        // The averages over the living firms, added in firm order.
        let (mut wtot, mut ptot, mut ytot, mut pmin) = (0.0, 0.0, 0.0, f64::INFINITY);
        for i in 0..n {
            if alive[i] {
                wtot += wage[i] * output[i];
                ptot += price[i] * output[i];
                ytot += output[i];
                pmin = pmin.min(price[i]);
            }
        }
        if !defaults.is_empty() {
            ctx.ledger.fan(accounts::BANK, self.layout.firm_range(), usize::MAX, |fans| {
                defaults.iter().try_for_each(|&(i, written_off)| fans[0].pay(i, written_off))
            })?;
        }
        let m = &mut self.m;
        if ytot > 0.0 {
            m.pavg = ptot / ytot;
            m.wavg = wtot / ytot;
        }
        m.pmin = if pmin.is_finite() { pmin } else { m.pavg };
        m.e = ytot / n as f64;
        m.u = 1.0 - m.e;
        Ok(())
    }

    /// SIM's firm sector: price = wage = 1 and production equal to this tick's demand,
    /// found by solving the consumption function for Y (the Keynesian multiplier):
    /// Y = C + G, C = α₁·YD + α₂·H₋₁, YD = (1 − θ)·Y + b·(N − Y).
    fn sim_production(&mut self, ctx: &Context<'_>) {
        let n = self.n as f64;
        let wealth: i128 = ctx.ledger.balances(self.layout.household_range()).iter().map(|&b| i128::from(b)).sum();
        let wealth = wealth as f64 / self.unit;
        let (c1, c2) = (self.m.c_income, self.m.c_wealth);
        let (theta, b) = (self.p.income_tax, self.p.benefit_ratio);
        let g = self.p.spending * n;
        let y = ((g + c2 * wealth + c1 * b * n) / (1.0 - c1 * (1.0 - theta) + c1 * b)).clamp(0.0, n);
        let f = &mut self.firms;
        f.price.fill(1.0);
        f.wage.fill(1.0);
        f.alive.fill(true);
        f.output.fill(y / n);
        let m = &mut self.m;
        (m.pavg, m.wavg, m.wmax, m.pmin) = (1.0, 1.0, 1.0, 1.0);
        m.e = y / n;
        m.u = 1.0 - m.e;
    }

    /// Phase 7, first step: each dead firm comes back with probability φ, at the average
    /// price and wage, producing u·ξ, with one wage bill of cash that the firms holding
    /// cash pay pro rata (the revived firm included, as in the authors' code).
    #[inline(never)] // one call a tick; kept apart so profiles name it
    pub(super) fn revive(&mut self, ctx: &mut Context<'_>) -> Result<(), ModelError> {
        let phi = self.p.revival_probability;
        let (f, m) = (&mut self.firms, &self.m);
        let mut rng = ctx.streams.stream(Purpose::Revival, ctx.tick, 0);
        self.revived.clear();
        for i in 0..self.n {
            if !f.alive[i] && rng.uniform() < phi {
                f.output[i] = m.u.max(0.0) * rng.uniform();
                f.alive[i] = true;
                f.price[i] = m.pavg;
                f.wage[i] = m.wavg;
                f.profit[i] = 0.0;
                self.revived.push(i);
            }
        }
        if self.revived.is_empty() {
            return Ok(());
        }
        let layout = self.layout;
        let start_up = |i: usize| f.wage[i] * f.output[i];
        let total = cents("revived firms' cash", self.revived.iter().map(|&i| start_up(i)).sum::<f64>() * self.unit)?;
        let newcomers = self.revived.iter().map(|&i| (i, start_up(i)));
        firm_split(ctx, accounts::REVIVAL, layout.firm_range(), total, newcomers, |fan, i, cash| fan.pay(i, cash))?;
        let balances = ctx.ledger.balances(layout.firm_range());
        let cash = &mut self.firm_scratch;
        cash.clear();
        cash.extend((0..self.n).filter(|&i| f.alive[i]).map(|i| (i, balances[i].max(0))));
        let unpaid = ctx.ledger.fan(accounts::REVIVAL, layout.firm_range(), usize::MAX, |fans| {
            let fan = &mut fans[0];
            let sum: i128 = cash.iter().map(|&(_, c)| i128::from(c)).sum();
            match IntSplit::new(total, sum) {
                Some(split) => {
                    let (mut cumulative, mut given) = (0, 0);
                    for &(i, c) in cash.iter() {
                        cumulative += c;
                        let target = split.target(cumulative);
                        fan.pay(i, given - target)?;
                        given = target;
                    }
                    Ok(0)
                }
                None => apportion::by_i64(total, cash.iter().copied(), |i, share| fan.pay(i, -share)),
            }
        })?;
        debug_assert_eq!(unpaid, 0, "the newcomers themselves hold cash");
        Ok(())
    }
}
