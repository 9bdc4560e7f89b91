//! Ticks as CSV or JSON lines, the shape pandas and spreadsheets read directly:
//! `pandas.read_csv(path)` or `pandas.read_json(path, lines=True)`.
//!
//! Used by `watchtower run --out` (as the engine runs) and `watchtower export` (from the
//! database), so both produce the same columns: `tick`, then every indicator in the
//! order of `Indicators::FIELDS`, as their callers report them ([`Indicators::reported`],
//! [`Indicators::report`]): money in genesis currency units, a float that no
//! redenomination makes jump. The raw cents stay in the database's `ticks` table.

use std::io::Write;
use std::str::FromStr;

use watchtower_protocol::{IndicatorValue, Indicators};

use crate::StoreError;

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

impl Format {
    /// The format a file name implies (`.csv`, `.jsonl`, `.ndjson`, `.json`).
    pub fn from_path(path: &std::path::Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" | "json" => Some(Format::Jsonl),
            _ => None,
        }
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "csv" => Ok(Format::Csv),
            "jsonl" => Ok(Format::Jsonl),
            other => Err(format!("unknown format `{other}` (csv or jsonl)")),
        }
    }
}

/// Writes one row per tick.
pub struct TickWriter<W: Write> {
    format: Format,
    out: W,
    header_written: bool,
    line: String,
}

impl<W: Write> TickWriter<W> {
    /// A writer of `format` into `out`.
    pub fn new(out: W, format: Format) -> Self {
        Self { format, out, header_written: false, line: String::with_capacity(1024) }
    }

    /// Writes tick `tick` with `values` in the order of `Indicators::FIELDS` (reported
    /// values: the writer converts nothing).
    pub fn write(&mut self, tick: u64, values: impl IntoIterator<Item = IndicatorValue>) -> Result<(), StoreError> {
        use std::fmt::Write as _;
        self.line.clear();
        match self.format {
            Format::Csv => {
                if !self.header_written {
                    self.line.push_str("tick");
                    for (name, _) in Indicators::FIELDS {
                        self.line.push(',');
                        self.line.push_str(name);
                    }
                    self.line.push('\n');
                    self.header_written = true;
                }
                let _ = write!(self.line, "{tick}");
                for v in values {
                    self.line.push(',');
                    push_value(&mut self.line, v);
                }
            }
            Format::Jsonl => {
                let _ = write!(self.line, "{{\"tick\":{tick}");
                for ((name, _), v) in Indicators::FIELDS.iter().zip(values) {
                    let _ = write!(self.line, ",\"{name}\":");
                    push_value(&mut self.line, v);
                }
                self.line.push('}');
            }
        }
        self.line.push('\n');
        self.out.write_all(self.line.as_bytes()).map_err(StoreError::Output)
    }

    /// Flushes what was written so far.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        self.out.flush().map_err(StoreError::Output)
    }

    /// Flushes and returns the inner writer.
    pub fn finish(mut self) -> Result<W, StoreError> {
        self.out.flush().map_err(StoreError::Output)?;
        Ok(self.out)
    }
}

/// Integers as integers; reals in the shortest form that reads back to the same bits
/// (valid in both CSV and JSON; non-finite values, which telemetry never holds, as null).
pub fn push_value(line: &mut String, v: IndicatorValue) {
    use std::fmt::Write as _;
    match v {
        IndicatorValue::Int(i) => {
            let _ = write!(line, "{i}");
        }
        IndicatorValue::Real(x) if x.is_finite() => {
            let _ = write!(line, "{x:?}");
        }
        IndicatorValue::Real(_) => line.push_str("null"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_has_a_header_and_jsonl_parses() {
        let i = Indicators { gdp: 42, unemployment_rate: 0.125, ..Indicators::default() };
        let mut csv = TickWriter::new(Vec::new(), Format::Csv);
        csv.write(0, i.values()).unwrap();
        csv.write(1, i.values()).unwrap();
        let text = String::from_utf8(csv.finish().unwrap()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("tick,output_real,gdp,"));
        assert_eq!(lines[0].split(',').count(), lines[1].split(',').count());
        assert!(lines[1].starts_with("0,0.0,42,"));

        let mut jsonl = TickWriter::new(Vec::new(), Format::Jsonl);
        jsonl.write(7, i.values()).unwrap();
        let row: serde_json::Value = serde_json::from_slice(&jsonl.finish().unwrap()).unwrap();
        assert_eq!(row["tick"], 7);
        assert_eq!(row["gdp"], 42);
        assert_eq!(row["unemployment_rate"], 0.125);
    }
}
