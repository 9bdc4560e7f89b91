//! Agents' state vectors, copied out of the engine for analytics (the embedding map).
//!
//! Households and firms share one column set (a household's firm columns are 0 and
//! vice versa), so a single embedding shows both populations and how they relate.

/// One agent's row.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureRow {
    /// The agent's index within its kind.
    pub id: u64,
    /// `household`, `firm` or `agent`.
    pub kind: &'static str,
    /// A status to colour by: `employed`, `unemployed`, `solvent`, `indebted`, ...
    pub label: &'static str,
    /// One value per column.
    pub values: Vec<f64>,
}

/// A copy of agents' features at one tick.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeatureTable {
    /// Column names.
    pub columns: Vec<String>,
    /// One row per agent.
    pub rows: Vec<FeatureRow>,
}

impl FeatureTable {
    /// An empty table with these columns.
    pub fn new(columns: &[&str]) -> Self {
        Self { columns: columns.iter().map(|c| c.to_string()).collect(), rows: Vec::new() }
    }

    /// Appends a row; `values` has one entry per column.
    pub fn push(&mut self, id: u64, kind: &'static str, label: &'static str, values: &[f64]) {
        debug_assert_eq!(values.len(), self.columns.len());
        self.rows.push(FeatureRow { id, kind, label, values: values.to_vec() });
    }
}
