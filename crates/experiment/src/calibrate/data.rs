//! Observed series as a calibration's target: a CSV, which column is which indicator,
//! its units, and how the model's ticks map onto one observation.
//!
//! ```yaml
//! target:
//!   data:
//!     file: data/us-macro-1959-2009.csv     # relative to the current directory
//!     ticks_per_observation: 3              # a tick is a month, an observation a quarter
//!     columns:
//!       unemployment_rate: {column: unemp, scale: 0.01, aggregate: mean}
//!       inflation: {column: infl, scale: 0.01, annualised: 4, log: true, aggregate: compound}
//!     skip: 1                               # data rows left out at the start (optional)
//!     bootstrap: {block: 8, samples: 500, seed: 1}   # optional; the defaults
//! ```
//!
//! `scale` multiplies the column (percent → fraction: 0.01); `annualised: n` turns an
//! annual rate into the rate of one observation, (1 + x)^(1/n) − 1, or e^(x/n) − 1 for
//! a continuously compounded (log) rate with `log: true` (statsmodels' `infl` is
//! 400·ln(cpi_t/cpi_{t−1})). The model's ticks
//! are aggregated the same way on both sides of the comparison: `mean` for a level
//! (unemployment), `compound` for a rate (inflation: Π(1 + r) − 1 over the ticks).
//!
//! The file is part of the calibration: the SHA-256 of its bytes is stored with it when
//! it starts ([`DataSpec::pin`]), and a resume or a replay that finds other bytes (or
//! none) under that name is refused, naming the file and both hashes, rather than fit
//! another target than the one its stored evaluations were scored against.

use marked_yaml::Node;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use watchtower_engine::RawValue;
use watchtower_engine::yaml::{Doc, raw_value};

use crate::calibrate::estimate::Covariance;
use crate::calibrate::moments::Moment;
use crate::spec::SpecError;

/// How ticks aggregate into one observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    /// The mean of the ticks (levels).
    Mean,
    /// Π(1 + r) − 1 over the ticks (rates).
    Compound,
}

/// One indicator's column.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// The indicator it is compared with.
    pub indicator: String,
    /// The CSV column's header.
    pub column: String,
    /// Multiplies the value.
    pub scale: f64,
    /// Observations per year of an annualised rate (1: as it is).
    pub annualised: f64,
    /// Whether the rate is continuously compounded (a log rate).
    pub log: bool,
    /// How the model's ticks aggregate into one observation.
    pub aggregate: Aggregate,
}

/// The `data:` block.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSpec {
    /// The CSV file.
    pub file: String,
    /// Ticks that make one observation.
    pub ticks_per_observation: u64,
    /// Data rows left out at the start.
    pub skip: usize,
    /// The columns.
    pub columns: Vec<Column>,
    /// Block length of the moving-block bootstrap (observations).
    pub block: usize,
    /// Bootstrap samples.
    pub samples: usize,
    /// The bootstrap's seed.
    pub seed: u64,
    /// The SHA-256 (lowercase hex) the file's bytes must have: the one stored with the
    /// calibration when it started; `None` for a spec just read, not yet pinned.
    pub sha256: Option<String>,
}

/// The SHA-256 of `bytes`, in lowercase hex.
pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The data read: one series per column, in the order of [`DataSpec::columns`].
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// Indicator names.
    pub indicators: Vec<String>,
    /// Their series, in per-observation units.
    pub series: Vec<Vec<f64>>,
}

impl DataSpec {
    /// Reads the block.
    pub fn read(doc: &Doc, node: &Node, _source: &str) -> Result<Self, SpecError> {
        let map = node.as_mapping().ok_or_else(|| {
            doc.error(node, "`data` is {file: …, ticks_per_observation: …, columns: {indicator: {column: …}}}")
        })?;
        let mut spec = DataSpec {
            file: String::new(),
            ticks_per_observation: 1,
            skip: 0,
            columns: Vec::new(),
            block: 8,
            samples: 500,
            seed: 1,
            sha256: None,
        };
        let whole = |n: &Node, key: &str, min: i64| match raw_value(n) {
            RawValue::Int(v) if v >= min && v <= 1_000_000 => Ok(v),
            _ => Err(doc.error(n, format!("data: `{key}` must be a whole number from {min} to 1000000"))),
        };
        for (k, v) in map.iter() {
            match k.as_str() {
                "file" => spec.file = v.as_scalar().map(|s| s.as_str().to_string()).unwrap_or_default(),
                "ticks_per_observation" => spec.ticks_per_observation = whole(v, "ticks_per_observation", 1)? as u64,
                "skip" => spec.skip = whole(v, "skip", 0)? as usize,
                "bootstrap" => {
                    let b =
                        v.as_mapping().ok_or_else(|| doc.error(v, "data: `bootstrap` is {block, samples, seed}"))?;
                    for (bk, bv) in b.iter() {
                        match bk.as_str() {
                            "block" => spec.block = whole(bv, "bootstrap.block", 1)? as usize,
                            "samples" => spec.samples = whole(bv, "bootstrap.samples", 20)? as usize,
                            "seed" => spec.seed = whole(bv, "bootstrap.seed", 0)? as u64,
                            other => {
                                return Err(doc.error(bv, format!("data.bootstrap: unknown field `{other}`")));
                            }
                        }
                    }
                }
                "columns" => {
                    let cols = v
                        .as_mapping()
                        .ok_or_else(|| doc.error(v, "data: `columns` is a map of indicator: {column: …}"))?;
                    for (ck, cv) in cols.iter() {
                        spec.columns.push(read_column(doc, ck.as_str(), cv)?);
                    }
                }
                other => {
                    return Err(doc.error(
                        &Node::Scalar(k.clone()),
                        format!(
                            "data: unknown field `{other}`; it takes file, ticks_per_observation, columns, bootstrap"
                        ),
                    ));
                }
            }
        }
        if spec.file.is_empty() || spec.columns.is_empty() {
            return Err(doc.error(node, "data: `file` and `columns` are needed"));
        }
        Ok(spec)
    }

    /// The column of `indicator`.
    pub fn column(&self, indicator: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.indicator == indicator)
    }

    /// Reads the file: errors name the file, the line and the column. A pinned spec's
    /// file must still have the bytes it was pinned with.
    pub fn load(&self) -> Result<Observed, String> {
        let bytes = self.bytes()?;
        let text = String::from_utf8(bytes).map_err(|e| format!("{}: not UTF-8 text: {e}", self.file))?;
        self.parse(&text)
    }

    /// Records the file's SHA-256 in the spec, so that every later read must find the
    /// same bytes (a spec already pinned is checked instead).
    pub fn pin(&mut self) -> Result<(), String> {
        let bytes = self.bytes()?;
        self.sha256 = Some(sha256(&bytes));
        Ok(())
    }

    /// The file's bytes, refused when they are not the pinned ones.
    fn bytes(&self) -> Result<Vec<u8>, String> {
        let file = &self.file;
        let bytes = std::fs::read(file).map_err(|e| match &self.sha256 {
            Some(want) => format!(
                "{file}: {e}; this calibration was fitted to that file with SHA-256 {want}: put it back where it was \
                 (relative to the directory the command runs in) to resume or replay it"
            ),
            None => format!("{file}: {e}"),
        })?;
        if let Some(want) = &self.sha256 {
            let got = sha256(&bytes);
            if got != *want {
                return Err(format!(
                    "{file} changed since this calibration started: its SHA-256 was {want} and is now {got}; \
                     the stored evaluations were scored against the old bytes: \
                     restore the file, or start a new calibration for the new data"
                ));
            }
        }
        Ok(bytes)
    }

    /// Reads CSV `text` (the file's content).
    pub fn parse(&self, text: &str) -> Result<Observed, String> {
        let file = &self.file;
        let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(text.as_bytes());
        let headers = reader.headers().map_err(|e| format!("{file}: {e}"))?.clone();
        let mut at = Vec::new();
        for c in &self.columns {
            let i = headers.iter().position(|h| h.trim() == c.column).ok_or_else(|| {
                format!(
                    "{file}: no column `{}` (for {}); the columns are {}",
                    c.column,
                    c.indicator,
                    headers.iter().collect::<Vec<_>>().join(", ")
                )
            })?;
            at.push(i);
        }
        let mut series = vec![Vec::new(); self.columns.len()];
        for (row, record) in reader.records().enumerate() {
            let line = row + 2;
            let record = record.map_err(|e| format!("{file}:{line}: {e}"))?;
            if row < self.skip {
                continue;
            }
            for ((c, &i), out) in self.columns.iter().zip(&at).zip(&mut series) {
                let cell = record.get(i).unwrap_or("").trim();
                let x: f64 = cell
                    .parse()
                    .ok()
                    .filter(|x: &f64| x.is_finite())
                    .ok_or_else(|| format!("{file}:{line}: column `{}`: `{cell}` is not a number", c.column))?;
                out.push(c.per_observation(x));
            }
        }
        if series[0].len() < 8 {
            return Err(format!("{file}: {} rows: too few observations for moments", series[0].len()));
        }
        Ok(Observed { indicators: self.columns.iter().map(|c| c.indicator.clone()).collect(), series })
    }
}

impl Column {
    /// A value of the file in per-observation units.
    pub fn per_observation(&self, x: f64) -> f64 {
        let x = x * self.scale;
        if self.log {
            (x / self.annualised).exp_m1()
        } else if self.annualised == 1.0 {
            x
        } else {
            (1.0 + x).powf(1.0 / self.annualised) - 1.0
        }
    }

    /// The model's ticks aggregated into observations (a last, incomplete one dropped).
    pub fn aggregate(&self, ticks: &[f64], per: u64) -> Vec<f64> {
        aggregate(ticks, per as usize, self.aggregate)
    }
}

/// `ticks` aggregated in consecutive blocks of `per` (an incomplete last block dropped).
pub fn aggregate(ticks: &[f64], per: usize, how: Aggregate) -> Vec<f64> {
    ticks
        .chunks_exact(per.max(1))
        .map(|c| match how {
            Aggregate::Mean => c.iter().sum::<f64>() / c.len() as f64,
            Aggregate::Compound => c.iter().fold(1.0, |acc, r| acc * (1.0 + r)) - 1.0,
        })
        .collect()
}

fn read_column(doc: &Doc, indicator: &str, node: &Node) -> Result<Column, SpecError> {
    let map = node.as_mapping().ok_or_else(|| {
        doc.error(
            node,
            format!("data column of `{indicator}`: {{column: NAME, scale: 0.01, aggregate: mean|compound}}"),
        )
    })?;
    let mut c = Column {
        indicator: indicator.into(),
        column: String::new(),
        scale: 1.0,
        annualised: 1.0,
        log: false,
        aggregate: Aggregate::Mean,
    };
    let num = |n: &Node, key: &str| match raw_value(n) {
        RawValue::Int(v) if v > 0 => Ok(v as f64),
        RawValue::Float(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(doc.error(n, format!("data column of `{indicator}`: `{key}` must be a positive number"))),
    };
    for (k, v) in map.iter() {
        match k.as_str() {
            "column" => c.column = v.as_scalar().map(|s| s.as_str().to_string()).unwrap_or_default(),
            "scale" => c.scale = num(v, "scale")?,
            "annualised" => c.annualised = num(v, "annualised")?,
            "log" => {
                c.log = match v.as_scalar().map(|s| s.as_str()) {
                    Some("true") => true,
                    Some("false") => false,
                    _ => return Err(doc.error(v, format!("data column of `{indicator}`: `log` is true or false"))),
                }
            }
            "aggregate" => {
                c.aggregate = match v.as_scalar().map(|s| s.as_str()) {
                    Some("mean") => Aggregate::Mean,
                    Some("compound") => Aggregate::Compound,
                    _ => {
                        return Err(doc.error(
                            v,
                            format!("data column of `{indicator}`: `aggregate` is mean (levels) or compound (rates)"),
                        ));
                    }
                }
            }
            other => {
                return Err(doc.error(
                    &Node::Scalar(k.clone()),
                    format!("data column of `{indicator}`: unknown field `{other}`; it takes column, scale, annualised, log, aggregate"),
                ));
            }
        }
    }
    if c.column.is_empty() {
        return Err(doc.error(node, format!("data column of `{indicator}`: `column` names the CSV's header")));
    }
    Ok(c)
}

/// The moments of `observed` and the covariance of their estimate by a moving-block
/// bootstrap (blocks of `block` observations drawn with replacement, `samples` times,
/// with a ChaCha8 stream of `seed`, so the covariance is the same on every machine).
pub fn bootstrap(
    observed: &Observed,
    moments: &[Moment],
    lambda: f64,
    block: usize,
    samples: usize,
    seed: u64,
) -> (Vec<f64>, Covariance) {
    let series = |obs: &Observed, name: &str| -> Vec<f64> {
        let i = obs.indicators.iter().position(|n| n == name).expect("checked: every moment's indicator has a column");
        obs.series[i].clone()
    };
    let of = |obs: &Observed| -> Vec<f64> {
        moments
            .iter()
            .map(|m| {
                let ind = m.indicators();
                let other = if ind.len() > 1 { series(obs, ind[1]) } else { Vec::new() };
                m.of(&series(obs, ind[0]), &other, lambda)
            })
            .collect()
    };
    let point = of(observed);
    let n = observed.series[0].len();
    let block = block.clamp(1, n);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let starts = n - block + 1;
    let mut draws = Vec::with_capacity(samples);
    for _ in 0..samples {
        let mut rows = Vec::with_capacity(n);
        while rows.len() < n {
            let s = (rng.next_u64() % starts as u64) as usize;
            rows.extend((s..s + block).take(n - rows.len()));
        }
        let resampled = Observed {
            indicators: observed.indicators.clone(),
            series: observed.series.iter().map(|s| rows.iter().map(|&r| s[r]).collect()).collect(),
        };
        draws.push(of(&resampled));
    }
    (point, crate::calibrate::estimate::covariance(&draws))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> DataSpec {
        let text = "data:\n  file: us.csv\n  ticks_per_observation: 3\n  columns:\n    unemployment_rate: {column: unemp, scale: 0.01, aggregate: mean}\n    inflation: {column: infl, scale: 0.01, annualised: 4, aggregate: compound}\n";
        let doc = Doc::parse(text, "c.yaml").unwrap();
        let node = doc.root.as_mapping().unwrap().get_node("data").unwrap().clone();
        DataSpec::read(&doc, &node, "c.yaml").unwrap()
    }

    #[test]
    fn columns_are_read_in_per_observation_units() {
        let d = spec();
        let mut csv = String::from("year,unemp,infl\n");
        for i in 0..10 {
            csv.push_str(&format!("{},{}.0,4.0\n", 1959 + i, 5 + i % 2));
        }
        let obs = d.parse(&csv).unwrap();
        assert_eq!(obs.series[0][0], 0.05);
        assert!((obs.series[1][0] - (1.04f64.powf(0.25) - 1.0)).abs() < 1e-15);
        let log = Column { log: true, ..d.columns[1].clone() };
        assert!((log.per_observation(4.0) - (0.01f64).exp_m1()).abs() < 1e-15);
        let skipping = DataSpec { skip: 1, ..d.clone() };
        assert_eq!(skipping.parse(&csv).unwrap().series[0].len(), 9);
        let e = d.parse("year,unemp\n1959,5\n").unwrap_err();
        assert!(e.contains("us.csv") && e.contains("no column `infl`"), "{e}");
        let e = d.parse("unemp,infl\n5,4\n5,x\n").unwrap_err();
        assert!(e.contains("us.csv:3") && e.contains("`infl`"), "{e}");
    }

    #[test]
    fn ticks_aggregate_as_levels_or_rates() {
        assert_eq!(aggregate(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], 3, Aggregate::Mean), [2.0, 5.0]);
        let q = aggregate(&[0.01, 0.01, 0.01], 3, Aggregate::Compound);
        assert!((q[0] - (1.01f64.powi(3) - 1.0)).abs() < 1e-15);
    }

    #[test]
    fn the_bootstrap_is_seeded_and_sees_the_data_noise() {
        let obs = Observed {
            indicators: vec!["x".into()],
            series: vec![{
                let mut rng = ChaCha8Rng::seed_from_u64(5);
                (0..200).map(|_| (rng.next_u64() % 1000) as f64 / 1000.0).collect()
            }],
        };
        let m = [Moment::parse("x", "mean").unwrap()];
        let (point, cov) = bootstrap(&obs, &m, 1600.0, 4, 400, 1);
        assert_eq!((point.clone(), cov.clone()), bootstrap(&obs, &m, 1600.0, 4, 400, 1));
        // Nearly independent draws: the mean's variance is close to var/n.
        let var = crate::calibrate::moments::sd(&obs.series[0]).powi(2) / 200.0;
        assert!((cov.matrix[0][0] / var - 1.0).abs() < 0.35, "{} vs {var}", cov.matrix[0][0]);
        assert_eq!(cov.samples, 400);
    }
}
