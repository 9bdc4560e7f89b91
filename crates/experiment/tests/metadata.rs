//! An experiment's table says what its numbers are: a Parquet file read back carries each
//! column's unit and description (as Arrow field metadata and in its key-value metadata),
//! the spec, the version and the time mapping; the Arrow batch handed to Python carries the
//! same field metadata; the CSV sidecar's columns are the CSV's.

use watchtower_experiment::meta::{FIELD_DESCRIPTION, FIELD_UNIT, META_COLUMNS, META_TIME, META_VERSION};
use watchtower_experiment::table::META_SPEC;
use watchtower_experiment::{ExperimentSpec, ExperimentTable, NoRecording, Plan, TableFormat, execute};
use watchtower_runner::Stop;

/// A what-if over two seeds of a tiny economy, with a year of 4 ticks.
const SPEC: &str = "\
name: meta
firms: 10
households: 100
ticks: 12
warmup: 4
seeds: 2
set: {economy.ticks_per_year: 4}
indicators: [unemployment_rate, gdp, inflation]
fork: {tick: 6, set: {government.income_tax_rate: 0.3}}
";

fn table() -> ExperimentTable {
    let plan = Plan::new(ExperimentSpec::parse(SPEC, "meta.yaml").unwrap());
    let mut table = ExperimentTable::new(plan.clone());
    let runs: Vec<u64> = (0..plan.len()).collect();
    execute(&plan, &runs, 1, &Stop::default(), &NoRecording, |s| {
        table.insert(s);
        Ok(())
    })
    .unwrap();
    table
}

#[test]
fn parquet_and_arrow_carry_units_descriptions_spec_version_and_time() {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let table = table();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.parquet");
    table.write(std::fs::File::create(&path).unwrap(), TableFormat::Parquet).unwrap();

    let reader = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
    let kv: std::collections::HashMap<String, String> = reader
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .unwrap()
        .iter()
        .map(|k| (k.key.clone(), k.value.clone().unwrap_or_default()))
        .collect();
    assert_eq!(kv[META_SPEC], SPEC);
    assert_eq!(kv[META_VERSION], env!("CARGO_PKG_VERSION"));
    let time: serde_json::Value = serde_json::from_str(&kv[META_TIME]).unwrap();
    assert_eq!(time["ticks_per_year"], 4.0);
    let columns: Vec<serde_json::Value> = serde_json::from_str(&kv[META_COLUMNS]).unwrap();
    let by_name = |n: &str| columns.iter().find(|c| c["name"] == n).unwrap_or_else(|| panic!("no column {n}")).clone();
    assert_eq!(by_name("gdp_mean")["unit"], "genesis currency units per tick");
    assert_eq!(by_name("effect_gdp")["unit"], "genesis currency units per tick");
    assert!(by_name("effect_unemployment_rate")["description"].as_str().unwrap().contains("percentage points"));
    assert_eq!(by_name("inflation_p95")["unit"], "rate per tick");
    assert!(by_name("phase")["description"].as_str().unwrap().contains("FE full employment"));
    assert_eq!(columns.len(), table.columns().len(), "every column is described");

    // The Arrow schema Parquet keeps, as a reader gets it back, and the batch Python gets.
    let file = std::fs::File::open(&path).unwrap();
    let arrow = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    for schema in [arrow.schema().clone(), table.to_record_batch().schema()] {
        let gdp = schema.field_with_name("gdp_mean").unwrap().metadata();
        assert_eq!(gdp[FIELD_UNIT], "genesis currency units per tick");
        assert!(gdp[FIELD_DESCRIPTION].starts_with("Mean over the run's window"), "{}", gdp[FIELD_DESCRIPTION]);
        let u = schema.field_with_name("effect_unemployment_rate").unwrap().metadata();
        assert_eq!(u[FIELD_UNIT], "share (0 to 1)");
    }
}

#[test]
fn the_csv_sidecar_describes_the_csv_columns() {
    let table = table();
    let mut csv = Vec::new();
    table.write(&mut csv, TableFormat::Csv).unwrap();
    let header: Vec<String> =
        String::from_utf8(csv).unwrap().lines().next().unwrap().split(',').map(String::from).collect();
    let meta = table.metadata();
    let names: Vec<&str> = meta["columns"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, header);
    assert_eq!(meta["time"]["ticks_per_year"], 4.0);
    assert_eq!(meta["spec"], SPEC);
}
