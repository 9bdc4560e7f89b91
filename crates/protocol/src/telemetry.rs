//! Telemetry: the read-only snapshot the engine captures at phase 8 of every tick.
//!
//! The macro indicators are declared once, in [`indicators!`], which generates the
//! struct, the list of field names and a visitor over the values. The store builds its
//! `ticks` columns and the dashboard its charts from that one list, so adding an
//! indicator cannot leave a part behind.
//!
//! Inside, money is an integer count of cents (`i64`) of the ledger's current unit;
//! everything else is `f64`. Out of the engine, money is reported in genesis currency
//! units as `f64` ([`Indicators::reported`], `units.rs`), so no series jumps at a
//! redenomination.

use serde::{Deserialize, Serialize};

use crate::command::{GodCommand, GodResponse};
use crate::units::{Unit, genesis_price, genesis_units};

/// One indicator's value, as the store sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum IndicatorValue {
    /// Cents or a count.
    Int(i64),
    /// A rate, a share, an index.
    Real(f64),
}

impl IndicatorValue {
    /// The value as a float (a count or cents converted exactly up to 2^53).
    pub fn as_f64(self) -> f64 {
        match self {
            IndicatorValue::Int(i) => i as f64,
            IndicatorValue::Real(x) => x,
        }
    }
}

/// Converts an indicator field into an [`IndicatorValue`].
trait AsIndicator {
    const SQL_TYPE: &'static str;
    const INTEGER: bool;
    fn indicator(&self) -> IndicatorValue;
}

impl AsIndicator for i64 {
    const SQL_TYPE: &'static str = "INTEGER";
    const INTEGER: bool = true;
    fn indicator(&self) -> IndicatorValue {
        IndicatorValue::Int(*self)
    }
}

impl AsIndicator for f64 {
    const SQL_TYPE: &'static str = "REAL";
    const INTEGER: bool = false;
    fn indicator(&self) -> IndicatorValue {
        IndicatorValue::Real(*self)
    }
}

macro_rules! indicators {
    ($( $(#[doc = $doc:literal])+ $name:ident : $ty:ty [$unit:ident] ),+ $(,)?) => {
        /// The macro indicators of one tick, as the engine captured them: money in integer
        /// cents of the ledger's current unit (what the store keeps, for audit); fields that
        /// do not apply to the running model are 0. What leaves the engine is
        /// [`Indicators::reported`]: money in genesis currency units (`units.rs`).
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        pub struct Indicators {
            $( $(#[doc = $doc])+ pub $name: $ty, )+
        }

        impl Indicators {
            /// Every field's name with its SQLite column type, in declaration order.
            pub const FIELDS: &'static [(&'static str, &'static str)] =
                &[ $( (stringify!($name), <$ty as AsIndicator>::SQL_TYPE) ),+ ];

            /// Every field as it is reported: name, unit, description, in the order of
            /// [`Indicators::FIELDS`].
            pub const COLUMNS: &'static [Column] = &[ $( Column {
                name: stringify!($name),
                unit: Unit::$unit,
                description: concat!($($doc),+),
                integer: <$ty as AsIndicator>::INTEGER,
            } ),+ ];

            /// Every field's raw value (cents of the ledger's current unit), in the order
            /// of [`Indicators::FIELDS`].
            pub fn values(&self) -> impl Iterator<Item = IndicatorValue> + '_ {
                [ $( self.$name.indicator() ),+ ].into_iter()
            }
        }
    };
}

indicators! {
    /// Production, in full-time-worker equivalents (Σᵢ Yᵢ·H/N); for Boltzmann, agents.
    output_real: f64 [Workers],
    /// Nominal GDP: this tick's sales to households and government.
    gdp: i64 [MoneyPerTick],
    /// Households' purchases.
    consumption: i64 [MoneyPerTick],
    /// Government purchases.
    government_spending: i64 [MoneyPerTick],
    /// Average price p̄ (in the ledger's current unit kept within [0.1, 10] by
    /// redenomination; reported in genesis units).
    price_level: f64 [Price],
    /// log₁₀ of the price level in genesis units: continuous across redenominations and
    /// finite even through hyperinflation.
    price_index_log10: f64 [Log10],
    /// Inflation this tick, p̄ₜ/p̄ₜ₋₁ − 1.
    inflation: f64 [RatePerTick],
    /// Expected inflation π̂ used by firms and households.
    expected_inflation: f64 [RatePerTick],
    /// Share of households without an employer.
    unemployment_rate: f64 [Share],
    /// Households with an employer.
    employed: i64 [Count],
    /// Average wage per employed household this tick.
    average_wage: i64 [MoneyPerTick],
    /// Wages paid this tick.
    wage_bill: i64 [MoneyPerTick],
    /// Gini coefficient of household wealth (deposits).
    gini_wealth: f64 [Ratio],
    /// Gini coefficient of household gross income this tick.
    gini_income: f64 [Ratio],
    /// Income tax collected this tick.
    income_tax: i64 [MoneyPerTick],
    /// Corporate tax collected this tick.
    corporate_tax: i64 [MoneyPerTick],
    /// All taxes collected this tick.
    tax_revenue: i64 [MoneyPerTick],
    /// Unemployment benefits paid this tick.
    welfare_paid: i64 [MoneyPerTick],
    /// Government surplus this tick (revenue − benefits − purchases).
    government_balance: i64 [MoneyPerTick],
    /// Government debt: money the government has issued net of what it collected.
    government_debt: i64 [Money],
    /// Deposits held by households and firms.
    money_stock: i64 [Money],
    /// Firms' debt to the bank.
    loans: i64 [Money],
    /// Debt written off by firm defaults this tick.
    defaults: i64 [MoneyPerTick],
    /// Firms that defaulted this tick.
    bankruptcies: i64 [CountPerTick],
    /// Firms alive at the end of the tick.
    active_firms: i64 [Count],
    /// Firms' profits this tick (sales − wages + interest).
    profits: i64 [MoneyPerTick],
    /// Dividends paid to households this tick.
    dividends: i64 [MoneyPerTick],
    /// Loan rate ρℓ.
    loan_rate: f64 [RatePerTick],
    /// Deposit rate ρd.
    deposit_rate: f64 [RatePerTick],
    /// Central-bank policy rate ρ₀.
    policy_rate: f64 [RatePerTick],
    /// Households' propensity to consume out of income this tick.
    consumption_propensity: f64 [Share],
    /// Financial fragility sensitivity Γ.
    financial_fragility: f64 [Ratio],
    /// Net number of redenominations (each makes one new cent worth ten old ones).
    redenominations: i64 [Redenominations],
    /// Money held by households.
    money_households: i64 [Money],
    /// Money held by firms (negative = net debt).
    money_firms: i64 [Money],
    /// The government's balance (negative = money it issued).
    money_government: i64 [Money],
    /// The bank's balance (its equity).
    money_bank: i64 [Money],
    /// The genesis issuer's balance (minus the money created at genesis).
    money_issuer: i64 [Money],
    /// Clearing and redenomination-residue accounts.
    money_other: i64 [Money],
    /// Sum of every balance, exact; the books balance when it is 0.
    money_drift: i64 [LedgerCents],
}

/// One indicator as it is reported: what [`Indicators::COLUMNS`] lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// The field's name (a column of the `ticks` table and of every export).
    pub name: &'static str,
    /// What it is measured in, once reported.
    pub unit: Unit,
    /// What it is, from the field's documentation.
    pub description: &'static str,
    /// Held as an integer in the engine and the store (cents or a count).
    pub integer: bool,
}

impl Column {
    /// Reported as an integer: a count. Money, an integer count of cents inside,
    /// is reported as a float in genesis units.
    pub fn reported_integer(&self) -> bool {
        self.integer && !self.unit.is_nominal()
    }

    /// The description on one line, without the documentation's leading spaces.
    pub fn describe(&self) -> String {
        self.description.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

/// The position of `redenominations` in [`Indicators::FIELDS`].
const REDENOMINATIONS: usize = {
    let mut i = 0;
    loop {
        let name = Indicators::FIELDS[i].0.as_bytes();
        let want = b"redenominations";
        if name.len() == want.len() {
            let mut j = 0;
            while j < want.len() && name[j] == want[j] {
                j += 1;
            }
            if j == want.len() {
                break i;
            }
        }
        i += 1;
    }
};

/// One raw value as it is reported, given the tick's net redenominations: money in
/// genesis currency units ([`genesis_units`], [`genesis_price`]), anything else as it is.
fn report(unit: Unit, value: IndicatorValue, redenominations: i64) -> IndicatorValue {
    match (unit, value) {
        (Unit::Money | Unit::MoneyPerTick, IndicatorValue::Int(cents)) => {
            IndicatorValue::Real(genesis_units(cents as f64, redenominations))
        }
        (Unit::Price, IndicatorValue::Real(price)) => IndicatorValue::Real(genesis_price(price, redenominations)),
        _ => value,
    }
}

impl Indicators {
    /// Every value as it leaves the engine, in the order of [`Indicators::FIELDS`]: money
    /// in genesis currency units (a float, continuous across redenominations), counts
    /// and rates as they are. What telemetry, history, exports, summaries and the
    /// Python module show.
    pub fn reported(&self) -> impl Iterator<Item = IndicatorValue> + '_ {
        let k = self.redenominations;
        Self::COLUMNS.iter().zip(self.values()).map(move |(c, v)| report(c.unit, v, k))
    }

    /// [`Indicators::reported`] of raw values read back in the order of
    /// [`Indicators::FIELDS`] (a row of the store's `ticks` table).
    pub fn report(values: &[IndicatorValue]) -> impl Iterator<Item = IndicatorValue> + '_ {
        let k = match values.get(REDENOMINATIONS) {
            Some(IndicatorValue::Int(k)) => *k,
            _ => 0,
        };
        Self::COLUMNS.iter().zip(values).map(move |(c, v)| report(c.unit, *v, k))
    }
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

impl Distribution {
    /// This distribution as it leaves the engine: a money distribution (unit `cents`)
    /// in genesis currency units after `redenominations`, anything else as it is.
    pub fn reported(&self, redenominations: i64) -> Distribution {
        if self.unit != "cents" {
            return self.clone();
        }
        let g = |x: f64| genesis_units(x, redenominations);
        Distribution {
            name: self.name.clone(),
            unit: Unit::Money.label().into(),
            count: self.count,
            mean: g(self.mean),
            min: g(self.min),
            p10: g(self.p10),
            p50: g(self.p50),
            p90: g(self.p90),
            max: g(self.max),
            histogram: Histogram {
                lo: g(self.histogram.lo),
                hi: g(self.histogram.hi),
                counts: self.histogram.counts.clone(),
            },
        }
    }
}

/// A [`Telemetry`] as it leaves the engine (serialised for the WebSocket): its fields,
/// with the indicators and distributions [`Indicators::reported`].
pub struct Reported<'a>(pub &'a Telemetry);

impl Serialize for Reported<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        struct Values<'a>(&'a Indicators);
        impl Serialize for Values<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(Some(Indicators::FIELDS.len()))?;
                for ((name, _), value) in Indicators::FIELDS.iter().zip(self.0.reported()) {
                    match value {
                        IndicatorValue::Int(i) => map.serialize_entry(name, &i)?,
                        IndicatorValue::Real(x) => map.serialize_entry(name, &x)?,
                    }
                }
                map.end()
            }
        }
        let t = self.0;
        let k = t.indicators.redenominations;
        let distributions: Vec<Distribution> = t.distributions.iter().map(|d| d.reported(k)).collect();
        let mut map = serializer.serialize_map(Some(5))?;
        map.serialize_entry("tick", &t.tick)?;
        map.serialize_entry("model", &t.model)?;
        map.serialize_entry("registry_version", &t.registry_version)?;
        map.serialize_entry("indicators", &Values(&t.indicators))?;
        map.serialize_entry("distributions", &distributions)?;
        map.end()
    }
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
