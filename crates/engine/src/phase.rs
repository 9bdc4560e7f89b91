//! The nine phases of a tick (DESIGN.md §2).

use std::fmt;

/// One phase of a tick, in execution order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// Apply queued commands to the registry.
    Intercept = 0,
    /// Moving averages, expected inflation, financial fragility.
    Expect = 1,
    /// Defaults; production, price and wage decisions; hiring and firing; bank rates.
    Firms = 2,
    /// Firms pay wages.
    Wages = 3,
    /// The government collects income and corporate taxes.
    Tax = 4,
    /// The government pays benefits and places its purchases.
    Welfare = 5,
    /// Households consume; sales and dividends are settled.
    Market = 6,
    /// Revival, redenomination, policy rate; the books are checked.
    Settle = 7,
    /// Telemetry is captured from the settled state and published.
    Broadcast = 8,
}

impl Phase {
    /// All phases in order.
    pub const ALL: [Phase; 9] = [
        Phase::Intercept,
        Phase::Expect,
        Phase::Firms,
        Phase::Wages,
        Phase::Tax,
        Phase::Welfare,
        Phase::Market,
        Phase::Settle,
        Phase::Broadcast,
    ];

    /// The phases a model fills (1–7).
    pub const MODEL: [Phase; 7] =
        [Phase::Expect, Phase::Firms, Phase::Wages, Phase::Tax, Phase::Welfare, Phase::Market, Phase::Settle];

    /// The phase's name.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Intercept => "intercept",
            Phase::Expect => "expect",
            Phase::Firms => "firms",
            Phase::Wages => "wages",
            Phase::Tax => "tax",
            Phase::Welfare => "welfare",
            Phase::Market => "market",
            Phase::Settle => "settle",
            Phase::Broadcast => "broadcast",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "phase {} ({})", *self as u8, self.name())
    }
}
