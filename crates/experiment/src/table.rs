//! The experiment's table: one row per run, sorted by run index, so its bytes never
//! depend on the order runs finished in, the number of threads or the shards.
//!
//! Columns: `run`, `point` (a design's only: the point's index in the design, SALib's
//! row order for a Sobol design), `seed`, one per axis (named by its key), `phase`, then for each
//! summarised indicator `<indicator>_mean|_sd|_min|_max|_p5|_p50|_p95`. With a fork:
//! `branch_phase`, the branch's `branch_<indicator>_<stat>` and the policy effect
//! `effect_<indicator>` (branch mean − baseline mean). Last, `error` (empty unless the
//! engine stopped the run). Missing numbers (a failed run) are empty in CSV, `null` in
//! JSON and Parquet. Reals are written in the shortest form that reads back to the same
//! bits.
//!
//! [`ExperimentTable::to_record_batch`] gives the same table as an Arrow `RecordBatch`
//! (what the Python module returns and Parquet stores); [`ExperimentTable::points`]
//! aggregates each grid point across seeds: the mean and a 95% confidence interval.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use watchtower_engine::RawValue;

use watchtower_runner::report::EconomicPhase;

use crate::design::Design;
use crate::execute::ExperimentError;
use crate::plan::{Plan, Shard};
use crate::spec::ExperimentSpec;
use crate::summary::{RunSummary, Stats};

/// An output format of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    /// Comma-separated, header row first.
    Csv,
    /// One JSON object per line.
    Jsonl,
    /// Apache Parquet (zstd), readable by pandas and polars.
    Parquet,
}

impl TableFormat {
    /// The format a file name implies.
    pub fn from_path(path: &std::path::Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "csv" => Some(Self::Csv),
            "jsonl" | "ndjson" | "json" => Some(Self::Jsonl),
            "parquet" | "pq" => Some(Self::Parquet),
            _ => None,
        }
    }
}

/// One cell.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    U(u64),
    I(i64),
    F(f64),
    B(bool),
    S(Option<String>),
}

/// A column's type.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    U,
    I,
    F,
    B,
    S,
}

/// Parquet key-value metadata that lets `experiment merge` rebuild the plan.
pub const META_SPEC: &str = "watchtower.experiment.spec";
/// The spec's source name.
pub const META_SOURCE: &str = "watchtower.experiment.source";
/// The `--set` arguments, as a JSON array.
pub const META_OVERRIDES: &str = "watchtower.experiment.overrides";
/// The shard, `I/N`.
pub const META_SHARD: &str = "watchtower.experiment.shard";
/// SHA-256 (hex) of a shard's rows: each run's encoded summary in the file's order, as
/// [`rows_digest`] reads them. `experiment merge` recomputes it from what it read.
pub const META_ROWS_DIGEST: &str = "watchtower.experiment.rows_sha256";
/// SHA-256 (hex) of what fixes a shard's plan: the spec's text and source, the `--set`
/// arguments and the shard `I/N`, as [`spec_digest`] reads them.
pub const META_SPEC_DIGEST: &str = "watchtower.experiment.spec_sha256";
/// The column holding each run's encoded summary in a shard file.
pub const SUMMARY_COLUMN: &str = "_summary";

/// A 95% confidence interval of a mean across seeds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Interval {
    /// The mean.
    pub mean: f64,
    /// Lower end (NaN with fewer than two values).
    pub lo: f64,
    /// Upper end.
    pub hi: f64,
    /// Values averaged.
    pub n: usize,
}

impl Interval {
    /// The mean of `xs` (NaNs skipped) and Student's t interval at 95%.
    pub fn of(xs: impl IntoIterator<Item = f64>) -> Self {
        let xs: Vec<f64> = xs.into_iter().filter(|x| !x.is_nan()).collect();
        let n = xs.len();
        // Folds from 0.0, as `fan.rs` adds its sums run by run, so both give the same bits.
        let sum = xs.iter().fold(0.0, |a, x| a + x);
        let mean = sum / n as f64;
        Self::from_sums(n, sum, xs.iter().fold(0.0, |a, x| a + (x - mean).powi(2)))
    }

    /// The interval of `n` values (NaNs already left out) from their `sum` and the sum of
    /// their squared deviations from the mean, `dev`: what [`Interval::of`] computes,
    /// for values added one run at a time (the fan, `fan.rs`).
    pub fn from_sums(n: usize, sum: f64, dev: f64) -> Self {
        if n == 0 {
            return Self { mean: f64::NAN, lo: f64::NAN, hi: f64::NAN, n };
        }
        let mean = sum / n as f64;
        if n < 2 {
            return Self { mean, lo: f64::NAN, hi: f64::NAN, n };
        }
        let var = dev / (n - 1) as f64;
        let half = t95(n - 1) * (var / n as f64).sqrt();
        Self { mean, lo: mean - half, hi: mean + half, n }
    }
}

/// The two-sided 95% critical value of Student's t with `df` degrees of freedom (NaN for
/// none), its 0.975 quantile.
pub fn t95(df: usize) -> f64 {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    match StudentsT::new(0.0, 1.0, df as f64) {
        Ok(t) if df > 0 => t.inverse_cdf(0.975),
        _ => f64::NAN,
    }
}

/// One grid point across its seeds.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PointSummary {
    /// The point's index.
    pub point: u64,
    /// Its value on each axis.
    #[serde(skip)]
    pub values: Vec<RawValue>,
    /// Runs summarised (finished without error).
    pub runs: usize,
    /// The most frequent phase among them (ties: FU, RU, EC, FE, in that order).
    pub phase: Option<EconomicPhase>,
    /// Per indicator: the mean across seeds of the runs' window means.
    pub means: Vec<Interval>,
    /// With a fork, per indicator: the policy effect (branch − baseline) across seeds.
    pub effects: Vec<Interval>,
}

/// The table of an experiment (or of the part of it done so far).
#[derive(Debug, Clone)]
pub struct ExperimentTable {
    plan: Plan,
    rows: BTreeMap<u64, RunSummary>,
}

impl ExperimentTable {
    /// An empty table of `plan`.
    pub fn new(plan: Plan) -> Self {
        Self { plan, rows: BTreeMap::new() }
    }

    /// The plan.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The spec.
    pub fn spec(&self) -> &ExperimentSpec {
        self.plan.spec()
    }

    /// Adds a run's summary (replacing any earlier one of the same run).
    pub fn insert(&mut self, summary: RunSummary) {
        self.rows.insert(summary.run, summary);
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no row is held.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The summaries, by run index.
    pub fn summaries(&self) -> impl Iterator<Item = &RunSummary> {
        self.rows.values()
    }

    /// Whether run `index` is in the table.
    pub fn contains(&self, index: u64) -> bool {
        self.rows.contains_key(&index)
    }

    /// The runs of the plan not in the table.
    pub fn missing(&self) -> Vec<u64> {
        (0..self.plan.len()).filter(|r| !self.rows.contains_key(r)).collect()
    }

    /// The column names, in order.
    pub fn columns(&self) -> Vec<String> {
        self.schema_kinds().into_iter().map(|(n, _)| n).collect()
    }

    fn schema_kinds(&self) -> Vec<(String, Kind)> {
        let spec = self.spec();
        let mut cols = vec![("run".to_string(), Kind::U)];
        if spec.design != Design::Grid {
            cols.push(("point".to_string(), Kind::U));
        }
        cols.push(("seed".to_string(), Kind::U));
        for axis in &spec.axes {
            let kind = if axis.values.iter().all(|v| matches!(v, RawValue::Bool(_))) {
                Kind::B
            } else if axis.values.iter().all(|v| matches!(v, RawValue::Int(_))) {
                Kind::I
            } else {
                Kind::F
            };
            cols.push((axis.key.clone(), kind));
        }
        cols.push(("phase".into(), Kind::S));
        for ind in &spec.indicators {
            for stat in Stats::NAMES {
                cols.push((format!("{ind}_{stat}"), Kind::F));
            }
        }
        if spec.fork.is_some() {
            cols.push(("branch_phase".into(), Kind::S));
            for ind in &spec.indicators {
                for stat in Stats::NAMES {
                    cols.push((format!("branch_{ind}_{stat}"), Kind::F));
                }
            }
            for ind in &spec.indicators {
                cols.push((format!("effect_{ind}"), Kind::F));
            }
        }
        cols.push(("error".into(), Kind::S));
        cols
    }

    fn cells(&self, s: &RunSummary) -> Vec<Cell> {
        let spec = self.spec();
        let mut row = vec![Cell::U(s.run)];
        if spec.design != Design::Grid {
            row.push(Cell::U(s.point));
        }
        row.push(Cell::U(s.seed));
        for (axis, v) in spec.axes.iter().zip(self.plan.point_values(s.point)) {
            let all_int = axis.values.iter().all(|v| matches!(v, RawValue::Int(_)));
            row.push(match v {
                RawValue::Bool(b) => Cell::B(b),
                RawValue::Int(i) if all_int => Cell::I(i),
                RawValue::Int(i) => Cell::F(i as f64),
                RawValue::Float(x) => Cell::F(x),
                _ => Cell::S(None),
            });
        }
        let phase = |p: Option<EconomicPhase>| Cell::S(p.map(|p| p.code().to_string()));
        row.push(phase(s.baseline.phase));
        for st in &s.baseline.stats {
            row.extend(st.values().map(Cell::F));
        }
        if spec.fork.is_some() {
            let empty = vec![Stats::EMPTY; spec.indicators.len()];
            let b = s.branch.as_ref();
            row.push(phase(b.and_then(|b| b.phase)));
            for st in b.map_or(&empty, |b| &b.stats) {
                row.extend(st.values().map(Cell::F));
            }
            for i in 0..spec.indicators.len() {
                row.push(Cell::F(s.effect(i)));
            }
        }
        row.push(Cell::S(s.error.clone()));
        row
    }

    /// Writes the table as CSV, JSON lines or Parquet.
    pub fn write(&self, out: impl Write + Send, format: TableFormat) -> Result<(), ExperimentError> {
        match format {
            TableFormat::Csv | TableFormat::Jsonl => self.write_text(out, format),
            TableFormat::Parquet => self.write_parquet(out, None),
        }
    }

    fn write_text(&self, out: impl Write, format: TableFormat) -> Result<(), ExperimentError> {
        let mut out = std::io::BufWriter::new(out);
        let columns = self.columns();
        let io = |e: std::io::Error| ExperimentError::Other(format!("cannot write the table: {e}"));
        let mut line = String::new();
        if format == TableFormat::Csv {
            line.push_str(&columns.iter().map(|c| csv_text(c)).collect::<Vec<_>>().join(","));
            line.push('\n');
            out.write_all(line.as_bytes()).map_err(io)?;
        }
        for s in self.rows.values() {
            line.clear();
            let cells = self.cells(s);
            match format {
                TableFormat::Csv => {
                    for (i, c) in cells.iter().enumerate() {
                        if i > 0 {
                            line.push(',');
                        }
                        match c {
                            Cell::S(Some(t)) => line.push_str(&csv_text(t)),
                            Cell::S(None) => {}
                            Cell::F(x) if !x.is_finite() => {}
                            c => push_scalar(&mut line, c),
                        }
                    }
                }
                _ => {
                    line.push('{');
                    for (i, (name, c)) in columns.iter().zip(&cells).enumerate() {
                        if i > 0 {
                            line.push(',');
                        }
                        line.push_str(&serde_json::to_string(name).expect("text"));
                        line.push(':');
                        match c {
                            Cell::S(Some(t)) => line.push_str(&serde_json::to_string(t).expect("text")),
                            Cell::S(None) => line.push_str("null"),
                            Cell::F(x) if !x.is_finite() => line.push_str("null"),
                            c => push_scalar(&mut line, c),
                        }
                    }
                    line.push('}');
                }
            }
            line.push('\n');
            out.write_all(line.as_bytes()).map_err(io)?;
        }
        out.flush().map_err(io)
    }

    /// What the table's columns are (unit, description), with the spec, the version and
    /// the time mapping: a CSV table's sidecar.
    pub fn metadata(&self) -> serde_json::Value {
        crate::meta::table(&self.plan, &self.columns())
    }

    /// The table as one Arrow record batch (reals that are missing are null); each field's
    /// metadata holds its `unit` and `description` ([`crate::meta`]). A designed
    /// experiment's carries its design in the schema's metadata
    /// ([`crate::sensitivity::META_DESIGN`]), so the batch alone can be analysed.
    pub fn to_record_batch(&self) -> RecordBatch {
        self.record_batch(false)
    }

    fn record_batch(&self, with_summaries: bool) -> RecordBatch {
        let kinds = self.schema_kinds();
        let mut described = crate::meta::fields(&self.plan, &self.columns());
        let rows: Vec<Vec<Cell>> = self.rows.values().map(|s| self.cells(s)).collect();
        let mut fields = Vec::new();
        let mut arrays: Vec<ArrayRef> = Vec::new();
        for (j, (name, kind)) in kinds.iter().enumerate() {
            let column = rows.iter().map(|r| &r[j]);
            let (ty, nullable, array): (DataType, bool, ArrayRef) = match kind {
                Kind::U => {
                    let mut b = UInt64Builder::new();
                    column.for_each(|c| b.append_option(if let Cell::U(v) = c { Some(*v) } else { None }));
                    (DataType::UInt64, false, Arc::new(b.finish()))
                }
                Kind::I => {
                    let mut b = Int64Builder::new();
                    column.for_each(|c| b.append_option(if let Cell::I(v) = c { Some(*v) } else { None }));
                    (DataType::Int64, false, Arc::new(b.finish()))
                }
                Kind::F => {
                    let mut b = Float64Builder::new();
                    column.for_each(|c| {
                        b.append_option(if let Cell::F(v) = c { Some(*v).filter(|x| x.is_finite()) } else { None })
                    });
                    (DataType::Float64, true, Arc::new(b.finish()))
                }
                Kind::B => {
                    let mut b = BooleanBuilder::new();
                    column.for_each(|c| b.append_option(if let Cell::B(v) = c { Some(*v) } else { None }));
                    (DataType::Boolean, false, Arc::new(b.finish()))
                }
                Kind::S => {
                    let mut b = StringBuilder::new();
                    column.for_each(|c| b.append_option(if let Cell::S(v) = c { v.as_deref() } else { None }));
                    (DataType::Utf8, true, Arc::new(b.finish()))
                }
            };
            fields.push(Field::new(name, ty, nullable).with_metadata(described.remove(name).unwrap_or_default()));
            arrays.push(array);
        }
        if with_summaries {
            let mut b = BinaryBuilder::new();
            for s in self.rows.values() {
                b.append_value(s.encode());
            }
            fields.push(Field::new(SUMMARY_COLUMN, DataType::Binary, false));
            arrays.push(Arc::new(b.finish()));
        }
        let metadata = crate::sensitivity::design_metadata(self.spec())
            .map(|d| [(crate::sensitivity::META_DESIGN.to_string(), d)].into())
            .unwrap_or_default();
        RecordBatch::try_new(Arc::new(Schema::new_with_metadata(fields, metadata)), arrays)
            .expect("columns agree with the schema")
    }

    /// Writes Parquet (zstd). A shard's file also carries the spec and each run's encoded
    /// summary, so `experiment merge` can rebuild the one-machine table exactly.
    pub fn write_parquet(&self, out: impl Write + Send, shard: Option<Shard>) -> Result<(), ExperimentError> {
        use parquet::arrow::ArrowWriter;
        use parquet::basic::{Compression, ZstdLevel};
        use parquet::file::metadata::KeyValue;
        use parquet::file::properties::WriterProperties;
        let batch = self.record_batch(shard.is_some());
        // What the numbers are: the spec, the version, the time mapping, each column's unit.
        let mut meta: Vec<KeyValue> = crate::meta::parquet_pairs(&self.plan, &self.columns(), shard.is_none())
            .into_iter()
            .map(|(k, v)| KeyValue::new(k, v))
            .collect();
        if let Some(shard) = shard {
            let spec = self.spec();
            let overrides = serde_json::to_string(&spec.overrides).expect("text");
            let shard = shard.to_string();
            let summaries = summary_column(&batch).expect("a shard's batch has its summaries");
            meta.push(KeyValue::new(META_ROWS_DIGEST.into(), rows_digest(summaries.iter().flatten())));
            meta.push(KeyValue::new(
                META_SPEC_DIGEST.into(),
                spec_digest(&[&spec.text, &spec.source, &overrides, &shard]),
            ));
            meta.push(KeyValue::new(META_SPEC.into(), spec.text.clone()));
            meta.push(KeyValue::new(META_SOURCE.into(), spec.source.clone()));
            meta.push(KeyValue::new(META_OVERRIDES.into(), overrides));
            meta.push(KeyValue::new(META_SHARD.into(), shard));
        }
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_key_value_metadata(Some(meta))
            .build();
        let err = |e: parquet::errors::ParquetError| ExperimentError::Other(format!("cannot write Parquet: {e}"));
        let mut writer = ArrowWriter::try_new(out, batch.schema(), Some(props)).map_err(err)?;
        writer.write(&batch).map_err(err)?;
        writer.close().map_err(err)?;
        Ok(())
    }

    /// Each grid point across its seeds, in point order (points with no finished run
    /// are left out).
    pub fn points(&self) -> Vec<PointSummary> {
        let spec = self.spec();
        let mut by_point: BTreeMap<u64, Vec<&RunSummary>> = BTreeMap::new();
        for s in self.rows.values() {
            by_point.entry(s.point).or_default().push(s);
        }
        by_point
            .into_iter()
            .map(|(point, runs)| {
                let ok: Vec<&&RunSummary> = runs.iter().filter(|s| s.error.is_none()).collect();
                let phase = majority(ok.iter().filter_map(|s| s.baseline.phase));
                let means = (0..spec.indicators.len())
                    .map(|i| Interval::of(ok.iter().map(|s| s.baseline.stats[i].mean)))
                    .collect();
                let effects = if spec.fork.is_some() {
                    (0..spec.indicators.len()).map(|i| Interval::of(ok.iter().map(|s| s.effect(i)))).collect()
                } else {
                    Vec::new()
                };
                PointSummary { point, values: self.plan.point_values(point), runs: ok.len(), phase, means, effects }
            })
            .collect()
    }

    /// The per-point table as JSON rows: axes by key, `runs`, `phase`, then for each
    /// indicator `<indicator>_mean`, `_ci_lo`, `_ci_hi` (and `effect_<indicator>…` with
    /// a fork). What the server and the printed summary show.
    pub fn points_json(&self) -> Vec<serde_json::Value> {
        let spec = self.spec();
        let num = |x: f64| if x.is_finite() { serde_json::json!(x) } else { serde_json::Value::Null };
        self.points()
            .into_iter()
            .map(|p| {
                let mut row = serde_json::Map::new();
                row.insert("point".into(), p.point.into());
                for (axis, v) in spec.axes.iter().zip(&p.values) {
                    row.insert(axis.key.clone(), raw_json(v));
                }
                row.insert("runs".into(), p.runs.into());
                row.insert("phase".into(), p.phase.map(|p| p.code()).into());
                for (ind, m) in spec.indicators.iter().zip(&p.means) {
                    row.insert(format!("{ind}_mean"), num(m.mean));
                    row.insert(format!("{ind}_ci_lo"), num(m.lo));
                    row.insert(format!("{ind}_ci_hi"), num(m.hi));
                }
                for (ind, m) in spec.indicators.iter().zip(&p.effects) {
                    row.insert(format!("effect_{ind}_mean"), num(m.mean));
                    row.insert(format!("effect_{ind}_ci_lo"), num(m.lo));
                    row.insert(format!("effect_{ind}_ci_hi"), num(m.hi));
                }
                serde_json::Value::Object(row)
            })
            .collect()
    }

    /// A run's tidy row as a JSON object (what the store keeps for readers that do not
    /// link the runner, such as the server).
    pub fn row_json(&self, s: &RunSummary) -> serde_json::Value {
        let mut row = serde_json::Map::new();
        for (name, c) in self.columns().into_iter().zip(self.cells(s)) {
            let v = match c {
                Cell::U(v) => v.into(),
                Cell::I(v) => v.into(),
                Cell::F(x) if x.is_finite() => x.into(),
                Cell::F(_) => serde_json::Value::Null,
                Cell::B(b) => b.into(),
                Cell::S(t) => t.into(),
            };
            row.insert(name, v);
        }
        serde_json::Value::Object(row)
    }
}

/// A value as JSON.
pub fn raw_json(v: &RawValue) -> serde_json::Value {
    match v {
        RawValue::Bool(b) => (*b).into(),
        RawValue::Int(i) => (*i).into(),
        RawValue::Float(x) if x.is_finite() => (*x).into(),
        RawValue::Text(t) => t.clone().into(),
        _ => serde_json::Value::Null,
    }
}

fn push_scalar(line: &mut String, c: &Cell) {
    use std::fmt::Write as _;
    let _ = match c {
        Cell::U(v) => write!(line, "{v}"),
        Cell::I(v) => write!(line, "{v}"),
        Cell::F(x) => write!(line, "{x:?}"),
        Cell::B(b) => write!(line, "{b}"),
        Cell::S(_) => Ok(()),
    };
}

/// A CSV field, quoted when it must be.
fn csv_text(t: &str) -> String {
    if t.contains([',', '"', '\n', '\r']) { format!("\"{}\"", t.replace('"', "\"\"")) } else { t.to_string() }
}

/// A shard batch's column of encoded summaries.
fn summary_column(batch: &RecordBatch) -> Option<&arrow::array::BinaryArray> {
    batch.column_by_name(SUMMARY_COLUMN).and_then(|c| c.as_any().downcast_ref())
}

/// SHA-256, in hex, of length-prefixed `parts`, so no two different lists of parts
/// hash the same bytes.
fn digest<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part);
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// [`META_ROWS_DIGEST`]: the digest of a shard's encoded summaries, in order.
pub fn rows_digest<'a>(summaries: impl IntoIterator<Item = &'a [u8]>) -> String {
    digest(summaries)
}

/// [`META_SPEC_DIGEST`]: the digest of the spec's text, its source, the `--set`
/// arguments (JSON) and the shard (`I/N`), as they stand in the file's metadata.
pub fn spec_digest(parts: &[&str]) -> String {
    digest(parts.iter().map(|p| p.as_bytes()))
}

/// Runs `read`, a step of the Parquet reader over a file that may be damaged: some
/// damaged files make the reader panic, and that panic becomes the file's error, so
/// the merge still names the file (the panic's own message still goes to stderr).
fn unpanicked<T>(read: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(read))
        .unwrap_or_else(|_| Err("is damaged: the Parquet reader could not read it".into()))
}

/// What `experiment merge` found in a set of shard files.
#[derive(Debug)]
pub struct Merged {
    /// The combined table.
    pub table: ExperimentTable,
    /// N, the number of shards.
    pub shards: u64,
    /// The shard indices not among the files.
    pub missing_shards: Vec<u64>,
}

/// Reads shard files (written with `--shard I/N`) and combines them into the table one
/// machine would have produced. Files of different specs or shard counts are refused.
pub fn merge_shards(files: &[std::path::PathBuf]) -> Result<Merged, ExperimentError> {
    use arrow::array::Array;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let mut table: Option<ExperimentTable> = None;
    let mut first: Option<(String, String, Vec<String>, u64)> = None;
    let mut seen = std::collections::BTreeSet::new();
    for path in files {
        let shown = path.display().to_string();
        let bad = |m: String| ExperimentError::File { path: shown.clone(), message: m };
        let file = std::fs::File::open(path).map_err(|e| bad(e.to_string()))?;
        let builder = unpanicked(|| {
            ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| format!("not a Parquet file: {e}"))
        })
        .map_err(bad)?;
        let kv: BTreeMap<String, String> = builder
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .map(|kv| kv.iter().filter_map(|k| Some((k.key.clone(), k.value.clone()?))).collect())
            .unwrap_or_default();
        let get = |k: &str| {
            kv.get(k)
                .cloned()
                .ok_or_else(|| bad(format!("not a shard file of `watchtower experiment --shard` (no `{k}`)")))
        };
        let (text, source, overrides, shard) =
            (get(META_SPEC)?, get(META_SOURCE)?, get(META_OVERRIDES)?, get(META_SHARD)?);
        // The digests come first: a byte changed anywhere in what the plan is rebuilt from
        // names this file rather than merging another experiment's table.
        let damaged = |what: &str| {
            bad(format!(
                "is damaged: its {what} do not match the digest written with it (copy the shard again, or re-run it)"
            ))
        };
        if get(META_SPEC_DIGEST)? != spec_digest(&[&text, &source, &overrides, &shard]) {
            return Err(damaged("spec, source, --set arguments or shard number"));
        }
        let rows_expected = get(META_ROWS_DIGEST)?;
        let overrides: Vec<String> = serde_json::from_str(&overrides).map_err(|e| bad(e.to_string()))?;
        let shard: Shard = shard.parse().map_err(bad)?;
        match &first {
            None => {
                let spec = ExperimentSpec::parse_with(&text, &source, &overrides)?;
                table = Some(ExperimentTable::new(Plan::new(spec)));
                first = Some((text, source, overrides, shard.count));
            }
            Some((t, _, o, n)) => {
                if *t != text || *o != overrides {
                    return Err(bad(format!("is a shard of another experiment than {}", files[0].display())));
                }
                if *n != shard.count {
                    return Err(bad(format!("is shard {shard}, but {} is one of {}", files[0].display(), n)));
                }
            }
        }
        if !seen.insert(shard.index) {
            return Err(bad(format!("shard {shard} is given twice")));
        }
        let t = table.as_mut().expect("set above");
        let encoded = unpanicked(|| {
            let mut encoded: Vec<Vec<u8>> = Vec::new();
            for batch in builder.build().map_err(|e| e.to_string())? {
                let batch = batch.map_err(|e| e.to_string())?;
                let col = summary_column(&batch).ok_or_else(|| format!("has no `{SUMMARY_COLUMN}` column"))?;
                for i in 0..col.len() {
                    encoded.push(col.value(i).to_vec());
                }
            }
            Ok(encoded)
        })
        .map_err(bad)?;
        if rows_digest(encoded.iter().map(Vec::as_slice)) != rows_expected {
            return Err(damaged("rows"));
        }
        for bytes in &encoded {
            let s = RunSummary::decode(bytes).map_err(bad)?;
            if s.run >= t.plan().len() {
                return Err(bad(format!("holds run {}, outside the plan", s.run)));
            }
            t.insert(s);
        }
    }
    let table = table.ok_or_else(|| ExperimentError::Other("no shard files given".into()))?;
    let shards = first.map_or(1, |f| f.3);
    let missing_shards = (0..shards).filter(|i| !seen.contains(i)).collect();
    Ok(Merged { table, shards, missing_shards })
}

/// The most frequent phase among `phases` (ties: FU, RU, EC, FE, in that order).
pub(crate) fn majority(phases: impl IntoIterator<Item = EconomicPhase>) -> Option<EconomicPhase> {
    let mut counts = [0usize; 4];
    for p in phases {
        counts[EconomicPhase::ALL.iter().position(|q| *q == p).expect("four phases")] += 1;
    }
    let best = counts.iter().copied().max().unwrap_or(0);
    (best > 0).then(|| EconomicPhase::ALL[counts.iter().position(|&c| c == best).expect("max")])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_t_quantile_is_students_and_the_interval_uses_it() {
        // Two-sided 95% critical values of Student's t, qt(0.975, df), to 12 digits (mpmath).
        for (df, t) in [
            (1, 12.706_204_736_174_7),
            (2, 4.302_652_729_749_46),
            (10, 2.228_138_851_986_27),
            (30, 2.042_272_456_301_24),
            (1000, 1.962_339_080_826_41),
        ] {
            assert!((t95(df) - t).abs() < 1e-9, "df {df}: {} against {t}", t95(df));
        }
        assert!(t95(0).is_nan());
        let i = Interval::of([1.0, 2.0, 3.0, f64::NAN]);
        assert_eq!((i.mean, i.n), (2.0, 3));
        assert!(
            (i.hi - i.mean - t95(2) / 3f64.sqrt()).abs() < 1e-12 && (i.mean - i.lo - (i.hi - i.mean)).abs() < 1e-12
        );
        assert!(Interval::of([5.0]).lo.is_nan() && Interval::of([]).mean.is_nan());
    }
}
