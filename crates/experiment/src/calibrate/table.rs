//! A calibration's table: one row per simulation (its evaluation, kind, seed, the free
//! parameters' values, its moments and the evaluation's loss), as CSV, JSON lines,
//! Parquet or an Arrow record batch (the Python module's).

use std::io::Write;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Builder, StringBuilder, UInt64Builder};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;

use crate::calibrate::spec::CalibrationSpec;
use crate::calibrate::store::columns;
use crate::execute::ExperimentError;
use crate::table::TableFormat;

/// The columns that are whole numbers or text; the rest are reals.
const WHOLE: [&str; 3] = ["simulation", "evaluation", "seed"];

/// The rows as one record batch (a missing real is null).
pub fn to_record_batch(spec: &CalibrationSpec, rows: &[serde_json::Value]) -> RecordBatch {
    let names = columns(spec);
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for name in &names {
        let cells = rows.iter().map(|r| r.get(name));
        if WHOLE.contains(&name.as_str()) {
            let mut b = UInt64Builder::new();
            cells.for_each(|c| b.append_option(c.and_then(|v| v.as_u64())));
            fields.push(Field::new(name, DataType::UInt64, false));
            arrays.push(Arc::new(b.finish()));
        } else if name == "kind" {
            let mut b = StringBuilder::new();
            cells.for_each(|c| b.append_option(c.and_then(|v| v.as_str())));
            fields.push(Field::new(name, DataType::Utf8, false));
            arrays.push(Arc::new(b.finish()));
        } else {
            let mut b = Float64Builder::new();
            cells.for_each(|c| b.append_option(c.and_then(|v| v.as_f64())));
            fields.push(Field::new(name, DataType::Float64, true));
            arrays.push(Arc::new(b.finish()));
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).expect("columns match the schema")
}

fn csv_cell(v: Option<&serde_json::Value>) -> String {
    match v {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) if s.contains([',', '"', '\n']) => format!("\"{}\"", s.replace('"', "\"\"")),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

/// Writes the rows as CSV (header first), JSON lines or Parquet.
pub fn write(
    spec: &CalibrationSpec,
    rows: &[serde_json::Value],
    out: impl Write + Send,
    format: TableFormat,
) -> Result<(), ExperimentError> {
    let names = columns(spec);
    let io = |e: std::io::Error| ExperimentError::Other(format!("cannot write the table: {e}"));
    match format {
        TableFormat::Parquet => {
            use parquet::arrow::ArrowWriter;
            use parquet::basic::{Compression, ZstdLevel};
            use parquet::file::properties::WriterProperties;
            let batch = to_record_batch(spec, rows);
            let props = WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::default())).build();
            let err = |e: parquet::errors::ParquetError| ExperimentError::Other(format!("cannot write Parquet: {e}"));
            let mut writer = ArrowWriter::try_new(out, batch.schema(), Some(props)).map_err(err)?;
            writer.write(&batch).map_err(err)?;
            writer.close().map_err(err)?;
            Ok(())
        }
        TableFormat::Csv | TableFormat::Jsonl => {
            let mut out = std::io::BufWriter::new(out);
            if format == TableFormat::Csv {
                let header: Vec<String> = names.iter().map(|n| csv_cell(Some(&n.as_str().into()))).collect();
                writeln!(out, "{}", header.join(",")).map_err(io)?;
            }
            for r in rows {
                if format == TableFormat::Csv {
                    let cells: Vec<String> = names.iter().map(|n| csv_cell(r.get(n))).collect();
                    writeln!(out, "{}", cells.join(",")).map_err(io)?;
                } else {
                    let ordered: serde_json::Map<String, serde_json::Value> = names
                        .iter()
                        .map(|n| (n.clone(), r.get(n).cloned().unwrap_or(serde_json::Value::Null)))
                        .collect();
                    writeln!(out, "{}", serde_json::Value::Object(ordered)).map_err(io)?;
                }
            }
            out.flush().map_err(io)
        }
    }
}
