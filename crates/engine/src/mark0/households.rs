//! Phases 3–6: wages, taxes, welfare, and the goods market with dividends.
//!
//! Each flow is computed once in model units, rounded once to cents and apportioned, so
//! the households' sums equal the model's aggregates exactly:
//!
//! - wages: every firm pays its wage bill Wᵢ·Yᵢ into the payroll, which pays each
//!   employed household its employer's wage rate (scaled so the payroll empties);
//! - income tax θ on wages, interest and dividends; corporate tax τc on last tick's
//!   positive profits;
//! - benefits b·w̄ per unemployed household (w̄ per household-equivalent), and the
//!   government's purchases g·N·p̄ placed as demand next to the households';
//! - consumption: household k budgets α₁·YDₖ + α₂·Sₖ (the papers' c·(W + S) when
//!   α₁ = α₂ = c); demand goes to firms by the papers' price logit; what sells is paid
//!   pro rata by households and government through the market account;
//! - dividends δ·Eᵢ from profitable firms with cash, shared by households in proportion
//!   to their deposits (ownership follows wealth).
//!
//! The household side of every flow runs chunk by chunk (see [`super::chunks`]); the
//! firm side, a tenth of the size, on the engine's thread.

use super::chunks::{self, HOUSEHOLDS, each, ledger, starts};
use super::labour::UNEMPLOYED;
use super::logit;
use super::{Mark0, accounts, cents};
use crate::apportion::{self, IntSplit, RealSplit};
use crate::ledger::{Fan, exact_sums};
use crate::model::{Context, ModelError};

impl Mark0 {
    /// Phase 3.
    #[inline(never)] // one call a tick; kept apart so profiles name it
    pub(super) fn pay_wages(&mut self, ctx: &mut Context<'_>) -> Result<(), ModelError> {
        let (n, h, layout, unit) = (self.n, self.h, self.layout, self.unit);
        let Self { firms, households: hh, labour, flows, per_firm: bills, .. } = self;
        let super::Firms { alive, wage, output, flow, .. } = firms;
        let (alive, wage, output) = (&*alive, &*wage, &*output);
        // Every firm's wage bill (0 for a dead one, which pays none), their sum over the
        // live firms in firm order, and the split's sum of weights.
        let (mut bill_sum, mut weights) = (-0.0_f64, 0.0_f64);
        for i in 0..n {
            let bill = if alive[i] { wage[i] * output[i] } else { 0.0 };
            bills[i] = bill;
            if alive[i] {
                bill_sum += bill;
            }
            weights += bill.max(0.0);
        }
        let total = cents("wage bill", bill_sum * unit)?;
        // Each household's weight, its employer's wage rate (0 when unemployed: a split
        // gives it nothing either way), chunk by chunk, into the budgets' scratch.
        let employer = &labour.employer;
        let mut parts: Vec<_> = hh.budget.chunks_mut(HOUSEHOLDS).zip(employer.chunks(HOUSEHOLDS)).collect();
        each(ctx.workers, &mut parts, |(rates, employers)| {
            for (rate, &e) in rates.iter_mut().zip(employers.iter()) {
                *rate = if e != UNEMPLOYED { wage[e as usize].max(0.0) } else { 0.0 };
            }
        });
        let rates = &hh.budget;
        // The bills into the payroll, beside the running sum of the rates in household
        // order at the start of every chunk (real weights must be added in order: the
        // sequential part of the households' split; the unemployed add +0, nothing).
        let workers = ctx.workers;
        let (paid_in, (chunk_starts, sum)) = chunks::both(
            workers,
            h >= chunks::PARALLEL_HOUSEHOLDS,
            || {
                split_dense(ctx, accounts::PAYROLL, layout.firm_range(), total, bills, weights, |fan, i, bill| {
                    flow[i] -= bill;
                    fan.pay(i, -bill)
                })
            },
            || running_sums(rates),
        );
        paid_in?;
        let unpaid = match RealSplit::new(total, sum) {
            None => total,
            Some(split) => {
                let (ledger, workers) = (&mut *ctx.ledger, ctx.workers);
                let (income, taxable, disposable) = (&mut hh.income, &mut hh.taxable, &mut hh.disposable);
                ledger.fan(accounts::PAYROLL, layout.household_range(), HOUSEHOLDS, |fans| {
                    let mut parts: Vec<_> = fans
                        .iter_mut()
                        .zip(income.chunks_mut(HOUSEHOLDS))
                        .zip(taxable.chunks_mut(HOUSEHOLDS))
                        .zip(disposable.chunks_mut(HOUSEHOLDS))
                        .zip(rates.chunks(HOUSEHOLDS))
                        .zip(&chunk_starts)
                        .map(|(((((fan, income), taxable), disposable), rates), &start)| {
                            (fan, income, taxable, disposable, rates, start, Ok(()))
                        })
                        .collect();
                    each(workers, &mut parts, |(fan, income, taxable, disposable, rates, start, result)| {
                        let (mut cumulative, mut given) = (*start, split.target(*start));
                        *result = rates.iter().enumerate().try_for_each(|(j, &w)| {
                            cumulative += w;
                            let target = split.target(cumulative);
                            let pay = target - given;
                            given = target;
                            income[j] += pay;
                            taxable[j] += pay;
                            disposable[j] += pay;
                            fan.pay(j, pay)
                        });
                    });
                    parts.into_iter().try_for_each(|p| p.6)
                })?;
                0
            }
        };
        if unpaid != 0 {
            // Production too small to employ a single household: nobody to pay, so the
            // payroll returns the bills.
            split_dense(ctx, accounts::PAYROLL, layout.firm_range(), unpaid, bills, weights, |fan, i, bill| {
                flow[i] += bill;
                fan.pay(i, bill)
            })?;
        }
        flows.wage_bill = total - unpaid;
        Ok(())
    }

    /// Phase 4.
    #[inline(never)] // one call a tick; kept apart so profiles name it
    pub(super) fn collect_taxes(&mut self, ctx: &mut Context<'_>) -> Result<(), ModelError> {
        let (n, layout, unit) = (self.n, self.layout, self.unit);
        let Self { firms: f, households: hh, flows, p, per_firm: profits, .. } = self;

        // The tax base, chunk by chunk (exact: integers).
        let mut sums: Vec<(&[i64], i128)> = hh.taxable.chunks(HOUSEHOLDS).map(|c| (c, 0)).collect();
        // Light work (a vectorised sum): on this thread, where handing it out costs more.
        sums.iter_mut().for_each(|(taxable, sum)| *sum = exact_sums(taxable).positive);
        let sums: Vec<i128> = sums.into_iter().map(|(_, s)| s).collect();
        let base: i128 = sums.iter().sum();
        let income_tax = cents("income tax", p.income_tax * base as f64)?;
        match IntSplit::new(income_tax, base) {
            Some(split) => {
                let chunk_starts = starts(&sums, 0);
                let (ledger, workers) = (&mut *ctx.ledger, ctx.workers);
                ledger.fan(accounts::GOVERNMENT, layout.household_range(), HOUSEHOLDS, |fans| {
                    let mut parts: Vec<_> = fans
                        .iter_mut()
                        .zip(hh.taxable.chunks_mut(HOUSEHOLDS))
                        .zip(hh.disposable.chunks_mut(HOUSEHOLDS))
                        .zip(&chunk_starts)
                        .map(|(((fan, taxable), disposable), &start)| (fan, taxable, disposable, start as i64, Ok(())))
                        .collect();
                    each(workers, &mut parts, |(fan, taxable, disposable, start, result)| {
                        let (mut cumulative, mut given) = (*start, split.target(*start));
                        *result = (0..fan.len()).try_for_each(|j| {
                            cumulative += taxable[j].max(0);
                            taxable[j] = 0;
                            let target = split.target(cumulative);
                            let tax = target - given;
                            given = target;
                            disposable[j] -= tax;
                            fan.pay(j, -tax)
                        });
                    });
                    parts.into_iter().try_for_each(|p| p.4)
                })?;
            }
            None if income_tax != 0 && base != 0 => {
                // A base beyond 92 quadrillion cents: the sequential split by real weights.
                let taxable: Vec<i64> = hh.taxable.iter().map(|&t| t.max(0)).collect();
                let disposable = &mut hh.disposable;
                ctx.ledger.fan(accounts::GOVERNMENT, layout.household_range(), usize::MAX, |fans| {
                    apportion::by_i64(income_tax, taxable.iter().copied().enumerate(), |k, tax| {
                        disposable[k] -= tax;
                        fans[0].pay(k, -tax)
                    })
                    .map_err(ledger)
                })?;
                hh.taxable.fill(0);
            }
            None => {
                let mut parts: Vec<&mut [i64]> = hh.taxable.chunks_mut(HOUSEHOLDS).collect();
                parts.iter_mut().for_each(|t| t.fill(0));
            }
        }
        flows.income_tax = income_tax;

        // Every live firm's positive profit (0 for the others, which pay none), without a
        // branch on the profit's sign; the sum in firm order (+0 for a firm that pays none
        // changes a sum only by the sign of a zero, which rounds to the same 0 cents).
        let (mut total, mut weights) = (0.0_f64, 0.0_f64);
        for i in 0..n {
            let x = f.profit[i];
            let taxed = if f.alive[i] && x > 0.0 { x } else { 0.0 };
            profits[i] = taxed;
            total += taxed;
            weights += taxed.max(0.0);
        }
        let corporate_tax = cents("corporate tax", p.corporate_tax * total * unit)?;
        split_dense(ctx, accounts::GOVERNMENT, layout.firm_range(), corporate_tax, profits, weights, |fan, i, tax| {
            fan.pay(i, -tax)
        })?;
        flows.corporate_tax = corporate_tax;
        Ok(())
    }

    /// Phase 5.
    #[inline(never)] // one call a tick; kept apart so profiles name it
    pub(super) fn pay_welfare(&mut self, ctx: &mut Context<'_>) -> Result<(), ModelError> {
        let (n, layout) = (self.n, self.layout);
        let per_household = self.p.benefit_ratio * self.m.wavg / self.households_per_unit() * self.unit;
        let Self { households: hh, labour, flows, p, m, .. } = self;
        let total = cents("unemployment benefits", per_household * labour.pool.len() as f64)?;
        // Equal shares in the queue's order: the k-th is round(T·k/U) − round(T·(k−1)/U).
        if let Some(split) = IntSplit::new(total, labour.pool.len() as i128) {
            let (income, disposable) = (&mut hh.income, &mut hh.disposable);
            ctx.ledger.fan(accounts::GOVERNMENT, layout.household_range(), usize::MAX, |fans| {
                let fan = &mut fans[0];
                let mut given = 0;
                for (j, &k) in labour.pool.iter().enumerate() {
                    let target = split.target(j as i64 + 1);
                    let benefit = target - given;
                    given = target;
                    income[k as usize] += benefit;
                    disposable[k as usize] += benefit;
                    fan.pay(k as usize, benefit)?;
                }
                Ok::<_, ModelError>(())
            })?;
        }
        flows.welfare = total;
        flows.government_budget = p.spending * n as f64 * m.pavg;
        Ok(())
    }

    /// Phase 6.
    #[inline(never)] // one call a tick; kept apart so profiles name it
    pub(super) fn market(&mut self, ctx: &mut Context<'_>) -> Result<(), ModelError> {
        let (n, h, layout, unit) = (self.n, self.h, self.layout, self.unit);
        let Self { firms: f, households: hh, flows, p, m, firm_scratch, logit, per_firm: revenue, .. } = self;

        // Budgets: α₁·YD + α₂·S, never more than the deposit; their running sum in
        // household order (the sequential part), kept at every chunk's start.
        let balances = ctx.ledger.balances(layout.household_range());
        let (c_income, c_wealth) = (m.c_income, m.c_wealth);
        let (alive, price) = (&f.alive[..n], &f.price[..n]);
        let (beta, pmin, pavg) = (p.beta, m.pmin, m.pavg);
        // Budgets, chunk by chunk.
        let mut parts: Vec<_> = hh
            .budget
            .chunks_mut(HOUSEHOLDS)
            .zip(balances.chunks(HOUSEHOLDS))
            .zip(hh.disposable.chunks(HOUSEHOLDS))
            .collect();
        each(ctx.workers, &mut parts, |((budgets, balances), disposable)| {
            for ((budget, &deposit), &income) in budgets.iter_mut().zip(balances.iter()).zip(disposable.iter()) {
                let (deposit, income) = (deposit as f64, income as f64);
                let wealth = (deposit - income).max(0.0);
                *budget = (c_income * income + c_wealth * wealth).clamp(0.0, deposit.max(0.0));
            }
        });
        let budgets = &hh.budget;
        // Their running sum in household order (the sequential part: budgets are never
        // negative, so this is also the split's sum of weights), beside the firms' logit.
        let ((chunk_starts, households_budget), norm) = chunks::both(
            ctx.workers,
            h >= chunks::PARALLEL_HOUSEHOLDS,
            || running_sums(budgets),
            || {
                // Demand goes to firms by the price logit. The arguments (a dead firm's
                // below the floor), the weights (see `logit`; −1 marks one below the
                // floor: e^x > 0 above it), then their sum in firm order.
                for i in 0..n {
                    logit[i] = if alive[i] { beta * (pmin - price[i]) / pavg } else { f64::NEG_INFINITY };
                }
                logit::weights(logit);
                let mut norm = 0.0;
                for i in 0..n {
                    // Adding +0 to a sum of positive terms changes nothing: no branch needed.
                    norm += if alive[i] && logit[i] >= 0.0 { logit[i] } else { 0.0 };
                }
                norm
            },
        );
        let government_budget = flows.government_budget;
        let budget = households_budget / unit + government_budget;

        // Sales limited by production.
        let (mut sales_value, mut weights) = (0.0, 0.0_f64);
        for i in 0..n {
            if alive[i] {
                f.demand[i] = if logit[i] >= 0.0 { budget * logit[i] / norm / price[i] } else { 0.0 };
                revenue[i] = price[i] * f.output[i].min(f.demand[i]);
                sales_value += revenue[i];
            } else {
                revenue[i] = 0.0; // a dead firm sells nothing
            }
            weights += revenue[i].max(0.0);
        }
        let sales = cents("sales", sales_value * unit)?;
        let mut government_pays =
            if budget > 0.0 { cents("government purchases", sales as f64 * government_budget / budget)? } else { 0 };
        let households_pay = sales - government_pays;

        let unpaid = match RealSplit::new(households_pay, households_budget) {
            None => households_pay,
            Some(split) => {
                let (ledger, workers) = (&mut *ctx.ledger, ctx.workers);
                ledger.fan(accounts::MARKET, layout.household_range(), HOUSEHOLDS, |fans| {
                    let mut parts: Vec<_> =
                        fans.iter_mut().zip(&chunk_starts).map(|(fan, &start)| (fan, start, Ok(()))).collect();
                    each(workers, &mut parts, |(fan, start, result)| {
                        let budgets = &budgets[fan.offset()..fan.offset() + fan.len()];
                        let (mut cumulative, mut given) = (*start, split.target(*start));
                        *result = budgets.iter().enumerate().try_for_each(|(j, &b)| {
                            cumulative += b.max(0.0);
                            let target = split.target(cumulative);
                            let paid = target - given;
                            given = target;
                            fan.pay(j, -paid)
                        });
                    });
                    parts.into_iter().try_for_each(|p| p.2)
                })?;
                0
            }
        };
        // When no household has a budget, the households' share is only the rounding
        // residue of the government's (a cent or so): the government, the only buyer,
        // pays it, so the market account empties.
        government_pays += unpaid;
        let households_pay = households_pay - unpaid;
        ctx.ledger.transfer(accounts::GOVERNMENT, accounts::MARKET, government_pays)?;
        split_dense(ctx, accounts::MARKET, layout.firm_range(), sales, revenue, weights, |fan, i, r| {
            f.flow[i] += r;
            fan.pay(i, r)
        })?;
        flows.sales = sales;
        flows.consumption = households_pay;
        flows.government_spending = government_pays;

        for i in 0..n {
            if f.alive[i] {
                f.profit[i] = f.flow[i] as f64 / unit;
            }
        }

        // Dividends: δ·Eᵢ from every firm with cash that made a profit.
        // The payers, listed without a branch on the profit's sign (a coin flip the
        // processor would mispredict): every firm is written at the next free place,
        // which advances only past a payer.
        let firm_cash = ctx.ledger.balances(layout.firm_range());
        // Every place up to the last payer is written here: no need to clear the scratch.
        firm_scratch.resize(n + 1, (0, 0));
        let mut payers = 0;
        for i in 0..n {
            firm_scratch[payers] = (i, firm_cash[i]);
            payers += usize::from(f.alive[i] & (f.profit[i] > 0.0) & (firm_cash[i] > 0));
        }
        let firm_scratch = &firm_scratch[..payers];
        let eligible: i128 = firm_scratch.iter().map(|&(_, c)| i128::from(c)).sum();
        let dividends = cents("dividends", p.dividend_share * eligible as f64)?;
        let payers = firm_scratch.iter().map(|&(i, c)| (i, c as f64));
        if let Some(split) = IntSplit::new(dividends, eligible) {
            ctx.ledger.fan(accounts::DIVIDENDS, layout.firm_range(), usize::MAX, |fans| {
                let fan = &mut fans[0];
                let (mut cumulative, mut given) = (0, 0);
                for &(i, c) in firm_scratch.iter() {
                    cumulative += c;
                    let target = split.target(cumulative);
                    fan.pay(i, given - target)?;
                    given = target;
                }
                Ok::<_, ModelError>(())
            })?;
        } else {
            // Beyond 92 quadrillion cents of eligible cash: the split by real weights.
            firm_split(ctx, accounts::DIVIDENDS, layout.firm_range(), dividends, payers, |fan, i, d| fan.pay(i, -d))?;
        }

        // Households' shares by their deposits, chunk by chunk.
        let balances = ctx.ledger.balances(layout.household_range());
        let mut sums: Vec<(&[i64], i128)> = balances.chunks(HOUSEHOLDS).map(|c| (c, 0)).collect();
        // Light work (a vectorised sum): on this thread, where handing it out costs more.
        sums.iter_mut().for_each(|(chunk, sum)| *sum = exact_sums(chunk).positive);
        let sums: Vec<i128> = sums.into_iter().map(|(_, s)| s).collect();
        let deposits: i128 = sums.iter().sum();
        let (income, taxable) = (&mut hh.income, &mut hh.taxable);
        let unpaid = match IntSplit::new(dividends, deposits) {
            Some(split) => {
                let chunk_starts = starts(&sums, 0);
                chunks::pay_by_deposits(
                    ctx.ledger,
                    ctx.workers,
                    accounts::DIVIDENDS,
                    layout.household_range(),
                    &split,
                    &chunk_starts,
                    income,
                    taxable,
                )?;
                0
            }
            None if dividends != 0 && deposits != 0 => {
                // Beyond 92 quadrillion cents of deposits: the sequential split by real weights.
                let weights: Vec<i64> = balances.iter().map(|&b| b.max(0)).collect();
                ctx.ledger.fan(accounts::DIVIDENDS, layout.household_range(), usize::MAX, |fans| {
                    apportion::by_i64(dividends, weights.iter().copied().enumerate(), |k, d| {
                        income[k] += d;
                        taxable[k] += d;
                        fans[0].pay(k, d)
                    })
                    .map_err(ledger)
                })?
            }
            None => dividends,
        };
        if let Some(split) = IntSplit::new(unpaid, h as i128) {
            // No household holds a deposit: they share the dividends equally.
            ctx.ledger.fan(accounts::DIVIDENDS, layout.household_range(), usize::MAX, |fans| {
                let mut given = 0;
                for k in 0..h {
                    let target = split.target(k as i64 + 1);
                    let d = target - given;
                    given = target;
                    income[k] += d;
                    taxable[k] += d;
                    fans[0].pay(k, d)?;
                }
                Ok::<_, ModelError>(())
            })?;
        }
        flows.dividends = dividends;
        Ok(())
    }
}

/// The running sum of non-negative `weights` (in order, from 0) at the start of every
/// chunk of households, and the total: the sequential part of a split by real weights.
fn running_sums(weights: &[f64]) -> (Vec<f64>, f64) {
    let mut starts = Vec::with_capacity(weights.len().div_ceil(HOUSEHOLDS));
    let mut sum = 0.0_f64;
    for chunk in weights.chunks(HOUSEHOLDS) {
        starts.push(sum);
        for &w in chunk {
            sum += w;
        }
    }
    (starts, sum)
}

/// Splits `total` over the firms exactly as [`apportion::by_f64`] splits it over those
/// with a positive weight, from every firm's weight in `weights` (0 for one that takes no
/// part: a split gives it nothing either way) and `sum`, the weights' sum as `by_f64`
/// adds them (negative ones as 0, in firm order, from 0). Firm i's share is booked with
/// `pay(fan, i, share)` on a fan between `counterparty` and the firms' range. Returns what
/// could not be paid.
pub(super) fn split_dense(
    ctx: &mut Context<'_>,
    counterparty: crate::ledger::AccountId,
    firms: std::ops::Range<u32>,
    total: i64,
    weights: &[f64],
    sum: f64,
    mut pay: impl FnMut(&mut Fan<'_>, usize, i64) -> Result<(), crate::ledger::LedgerError>,
) -> Result<apportion::Unpaid, ModelError> {
    if total == 0 {
        return Ok(0);
    }
    let Some(split) = RealSplit::new(total, sum) else { return Ok(total) };
    ctx.ledger.fan(counterparty, firms, usize::MAX, |fans| {
        let fan = &mut fans[0];
        let (mut cumulative, mut given) = (0.0_f64, 0);
        for (i, &w) in weights.iter().enumerate() {
            cumulative += w.max(0.0);
            let target = split.target(cumulative);
            pay(fan, i, target - given)?;
            given = target;
        }
        Ok(0)
    })
}

/// Splits `total` over firms by real weights (as [`apportion::by_f64`]), booking each
/// firm's share with `pay(fan, firm, share)` on a fan between `counterparty` and the
/// firms' range. Returns what could not be paid.
pub(super) fn firm_split(
    ctx: &mut Context<'_>,
    counterparty: crate::ledger::AccountId,
    firms: std::ops::Range<u32>,
    total: i64,
    weights: impl Iterator<Item = (usize, f64)> + Clone,
    mut pay: impl FnMut(&mut Fan<'_>, usize, i64) -> Result<(), crate::ledger::LedgerError>,
) -> Result<apportion::Unpaid, ModelError> {
    if total == 0 {
        return Ok(0);
    }
    ctx.ledger.fan(counterparty, firms, usize::MAX, |fans| {
        let fan = &mut fans[0];
        apportion::by_f64(total, weights, |i, share| pay(fan, i, share)).map_err(ledger)
    })
}
