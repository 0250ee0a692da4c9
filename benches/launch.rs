//! Launching a 50,000-seat show: the time to flip a draft to live and create its inventory
//! (one `INSERT … SELECT`) on each backend. PostgreSQL comes from `BOXOFFICE_BENCH_DATABASE_URL`
//! (default `postgres://postgres@127.0.0.1:5432/test`), in a fresh schema that is dropped after.
//!
//! `cargo bench --bench launch`

use std::time::{Duration, Instant};

use boxoffice::catalog::store::{insert_show, launch_inventory, NewShow};
use boxoffice::config::{DatabaseUrl, StorageConfig};
use boxoffice::money::Currency;
use boxoffice::store::Db;
use boxoffice::venues::layout::{plan_layout, RowSpec, SectionSpec};
use boxoffice::venues::store::{insert_venue, sections_of, NewVenue};
use boxoffice::with_db;
use chrono::Utc;
use criterion::{criterion_group, criterion_main, Criterion};

const SEATS: u32 = 50_000;

fn layout() -> Vec<SectionSpec> {
    (0..5u8)
        .map(|s| SectionSpec {
            name: format!("Stand {}", (b'A' + s) as char),
            priority: i32::from(s),
            colour: None,
            rows: (0..100usize)
                .map(|r| RowSpec {
                    label: format!(
                        "{}{}{}",
                        (b'A' + s) as char,
                        (b'A' + (r / 26) as u8) as char,
                        (b'A' + (r % 26) as u8) as char
                    ),
                    count: SEATS / 500,
                    start: None,
                    skip: vec![],
                    accessible: vec![],
                    x: None,
                    y: None,
                })
                .collect(),
        })
        .collect()
}

/// A migrated database with a 50,000-seat venue and an event; returns (db, venue, event, prices).
async fn prepare(db: Db) -> (Db, i64, i64, Vec<(i64, i64)>) {
    db.migrate().await.expect("migrate");
    let now = Utc::now();
    let user: i64 = with_db!(&db, |pool| {
        sqlx::query_scalar(
            "INSERT INTO users (email, email_norm, name, password_hash, created_at)
             VALUES ('b@x.io', 'b@x.io', 'Bench', 'x', $1) RETURNING user_id",
        )
        .bind(now)
        .fetch_one(pool)
        .await
        .expect("user")
    });
    let plan =
        plan_layout(&layout(), boxoffice::venues::layout::MAX_SEATS_PER_VENUE).expect("layout");
    let venue = insert_venue(
        &db,
        &NewVenue {
            owner_id: user,
            name: "Bench Stadium",
            city: "Delhi",
            address: "-",
            timezone: "Asia/Kolkata",
        },
        &plan,
    )
    .await
    .expect("venue");
    let event: i64 = with_db!(&db, |pool| {
        sqlx::query_scalar(
            "INSERT INTO events (organiser_id, title, category, created_at, updated_at)
             VALUES ($1, 'Bench', 'concert', $2, $2) RETURNING event_id",
        )
        .bind(user)
        .bind(now)
        .fetch_one(pool)
        .await
        .expect("event")
    });
    let prices = sections_of(&db, venue)
        .await
        .expect("sections")
        .iter()
        .map(|s| (s.section_id, 100_000))
        .collect();
    (db, venue, event, prices)
}

fn bench_launch(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let admin = std::env::var("BOXOFFICE_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!("bench_{}", std::process::id());
    let pg_url = format!("{admin}?options=-c%20search_path%3D{schema}");

    let mut group = c.benchmark_group("launch_50000_seats");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    for backend in ["sqlite", "postgres"] {
        let (db, venue, event, prices) = rt.block_on(async {
            let mut storage = StorageConfig::embedded(dir.path().join(backend));
            if backend == "postgres" {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .expect("PostgreSQL");
                for sql in [
                    format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
                    format!("CREATE SCHEMA {schema}"),
                ] {
                    sqlx::query(&sql).execute(&mut conn).await.expect("schema");
                }
                storage.database_url = Some(DatabaseUrl::new(pg_url.clone()));
            }
            prepare(Db::connect(&storage).await.expect("connect")).await
        });
        let currency = Currency::parse("INR").expect("INR");
        group.bench_function(backend, |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let db = db.clone();
                let prices = prices.clone();
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let start = Utc::now() + chrono::Duration::days(3);
                        let show = insert_show(
                            &db,
                            &NewShow {
                                event_id: event,
                                venue_id: venue,
                                start,
                                end: start + chrono::Duration::hours(3),
                                tz: chrono_tz::Asia::Kolkata,
                                currency,
                                hold_seconds: 600,
                                max_seats_per_user: 10,
                                queue_enabled: false,
                                queue_admit_per_minute: 100,
                                queue_opens_at: None,
                                queue_pass_minutes: 10,
                                prices: prices.clone(),
                            },
                        )
                        .await
                        .expect("draft");
                        let t = Instant::now();
                        let seats = launch_inventory(&db, show, venue, event)
                            .await
                            .expect("launch");
                        total += t.elapsed();
                        assert_eq!(seats, Some(u64::from(SEATS)));
                    }
                    total
                }
            })
        });
        rt.block_on(db.close());
    }
    group.finish();
    rt.block_on(async {
        use sqlx::Connection;
        if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
            let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .execute(&mut conn)
                .await;
        }
    });
}

criterion_group!(benches, bench_launch);
criterion_main!(benches);
