//! Calibration: the method of simulated moments, searched within a budget of
//! simulations, with the uncertainty of its result.
//!
//! ```text
//! spec (YAML, checked) ─> target moments (a synthetic run, or data and its bootstrap)
//!     └─ search: batches, each a pure function of the spec and the batches before it
//!          scrambled Sobol start ─> Gaussian-process expected improvement ─> Nelder–Mead
//!          every point on the same ensemble seeds (common random numbers)
//!     └─ estimate: the minimum of the moments' local linear fit around the best point;
//!          Σ there, the Jacobian by the same regression (or differences) ─> sandwich
//!          (with the fit's error), J test, table
//! ```

pub mod data;
pub mod estimate;
pub mod evaluate;
pub mod jacobian;
pub mod lifecycle;
pub mod moments;
pub mod plot;
pub mod refine;
pub mod report;
pub mod search;
pub mod simulate;
pub mod spec;
pub mod store;
pub mod surrogate;
pub mod table;
pub mod view;

pub use spec::CalibrationSpec;
