//! Every tick's indicators as Arrow columns: one `tick` column, then one column per
//! indicator in the order of `Indicators::FIELDS` (the one list of indicator columns, which
//! the store's `ticks` table follows too), as reported: counts are `int64`; money (in
//! genesis currency units) and the rest `float64`. Each field's metadata holds its `unit`
//! and `description`, as an experiment's Parquet columns do.
//!
//! Values are appended to plain vectors; [`Columns::table`] hands them to Arrow without
//! copying (`Buffer::from_vec`) as a new chunk, so a history of any length reaches Python
//! in the time it takes to wrap its buffers.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch};
use arrow_buffer::ScalarBuffer;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use watchtower_protocol::{IndicatorValue, Indicators};

/// The schema of every tick table: `tick`, then the indicators.
pub fn tick_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    Arc::clone(SCHEMA.get_or_init(|| {
        let described = |unit: &str, description: String| -> HashMap<String, String> {
            [("unit".to_string(), unit.to_string()), ("description".to_string(), description)].into()
        };
        let mut fields = vec![
            Field::new("tick", DataType::Int64, false)
                .with_metadata(described("tick", "The tick a row closes (0 is the first tick after genesis).".into())),
        ];
        fields.extend(Indicators::COLUMNS.iter().map(|c| {
            let kind = if c.reported_integer() { DataType::Int64 } else { DataType::Float64 };
            Field::new(c.name, kind, false).with_metadata(described(c.unit.label(), c.describe()))
        }));
        Arc::new(Schema::new(fields))
    }))
}

/// One column being filled.
#[derive(Clone)]
enum Column {
    Int(Vec<i64>),
    Real(Vec<f64>),
}

/// Ticks appended since the last chunk was cut, column by column.
#[derive(Clone)]
struct Open {
    ticks: Vec<i64>,
    columns: Vec<Column>,
}

impl Open {
    fn new() -> Self {
        let columns = Indicators::COLUMNS
            .iter()
            .map(|c| if c.reported_integer() { Column::Int(Vec::new()) } else { Column::Real(Vec::new()) })
            .collect();
        Self { ticks: Vec::new(), columns }
    }

    /// The columns as one record batch, without copying a value.
    fn into_batch(self) -> RecordBatch {
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.columns.len() + 1);
        arrays.push(Arc::new(Int64Array::new(ScalarBuffer::from(self.ticks), None)));
        for column in self.columns {
            arrays.push(match column {
                Column::Int(v) => Arc::new(Int64Array::new(ScalarBuffer::from(v), None)),
                Column::Real(v) => Arc::new(Float64Array::new(ScalarBuffer::from(v), None)),
            });
        }
        RecordBatch::try_new(tick_schema(), arrays).expect("the columns follow the schema")
    }
}

/// Tick rows as Arrow: finished chunks, shared by every table handed out and by forks,
/// and the open chunk being appended to.
#[derive(Clone)]
pub struct Columns {
    chunks: Vec<RecordBatch>,
    open: Open,
}

impl Default for Columns {
    fn default() -> Self {
        Self { chunks: Vec::new(), open: Open::new() }
    }
}

impl Columns {
    /// Appends one tick's row, as reported ([`Indicators::reported`]).
    pub fn push(&mut self, tick: u64, values: impl Iterator<Item = IndicatorValue>) {
        self.open.ticks.push(tick as i64);
        for (column, value) in self.open.columns.iter_mut().zip(values) {
            match (column, value) {
                (Column::Int(v), IndicatorValue::Int(x)) => v.push(x),
                (Column::Real(v), IndicatorValue::Real(x)) => v.push(x),
                // COLUMNS and reported() come from one macro: the kinds always agree.
                (Column::Int(v), IndicatorValue::Real(x)) => v.push(x as i64),
                (Column::Real(v), IndicatorValue::Int(x)) => v.push(x as f64),
            }
        }
    }

    /// Every row as record batches (cheap clones of shared buffers). The open chunk is cut
    /// first, without a copy; small chunks are merged into their predecessor when it is
    /// not much larger, so a table built after every tick still has few chunks (each row
    /// is copied O(log n) times over a run, never on a call that finds no new rows).
    pub fn batches(&mut self) -> Vec<RecordBatch> {
        if !self.open.ticks.is_empty() {
            let mut batch = std::mem::replace(&mut self.open, Open::new()).into_batch();
            while let Some(last) = self.chunks.last() {
                if last.num_rows() > 2 * batch.num_rows() {
                    break;
                }
                let last = self.chunks.pop().expect("just seen");
                batch = arrow_select::concat::concat_batches(&tick_schema(), [&last, &batch]).expect("same schema");
            }
            self.chunks.push(batch);
        }
        self.chunks.clone()
    }
}

/// Record batches as a `pyarrow.Table`, through the Arrow C stream interface (no copy).
/// `pyarrow.table()` would do the same but first imports pandas to ask whether the
/// object is a DataFrame, which costs the first call most of a second.
pub fn to_pyarrow<'py>(
    py: pyo3::Python<'py>,
    batches: Vec<RecordBatch>,
    schema: SchemaRef,
) -> pyo3::PyResult<pyo3::Bound<'py, pyo3::PyAny>> {
    use pyo3::prelude::*;
    let table = pyo3::Bound::new(py, pyo3_arrow::PyTable::try_new(batches, schema)?)?;
    py.import(pyo3::intern!(py, "pyarrow"))?
        .getattr(pyo3::intern!(py, "RecordBatchReader"))?
        .call_method1(pyo3::intern!(py, "from_stream"), (table,))?
        .call_method0(pyo3::intern!(py, "read_all"))
}
