//! The embedding map of a live `watchtower serve`: 202 at once, then 200 with the
//! configured number of finite points that separate employed from unemployed
//! households; a refresh gives a map of a later tick.

mod common;

use std::time::{Duration, Instant};

use common::{Server, get, post};
use watchtower_analytics::knn_agreement;
use watchtower_protocol::EmbeddingStatus;

fn status(server: &Server) -> (u16, EmbeddingStatus) {
    let (code, body) = get(&server.url("/api/admin/embedding-map"));
    (code, serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}")))
}

fn wait_for_map(server: &Server) -> watchtower_protocol::EmbeddingMap {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match status(server) {
            (200, EmbeddingStatus::Ready(map)) => return map,
            (202, EmbeddingStatus::Computing { progress }) => assert!((0.0..=1.0).contains(&progress)),
            other => panic!("unexpected {other:?}"),
        }
        assert!(Instant::now() < deadline, "no map within 60 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn computed_at_start_served_202_then_200_and_refreshable() {
    let mut server = Server::start(&["--embedding-sample", "1000", "--households", "4000", "--firms", "400"]);
    let started = Instant::now();
    let (code, first) = status(&server);
    assert_eq!(code, 202, "{first:?}");
    let map = wait_for_map(&server);
    println!(
        "first map after {:?}: tick {}, {} points, {} ms of t-SNE",
        started.elapsed(),
        map.tick,
        map.points.len(),
        map.took_ms
    );
    assert_eq!(map.points.len(), 1_000);
    assert!(map.points.iter().all(|p| p.x.is_finite() && p.y.is_finite()));
    for a in knn_agreement(&map.points, "household", 10) {
        println!(
            "{:>10}: {:>4} households, 10-NN agreement {:.3}, chance {:.3}",
            a.label, a.count, a.agreement, a.chance
        );
        if a.label == "unemployed" && a.count >= 10 {
            assert!(a.agreement > 0.9 && a.agreement > a.chance + 0.2, "{a:?}");
        }
    }

    // Refresh needs the token, and gives a map of a later tick.
    let refresh = server.url("/api/admin/embedding-map/refresh");
    assert_eq!(post(&refresh, "", None, None).0, 401);
    let (code, _) = post(&refresh, "", Some(&server.token), None);
    assert_eq!(code, 202);
    assert_eq!(post(&refresh, "", Some(&server.token), None).0, 409, "one computation at a time");
    let later = wait_for_map(&server);
    assert!(later.tick > map.tick, "{} then {}", map.tick, later.tick);
    assert!(server.stop().success());
}

#[test]
fn it_can_be_switched_off() {
    let mut server = Server::start(&["--embedding-sample", "0", "--households", "1000", "--firms", "100"]);
    server.wait_ready();
    assert_eq!(get(&server.url("/api/admin/embedding-map")).0, 404);
    assert!(server.stop().success());
}
