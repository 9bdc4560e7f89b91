//! The calibration's evaluator: each batch's simulations on `jobs` threads, every
//! finished point handed to the caller (which stores it) as it completes, and the
//! points stored by an interrupted run replayed instead of simulated again.
//!
//! Simulations are numbered in the order the search asks for them (evaluation by
//! evaluation, seed by seed), so the numbering, like every number, is the same for any
//! `--jobs` and across a resume.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use nalgebra::DMatrix;
use watchtower_runner::session::Stop;

use crate::calibrate::search::{Evaluation, Evaluator, Halt, Kind, Request};
use crate::calibrate::simulate::{Simulated, simulate};
use crate::calibrate::spec::CalibrationSpec;

/// A finished evaluation and the number of its first simulation.
pub type Done<'a> = dyn FnMut(&Evaluation, u64) -> Result<(), String> + 'a;

/// Runs batches on a pool of threads.
pub struct Pool<'a> {
    spec: &'a CalibrationSpec,
    jobs: usize,
    stop: &'a Stop,
    stored: BTreeMap<u64, Evaluation>,
    next: u64,
    next_simulation: u64,
    loss: Option<(Vec<f64>, DMatrix<f64>)>,
    done: &'a mut Done<'a>,
}

impl<'a> Pool<'a> {
    /// A pool of `jobs` threads; `stored` are the evaluations of an interrupted run
    /// (by index); `done` is called for each evaluation this pool simulates.
    pub fn new(
        spec: &'a CalibrationSpec,
        jobs: usize,
        stop: &'a Stop,
        stored: BTreeMap<u64, Evaluation>,
        done: &'a mut Done<'a>,
    ) -> Self {
        Pool { spec, jobs: jobs.max(1), stop, stored, next: 0, next_simulation: 0, loss: None, done }
    }
}

/// The loss of `e`'s mean moments, once the target and the weighting are known.
fn loss_of(known: &Option<(Vec<f64>, DMatrix<f64>)>, e: &Evaluation) -> f64 {
    known.as_ref().map_or(f64::NAN, |(target, w)| e.loss_with(target, w))
}

/// The scenario of request `r` with `seed`.
fn scenario(spec: &CalibrationSpec, r: &Request, seed: u64) -> watchtower_runner::scenario::Scenario {
    match r.kind {
        Kind::Target => spec.target_scenario().expect("a target run has a synthetic target"),
        _ => {
            let values: Vec<f64> = spec.free.iter().zip(&r.unit).map(|(f, u)| f.value(*u)).collect();
            spec.point_scenario(&values, seed)
        }
    }
}

impl Evaluator for Pool<'_> {
    fn set_loss(&mut self, target: Vec<f64>, weights: DMatrix<f64>) {
        self.loss = Some((target, weights));
    }

    fn stop(&self) -> Option<&Stop> {
        Some(self.stop)
    }

    fn batch(&mut self, requests: Vec<Request>) -> Result<Vec<Evaluation>, Halt> {
        let m = self.spec.moments.len();
        let first = self.next;
        let mut starts = Vec::with_capacity(requests.len());
        let mut out: Vec<Option<Evaluation>> = vec![None; requests.len()];
        for (i, r) in requests.iter().enumerate() {
            let index = first + i as u64;
            starts.push(self.next_simulation);
            self.next_simulation += r.seeds.len() as u64;
            if let Some(e) = self.stored.remove(&index) {
                if e.kind != r.kind || e.unit != r.unit || e.seeds != r.seeds {
                    return Err(Halt::Error(format!(
                        "stored evaluation {index} is not the one this calibration asks for: the spec or Watchtower's version changed since it was stored"
                    )));
                }
                out[i] = Some(e);
            }
        }
        self.next += requests.len() as u64;
        let jobs: Vec<(usize, usize)> = requests
            .iter()
            .enumerate()
            .filter(|(i, _)| out[*i].is_none())
            .flat_map(|(i, r)| (0..r.seeds.len()).map(move |k| (i, k)))
            .collect();
        let mut pending: Vec<Vec<Option<Vec<f64>>>> = requests.iter().map(|r| vec![None; r.seeds.len()]).collect();
        let taken = AtomicUsize::new(0);
        let (tx, rx) = crossbeam_channel::unbounded::<(usize, usize, Vec<f64>)>();
        let threads = self.jobs.min(jobs.len().max(1));
        let mut halt = None;
        let (spec, stop, known) = (self.spec, self.stop, &self.loss);
        let done = &mut *self.done;
        std::thread::scope(|scope| {
            for _ in 0..threads {
                let tx = tx.clone();
                let (jobs, taken, requests) = (&jobs, &taken, &requests);
                scope.spawn(move || {
                    while !stop.requested() {
                        let Some(&(i, k)) = jobs.get(taken.fetch_add(1, Ordering::SeqCst)) else { break };
                        let r = &requests[i];
                        let moments = match simulate(spec, &scenario(spec, r, r.seeds[k]), Some(stop)) {
                            Simulated::Moments(v) => v,
                            Simulated::Failed(_) => vec![f64::NAN; m],
                            Simulated::Stopped => break,
                        };
                        if tx.send((i, k, moments)).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(tx);
            for (i, k, moments) in rx.iter() {
                if halt.is_some() {
                    continue;
                }
                pending[i][k] = Some(moments);
                if pending[i].iter().all(Option::is_some) {
                    let r = &requests[i];
                    let mut e = Evaluation {
                        index: first + i as u64,
                        kind: r.kind,
                        unit: r.unit.clone(),
                        seeds: r.seeds.clone(),
                        per_seed: pending[i].iter_mut().map(|s| s.take().expect("complete")).collect(),
                        loss: f64::NAN,
                    };
                    e.loss = loss_of(known, &e);
                    if let Err(error) = done(&e, starts[i]) {
                        halt = Some(Halt::Error(error));
                        stop.request();
                    }
                    out[i] = Some(e);
                }
            }
        });
        if let Some(h) = halt {
            return Err(h);
        }
        if out.iter().any(Option::is_none) {
            return Err(Halt::Stopped);
        }
        // A replayed evaluation's loss is computed again, as the uninterrupted run did.
        let mut out: Vec<Evaluation> = out.into_iter().map(|e| e.expect("complete")).collect();
        for e in &mut out {
            e.loss = loss_of(&self.loss, e);
        }
        Ok(out)
    }
}
