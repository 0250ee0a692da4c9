//! SPEC §9: search with tantivy, fed from the outbox within two seconds, on both backends.

use crate::common;

use std::time::Duration;

use boxoffice::with_db;
use common::{eventually, show_body, small_venue_body, Backend, TestApp, User};
use serde_json::{json, Value};

both_backends!(
    typos_prefixes_and_ranking,
    filters_and_listing_by_date,
    bad_parameters_are_400,
    changes_are_searchable_within_two_seconds,
    a_restarted_node_catches_up_from_its_position,
    an_index_ahead_of_a_reset_database_is_rebuilt,
);

struct Catalog {
    organiser: User,
    pushpa: i64,
    arijit: i64,
    film_night: i64,
    pushpa_event: i64,
}

async fn event(
    app: &TestApp,
    organiser: &User,
    title: &str,
    category: &str,
    description: &str,
    artists: &[&str],
) -> i64 {
    app.post(
        "/api/v1/events",
        Some(&organiser.token),
        json!({ "title": title, "category": category, "description": description, "artists": artists }),
    )
    .await
    .expect(201)["event_id"]
        .as_i64()
        .expect("id")
}

async fn live(app: &TestApp, organiser: &User, event: i64, venue: i64, days: i64) -> i64 {
    let show = app.show(organiser, event, venue, days).await;
    app.launch(organiser, show).await;
    show
}

async fn search(app: &TestApp, query: &str) -> Vec<Value> {
    app.get(&format!("/api/v1/search?{query}"), None)
        .await
        .expect(200)
        .as_array()
        .expect("array")
        .clone()
}

fn ids(hits: &[Value]) -> Vec<i64> {
    hits.iter().filter_map(|h| h["show_id"].as_i64()).collect()
}

async fn catalog(app: &TestApp) -> Catalog {
    let owner = app.venue_owner().await;
    let organiser = app.organiser().await;
    let blr = app
        .venue(
            &owner,
            small_venue_body("PVR: Phoenix Marketcity", "Bangalore"),
        )
        .await;
    let bom = app
        .venue(&owner, small_venue_body("NSCI Dome", "Mumbai"))
        .await;
    let pushpa_event = event(
        app,
        &organiser,
        "Pushpa 2: The Rule",
        "movie",
        "The smuggler returns.",
        &["Allu Arjun"],
    )
    .await;
    let arijit_event = event(
        app,
        &organiser,
        "Arijit Singh Live",
        "concert",
        "Romantic ballads.",
        &["Arijit Singh"],
    )
    .await;
    let night_event = event(
        app,
        &organiser,
        "Telugu Film Night",
        "movie",
        "Classics, then a Pushpa screening.",
        &[],
    )
    .await;
    let pushpa = live(app, &organiser, pushpa_event, blr, 2).await;
    let arijit = live(app, &organiser, arijit_event, blr, 3).await;
    let film_night = live(app, &organiser, night_event, bom, 1).await;
    let all = eventually(Duration::from_secs(2), || async {
        let hits = search(app, "").await;
        (hits.len() == 3).then_some(())
    })
    .await;
    assert!(all.is_some(), "three new shows searchable within 2 s");
    Catalog {
        organiser,
        pushpa,
        arijit,
        film_night,
        pushpa_event,
    }
}

async fn typos_prefixes_and_ranking(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let c = catalog(&app).await;
    for q in ["puspa", "pushp", "Pushpa%202", "pushpa%20the%20ru"] {
        let hits = search(&app, &format!("q={q}")).await;
        assert_eq!(ids(&hits).first(), Some(&c.pushpa), "q={q}");
    }
    assert_eq!(ids(&search(&app, "q=arjit").await), [c.arijit]);
    assert_eq!(
        ids(&search(&app, "q=allu%20arjun").await),
        [c.pushpa],
        "cast is searched"
    );
    assert_eq!(
        ids(&search(&app, "q=nsci").await),
        [c.film_night],
        "venue is searched"
    );

    let hits = search(&app, "q=pushpa%20").await;
    assert_eq!(
        ids(&hits),
        [c.pushpa, c.film_night],
        "the exact title ranks above a description mention"
    );
    assert!(hits[0]["score"].as_f64() > hits[1]["score"].as_f64());
    assert!(hits[0]["highlights"]["title"]
        .as_str()
        .is_some_and(|h| h.contains("<b>Pushpa</b>")));
    assert!(hits[1]["highlights"]["description"]
        .as_str()
        .is_some_and(|h| h.contains("<b>Pushpa</b>")));
    // The seed's list shape plus score and highlights.
    for key in [
        "show_id",
        "event_id",
        "category",
        "title",
        "start_time",
        "end_time",
        "venue_name",
        "city",
        "min_price",
        "currency",
    ] {
        assert!(hits[0].get(key).is_some(), "{key}");
    }
    assert_eq!(hits[0]["min_price"], 249.5);
    assert!(search(&app, "q=zzzzqqq").await.is_empty());
}

async fn filters_and_listing_by_date(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let c = catalog(&app).await;
    assert_eq!(
        ids(&search(&app, "city=bangalore").await),
        [c.pushpa, c.arijit],
        "empty q lists by date"
    );
    assert_eq!(
        ids(&search(&app, "q=pushpa&city=Mumbai").await),
        [c.film_night]
    );
    assert_eq!(ids(&search(&app, "q=pushpa&cat=movie").await).len(), 2);
    assert_eq!(ids(&search(&app, "cat=concert").await), [c.arijit]);
    let day = (chrono::Utc::now() + chrono::Duration::days(2)).date_naive();
    assert_eq!(
        ids(&search(&app, &format!("from={day}&to={day}")).await),
        [c.pushpa]
    );
    let res = app.get("/api/v1/search?limit=1", None).await;
    assert_eq!(res.header("x-total-count"), Some("3"));
    assert_eq!(res.body.as_array().map(Vec::len), Some(1));
    assert_eq!(ids(&search(&app, "limit=1&offset=1").await), [c.pushpa]);
}

async fn bad_parameters_are_400(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let err = app
        .get("/api/v1/search?q=x&cat=sports", None)
        .await
        .expect_error(400, "INVALID_REQUEST");
    assert_eq!(
        err["message"],
        "category must be one of: movie, concert, all"
    );
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=x", "limit"),
        ("from=soon", "from"),
        ("offset=-1", "offset"),
        ("bogus=1", "."),
    ] {
        let err = app
            .get(&format!("/api/v1/search?{query}"), None)
            .await
            .expect_error(400, "INVALID_REQUEST");
        if field != "." {
            assert_eq!(err["details"]["field"], field, "{query}: {err}");
        }
    }
    let long = "a".repeat(201);
    app.get(&format!("/api/v1/search?q={long}"), None)
        .await
        .expect_error(400, "INVALID_REQUEST");
}

async fn changes_are_searchable_within_two_seconds(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let c = catalog(&app).await;
    // A renamed event is found by its new title.
    app.patch(
        &format!("/api/v1/events/{}", c.pushpa_event),
        Some(&c.organiser.token),
        json!({ "title": "Pushpa Returns" }),
    )
    .await
    .expect(200);
    let renamed = eventually(Duration::from_secs(2), || async {
        let hits = search(&app, "q=returns").await;
        (ids(&hits) == [c.pushpa]).then_some(())
    })
    .await;
    assert!(renamed.is_some(), "renamed within 2 s");
    // A cancelled show disappears.
    app.post(
        &format!("/api/v1/shows/{}/cancel", c.arijit),
        Some(&c.organiser.token),
        json!({}),
    )
    .await
    .expect(200);
    let gone = eventually(Duration::from_secs(2), || async {
        search(&app, "q=arijit").await.is_empty().then_some(())
    })
    .await;
    assert!(gone.is_some(), "cancelled show gone within 2 s");
    // A sold-out show disappears.
    let buyer = app.visitor().await;
    let _ = c.film_night;
    let owner = app.venue_owner().await;
    let tiny = app
        .venue(&owner, json!({ "name": "Tiny", "city": "Pune", "address": "1", "timezone": "Asia/Kolkata",
                                "sections": [{ "name": "Gold", "priority": 0, "rows": [{ "label": "A", "count": 1 }] },
                                             { "name": "Silver", "priority": 1, "rows": [{ "label": "B", "count": 1 }] }] }))
        .await;
    let ev = event(&app, &c.organiser, "Intimate Gig", "concert", "", &[]).await;
    let show = app
        .post(
            &format!("/api/v1/events/{ev}/shows"),
            Some(&c.organiser.token),
            show_body(tiny, 4),
        )
        .await
        .expect(201)["show_id"]
        .as_i64()
        .expect("id");
    app.launch(&c.organiser, show).await;
    assert!(eventually(Duration::from_secs(2), || async {
        (!search(&app, "q=intimate").await.is_empty()).then_some(())
    })
    .await
    .is_some());
    app.post(
        "/api/v1/book/reserve",
        Some(&buyer.token),
        json!({ "show_id": show, "seat_ids": ["A1", "B1"] }),
    )
    .await
    .expect(202);
    let res = app
        .client
        .post(app.url("/api/v1/book"))
        .bearer_auth(&buyer.token)
        .header("idempotency-key", "sell-out")
        .json(&json!({ "show_id": show, "seat_ids": ["A1", "B1"] }))
        .send()
        .await
        .expect("sent");
    TestApp::read(res).await.expect(201);
    let sold_out = eventually(Duration::from_secs(2), || async {
        search(&app, "q=intimate").await.is_empty().then_some(())
    })
    .await;
    assert!(sold_out.is_some(), "sold-out show gone within 2 s");
}

async fn a_restarted_node_catches_up_from_its_position(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let c = catalog(&app).await;
    let app = {
        // While this node is down, the show is cancelled (by another node: straight in the
        // database, with its outbox row).
        let stopped = app.restart_after(|db| async move {
            with_db!(&db, |pool| {
                sqlx::query("UPDATE shows SET status = 'cancelled' WHERE show_id = $1").bind(c.pushpa).execute(pool).await.expect("cancel");
                sqlx::query("INSERT INTO outbox (topic, aggregate_id, payload, created_at) VALUES ('show.cancelled', $1, $2, $3)")
                    .bind(c.pushpa)
                    .bind(sqlx::types::Json(json!({ "show_id": c.pushpa })))
                    .bind(chrono::Utc::now())
                    .execute(pool)
                    .await
                    .expect("outbox");
            });
        });
        stopped.await
    };
    let caught_up = eventually(Duration::from_secs(2), || async {
        let hits = search(&app, "q=pushpa").await;
        (ids(&hits) == [c.film_night]).then_some(())
    })
    .await;
    assert!(
        caught_up.is_some(),
        "the restarted node applied what it missed"
    );
    let index_dir = app.data_dir.path().join("search-index");
    assert!(
        index_dir.join("outbox-position").exists(),
        "the position is kept beside the index"
    );
}

/// PostgreSQL commits transactions out of id order: here an outbox row whose transaction commits
/// only after a later row has been indexed (and the indexer's position has passed it). The
/// indexer re-reads a window behind its position, so the late row is still applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_rows_committed_out_of_id_order_are_indexed() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let c = catalog(&app).await;
    let boxoffice::store::Db::Postgres { write, .. } = &app.state.db else {
        panic!("a PostgreSQL app");
    };
    // A slow transaction renames Arijit's event and takes its outbox id, but does not commit.
    let mut slow = write.begin().await.expect("begin");
    sqlx::query(
        "UPDATE events SET title = 'Zanzibar Nights'
          WHERE event_id = (SELECT event_id FROM shows WHERE show_id = $1)",
    )
    .bind(c.arijit)
    .execute(&mut *slow)
    .await
    .expect("rename");
    let slow_id: i64 = sqlx::query_scalar(
        "INSERT INTO outbox (topic, aggregate_id, payload, created_at)
         VALUES ('show.updated', $1, '{}'::jsonb, now()) RETURNING outbox_id",
    )
    .bind(c.arijit)
    .fetch_one(&mut *slow)
    .await
    .expect("outbox row");
    // Meanwhile a later change commits and is indexed: the position passes the slow row's id.
    app.patch(
        &format!("/api/v1/events/{}", c.pushpa_event),
        Some(&c.organiser.token),
        json!({ "title": "Pushpa Xylophone" }),
    )
    .await
    .expect(200);
    let position_file = app.data_dir.path().join("search-index/outbox-position");
    let passed = eventually(Duration::from_secs(2), || async {
        let position: i64 = std::fs::read_to_string(&position_file)
            .ok()?
            .trim()
            .parse()
            .ok()?;
        (position > slow_id).then_some(())
    })
    .await;
    assert!(
        passed.is_some(),
        "the indexer's position passes the uncommitted row"
    );
    assert_eq!(ids(&search(&app, "q=xylophone").await), [c.pushpa]);
    assert!(search(&app, "q=zanzibar").await.is_empty());
    slow.commit().await.expect("commit");
    let late = eventually(Duration::from_secs(2), || async {
        (ids(&search(&app, "q=zanzibar").await) == [c.arijit]).then_some(())
    })
    .await;
    assert!(
        late.is_some(),
        "the row committed out of order is indexed within 2 s"
    );
}

/// Each node of a deployment keeps its own index, fed from the same outbox: a node started
/// after the catalog exists builds its index, and a change made through one node is found on
/// every node within 2 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_of_a_deployment_keeps_its_own_index_fresh() {
    let a = TestApp::spawn(Backend::Postgres).await;
    let c = catalog(&a).await;
    let b = a.another_node().await;
    assert_ne!(a.data_dir.path(), b.data_dir.path(), "two indexes");
    assert_eq!(ids(&search(&b, "q=arjit").await), [c.arijit]);
    a.patch(
        &format!("/api/v1/events/{}", c.pushpa_event),
        Some(&c.organiser.token),
        json!({ "title": "Pushpa Quasar" }),
    )
    .await
    .expect(200);
    for node in [&a, &b] {
        let found = eventually(Duration::from_secs(2), || async {
            (ids(&search(node, "q=quasar").await) == [c.pushpa]).then_some(())
        })
        .await;
        assert!(found.is_some(), "node {} sees the change", node.base);
    }
    b.stop().await;
}

/// A database reset, or restored from an older backup, under a node's index: the node's kept
/// position is beyond every outbox row. The node notices and rebuilds, so shows created since
/// are found, and shows the database no longer has are not.
async fn an_index_ahead_of_a_reset_database_is_rebuilt(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let c = catalog(&app).await;
    let position_file = app
        .data_dir
        .path()
        .join("search-index")
        .join("outbox-position");
    let app = app
        .restart_after(|_db| async move {
            let kept: i64 = std::fs::read_to_string(&position_file)
                .expect("position")
                .trim()
                .parse()
                .expect("a number");
            std::fs::write(&position_file, (kept + 100_000).to_string()).expect("write");
        })
        .await;
    let owner = app.venue_owner().await;
    let venue = app
        .venue(&owner, small_venue_body("Reset Hall", "Pune"))
        .await;
    let event = event(&app, &c.organiser, "Resetgaadi Express", "movie", "", &[]).await;
    let show = live(&app, &c.organiser, event, venue, 6).await;
    let found = eventually(Duration::from_secs(3), || async {
        let hits = search(&app, "q=resetgaadi").await;
        (ids(&hits) == [show]).then_some(())
    })
    .await;
    assert!(
        found.is_some(),
        "a show created after the reset is searchable"
    );
}
