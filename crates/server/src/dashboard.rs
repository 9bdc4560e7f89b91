//! The dashboard: static files compiled into the binary, so `cargo run --release` serves
//! it with no build step and no separate web server.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// `(path, content type, bytes)` of every embedded file: `index.html` is served at `/`,
/// the rest at `/assets/PATH`. The page is plain HTML, CSS and ES modules (no build step);
/// `vendor/` holds uPlot, pinned, with its licence (see `vendor/README.md`).
const FILES: &[(&str, &str, &[u8])] = &[
    ("index.html", "text/html; charset=utf-8", include_bytes!("../assets/index.html")),
    ("style.css", "text/css; charset=utf-8", include_bytes!("../assets/style.css")),
    ("favicon.svg", "image/svg+xml", include_bytes!("../assets/favicon.svg")),
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("../assets/app.js")),
    ("api.js", "text/javascript; charset=utf-8", include_bytes!("../assets/api.js")),
    ("audit.js", "text/javascript; charset=utf-8", include_bytes!("../assets/audit.js")),
    ("branches.js", "text/javascript; charset=utf-8", include_bytes!("../assets/branches.js")),
    ("calibration.js", "text/javascript; charset=utf-8", include_bytes!("../assets/calibration.js")),
    ("charts.js", "text/javascript; charset=utf-8", include_bytes!("../assets/charts.js")),
    ("connection.js", "text/javascript; charset=utf-8", include_bytes!("../assets/connection.js")),
    ("controls.js", "text/javascript; charset=utf-8", include_bytes!("../assets/controls.js")),
    ("distributions.js", "text/javascript; charset=utf-8", include_bytes!("../assets/distributions.js")),
    ("dom.js", "text/javascript; charset=utf-8", include_bytes!("../assets/dom.js")),
    ("embedding.js", "text/javascript; charset=utf-8", include_bytes!("../assets/embedding.js")),
    ("experiments.js", "text/javascript; charset=utf-8", include_bytes!("../assets/experiments.js")),
    ("fan.js", "text/javascript; charset=utf-8", include_bytes!("../assets/fan.js")),
    ("forecast.js", "text/javascript; charset=utf-8", include_bytes!("../assets/forecast.js")),
    ("format.js", "text/javascript; charset=utf-8", include_bytes!("../assets/format.js")),
    ("heatmap.js", "text/javascript; charset=utf-8", include_bytes!("../assets/heatmap.js")),
    ("recorded.js", "text/javascript; charset=utf-8", include_bytes!("../assets/recorded.js")),
    ("sensitivity.js", "text/javascript; charset=utf-8", include_bytes!("../assets/sensitivity.js")),
    ("session.js", "text/javascript; charset=utf-8", include_bytes!("../assets/session.js")),
    ("state.js", "text/javascript; charset=utf-8", include_bytes!("../assets/state.js")),
    ("store.js", "text/javascript; charset=utf-8", include_bytes!("../assets/store.js")),
    ("units.js", "text/javascript; charset=utf-8", include_bytes!("../assets/units.js")),
    ("whatif.js", "text/javascript; charset=utf-8", include_bytes!("../assets/whatif.js")),
    (
        "vendor/uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/vendor/uPlot.iife.min.js"),
    ),
    ("vendor/uPlot.min.css", "text/css; charset=utf-8", include_bytes!("../assets/vendor/uPlot.min.css")),
    ("vendor/uPlot.LICENSE", "text/plain; charset=utf-8", include_bytes!("../assets/vendor/uPlot.LICENSE")),
    ("vendor/README.md", "text/plain; charset=utf-8", include_bytes!("../assets/vendor/README.md")),
];

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

#[cfg(test)]
mod tests {
    use super::FILES;

    /// A file added to `assets/` but not to `FILES` would be a 404 only a browser notices.
    #[test]
    fn every_asset_on_disk_is_embedded() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
        let mut on_disk = Vec::new();
        let mut dirs = vec![root.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    on_disk.push(path.strip_prefix(&root).unwrap().to_string_lossy().into_owned());
                }
            }
        }
        on_disk.sort();
        let mut embedded: Vec<String> = FILES.iter().map(|(p, _, _)| p.to_string()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
    }
}
