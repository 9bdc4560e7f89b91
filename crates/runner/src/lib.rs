//! Watchtower's one way to run a simulation.
//!
//! ```text
//! Scenario ──build──> Simulation ──> Session::run(driver, sinks)
//!                                      │  the one tick loop
//!                                      ├─ Driver: Headless (as fast as it goes) | Live (bridge, pace, pause)
//!                                      └─ Sinks:  Recorder (store) | Publisher (bridge) | TickFile | Progress
//!                                                 RunReport | Compare (replay) | FeatureTap (embedding map)
//! ```
//!
//! - [`scenario`]: everything that determines a run, from flags, files or a stored run.
//! - [`schedule`]: commands applied at given ticks.
//! - [`session`]: the tick loop and its drivers; [`sink`]: what it hands ticks to;
//!   [`cycle`]: the words both share (a cycle, a pending command, how a run ended).
//! - [`live`]: the live driver; [`publisher`]: its sink, into the bridge;
//!   [`live_engine`]: `serve`'s engine thread (genesis or a resumed run, the live loop, failures said to the bridge);
//!   [`embedding`]: the background map.
//! - [`replay`]: a recorded run, rebuilt and compared.
//! - [`report`]: a run's closing report and Mark-0's economic phases.
//! - [`workers`]: threads lent to the engine.
//! - [`branches`]: what-if branches in lockstep with the main run; [`live_branches`]:
//!   forks and drops asked for through the bridge; [`paired`]: a baseline and a branch
//!   side by side.
//! - [`checkpoints`]: the engine's state stored while a run is recorded; [`resume`]: a
//!   recorded run rebuilt at a tick from its latest checkpoint, and `--resume` (found,
//!   rebuilt, its writer resumed).
//! - [`disk_guard`]: a live run warned about, then paused before, a full disk.
//!
//! The binary parses arguments and wires these together; the Python module and the
//! experiment crate (`watchtower-experiment`) use the same pieces.

pub mod branches;
pub mod checkpoints;
pub mod cycle;
pub mod disk_guard;
pub mod embedding;
pub mod forecast;
pub mod live;
pub mod live_branches;
pub mod live_engine;
pub mod paired;
pub mod progress;
pub mod publisher;
pub mod replay;
pub mod report;
pub mod resume;
pub mod scenario;
pub mod schedule;
pub mod session;
pub mod sink;
pub mod workers;

pub use report::{EconomicPhase, RunReport};
pub use scenario::{Scenario, ScenarioError};
pub use schedule::{Schedule, Scheduled};
pub use session::{Cycle, Driver, Ended, Finish, Headless, Next, Pending, RunError, Session, Stop};
pub use sink::{Flow, Sink, SinkError};
