//! An experiment's closing report, in words: how many runs ended in each of Mark-0's
//! economic phases, how many failed, and for a small grid each point's means (and a
//! fork's effects) with their 95% intervals. The CLI prints it after a run and a merge.

use watchtower_runner::EconomicPhase;

use crate::spec::show;
use crate::table::{ExperimentTable, Interval};

/// The most grid points whose means the report lists one by one.
const POINTS_LISTED: usize = 12;

/// How many runs ended in each economic phase (FU, RU, EC, FE, in that order).
pub fn phase_counts(table: &ExperimentTable) -> [(EconomicPhase, usize); 4] {
    let mut counts = EconomicPhase::ALL.map(|p| (p, 0));
    for s in table.summaries() {
        if let Some(slot) = s.baseline.phase.and_then(|phase| counts.iter_mut().find(|(p, _)| *p == phase)) {
            slot.1 += 1;
        }
    }
    counts
}

/// The report's lines, each indented by two spaces.
pub fn lines(table: &ExperimentTable) -> Vec<String> {
    let spec = table.spec();
    let mut out = Vec::new();
    let counts = phase_counts(table);
    if counts.iter().map(|(_, n)| n).sum::<usize>() > 0 {
        let each: Vec<String> = counts.iter().map(|(p, n)| format!("{} {n}", p.code())).collect();
        out.push(format!("  phases of the runs: {}", each.join(", ")));
    }
    let failed = table.summaries().filter(|s| s.error.is_some()).count();
    if failed > 0 {
        out.push(format!("  {failed} run(s) stopped with an engine error (column `error`)"));
    }
    if spec.design != crate::design::Design::Grid {
        let what = if matches!(spec.design, crate::design::Design::Morris(_)) {
            "the Morris measures"
        } else {
            "the Sobol indices"
        };
        out.push(format!("  which parameter matters: `watchtower sensitivity ID` gives {what}"));
        return out;
    }
    let points = table.points();
    if points.len() > POINTS_LISTED || points.is_empty() {
        return out;
    }
    let interval = |i: &Interval| {
        if i.lo.is_finite() { format!("{:.6} [{:.6}, {:.6}]", i.mean, i.lo, i.hi) } else { format!("{:.6}", i.mean) }
    };
    for p in &points {
        let at: Vec<String> = spec.axes.iter().zip(&p.values).map(|(a, v)| format!("{}={}", a.key, show(v))).collect();
        let phase = p.phase.map_or("", |p| p.code());
        out.push(format!(
            "  point {}{}{}: {} runs {phase}",
            p.point,
            if at.is_empty() { "" } else { " " },
            at.join(" "),
            p.runs
        ));
        for (ind, m) in spec.indicators.iter().zip(&p.means) {
            out.push(format!("    {ind:<22} mean {}", interval(m)));
        }
        for (ind, m) in spec.indicators.iter().zip(&p.effects) {
            out.push(format!("    {ind:<22} effect (branch − baseline) {}", interval(m)));
        }
    }
    out
}
