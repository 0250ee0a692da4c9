//! SPEC §5: venue onboarding, events, shows with section prices, launch, cancel and the public
//! reads in the seed's exact shapes. Every test runs on SQLite and PostgreSQL.

use crate::common;

use common::{show_body, small_venue_body, Backend, TestApp};
use serde_json::json;

both_backends!(
    venue_layout_has_rows_aisles_and_accessible_seats,
    layout_preview_saves_nothing,
    events_are_created_read_and_patched,
    show_lifecycle_draft_live_cancelled,
    show_list_has_the_seed_shape_and_filters,
    show_detail_counts_and_seat_map,
    catalog_reads_are_cacheable_and_seats_are_not,
    catalog_can_require_auth,
    drafts_are_invisible_to_the_public,
    naive_local_times_are_taken_in_the_venue_zone,
    patch_show_changes_caps_and_queue,
    an_organiser_lists_their_own_events_with_sales,
);

async fn venue_layout_has_rows_aisles_and_accessible_seats(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.venue_owner().await;
    let venue = app
        .post(
            "/api/v1/venues",
            Some(&owner.token),
            small_venue_body("Hall", "Pune"),
        )
        .await
        .expect(201);
    assert_eq!(venue["seat_count"], 30);
    assert_eq!(venue["owner_id"], owner.user_id);
    assert_eq!(venue["timezone"], "Asia/Kolkata");
    let sections = venue["sections"].as_array().expect("sections");
    assert_eq!(sections.len(), 2);
    assert_eq!(sections[0]["name"], "Gold");
    assert_eq!(sections[0]["seat_count"], 10);
    assert!(sections[0]["colour"]
        .as_str()
        .is_some_and(|c| c.starts_with('#')));
    let seats = venue["seats"].as_array().expect("seats");
    let labels: Vec<&str> = seats
        .iter()
        .filter(|s| s["row"] == "B")
        .map(|s| s["seat_id"].as_str().expect("label"))
        .collect();
    assert_eq!(labels, ["B1", "B2", "B4", "B5", "B6"], "3 is an aisle");
    let a1 = seats.iter().find(|s| s["seat_id"] == "A1").expect("A1");
    assert_eq!(a1["accessible"], true);
    assert_eq!(a1["section"], "Gold");

    let id = venue["venue_id"].as_i64().expect("id");
    let read = app
        .get(&format!("/api/v1/venues/{id}"), None)
        .await
        .expect(200);
    assert_eq!(read, venue, "GET returns the layout as created");
    let list = app.get("/api/v1/venues?city=pune", None).await.expect(200);
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    app.get("/api/v1/venues/999999", None)
        .await
        .expect_error(404, "NOT_FOUND");
}

async fn layout_preview_saves_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.venue_owner().await;
    let body = small_venue_body("Preview", "Pune");
    let preview = app
        .post(
            "/api/v1/venues/preview",
            Some(&owner.token),
            json!({ "sections": body["sections"] }),
        )
        .await
        .expect(200);
    assert_eq!(preview["seat_count"], 30);
    let mine = app
        .get("/api/v1/venues?mine=true", Some(&owner.token))
        .await
        .expect(200);
    assert_eq!(mine, json!([]));
}

async fn events_are_created_read_and_patched(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let organiser = app.organiser().await;
    let event = app
        .post(
            "/api/v1/events",
            Some(&organiser.token),
            json!({ "title": "Pushpa 2: The Rule", "category": "movie", "description": "Sequel",
                    "language": "Telugu", "duration_minutes": 200, "tags": ["action"],
                    "artists": ["Allu Arjun"] }),
        )
        .await
        .expect(201);
    let id = event["event_id"].as_i64().expect("id");
    assert_eq!(event["organiser_id"], organiser.user_id);
    assert_eq!(event["artists"], json!(["Allu Arjun"]));
    let read = app
        .get(&format!("/api/v1/events/{id}"), None)
        .await
        .expect(200);
    assert_eq!(read["title"], "Pushpa 2: The Rule");
    assert_eq!(read["shows"], json!([]));
    let patched = app
        .patch(
            &format!("/api/v1/events/{id}"),
            Some(&organiser.token),
            json!({ "title": "Pushpa 2", "tags": ["action", "drama"] }),
        )
        .await
        .expect(200);
    assert_eq!(patched["title"], "Pushpa 2");
    assert_eq!(patched["tags"], json!(["action", "drama"]));
    assert_eq!(patched["language"], "Telugu", "untouched fields stay");
}

async fn show_lifecycle_draft_live_cancelled(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.venue_owner().await;
    let organiser = app.organiser().await;
    let venue = app
        .venue(&owner, small_venue_body("Hall", "Bangalore"))
        .await;
    let event = app.event(&organiser, "Arijit Singh Live", "concert").await;
    let draft = app
        .post(
            &format!("/api/v1/events/{event}/shows"),
            Some(&organiser.token),
            show_body(venue, 5),
        )
        .await
        .expect(201);
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["hold_seconds"], 600);
    assert_eq!(draft["max_seats_per_user"], 10);
    assert_eq!(draft["min_price"], 249.5);
    let show = draft["show_id"].as_i64().expect("id");

    let live = app.launch(&organiser, show).await;
    assert_eq!(live["status"], "live");
    assert_eq!(live["available"], 30);
    // Launching twice is a state conflict, and the inventory is not duplicated.
    app.post(
        &format!("/api/v1/shows/{show}/launch"),
        Some(&organiser.token),
        json!({}),
    )
    .await
    .expect_error(409, "INVALID_STATE");
    let seats = app
        .get(&format!("/api/v1/shows/{show}/seats"), None)
        .await
        .expect(200);
    assert_eq!(seats["seats"].as_array().map(Vec::len), Some(30));

    let cancelled = app
        .post(
            &format!("/api/v1/shows/{show}/cancel"),
            Some(&organiser.token),
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(cancelled["status"], "cancelled");
    app.post(
        &format!("/api/v1/shows/{show}/cancel"),
        Some(&organiser.token),
        json!({}),
    )
    .await
    .expect_error(409, "INVALID_STATE");
    let list = app.get("/api/v1/shows", None).await.expect(200);
    assert_eq!(list, json!([]), "a cancelled show is not listed");
}

async fn show_list_has_the_seed_shape_and_filters(backend: Backend) {
    let app = TestApp::spawn(backend).await;
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
    let movie = app.event(&organiser, "Pushpa 2: The Rule", "movie").await;
    let concert = app.event(&organiser, "Arijit Singh Live", "concert").await;
    let s1 = app.show(&organiser, movie, blr, 2).await;
    let s2 = app.show(&organiser, concert, blr, 1).await;
    let s3 = app.show(&organiser, concert, bom, 3).await;
    let draft = app.show(&organiser, movie, bom, 4).await;
    for s in [s1, s2, s3] {
        app.launch(&organiser, s).await;
    }

    let all = app.get("/api/v1/shows?cat=all", None).await.expect(200);
    let ids: Vec<i64> = all
        .as_array()
        .expect("array")
        .iter()
        .map(|s| s["show_id"].as_i64().expect("id"))
        .collect();
    assert_eq!(ids, [s2, s1, s3], "live only, soonest first");
    assert!(!ids.contains(&draft));

    let first = &all[0];
    let keys: Vec<&str> = first
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = [
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
        "language",
    ];
    expected.sort();
    let mut keys_sorted = keys.clone();
    keys_sorted.sort();
    assert_eq!(keys_sorted, expected, "the seed's list shape");
    assert_eq!(first["category"], "concert");
    assert_eq!(first["title"], "Arijit Singh Live");
    assert_eq!(first["venue_name"], "PVR: Phoenix Marketcity");
    assert_eq!(first["city"], "Bangalore");
    assert_eq!(first["min_price"], 249.5);
    assert_eq!(first["currency"], "INR");
    let start = first["start_time"].as_str().expect("start");
    assert!(start.ends_with("T18:30:00+05:30"), "venue offset: {start}");

    let movies = app
        .get("/api/v1/shows?cat=movie&city=bangalore", None)
        .await
        .expect(200);
    assert_eq!(movies.as_array().map(Vec::len), Some(1));
    assert_eq!(movies[0]["show_id"], s1);
    let mumbai = app.get("/api/v1/shows?city=Mumbai", None).await.expect(200);
    assert_eq!(mumbai.as_array().map(Vec::len), Some(1));
    let day = (chrono::Utc::now() + chrono::Duration::days(2)).date_naive();
    let on_day = app
        .get(&format!("/api/v1/shows?from={day}&to={day}"), None)
        .await
        .expect(200);
    assert_eq!(on_day.as_array().map(Vec::len), Some(1));
    assert_eq!(on_day[0]["show_id"], s1);
    let page2 = app
        .get("/api/v1/shows?per_page=2&page=2", None)
        .await
        .expect(200);
    assert_eq!(page2.as_array().map(Vec::len), Some(1));
    assert_eq!(page2[0]["show_id"], s3);

    let err = app.get("/api/v1/shows?cat=sports", None).await.expect(400);
    assert_eq!(
        err,
        json!({ "error_code": "INVALID_REQUEST", "message": "category must be one of: movie, concert, all",
                "details": { "category": "sports" } })
    );
}

async fn show_detail_counts_and_seat_map(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fx = app.live_show().await;
    let show = app
        .get(&format!("/api/v1/shows/{}", fx.show), None)
        .await
        .expect(200);
    assert_eq!(show["title"], "Test Movie");
    assert_eq!(show["venue_name"], "Test Hall");
    assert_eq!(show["seat_count"], 30);
    let sections = show["sections"].as_array().expect("sections");
    assert_eq!(sections[0]["name"], "Gold");
    assert_eq!(sections[0]["price"], 450);
    assert_eq!(sections[0]["available"], 10);
    assert_eq!(sections[1]["price"], 249.5);
    assert_eq!(sections[1]["total"], 20);

    let seats = app
        .get(&format!("/api/v1/shows/{}/seats", fx.show), None)
        .await
        .expect(200);
    let list = seats["seats"].as_array().expect("seats");
    assert_eq!(list.len(), 30);
    assert!(list.iter().all(|s| s["status"] == "available"));
    let c20 = list.iter().find(|s| s["seat_id"] == "C20").expect("C20");
    assert_eq!(c20["price"], 249.5);
    assert_eq!(c20["section"], "Silver");
    assert!(c20["x"].is_i64() && c20["y"].is_i64());
    app.get("/api/v1/shows/424242", None)
        .await
        .expect_error(404, "SHOW_NOT_FOUND");
    app.get("/api/v1/shows/424242/seats", None)
        .await
        .expect_error(404, "SHOW_NOT_FOUND");
}

async fn catalog_reads_are_cacheable_and_seats_are_not(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fx = app.live_show().await;
    let list = app.get("/api/v1/shows", None).await;
    assert_eq!(list.status, 200);
    let cc = list.header("cache-control").expect("cache-control");
    assert!(cc.starts_with("public, max-age="), "{cc}");
    let etag = list.header("etag").expect("etag").to_owned();
    let res = app
        .client
        .get(app.url("/api/v1/shows"))
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 304);
    let detail = app.get(&format!("/api/v1/shows/{}", fx.show), None).await;
    assert!(detail.header("etag").is_some());
    let seats = app
        .get(&format!("/api/v1/shows/{}/seats", fx.show), None)
        .await;
    assert_eq!(seats.header("cache-control"), Some("no-store"));
    assert!(seats.header("etag").is_none());
}

async fn catalog_can_require_auth(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.catalog_requires_auth = true).await;
    let fx = app.live_show().await;
    for path in [
        "/api/v1/shows?cat=movie".to_string(),
        format!("/api/v1/shows/{}", fx.show),
        format!("/api/v1/shows/{}/seats", fx.show),
        format!("/api/v1/venues/{}", fx.venue),
        format!("/api/v1/events/{}", fx.event),
    ] {
        let err = app.get(&path, None).await.expect_error(401, "UNAUTHORIZED");
        assert_eq!(err["message"], "Authentication required");
        let ok = app.get(&path, Some(&fx.organiser.token)).await;
        assert_eq!(ok.status, 200, "{path}");
        if let Some(cc) = ok.header("cache-control") {
            assert!(
                !cc.contains("public"),
                "authenticated answers are private: {cc}"
            );
        }
    }
}

async fn drafts_are_invisible_to_the_public(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.venue_owner().await;
    let organiser = app.organiser().await;
    let venue = app.venue(&owner, small_venue_body("Hall", "Delhi")).await;
    let event = app.event(&organiser, "Secret", "concert").await;
    let show = app.show(&organiser, event, venue, 3).await;
    let visitor = app.visitor().await;
    app.get(&format!("/api/v1/shows/{show}"), None)
        .await
        .expect_error(404, "SHOW_NOT_FOUND");
    app.get(&format!("/api/v1/shows/{show}"), Some(&visitor.token))
        .await
        .expect_error(404, "SHOW_NOT_FOUND");
    let own = app
        .get(&format!("/api/v1/shows/{show}"), Some(&organiser.token))
        .await
        .expect(200);
    assert_eq!(own["status"], "draft");
    let seats = app
        .get(
            &format!("/api/v1/shows/{show}/seats"),
            Some(&organiser.token),
        )
        .await
        .expect(200);
    assert_eq!(seats["seats"].as_array().map(Vec::len), Some(30));
    let public_event = app
        .get(&format!("/api/v1/events/{event}"), None)
        .await
        .expect(200);
    assert_eq!(public_event["shows"], json!([]));
    let own_event = app
        .get(&format!("/api/v1/events/{event}"), Some(&organiser.token))
        .await
        .expect(200);
    assert_eq!(own_event["shows"][0]["status"], "draft");
}

async fn naive_local_times_are_taken_in_the_venue_zone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.venue_owner().await;
    let organiser = app.organiser().await;
    let mut body = small_venue_body("Globe", "London");
    body["timezone"] = json!("Europe/London");
    let venue = app.venue(&owner, body).await;
    let event = app.event(&organiser, "Hamlet", "movie").await;
    let date = (chrono::Utc::now() + chrono::Duration::days(30)).date_naive();
    let mut show = show_body(venue, 30);
    show["start_time"] = json!(format!("{date}T19:30"));
    show["end_time"] = json!(format!("{date}T22:00"));
    let created = app
        .post(
            &format!("/api/v1/events/{event}/shows"),
            Some(&organiser.token),
            show,
        )
        .await
        .expect(201);
    let start = created["start_time"].as_str().expect("start");
    assert!(start.starts_with(&format!("{date}T19:30:00")), "{start}");
    assert!(
        start.ends_with("+00:00") || start.ends_with("+01:00"),
        "{start}"
    );
}

async fn patch_show_changes_caps_and_queue(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fx = app.live_show().await;
    let patched = app
        .patch(
            &format!("/api/v1/shows/{}", fx.show),
            Some(&fx.organiser.token),
            json!({ "max_seats_per_user": 4, "hold_seconds": 120, "queue": { "enabled": true, "admit_per_minute": 500 } }),
        )
        .await
        .expect(200);
    assert_eq!(patched["max_seats_per_user"], 4);
    assert_eq!(patched["hold_seconds"], 120);
    assert_eq!(
        patched["queue"],
        json!({ "enabled": true, "admit_per_minute": 500, "opens_at": null, "pass_minutes": 10 })
    );
    app.patch(
        &format!("/api/v1/shows/{}", fx.show),
        Some(&fx.organiser.token),
        json!({ "max_seats_per_user": 0 }),
    )
    .await
    .expect_error(400, "INVALID_REQUEST");
}

async fn an_organiser_lists_their_own_events_with_sales(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fx = app.live_show().await;
    let draft = app.show(&fx.organiser, fx.event, fx.venue, 9).await;
    let later = app.event(&fx.organiser, "Encore", "concert").await;
    let buyer = app.buyer().await;
    app.hold_then_book(&buyer, fx.show, &["A2", "C1"], "own-list")
        .await;

    let mine = app
        .get("/api/v1/events?mine=true", Some(&fx.organiser.token))
        .await;
    assert_eq!(mine.header("cache-control"), Some("no-store"));
    let mine = mine.expect(200);
    let events = mine.as_array().expect("events");
    let ids: Vec<i64> = events
        .iter()
        .filter_map(|e| e["event_id"].as_i64())
        .collect();
    assert_eq!(ids, [later, fx.event], "newest first");
    assert_eq!(events[0]["title"], "Encore");
    assert_eq!(events[0]["shows"], json!([]));
    let shows = events[1]["shows"].as_array().expect("shows");
    assert_eq!(shows.len(), 2, "drafts included: {shows:?}");
    let live = &shows[0];
    assert_eq!(live["show_id"], fx.show);
    assert_eq!(live["status"], "live");
    assert_eq!(live["venue_name"], "Test Hall");
    assert_eq!(live["seat_count"], 30);
    assert_eq!(live["seats_sold"], 2);
    assert_eq!(live["revenue"], 699.5, "Gold 450 + Silver 249.50");
    assert_eq!(shows[1]["show_id"], draft);
    assert_eq!(shows[1]["status"], "draft");
    assert_eq!(shows[1]["seats_sold"], 0);
    assert_eq!(shows[1]["revenue"], 0);

    let other = app.organiser().await;
    let theirs = app
        .get("/api/v1/events?mine=true", Some(&other.token))
        .await
        .expect(200);
    assert_eq!(theirs, json!([]), "another organiser sees none of them");
    app.get("/api/v1/events?mine=true", None)
        .await
        .expect_error(401, "UNAUTHORIZED");
    // `mine` is the default; the public list of what is on is the show list.
    let plain = app
        .get("/api/v1/events", Some(&fx.organiser.token))
        .await
        .expect(200);
    assert_eq!(plain, mine);
    let err = app
        .get("/api/v1/events?mine=false", Some(&fx.organiser.token))
        .await
        .expect_error(400, "INVALID_REQUEST");
    assert_eq!(err["details"]["field"], "mine");
}
