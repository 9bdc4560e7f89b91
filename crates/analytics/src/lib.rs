//! The embedding map: a 2-D t-SNE of the agents' state vectors (DESIGN.md §7).
//!
//! Features are made comparable before embedding: money columns (wealth, income, cash,
//! budgets) are heavy-tailed, so they go through a signed log first; then every column is
//! standardised to mean 0 and standard deviation 1 (a constant column becomes 0). The
//! embedding is Barnes–Hut t-SNE (van der Maaten 2014, the `bhtsne` crate) from a seeded
//! starting layout, on a pool of `threads` threads, so the same table always gives the
//! same map and the computation takes no more of the machine than it is given.

use std::collections::BTreeMap;
use std::time::Instant;

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use watchtower_protocol::{EmbeddingMap, EmbeddingPoint, FeatureTable};

/// How to compute a map.
#[derive(Debug, Clone)]
pub struct Options {
    /// t-SNE perplexity (effective number of neighbours).
    pub perplexity: f64,
    /// Gradient-descent epochs.
    pub epochs: usize,
    /// Barnes–Hut accuracy (0 = exact; 0.5 is the usual trade-off).
    pub theta: f64,
    /// Seed of the starting layout.
    pub seed: u64,
    /// Threads the computation may use.
    pub threads: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self { perplexity: 30.0, epochs: 750, theta: 0.5, seed: 42, threads: 1 }
    }
}

/// Columns holding money (or money-like) amounts, log-transformed before standardising.
const HEAVY_TAILED: &[&str] = &["wealth", "income", "consumption_budget", "cash"];

/// Why no map could be made.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    /// Fewer agents than t-SNE needs for the perplexity.
    #[error("{rows} agents are too few for an embedding with perplexity {perplexity} (need more than {needed})")]
    TooFew {
        /// Rows in the table.
        rows: usize,
        /// The perplexity asked for.
        perplexity: f64,
        /// Rows needed.
        needed: usize,
    },
    /// The worker pool could not be built.
    #[error("cannot start the analytics thread pool: {0}")]
    Pool(String),
    /// The optimisation produced a non-finite coordinate.
    #[error("the embedding diverged (non-finite coordinates)")]
    Diverged,
}

/// The table's features, transformed and standardised, one `Vec` per row.
pub fn standardise(table: &FeatureTable) -> Vec<Vec<f64>> {
    let n = table.rows.len().max(1) as f64;
    let heavy: Vec<bool> = table.columns.iter().map(|c| HEAVY_TAILED.contains(&c.as_str())).collect();
    let transform = |j: usize, x: f64| if heavy[j] { x.signum() * x.abs().ln_1p() } else { x };
    let mut rows: Vec<Vec<f64>> =
        table.rows.iter().map(|r| r.values.iter().enumerate().map(|(j, &x)| transform(j, x)).collect()).collect();
    for j in 0..table.columns.len() {
        let mean = rows.iter().map(|r| r[j]).sum::<f64>() / n;
        let sd = (rows.iter().map(|r| (r[j] - mean).powi(2)).sum::<f64>() / n).sqrt();
        for r in &mut rows {
            r[j] = if sd > 0.0 { (r[j] - mean) / sd } else { 0.0 };
        }
    }
    rows
}

fn euclidean(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt()
}

/// Each point's `k` nearest neighbours by ascending distance, ties broken by index.
///
/// Exact and brute force (O(n²·d), a fraction of a second at 5,000 agents). `bhtsne`'s own
/// vantage-point tree picks vantage points with an unseeded generator, so among the many
/// agents at exactly equal distances (households of one employer look alike) it returns
/// different neighbours on different runs; computing them here keeps maps reproducible.
pub fn nearest_neighbours(points: &[Vec<f64>], k: usize) -> Vec<Vec<bhtsne::Neighbor<f64>>> {
    let order = |a: &bhtsne::Neighbor<f64>, b: &bhtsne::Neighbor<f64>| {
        a.distance.total_cmp(&b.distance).then(a.index.cmp(&b.index))
    };
    let mut candidates = Vec::with_capacity(points.len());
    points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            candidates.clear();
            candidates.extend(
                points
                    .iter()
                    .enumerate()
                    .filter(|&(j, _)| j != i)
                    .map(|(j, q)| bhtsne::Neighbor { index: j, distance: euclidean(p, q) }),
            );
            candidates.select_nth_unstable_by(k - 1, order);
            let mut nearest = candidates[..k].to_vec();
            nearest.sort_unstable_by(order);
            nearest
        })
        .collect()
}

/// Embeds `table` in two dimensions, reporting progress (0 to 1) after each epoch.
///
/// The callback is a trait object on purpose: a generic parameter would instantiate this
/// whole function, t-SNE included, in the caller's crate and at the caller's optimisation
/// level (a debug build of the app ran it 14 times slower).
pub fn embed(
    table: &FeatureTable,
    options: &Options,
    progress: &mut (dyn FnMut(f64) + Send),
) -> Result<EmbeddingMap, AnalyticsError> {
    let started = Instant::now();
    let n = table.rows.len();
    let needed = (3.0 * options.perplexity).ceil() as usize + 1;
    if n <= needed {
        return Err(AnalyticsError::TooFew { rows: n, perplexity: options.perplexity, needed });
    }
    let features = standardise(table);
    let neighbours = nearest_neighbours(&features, (3.0 * options.perplexity) as usize);
    let vectors: Vec<&[f64]> = features.iter().map(Vec::as_slice).collect();
    // The usual start: a tiny Gaussian cloud, here from a seeded stream.
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let start: Vec<f64> = (0..2 * n).map(|_| 1e-4 * standard_normal(&mut rng)).collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.threads.max(1))
        .thread_name(|i| format!("analytics-{i}"))
        .build()
        .map_err(|e| AnalyticsError::Pool(e.to_string()))?;
    let epochs = options.epochs;
    let coordinates: Vec<f64> = pool.install(|| {
        let mut tsne: bhtsne::tSNE<f64, &[f64]> = bhtsne::tSNE::new(&vectors);
        tsne.perplexity(options.perplexity)
            .epochs(epochs)
            .initial_embedding(start)
            .epoch_callback(move |epoch, _| progress((epoch + 1) as f64 / epochs as f64))
            .barnes_hut_with_neighbors(options.theta, &neighbours);
        tsne.embedding()
    });
    if coordinates.iter().any(|c| !c.is_finite()) {
        return Err(AnalyticsError::Diverged);
    }
    let points = table
        .rows
        .iter()
        .zip(coordinates.chunks_exact(2))
        .map(|(row, xy)| EmbeddingPoint {
            id: row.id,
            kind: row.kind.clone(),
            label: row.label.clone(),
            x: xy[0],
            y: xy[1],
            features: table.columns.iter().cloned().zip(row.values.iter().copied()).collect::<BTreeMap<_, _>>(),
        })
        .collect();
    Ok(EmbeddingMap {
        tick: table.tick,
        took_ms: started.elapsed().as_millis() as u64,
        columns: table.columns.clone(),
        points,
    })
}

/// Box–Muller from a seeded stream (pinned bits, unlike a distribution crate's).
fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1 = ((rng.next_u64() >> 11) as f64 + 1.0) * (1.0 / (1u64 << 53) as f64);
    let u2 = (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// How well the map keeps one label together.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelAgreement {
    /// The label.
    pub label: String,
    /// Points with it.
    pub count: usize,
    /// Share of them whose `k` nearest neighbours on the map are mostly of the same label.
    pub agreement: f64,
    /// The same share if the map placed points at random.
    pub chance: f64,
}

/// For every label among the points of `kind`: the share of points whose `k` nearest
/// neighbours on the map mostly share their label, next to what chance would give.
pub fn knn_agreement(points: &[EmbeddingPoint], kind: &str, k: usize) -> Vec<LabelAgreement> {
    let subset: Vec<&EmbeddingPoint> = points.iter().filter(|p| p.kind == kind).collect();
    let n = subset.len();
    let mut by_label: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    if n <= k {
        return Vec::new();
    }
    let mut distances: Vec<(f64, usize)> = Vec::with_capacity(n);
    for (i, p) in subset.iter().enumerate() {
        distances.clear();
        distances.extend(
            subset
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(j, q)| ((p.x - q.x).powi(2) + (p.y - q.y).powi(2), j)),
        );
        distances.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let same = distances[..k].iter().filter(|&&(_, j)| subset[j].label == p.label).count();
        let entry = by_label.entry(p.label.as_str()).or_default();
        entry.0 += 1;
        entry.1 += usize::from(2 * same > k);
    }
    by_label
        .into_iter()
        .map(|(label, (count, agree))| LabelAgreement {
            label: label.to_string(),
            count,
            agreement: agree as f64 / count as f64,
            chance: majority_probability(count as f64 / n as f64, k),
        })
        .collect()
}

/// P(more than k/2 successes in k draws) for success probability p.
fn majority_probability(p: f64, k: usize) -> f64 {
    let mut total = 0.0;
    let mut binom = 1.0;
    for s in 0..=k {
        if s > 0 {
            binom *= (k - s + 1) as f64 / s as f64;
        }
        if 2 * s > k {
            total += binom * p.powi(s as i32) * (1.0 - p).powi((k - s) as i32);
        }
    }
    total
}
