//! Shard files are checked, not trusted: every single-byte change to a real shard file
//! (written by running its runs, as `experiment --shard` does) either makes the merge fail
//! naming that file, or leaves the merged table byte for byte what it was. Before the
//! digests, 13 of 415 flips merged silently into a different table.

use std::path::{Path, PathBuf};

use watchtower_experiment::{
    ExperimentSpec, ExperimentTable, NoRecording, Plan, Shard, TableFormat, execute, merge_shards,
};
use watchtower_runner::Stop;

/// An ensemble of four seeds of a tiny economy, in two shards.
const SPEC: &str = "\
name: flip
firms: 10
households: 100
ticks: 12
warmup: 4
seeds: 4
indicators: [unemployment_rate, output_real]
";

/// Runs shard `shard` of `plan` and writes its file to `path`.
fn write_shard(plan: &Plan, shard: Shard, path: &Path) {
    let runs: Vec<u64> = plan.shard(shard).collect();
    let mut table = ExperimentTable::new(plan.clone());
    execute(plan, &runs, 2, &Stop::default(), &NoRecording, |s| {
        table.insert(s);
        Ok(())
    })
    .unwrap();
    table.write_parquet(std::fs::File::create(path).unwrap(), Some(shard)).unwrap();
}

/// The merged table as CSV, or the error in words.
fn merged(files: &[PathBuf]) -> Result<Vec<u8>, String> {
    let merged = merge_shards(files).map_err(|e| e.to_string())?;
    let mut csv = Vec::new();
    merged.table.write(&mut csv, TableFormat::Csv).map_err(|e| e.to_string())?;
    Ok(csv)
}

/// Flips of one byte of a shard, at most about this many in the default test run (every
/// k-th byte, the offset turning with k so each class of bytes is met); the whole walk is
/// `--ignored` (about two minutes in a debug build since the file carries its columns'
/// units and the spec).
const SAMPLED_FLIPS: usize = 1_500;

#[test]
fn single_byte_flips_across_a_shard_are_refused_by_name_or_change_nothing() {
    flips(|len| len.div_ceil(SAMPLED_FLIPS).max(1));
}

#[test]
#[ignore = "every byte of the shard: about two minutes in a debug build"]
fn every_single_byte_flip_of_a_shard_is_refused_by_name_or_changes_nothing() {
    flips(|_| 1);
}

/// Flips every `stride(len)`-th byte of a real shard (the offset turning by one each
/// pass over a stride's width) and merges it with its sibling.
fn flips(stride: impl Fn(usize) -> usize) {
    let dir = tempfile::tempdir().unwrap();
    let plan = Plan::new(ExperimentSpec::parse(SPEC, "flip.yaml").unwrap());
    let (a, b) = (dir.path().join("shard-0.parquet"), dir.path().join("shard-1.parquet"));
    write_shard(&plan, "0/2".parse().unwrap(), &a);
    write_shard(&plan, "1/2".parse().unwrap(), &b);
    let whole = merged(&[a.clone(), b.clone()]).unwrap();
    let clean = std::fs::read(&a).unwrap();
    let flipped = dir.path().join("flipped.parquet");
    let files = [flipped.clone(), b.clone()];

    // A corrupted file may make the Parquet reader panic; the merge catches that and names
    // the file. The panics' messages are silenced here, and any panic that escaped the
    // merge is counted.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let (mut refused, mut same, mut silent, mut panicked, mut unnamed) = (0, 0, Vec::new(), 0, Vec::new());
    let step = stride(clean.len());
    let walked: Vec<usize> =
        (0..clean.len()).step_by(step).enumerate().map(|(i, at)| (at + i % step).min(clean.len() - 1)).collect();
    for &at in &walked {
        let mut bytes = clean.clone();
        bytes[at] ^= 0x01;
        std::fs::write(&flipped, &bytes).unwrap();
        match std::panic::catch_unwind(|| merged(&files)) {
            Ok(Ok(csv)) if csv == whole => same += 1,
            Ok(Ok(_)) => silent.push(at),
            Ok(Err(e)) if e.contains("flipped.parquet") => refused += 1,
            Ok(Err(e)) => unnamed.push((at, e)),
            Err(_) => panicked += 1,
        }
    }
    std::panic::set_hook(hook);
    eprintln!(
        "{} flips of a {}-byte shard: {refused} refused naming the file, {same} merged into the same table, \
         {} merged silently into a different table, {panicked} panicked, {} refused without naming it",
        walked.len(),
        clean.len(),
        silent.len(),
        unnamed.len()
    );
    assert!(silent.is_empty(), "flips at {silent:?} merged into a different table");
    assert!(unnamed.is_empty(), "refused without naming the file: {unnamed:?}");
    assert_eq!(panicked, 0, "a panic escaped the merge");
}

#[test]
fn a_shard_names_the_digests_of_its_rows_and_its_spec() {
    let dir = tempfile::tempdir().unwrap();
    let plan = Plan::new(ExperimentSpec::parse(SPEC, "flip.yaml").unwrap());
    let a = dir.path().join("shard-0.parquet");
    write_shard(&plan, "0/2".parse().unwrap(), &a);
    let reader = parquet::file::reader::SerializedFileReader::new(std::fs::File::open(&a).unwrap()).unwrap();
    use parquet::file::reader::FileReader;
    let keys: Vec<String> = reader
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .unwrap()
        .iter()
        .filter(|kv| kv.value.as_ref().is_some_and(|v| v.len() == 64))
        .map(|kv| kv.key.clone())
        .collect();
    assert_eq!(keys, ["watchtower.experiment.rows_sha256", "watchtower.experiment.spec_sha256"]);
}
