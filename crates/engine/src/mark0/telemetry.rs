//! Phase 8 for Mark-0: the telemetry snapshot, read from the settled state only.

use watchtower_protocol::{Indicators, Telemetry};

use super::labour::UNEMPLOYED;
use super::{Mark0, accounts};
use crate::ledger::Ledger;
use watchtower_protocol::FeatureTable;

impl Mark0 {
    pub(super) fn capture_telemetry(&mut self, ledger: &Ledger, tick: u64, registry_version: u64) -> Telemetry {
        let (f, m, flows) = (&self.firms, &self.m, &self.flows);
        let households = ledger.balances(self.layout.household_range());
        let firm_cash = ledger.balances(self.layout.firm_range());
        let sum = |xs: &[i64]| xs.iter().map(|&x| i128::from(x)).sum::<i128>() as i64;
        let positive = |xs: &[i64]| xs.iter().map(|&x| i128::from(x.max(0))).sum::<i128>() as i64;
        let fixed = |a| ledger.balance(a);

        let employed = self.labour.employed() as i64;
        let tax_revenue = flows.income_tax + flows.corporate_tax;
        let alive = f.alive.iter().filter(|&&a| a).count() as i64;
        let output: f64 = (0..self.n).filter(|&i| f.alive[i]).map(|i| f.output[i]).sum();
        let profits: i64 = (0..self.n).filter(|&i| f.alive[i]).map(|i| f.flow[i]).sum();
        let money_other: i64 =
            accounts::CLEARING.iter().map(|&(a, _)| fixed(a)).sum::<i64>() + fixed(accounts::RESIDUE);

        let wealth = self.summarizer.summarize_slice("household_wealth", "cents", households);
        let income = self.summarizer.summarize_slice("household_income", "cents", &self.households.income);
        let alive_firms = (0..self.n).filter(|&i| f.alive[i]);
        let size = self.summarizer.summarize(
            "firm_size",
            "households",
            alive_firms.clone().map(|i| self.labour.staff[i].len() as i64),
        );
        let cash = self.summarizer.summarize("firm_cash", "cents", alive_firms.map(|i| firm_cash[i]));

        let indicators = Indicators {
            output_real: output * self.households_per_unit(),
            gdp: flows.sales,
            consumption: flows.consumption,
            government_spending: flows.government_spending,
            price_level: m.pavg,
            price_index_log10: m.pavg.log10() + m.redenominations as f64,
            inflation: m.inflation,
            expected_inflation: m.pi_used,
            unemployment_rate: 1.0 - employed as f64 / self.h as f64,
            employed,
            average_wage: if employed > 0 { flows.wage_bill / employed } else { 0 },
            wage_bill: flows.wage_bill,
            gini_wealth: wealth.gini,
            gini_income: income.gini,
            income_tax: flows.income_tax,
            corporate_tax: flows.corporate_tax,
            tax_revenue,
            welfare_paid: flows.welfare,
            government_balance: tax_revenue - flows.welfare - flows.government_spending,
            government_debt: -fixed(accounts::GOVERNMENT),
            money_stock: positive(households) + positive(firm_cash),
            loans: firm_cash.iter().map(|&x| i128::from((-x).max(0))).sum::<i128>() as i64,
            defaults: flows.defaults,
            bankruptcies: flows.bankruptcies,
            active_firms: alive,
            profits,
            dividends: flows.dividends,
            loan_rate: m.rhom,
            deposit_rate: m.rhop,
            policy_rate: m.rho,
            consumption_propensity: m.c_income,
            financial_fragility: m.gamma,
            redenominations: m.redenominations,
            money_households: sum(households),
            money_firms: sum(firm_cash),
            money_government: fixed(accounts::GOVERNMENT),
            money_bank: fixed(accounts::BANK),
            money_issuer: fixed(accounts::ISSUER),
            money_other,
            money_drift: ledger.drift() as i64,
        };
        Telemetry {
            tick,
            model: "mark0".into(),
            registry_version,
            indicators,
            distributions: vec![wealth.distribution, income.distribution, size.distribution, cash.distribution],
        }
    }

    /// Households and firms as feature rows for the embedding map: at most `limit` rows,
    /// households and firms in proportion, evenly spaced by index (deterministic).
    pub(super) fn features(&self, ledger: &Ledger, limit: usize) -> FeatureTable {
        let mut table = FeatureTable::new(&[
            "wealth",
            "income",
            "employed",
            "consumption_budget",
            "firm_size",
            "price",
            "wage",
            "cash",
            "output",
        ]);
        let households = ledger.balances(self.layout.household_range());
        let firm_cash = ledger.balances(self.layout.firm_range());
        let alive: Vec<usize> = (0..self.n).filter(|&i| self.firms.alive[i]).collect();
        let total = self.h + alive.len();
        let take_h = if total <= limit { self.h } else { limit * self.h / total };
        let take_f = if total <= limit { alive.len() } else { limit - take_h };
        for k in evenly(self.h, take_h) {
            let employed = self.labour.employer[k] != UNEMPLOYED;
            table.push(
                k as u64,
                "household",
                if employed { "employed" } else { "unemployed" },
                &[
                    households[k] as f64,
                    self.households.income[k] as f64,
                    f64::from(u8::from(employed)),
                    self.households.budget[k],
                    0.0,
                    0.0,
                    0.0,
                    0.0,
                    0.0,
                ],
            );
        }
        let f = &self.firms;
        for j in evenly(alive.len(), take_f) {
            let i = alive[j];
            table.push(
                i as u64,
                "firm",
                if firm_cash[i] < 0 { "indebted" } else { "solvent" },
                &[
                    0.0,
                    0.0,
                    0.0,
                    0.0,
                    self.labour.staff[i].len() as f64,
                    f.price[i],
                    f.wage[i],
                    firm_cash[i] as f64,
                    f.output[i],
                ],
            );
        }
        table
    }
}

/// `take` indices spread evenly over `0..len`.
fn evenly(len: usize, take: usize) -> impl Iterator<Item = usize> {
    (0..take).map(move |j| j * len / take.max(1))
}
