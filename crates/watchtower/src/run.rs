//! `watchtower run`: the economy headless, as fast as it goes, every tick persisted.

use std::io::{BufWriter, IsTerminal};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use watchtower_engine::{ModelKind, Simulation};
use watchtower_protocol::{Telemetry, TickRecord};
use watchtower_store::{Format, RunStatus, TickWriter, Writer, WriterOptions};

use crate::error::AppError;
use crate::lock::DirLock;
use crate::settings::{DataDirArg, EconomyArgs, money};
use crate::shutdown::Shutdown;
use crate::summary::Summary;

/// Arguments of `watchtower run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub economy: EconomyArgs,
    /// Ticks to run.
    #[arg(long)]
    pub ticks: u64,
    #[command(flatten)]
    pub data: DataDirArg,
    /// Do not persist: the engine alone (for comparisons and quick experiments).
    #[arg(long)]
    pub no_store: bool,
    /// Also write every tick's indicators to FILE (.csv, or .jsonl for JSON lines).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Format of --out when its extension does not say.
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `csv` or `jsonl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    /// Comma-separated, header row first.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Csv => Format::Csv,
            FormatArg::Jsonl => Format::Jsonl,
        }
    }
}

/// How often progress is reported when stderr is not a terminal.
const PLAIN_PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// Runs the economy for `--ticks` ticks (or until SIGINT/SIGTERM).
pub fn run(args: RunArgs, shutdown: &Shutdown) -> Result<(), AppError> {
    let registry = args.economy.registry()?;
    let spec = args.economy.spec();
    let mut out = match &args.out {
        Some(path) => {
            let format = args
                .format
                .map(Format::from)
                .or_else(|| Format::from_path(path))
                .ok_or_else(|| AppError::Usage(format!("--out {}: say --format csv or jsonl", path.display())))?;
            let file = crate::outputs::create(path, &args.data.data_dir)?;
            Some(TickWriter::new(BufWriter::new(file), format))
        }
        None => None,
    };
    // The lock first: a second instance must fail before it opens any database connection.
    let lock = if args.no_store { None } else { Some(DirLock::acquire(&args.data.data_dir)?) };
    let writer = match lock {
        Some(_) => {
            Some(Writer::start(&args.data.database(), &args.economy.run_info(&registry), WriterOptions::default())?)
        }
        None => None,
    };
    let sender = writer.as_ref().map(Writer::sender);
    let mut sim = match Simulation::new(spec.clone(), registry) {
        Ok(sim) => sim,
        Err(e) => {
            if let Some(w) = writer {
                w.finish(RunStatus::Failed, Some(e.to_string()))?;
            }
            return Err(e.into());
        }
    };

    let mut progress = Progress::new(args.ticks);
    let mut summary = Summary::new(spec.model);
    let started = Instant::now();
    let mut failure = None;
    while sim.tick() < args.ticks && !shutdown.requested() {
        match sim.step() {
            Ok(outcome) => {
                let telemetry = outcome.telemetry;
                summary.add(&telemetry);
                if let Some(out) = out.as_mut() {
                    out.write(telemetry.tick, telemetry.indicators.values())?;
                }
                progress.update(&telemetry);
                if let Some(sender) = &sender
                    && sender.send(TickRecord { telemetry: Some(telemetry), audit: Vec::new() }).is_err()
                {
                    // The writer stopped; finishing it below reports why (a full disk, say).
                    break;
                }
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let elapsed = started.elapsed();
    let ran = sim.tick();
    progress.finish(ran);

    let (status, error) = match &failure {
        Some(e) => (RunStatus::Failed, Some(e.to_string())),
        None if ran < args.ticks => (RunStatus::Interrupted, None),
        None => (RunStatus::Finished, None),
    };
    let stored = match writer {
        Some(w) => Some(w.finish(status, error)?),
        None => None,
    };
    if let Some(out) = out {
        out.finish()?;
    }
    drop(lock);

    if args.json {
        say!("{}", summary.to_json(ran, elapsed, stored.as_ref().map(|r| r.run_id)));
    } else {
        let place = match &stored {
            Some(r) => format!("run {} in {}", r.run_id, args.data.database().display()),
            None => "not stored (--no-store)".into(),
        };
        say!("{}", summary.table(ran, elapsed, status.as_str(), &place, args.out.as_deref()));
    }
    if let (Some(last), ModelKind::Mark0) = (sim.telemetry(), spec.model) {
        tracing::debug!(debt = %money(last.indicators.government_debt), "final government debt");
    }
    failure.map_or(Ok(()), |e| Err(e.into()))
}

/// Progress on stderr: a bar on a terminal, a plain line every second otherwise.
struct Progress {
    bar: Option<ProgressBar>,
    total: u64,
    last_line: Instant,
    last_tick: u64,
}

impl Progress {
    fn new(total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template("{bar:40} {pos}/{len} ticks  {per_sec}  eta {eta}  {msg}")
                    .expect("valid template"),
            );
            bar
        });
        Self { bar, total, last_line: Instant::now(), last_tick: 0 }
    }

    fn update(&mut self, t: &Telemetry) {
        let headline = match t.model.as_str() {
            "mark0" => format!("unemployment {:.1}%", 100.0 * t.indicators.unemployment_rate),
            _ => format!("Gini {:.3}", t.indicators.gini_wealth),
        };
        match &self.bar {
            Some(bar) => {
                bar.set_position(t.tick + 1);
                if t.tick.is_multiple_of(64) {
                    bar.set_message(headline);
                }
            }
            None if self.last_line.elapsed() >= PLAIN_PROGRESS_EVERY => {
                let rate = (t.tick - self.last_tick) as f64 / self.last_line.elapsed().as_secs_f64();
                let share = 100.0 * (t.tick + 1) as f64 / self.total.max(1) as f64;
                eprintln!("tick {} of {} ({share:.1}%), {rate:.0} ticks/s, {headline}", t.tick, self.total);
                self.last_line = Instant::now();
                self.last_tick = t.tick;
            }
            None => {}
        }
    }

    fn finish(&self, ran: u64) {
        match &self.bar {
            Some(bar) => bar.finish_and_clear(),
            None => eprintln!("ran {ran} ticks"),
        }
    }
}
