//! Phase 8 for Mark-0: the telemetry snapshot, read from the settled state only.

use watchtower_protocol::{Indicators, Telemetry};

use super::labour::UNEMPLOYED;
use super::{Flows, Mark0, accounts, chunks};
use crate::apportion::divide_rounding;
use crate::capture::Mark;
use crate::ledger::{self, Ledger};
use crate::model::CaptureContext;
use crate::stats::{PopulationSummary, Summarizer};
use watchtower_protocol::FeatureTable;

impl Mark0 {
    #[inline(never)] // one call a tick; kept apart so profiles name it
    pub(super) fn capture_telemetry(&mut self, ctx: &mut CaptureContext<'_>) -> Telemetry {
        let (ledger, capture) = (ctx.ledger, ctx.capture);
        let (f, m, flows) = (&self.firms, &self.m, &self.flows);
        let households = ledger.balances(self.layout.household_range());
        let firm_cash = ledger.balances(self.layout.firm_range());
        let fixed = |a| ledger.balance(a);

        // The sums, exact, one pass per sector.
        let held = ledger::exact_sums(households);
        let firms_held = ledger::exact_sums(firm_cash);
        let fixed_total: i128 = ledger.balances(0..accounts::FIXED).iter().map(|&b| i128::from(b)).sum();
        let (mut alive, mut output, mut profits) = (0i64, 0.0_f64, 0i64);
        for i in 0..self.n {
            if f.alive[i] {
                alive += 1;
                output += f.output[i];
                profits += f.flow[i];
            }
        }
        // A redenomination at this tick's end came after its flows were booked: they are
        // reported in the closing unit, like the balances, so that the tick's one count of
        // redenominations converts every cent of it (protocol's `units.rs`).
        let step = self.closing_step;
        let closing = |cents: i64| match step {
            0 => cents,
            s if s > 0 => divide_rounding(cents, 10_i64.pow(s as u32)),
            s => cents.saturating_mul(10_i64.pow(s.unsigned_abs() as u32)),
        };
        let profits = closing(profits);
        let flows = Flows {
            defaults: closing(flows.defaults),
            wage_bill: closing(flows.wage_bill),
            income_tax: closing(flows.income_tax),
            corporate_tax: closing(flows.corporate_tax),
            welfare: closing(flows.welfare),
            consumption: closing(flows.consumption),
            government_spending: closing(flows.government_spending),
            sales: closing(flows.sales),
            dividends: closing(flows.dividends),
            ..flows.clone()
        };
        let employed = self.labour.employed() as i64;
        let tax_revenue = flows.income_tax + flows.corporate_tax;
        let money_other: i64 =
            accounts::CLEARING.iter().map(|&(a, _)| fixed(a)).sum::<i64>() + fixed(accounts::RESIDUE);

        let mut indicators = Indicators {
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
            gini_wealth: 0.0,
            gini_income: 0.0,
            income_tax: flows.income_tax,
            corporate_tax: flows.corporate_tax,
            tax_revenue,
            welfare_paid: flows.welfare,
            government_balance: tax_revenue - flows.welfare - flows.government_spending,
            government_debt: -fixed(accounts::GOVERNMENT),
            money_stock: held.positive as i64 + firms_held.positive as i64,
            loans: (firms_held.positive - firms_held.total) as i64,
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
            money_households: held.total as i64,
            money_firms: firms_held.total as i64,
            money_government: fixed(accounts::GOVERNMENT),
            money_bank: fixed(accounts::BANK),
            money_issuer: fixed(accounts::ISSUER),
            money_other,
            money_drift: (held.total + firms_held.total + fixed_total) as i64,
        };

        (ctx.probe)(Mark::Statistics);
        // The four populations are summarised at once when there are threads and enough
        // households for a second core to pay for itself.
        let all = capture.distributions();
        let wanted = [all || capture.wants("gini_wealth"), all || capture.wants("gini_income"), all, all];
        let (income, staff) = (&self.households.income, &self.labour.staff);
        let mut parts: Vec<(usize, &mut Summarizer, Option<PopulationSummary>)> = self
            .summarizers
            .iter_mut()
            .enumerate()
            .filter(|(which, _)| wanted[*which])
            .map(|(which, summarizer)| (which, summarizer, None))
            .collect();
        let from = if self.h >= chunks::PARALLEL_HOUSEHOLDS { 2 } else { usize::MAX };
        chunks::each_of(ctx.workers, &mut parts, from, |(which, summarizer, summary)| {
            let alive_firms = (0..f.alive.len()).filter(|&i| f.alive[i]);
            *summary = Some(match which {
                0 => summarizer.summarize_slice("household_wealth", "cents", households),
                1 => summarizer.summarize_slice("household_income", "cents", income),
                2 => summarizer.summarize("firm_size", "households", alive_firms.map(|i| staff[i].len() as i64)),
                _ => summarizer.summarize("firm_cash", "cents", alive_firms.map(|i| firm_cash[i])),
            });
        });
        let mut summaries: [Option<PopulationSummary>; 4] = Default::default();
        for (which, _, summary) in parts {
            summaries[which] = summary;
        }
        indicators.gini_wealth = summaries[0].as_ref().map_or(0.0, |s| s.gini);
        indicators.gini_income = summaries[1].as_ref().map_or(0.0, |s| s.gini);
        // This tick's incomes, too, are in the unit they were booked in.
        if let (Some(income), true) = (summaries[1].as_mut(), step != 0) {
            let d = &mut income.distribution;
            let f = 10f64.powi(-(step as i32));
            for x in [&mut d.mean, &mut d.min, &mut d.p10, &mut d.p50, &mut d.p90, &mut d.max] {
                *x *= f;
            }
            d.histogram.lo *= f;
            d.histogram.hi *= f;
        }
        let distributions =
            if all { summaries.into_iter().flatten().map(|s| s.distribution).collect() } else { Vec::new() };
        Telemetry {
            tick: ctx.tick,
            model: "mark0".into(),
            registry_version: ctx.registry_version,
            indicators,
            distributions,
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
