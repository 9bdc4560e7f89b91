//! Fuzzes the command path: wire parser, then registry validation.
//! `cargo fuzz run commands --sanitizer none` (seed corpus in `fuzz/corpus/commands`).
#![no_main]

#[path = "../../crates/watchtower/tests/support/exercise.rs"]
mod exercise;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(violation) = exercise::exercise(data) {
        panic!("{violation}");
    }
});
