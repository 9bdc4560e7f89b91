//! Analytics DTOs: the agents' state vectors copied out of the engine, and the embedding
//! map computed from them in the background (DESIGN.md §7).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One agent's row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureRow {
    /// The agent's index within its kind.
    pub id: u64,
    /// `household`, `firm` or `agent`.
    pub kind: String,
    /// A status to colour by: `employed`, `unemployed`, `solvent`, `indebted`, ...
    pub label: String,
    /// One value per column of the table.
    pub values: Vec<f64>,
}

/// A copy of agents' features at one settled tick. Households and firms share one column
/// set (a household's firm columns are 0 and vice versa), so one map shows both.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FeatureTable {
    /// The tick the copy was taken after.
    pub tick: u64,
    /// Column names.
    pub columns: Vec<String>,
    /// One row per agent.
    pub rows: Vec<FeatureRow>,
}

impl FeatureTable {
    /// An empty table with these columns.
    pub fn new(columns: &[&str]) -> Self {
        Self { tick: 0, columns: columns.iter().map(|c| c.to_string()).collect(), rows: Vec::new() }
    }

    /// Appends a row; `values` has one entry per column.
    pub fn push(&mut self, id: u64, kind: &str, label: &str, values: &[f64]) {
        debug_assert_eq!(values.len(), self.columns.len());
        self.rows.push(FeatureRow { id, kind: kind.into(), label: label.into(), values: values.to_vec() });
    }
}

/// One agent on the map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingPoint {
    /// The agent's index within its kind.
    pub id: u64,
    /// `household`, `firm` or `agent`.
    pub kind: String,
    /// Its status label.
    pub label: String,
    /// Map coordinates.
    pub x: f64,
    /// Map coordinates.
    pub y: f64,
    /// Its raw feature values by column name.
    #[serde(flatten)]
    pub features: BTreeMap<String, f64>,
}

/// A finished embedding map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingMap {
    /// The tick the agents were copied after.
    pub tick: u64,
    /// Wall time of the computation, milliseconds.
    pub took_ms: u64,
    /// The feature columns.
    pub columns: Vec<String>,
    /// One point per sampled agent.
    pub points: Vec<EmbeddingPoint>,
}

/// Where the background computation stands (`GET /api/admin/embedding-map`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum EmbeddingStatus {
    /// Waiting for a settled tick or computing: 202.
    Computing {
        /// Share of the optimisation done, 0 to 1.
        progress: f64,
    },
    /// Done: 200.
    Ready(EmbeddingMap),
    /// Failed: 500 (the server keeps running).
    Failed {
        /// Why.
        error: String,
    },
}
