//! The bank of the 2017 paper, end of phase 2.
//!
//! The bank has zero equity: it lends to firms at ρℓ = ρ₀ + (1 − f)·Defaults/Debt, and
//! passes everything it receives, net of the debt it just wrote off, to depositors
//! (households and firms with cash), which defines ρd = (ρℓ·Debt − Defaults)/(S + E⁺).
//! Interest accrues on the balances as they stand after defaults and before wages, as in
//! the authors' code, and is settled here, so households' deposits include it when they
//! budget in phase 6. After this step the bank's balance is zero again (unless losses
//! exceeded every deposit, in which case it keeps the hole, in plain sight).

use super::chunks::{self, HOUSEHOLDS, ledger, starts};
use super::{Mark0, accounts, cents};
use crate::apportion::{self, IntSplit};
use crate::ledger::exact_sums;
use crate::model::{Context, ModelError};

impl Mark0 {
    #[inline(never)] // one call a tick; kept apart so profiles name it
    pub(super) fn bank(&mut self, ctx: &mut Context<'_>) -> Result<(), ModelError> {
        let (n, layout) = (self.n, self.layout);
        let Self { firms, households, m, p, flows, firm_scratch, .. } = self;

        // Balances as they stand, before any interest moves them (the households' do not
        // move until their share is paid, so they are read in place).
        let firm_balances = ctx.ledger.balances(layout.firm_range());
        firm_scratch.clear();
        firm_scratch.extend((0..n).filter(|&i| firms.alive[i]).map(|i| (i, firm_balances[i])));
        let debt: i128 = firm_scratch.iter().map(|&(_, b)| i128::from((-b).max(0))).sum();
        let firm_cash: i128 = firm_scratch.iter().map(|&(_, b)| i128::from(b.max(0))).sum();
        let mut sums: Vec<(&[i64], i128)> =
            ctx.ledger.balances(layout.household_range()).chunks(HOUSEHOLDS).map(|c| (c, 0)).collect();
        // Light work (a vectorised sum): on this thread, where handing it out costs more.
        sums.iter_mut().for_each(|(chunk, sum)| *sum = exact_sums(chunk).positive);
        let sums: Vec<i128> = sums.into_iter().map(|(_, s)| s).collect();
        let savings: i128 = sums.iter().sum();

        m.rhom = m.rho;
        if debt > 0 {
            m.rhom += (1.0 - p.default_cost_share) * flows.defaults as f64 / debt as f64;
        }
        let interest = cents("loan interest", m.rhom * debt as f64)?;
        let flow = &mut firms.flow;
        let debtors = firm_scratch.iter().map(|&(i, b)| (i, (-b).max(0)));
        ctx.ledger.fan(accounts::BANK, layout.firm_range(), usize::MAX, |fans| {
            let fan = &mut fans[0];
            match IntSplit::new(interest, debt) {
                Some(split) => {
                    let (mut cumulative, mut given) = (0, 0);
                    for (i, owed) in debtors {
                        cumulative += owed;
                        let target = split.target(cumulative);
                        let due = target - given;
                        given = target;
                        flow[i] -= due;
                        fan.pay(i, -due)?;
                    }
                }
                None => {
                    apportion::by_i64(interest, debtors, |i, due| {
                        flow[i] -= due;
                        fan.pay(i, -due)
                    })?;
                }
            }
            Ok::<_, ModelError>(())
        })?;

        let deposits = firm_cash + savings;
        if deposits == 0 {
            m.rhop = 0.0;
            return Ok(());
        }
        let pool = i128::from(ctx.ledger.balance(accounts::BANK)).max(-deposits) as i64;
        m.rhop = pool as f64 / deposits as f64;
        let Some(split) = IntSplit::new(pool, deposits) else {
            if pool != 0 {
                // Beyond 92 quadrillion cents of deposits: the sequential split by real weights.
                let firm_deposits = firm_scratch.iter().map(|&(i, b)| (layout.firm(i), b.max(0)));
                let balances = ctx.ledger.balances(layout.household_range()).to_vec();
                let household_deposits = balances.iter().enumerate().map(|(k, &b)| (layout.household(k), b.max(0)));
                let whole = layout.firm_range().start..layout.household_range().end;
                ctx.ledger.fan(accounts::BANK, whole, usize::MAX, |fans| {
                    apportion::by_i64(pool, firm_deposits.chain(household_deposits), |account, share| {
                        match layout.agent(account) {
                            Ok(i) => flow[i] += share,
                            Err(k) => {
                                households.income[k] += share;
                                households.taxable[k] += share;
                            }
                        }
                        fans[0].pay((account.0 - layout.firm_range().start) as usize, share)
                    })
                    .map_err(ledger)
                })?;
            }
            return Ok(());
        };
        // Firms first, then households, in one running sum.
        ctx.ledger.fan(accounts::BANK, layout.firm_range(), usize::MAX, |fans| {
            let fan = &mut fans[0];
            let (mut cumulative, mut given) = (0, 0);
            for &(i, b) in firm_scratch.iter() {
                cumulative += b.max(0);
                let target = split.target(cumulative);
                let share = target - given;
                given = target;
                flow[i] += share;
                fan.pay(i, share)?;
            }
            Ok::<_, ModelError>(())
        })?;
        let chunk_starts = starts(&sums, firm_cash);
        chunks::pay_by_deposits(
            ctx.ledger,
            ctx.workers,
            accounts::BANK,
            layout.household_range(),
            &split,
            &chunk_starts,
            &mut households.income,
            &mut households.taxable,
        )?;
        Ok(())
    }
}
