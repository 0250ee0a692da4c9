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

/// During an onsale the booking tables grow from nothing, faster than statistics can follow. The
/// statements that touch a batch's rows by key must probe the indexes there, not read the whole
/// table into a hash join: with PostgreSQL's default `random_page_cost` (4) the capture record
/// did, until the table was a few times this size, and a stadium onsale read 8 to 13 million
/// rows so (docs/BENCHMARKS.md, issue 13, tenth step). The node's sessions price random reads
/// at 1.1 unless the database URL names a price; the same statement under the URL's 4 reads the
/// tables from end to end, which shows the test can fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_probes_the_indexes_of_tables_without_statistics() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let fixture = app.live_show().await;
    let buyer = app.buyer().await;
    let boxoffice::store::Db::Postgres { write, .. } = &app.state.db else {
        panic!("a PostgreSQL app");
    };
    // A young onsale's bookings and their authorized payments, never analysed.
    let rows = 3_000;
    sqlx::query(
        "WITH b AS (
             INSERT INTO bookings (user_id, show_id, status, total_minor, seat_count, currency,
                                   idempotency_key, created_at)
             SELECT $1, $2, 'confirmed', 100, 1, 'INR', 'key-' || g, now()
               FROM generate_series(1, $3) AS g
             RETURNING booking_id, idempotency_key
         )
         INSERT INTO payments (booking_id, user_id, provider, transaction_id, amount_minor,
                               currency, status, created_at, updated_at)
         SELECT booking_id, $1, 'sandbox', 'txn-' || idempotency_key, 100, 'INR', 'authorized',
                now(), now()
           FROM b",
    )
    .bind(buyer.user_id)
    .bind(fixture.show)
    .bind(rows)
    .execute(write)
    .await
    .expect("bookings and payments");
    let batch: Vec<String> = (1..=20).map(|i| format!("txn-key-{}", i * 97)).collect();
    let plan = |pool: sqlx::PgPool| {
        let batch = batch.clone();
        async move {
            let lines: Vec<String> = sqlx::query_scalar(&format!(
                "EXPLAIN {}",
                boxoffice::payments::store::RECORD_CAPTURES_PG
            ))
            .bind(&batch)
            .bind(chrono::Utc::now())
            .fetch_all(&pool)
            .await
            .expect("explain");
            lines.join("\n")
        }
    };

    let price: String = sqlx::query_scalar("SHOW random_page_cost")
        .fetch_one(write)
        .await
        .expect("show");
    assert_eq!(price, "1.1");
    let ours = plan(write.clone()).await;
    assert!(!ours.contains("Seq Scan"), "{ours}");
    assert!(ours.contains("Index Scan using bookings_pkey"), "{ours}");

    let url = app.database_url.clone().expect("a database URL");
    let storage = boxoffice::config::StorageConfig {
        database_url: Some(boxoffice::config::DatabaseUrl::new(format!(
            "{url}{}options=-c%20random_page_cost%3D4",
            if url.contains('?') { '&' } else { '?' }
        ))),
        db_max_connections: 1,
        ..boxoffice::config::StorageConfig::embedded(app.data_dir.path().to_path_buf())
    };
    let disk = boxoffice::store::Db::connect(&storage)
        .await
        .expect("a pool priced for disks");
    let boxoffice::store::Db::Postgres {
        write: disk_pool, ..
    } = &disk
    else {
        panic!("a PostgreSQL pool");
    };
    let theirs = plan(disk_pool.clone()).await;
    assert!(theirs.contains("Seq Scan on bookings"), "{theirs}");
    disk.close().await;
    app.stop().await;
}
