//! Query parameters read strictly: a value that does not fit is refused with 400 and a
//! message naming the parameter, never cast into something else.
//!
//! Ticks and run ids are SQLite INTEGERs (i64). A `u64` taken as it comes and cast to
//! i64 wrapped round: `from=18446744073709551615` became -1 and returned ticks 0, 1, 2.
//! So every number here is parsed from its text and checked against the range it must
//! fit, before anything reaches the store.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The largest tick or id SQLite can hold.
pub const MAX_SQL: u64 = i64::MAX as u64;

/// A parameter that was refused, with the reason in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadParam(pub String);

impl IntoResponse for BadParam {
    fn into_response(self) -> Response {
        (StatusCode::BAD_REQUEST, Json(json!({"error": self.0}))).into_response()
    }
}

/// `name`'s value as a whole number in `min..=max`, or `None` when absent (or empty).
pub fn whole(name: &str, text: Option<&str>, min: u64, max: u64) -> Result<Option<u64>, BadParam> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else { return Ok(None) };
    match text.parse::<u64>() {
        Ok(value) if (min..=max).contains(&value) => Ok(Some(value)),
        _ => Err(BadParam(format!("`{name}` = {text} does not fit: it must be a whole number from {min} to {max}"))),
    }
}

/// A run id: a whole number from 1.
pub fn run_id(text: Option<&str>) -> Result<Option<i64>, BadParam> {
    // MAX_SQL fits i64 by construction.
    Ok(whole("run", text, 1, MAX_SQL)?.map(|run| i64::try_from(run).expect("at most i64::MAX")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_that_do_not_fit_are_refused_by_name() {
        assert_eq!(whole("from", Some("7"), 0, MAX_SQL), Ok(Some(7)));
        assert_eq!(whole("from", None, 0, MAX_SQL), Ok(None));
        assert_eq!(whole("from", Some(""), 0, MAX_SQL), Ok(None));
        assert_eq!(whole("from", Some("9223372036854775807"), 0, MAX_SQL), Ok(Some(MAX_SQL)));
        for bad in ["18446744073709551615", "9223372036854775808", "-1", "1.5", "1e3", "x", "99999999999999999999999"] {
            let e = whole("from", Some(bad), 0, MAX_SQL).unwrap_err();
            assert!(e.0.starts_with("`from` = "), "{bad}: {e:?}");
        }
        assert!(whole("limit", Some("0"), 1, 10).unwrap_err().0.contains("from 1 to 10"));
        assert_eq!(run_id(Some("3")), Ok(Some(3)));
        assert!(run_id(Some("0")).is_err());
        assert!(run_id(Some("-1")).unwrap_err().0.starts_with("`run`"));
    }
}
