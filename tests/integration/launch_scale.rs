//! Launching a 50,000-seat show pre-populates every inventory row in one statement. The time is
//! printed for the record (the benchmark in docs/BENCHMARKS.md is the measurement), never asserted.

use crate::common;

use std::time::Instant;

use common::{show_body, Backend, TestApp};
use serde_json::{json, Value};

both_backends!(launch_of_a_50000_seat_show);

/// Five stands of 100 rows × 100 seats; row labels are letters only (`AAA`…), so labels never
/// collide.
fn stadium_50k() -> Value {
    let letters = |i: usize| {
        format!(
            "{}{}",
            (b'A' + (i / 26) as u8) as char,
            (b'A' + (i % 26) as u8) as char
        )
    };
    let sections: Vec<Value> = ["Gold", "Silver", "Bronze", "East", "West"]
        .iter()
        .enumerate()
        .map(|(si, name)| {
            let prefix = (b'A' + si as u8) as char;
            let rows: Vec<Value> = (0..100)
                .map(|r| json!({ "label": format!("{prefix}{}", letters(r)), "count": 100, "skip": [51] }))
                .collect();
            json!({ "name": name, "priority": si, "rows": rows })
        })
        .collect();
    json!({ "name": "Mega Stadium", "city": "Delhi", "address": "Ring Road", "timezone": "Asia/Kolkata", "sections": sections })
}

async fn launch_of_a_50000_seat_show(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.venue_owner().await;
    let organiser = app.organiser().await;
    let venue = app
        .post("/api/v1/venues", Some(&owner.token), stadium_50k())
        .await
        .expect(201);
    assert_eq!(venue["seat_count"], 50_000);
    let event = app.event(&organiser, "Stadium Night", "concert").await;
    let mut body = show_body(venue["venue_id"].as_i64().expect("id"), 7);
    body["prices"] = json!([
        { "section": "Gold", "price": 5000 }, { "section": "Silver", "price": 3000 },
        { "section": "Bronze", "price": 1500 }, { "section": "East", "price": 999.99 },
        { "section": "West", "price": 999.99 }
    ]);
    let show = app
        .post(
            &format!("/api/v1/events/{event}/shows"),
            Some(&organiser.token),
            body,
        )
        .await
        .expect(201)["show_id"]
        .as_i64()
        .expect("show");

    let started = Instant::now();
    let live = app.launch(&organiser, show).await;
    let elapsed = started.elapsed();
    println!(
        "launch of a 50,000-seat show on {backend:?}: {} ms (HTTP round trip)",
        elapsed.as_millis()
    );
    assert_eq!(live["status"], "live");
    assert_eq!(live["available"], 50_000);
    let seats = app
        .get(&format!("/api/v1/shows/{show}/seats"), None)
        .await
        .expect(200);
    let seats = seats["seats"].as_array().expect("seats");
    assert_eq!(seats.len(), 50_000);
    let mut labels: Vec<&str> = seats.iter().filter_map(|s| s["seat_id"].as_str()).collect();
    labels.sort_unstable();
    labels.dedup();
    assert_eq!(labels.len(), 50_000, "one inventory row per seat");
    assert!(seats.iter().all(|s| s["status"] == "available"));
    let east = seats
        .iter()
        .find(|s| s["section"] == "East")
        .expect("east seat");
    assert_eq!(east["price"], 999.99);
}
