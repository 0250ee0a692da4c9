//! Catalog reads served from each node's memory still reflect a launch, a rename, a change of
//! caps and a cancellation at once on the node that made it and within a second on the others.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{Backend, TestApp};

both_backends!(changes_show_at_once_on_the_node_that_made_them);

mod postgres_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn changes_reach_another_nodes_catalog_within_a_second() {
        super::changes_reach_another_nodes_catalog_within_a_second().await
    }
}

const LIST: &str = "/api/v1/shows?cat=movie&city=Bangalore";

fn titles(list: &Value, show: i64) -> Vec<String> {
    list.as_array()
        .expect("list")
        .iter()
        .filter(|s| s["show_id"] == show)
        .map(|s| s["title"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Waits until `check` holds for the list read from `node`; returns how long it took.
async fn until_list(node: &TestApp, check: impl Fn(&Value) -> bool) -> Duration {
    let started = Instant::now();
    loop {
        let list = node.get(LIST, None).await.expect(200);
        if check(&list) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the catalog never changed: {list}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn changes_show_at_once_on_the_node_that_made_them(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fx = app.live_show().await;
    // Warm the kept answers.
    let list = app.get(LIST, None).await.expect(200);
    assert_eq!(titles(&list, fx.show), vec!["Test Movie"]);
    let show_path = format!("/api/v1/shows/{}", fx.show);
    assert_eq!(
        app.get(&show_path, None).await.expect(200)["max_seats_per_user"],
        10
    );

    app.patch(
        &format!("/api/v1/events/{}", fx.event),
        Some(&fx.organiser.token),
        json!({ "title": "Renamed Movie" }),
    )
    .await
    .expect(200);
    assert_eq!(
        titles(&app.get(LIST, None).await.expect(200), fx.show),
        vec!["Renamed Movie"]
    );
    app.patch(
        &show_path,
        Some(&fx.organiser.token),
        json!({ "max_seats_per_user": 4 }),
    )
    .await
    .expect(200);
    assert_eq!(
        app.get(&show_path, None).await.expect(200)["max_seats_per_user"],
        4
    );
    // Live counts come from the seat state, not the kept answer.
    let buyer = app.visitor().await;
    app.post(
        "/api/v1/book/reserve",
        Some(&buyer.token),
        json!({ "show_id": fx.show, "seat_ids": ["A1"] }),
    )
    .await
    .expect(202);
    let mut held = 0;
    for _ in 0..40 {
        held = app.get(&show_path, None).await.expect(200)["held"]
            .as_i64()
            .unwrap_or(0);
        if held == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(held, 1);
    app.post(
        &format!("{show_path}/cancel"),
        Some(&fx.organiser.token),
        json!({}),
    )
    .await
    .expect(200);
    assert!(titles(&app.get(LIST, None).await.expect(200), fx.show).is_empty());
}

async fn changes_reach_another_nodes_catalog_within_a_second() {
    let a = TestApp::spawn(Backend::Postgres).await;
    let b = a.another_node().await;
    let fx = a.live_show().await;
    // B keeps its answer before the changes.
    until_list(&b, |l| titles(l, fx.show) == ["Test Movie"]).await;

    a.patch(
        &format!("/api/v1/events/{}", fx.event),
        Some(&fx.organiser.token),
        json!({ "title": "Renamed On A" }),
    )
    .await
    .expect(200);
    let took = until_list(&b, |l| titles(l, fx.show) == ["Renamed On A"]).await;
    assert!(took < Duration::from_secs(1), "rename took {took:?}");

    let draft = a.show(&fx.organiser, fx.event, fx.venue, 5).await;
    until_list(&b, |l| titles(l, draft).is_empty()).await;
    a.launch(&fx.organiser, draft).await;
    let took = until_list(&b, |l| !titles(l, draft).is_empty()).await;
    assert!(took < Duration::from_secs(1), "launch took {took:?}");

    a.post(
        &format!("/api/v1/shows/{draft}/cancel"),
        Some(&fx.organiser.token),
        json!({}),
    )
    .await
    .expect(200);
    let took = until_list(&b, |l| titles(l, draft).is_empty()).await;
    assert!(took < Duration::from_secs(1), "cancellation took {took:?}");
}
