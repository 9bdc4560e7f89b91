//! The gate in front of the store's read pool: how many requests read SQLite at once,
//! and where they do it.
//!
//! The pool holds a few connections (4). Every request that reads the store takes a
//! permit first, and there are exactly as many permits as connections, so a reader that
//! holds one never waits for a connection and never meets the pool's own timeout (which
//! used to answer 500 once sixteen readers queued for four connections). A request that
//! finds no permit within its wait is refused with 503 and `Retry-After`: the client
//! comes back later, and the server keeps its memory and its threads.
//!
//! The reading itself (SQLite, and turning rows into JSON) runs on tokio's blocking
//! threads, never on the async workers that carry telemetry, `/metrics` and `/healthz`;
//! and since the permit travels with the blocking work (it is released when the work
//! ends, even if the client has gone), at most that many readers use the CPU at once, so
//! they cannot crowd out the engine or the broadcaster on a small machine.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::metrics::counter::Counter;
use serde_json::json;
use tokio::sync::Semaphore;
use watchtower_store::{History, StoreError};

/// How long a request waits for a permit before it is told to come back (503).
pub const QUEUE_WAIT: Duration = Duration::from_secs(2);

/// What a refused reader is told to wait before trying again, in seconds.
const RETRY_AFTER_SECONDS: &str = "1";

/// The store's read side behind a bounded number of permits.
#[derive(Debug, Clone)]
pub struct Readers {
    history: History,
    permits: Arc<Semaphore>,
    /// Counts the requests refused with 503.
    refused: Counter,
}

/// Why a read gave no answer.
#[derive(Debug)]
pub enum ReadError {
    /// Every permit stayed taken for the whole wait.
    Busy,
    /// The query failed (or its thread panicked).
    Failed(String),
}

impl Readers {
    /// One permit per connection of `history`'s pool; refusals are counted in `refused`.
    pub fn new(history: History, refused: Counter) -> Self {
        let permits = Arc::new(Semaphore::new(history.size() as usize));
        Self { history, permits, refused }
    }

    /// Runs `read` on a blocking thread once a permit is free, waiting for one at most
    /// `wait`.
    pub async fn read<T: Send + 'static>(
        &self,
        wait: Duration,
        read: impl FnOnce(&History) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, ReadError> {
        let permit = match tokio::time::timeout(wait, Arc::clone(&self.permits).acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) | Err(_) => {
                self.refused.inc();
                return Err(ReadError::Busy);
            }
        };
        let history = self.history.clone();
        let work = tokio::task::spawn_blocking(move || {
            let _permit = permit; // held until the query is done, whoever is still waiting for it
            read(&history)
        });
        match work.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(ReadError::Failed(e.to_string())),
            Err(e) => Err(ReadError::Failed(format!("the query's thread failed: {e}"))),
        }
    }
}

impl IntoResponse for ReadError {
    fn into_response(self) -> Response {
        match self {
            ReadError::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, RETRY_AFTER_SECONDS)],
                Json(json!({"error": "busy: every reader of the store is taken; retry in a second"})),
            )
                .into_response(),
            ReadError::Failed(message) => {
                (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": message}))).into_response()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With every permit taken, a reader is told to retry (503, `Retry-After`) once its
    /// wait runs out; it never waits on the pool and never gets a 500.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reader_past_the_permits_is_told_to_retry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("watchtower.db");
        let mut db = watchtower_store::connection::open_writer(&path).unwrap();
        watchtower_store::schema::migrate(&mut db).unwrap();
        let refused = Counter::default();
        let readers = Readers::new(History::open(&path, 1).unwrap(), refused.clone());
        let slow = {
            let readers = readers.clone();
            tokio::spawn(async move {
                readers
                    .read(QUEUE_WAIT, |_| {
                        std::thread::sleep(Duration::from_millis(400));
                        Ok(())
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let busy = readers.read(Duration::from_millis(50), |_| Ok(())).await.unwrap_err();
        let response = busy.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], RETRY_AFTER_SECONDS);
        assert_eq!(refused.get(), 1);
        assert!(slow.await.unwrap().is_ok());
        // Queued within its wait, the next reader is served.
        assert!(readers.read(QUEUE_WAIT, |h| h.latest_run()).await.is_ok());
    }
}
