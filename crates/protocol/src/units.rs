//! Units: what each indicator is measured in, and the one conversion of the ledger's
//! cents into the unit money leaves the engine in.
//!
//! Inside the ledger money is integer cents of the *current* unit of account, which a
//! redenomination changes by a power of ten (docs/MODEL.md §4): one current cent is worth
//! 10^k genesis cents after k net redenominations. A series of raw cents therefore falls
//! tenfold at every redenomination, although nothing economic happened. Every nominal
//! value that leaves the engine (telemetry, history, exports, summaries, the Python
//! module) is instead expressed in the **genesis currency unit**, as a float:
//!
//! ```text
//! value = cents × 10^redenominations / 100
//! ```
//!
//! computed here, in [`genesis_units`], and nowhere else. Runs that redenominated at
//! different ticks then compare directly. The raw cents stay in the database's `ticks`
//! table with the count `redenominations` beside them, for audit.

use serde::{Deserialize, Serialize};

/// What an indicator is measured in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// A stock of money, in genesis currency units.
    Money,
    /// Money that flowed during one tick, in genesis currency units.
    MoneyPerTick,
    /// The average price, in genesis currency's model units per unit of output (about 1
    /// at genesis).
    Price,
    /// A rate per tick (inflation, interest): compounds to an annual rate over
    /// `economy.ticks_per_year` ticks.
    RatePerTick,
    /// A share between 0 and 1.
    Share,
    /// A number of agents.
    Count,
    /// A number of events during one tick.
    CountPerTick,
    /// Full-time-worker equivalents of production.
    Workers,
    /// A dimensionless coefficient.
    Ratio,
    /// A base-10 logarithm.
    Log10,
    /// Net redenominations of the ledger's unit (each divides every balance by ten).
    Redenominations,
    /// Integer cents of the ledger's current unit, for audit (the books' check).
    LedgerCents,
}

impl Unit {
    /// How the unit reads in metadata and on the page.
    pub const fn label(self) -> &'static str {
        match self {
            Unit::Money => "genesis currency units",
            Unit::MoneyPerTick => "genesis currency units per tick",
            Unit::Price => "genesis model units of money per unit of output",
            Unit::RatePerTick => "rate per tick",
            Unit::Share => "share (0 to 1)",
            Unit::Count => "count",
            Unit::CountPerTick => "count per tick",
            Unit::Workers => "full-time-worker equivalents",
            Unit::Ratio => "ratio",
            Unit::Log10 => "log10",
            Unit::Redenominations => "redenominations (×10 each)",
            Unit::LedgerCents => "cents of the ledger's current unit",
        }
    }

    /// The unit's name in machine-readable metadata (`money`, `rate_per_tick`, …).
    pub fn key(self) -> &'static str {
        match self {
            Unit::Money => "money",
            Unit::MoneyPerTick => "money_per_tick",
            Unit::Price => "price",
            Unit::RatePerTick => "rate_per_tick",
            Unit::Share => "share",
            Unit::Count => "count",
            Unit::CountPerTick => "count_per_tick",
            Unit::Workers => "workers",
            Unit::Ratio => "ratio",
            Unit::Log10 => "log10",
            Unit::Redenominations => "redenominations",
            Unit::LedgerCents => "ledger_cents",
        }
    }

    /// A nominal value, which the ledger's unit changes and [`genesis_units`] converts.
    pub fn is_nominal(self) -> bool {
        matches!(self, Unit::Money | Unit::MoneyPerTick | Unit::Price)
    }
}

/// The exact powers of ten a double holds (10²² is the largest).
const POWERS: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

/// x·10^e, correctly rounded while 10^|e| is exact (|e| ≤ 22: a division for e < 0,
/// so 1 cent is exactly the double nearest 0.01).
fn scale(x: f64, e: i64) -> f64 {
    match usize::try_from(e.unsigned_abs()) {
        Ok(n) if n < POWERS.len() => {
            if e >= 0 {
                x * POWERS[n]
            } else {
                x / POWERS[n]
            }
        }
        _ => x * 10f64.powi(e.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32),
    }
}

/// Cents of the ledger's unit after `redenominations` net redenominations, in genesis
/// currency units: cents × 10^redenominations / 100. The one conversion of money.
pub fn genesis_units(cents: f64, redenominations: i64) -> f64 {
    scale(cents, redenominations.saturating_sub(2))
}

/// A price in the ledger's current unit, in genesis units: price × 10^redenominations.
pub fn genesis_price(price: f64, redenominations: i64) -> f64 {
    scale(price, redenominations)
}

/// How money reads in every output, said once for metadata and sidecars.
pub const MONEY_NOTE: &str = "Money is in genesis currency units (a float): the ledger's integer cents \
     × 10^redenominations / 100, so no series jumps when the ledger redenominates (divides every \
     balance by ten). The raw cents of the ledger's current unit are kept, with the count \
     `redenominations`, in the database's `ticks` table, for audit.";

/// The time mapping as metadata: how many ticks make a year and how rates read.
pub fn time_metadata(ticks_per_year: f64) -> serde_json::Value {
    serde_json::json!({
        "ticks_per_year": ticks_per_year,
        "setting": "economy.ticks_per_year",
        "rates": "rates are per tick; the annual rate is (1 + r)^ticks_per_year - 1",
        "years": "year = tick / ticks_per_year",
    })
}

/// One column's metadata: its name, unit (label and key) and description.
pub fn column_metadata(name: &str, unit: Unit, description: &str) -> serde_json::Value {
    serde_json::json!({ "name": name, "unit": unit.label(), "unit_key": unit.key(), "description": description })
}

/// The metadata of a table of ticks (`tick`, then every indicator as reported): what a
/// CSV export's sidecar says, with the run it came from (`run`, any JSON) beside it.
pub fn tick_table_metadata(ticks_per_year: f64, run: serde_json::Value) -> serde_json::Value {
    let mut columns = vec![serde_json::json!({
        "name": "tick",
        "unit": "tick",
        "unit_key": "tick",
        "description": "The tick a row closes (0 is the first tick after genesis).",
    })];
    columns.extend(crate::Indicators::COLUMNS.iter().map(|c| column_metadata(c.name, c.unit, &c.describe())));
    serde_json::json!({
        "format": "watchtower ticks",
        "watchtower_version": env!("CARGO_PKG_VERSION"),
        "run": run,
        "time": time_metadata(ticks_per_year),
        "money": MONEY_NOTE,
        "columns": columns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cents_become_genesis_units_across_redenominations() {
        assert_eq!(genesis_units(123.0, 0), 1.23);
        assert_eq!(genesis_units(1.0, 0), 0.01);
        // One cent after two redenominations is worth 100 genesis cents: 1 unit.
        assert_eq!(genesis_units(1.0, 2), 1.0);
        assert_eq!(genesis_units(5.0, 3), 50.0);
        // A rescale up (k < 0) goes the other way.
        assert_eq!(genesis_units(1000.0, -1), 1.0);
        // The same money before and after a redenomination reads the same.
        assert_eq!(genesis_units(1_234_560.0, 4), genesis_units(123_456.0, 5));
        assert_eq!(genesis_price(2.5, 3), 2500.0);
        assert!(genesis_units(i64::MAX as f64, 400).is_infinite());
    }
}
