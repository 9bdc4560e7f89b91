//! What phase 8 captures, and the marks a profiler may watch inside a tick.
//!
//! Most indicators are sums the engine gets almost for free; a few are not: the Gini
//! coefficients need their population in order (a sort of every household's wealth, of
//! every income) and the distributions need the same plus their quantiles and
//! histograms. A [`Capture`] says which of those a run's consumers read, so a run that
//! reads only a few summaries (an experiment) does not pay for the rest. A run that
//! stores its ticks or is replayed needs everything ([`Capture::FULL`], the default).
//!
//! [`Mark`] is how a caller can time a tick's parts without the engine reading a clock:
//! the simulation calls a probe at each mark and the caller reads its own clock there
//! (`watchtower bench profile`).

use watchtower_protocol::Indicators;

use crate::phase::Phase;

/// Which indicators and distributions a tick's telemetry must hold.
///
/// Indicators that are not asked for and cost more than a pass over the agents (today
/// `gini_wealth` and `gini_income`) are left at 0, and the distributions are left empty
/// unless asked for; every other indicator is always filled in, since it costs next to
/// nothing. The telemetry keeps its shape either way. Capture never changes a number
/// of the economy: it only decides what is read off it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Capture {
    /// Bit `i` set: [`Indicators::FIELDS`]`[i]` is wanted.
    indicators: u64,
    distributions: bool,
}

/// An indicator name that [`Indicators`] does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an indicator")]
pub struct UnknownIndicator(pub String);

const ALL_INDICATORS: u64 = if Indicators::FIELDS.len() == 64 { u64::MAX } else { (1 << Indicators::FIELDS.len()) - 1 };

const _: () = assert!(Indicators::FIELDS.len() <= 64, "a Capture holds one bit per indicator");

impl Capture {
    /// Every indicator and every distribution: what a stored, watched or replayed run needs.
    pub const FULL: Capture = Capture { indicators: ALL_INDICATORS, distributions: true };
    /// Every indicator, no distribution.
    pub const INDICATORS: Capture = Capture { indicators: ALL_INDICATORS, distributions: false };
    /// Nothing beyond the indicators that are always filled in.
    pub const NONE: Capture = Capture { indicators: 0, distributions: false };

    /// These indicators (by their [`Indicators::FIELDS`] names), no distribution.
    pub fn only(names: &[&str]) -> Result<Capture, UnknownIndicator> {
        let mut indicators = 0;
        for name in names {
            let index = index_of(name).ok_or_else(|| UnknownIndicator((*name).to_string()))?;
            indicators |= 1 << index;
        }
        Ok(Capture { indicators, distributions: false })
    }

    /// The same, with the distributions.
    pub fn with_distributions(self) -> Capture {
        Capture { distributions: true, ..self }
    }

    /// What either wants.
    pub fn union(self, other: Capture) -> Capture {
        Capture {
            indicators: self.indicators | other.indicators,
            distributions: self.distributions || other.distributions,
        }
    }

    /// Whether the indicator `name` is wanted (false for a name that is not an indicator).
    pub fn wants(&self, name: &str) -> bool {
        index_of(name).is_some_and(|i| self.indicators & (1 << i) != 0)
    }

    /// Whether the distributions are wanted.
    pub fn distributions(&self) -> bool {
        self.distributions
    }

    /// Whether everything is wanted.
    pub fn is_full(&self) -> bool {
        *self == Capture::FULL
    }
}

impl Default for Capture {
    /// [`Capture::FULL`].
    fn default() -> Self {
        Capture::FULL
    }
}

fn index_of(name: &str) -> Option<usize> {
    Indicators::FIELDS.iter().position(|(field, _)| *field == name)
}

/// A point inside a tick, passed to a probe (see [`crate::Simulation::set_probe`]). A
/// part of the tick lasts from its mark to the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mark {
    /// A phase starts: phase 0 (its hooks and the commands), or a model phase (1–7).
    Phase(Phase),
    /// The books check after a model phase starts.
    Books(Phase),
    /// A phase's hooks start.
    Hooks(Phase),
    /// Phase 8 starts: the telemetry is captured.
    Capture,
    /// Inside the capture, the statistics start: the populations ordered for the Gini
    /// coefficients, the quantiles and histograms of the distributions.
    Statistics,
    /// The tick is over.
    Done,
}

/// Called at every [`Mark`] of a tick (by the thread running the tick).
pub type Probe = Box<dyn FnMut(Mark) + Send>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_combine() {
        let a = Capture::only(&["gini_wealth", "unemployment_rate"]).unwrap();
        assert!(a.wants("gini_wealth") && !a.wants("gini_income") && !a.distributions());
        let b = Capture::only(&["gini_income"]).unwrap().with_distributions();
        let u = a.union(b);
        assert!(u.wants("gini_wealth") && u.wants("gini_income") && u.distributions());
        assert!(!u.is_full());
        assert!(Capture::INDICATORS.union(Capture::NONE.with_distributions()).is_full());
        assert_eq!(Capture::only(&["gdp", "nope"]), Err(UnknownIndicator("nope".into())));
        assert!(Capture::FULL.wants("money_drift") && !Capture::NONE.wants("gdp"));
    }
}
