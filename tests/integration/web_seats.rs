//! SPEC §12, issue 14: the seat map a fan can trust, and a checkout that respects the hold,
//! in headless Chromium at 1366×768 and at 390×844 (touch): section colours checked against
//! each other and against held and sold seats, the stage at the front edge, one Tab stop with
//! arrow keys, zoom and pan into a stand of the stadium, best available, one live hold per
//! show, resuming after a reload or signing in, the order summary, the way back after a hold
//! ends, tickets worth keeping, and messages that stay with their page and their visitor.

use crate::common;

use common::browser::{Browser, Driver, Size};
use common::{Backend, TestApp};
use serde_json::{json, Value};

/// WCAG's contrast ratio of two `#rrggbb` colours.
fn contrast(a: &str, b: &str) -> f64 {
    let lum = |hex: &str| {
        let c = |i: usize| {
            let v = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).expect("hex")) / 255.0;
            if v <= 0.03928 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * c(1) + 0.7152 * c(3) + 0.0722 * c(5)
    };
    let (x, y) = (lum(a), lum(b));
    (x.max(y) + 0.05) / (x.min(y) + 0.05)
}

/// CIE76 colour difference (ΔE) of two `#rrggbb` colours.
fn delta_e(a: &str, b: &str) -> f64 {
    let lab = |hex: &str| {
        let c = |i: usize| {
            let v = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).expect("hex")) / 255.0;
            if v <= 0.04045 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        };
        let (r, g, b) = (c(1), c(3), c(5));
        let x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047;
        let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
        let z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883;
        let f = |t: f64| {
            if t > 0.008856 {
                t.cbrt()
            } else {
                7.787 * t + 16.0 / 116.0
            }
        };
        (
            116.0 * f(y) - 16.0,
            500.0 * (f(x) - f(y)),
            200.0 * (f(y) - f(z)),
        )
    };
    let (p, q) = (lab(a), lab(b));
    ((p.0 - q.0).powi(2) + (p.1 - q.1).powi(2) + (p.2 - q.2).powi(2)).sqrt()
}

/// The first live show of the demo at `venue`.
async fn show_at(app: &TestApp, venue: &str) -> i64 {
    let shows: Value = app
        .get("/api/v1/shows?per_page=100", None)
        .await
        .expect(200);
    shows
        .as_array()
        .expect("list")
        .iter()
        .find(|s| s["venue_name"] == venue)
        .and_then(|s| s["show_id"].as_i64())
        .unwrap_or_else(|| panic!("no show at {venue}: {shows}"))
}

/// The seat labels the map shows with `class`.
async fn seats_with(b: &Browser, class: &str) -> Vec<String> {
    let v = b
        .js(
            "return [...document.querySelectorAll('#map g.seat.' + arguments[0])].map(g => g.dataset.seat)",
            json!([class]),
        )
        .await;
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The visitor's held seats for `show`, asked of the API with the browser's own token.
async fn held(app: &TestApp, b: &Browser, show: i64) -> Vec<String> {
    let token = b
        .js("return localStorage.getItem('bo.access')", json!([]))
        .await;
    let mine: Value = app
        .holds_mine(token.as_str().expect("signed in"), show)
        .await
        .expect(200);
    let mut seats: Vec<String> = mine["seat_ids"]
        .as_array()
        .expect("seat ids")
        .iter()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect();
    seats.sort();
    seats
}

/// A free seat the map shows well inside its box (a tap there lands on it).
async fn free_seat_in_view(b: &Browser) -> String {
    let seat = b
        .wait_js(
            "const v = document.querySelector('#map').getBoundingClientRect();
             const g = [...document.querySelectorAll('#map g.seat.available')].find(g => {
               const r = g.getBoundingClientRect(), x = (r.left + r.right) / 2, y = (r.top + r.bottom) / 2;
               return x > v.left + 10 && x < v.right - 10 && y > v.top + 10 && y < v.bottom - 10; });
             return g && g.dataset.seat",
            json!([]),
        )
        .await;
    seat.as_str().expect("a free seat in view").to_owned()
}

/// Row and number of a seat label ("F14" → ("F", 14)).
fn row_number(label: &str) -> (String, u32) {
    let at = label.find(|c: char| c.is_ascii_digit()).expect("a number");
    (label[..at].to_owned(), label[at..].parse().expect("number"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_picks_best_seats_changes_them_resumes_pays_and_keeps_tickets() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.no_demo = false).await;
    let driver = Driver::start().await;
    let hall = show_at(&app, "INOX: Orion Mall").await;
    let screen = show_at(&app, "PVR: Phoenix Marketcity").await;
    for size in [Size::Desktop, Size::Phone] {
        let b = driver
            .session_sized(&format!("fan-{}", size.name()), size)
            .await;

        // Not signed in yet: the key's colours, the stage edge, the one Tab stop, then best
        // available; Reserve asks to sign in, and the choice comes back after signing up.
        b.go(&format!("{}/#/show/{hall}", app.base)).await;
        b.wait_text("Live: seats update").await;
        let fills = b
            .js(
                "return [...document.querySelectorAll('.legend li')].slice(0, 3).map(li => li.querySelector('rect').getAttribute('fill'))",
                json!([]),
            )
            .await;
        let fills: Vec<String> = fills
            .as_array()
            .expect("fills")
            .iter()
            .filter_map(|f| f.as_str().map(str::to_owned))
            .collect();
        assert_eq!(fills.len(), 3, "one colour per section in the key");
        for (i, a) in fills.iter().enumerate() {
            // A free seat stands out from the map, from a sold seat and from the dim outline
            // of a seat on hold...
            for (what, other) in [
                ("map", "#0b0c1a"),
                ("sold", "#2b2d44"),
                ("on hold", "#6b6e91"),
            ] {
                let min = if what == "on hold" { 1.5 } else { 3.0 };
                let c = contrast(a, other);
                assert!(
                    c >= min,
                    "section colour {a} against {what} {other}: {c:.2}:1"
                );
            }
            // ... and from the other sections and from "your choice" (white).
            assert!(delta_e(a, "#ffffff") >= 25.0, "{a} too close to white");
            for b2 in &fills[i + 1..] {
                let d = delta_e(a, b2);
                assert!(d >= 20.0, "sections {a} and {b2} look alike (ΔE {d:.1})");
            }
        }
        // Every seat's drawn fill is its section's key colour.
        let drawn = b
            .js(
                "const key = new Set([...document.querySelectorAll('.legend li')].slice(0, 3).map(li => li.querySelector('rect').getAttribute('fill')));
                 return [...document.querySelectorAll('#map g.seat.available > rect')].every(r => key.has(r.getAttribute('fill')));",
                json!([]),
            )
            .await;
        assert_eq!(
            drawn,
            json!(true),
            "free seats are painted in the key's colours"
        );
        // The stage is at the front edge and row A is nearest to it.
        let edge = b
            .js(
                "const y = (sel) => document.querySelector(sel).getBBox().y;
                 return [y('#map svg > g[aria-hidden] rect'), y('[data-seat=\"A1\"]'), y('[data-seat=\"AX1\"]')];",
                json!([]),
            )
            .await;
        let ys: Vec<f64> = edge
            .as_array()
            .expect("ys")
            .iter()
            .filter_map(Value::as_f64)
            .collect();
        assert!(
            ys.len() == 3 && ys[0] < ys[1] && ys[1] < ys[2],
            "stage, A, AX top to bottom: {edge}"
        );
        // One Tab stop in the whole map.
        let stops = b
            .js(
                "return document.querySelectorAll('#map [tabindex=\"0\"]').length",
                json!([]),
            )
            .await;
        assert_eq!(stops, json!(1), "the map is one stop in the Tab order");

        // Best available: three seats side by side in the best section, no orphan left.
        b.js("document.querySelector('#best-n').value = '3'", json!([]))
            .await;
        b.click("#best button[type=submit]").await;
        b.wait_text("Best available:").await;
        let mut best = seats_with(&b, "selected").await;
        best.sort_by_key(|l| row_number(l).1);
        assert_eq!(best.len(), 3, "{best:?}");
        let rows: Vec<(String, u32)> = best.iter().map(|l| row_number(l)).collect();
        assert!(
            rows.iter().all(|(r, _)| *r == rows[0].0),
            "one row: {best:?}"
        );
        assert!(
            rows.windows(2).all(|w| w[1].1 == w[0].1 + 1),
            "side by side: {best:?}"
        );
        assert_eq!(rows[0].0, "A", "the front row of the best section is free");
        b.screenshot("best-available").await;

        b.click("#reserve").await;
        b.wait_text("New here?").await;
        b.click("a[href=\"#/signup\"]").await;
        b.type_into("#name", "Nila").await;
        b.type_into("#email", &format!("nila{}@example.com", common::unique()))
            .await;
        b.type_into("#password", "a good password").await;
        b.click("#f button[type=submit]").await;
        b.wait_text("your seats are still selected").await;
        let mut back = seats_with(&b, "selected").await;
        back.sort_by_key(|l| row_number(l).1);
        assert_eq!(back, best, "the choice survived signing up");
        b.screenshot("seat-map").await;

        // Reserve, then the checkout: lines per section, a total in rupees and paise.
        b.click("#reserve").await;
        b.wait_text("Your seats are held for you for").await;
        let summary = b.text(".summary").await;
        assert!(summary.contains("Platinum × 3"), "{summary}");
        assert!(summary.contains(".00"), "money has paise: {summary}");
        assert!(summary.contains("Booking fee"), "{summary}");
        b.screenshot("checkout").await;
        let mut want = best.clone();
        want.sort();
        assert_eq!(held(&app, &b, hall).await, want);

        // A visitor whose clock runs 11 minutes fast still sees the time the hold has left.
        b.js(
            "const real = Date.now.bind(Date); Date.now = () => real() + 660000;
             location.hash = '#/bookings';",
            json!([]),
        )
        .await;
        b.wait_text("Upcoming").await;
        b.js(
            "location.hash = '#/checkout/' + arguments[0]",
            json!([hall]),
        )
        .await;
        let left = b
            .wait_js(
                "const c = document.querySelector('#countdown'); return c && /^0[89]:/.test(c.textContent) && c.textContent",
                json!([]),
            )
            .await;
        assert!(left.as_str().is_some(), "countdown {left}");

        // A reload finds the hold on the server.
        b.js("location.reload()", json!([])).await;
        b.wait_text("Your seats are held for you for").await;

        // Change seats: back on the map the held seats are selected; dropping one and adding
        // another releases the dropped one when reserving (one live hold per show).
        b.click("a[href^=\"#/show/\"]").await;
        b.wait_text("are held for you").await;
        b.wait_js(
            "return document.querySelectorAll('#map g.seat.selected').length === 3",
            json!([]),
        )
        .await;
        let drop = best[0].clone();
        b.click(&format!("[data-seat=\"{drop}\"]")).await;
        b.wait_seat(&drop, "mine").await;
        let extra = free_seat_in_view(&b).await;
        b.click(&format!("[data-seat=\"{extra}\"]")).await;
        b.click("#reserve").await;
        b.wait_text("Your seats are held for you for").await;
        let mut want: Vec<String> = best[1..].to_vec();
        want.push(extra.clone());
        want.sort();
        assert_eq!(held(&app, &b, hall).await, want, "{drop} was let go");

        // Another card after a decline; the message stays on the checkout.
        b.js(
            "const s = document.querySelector('#card'); s.value = 'tok_declined'; s.dispatchEvent(new Event('change'))",
            json!([]),
        )
        .await;
        b.click("#pay-button").await;
        b.wait_text("declined").await;
        b.screenshot("declined").await;
        b.js(
            "const s = document.querySelector('#card'); s.value = 'tok_visa'; s.dispatchEvent(new Event('change'))",
            json!([]),
        )
        .await;
        b.click("#pay-button").await;
        b.wait_text("You're going!").await;
        let message = b
            .js(
                "const m = document.querySelector('#msg'); return m.hidden ? '' : m.innerText",
                json!([]),
            )
            .await;
        assert_eq!(message, json!(""), "the decline message stayed behind");

        // Tickets: one card each with section, row and seat, a QR code, and a calendar file.
        b.wait_js(
            "return [...document.querySelectorAll('.ticket img')].filter(i => i.complete && i.naturalWidth > 0).length === 3",
            json!([]),
        )
        .await;
        let card = b.text(".ticket").await;
        for word in ["SECTION", "ROW", "SEAT", "Platinum"] {
            assert!(
                card.to_uppercase().contains(&word.to_uppercase()),
                "{word} on {card}"
            );
        }
        let ics = b
            .js(
                "return decodeURIComponent(document.querySelector('#ics').getAttribute('href'))",
                json!([]),
            )
            .await;
        let ics = ics.as_str().unwrap_or_default();
        assert!(
            ics.starts_with("data:text/calendar")
                && ics.contains("BEGIN:VEVENT")
                && ics.contains("DTSTART:"),
            "{ics}"
        );
        b.screenshot("tickets").await;
        b.go(&format!("{}/#/bookings", app.base)).await;
        b.wait_text("Upcoming").await;
        b.screenshot("bookings").await;

        // A hold that ended: the checkout says so and leads back to the seats.
        b.go(&format!("{}/#/show/{screen}", app.base)).await;
        b.wait_text("Live: seats update").await;
        let seat = free_seat_in_view(&b).await;
        b.click(&format!("[data-seat=\"{seat}\"]")).await;
        b.click("#reserve").await;
        b.wait_text("Your seats are held for you for").await;
        let token = b
            .js("return localStorage.getItem('bo.access')", json!([]))
            .await;
        let released = app
            .client
            .delete(app.url("/api/v1/book/reserve"))
            .bearer_auth(token.as_str().expect("token"))
            .json(&json!({ "show_id": screen, "seat_ids": [seat] }))
            .send()
            .await
            .expect("release");
        assert!(released.status().is_success(), "{}", released.status());
        b.click("#pay-button").await;
        b.wait_text("no longer held").await;
        b.click("a[href^=\"#/show/\"]").await;
        b.wait_text("Pick your seats").await;

        // Signing out takes the messages with it.
        b.js("document.querySelector('#logout').click()", json!([]))
            .await;
        b.wait_text("Sign in").await;
        let shown = b
            .js("return document.querySelector('#msg').hidden", json!([]))
            .await;
        assert_eq!(
            shown,
            json!(true),
            "no message is left for the next visitor"
        );
        b.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stadium_opens_on_its_stands_then_zooms_into_one() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.no_demo = false).await;
    let driver = Driver::start().await;
    let stadium = show_at(&app, "Jawaharlal Nehru Stadium").await;
    for size in [Size::Desktop, Size::Phone] {
        let b = driver
            .session_sized(&format!("stands-{}", size.name()), size)
            .await;
        b.go(&format!("{}/#/show/{stadium}", app.base)).await;
        b.wait_text("Live: seats update").await;
        let stands = b
            .wait_js(
                "return document.querySelectorAll('#map [data-stand]').length",
                json!([]),
            )
            .await;
        assert_eq!(stands, json!(5), "five stands on the overview");
        assert!(
            b.text("[data-stand-count=\"Fan Pit\"]")
                .await
                .contains("4,000 left"),
            "live counts on the overview"
        );
        b.screenshot("stadium-overview").await;
        b.click("[data-stand=\"Fan Pit\"]").await;
        let seats = b
            .wait_js(
                "const n = document.querySelectorAll('#map g.seat').length; return n === 4000 && n",
                json!([]),
            )
            .await;
        assert_eq!(seats, json!(4000));
        let width = |v: Value| {
            v.as_str()
                .and_then(|s| s.split(' ').nth(2))
                .and_then(|w| w.parse::<f64>().ok())
                .expect("a viewBox")
        };
        let view_box = "return document.querySelector('#map svg').getAttribute('viewBox')";
        let before = width(b.js(view_box, json!([])).await);
        b.click("#zoom-in").await;
        let zoomed = width(b.js(view_box, json!([])).await);
        assert!(zoomed < before / 1.3, "zoomed in: {before} → {zoomed}");
        // The wheel zooms around the pointer, too.
        b.js(
            "const v = document.querySelector('#map'); const r = v.getBoundingClientRect();
             v.dispatchEvent(new WheelEvent('wheel', { deltaY: -300, clientX: r.left + 50, clientY: r.top + 50, bubbles: true, cancelable: true }));",
            json!([]),
        )
        .await;
        let wheeled = width(b.js(view_box, json!([])).await);
        assert!(wheeled < zoomed, "the wheel zoomed: {zoomed} → {wheeled}");
        b.screenshot("stadium-zoomed").await;
        // Two fingers spreading apart zoom in too (pointer events, as a touch screen sends).
        b.js(
            "const v = document.querySelector('#map'); const r = v.getBoundingClientRect();
             const cx = r.left + r.width / 2, cy = r.top + r.height / 2;
             const at = (id, type, x) => v.dispatchEvent(new PointerEvent(type, { pointerId: id,
               pointerType: 'touch', clientX: x, clientY: cy, bubbles: true, cancelable: true }));
             at(1, 'pointerdown', cx - 20); at(2, 'pointerdown', cx + 20);
             at(2, 'pointermove', cx + 60); at(1, 'pointermove', cx - 60);
             at(1, 'pointerup', cx - 60); at(2, 'pointerup', cx + 60);",
            json!([]),
        )
        .await;
        let pinched = width(b.js(view_box, json!([])).await);
        assert!(
            pinched < wheeled * 0.8,
            "the pinch zoomed: {wheeled} → {pinched}"
        );
        // Seat numbers show once seats are big enough to read.
        let far = b
            .js(
                "return document.querySelector('#map svg').classList.contains('far')",
                json!([]),
            )
            .await;
        assert_eq!(far, json!(false), "numbers readable at this zoom");
        // A tap picks a seat (once: the map is drawn again and again, and each drawing's
        // listeners end with it), in this stand and in the next one chosen.
        for stand in ["Fan Pit", "Gold North"] {
            if stand != "Fan Pit" {
                b.click("[data-overview]").await;
                b.js(
                    "document.querySelector('#map').scrollIntoView({ block: 'start' })",
                    json!([]),
                )
                .await;
                b.click(&format!("[data-stand=\"{stand}\"] text")).await;
            }
            let seat = free_seat_in_view(&b).await;
            b.click(&format!("[data-seat=\"{seat}\"]")).await;
            b.wait_seat(&seat, "selected").await;
        }
        // Keyboard: arrows move the one Tab stop along the row.
        let moved = b
            .js(
                "const g = document.querySelector('#map [tabindex=\"0\"]'); g.focus();
                 g.dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowRight', bubbles: true }));
                 const now = document.activeElement;
                 return [g.dataset.seat, now.dataset.seat, document.querySelectorAll('#map [tabindex=\"0\"]').length];",
                json!([]),
            )
            .await;
        assert_ne!(moved[0], moved[1], "{moved}");
        assert_eq!(moved[2], json!(1), "still one Tab stop: {moved}");
        b.close().await;
    }
}
