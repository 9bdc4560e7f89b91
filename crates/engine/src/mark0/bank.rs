//! The bank of the 2017 paper, end of phase 2.
//!
//! The bank has zero equity: it lends to firms at ρℓ = ρ₀ + (1 − f)·Defaults/Debt, and
//! passes everything it receives, net of the debt it just wrote off, to depositors
//! (households and firms with cash), which defines ρd = (ρℓ·Debt − Defaults)/(S + E⁺).
//! Interest accrues on the balances as they stand after defaults and before wages, as in
//! the authors' code, and is settled here, so households' deposits include it when they
//! budget in phase 6. After this step the bank's balance is zero again (unless losses
//! exceeded every deposit, in which case it keeps the hole, in plain sight).

use super::{Mark0, accounts, cents};
use crate::apportion;
use crate::model::{Context, ModelError};

impl Mark0 {
    pub(super) fn bank(&mut self, ctx: &mut Context<'_>) -> Result<(), ModelError> {
        let (n, layout) = (self.n, self.layout);
        let Self { firms, households, m, p, flows, firm_scratch, household_scratch, .. } = self;

        // Balances as they stand, before any interest moves them.
        firm_scratch.clear();
        firm_scratch.extend((0..n).filter(|&i| firms.alive[i]).map(|i| (i, ctx.ledger.balance(layout.firm(i)))));
        household_scratch.clear();
        household_scratch.extend_from_slice(ctx.ledger.balances(layout.household_range()));
        let debt: i128 = firm_scratch.iter().map(|&(_, b)| i128::from((-b).max(0))).sum();
        let firm_cash: i128 = firm_scratch.iter().map(|&(_, b)| i128::from(b.max(0))).sum();
        let savings: i128 = household_scratch.iter().map(|&b| i128::from(b.max(0))).sum();

        m.rhom = m.rho;
        if debt > 0 {
            m.rhom += (1.0 - p.default_cost_share) * flows.defaults as f64 / debt as f64;
        }
        let interest = cents("loan interest", m.rhom * debt as f64)?;
        let debtors = firm_scratch.iter().map(|&(i, b)| (i, (-b).max(0)));
        apportion::by_i64(interest, debtors, |i, due| {
            firms.flow[i] -= due;
            ctx.ledger.transfer_signed(layout.firm(i), accounts::BANK, due)
        })?;

        let deposits = firm_cash + savings;
        if deposits == 0 {
            m.rhop = 0.0;
            return Ok(());
        }
        let pool = i128::from(ctx.ledger.balance(accounts::BANK)).max(-deposits) as i64;
        m.rhop = pool as f64 / deposits as f64;
        let firm_deposits = firm_scratch.iter().map(|&(i, b)| (layout.firm(i), b.max(0)));
        let household_deposits = household_scratch.iter().enumerate().map(|(k, &b)| (layout.household(k), b.max(0)));
        apportion::by_i64(pool, firm_deposits.chain(household_deposits), |account, share| {
            match layout.agent(account) {
                Ok(i) => firms.flow[i] += share,
                Err(k) => {
                    households.income[k] += share;
                    households.taxable[k] += share;
                }
            }
            ctx.ledger.transfer_signed(accounts::BANK, account, share)
        })?;
        Ok(())
    }
}
