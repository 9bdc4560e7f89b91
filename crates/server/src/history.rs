//! `GET /api/history?run=&from=&to=&limit=`: persisted ticks, streamed page by page.
//!
//! The answer is `{"run":1,"ticks":[{"tick":0,…},…],"next_from":null}`, as the dashboard
//! reads it. It used to be built whole in memory (100,000 ticks took the process from
//! 10 MB to 500 MB, and serialising it held an async worker for seconds, stalling
//! telemetry). Now it is written [`PAGE`] rows at a time: each page is read and turned
//! into JSON on a blocking thread under a read permit ([`crate::readers`]), and the next
//! page is read only once the socket has taken the previous one. So a request holds one
//! page in memory whatever its `limit`, holds no database connection between pages, and a
//! client that stops reading holds only its socket (which the idle timeout closes).
//!
//! - `run`: default the run being recorded (else the newest).
//! - `to`: default the newest tick stored when the request arrives.
//! - `from`: default the newest `limit` ticks up to `to`.
//! - `limit`: default 2,000; at most [`MAX_ROWS`] are sent. When `limit` (or that cap) cut
//!   the answer short, `next_from` is the `from` of the rest; otherwise it is `null`.
//!
//! The status is decided by the first page (400 for a parameter that does not fit, 503
//! when every reader is busy, 500 if the store fails); a store failure after that, which
//! can no longer change the status, cuts the body off, so the client sees truncated JSON
//! rather than a short answer that looks whole.

use std::io::Write as _;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use tracing::warn;
use watchtower_protocol::{IndicatorValue, Indicators};
use watchtower_store::{History, StoreError};

use crate::query::{BadParam, MAX_SQL, run_id, whole};
use crate::readers::{QUEUE_WAIT, Readers};
use crate::respond::no_store;
use crate::state::AppState;

/// Rows read, serialised and sent at a time (about 1 KB each as JSON).
pub const PAGE: usize = 500;

/// Most rows one request returns; `next_from` says where the rest begin.
pub const MAX_ROWS: u64 = 100_000;

/// Rows when `limit` is not given.
const DEFAULT_ROWS: u64 = 2_000;

/// How long a page of a response already under way waits for a reader.
const PAGE_WAIT: Duration = Duration::from_secs(30);

/// The parameters as sent: text, so that each can be checked and refused by name.
#[derive(Deserialize)]
pub struct RawQuery {
    run: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<String>,
}

/// The parameters, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Wanted {
    run: Option<i64>,
    from: Option<u64>,
    to: Option<u64>,
    limit: u64,
}

impl Wanted {
    fn parse(q: &RawQuery) -> Result<Self, BadParam> {
        Ok(Self {
            run: run_id(q.run.as_deref())?,
            from: whole("from", q.from.as_deref(), 0, MAX_SQL)?,
            to: whole("to", q.to.as_deref(), 0, MAX_SQL)?,
            // Any whole number up to 2^63 − 1 is a limit (cut to MAX_ROWS); past it, as for
            // every other number here, it does not fit.
            limit: whole("limit", q.limit.as_deref(), 1, MAX_SQL)?.unwrap_or(DEFAULT_ROWS).min(MAX_ROWS),
        })
    }
}

/// Where a response stands: the next tick to read, the last one wanted, rows still allowed.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    run: i64,
    next: u64,
    to: u64,
    left: u64,
    /// Whether a row has been written (the next needs a comma).
    wrote: bool,
}

impl Cursor {
    /// Whether another page may hold rows.
    fn more(&self) -> bool {
        self.left > 0 && self.next <= self.to
    }

    /// `next_from` once the response is done.
    fn next_from(&self) -> Option<u64> {
        (self.left == 0 && self.next <= self.to).then_some(self.next)
    }

    /// Reads the next page and appends its rows to `out`, advancing past them.
    fn page(&mut self, history: &History, out: &mut Vec<u8>) -> Result<(), StoreError> {
        let rows = self.left.min(PAGE as u64);
        let mut read = 0;
        let mut last = None;
        history.for_each_tick(self.run, self.next, self.to, rows as usize, |tick, values| {
            if self.wrote {
                out.push(b',');
            }
            push_row(out, tick, values);
            self.wrote = true;
            read += 1;
            last = Some(tick);
            Ok(())
        })?;
        self.left -= read;
        match last {
            // A short page is the end of what is stored.
            Some(last) if read == rows => self.next = last.saturating_add(1),
            _ => self.next = self.to.saturating_add(1),
        }
        Ok(())
    }
}

/// One tick as a JSON object: `tick` first, then every indicator in the order of
/// [`Indicators::FIELDS`] (the columns of `watchtower export`), as reported: money in
/// genesis currency units ([`Indicators::report`]). Non-finite reals, which
/// telemetry never holds, would be `null`.
fn push_row(out: &mut Vec<u8>, tick: u64, values: &[IndicatorValue]) {
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{{\"tick\":{tick}");
    for ((name, _), value) in Indicators::FIELDS.iter().zip(Indicators::report(values)) {
        let _ = write!(out, ",\"{name}\":");
        match value {
            IndicatorValue::Int(i) => {
                let _ = write!(out, "{i}");
            }
            IndicatorValue::Real(x) => {
                let _ = serde_json::to_writer(&mut *out, &x);
            }
        }
    }
    out.push(b'}');
}

/// Resolves the defaults and reads the first page: everything that decides the status.
fn first_page(history: &History, wanted: Wanted, default_run: Option<i64>) -> Result<(Cursor, Vec<u8>), StoreError> {
    let run = match wanted.run.or(default_run) {
        Some(run) => run,
        None => history.latest_run()?.unwrap_or(0),
    };
    let mut out = format!("{{\"run\":{run},\"ticks\":[").into_bytes();
    let newest = history.last_tick(run, wanted.to.unwrap_or(MAX_SQL))?;
    let Some(to) = newest else {
        // Nothing stored in the range: an empty page.
        return Ok((Cursor { run, next: 1, to: 0, left: 0, wrote: false }, out));
    };
    let from = wanted.from.unwrap_or_else(|| to.saturating_sub(wanted.limit - 1));
    let mut cursor = Cursor { run, next: from, to, left: wanted.limit, wrote: false };
    if cursor.more() {
        cursor.page(history, &mut out)?;
    }
    Ok((cursor, out))
}

/// The closing of the object, once the last row is out.
fn closing(cursor: &Cursor) -> Bytes {
    match cursor.next_from() {
        Some(next) => format!("],\"next_from\":{next}}}").into(),
        None => Bytes::from_static(b"],\"next_from\":null}"),
    }
}

/// What the body stream still has to send.
enum Step {
    /// The opening and the first page, read before the status was sent.
    Head(Bytes, Cursor),
    /// More pages.
    Rows(Cursor),
    /// The closing, with `next_from`.
    Close(Cursor),
    Done,
}

impl Step {
    fn after(cursor: Cursor) -> Self {
        if cursor.more() { Step::Rows(cursor) } else { Step::Close(cursor) }
    }
}

/// The body: the first page, then a page per item as the socket takes them, then the
/// closing.
fn body(head: Vec<u8>, cursor: Cursor, readers: Readers, cancel: CancellationToken) -> Body {
    let stream = futures_util::stream::unfold(Step::Head(head.into(), cursor), move |step| {
        let (readers, cancel) = (readers.clone(), cancel.clone());
        async move {
            match step {
                Step::Done => None,
                Step::Head(bytes, cursor) => Some((Ok(bytes), Step::after(cursor))),
                Step::Close(cursor) => Some((Ok(closing(&cursor)), Step::Done)),
                Step::Rows(_) if cancel.is_cancelled() => Some((Err(cut("the server is shutting down")), Step::Done)),
                Step::Rows(mut cursor) => {
                    let page = readers
                        .read(PAGE_WAIT, move |history| {
                            let mut out = Vec::with_capacity(PAGE * 1_200);
                            cursor.page(history, &mut out).map(|()| (cursor, out))
                        })
                        .await;
                    match page {
                        Ok((cursor, out)) => Some((Ok(Bytes::from(out)), Step::after(cursor))),
                        Err(e) => {
                            warn!("history response cut off: {e:?}");
                            Some((Err(cut("the store could not be read")), Step::Done))
                        }
                    }
                }
            }
        }
    });
    Body::from_stream(stream)
}

fn cut(why: &str) -> std::io::Error {
    std::io::Error::other(format!("history response cut off: {why}"))
}

/// `GET /api/history`.
pub async fn history(State((state, cancel)): AppState, Query(raw): Query<RawQuery>) -> Response {
    let wanted = match Wanted::parse(&raw) {
        Ok(wanted) => wanted,
        Err(bad) => return bad.into_response(),
    };
    let Some(readers) = state.readers.clone() else {
        return no_store();
    };
    let default_run = state.config.run_id;
    let (cursor, head) = match readers.read(QUEUE_WAIT, move |h| first_page(h, wanted, default_run)).await {
        Ok(first) => first,
        Err(e) => return e.into_response(),
    };
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body(head, cursor, readers, cancel)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(run: Option<&str>, from: Option<&str>, to: Option<&str>, limit: Option<&str>) -> RawQuery {
        let s = |v: Option<&str>| v.map(str::to_string);
        RawQuery { run: s(run), from: s(from), to: s(to), limit: s(limit) }
    }

    #[test]
    fn parameters_that_do_not_fit_are_named() {
        let e = Wanted::parse(&raw(None, Some("18446744073709551615"), None, None)).unwrap_err();
        assert!(e.0.starts_with("`from`"), "{e:?}");
        assert!(Wanted::parse(&raw(None, None, Some("-3"), None)).unwrap_err().0.starts_with("`to`"));
        assert!(Wanted::parse(&raw(None, None, None, Some("0"))).unwrap_err().0.starts_with("`limit`"));
        let e = Wanted::parse(&raw(None, None, None, Some("18446744073709551615"))).unwrap_err();
        assert!(e.0.starts_with("`limit`"), "{e:?}");
        assert!(Wanted::parse(&raw(Some("x"), None, None, None)).unwrap_err().0.starts_with("`run`"));
        let w = Wanted::parse(&raw(Some("2"), Some("5"), Some("9"), Some("999999999"))).unwrap();
        assert_eq!(w, Wanted { run: Some(2), from: Some(5), to: Some(9), limit: MAX_ROWS });
        assert_eq!(Wanted::parse(&raw(None, None, None, None)).unwrap().limit, DEFAULT_ROWS);
    }

    #[test]
    fn a_row_is_the_json_of_its_indicators() {
        // As the WebSocket reports them: money in genesis currency units.
        let indicators = Indicators { gdp: 42, unemployment_rate: 0.125, redenominations: 3, ..Indicators::default() };
        let values: Vec<IndicatorValue> = indicators.values().collect();
        let mut out = Vec::new();
        push_row(&mut out, 7, &values);
        let row: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let telemetry = watchtower_protocol::Telemetry { indicators, ..Default::default() };
        let mut expected =
            serde_json::to_value(watchtower_protocol::Reported(&telemetry)).unwrap()["indicators"].clone();
        expected["tick"] = 7.into();
        assert_eq!(row, expected);
        assert_eq!(row["gdp"], 420.0, "42 cents after 3 redenominations are 420 genesis units");
    }

    #[test]
    fn the_cursor_says_where_the_rest_begins() {
        let done = Cursor { run: 1, next: 11, to: 10, left: 0, wrote: true };
        assert_eq!((done.more(), done.next_from()), (false, None));
        let cut = Cursor { run: 1, next: 6, to: 10, left: 0, wrote: true };
        assert_eq!((cut.more(), cut.next_from()), (false, Some(6)));
        let open = Cursor { run: 1, next: 6, to: 10, left: 3, wrote: true };
        assert!(open.more());
    }
}
