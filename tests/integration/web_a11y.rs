//! Issue 14: axe-core finds no WCAG 2.x A/AA violation on any key page of the web app, at
//! 1366×768 and at 390×844, for a visitor with a hold and a booking (so the checkout and the
//! tickets are real ones), an organiser and a venue owner.

use crate::common;

use common::browser::{Browser, Driver, Size};
use common::{Backend, TestApp};
use serde_json::{json, Value};

async fn check(b: &Browser, page: &str, failures: &mut Vec<String>) {
    let found = b.axe().await;
    failures.extend(
        found
            .into_iter()
            .map(|v| format!("{} {page}: {v}", b.size.name())),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_page_passes_axe_on_a_phone_and_a_desktop() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.no_demo = false).await;
    let driver = Driver::start().await;
    let shows: Value = app
        .get("/api/v1/shows?per_page=100", None)
        .await
        .expect(200);
    let list = shows.as_array().expect("shows");
    let pick = |venue: &str| {
        list.iter()
            .find(|s| s["venue_name"] == venue)
            .map(|s| {
                (
                    s["show_id"].as_i64().expect("id"),
                    s["event_id"].as_i64().expect("id"),
                )
            })
            .expect("a demo show")
    };
    let (hall, event) = pick("INOX: Orion Mall");
    let (stadium, _) = pick("Jawaharlal Nehru Stadium");
    let mut failures = Vec::new();
    for size in [Size::Desktop, Size::Phone] {
        let b = driver
            .session_sized(&format!("axe-{}", size.name()), size)
            .await;
        let base = &app.base;

        b.go(&format!("{base}/#/")).await;
        b.wait_js(
            "return document.querySelectorAll('.cards .card').length",
            json!([]),
        )
        .await;
        check(&b, "home", &mut failures).await;
        b.go(&format!("{base}/#/event/{event}")).await;
        b.wait_js(
            "return document.querySelector('main a[href^=\"#/show/\"]')",
            json!([]),
        )
        .await;
        check(&b, "event", &mut failures).await;
        b.go(&format!("{base}/#/show/{stadium}")).await;
        b.wait_text("Live: seats update").await;
        check(&b, "stadium overview", &mut failures).await;
        b.go(&format!("{base}/#/login")).await;
        b.find("#email").await;
        check(&b, "sign in", &mut failures).await;

        b.sign_up(base, "Ally").await;
        let token = b
            .js("return localStorage.getItem('bo.access')", json!([]))
            .await
            .as_str()
            .expect("token")
            .to_owned();
        b.go(&format!("{base}/#/show/{hall}")).await;
        b.wait_text("Live: seats update").await;
        check(&b, "seat map", &mut failures).await;
        // A booking through the API, then a hold: the tickets page and the checkout.
        let seats: Value = app
            .get(&format!("/api/v1/shows/{hall}/seats"), None)
            .await
            .expect(200);
        let free: Vec<String> = seats["seats"]
            .as_array()
            .expect("seats")
            .iter()
            .filter(|s| s["status"] == "available")
            .take(3)
            .map(|s| s["seat_id"].as_str().expect("id").to_owned())
            .collect();
        app.post(
            "/api/v1/book/reserve",
            Some(&token),
            json!({ "show_id": hall, "seat_ids": &free[..2] }),
        )
        .await
        .expect(202);
        let booking = app
            .post_idempotent(
                "/api/v1/book",
                Some(&token),
                &common::unique(),
                json!({ "show_id": hall, "seat_ids": &free[..2],
                        "payment": { "method": "card", "token": "tok_visa" } }),
            )
            .await
            .expect(201);
        let booking_id = booking["booking_id"].as_i64().expect("booking");
        b.go(&format!("{base}/#/booking/{booking_id}")).await;
        b.wait_js(
            "return [...document.querySelectorAll('.ticket img')].filter(i => i.complete && i.naturalWidth > 0).length === 2",
            json!([]),
        )
        .await;
        check(&b, "tickets", &mut failures).await;
        b.go(&format!("{base}/#/bookings")).await;
        b.wait_text("Upcoming").await;
        check(&b, "my tickets", &mut failures).await;
        app.post(
            "/api/v1/book/reserve",
            Some(&token),
            json!({ "show_id": hall, "seat_ids": &free[2..] }),
        )
        .await
        .expect(202);
        b.go(&format!("{base}/#/checkout/{hall}")).await;
        b.wait_text("Your seats are held for you for").await;
        check(&b, "checkout", &mut failures).await;
        b.js("document.querySelector('#logout').click()", json!([]))
            .await;
        b.wait_text("Sign in").await;

        b.sign_in(base, "organiser@demo.boxoffice.test", "organiser-demo-pass")
            .await;
        b.go(&format!("{base}/#/organiser")).await;
        b.find("#title").await;
        check(&b, "organiser", &mut failures).await;
        b.js("document.querySelector('#logout').click()", json!([]))
            .await;
        b.wait_text("Sign in").await;
        b.sign_in(base, "venues@demo.boxoffice.test", "venue-owner-demo-pass")
            .await;
        b.go(&format!("{base}/#/venues")).await;
        b.wait_text("Jawaharlal Nehru Stadium").await;
        check(&b, "venues", &mut failures).await;
        b.close().await;
    }
    assert!(failures.is_empty(), "axe found: {failures:#?}");
}
