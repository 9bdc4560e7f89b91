//! The dashboard: static files compiled into the binary, so `cargo run --release` serves
//! it with no build step and no separate web server.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// `(path, content type, bytes)` of every embedded file.
const FILES: &[(&str, &str, &[u8])] =
    &[("index.html", "text/html; charset=utf-8", include_bytes!("../assets/index.html"))];

fn serve(path: &str) -> Response {
    match FILES.iter().find(|(p, _, _)| *p == path) {
        Some((_, kind, bytes)) => (
            [
                (header::CONTENT_TYPE, *kind),
                (header::CACHE_CONTROL, "no-cache"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            *bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

pub async fn index() -> Response {
    serve("index.html")
}

pub async fn asset(axum::extract::Path(path): axum::extract::Path<String>) -> Response {
    serve(&path)
}
