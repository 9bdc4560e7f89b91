//! What a calibration says: the `--json` object and the text a person reads.

use std::fmt::Write;

use crate::calibrate::search::Outcome;
use crate::calibrate::spec::CalibrationSpec;

fn number(x: f64) -> serde_json::Value {
    serde_json::Number::from_f64(x).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

/// `{id, name, estimates, std_errors, intervals (90%), simulations, evaluations, loss,
/// moments: [{name, target, model, se, t}], j_test: {statistic, df, p_value,
/// covariance_samples, hartlap}, weighting: {name, covariance_samples, hartlap}, warnings,
/// method}`; a standard error that is infinite (an unidentified parameter) is `null`,
/// and so is `weighting.hartlap` for a weighting that inverts no covariance.
pub fn to_json(id: i64, spec: &CalibrationSpec, o: &Outcome) -> serde_json::Value {
    let u = &o.uncertainty;
    let by_key = |f: &dyn Fn(usize) -> serde_json::Value| -> serde_json::Value {
        spec.free.iter().enumerate().map(|(j, fr)| (fr.key.clone(), f(j))).collect::<serde_json::Map<_, _>>().into()
    };
    serde_json::json!({
        "id": id,
        "name": spec.base.name,
        "estimates": by_key(&|j| number(o.estimates[j])),
        "std_errors": by_key(&|j| number(u.std_errors[j])),
        "intervals": by_key(&|j| serde_json::json!([number(u.intervals[j].0), number(u.intervals[j].1)])),
        "interval_level": 0.9,
        "simulations": o.simulations,
        "evaluations": o.evaluations.len(),
        "loss": number(o.loss),
        "moments": u.moments.iter().map(|m| serde_json::json!({
            "name": m.name, "target": number(m.target), "model": number(m.model), "se": number(m.se), "t": number(m.t),
        })).collect::<Vec<_>>(),
        "j_test": u.j_test.as_ref().map(|j| serde_json::json!({
            "statistic": number(j.statistic), "df": j.df, "p_value": number(j.p_value),
            "covariance_samples": j.covariance_samples, "hartlap": number(j.hartlap),
        })),
        "weighting": {
            "name": spec.weighting.name(),
            "covariance_samples": o.weights.covariance_samples,
            "hartlap": o.weights.hartlap.map_or(serde_json::Value::Null, number),
        },
        "warnings": u.warnings,
        "method": format!(
            "method of simulated moments, {} weighting, {} seeds a point (common random numbers); {}; standard errors by the sandwich with the (1 + 1/S) simulation correction; {}",
            spec.weighting.name(), spec.ensemble, o.estimate.describe(), o.jacobian.describe()
        ),
    })
}

/// The estimate, the moment table, the J test and the warnings, as text.
pub fn text(spec: &CalibrationSpec, o: &Outcome) -> String {
    let u = &o.uncertainty;
    let mut s = String::new();
    let _ = writeln!(s, "{:<34} {:>12} {:>12} {:>27}", "parameter", "estimate", "std. error", "90% interval");
    for (j, f) in spec.free.iter().enumerate() {
        let _ = writeln!(
            s,
            "{:<34} {:>12.5} {:>12.5} {:>27}",
            f.key,
            o.estimates[j],
            u.std_errors[j],
            format!("[{:.5}, {:.5}]", u.intervals[j].0, u.intervals[j].1)
        );
    }
    let _ = writeln!(s, "\n{:<42} {:>12} {:>12} {:>12} {:>7}", "moment", "target", "model", "se", "t");
    for m in &u.moments {
        let _ = writeln!(s, "{:<42} {:>12.6} {:>12.6} {:>12.6} {:>7.2}", m.name, m.target, m.model, m.se, m.t);
    }
    match &u.j_test {
        Some(j) => {
            let _ = writeln!(
                s,
                "\nJ test: J = {:.3} on {} degrees of freedom, p = {:.3} (Σ from {} samples, its inverse × {:.4}, Hartlap's factor)",
                j.statistic, j.df, j.p_value, j.covariance_samples, j.hartlap
            );
        }
        None => {
            let _ = writeln!(s, "\nJ test: none (as many moments as parameters)");
        }
    }
    if let Some(h) = o.weights.hartlap {
        let _ = writeln!(
            s,
            "weighting: the inverse covariance of {} bootstrap draws × {h:.4}, Hartlap's factor",
            o.weights.covariance_samples
        );
    }
    let _ = writeln!(
        s,
        "{} simulations, {} evaluations, loss at the estimate {:.4}",
        o.simulations,
        o.evaluations.len(),
        o.loss
    );
    for w in &u.warnings {
        let _ = writeln!(s, "{w}");
    }
    s
}
