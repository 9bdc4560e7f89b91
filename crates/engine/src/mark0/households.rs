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

use libm::exp;

use super::labour::UNEMPLOYED;
use super::{Mark0, accounts, cents};
use crate::apportion;
use crate::model::{Context, ModelError};

const EXP_FLOOR: f64 = -100.0;

impl Mark0 {
    /// Phase 3.
    pub(super) fn pay_wages(&mut self, ctx: &mut Context<'_>) -> Result<(), ModelError> {
        let (n, layout, unit) = (self.n, self.layout, self.unit);
        let Self { firms, households: hh, labour, flows, .. } = self;
        let super::Firms { alive, wage, output, flow, .. } = firms;
        let (alive, wage, output) = (&*alive, &*wage, &*output);
        let bills = (0..n).filter(|&i| alive[i]).map(|i| (i, wage[i] * output[i]));
        let total = cents("wage bill", bills.clone().map(|(_, b)| b).sum::<f64>() * unit)?;
        apportion::by_f64(total, bills.clone(), |i, bill| {
            flow[i] -= bill;
            ctx.ledger.transfer(layout.firm(i), accounts::PAYROLL, bill)
        })?;
        // In household order (the employer's wage read from the small firm arrays), so
        // every household array is walked sequentially rather than staff list by staff list.
        let employer = &labour.employer;
        let employees =
            (0..employer.len()).filter(|&k| employer[k] != UNEMPLOYED).map(|k| (k, wage[employer[k] as usize]));
        let unpaid = apportion::by_f64(total, employees, |k, wage| {
            hh.income[k] += wage;
            hh.taxable[k] += wage;
            hh.disposable[k] += wage;
            ctx.ledger.transfer(accounts::PAYROLL, layout.household(k), wage)
        })?;
        if unpaid != 0 {
            // Production too small to employ a single household: nobody to pay, so the
            // payroll returns the bills.
            apportion::by_f64(unpaid, bills, |i, bill| {
                flow[i] += bill;
                ctx.ledger.transfer(accounts::PAYROLL, layout.firm(i), bill)
            })?;
        }
        flows.wage_bill = total - unpaid;
        Ok(())
    }

    /// Phase 4.
    pub(super) fn collect_taxes(&mut self, ctx: &mut Context<'_>) -> Result<(), ModelError> {
        let (n, layout, unit) = (self.n, self.layout, self.unit);
        let Self { firms: f, households: hh, flows, p, .. } = self;

        let base: i128 = hh.taxable.iter().map(|&t| i128::from(t.max(0))).sum();
        let income_tax = cents("income tax", p.income_tax * base as f64)?;
        let taxable = hh.taxable.iter().map(|&t| t.max(0)).enumerate();
        apportion::by_i64(income_tax, taxable, |k, tax| {
            hh.disposable[k] -= tax;
            ctx.ledger.transfer(layout.household(k), accounts::GOVERNMENT, tax)
        })?;
        hh.taxable.fill(0);
        flows.income_tax = income_tax;

        let profits = (0..n).filter(|&i| f.alive[i] && f.profit[i] > 0.0).map(|i| (i, f.profit[i]));
        let corporate_tax =
            cents("corporate tax", p.corporate_tax * profits.clone().map(|(_, x)| x).sum::<f64>() * unit)?;
        apportion::by_f64(corporate_tax, profits, |i, tax| {
            ctx.ledger.transfer(layout.firm(i), accounts::GOVERNMENT, tax)
        })?;
        flows.corporate_tax = corporate_tax;
        Ok(())
    }

    /// Phase 5.
    pub(super) fn pay_welfare(&mut self, ctx: &mut Context<'_>) -> Result<(), ModelError> {
        let (n, layout) = (self.n, self.layout);
        let per_household = self.p.benefit_ratio * self.m.wavg / self.households_per_unit() * self.unit;
        let Self { households: hh, labour, flows, p, m, .. } = self;
        let total = cents("unemployment benefits", per_household * labour.pool.len() as f64)?;
        apportion::equally(total, labour.pool.iter().copied(), |k, benefit| {
            hh.income[k as usize] += benefit;
            hh.disposable[k as usize] += benefit;
            ctx.ledger.transfer(accounts::GOVERNMENT, layout.household(k as usize), benefit)
        })?;
        flows.welfare = total;
        flows.government_budget = p.spending * n as f64 * m.pavg;
        Ok(())
    }

    /// Phase 6.
    pub(super) fn market(&mut self, ctx: &mut Context<'_>) -> Result<(), ModelError> {
        let (n, h, layout, unit) = (self.n, self.h, self.layout, self.unit);
        let Self { firms: f, households: hh, flows, p, m, firm_scratch, household_scratch, .. } = self;

        // Budgets: α₁·YD + α₂·S, never more than the deposit.
        let balances = ctx.ledger.balances(layout.household_range());
        let mut households_budget = 0.0;
        for (k, budget) in hh.budget.iter_mut().enumerate() {
            let deposit = balances[k] as f64;
            let income = hh.disposable[k] as f64;
            let wealth = (deposit - income).max(0.0);
            *budget = (m.c_income * income + m.c_wealth * wealth).clamp(0.0, deposit.max(0.0));
            households_budget += *budget;
        }
        let government_budget = flows.government_budget;
        let budget = households_budget / unit + government_budget;

        // Demand by the price logit, sales limited by production.
        let mut norm = 0.0;
        for i in 0..n {
            if f.alive[i] {
                let arg = p.beta * (m.pmin - f.price[i]) / m.pavg;
                if arg > EXP_FLOOR {
                    norm += exp(arg);
                }
            }
        }
        let mut sales_value = 0.0;
        for i in 0..n {
            if f.alive[i] {
                let arg = p.beta * (m.pmin - f.price[i]) / m.pavg;
                f.demand[i] = if arg > EXP_FLOOR { budget * exp(arg) / norm / f.price[i] } else { 0.0 };
                sales_value += f.price[i] * f.output[i].min(f.demand[i]);
            }
        }
        let sales = cents("sales", sales_value * unit)?;
        let mut government_pays =
            if budget > 0.0 { cents("government purchases", sales as f64 * government_budget / budget)? } else { 0 };
        let households_pay = sales - government_pays;

        let budgets = hh.budget.iter().copied().enumerate();
        let unpaid = apportion::by_f64(households_pay, budgets, |k, paid| {
            ctx.ledger.transfer(layout.household(k), accounts::MARKET, paid)
        })?;
        // When no household has a budget, the households' share is only the rounding
        // residue of the government's (a cent or so): the government, the only buyer,
        // pays it, so the market account empties.
        government_pays += unpaid;
        let households_pay = households_pay - unpaid;
        ctx.ledger.transfer(accounts::GOVERNMENT, accounts::MARKET, government_pays)?;
        let revenues = (0..n).filter(|&i| f.alive[i]).map(|i| (i, f.price[i] * f.output[i].min(f.demand[i])));
        apportion::by_f64(sales, revenues, |i, revenue| {
            f.flow[i] += revenue;
            ctx.ledger.transfer(accounts::MARKET, layout.firm(i), revenue)
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
        firm_scratch.clear();
        firm_scratch.extend(
            (0..n)
                .filter(|&i| f.alive[i] && f.profit[i] > 0.0)
                .map(|i| (i, ctx.ledger.balance(layout.firm(i))))
                .filter(|&(_, cash)| cash > 0),
        );
        let eligible: i128 = firm_scratch.iter().map(|&(_, c)| i128::from(c)).sum();
        let dividends = cents("dividends", p.dividend_share * eligible as f64)?;
        apportion::by_i64(dividends, firm_scratch.iter().copied(), |i, d| {
            ctx.ledger.transfer(layout.firm(i), accounts::DIVIDENDS, d)
        })?;
        household_scratch.clear();
        household_scratch.extend(ctx.ledger.balances(layout.household_range()).iter().map(|&b| b.max(0)));
        let mut pay_household = |k: usize, d: i64| {
            hh.income[k] += d;
            hh.taxable[k] += d;
            ctx.ledger.transfer(accounts::DIVIDENDS, layout.household(k), d)
        };
        let unpaid = apportion::by_i64(dividends, household_scratch.iter().copied().enumerate(), &mut pay_household)?;
        apportion::equally(unpaid, 0..h, &mut pay_household)?;
        flows.dividends = dividends;
        Ok(())
    }
}
