//! The schema, as versioned migrations (`PRAGMA user_version`).
//!
//! Migrations are append-only: a released one is never edited. The `ticks` table has one
//! column per field of `Indicators`; a test checks they agree, so adding an indicator
//! means adding a migration.

use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};

use crate::connection::APPLICATION_ID;

const V1: &str = r#"
CREATE TABLE runs (
    id            INTEGER PRIMARY KEY,
    model         TEXT    NOT NULL,
    seed          INTEGER NOT NULL,
    households    INTEGER NOT NULL,
    firms         INTEGER NOT NULL,
    agents        INTEGER NOT NULL,
    parameters    TEXT    NOT NULL,   -- JSON object: registry key -> value at start
    model_version TEXT    NOT NULL,
    started_at    TEXT    NOT NULL,   -- UTC, ISO 8601
    ended_at      TEXT,
    status        TEXT    NOT NULL CHECK (status IN ('running', 'finished', 'interrupted', 'failed')),
    last_tick     INTEGER,
    error         TEXT
);

CREATE TABLE ticks (
    run_id                 INTEGER NOT NULL REFERENCES runs(id),
    tick                   INTEGER NOT NULL,
    output_real            REAL    NOT NULL,
    gdp                    INTEGER NOT NULL,
    consumption            INTEGER NOT NULL,
    government_spending    INTEGER NOT NULL,
    price_level            REAL    NOT NULL,
    price_index_log10      REAL    NOT NULL,
    inflation              REAL    NOT NULL,
    expected_inflation     REAL    NOT NULL,
    unemployment_rate      REAL    NOT NULL,
    employed               INTEGER NOT NULL,
    average_wage           INTEGER NOT NULL,
    wage_bill              INTEGER NOT NULL,
    gini_wealth            REAL    NOT NULL,
    gini_income            REAL    NOT NULL,
    income_tax             INTEGER NOT NULL,
    corporate_tax          INTEGER NOT NULL,
    tax_revenue            INTEGER NOT NULL,
    welfare_paid           INTEGER NOT NULL,
    government_balance     INTEGER NOT NULL,
    government_debt        INTEGER NOT NULL,
    money_stock            INTEGER NOT NULL,
    loans                  INTEGER NOT NULL,
    defaults               INTEGER NOT NULL,
    bankruptcies           INTEGER NOT NULL,
    active_firms           INTEGER NOT NULL,
    profits                INTEGER NOT NULL,
    dividends              INTEGER NOT NULL,
    loan_rate              REAL    NOT NULL,
    deposit_rate           REAL    NOT NULL,
    policy_rate            REAL    NOT NULL,
    consumption_propensity REAL    NOT NULL,
    financial_fragility    REAL    NOT NULL,
    redenominations        INTEGER NOT NULL,
    money_households       INTEGER NOT NULL,
    money_firms            INTEGER NOT NULL,
    money_government       INTEGER NOT NULL,
    money_bank             INTEGER NOT NULL,
    money_issuer           INTEGER NOT NULL,
    money_other            INTEGER NOT NULL,
    money_drift            INTEGER NOT NULL,
    PRIMARY KEY (run_id, tick)          -- "ticks of run R between A and B" is a range scan
) WITHOUT ROWID;

CREATE TABLE agent_stats (
    run_id    INTEGER NOT NULL,
    tick      INTEGER NOT NULL,
    name      TEXT    NOT NULL,         -- household_wealth, household_income, firm_size, ...
    unit      TEXT    NOT NULL,
    count     INTEGER NOT NULL,
    mean      REAL    NOT NULL,
    min       REAL    NOT NULL,
    p10       REAL    NOT NULL,
    p50       REAL    NOT NULL,
    p90       REAL    NOT NULL,
    max       REAL    NOT NULL,
    hist_lo   REAL    NOT NULL,
    hist_hi   REAL    NOT NULL,
    histogram TEXT    NOT NULL,         -- JSON array of bin counts
    PRIMARY KEY (run_id, tick, name),
    FOREIGN KEY (run_id, tick) REFERENCES ticks(run_id, tick)
) WITHOUT ROWID;

CREATE TABLE commands (
    id             INTEGER PRIMARY KEY,  -- arrival order
    run_id         INTEGER NOT NULL REFERENCES runs(id),
    command_id     TEXT    NOT NULL,     -- the client's id
    key            TEXT    NOT NULL,
    value          TEXT    NOT NULL,     -- JSON, as received
    received_at_ms INTEGER NOT NULL,
    applied_tick   INTEGER,              -- NULL if it never reached the engine
    success        INTEGER NOT NULL,
    code           TEXT,
    error          TEXT,
    old            TEXT,                 -- JSON
    new            TEXT                  -- JSON
);
CREATE INDEX commands_by_run ON commands(run_id, id);
"#;

/// Version 2: who sent each command (transport and peer address); empty for commands
/// recorded before it.
const V2: &str = "ALTER TABLE commands ADD COLUMN source TEXT NOT NULL DEFAULT '';";

/// Version 3, what-if branches, checkpoints and resume (issue 16):
///
/// - `runs.parent_run_id`, `runs.fork_tick`: a branch's parent and the first tick it ran
///   apart from it (NULL for a run started from genesis); `branch_name` and `changes`
///   (JSON object: the settings the fork changed) say what the what-if is;
///   `dropped_tick`: the branch was dropped before that tick (its rows are kept).
/// - `runs.tick_target` (the `--ticks` it was started with, NULL for none) and
///   `runs.schedule` (JSON list of `{tick, key, value}`): what a resume needs to continue
///   the run as it was planned; `resumed_at`: JSON list of the ticks it was resumed at.
/// - `checkpoints`: the engine's whole state, zstd-compressed, at `tick` (the first tick
///   the state has not run yet), in the engine's checkpoint `format`.
const V3_WHATIF: &str = r#"
ALTER TABLE runs ADD COLUMN parent_run_id INTEGER REFERENCES runs(id);
ALTER TABLE runs ADD COLUMN fork_tick     INTEGER;
ALTER TABLE runs ADD COLUMN branch_name   TEXT;
ALTER TABLE runs ADD COLUMN changes       TEXT;
ALTER TABLE runs ADD COLUMN dropped_tick  INTEGER;
ALTER TABLE runs ADD COLUMN tick_target   INTEGER;
ALTER TABLE runs ADD COLUMN schedule      TEXT;
ALTER TABLE runs ADD COLUMN resumed_at    TEXT;
CREATE INDEX runs_by_parent ON runs(parent_run_id);

CREATE TABLE checkpoints (
    run_id     INTEGER NOT NULL REFERENCES runs(id),
    tick       INTEGER NOT NULL,     -- the state before this tick runs
    format     INTEGER NOT NULL,     -- the engine's checkpoint format
    raw_size   INTEGER NOT NULL,     -- bytes before compression
    bytes      BLOB    NOT NULL,     -- zstd
    created_at TEXT    NOT NULL,     -- UTC, ISO 8601
    PRIMARY KEY (run_id, tick)
);
"#;

/// Version 4, experiments (issue 14): a grid of runs × seeds, its spec and progress, and one summary per finished
/// run of an experiment; a run recorded tick by tick for an experiment (`--keep-ticks`)
/// names it. Self-contained in this one constant, so it can be renumbered.
pub const V4_EXPERIMENTS: &str = r#"
CREATE TABLE experiments (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    source      TEXT    NOT NULL,   -- the spec's file name, for messages
    spec        TEXT    NOT NULL,   -- the spec's YAML as given
    overrides   TEXT    NOT NULL,   -- JSON array of the --set arguments applied on top
    layout      TEXT    NOT NULL,   -- JSON: axes, indicators, columns, fork (for readers)
    runs        INTEGER NOT NULL,   -- runs planned: grid points x seeds
    points      INTEGER NOT NULL,   -- grid points
    done        INTEGER NOT NULL DEFAULT 0,
    status      TEXT    NOT NULL CHECK (status IN ('running', 'finished', 'interrupted', 'failed')),
    started_at  TEXT    NOT NULL,   -- UTC, ISO 8601
    ended_at    TEXT,
    error       TEXT
);

CREATE TABLE run_summaries (
    experiment_id INTEGER NOT NULL REFERENCES experiments(id),
    run           INTEGER NOT NULL,   -- index in the plan
    point         INTEGER NOT NULL,   -- grid point
    seed          INTEGER NOT NULL,
    phase         TEXT,               -- FU, RU, EC, FE; NULL for Boltzmann or a failed run
    error         TEXT,
    row           TEXT    NOT NULL,   -- JSON object: the run's row of the tidy table
    format        INTEGER NOT NULL,   -- version of `summary`'s encoding
    summary       BLOB    NOT NULL,   -- the exact summary (postcard), what exports read
    finished_at   TEXT    NOT NULL,
    PRIMARY KEY (experiment_id, run)
) WITHOUT ROWID;

ALTER TABLE runs ADD COLUMN experiment_id INTEGER REFERENCES experiments(id);
ALTER TABLE runs ADD COLUMN experiment_run INTEGER;
"#;

/// Version 5, forks cannot fill the disk (issue 21): a what-if branch's starting
/// checkpoint is its parent's state at the fork, the same bytes for every fork of that
/// state, so it is stored once in `checkpoint_blobs` (by the SHA-256 of its uncompressed
/// bytes) and its `checkpoints` row names it in `blob` (with empty `bytes`). A blob no
/// row names any more is deleted with the last row. Self-contained, so it can be
/// renumbered.
pub const V5_SHARED_CHECKPOINTS: &str = r#"
CREATE TABLE checkpoint_blobs (
    digest TEXT PRIMARY KEY,   -- SHA-256 of the uncompressed bytes, hex
    bytes  BLOB NOT NULL       -- zstd
);
ALTER TABLE checkpoints ADD COLUMN blob TEXT;   -- NULL: the bytes are the row's own
CREATE INDEX checkpoints_by_blob ON checkpoints(blob) WHERE blob IS NOT NULL;
"#;

/// Version 6, retention (issue 21): a run kept with `--keep-ticks` has its per-tick rows
/// before `thinned_before` thinned to the ticks that are multiples of `thin_every`
/// (NULL: nothing thinned). Self-contained, so it can be renumbered.
pub const V6_RETENTION: &str = r#"
ALTER TABLE runs ADD COLUMN thinned_before INTEGER;
ALTER TABLE runs ADD COLUMN thin_every     INTEGER;
"#;

/// The schema's migrations, oldest first.
pub fn migrations() -> Migrations<'static> {
    Migrations::new(MIGRATIONS.iter().map(|sql| M::up(sql)).collect())
}

const MIGRATIONS: [&str; 6] = [V1, V2, V3_WHATIF, V4_EXPERIMENTS, V5_SHARED_CHECKPOINTS, V6_RETENTION];

/// The schema version this build writes and reads (`PRAGMA user_version` once migrated).
pub const LATEST: i64 = MIGRATIONS.len() as i64;

/// The schema version of an open database (0 before any migration).
pub fn version(conn: &Connection) -> Result<i64, rusqlite::Error> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Brings the database to the latest schema and marks it as Watchtower's.
pub fn migrate(conn: &mut Connection) -> Result<(), rusqlite_migration::Error> {
    migrations().to_latest(conn)?;
    conn.pragma_update(None, "application_id", APPLICATION_ID)?;
    Ok(())
}
