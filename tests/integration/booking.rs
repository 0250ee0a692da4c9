//! SPEC §6 and §7: holds and booking, on the embedded default (SQLite + in-process holds) and on
//! production parts (PostgreSQL + Redis). The races are real: many clients at once over HTTP.

use crate::common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use boxoffice::domain::PaymentStatus;
use boxoffice::faults::Fault;
use boxoffice::holds::{HoldOutcome, HoldRequest, HoldStore};
use boxoffice::with_db;
use common::{Backend, TestApp, User};
use futures::future::join_all;
use serde_json::{json, Value};

both_backends!(
    reserve_follows_the_seed_contract,
    reserve_refuses_bad_requests,
    seat_map_and_show_count_holds,
    release_frees_only_your_own_seats,
    cap_counts_held_and_bought_seats,
    reserve_decides_from_the_stores_copy_of_sales_and_the_database_corrects_it,
    book_follows_the_seed_contract,
    book_refuses_seats_you_do_not_hold,
    declined_payment_books_nothing,
    idempotency_key_reused_with_another_body_is_422,
    cancel_refunds_and_puts_seats_back,
    no_cancellation_once_the_show_has_started,
    show_cancellation_refunds_every_booking,
    race_200_clients_reserving_overlapping_seats,
    race_50_holders_booking_at_once,
    race_100_requests_with_one_idempotency_key,
    holds_expire_exactly,
    race_one_user_cannot_exceed_the_cap,
    booking_rechecks_the_cap_a_stale_hold_missed,
    race_one_user_reserving_and_booking_cannot_exceed_the_cap,
    losing_every_hold_never_sells_a_seat_twice,
    failure_before_commit_books_nothing_and_retry_books_once,
    dropped_connection_books_nothing_and_retry_books_once,
    reconciliation_worker_captures_a_booking_whose_capture_was_lost,
    reconciliation_settles_every_payment_a_crash_left_behind,
    race_reconcilers_and_cancellations_never_keep_a_cancelled_buyers_money,
    race_a_reconciler_beside_committing_bookings_never_voids_their_payments,
    a_show_cancelled_while_a_booking_commits_leaves_no_sale,
    authorizations_no_booking_used_are_voided_and_their_keys_freed,
);

mod group_commit {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_decides_each_booking_as_if_it_were_alone() {
        super::a_batch_decides_each_booking_as_if_it_were_alone().await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_steps_beside_the_batch_answer_as_they_would_alone() {
        super::the_steps_beside_the_batch_answer_as_they_would_alone().await
    }
}

mod redis_outage {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_outage_is_a_fast_503_and_service_resumes() {
        super::redis_outage_is_a_fast_503_and_service_resumes().await
    }
}

async fn reserve(app: &TestApp, user: &User, show: i64, seats: &[&str]) -> common::Resp {
    app.post(
        "/api/v1/book/reserve",
        Some(&user.token),
        json!({ "show_id": show, "seat_ids": seats }),
    )
    .await
}

async fn book(app: &TestApp, user: &User, key: &str, body: Value) -> common::Resp {
    let res = app
        .client
        .post(app.url("/api/v1/book"))
        .bearer_auth(&user.token)
        .header("idempotency-key", key)
        .json(&body)
        .send()
        .await
        .expect("sent");
    TestApp::read(res).await
}

/// Invariants read from the database: no seat in two live tickets, sold seats = live tickets =
/// confirmed bookings' seats, every confirmed booking has a payment.
async fn audit(app: &TestApp, show: i64) -> i64 {
    let (doubles, sold, tickets, booked, unpaid): (i64, i64, i64, i64, i64) = with_db!(
        &app.state.db,
        |pool| {
            let doubles: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM (SELECT seat_id FROM tickets WHERE show_id = $1 AND status = 'valid'
             GROUP BY seat_id HAVING COUNT(*) > 1) d",
        ).bind(show).fetch_one(pool).await.expect("doubles");
            let sold: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM inventory WHERE show_id = $1 AND status = 'sold'",
            )
            .bind(show)
            .fetch_one(pool)
            .await
            .expect("sold");
            let tickets: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM tickets WHERE show_id = $1 AND status = 'valid'",
            )
            .bind(show)
            .fetch_one(pool)
            .await
            .expect("tickets");
            let booked: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM tickets t JOIN bookings b ON b.booking_id = t.booking_id
             WHERE b.show_id = $1 AND b.status = 'confirmed' AND t.status = 'valid'",
            )
            .bind(show)
            .fetch_one(pool)
            .await
            .expect("booked");
            let unpaid: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM bookings b WHERE b.show_id = $1 AND b.status = 'confirmed'
             AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.booking_id = b.booking_id)",
            )
            .bind(show)
            .fetch_one(pool)
            .await
            .expect("unpaid");
            (doubles, sold, tickets, booked, unpaid)
        }
    );
    assert_eq!(doubles, 0, "a seat is in two live tickets");
    assert_eq!(sold, tickets, "sold seats = live tickets");
    assert_eq!(tickets, booked, "live tickets = confirmed bookings' seats");
    assert_eq!(unpaid, 0, "every booking has its payment");
    sold
}

/// A live show whose second section is one row `C` of `seats` seats (two per buyer in the
/// races below).
async fn row_c_show(app: &TestApp, seats: usize) -> i64 {
    let owner = app.venue_owner().await;
    let organiser = app.organiser().await;
    let mut venue = common::small_venue_body("Big Hall", "Pune");
    venue["sections"][1]["rows"] = json!([{ "label": "C", "count": seats }]);
    let venue = app.venue(&owner, venue).await;
    let event = app.event(&organiser, "Race", "concert").await;
    let show = app.show(&organiser, event, venue, 2).await;
    app.launch(&organiser, show).await;
    show
}

/// (state, captures) of the sandbox ledger's transaction.
async fn ledger(app: &TestApp, txn: &str) -> Option<(String, i32)> {
    with_db!(&app.state.db, |pool| {
        sqlx::query_as("SELECT state, captures FROM sandbox_ledger WHERE transaction_id = $1")
            .bind(txn)
            .fetch_optional(pool)
            .await
            .expect("ledger")
    })
}

/// The organiser sets the show's per-person cap.
async fn set_cap(app: &TestApp, fx: &common::Fixture, cap: u32) {
    app.patch(
        &format!("/api/v1/shows/{}", fx.show),
        Some(&fx.organiser.token),
        json!({ "max_seats_per_user": cap }),
    )
    .await
    .expect(200);
}

async fn count(app: &TestApp, sql: &str, show: i64) -> i64 {
    with_db!(&app.state.db, |pool| {
        sqlx::query_scalar(sql)
            .bind(show)
            .fetch_one(pool)
            .await
            .expect("count")
    })
}

async fn reserve_follows_the_seed_contract(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fx = app.live_show().await;
    let asha = app.visitor().await;
    let res = reserve(&app, &asha, fx.show, &["A1", "A2"]).await;
    let body = res.expect(202);
    assert_eq!(body["status"], "accepted");
    assert_eq!(body["show_id"], fx.show);
    assert_eq!(body["seat_ids"], json!(["A1", "A2"]));
    assert!(body["hold_id"]
        .as_str()
        .is_some_and(|h| h.starts_with("hold_")));
    let expires =
        chrono::DateTime::parse_from_rfc3339(body["expires_at"].as_str().expect("expires"))
            .expect("rfc3339");
    let left = expires.with_timezone(&chrono::Utc) - chrono::Utc::now();
    assert!(
        left > chrono::Duration::seconds(590) && left <= chrono::Duration::seconds(600),
        "{left}"
    );
    assert!(body["expires_at"]
        .as_str()
        .is_some_and(|t| t.ends_with("+05:30")));

    // Re-reserving your own seats succeeds and extends nothing.
    let again = reserve(&app, &asha, fx.show, &["A1", "A2"])
        .await
        .expect(202);
    assert_eq!(again["expires_at"], body["expires_at"]);

    let ravi = app.visitor().await;
    let err = reserve(&app, &ravi, fx.show, &["A2", "A3"])
        .await
        .expect_error(409, "SEAT_LOCKED");
    assert_eq!(err["message"], "One or more seats are already reserved");
    assert_eq!(
        err["details"],
        json!({ "show_id": fx.show, "locked_seats": ["A2"] })
    );
    // All or nothing: A3 was not held.
    reserve(&app, &ravi, fx.show, &["A3"]).await.expect(202);
}

async fn reserve_refuses_bad_requests(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fx = app.live_show().await;
    let user = app.visitor().await;
    let err = reserve(&app, &user, fx.show, &[])
        .await
        .expect_error(400, "INVALID_REQUEST");
    assert_eq!(err["message"], "seat_ids cannot be empty");
    let err = reserve(&app, &user, fx.show, &["A1", "A1"])
        .await
        .expect_error(400, "INVALID_REQUEST");
    assert_eq!(err["details"]["duplicate_seats"], json!(["A1"]));
    let err = reserve(&app, &user, fx.show, &["A1", "Z99"])
        .await
        .expect_error(400, "INVALID_REQUEST");
    assert_eq!(err["details"]["unknown_seats"], json!(["Z99"]));
    reserve(&app, &user, 987_654, &["A1"])
        .await
        .expect_error(404, "SHOW_NOT_FOUND");
    app.post(
        "/api/v1/book/reserve",
        None,
        json!({ "show_id": fx.show, "seat_ids": ["A1"] }),
    )
    .await
    .expect_error(401, "UNAUTHORIZED");
    app.post(
        "/api/v1/book/reserve",
        Some(&user.token),
        json!({ "show_id": "x", "seat_ids": ["A1"] }),
    )
    .await
    .expect_error(400, "INVALID_REQUEST");
    // A draft is not found; a cancelled show is not on sale.
    let draft = app.show(&fx.organiser, fx.event, fx.venue, 4).await;
    reserve(&app, &user, draft, &["A1"])
        .await
        .expect_error(404, "SHOW_NOT_FOUND");
    app.post(
        &format!("/api/v1/shows/{}/cancel", fx.show),
        Some(&fx.organiser.token),
        json!({}),
    )
    .await
    .expect(200);
    reserve(&app, &user, fx.show, &["A1"])
        .await
        .expect_error(409, "INVALID_STATE");
    // Nothing was held by any refused request.
    assert!(app
        .state
        .holds
        .holds_of_show(fx.show)
        .await
        .expect("holds")
        .is_empty());
}

async fn seat_map_and_show_count_holds(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fx = app.live_show().await;
    let asha = app.visitor().await;
    let ravi = app.visitor().await;
    reserve(&app, &asha, fx.show, &["A1", "C5"])
        .await
        .expect(202);
    let mine = app
        .get(
            &format!("/api/v1/shows/{}/seats", fx.show),
            Some(&asha.token),
        )
        .await
        .expect(200);
    let seat = |map: &Value, id: &str| {
        map["seats"]
            .as_array()
            .expect("seats")
            .iter()
            .find(|s| s["seat_id"] == id)
            .cloned()
            .expect("seat")
    };
    assert_eq!(seat(&mine, "A1")["status"], "held");
    assert_eq!(seat(&mine, "A1")["mine"], true);
    assert_eq!(seat(&mine, "A2")["status"], "available");
    assert_eq!(mine["held"], 2);
    let theirs = app
        .get(
            &format!("/api/v1/shows/{}/seats", fx.show),
            Some(&ravi.token),
        )
        .await
        .expect(200);
    assert_eq!(seat(&theirs, "A1")["status"], "held");
    assert!(seat(&theirs, "A1").get("mine").is_none());
    let show = app
        .get(&format!("/api/v1/shows/{}", fx.show), None)
        .await
        .expect(200);
    assert_eq!(show["held"], 2);
    assert_eq!(show["available"], 28);
    assert_eq!(show["sections"][0]["held"], 1);
    assert_eq!(show["sections"][1]["held"], 1);
    assert_eq!(show["sections"][0]["available"], 9);
}

async fn release_frees_only_your_own_seats(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fx = app.live_show().await;
    let asha = app.visitor().await;
    let ravi = app.visitor().await;
    reserve(&app, &asha, fx.show, &["A1", "A2"])
        .await
        .expect(202);
    let res = app
        .request(
            reqwest::Method::DELETE,
            "/api/v1/book/reserve",
            Some(&ravi.token),
            Some(json!({ "show_id": fx.show, "seat_ids": ["A1"] })),
        )
        .await
        .expect(200);
    assert_eq!(res["seat_ids"], json!([]), "not Ravi's to release");
    let res = app
        .request(
            reqwest::Method::DELETE,
            "/api/v1/book/reserve",
            Some(&asha.token),
            Some(json!({ "show_id": fx.show, "seat_ids": ["A1"] })),
        )
        .await
        .expect(200);
    assert_eq!(res["seat_ids"], json!(["A1"]));
    reserve(&app, &ravi, fx.show, &["A1"]).await.expect(202);
    reserve(&app, &ravi, fx.show, &["A2"])
        .await
        .expect_error(409, "SEAT_LOCKED");
}

async fn cap_counts_held_and_bought_seats(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fx = app.live_show().await;
    set_cap(&app, &fx, 3).await;
    let user = app.visitor().await;
    reserve(&app, &user, fx.show, &["C1", "C2"])
        .await
        .expect(202);
    book(
        &app,
        &user,
        "cap-1",
        json!({ "show_id": fx.show, "seat_ids": ["C1", "C2"] }),
    )
    .await
    .expect(201);
    let err = reserve(&app, &user, fx.show, &["C3", "C4"])
        .await
        .expect_error(403, "SEAT_LIMIT_EXCEEDED");
    assert_eq!(err["details"]["max_seats_per_user"], 3);
    assert_eq!(err["details"]["bought"], 2);
    reserve(&app, &user, fx.show, &["C3"]).await.expect(202);
    reserve(&app, &user, fx.show, &["C4"])
        .await
        .expect_error(403, "SEAT_LIMIT_EXCEEDED");
}

/// A reserve reads no database: the hold store keeps the sold seats and each buyer's count of
/// seats bought from the announced sales, and the node's live availability knows the seats.
/// Those copies can be wrong; the database corrects them where it matters.
async fn reserve_decides_from_the_stores_copy_of_sales_and_the_database_corrects_it(
    backend: Backend,
) {
    let (app, redis) = with_own_hold_store(backend).await;
    let fx = app.live_show().await;
    set_cap(&app, &fx, 3).await;
    let (asha, ravi) = (app.visitor().await, app.visitor().await);
    reserve(&app, &asha, fx.show, &["A1", "A2"])
        .await
        .expect(202);
    let body = json!({ "show_id": fx.show, "seat_ids": ["A1", "A2"] });
    let created = book(&app, &asha, "copy-1", body).await.expect(201);
    let id = created["booking_id"].as_i64().expect("id");
    let err = reserve(&app, &ravi, fx.show, &["A2", "A3"])
        .await
        .expect_error(409, "SEAT_LOCKED");
    assert_eq!(err["details"]["locked_seats"], json!(["A2"]));
    let err = reserve(&app, &ravi, fx.show, &["A9"])
        .await
        .expect_error(400, "INVALID_REQUEST");
    assert_eq!(err["details"]["unknown_seats"], json!(["A9"]));
    // A count too high (a refund whose announcement was lost) is corrected before refusing.
    app.state
        .holds
        .set_bought(fx.show, ravi.user_id, 3)
        .await
        .expect("store");
    reserve(&app, &ravi, fx.show, &["B1"]).await.expect(202);
    // A count too low: the store forgot everything. Sold seats are still refused (the node's
    // availability, rebuilt from the database), and the booking transaction holds the cap.
    forget_every_hold(&app, redis.as_ref()).await;
    let err = reserve(&app, &ravi, fx.show, &["A1"])
        .await
        .expect_error(409, "SEAT_LOCKED");
    assert_eq!(err["details"]["locked_seats"], json!(["A1"]));
    reserve(&app, &asha, fx.show, &["C1", "C2"])
        .await
        .expect(202);
    let body = json!({ "show_id": fx.show, "seat_ids": ["C1", "C2"] });
    let err = book(&app, &asha, "copy-2", body)
        .await
        .expect_error(403, "SEAT_LIMIT_EXCEEDED");
    assert_eq!(err["details"]["bought"], 2);
    // A cancelled booking gives its seats back to everyone and its count back to its buyer.
    app.post(
        &format!("/api/v1/bookings/{id}/cancel"),
        Some(&asha.token),
        json!({}),
    )
    .await
    .expect(200);
    // This node hears of it through the seat feed, within moments.
    let mut tries = 0;
    while reserve(&app, &ravi, fx.show, &["A1"]).await.status != 202 {
        tries += 1;
        assert!(tries < 40, "A1 never came back on sale");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    reserve(&app, &asha, fx.show, &["C3"]).await.expect(202);
}

async fn book_follows_the_seed_contract(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fx = app.live_show().await;
    let user = app.visitor().await;
    reserve(&app, &user, fx.show, &["A1", "C2"])
        .await
        .expect(202);
    let body = json!({ "show_id": fx.show, "seat_ids": ["A1", "C2"] });
    let created = book(&app, &user, "key-1", body.clone()).await.expect(201);
    assert_eq!(created["status"], "seats_booked");
    assert!(created["booking_id"].is_i64());
    let txn = created["transaction_id"].as_str().expect("txn").to_owned();
    assert!(txn.starts_with("txn_") && txn.len() == 40, "{txn}");
    assert_eq!(created["show_id"], fx.show);
    assert_eq!(created["seat_ids"], json!(["A1", "C2"]));
    assert_eq!(created["total"], 699.5);
    assert_eq!(created["currency"], "INR");
    let tickets = created["tickets"].as_array().expect("tickets");
    assert_eq!(tickets.len(), 2);
    assert_eq!(tickets[0]["seat_id"], "A1");
    assert_eq!(tickets[0]["price"], 450);

    let replay = book(&app, &user, "key-1", body.clone()).await;
    assert_eq!(replay.status, 200);
    assert_eq!(replay.body, created, "identical replay");
    assert_eq!(ledger(&app, &txn).await, Some(("captured".into(), 1)));

    let seats = app
        .get(&format!("/api/v1/shows/{}/seats", fx.show), None)
        .await
        .expect(200);
    let a1 = seats["seats"]
        .as_array()
        .expect("seats")
        .iter()
        .find(|s| s["seat_id"] == "A1")
        .cloned()
        .expect("A1");
    assert_eq!(a1["status"], "sold");
    let mine = app
        .get("/api/v1/bookings", Some(&user.token))
        .await
        .expect(200);
    assert_eq!(mine.as_array().map(Vec::len), Some(1));
    assert_eq!(mine[0]["seat_ids"], json!(["A1", "C2"]));
    let id = created["booking_id"].as_i64().expect("id");
    let one = app
        .get(&format!("/api/v1/bookings/{id}"), Some(&user.token))
        .await
        .expect(200);
    assert_eq!(one["payment_status"], "captured");
    assert_eq!(one["transaction_id"], txn.as_str());
    let other = app.visitor().await;
    app.get(&format!("/api/v1/bookings/{id}"), Some(&other.token))
        .await
        .expect_error(404, "NOT_FOUND");

    // Without a key: the seed's 400. Unknown show: the seed's 404.
    let res = app
        .post("/api/v1/book", Some(&user.token), body.clone())
        .await;
    let err = res.expect_error(400, "INVALID_REQUEST");
    assert_eq!(err["details"]["field"], "Idempotency-Key");
    let err = book(
        &app,
        &user,
        "key-2",
        json!({ "show_id": 123_456, "seat_ids": ["A1"] }),
    )
    .await
    .expect_error(404, "SHOW_NOT_FOUND");
    assert_eq!(
        err,
        json!({ "error_code": "SHOW_NOT_FOUND", "message": "Show 123456 not found", "details": { "show_id": 123_456 } })
    );
    let err = book(
        &app,
        &user,
        "key-3",
        json!({ "show_id": fx.show, "seat_ids": [] }),
    )
    .await
    .expect_error(400, "INVALID_REQUEST");
    assert_eq!(err["message"], "seat_ids cannot be empty");
}

async fn book_refuses_seats_you_do_not_hold(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fx = app.live_show().await;
    let asha = app.visitor().await;
    let ravi = app.visitor().await;
    reserve(&app, &asha, fx.show, &["A1"]).await.expect(202);
    let err = book(
        &app,
        &ravi,
        "r1",
        json!({ "show_id": fx.show, "seat_ids": ["A1"] }),
    )
    .await
    .expect_error(409, "SEAT_NOT_AVAILABLE");
    assert_eq!(
        err["details"],
        json!({ "show_id": fx.show, "unavailable_seats": ["A1"] })
    );
    let err = book(
        &app,
        &ravi,
        "r2",
        json!({ "show_id": fx.show, "seat_ids": ["A2"] }),
    )
    .await
    .expect_error(409, "HOLD_EXPIRED");
    assert_eq!(err["details"]["expired_seats"], json!(["A2"]));
    assert_eq!(audit(&app, fx.show).await, 0);
    // A refused attempt gives its key back: the same key works once the seats are held.
    reserve(&app, &ravi, fx.show, &["A2"]).await.expect(202);
    book(
        &app,
        &ravi,
        "r2",
        json!({ "show_id": fx.show, "seat_ids": ["A2"] }),
    )
    .await
    .expect(201);
}

async fn declined_payment_books_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fx = app.live_show().await;
    let user = app.visitor().await;
    reserve(&app, &user, fx.show, &["B1"]).await.expect(202);
    let err = book(&app, &user, "d1", json!({ "show_id": fx.show, "seat_ids": ["B1"], "payment": { "method": "card", "token": "tok_declined" } }))
        .await
        .expect_error(402, "PAYMENT_DECLINED");
    assert!(err["message"]
        .as_str()
        .is_some_and(|m| m.contains("declined")));
    assert_eq!(audit(&app, fx.show).await, 0);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM bookings WHERE show_id = $1",
            fx.show
        )
        .await,
        0
    );
    // The hold survives a decline: pay with another card.
    book(&app, &user, "d2", json!({ "show_id": fx.show, "seat_ids": ["B1"], "payment": { "method": "card", "token": "tok_visa" } }))
        .await
        .expect(201);
}

async fn idempotency_key_reused_with_another_body_is_422(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fx = app.live_show().await;
    let user = app.visitor().await;
    reserve(&app, &user, fx.show, &["C1", "C2"])
        .await
        .expect(202);
    book(
        &app,
        &user,
        "same",
        json!({ "show_id": fx.show, "seat_ids": ["C1"] }),
    )
    .await
    .expect(201);
    book(
        &app,
        &user,
        "same",
        json!({ "show_id": fx.show, "seat_ids": ["C2"] }),
    )
    .await
    .expect_error(422, "IDEMPOTENCY_KEY_REUSED");
    // Keys are per user: another user's identical key is independent.
    let other = app.visitor().await;
    reserve(&app, &other, fx.show, &["C3"]).await.expect(202);
    book(
        &app,
        &other,
        "same",
        json!({ "show_id": fx.show, "seat_ids": ["C3"] }),
    )
    .await
    .expect(201);
}

async fn cancel_refunds_and_puts_seats_back(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fx = app.live_show().await;
    let user = app.visitor().await;
    reserve(&app, &user, fx.show, &["A4", "A5"])
        .await
        .expect(202);
    let created = book(
        &app,
        &user,
        "c1",
        json!({ "show_id": fx.show, "seat_ids": ["A4", "A5"] }),
    )
    .await
    .expect(201);
    let id = created["booking_id"].as_i64().expect("id");
    let other = app.visitor().await;
    app.post(
        &format!("/api/v1/bookings/{id}/cancel"),
        Some(&other.token),
        json!({}),
    )
    .await
    .expect_error(404, "NOT_FOUND");
    let cancelled = app
        .post(
            &format!("/api/v1/bookings/{id}/cancel"),
            Some(&user.token),
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["payment_status"], "refunded");
    assert!(cancelled["tickets"]
        .as_array()
        .expect("tickets")
        .iter()
        .all(|t| t["status"] == "void"));
    let txn = created["transaction_id"].as_str().expect("txn");
    assert_eq!(
        ledger(&app, txn).await.map(|l| l.0),
        Some("refunded".into())
    );
    app.post(
        &format!("/api/v1/bookings/{id}/cancel"),
        Some(&user.token),
        json!({}),
    )
    .await
    .expect_error(409, "INVALID_STATE");
    assert_eq!(audit(&app, fx.show).await, 0);
    // The seats are on sale again.
    reserve(&app, &other, fx.show, &["A4", "A5"])
        .await
        .expect(202);
    book(
        &app,
        &other,
        "c2",
        json!({ "show_id": fx.show, "seat_ids": ["A4", "A5"] }),
    )
    .await
    .expect(201);
    assert_eq!(audit(&app, fx.show).await, 2);
}

/// Claim 1: 200 clients reserving overlapping seat sets of one show.
async fn race_200_clients_reserving_overlapping_seats(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fx = app.live_show().await;
    let users = app.quick_users(200).await;
    let row_c: Vec<String> = (1..=20).map(|n| format!("C{n}")).collect();
    // Client i wants three consecutive seats of row C starting at i mod 18.
    let wants: Vec<Vec<String>> = (0..users.len())
        .map(|i| row_c[i % 18..i % 18 + 3].to_vec())
        .collect();
    let results = join_all(users.iter().zip(&wants).map(|(u, w)| {
        let seats: Vec<&str> = w.iter().map(String::as_str).collect();
        let app = &app;
        async move { reserve(app, u, fx.show, &seats).await }
    }))
    .await;
    let holds = app.state.holds.holds_of_show(fx.show).await.expect("holds");
    let mut granted: HashMap<String, i64> = HashMap::new();
    let mut accepted = 0;
    for ((user, want), res) in users.iter().zip(&wants).zip(results) {
        match res.status.as_u16() {
            202 => {
                accepted += 1;
                for seat in want {
                    assert!(
                        granted.insert(seat.clone(), user.user_id).is_none(),
                        "{seat} granted twice"
                    );
                    assert_eq!(
                        holds.get(seat).map(|h| h.user_id),
                        Some(user.user_id),
                        "{seat} really held by its caller"
                    );
                }
            }
            409 => {
                let locked = res.body["details"]["locked_seats"]
                    .as_array()
                    .expect("locked")
                    .clone();
                assert!(!locked.is_empty());
                for seat in locked {
                    let seat = seat.as_str().expect("label");
                    assert!(want.iter().any(|w| w == seat), "names only requested seats");
                    assert!(
                        holds.get(seat).is_some_and(|h| h.user_id != user.user_id),
                        "{seat} really was taken"
                    );
                }
            }
            other => panic!("unexpected {other}: {}", res.body),
        }
    }
    assert!(accepted >= 1);
    assert_eq!(holds.len(), granted.len(), "no hold without a 202");
}

/// Claim 2: 50 clients each hold seats, then all book at once.
async fn race_50_holders_booking_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let show = row_c_show(&app, 100).await;
    let users = app.quick_users(50).await;
    for (i, u) in users.iter().enumerate() {
        let seats = [format!("C{}", 2 * i + 1), format!("C{}", 2 * i + 2)];
        reserve(&app, u, show, &[&seats[0], &seats[1]])
            .await
            .expect(202);
    }
    let results = join_all(users.iter().enumerate().map(|(i, u)| {
        let app = &app;
        async move {
            book(app, u, &format!("race-{i}"), json!({ "show_id": show, "seat_ids": [format!("C{}", 2 * i + 1), format!("C{}", 2 * i + 2)] })).await
        }
    }))
    .await;
    for r in &results {
        assert_eq!(r.status, 201, "{}", r.body);
    }
    assert_eq!(audit(&app, show).await, 100, "bookings = holds");
}

/// Claim 3: 100 concurrent `POST /book` with one key and body.
async fn race_100_requests_with_one_idempotency_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fx = app.live_show().await;
    let user = app.visitor().await;
    reserve(&app, &user, fx.show, &["B1", "B2"])
        .await
        .expect(202);
    let body = json!({ "show_id": fx.show, "seat_ids": ["B1", "B2"] });
    let results = join_all((0..100).map(|_| book(&app, &user, "one-key", body.clone()))).await;
    let created: Vec<&common::Resp> = results.iter().filter(|r| r.status == 201).collect();
    assert_eq!(
        created.len(),
        1,
        "exactly one booking: {:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let first = &created[0].body;
    for r in &results {
        match r.status.as_u16() {
            201 => {}
            200 => assert_eq!(&r.body, first, "replays are identical"),
            409 => assert_eq!(r.body["error_code"], "IDEMPOTENCY_IN_PROGRESS"),
            other => panic!("unexpected {other}: {}", r.body),
        }
    }
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM bookings WHERE show_id = $1",
            fx.show
        )
        .await,
        1
    );
    let txn = first["transaction_id"].as_str().expect("txn");
    assert_eq!(
        ledger(&app, txn).await,
        Some(("captured".into(), 1)),
        "one capture"
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM payments WHERE user_id IN (SELECT user_id FROM bookings WHERE show_id = $1)", fx.show).await, 1);
    assert_eq!(audit(&app, fx.show).await, 2);
}

/// Claim 4: a show with `hold_seconds = 2`.
async fn holds_expire_exactly(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fx = app.live_show().await;
    app.patch(
        &format!("/api/v1/shows/{}", fx.show),
        Some(&fx.organiser.token),
        json!({ "hold_seconds": 2 }),
    )
    .await
    .expect(200);
    let asha = app.visitor().await;
    let ravi = app.visitor().await;
    let held = reserve(&app, &asha, fx.show, &["A1", "A2"])
        .await
        .expect(202);
    let expires =
        chrono::DateTime::parse_from_rfc3339(held["expires_at"].as_str().expect("expires"))
            .expect("time");
    reserve(&app, &ravi, fx.show, &["A1"])
        .await
        .expect_error(409, "SEAT_LOCKED");
    // Right after the expiry instant the seats are free for everyone.
    let wait = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now())
        .to_std()
        .unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(50)).await;
    reserve(&app, &ravi, fx.show, &["A1"]).await.expect(202);
    let err = book(
        &app,
        &asha,
        "late",
        json!({ "show_id": fx.show, "seat_ids": ["A2"] }),
    )
    .await
    .expect_error(409, "HOLD_EXPIRED");
    assert_eq!(err["details"]["expired_seats"], json!(["A2"]));
    book(
        &app,
        &asha,
        "late-1",
        json!({ "show_id": fx.show, "seat_ids": ["A1"] }),
    )
    .await
    .expect_error(409, "SEAT_NOT_AVAILABLE");
    assert_eq!(audit(&app, fx.show).await, 0);
}

/// Claim 5: one user racing reserves cannot exceed the cap.
async fn race_one_user_cannot_exceed_the_cap(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fx = app.live_show().await;
    set_cap(&app, &fx, 4).await;
    let user = app.visitor().await;
    let results = join_all((1..=20).map(|n| {
        let app = &app;
        let user = &user;
        async move { reserve(app, user, fx.show, &[&format!("C{n}")]).await }
    }))
    .await;
    let ok = results.iter().filter(|r| r.status == 202).count();
    assert_eq!(
        ok,
        4,
        "{:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert!(results
        .iter()
        .filter(|r| r.status != 202)
        .all(|r| r.body["error_code"] == "SEAT_LIMIT_EXCEEDED"));
    let holds = app.state.holds.holds_of_show(fx.show).await.expect("holds");
    assert_eq!(
        holds.values().filter(|h| h.user_id == user.user_id).count(),
        4
    );
}

/// A hold checks the cap against the seats bought when it is made; a booking by the same buyer
/// that commits in between is invisible to it. The booking transaction checks again: here the
/// hold is made (through the store itself, with a cap above the show's) before the first booking
/// commits and is counted as bought.
async fn booking_rechecks_the_cap_a_stale_hold_missed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fx = app.live_show().await;
    set_cap(&app, &fx, 3).await;
    let user = app.visitor().await;
    reserve(&app, &user, fx.show, &["C1", "C2"])
        .await
        .expect(202);
    let seats = ["C3".to_owned(), "C4".to_owned()];
    let stale = app
        .state
        .holds
        .hold(&HoldRequest {
            show_id: fx.show,
            user_id: user.user_id,
            seats: &seats,
            hold_seconds: 600,
            cap: 4, // C1, C2 held (2) + C3, C4 (2): within a cap of 4 seen by the store
        })
        .await
        .expect("hold store");
    assert!(matches!(stale, HoldOutcome::Held { .. }), "{stale:?}");
    book(
        &app,
        &user,
        "cap-a",
        json!({ "show_id": fx.show, "seat_ids": ["C1", "C2"] }),
    )
    .await
    .expect(201);
    let err = book(
        &app,
        &user,
        "cap-b",
        json!({ "show_id": fx.show, "seat_ids": ["C3", "C4"] }),
    )
    .await
    .expect_error(403, "SEAT_LIMIT_EXCEEDED");
    assert_eq!(err["details"]["bought"], 2);
    assert_eq!(err["details"]["max_seats_per_user"], 3);
    // Nothing of the refused booking was written and its authorization was voided.
    assert_eq!(audit(&app, fx.show).await, 2);
    let open: i64 = with_db!(&app.state.db, |pool| {
        sqlx::query_scalar("SELECT COUNT(*) FROM sandbox_ledger WHERE state = 'authorized'")
            .fetch_one(pool)
            .await
            .expect("ledger")
    });
    assert_eq!(open, 0, "the refused booking's authorization is voided");
    let seats = app
        .get(
            &format!("/api/v1/shows/{}/seats", fx.show),
            Some(&user.token),
        )
        .await
        .expect(200);
    let status = |label: &str| {
        seats["seats"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["seat_id"] == label))
            .map(|s| s["status"].clone())
    };
    assert_eq!(status("C2"), Some(json!("sold")));
    assert_ne!(status("C3"), Some(json!("sold")));
}

/// One buyer on many devices: 20 clients each reserve a different seat and book it at once,
/// with a cap of 4. Whatever interleaving of holds and commits happens, at most 4 seats are sold
/// to them, and every refusal is one of the answers the contract names.
async fn race_one_user_reserving_and_booking_cannot_exceed_the_cap(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fx = app.live_show().await;
    set_cap(&app, &fx, 4).await;
    let user = app.visitor().await;
    let results = join_all((1..=20).map(|n| {
        let app = &app;
        let user = &user;
        async move {
            let seat = format!("C{n}");
            let held = reserve(app, user, fx.show, &[&seat]).await;
            if held.status != 202 {
                return (held.status, held.body["error_code"].clone());
            }
            let booked = book(
                app,
                user,
                &format!("race-cap-{n}"),
                json!({ "show_id": fx.show, "seat_ids": [seat] }),
            )
            .await;
            (booked.status, booked.body["error_code"].clone())
        }
    }))
    .await;
    let booked = results.iter().filter(|(s, _)| *s == 201).count();
    assert!((1..=4).contains(&booked), "{results:?}");
    assert!(
        results
            .iter()
            .all(|(s, code)| *s == 201 || (*s == 403 && code == "SEAT_LIMIT_EXCEEDED")),
        "{results:?}"
    );
    let sold = count(
        &app,
        "SELECT COUNT(*) FROM tickets WHERE show_id = $1 AND status = 'valid'",
        fx.show,
    )
    .await;
    assert_eq!(sold, booked as i64);
    assert_eq!(audit(&app, fx.show).await, sold);
}

/// Loses every hold: FLUSHALL on the deployment's own Redis, or a cleared in-process store.
/// An app whose hold store the test may wipe: on PostgreSQL a private Redis (returned, so it
/// lives as long as the test), on the embedded default its in-process store.
async fn with_own_hold_store(backend: Backend) -> (TestApp, Option<common::PrivateRedis>) {
    let redis = match backend {
        Backend::Postgres => Some(common::PrivateRedis::start().await),
        Backend::Sqlite => None,
    };
    let url = redis.as_ref().map(|r| r.url.clone());
    let app = TestApp::spawn_with(backend, |c| {
        if let Some(url) = url {
            c.redis_url = Some(boxoffice::config::DatabaseUrl::new(url));
        }
    })
    .await;
    (app, redis)
}

async fn forget_every_hold(app: &TestApp, redis: Option<&common::PrivateRedis>) {
    match (&app.state.holds, redis) {
        (HoldStore::Memory(m), _) => m.forget_all(),
        (HoldStore::Redis(_), Some(redis)) => redis.flush_all().await,
        (HoldStore::Redis(_), None) => panic!("a Redis deployment needs its private Redis"),
    }
}

/// Claim 6: Redis flushed (FLUSHALL) in the middle of a run of bookings; still no seat sold
/// twice, and the server keeps answering.
async fn losing_every_hold_never_sells_a_seat_twice(backend: Backend) {
    let (app, redis) = with_own_hold_store(backend).await;
    let redis = redis.as_ref();
    let fx = app.live_show().await;
    let users = app.quick_users(20).await;
    // Everyone wants row C; each first holds one seat, then the store loses every hold and they
    // all reserve and book overlapping pairs at once.
    for (i, u) in users.iter().enumerate() {
        reserve(&app, u, fx.show, &[&format!("C{}", i + 1)])
            .await
            .expect(202);
    }
    forget_every_hold(&app, redis).await;
    assert!(app
        .state
        .holds
        .holds_of_show(fx.show)
        .await
        .expect("holds")
        .is_empty());
    let results = join_all(users.iter().enumerate().map(|(i, u)| {
        let app = &app;
        async move {
            let seats = [format!("C{}", i % 19 + 1), format!("C{}", i % 19 + 2)];
            let _ = reserve(app, u, fx.show, &[&seats[0], &seats[1]]).await;
            if i % 2 == 0 {
                forget_every_hold(app, redis).await;
            }
            book(
                app,
                u,
                &format!("f{i}"),
                json!({ "show_id": fx.show, "seat_ids": seats }),
            )
            .await
        }
    }))
    .await;
    let mut sold = HashSet::new();
    for r in &results {
        match r.status.as_u16() {
            201 => {
                for s in r.body["seat_ids"].as_array().expect("seats") {
                    assert!(
                        sold.insert(s.as_str().expect("label").to_owned()),
                        "{s} sold twice"
                    );
                }
            }
            409 => {}
            other => panic!("unexpected {other}: {}", r.body),
        }
    }
    assert_eq!(audit(&app, fx.show).await, sold.len() as i64);
    // The server keeps answering.
    app.get("/readyz", None).await.expect(200);
}

async fn injected_failure_then_retry(backend: Backend, fault: Fault) {
    let app = TestApp::spawn(backend).await;
    let fx = app.live_show().await;
    let user = app.visitor().await;
    reserve(&app, &user, fx.show, &["A3", "A4"])
        .await
        .expect(202);
    let body = json!({ "show_id": fx.show, "seat_ids": ["A3", "A4"] });
    app.state.faults.arm(fault, 1);
    book(&app, &user, "crash-1", body.clone())
        .await
        .expect_error(500, "INTERNAL_ERROR");
    // No partial booking; the authorization is voided.
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM bookings WHERE show_id = $1",
            fx.show
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM tickets WHERE show_id = $1",
            fx.show
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM inventory WHERE show_id = $1 AND status = 'sold'",
            fx.show
        )
        .await,
        0
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM outbox WHERE topic = 'booking.confirmed' AND aggregate_id > $1 - $1", fx.show).await, 0);
    let voided: Vec<(String, i32)> = with_db!(&app.state.db, |pool| {
        sqlx::query_as("SELECT state, captures FROM sandbox_ledger")
            .fetch_all(pool)
            .await
            .expect("ledger")
    });
    assert_eq!(
        voided,
        vec![("voided".to_string(), 0)],
        "authorized then voided"
    );
    // The retry with the same key completes exactly once.
    let created = book(&app, &user, "crash-1", body.clone()).await.expect(201);
    let replay = book(&app, &user, "crash-1", body).await;
    assert_eq!(replay.status, 200);
    assert_eq!(replay.body, created);
    let txn = created["transaction_id"].as_str().expect("txn");
    assert_eq!(ledger(&app, txn).await, Some(("captured".into(), 1)));
    assert_eq!(audit(&app, fx.show).await, 2);
}

/// Claim 7a: a failure between payment authorization and commit.
async fn failure_before_commit_books_nothing_and_retry_books_once(backend: Backend) {
    injected_failure_then_retry(backend, Fault::FailBeforeCommit).await;
}

/// Claim 7b: the database connection dropped inside the booking transaction.
async fn dropped_connection_books_nothing_and_retry_books_once(backend: Backend) {
    injected_failure_then_retry(backend, Fault::DropConnectionInBooking).await;
}

async fn show_cancellation_refunds_every_booking(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fx = app.live_show().await;
    let user = app.visitor().await;
    reserve(&app, &user, fx.show, &["B4"]).await.expect(202);
    let created = book(
        &app,
        &user,
        "s1",
        json!({ "show_id": fx.show, "seat_ids": ["B4"] }),
    )
    .await
    .expect(201);
    app.post(
        &format!("/api/v1/shows/{}/cancel", fx.show),
        Some(&fx.organiser.token),
        json!({}),
    )
    .await
    .expect(200);
    let id = created["booking_id"].as_i64().expect("id");
    let booking = app
        .get(&format!("/api/v1/bookings/{id}"), Some(&user.token))
        .await
        .expect(200);
    assert_eq!(booking["status"], "cancelled");
    assert_eq!(booking["payment_status"], "refunded");
    assert_eq!(booking["tickets"][0]["status"], "void");
    let txn = created["transaction_id"].as_str().expect("txn");
    assert_eq!(
        ledger(&app, txn).await.map(|l| l.0),
        Some("refunded".into())
    );
    assert_eq!(audit(&app, fx.show).await, 0);
}

async fn no_cancellation_once_the_show_has_started(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fx = app.live_show().await;
    let user = app.visitor().await;
    reserve(&app, &user, fx.show, &["A1"]).await.expect(202);
    let created = book(
        &app,
        &user,
        "started",
        json!({ "show_id": fx.show, "seat_ids": ["A1"] }),
    )
    .await
    .expect(201);
    // The show begins: move its start into the past, as time would.
    with_db!(&app.state.db, |pool| {
        sqlx::query("UPDATE shows SET start_time = $2 WHERE show_id = $1")
            .bind(fx.show)
            .bind(chrono::Utc::now() - chrono::Duration::minutes(5))
            .execute(pool)
            .await
            .expect("start the show");
    });
    let id = created["booking_id"].as_i64().expect("id");
    app.post(
        &format!("/api/v1/bookings/{id}/cancel"),
        Some(&user.token),
        json!({}),
    )
    .await
    .expect_error(409, "INVALID_STATE");
    let booking = app
        .get(&format!("/api/v1/bookings/{id}"), Some(&user.token))
        .await
        .expect(200);
    assert_eq!(booking["status"], "confirmed");
    assert_eq!(audit(&app, fx.show).await, 1);
}

/// Reserves `seats` and books them with `key`, arming `fault` (if any) for this booking only.
async fn booked(
    app: &TestApp,
    user: &User,
    show: i64,
    seats: &[&str],
    key: &str,
    fault: Option<Fault>,
) -> (i64, String) {
    reserve(app, user, show, seats).await.expect(202);
    if let Some(fault) = fault {
        app.state.faults.arm(fault, 1);
    }
    let body = book(
        app,
        user,
        key,
        json!({ "show_id": show, "seat_ids": seats }),
    )
    .await
    .expect(201);
    (
        body["booking_id"].as_i64().expect("booking_id"),
        body["transaction_id"].as_str().expect("txn").to_owned(),
    )
}

async fn payment_status(app: &TestApp, txn: &str) -> String {
    with_db!(&app.state.db, |pool| {
        sqlx::query_scalar("SELECT status FROM payments WHERE transaction_id = $1")
            .bind(txn)
            .fetch_one(pool)
            .await
            .expect("payment")
    })
}

/// The node dies between the booking's commit and the capture: the reconciliation worker (every
/// 100 ms here) captures it, once, and the buyer sees it captured.
async fn reconciliation_worker_captures_a_booking_whose_capture_was_lost(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.reconcile_every_ms = 100;
        c.reconcile_after_ms = 0;
    })
    .await;
    let fx = app.live_show().await;
    let user = app.visitor().await;
    let (id, txn) = booked(
        &app,
        &user,
        fx.show,
        &["C1", "C2"],
        "lost-capture",
        Some(Fault::CrashBeforeCapture),
    )
    .await;
    // A pass every 100 ms settles it in well under a second on a quiet machine; the window is
    // wide because once, under a whole CI run's load, 5 s were not enough.
    let settled = common::eventually(Duration::from_secs(20), || async {
        let b = app
            .get(&format!("/api/v1/bookings/{id}"), Some(&user.token))
            .await
            .expect(200);
        (b["payment_status"] == "captured").then_some(())
    })
    .await;
    assert!(settled.is_some(), "the lost capture was never reconciled");
    assert_eq!(ledger(&app, &txn).await, Some(("captured".into(), 1)));
    assert_eq!(audit(&app, fx.show).await, 2);
}

/// Every way a crash can leave a payment behind, settled by one reconciliation pass (the worker
/// is slowed down so the test drives the pass itself), and a second pass finds nothing to do.
async fn reconciliation_settles_every_payment_a_crash_left_behind(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.reconcile_every_ms = 3_600_000).await;
    let fx = app.live_show().await;
    let user = app.visitor().await;
    let cancel = |id: i64| {
        let (app, user) = (&app, &user);
        async move {
            app.post(
                &format!("/api/v1/bookings/{id}/cancel"),
                Some(&user.token),
                json!({}),
            )
            .await
            .expect(200)
        }
    };
    // Captured at the provider but not recorded; then the buyer cancels.
    let (b1, t1) = booked(
        &app,
        &user,
        fx.show,
        &["A1"],
        "r1",
        Some(Fault::CaptureNotRecorded),
    )
    .await;
    assert_eq!(ledger(&app, &t1).await, Some(("captured".into(), 1)));
    cancel(b1).await;
    // Never captured; then the buyer cancels.
    let (b2, t2) = booked(
        &app,
        &user,
        fx.show,
        &["A2"],
        "r2",
        Some(Fault::CrashBeforeCapture),
    )
    .await;
    cancel(b2).await;
    // Cancelled, but the node died before refunding.
    let (b3, t3) = booked(&app, &user, fx.show, &["A3"], "r3", None).await;
    app.state.faults.arm(Fault::CrashBeforeRefund, 1);
    assert_eq!(cancel(b3).await["payment_status"], "refund_pending");
    // Captured at the provider by a capture that raced the buyer's cancellation: recording it
    // finds the booking cancelled and leaves it to be refunded, never `captured`.
    let (b6, t6) = booked(
        &app,
        &user,
        fx.show,
        &["C7"],
        "r6",
        Some(Fault::CrashBeforeCapture),
    )
    .await;
    cancel(b6).await;
    app.state.payments.capture(&t6).await.expect("capture");
    assert_eq!(
        boxoffice::payments::record_capture(&app.state.db, &t6)
            .await
            .expect("record"),
        boxoffice::payments::CaptureRecord::RefundPending
    );
    assert_eq!(payment_status(&app, &t6).await, "refund_pending");
    // Never captured and still confirmed.
    let (_, t4) = booked(
        &app,
        &user,
        fx.show,
        &["A4"],
        "r4",
        Some(Fault::CrashBeforeCapture),
    )
    .await;
    // A healthy booking is left alone.
    let (_, t5) = booked(&app, &user, fx.show, &["A5"], "r5", None).await;

    let done =
        boxoffice::payments::reconcile_once(&app.state.db, &app.state.payments, Duration::ZERO)
            .await
            .expect("reconcile");
    assert_eq!(
        done,
        boxoffice::payments::Reconciled {
            captured: 1,
            voided: 1,
            // t1 was refunded by its cancellation already: the provider had captured it.
            refunded: 2,
            orphans_voided: 0,
            unresolved: 0,
            failed: 0,
        }
    );
    for (txn, ours, provider) in [
        (&t1, "refunded", ("refunded", 1)),
        (&t2, "voided", ("voided", 0)),
        (&t3, "refunded", ("refunded", 1)),
        (&t4, "captured", ("captured", 1)),
        (&t5, "captured", ("captured", 1)),
        (&t6, "refunded", ("refunded", 1)),
    ] {
        assert_eq!(payment_status(&app, txn).await, ours, "{txn}");
        assert_eq!(
            ledger(&app, txn).await,
            Some((provider.0.to_owned(), provider.1)),
            "{txn}"
        );
    }
    let again =
        boxoffice::payments::reconcile_once(&app.state.db, &app.state.payments, Duration::ZERO)
            .await
            .expect("reconcile");
    assert_eq!(again, boxoffice::payments::Reconciled::default());
    assert_eq!(audit(&app, fx.show).await, 2);
}

/// Three reconcilers (as on three nodes) race the buyers cancelling ten bookings whose captures
/// were lost: a reconciler that saw a booking confirmed captures while another, or the
/// cancellation, voids or refunds. Whatever the interleaving, every cancelled booking ends voided
/// or refunded, with the provider's ledger agreeing, and nothing stays captured.
async fn race_reconcilers_and_cancellations_never_keep_a_cancelled_buyers_money(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.reconcile_every_ms = 3_600_000).await;
    let fx = app.live_show().await;
    let users = app.quick_users(10).await;
    let mut bookings = Vec::new();
    for (i, user) in users.iter().enumerate() {
        let seat = format!("C{}", i + 1);
        let key = format!("lost-{i}");
        bookings.push(
            booked(
                &app,
                user,
                fx.show,
                &[&seat],
                &key,
                Some(Fault::CrashBeforeCapture),
            )
            .await,
        );
    }
    let reconcilers = (0..3).map(|_| async {
        for _ in 0..3 {
            boxoffice::payments::reconcile_once(&app.state.db, &app.state.payments, Duration::ZERO)
                .await
                .expect("reconcile");
        }
    });
    let cancels = users.iter().zip(&bookings).map(|(user, (id, _))| {
        let app = &app;
        async move {
            app.post(
                &format!("/api/v1/bookings/{id}/cancel"),
                Some(&user.token),
                json!({}),
            )
            .await
            .expect(200);
        }
    });
    futures::future::join(join_all(reconcilers), join_all(cancels)).await;
    // Whatever the race left unsettled, the next pass settles.
    let last =
        boxoffice::payments::reconcile_once(&app.state.db, &app.state.payments, Duration::ZERO)
            .await
            .expect("reconcile");
    assert_eq!((last.unresolved, last.failed), (0, 0), "{last:?}");
    for (_, txn) in &bookings {
        let ours = payment_status(&app, txn).await;
        let (provider, _) = ledger(&app, txn).await.expect("ledger");
        assert!(
            (ours == "voided" && provider == "voided")
                || (ours == "refunded" && provider == "refunded"),
            "{txn}: ours {ours}, provider {provider}"
        );
    }
    assert_eq!(audit(&app, fx.show).await, 0);
}

/// The reconciler runs without pause, taking every authorization as old enough to settle, while
/// buyers book 50 at a time: it looks at each authorization whose booking is committing right
/// then (no payment row yet, the idempotency claim still running). A booking that commits
/// between its two looks must count as using the authorization, so every buyer ends captured,
/// never voided. (When the looks were two statements, a round voided a payment about one time
/// in three.)
async fn race_a_reconciler_beside_committing_bookings_never_voids_their_payments(backend: Backend) {
    const ROUNDS: usize = 4;
    const BUYERS: usize = 50;
    let app = TestApp::spawn_with(backend, |c| {
        c.reconcile_every_ms = 1;
        c.reconcile_after_ms = 0;
    })
    .await;
    let show = row_c_show(&app, 2 * ROUNDS * BUYERS).await;
    let users = app.quick_users(ROUNDS * BUYERS).await;
    let seats = |i: usize| [format!("C{}", 2 * i + 1), format!("C{}", 2 * i + 2)];
    for (i, u) in users.iter().enumerate() {
        let [a, b] = seats(i);
        reserve(&app, u, show, &[&a, &b]).await.expect(202);
    }
    let mut txns = Vec::new();
    for round in users.chunks(BUYERS).enumerate() {
        let (r, buyers) = round;
        let results = join_all(buyers.iter().enumerate().map(|(j, u)| {
            let (app, i) = (&app, r * BUYERS + j);
            async move {
                let body = json!({ "show_id": show, "seat_ids": seats(i) });
                book(app, u, &format!("beside-{i}"), body).await
            }
        }))
        .await;
        for res in &results {
            assert_eq!(res.status, 201, "{}", res.body);
            txns.push(res.body["transaction_id"].as_str().expect("txn").to_owned());
        }
    }
    for txn in &txns {
        let (provider, captures) = ledger(&app, txn).await.expect("ledger");
        assert_eq!(
            (provider.as_str(), captures),
            ("captured", 1),
            "{txn}: a confirmed booking's authorization was not captured once"
        );
        assert_eq!(payment_status(&app, txn).await, "captured", "{txn}");
    }
    assert_eq!(audit(&app, show).await, (2 * ROUNDS * BUYERS) as i64);
}

/// Sends one request and checks it is a quick 503 in our shape with `Retry-After`.
async fn expect_quick_503(res: impl std::future::Future<Output = common::Resp>, what: &str) {
    let started = std::time::Instant::now();
    let res = tokio::time::timeout(std::time::Duration::from_secs(5), res)
        .await
        .unwrap_or_else(|_| panic!("{what}: hung while Redis is down"));
    assert!(
        started.elapsed() < std::time::Duration::from_millis(2_500),
        "{what}: took {:?}",
        started.elapsed()
    );
    assert!(
        res.header("retry-after").is_some(),
        "{what}: {:?}",
        res.headers
    );
    res.expect_error(503, "SERVICE_UNAVAILABLE");
}

/// Waits until `user` can hold `seat` again; returns how long after `since` that was.
async fn time_to_resume(app: &TestApp, user: &User, show: i64, seat: &str) -> std::time::Duration {
    let since = std::time::Instant::now();
    loop {
        let res = reserve(app, user, show, &[seat]).await;
        if res.status == 202 {
            return since.elapsed();
        }
        assert_eq!(res.status, 503, "{}", res.body);
        assert!(
            since.elapsed() < std::time::Duration::from_secs(20),
            "never resumed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Redis killed, then frozen (a partition): every request that needs it gets a quick 503 with
/// `Retry-After` instead of hanging, a failed booking leaves its key free for the retry, and
/// service resumes within about a second of Redis coming back.
async fn redis_outage_is_a_fast_503_and_service_resumes() {
    let mut redis = common::PrivateRedis::start().await;
    let url = redis.url.clone();
    let app = TestApp::spawn_with(Backend::Postgres, |c| {
        c.redis_url = Some(boxoffice::config::DatabaseUrl::new(url));
        c.redis_timeout_ms = 500;
    })
    .await;
    let fx = app.live_show().await;
    let users = app.quick_users(3).await;
    reserve(&app, &users[0], fx.show, &["A1"]).await.expect(202);

    // Down for five seconds.
    redis.kill();
    for _ in 0..3 {
        expect_quick_503(reserve(&app, &users[1], fx.show, &["A2"]), "reserve").await;
        let body = json!({ "show_id": fx.show, "seat_ids": ["A1"] });
        expect_quick_503(book(&app, &users[0], "outage-key", body), "book").await;
    }
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    redis.restart().await;
    let resumed = time_to_resume(&app, &users[1], fx.show, "A2").await;
    assert!(
        resumed < std::time::Duration::from_millis(2_000),
        "resumed after {resumed:?}"
    );
    // The buyer's hold was lost with Redis: they hold again and pay with the same key.
    reserve(&app, &users[0], fx.show, &["A1"]).await.expect(202);
    let body = json!({ "show_id": fx.show, "seat_ids": ["A1"] });
    book(&app, &users[0], "outage-key", body).await.expect(201);

    // Frozen: connections stay open and nothing answers.
    redis.pause();
    for _ in 0..3 {
        expect_quick_503(
            reserve(&app, &users[2], fx.show, &["A3"]),
            "reserve (frozen)",
        )
        .await;
    }
    // The seat map this node keeps in memory (its reserves loaded it) is still served.
    let started = std::time::Instant::now();
    app.get(&format!("/api/v1/shows/{}/seats", fx.show), None)
        .await
        .expect(200);
    assert!(started.elapsed() < std::time::Duration::from_millis(2_500));
    redis.resume();
    let resumed = time_to_resume(&app, &users[2], fx.show, "A3").await;
    assert!(
        resumed < std::time::Duration::from_millis(2_000),
        "resumed after {resumed:?}"
    );
    audit(&app, fx.show).await;
}

/// SPEC §5, §7: cancelling a show while bookings commit never leaves a confirmed, charged or
/// ticketed booking for the cancelled show. One booking is held open in its transaction while
/// the organiser cancels (deterministic), and the other buyers book at the same moment.
async fn a_show_cancelled_while_a_booking_commits_leaves_no_sale(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fx = app.live_show().await;
    let users = app.quick_users(8).await;
    for (i, u) in users.iter().enumerate() {
        reserve(&app, u, fx.show, &[&format!("C{}", i + 1)])
            .await
            .expect(202);
    }
    app.state.faults.arm(Fault::PauseBeforeBookingCommit, 1);
    let paused = book(
        &app,
        &users[0],
        "paused",
        json!({ "show_id": fx.show, "seat_ids": ["C1"] }),
    );
    let others = join_all(users.iter().enumerate().skip(1).map(|(i, u)| {
        let app = &app;
        async move {
            tokio::time::sleep(Duration::from_millis(100 + 20 * i as u64)).await;
            book(
                app,
                u,
                &format!("k{i}"),
                json!({ "show_id": fx.show, "seat_ids": [format!("C{}", i + 1)] }),
            )
            .await
        }
    }));
    let cancel = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        app.post(
            &format!("/api/v1/shows/{}/cancel", fx.show),
            Some(&fx.organiser.token),
            json!({}),
        )
        .await
    };
    let (paused, others, cancelled) = tokio::join!(paused, others, cancel);
    cancelled.expect(200);
    let mut statuses = vec![paused.status.as_u16()];
    statuses.extend(others.iter().map(|r| r.status.as_u16()));
    for status in &statuses {
        assert!([201, 409].contains(status), "{statuses:?}");
    }
    let settled = common::eventually(Duration::from_secs(10), || async {
        let unsettled = count(
            &app,
            "SELECT COUNT(*) FROM payments p JOIN bookings b ON b.booking_id = p.booking_id
              WHERE b.show_id = $1 AND p.status NOT IN ('refunded', 'voided')",
            fx.show,
        )
        .await;
        (unsettled == 0).then_some(())
    })
    .await;
    let confirmed = count(
        &app,
        "SELECT COUNT(*) FROM bookings WHERE show_id = $1 AND status = 'confirmed'",
        fx.show,
    )
    .await;
    let valid = count(
        &app,
        "SELECT COUNT(*) FROM tickets WHERE show_id = $1 AND status = 'valid'",
        fx.show,
    )
    .await;
    let on_sale = count(
        &app,
        "SELECT COUNT(*) FROM inventory WHERE show_id = $1 AND status <> 'blocked'",
        fx.show,
    )
    .await;
    assert_eq!(
        confirmed, 0,
        "no booking stays confirmed; answers {statuses:?}"
    );
    assert_eq!(valid, 0, "no ticket stays valid");
    assert_eq!(on_sale, 0, "every seat is withdrawn");
    assert!(settled.is_some(), "every payment is refunded or voided");
}

/// A node that died between authorizing a card and committing the booking leaves an
/// authorization with no payment row and a claimed key. Reconciliation voids the authorization
/// once its claim is past the lease (never one a running booking or a committed booking
/// uses), and the buyer's retry with the same key takes the key over and books.
async fn authorizations_no_booking_used_are_voided_and_their_keys_freed(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.reconcile_every_ms = 3_600_000).await;
    let fx = app.live_show().await;
    let users = app.quick_users(3).await;
    let lease = boxoffice::booking::idempotency::LEASE_SECONDS;
    let long_ago = chrono::Utc::now() - chrono::Duration::seconds(lease + 5);
    // users[0]: died mid-booking; users[1]: still running (fresh claim); users[2]: booked.
    let mut txns = Vec::new();
    for (i, user) in users.iter().enumerate().take(2) {
        let key = format!("crash-{i}");
        let txn = app
            .state
            .payments
            .authorize(&format!("{}:{key}", user.user_id), 25_000, "INR", "tok_ok")
            .await
            .expect("authorized");
        let claimed_at = if i == 0 { long_ago } else { chrono::Utc::now() };
        let hash = boxoffice::booking::request_hash(fx.show, &[format!("A{}", i + 1)], None);
        with_db!(&app.state.db, |pool| {
            sqlx::query(
                "INSERT INTO idempotency_records (user_id, idempotency_key, request_hash, status, created_at, updated_at)
                 VALUES ($1, $2, $4, 'in_progress', $3, $3)",
            )
            .bind(user.user_id)
            .bind(&key)
            .bind(claimed_at)
            .bind(&hash)
            .execute(pool)
            .await
            .expect("claim");
        });
        txns.push(txn);
    }
    reserve(&app, &users[2], fx.show, &["A3"]).await.expect(202);
    let used = book(
        &app,
        &users[2],
        "fine",
        json!({ "show_id": fx.show, "seat_ids": ["A3"] }),
    )
    .await
    .expect(201);
    let used_txn = used["transaction_id"].as_str().expect("txn").to_owned();

    let done =
        boxoffice::payments::reconcile_once(&app.state.db, &app.state.payments, Duration::ZERO)
            .await
            .expect("reconcile");
    assert_eq!(done.orphans_voided, 1, "{done:?}");
    let state = |txn: String| {
        let payments = app.state.payments.clone();
        async move { payments.lookup(&txn).await.expect("lookup") }
    };
    assert_eq!(state(txns[0].clone()).await, Some(PaymentStatus::Voided));
    assert_eq!(
        state(txns[1].clone()).await,
        Some(PaymentStatus::Authorized)
    );
    assert_eq!(state(used_txn).await, Some(PaymentStatus::Captured));

    // The crashed buyer retries with the same key: the stale claim is taken over and the
    // booking goes through, on a fresh authorization of the same transaction.
    reserve(&app, &users[0], fx.show, &["A1"]).await.expect(202);
    let retried = book(
        &app,
        &users[0],
        "crash-0",
        json!({ "show_id": fx.show, "seat_ids": ["A1"] }),
    )
    .await
    .expect(201);
    assert_eq!(retried["transaction_id"], txns[0].as_str());
    assert_eq!(state(txns[0].clone()).await, Some(PaymentStatus::Captured));
    // The running one's key is still exclusive.
    reserve(&app, &users[1], fx.show, &["A2"]).await.expect(202);
    book(
        &app,
        &users[1],
        "crash-1",
        json!({ "show_id": fx.show, "seat_ids": ["A2"] }),
    )
    .await
    .expect_error(409, "IDEMPOTENCY_IN_PROGRESS");
    audit(&app, fx.show).await;
}

/// The booking committer (PostgreSQL) commits the bookings waiting at once in one transaction:
/// each is still decided as on its own. Two bookings wanting the same seat: one wins, the other
/// writes nothing and gives back the seat it did win; one buyer's two bookings over the cap: one
/// is refused; the others are unharmed.
async fn a_batch_decides_each_booking_as_if_it_were_alone() {
    use boxoffice::booking::group::{GroupBooking, GroupOutcome};
    use boxoffice::booking::store::BookingOutcome;

    let app = TestApp::spawn(Backend::Postgres).await;
    let group = app
        .state
        .booking_group
        .clone()
        .expect("PostgreSQL commits bookings in groups");
    let fx = app.live_show().await;
    set_cap(&app, &fx, 3).await;
    let db = &app.state.db;
    let show = boxoffice::inventory::cached_sale_show(db, &app.state.shows, fx.show)
        .await
        .expect("show");
    // Buyers whose bookings go to one runner, so the five share a batch (a buyer's bookings
    // always go to the same runner; buyers on the other runner commit in a batch beside it).
    let mut users = app.quick_users(20).await;
    let runner = boxoffice::booking::group::runner_of(users[0].user_id);
    users.retain(|u| boxoffice::booking::group::runner_of(u.user_id) == runner);
    assert!(users.len() >= 4, "twenty buyers, two runners");
    let plan: [(usize, &str, [&str; 2]); 5] = [
        (0, "a", ["C1", "C2"]),
        (1, "b", ["C2", "C3"]),
        (2, "c1", ["C5", "C6"]),
        (2, "c2", ["C7", "C8"]),
        (3, "d", ["C10", "C11"]),
    ];
    let live = app.state.availability.show(fx.show).await.expect("live");
    let mut bookings = Vec::new();
    for (n, (u, key, labels)) in plan.iter().enumerate() {
        let user_id = users[*u].user_id;
        let labels: Vec<String> = labels.iter().map(|l| (*l).to_owned()).collect();
        let seats = boxoffice::inventory::inventory_seats(&live, &labels).expect("seats");
        let claim = boxoffice::booking::idempotency::claim(db, user_id, key, "hash")
            .await
            .expect("claim");
        assert!(matches!(
            claim,
            boxoffice::booking::idempotency::Claim::Acquired
        ));
        let total = seats.iter().map(|s| s.price_minor).sum();
        bookings.push(GroupBooking {
            user_id,
            idempotency_key: (*key).to_owned(),
            show: show.clone(),
            currency: "INR",
            seats,
            transaction_id: format!("txn_group_test_{n}_{}", fx.show),
            provider: "sandbox".to_owned(),
            total_minor: total,
            render: Box::new(|id, tickets| format!("{id}:{}", tickets.len())),
        });
    }
    // Queued together, so the committer finds them waiting at once.
    let outcomes = join_all(bookings.into_iter().map(|b| group.commit(b))).await;
    let outcomes: Vec<BookingOutcome> = outcomes
        .into_iter()
        .map(|o| match o {
            GroupOutcome::Decided(outcome) => outcome,
            GroupOutcome::Alone => panic!("handed back"),
        })
        .collect();
    let confirmed = |o: &BookingOutcome| matches!(o, BookingOutcome::Confirmed { .. });
    assert!(
        confirmed(&outcomes[0]) != confirmed(&outcomes[1]),
        "{outcomes:?}"
    );
    let loser = if confirmed(&outcomes[0]) { 1 } else { 0 };
    match &outcomes[loser] {
        BookingOutcome::SeatsTaken(labels) => assert_eq!(labels, &vec!["C2".to_owned()]),
        other => panic!("{other:?}"),
    }
    assert!(
        confirmed(&outcomes[2]) != confirmed(&outcomes[3]),
        "{outcomes:?}"
    );
    let refused = if confirmed(&outcomes[2]) { 3 } else { 2 };
    match &outcomes[refused] {
        BookingOutcome::SeatLimitExceeded { cap, bought } => assert_eq!((*cap, *bought), (3, 2)),
        other => panic!("{other:?}"),
    }
    assert!(confirmed(&outcomes[4]), "{outcomes:?}");
    for outcome in &outcomes {
        if let BookingOutcome::Confirmed { booking_id, body } = outcome {
            assert_eq!(body, &format!("{booking_id}:2"));
        }
    }
    // Written: three bookings, their six seats, tickets, payments, records and outbox rows;
    // nothing of the refused ones, and the seat the loser had won is on sale again.
    let pool = match db {
        boxoffice::store::Db::Postgres { write, .. } => write,
        _ => unreachable!(),
    };
    let count = |sql: &'static str| async move {
        sqlx::query_scalar::<_, i64>(sql)
            .bind(fx.show)
            .fetch_one(pool)
            .await
            .expect(sql)
    };
    assert_eq!(
        count("SELECT COUNT(*) FROM bookings WHERE show_id = $1").await,
        3
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM inventory WHERE show_id = $1 AND status = 'sold'").await,
        6
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM tickets WHERE show_id = $1 AND status = 'valid'").await,
        6
    );
    assert_eq!(
        count(
            "SELECT COUNT(*) FROM payments p JOIN bookings b ON b.booking_id = p.booking_id
              WHERE b.show_id = $1 AND p.status = 'authorized'"
        )
        .await,
        3
    );
    assert_eq!(
        count(
            "SELECT COUNT(*) FROM idempotency_records r JOIN bookings b
                 ON b.user_id = r.user_id AND b.idempotency_key = r.idempotency_key
              WHERE b.show_id = $1 AND r.status = 'completed' AND r.response_status = 201"
        )
        .await,
        3
    );
    assert_eq!(
        count(
            "SELECT COUNT(*) FROM outbox WHERE topic = 'booking.confirmed'
                AND (payload->>'show_id')::BIGINT = $1"
        )
        .await,
        3
    );
    let c3: String = sqlx::query_scalar(
        "SELECT i.status FROM inventory i JOIN seats t ON t.seat_id = i.seat_id
          WHERE i.show_id = $1 AND t.label = 'C3'",
    )
    .bind(fx.show)
    .fetch_one(pool)
    .await
    .expect("C3");
    let c3_wanted_by_winner = loser == 0; // b (C2, C3) won
    assert_eq!(
        c3,
        if c3_wanted_by_winner {
            "sold"
        } else {
            "available"
        }
    );
}

/// The booking's steps outside its transaction, batched beside the committer, answer as they
/// would alone: a key claimed once (a second ask of the same key in the batch, and a key that
/// exists, go the careful way), and a capture recorded once (an unknown transaction changes
/// nothing).
async fn the_steps_beside_the_batch_answer_as_they_would_alone() {
    use boxoffice::booking::idempotency::{claim, Claim};
    use boxoffice::payments::CaptureRecord;

    let app = TestApp::spawn(Backend::Postgres).await;
    let group = app
        .state
        .booking_group
        .clone()
        .expect("PostgreSQL commits bookings in groups");
    let db = &app.state.db;
    let users = app.quick_users(2).await;
    let (a, b) = (users[0].user_id, users[1].user_id);
    assert!(matches!(
        claim(db, b, "old", "hash").await.expect("claim"),
        Claim::Acquired
    ));
    let asks = [(a, "k1"), (a, "k1"), (b, "k1"), (b, "old"), (a, "k2")];
    let answers = futures::future::join_all(
        asks.iter()
            .map(|(user, key)| group.claim(*user, key, "hash")),
    )
    .await;
    assert_eq!(
        answers.iter().filter(|x| **x).count(),
        3,
        "one claim each for (a, k1), (b, k1), (a, k2): {answers:?}"
    );
    assert!(answers[0] != answers[1], "the same key twice: {answers:?}");
    assert!(!answers[3], "an existing key is not claimed again");
    assert!(answers[2] && answers[4]);
    // What the batch claimed is claimed: asking again waits for it.
    assert!(matches!(
        claim(db, a, "k1", "hash").await.expect("claim"),
        Claim::InProgress
    ));
    assert!(matches!(
        claim(db, a, "k1", "other").await.expect("claim"),
        Claim::Mismatch
    ));

    // A real booking, then its capture recorded again in a batch: already recorded.
    let fx = app.live_show().await;
    let buyer = app.user(&[]).await;
    assert_eq!(reserve(&app, &buyer, fx.show, &["A1"]).await.status, 202);
    let booked = book(
        &app,
        &buyer,
        "steps",
        json!({ "show_id": fx.show, "seat_ids": ["A1"] }),
    )
    .await;
    assert_eq!(booked.status, 201, "{:?}", booked.body);
    let txn = booked.body["transaction_id"]
        .as_str()
        .expect("txn")
        .to_owned();
    let status: String = with_db!(db, |pool| {
        sqlx::query_scalar("SELECT status FROM payments WHERE transaction_id = $1")
            .bind(&txn)
            .fetch_one(pool)
            .await
            .expect("payment")
    });
    assert_eq!(status, "captured", "the batched capture was recorded");
    let ledger: (String, i32) = with_db!(db, |pool| {
        sqlx::query_as("SELECT state, captures FROM sandbox_ledger WHERE transaction_id = $1")
            .bind(&txn)
            .fetch_one(pool)
            .await
            .expect("ledger")
    });
    assert_eq!(ledger, ("captured".to_owned(), 1));
    let again = futures::future::join_all([
        group.record_capture(&txn),
        group.record_capture("txn_nobody_knows"),
    ])
    .await;
    assert_eq!(
        again,
        vec![
            Some(CaptureRecord::Unchanged),
            Some(CaptureRecord::Unchanged)
        ]
    );
}
