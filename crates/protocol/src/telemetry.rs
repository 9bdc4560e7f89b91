//! Telemetry: the read-only snapshot the engine captures at phase 8 of every tick.
//!
//! The macro indicators are declared once, in [`indicators!`], which generates the
//! struct, the list of field names and a visitor over the values. The store builds its
//! `ticks` columns and the dashboard its charts from that one list, so adding an
//! indicator cannot leave a part behind.
//!
//! Money is always an integer count of cents (`i64`); everything else is `f64`.

use serde::{Deserialize, Serialize};

use crate::command::{GodCommand, GodResponse};

/// One indicator's value, as the store sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum IndicatorValue {
    /// Cents or a count.
    Int(i64),
    /// A rate, a share, an index.
    Real(f64),
}

/// Converts an indicator field into an [`IndicatorValue`].
trait AsIndicator {
    const SQL_TYPE: &'static str;
    fn indicator(&self) -> IndicatorValue;
}

impl AsIndicator for i64 {
    const SQL_TYPE: &'static str = "INTEGER";
    fn indicator(&self) -> IndicatorValue {
        IndicatorValue::Int(*self)
    }
}

impl AsIndicator for f64 {
    const SQL_TYPE: &'static str = "REAL";
    fn indicator(&self) -> IndicatorValue {
        IndicatorValue::Real(*self)
    }
}

macro_rules! indicators {
    ($( $(#[doc = $doc:literal])+ $name:ident : $ty:ty ),+ $(,)?) => {
        /// The macro indicators of one tick. Money in cents; fields that do not apply to
        /// the running model are 0.
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        pub struct Indicators {
            $( $(#[doc = $doc])+ pub $name: $ty, )+
        }

        impl Indicators {
            /// Every field's name with its SQLite column type, in declaration order.
            pub const FIELDS: &'static [(&'static str, &'static str)] =
                &[ $( (stringify!($name), <$ty as AsIndicator>::SQL_TYPE) ),+ ];

            /// Every field's value, in the order of [`Indicators::FIELDS`].
            pub fn values(&self) -> impl Iterator<Item = IndicatorValue> + '_ {
                [ $( self.$name.indicator() ),+ ].into_iter()
            }
        }
    };
}

indicators! {
    /// Production, in full-time-worker equivalents (Σᵢ Yᵢ·H/N); for Boltzmann, agents.
    output_real: f64,
    /// Nominal GDP: this tick's sales to households and government, cents.
    gdp: i64,
    /// Households' purchases, cents.
    consumption: i64,
    /// Government purchases, cents.
    government_spending: i64,
    /// Average price p̄ in the current unit of account (kept within [0.1, 10] by redenomination).
    price_level: f64,
    /// log₁₀ of the price level in genesis units: continuous across redenominations and
    /// finite even through hyperinflation.
    price_index_log10: f64,
    /// Inflation this tick, p̄ₜ/p̄ₜ₋₁ − 1.
    inflation: f64,
    /// Expected inflation π̂ used by firms and households.
    expected_inflation: f64,
    /// Share of households without an employer.
    unemployment_rate: f64,
    /// Households with an employer.
    employed: i64,
    /// Average wage per employed household this tick, cents.
    average_wage: i64,
    /// Wages paid this tick, cents.
    wage_bill: i64,
    /// Gini coefficient of household wealth (deposits).
    gini_wealth: f64,
    /// Gini coefficient of household gross income this tick.
    gini_income: f64,
    /// Income tax collected this tick, cents.
    income_tax: i64,
    /// Corporate tax collected this tick, cents.
    corporate_tax: i64,
    /// All taxes collected this tick, cents.
    tax_revenue: i64,
    /// Unemployment benefits paid this tick, cents.
    welfare_paid: i64,
    /// Government surplus this tick (revenue − benefits − purchases), cents.
    government_balance: i64,
    /// Government debt: money the government has issued net of what it collected, cents.
    government_debt: i64,
    /// Deposits held by households and firms, cents.
    money_stock: i64,
    /// Firms' debt to the bank, cents.
    loans: i64,
    /// Debt written off by firm defaults this tick, cents.
    defaults: i64,
    /// Firms that defaulted this tick.
    bankruptcies: i64,
    /// Firms alive at the end of the tick.
    active_firms: i64,
    /// Firms' profits this tick (sales − wages + interest), cents.
    profits: i64,
    /// Dividends paid to households this tick, cents.
    dividends: i64,
    /// Loan rate ρℓ.
    loan_rate: f64,
    /// Deposit rate ρd.
    deposit_rate: f64,
    /// Central-bank policy rate ρ₀.
    policy_rate: f64,
    /// Households' propensity to consume out of income this tick.
    consumption_propensity: f64,
    /// Financial fragility sensitivity Γ.
    financial_fragility: f64,
    /// Net number of redenominations (each makes one new cent worth ten old ones).
    redenominations: i64,
    /// Money held by households, cents.
    money_households: i64,
    /// Money held by firms (negative = net debt), cents.
    money_firms: i64,
    /// The government's balance (negative = money it issued), cents.
    money_government: i64,
    /// The bank's balance (its equity), cents.
    money_bank: i64,
    /// The genesis issuer's balance (minus the money created at genesis), cents.
    money_issuer: i64,
    /// Clearing and redenomination-residue accounts, cents.
    money_other: i64,
    /// Sum of every balance; the books balance when it is 0.
    money_drift: i64,
}

/// A fixed-width histogram between `lo` and `hi`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// Lower edge of the first bin.
    pub lo: f64,
    /// Upper edge of the last bin.
    pub hi: f64,
    /// Count per bin.
    pub counts: Vec<u64>,
}

/// Summary of one population's values at one tick.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    /// Which population and quantity, e.g. `household_wealth`.
    pub name: String,
    /// Unit of the values (`cents`, `households`, ...).
    pub unit: String,
    /// Number of values.
    pub count: u64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Smallest value.
    pub min: f64,
    /// 10th percentile.
    pub p10: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// Largest value.
    pub max: f64,
    /// Histogram over `[min, max]`.
    pub histogram: Histogram,
}

/// The snapshot captured at phase 8 of one tick.
///
/// It always has this shape, but a run captures only what its consumers read (the
/// engine's `Capture`): an indicator that was not asked for and costs a sort to compute
/// (`gini_wealth`, `gini_income`) is 0, and `distributions` is empty unless asked for.
/// A stored, watched or replayed run captures everything.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Telemetry {
    /// The tick this snapshot closes (0 is the first tick after genesis).
    pub tick: u64,
    /// Which model runs: `mark0` or `boltzmann`.
    pub model: String,
    /// The registry's version when the tick ran; a change means parameters moved.
    pub registry_version: u64,
    /// The macro indicators.
    pub indicators: Indicators,
    /// Distribution summaries of the agent populations.
    pub distributions: Vec<Distribution>,
}

/// One command as the audit log keeps it: what was asked, when, and the answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// The command as received.
    pub command: GodCommand,
    /// When the server received it, milliseconds since the Unix epoch.
    pub received_at_ms: u64,
    /// Who sent it: the transport and the peer's address, e.g. `websocket 127.0.0.1:50412`.
    pub source: String,
    /// The engine's (or the server's) answer.
    pub response: GodResponse,
}

/// What the engine hands to the store after a tick: its telemetry and its audit entries.
#[derive(Debug, Clone, PartialEq)]
pub struct TickRecord {
    /// The tick's snapshot; `None` for an idle cycle (paused) that only applied commands.
    pub telemetry: Option<std::sync::Arc<Telemetry>>,
    /// Every command answered during this cycle, in order.
    pub audit: Vec<AuditEntry>,
}
