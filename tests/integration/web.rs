//! SPEC §12: the web app, driven end to end in headless Chromium (Debian's `chromium` and
//! `chromium-driver`) against the real server on the embedded default with demo data.
//! Screenshots of the key pages are saved under `target/screenshots/`.

use crate::common;

use std::time::Duration;

use common::browser::{Browser, Driver};
use common::{eventually, Backend, TestApp};
use serde_json::{json, Value};

/// The first `n` available seats of the Classic section, in map order, once the map has drawn
/// them (the page's heading comes before its seats).
async fn free_seats(b: &Browser, n: usize) -> Vec<String> {
    let seats = eventually(Duration::from_secs(8), || async {
        let v = b
            .js(
                "return [...document.querySelectorAll('g.seat.available')].map(g => g.dataset.seat)",
                json!([]),
            )
            .await;
        let seats: Vec<String> = v
            .as_array()?
            .iter()
            .filter_map(Value::as_str)
            .take(n)
            .map(str::to_owned)
            .collect();
        (seats.len() == n).then_some(seats)
    })
    .await;
    seats.unwrap_or_else(|| panic!("the seat map never showed {n} available seats"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visitor_books_from_search_to_qr_tickets_and_cancels() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.no_demo = false).await;
    let driver = Driver::start().await;
    let asha = driver.session("asha").await;
    let ravi = driver.session("ravi").await;

    asha.go(&app.base).await;
    asha.wait_text("Pushpa 2: The Rule").await;
    asha.screenshot("journey-home").await;
    asha.sign_up(&app.base, "Asha").await;

    // Find the Pushpa show by search, as you type.
    asha.type_into("#q", "puspa").await;
    asha.click("#suggest a").await;
    asha.wait_text("Pick your seats").await;
    let show_url = asha
        .js("return location.href", json!([]))
        .await
        .as_str()
        .expect("url")
        .to_owned();
    let seats = free_seats(&asha, 2).await;
    assert_eq!(seats.len(), 2);
    for s in &seats {
        asha.click(&format!("[data-seat=\"{s}\"]")).await;
    }
    asha.wait_seat(&seats[0], "selected").await;
    asha.screenshot("journey-seat-map").await;
    asha.click("#reserve").await;

    // The checkout counts down from the hold's expiry.
    asha.wait_text("Your seats are held for you for").await;
    let countdown = asha.text("#countdown").await;
    assert!(
        countdown.starts_with("09:") || countdown.starts_with("10:"),
        "countdown: {countdown}"
    );
    asha.screenshot("journey-checkout").await;

    // Another visitor sees those seats held.
    ravi.go(&show_url).await;
    ravi.wait_seat(&seats[0], "held").await;
    ravi.wait_seat(&seats[1], "held").await;

    asha.click("#pay-button").await;
    asha.wait_text("You're going!").await;
    let qr = eventually(Duration::from_secs(5), || async {
        let n = asha.js("return [...document.querySelectorAll('#qr img')].filter(i => i.complete && i.naturalWidth > 0).length", json!([])).await;
        (n.as_i64() == Some(2)).then_some(())
    })
    .await;
    assert!(qr.is_some(), "one QR image per ticket");
    asha.screenshot("journey-tickets").await;

    // ... and then sold, without reloading.
    ravi.wait_seat(&seats[0], "sold").await;

    // My bookings lists it; cancel refunds it.
    asha.click("#cancel").await;
    asha.accept_dialog().await;
    asha.wait_text("Booking cancelled").await;
    ravi.wait_seat(&seats[0], "available").await;
    asha.close().await;
    ravi.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_card_shows_its_message() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.no_demo = false).await;
    let driver = Driver::start().await;
    let b = driver.session("decline").await;
    b.sign_up(&app.base, "Meera").await;
    b.go(&format!("{}/#/", app.base)).await;
    b.click("a.title").await;
    b.click("a.time").await;
    b.wait_text("Pick your seats").await;
    let seat = free_seats(&b, 1).await;
    b.click(&format!("[data-seat=\"{}\"]", seat[0])).await;
    b.click("#reserve").await;
    b.wait_text("Pay with a card").await;
    b.js("const s = document.querySelector('#card'); s.value = 'tok_declined'; s.dispatchEvent(new Event('change'))", json!([])).await;
    b.click("#pay-button").await;
    b.wait_text("card was declined").await;
    let raw = b.js("return document.body.innerText", json!([])).await;
    assert!(
        !raw.as_str().unwrap_or_default().contains("error_code"),
        "a human message, not raw JSON"
    );
    b.screenshot("journey-declined").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organiser_launches_a_show_that_appears_on_the_home_page() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.no_demo = false).await;
    let driver = Driver::start().await;
    let b = driver.session("organiser").await;
    b.go(&format!("{}/#/login", app.base)).await;
    b.type_into("#email", "organiser@demo.boxoffice.test").await;
    b.type_into("#password", "organiser-demo-pass").await;
    b.click("#f button[type=submit]").await;
    b.wait_text("Organiser").await;
    b.go(&format!("{}/#/organiser", app.base)).await;
    b.type_into("#title", "Browser Premiere").await;
    b.click("#ev button[type=submit]").await;
    b.wait_text("created").await;
    let date = (chrono::Utc::now() + chrono::Duration::days(6)).date_naive();
    b.js(
        "document.querySelector('#start').value = arguments[0]; document.querySelector('#end').value = arguments[1];
         document.querySelectorAll('#prices [data-section]').forEach((i, n) => i.value = 300 + 100 * n);",
        json!([format!("{date}T18:00"), format!("{date}T21:00")]),
    )
    .await;
    b.click("#sh button[type=submit]").await;
    b.click("#launch").await;
    b.wait_text("Sales: Browser Premiere").await;
    b.screenshot("organiser-sales").await;
    b.go(&format!("{}/#/", app.base)).await;
    b.wait_text("Browser Premiere").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stadium_map_opens_by_section_and_a_venue_owner_previews_a_layout() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.no_demo = false).await;
    let driver = Driver::start().await;
    let b = driver.session("stadium").await;
    // 40,000 seats: sections first, then one section's seats.
    b.go(&format!("{}/#/", app.base)).await;
    b.click("#city").await;
    b.js("const s = document.querySelector('#city'); s.value = 'Delhi'; s.dispatchEvent(new Event('change'))", json!([])).await;
    b.wait_text("Diljit Dosanjh").await;
    b.click("a.title").await;
    b.click("a.time").await;
    // An overview of the stands first, with their live counts.
    b.wait_js(
        "return document.querySelectorAll('#map [data-stand]').length === 5",
        json!([]),
    )
    .await;
    b.click("[data-section=\"Fan Pit\"]").await;
    let seats = eventually(Duration::from_secs(8), || async {
        let n = b
            .js(
                "return document.querySelectorAll('g.seat').length",
                json!([]),
            )
            .await;
        n.as_i64().filter(|n| *n == 4_000)
    })
    .await;
    assert_eq!(seats, Some(4_000), "only the Fan Pit's seats are drawn");
    b.screenshot("stadium-section").await;

    // A tap answers at once: the handler repaints one seat, not the section.
    let tap = b
        .js(
            "const g = document.querySelector('#map g.seat.available'); const t = performance.now();
             g.dispatchEvent(new MouseEvent('click', { bubbles: true }));
             return [performance.now() - t, g.getAttribute('class')];",
            json!([]),
        )
        .await;
    let took = tap[0].as_f64().expect("ms");
    assert!(took < 100.0, "a tap took {took} ms");
    assert!(
        tap[1].as_str().is_some_and(|c| c.contains("selected")),
        "{tap}"
    );
    // Arrow keys move between seats; a live update elsewhere leaves focus where it is.
    let moved = b
        .js(
            "const g = document.querySelectorAll('#map g.seat.available')[5]; g.focus();
             g.dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowRight', bubbles: true }));
             const now = document.activeElement;
             return [g.dataset.seat, now && now.dataset ? now.dataset.seat : null,
                     document.querySelectorAll('#map g.seat.available')[40].dataset.seat,
                     location.hash.split('/')[2]];",
            json!([]),
        )
        .await;
    let (from, to) = (
        moved[0].as_str().expect("from"),
        moved[1].as_str().expect("focused"),
    );
    assert_ne!(from, to, "the arrow moved focus");
    let row = |l: &str| l.trim_end_matches(|c: char| c.is_ascii_digit()).to_owned();
    assert_eq!(row(from), row(to), "right stays in the row: {from} → {to}");
    let other = moved[2].as_str().expect("another seat").to_owned();
    let show: i64 = moved[3]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("show id");
    let fan = app.visitor().await;
    app.post(
        "/api/v1/book/reserve",
        Some(&fan.token),
        json!({ "show_id": show, "seat_ids": [other] }),
    )
    .await
    .expect(202);
    b.wait_seat(&other, "held").await;
    let focused = b
        .js("return document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.seat : null", json!([]))
        .await;
    assert_eq!(
        focused.as_str(),
        Some(to),
        "focus stayed on the seat it was on"
    );

    // A venue owner previews a layout before saving it.
    b.go(&format!("{}/#/login", app.base)).await;
    b.type_into("#email", "venues@demo.boxoffice.test").await;
    b.type_into("#password", "venue-owner-demo-pass").await;
    b.click("#f button[type=submit]").await;
    b.wait_text("Venues").await;
    b.go(&format!("{}/#/venues", app.base)).await;
    b.click("#preview").await;
    b.wait_text("50 seats").await;
    let rects = b
        .js(
            "return document.querySelectorAll('#map rect').length",
            json!([]),
        )
        .await;
    assert_eq!(rects.as_i64(), Some(50), "10 + 12 + 14 + 14 seats");
    b.screenshot("venue-preview").await;

    // On a slow network, leaving a page before it has loaded: its late answer must not paint
    // over (or replace with an error) the page the visitor went to.
    let slow = b
        .cmd(
            reqwest::Method::POST,
            "/chromium/network_conditions",
            json!({ "network_conditions": {
                "offline": false, "latency": 600,
                "download_throughput": 100_000_000, "upload_throughput": 100_000_000,
            } }),
        )
        .await;
    assert!(
        slow.is_null(),
        "chromedriver took the network conditions: {slow}"
    );
    b.go(&format!("{}/#/", app.base)).await;
    b.go(&format!("{}/#/venues", app.base)).await;
    b.find("#preview").await;
    tokio::time::sleep(Duration::from_millis(2_000)).await; // the home page's reads land
    let page = b.js("return document.body.innerText", json!([])).await;
    let page = page.as_str().unwrap_or_default();
    assert!(
        page.contains("Onboard a venue") && !page.contains("Sorry") && !page.contains("What's on"),
        "the venues page stays: {page}"
    );
    b.close().await;
}

/// Every text response the web app loads is compressed for a browser that accepts it: the page,
/// its modules and stylesheet, the icon, and the API answers its pages read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_text_response_the_app_loads_is_compressed() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.no_demo = false).await;
    let shows = app.get("/api/v1/shows", None).await.expect(200);
    let show = shows[0]["show_id"].as_i64().expect("a show");
    let event = shows[0]["event_id"].as_i64().expect("an event");
    let mut paths: Vec<String> = [
        "/",
        "/favicon.svg",
        "/assets/app.css",
        "/api/v1/shows",
        "/api/v1/venues",
        "/api/v1/openapi.json",
    ]
    .iter()
    .map(|p| (*p).to_owned())
    .collect();
    paths.extend([
        format!("/api/v1/shows/{show}"),
        format!("/api/v1/shows/{show}/layout"),
        format!("/api/v1/events/{event}"),
    ]);
    // Every module the page imports, found from the page itself down.
    let page = app.client.get(app.url("/")).send().await.expect("page");
    let html = page.text().await.expect("html");
    let mut modules: Vec<String> = html
        .split("src=\"/assets/")
        .skip(1)
        .filter_map(|s| s.split('"').next().map(str::to_owned))
        .collect();
    let mut seen = std::collections::HashSet::new();
    while let Some(name) = modules.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let body = app
            .client
            .get(app.url(&format!("/assets/{name}")))
            .send()
            .await
            .expect("module")
            .text()
            .await
            .expect("text");
        modules.extend(
            body.split("from \"./")
                .skip(1)
                .filter_map(|s| s.split('"').next().map(str::to_owned)),
        );
        paths.push(format!("/assets/{name}"));
    }
    assert!(seen.len() > 10, "the app's modules: {seen:?}");
    for path in paths {
        let res = app
            .client
            .get(app.url(&path))
            .header("accept-encoding", "gzip, br")
            .send()
            .await
            .expect("response");
        assert_eq!(res.status(), 200, "{path}");
        let encoding = res
            .headers()
            .get("content-encoding")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            encoding == "br" || encoding == "gzip",
            "{path} is sent uncompressed ({encoding:?})"
        );
    }
}

/// The page is served under a strict Content-Security-Policy; it and the API carry the other
/// security headers (tokens live in localStorage, so injected script must have nowhere to run).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_headers_on_the_page_and_the_api() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let page = app.client.get(app.url("/")).send().await.expect("page");
    assert_eq!(page.status(), 200);
    let header = |res: &reqwest::Response, name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let csp = header(&page, "content-security-policy");
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    let html = page.text().await.expect("html");
    assert!(
        !html.contains("<script>") && !html.contains(" style=") && !html.contains(" onclick="),
        "no inline script, style or handler in the page"
    );
    for path in ["/", "/assets/app.js", "/api/v1/shows", "/api/v1/nowhere"] {
        let res = app.client.get(app.url(path)).send().await.expect("sent");
        assert_eq!(header(&res, "x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header(&res, "referrer-policy"), "no-referrer", "{path}");
        assert_eq!(header(&res, "x-frame-options"), "DENY", "{path}");
        assert!(
            header(&res, "content-security-policy").contains("frame-ancestors 'none'"),
            "{path}"
        );
    }
    let api = app
        .client
        .get(app.url("/api/v1/shows"))
        .send()
        .await
        .expect("api");
    assert!(header(&api, "content-security-policy").starts_with("default-src 'none'"));
}

/// Concurrent refreshes in the page (several requests meeting a 401, or several tabs: the
/// lock is per origin) spend the refresh token once and all go on signed in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_app_refreshes_once_for_concurrent_callers() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let driver = Driver::start().await;
    let b = driver.session("refresh").await;
    b.go(&app.base).await;
    b.sign_up(&app.base, "Kiran").await;
    let before = b
        .js("return localStorage.getItem('bo.refresh')", json!([]))
        .await;
    let outcome = b
        .cmd(
            reqwest::Method::POST,
            "/execute/async",
            json!({ "script": "const done = arguments[arguments.length - 1];
                let calls = 0; const real = window.fetch;
                window.fetch = (url, init) => { if (String(url).includes('/auth/refresh_token')) calls += 1; return real(url, init); };
                Promise.all([refreshNow(), refreshNow(), refreshNow(), refreshNow()])
                  .then((ok) => { window.fetch = real; done({ ok, calls, refresh: localStorage.getItem('bo.refresh') }); })
                  .catch((e) => done({ error: String(e) }));", "args": [] }),
        )
        .await;
    assert_eq!(outcome["ok"], json!([true, true, true, true]), "{outcome}");
    assert_eq!(outcome["calls"], 1, "one refresh request: {outcome}");
    assert_ne!(outcome["refresh"], before, "a new token is stored");
    // Still signed in: the stored token rotates on the server.
    app.post(
        "/api/v1/auth/refresh_token",
        None,
        json!({ "refresh_token": outcome["refresh"] }),
    )
    .await
    .expect(200);
    b.close().await;
}

impl Browser {
    /// Resizes the window to `width` × `height` CSS pixels (a phone, a laptop).
    async fn resize(&self, width: u32, height: u32) {
        self.cmd(
            reqwest::Method::POST,
            "/goog/cdp/execute",
            json!({ "cmd": "Emulation.setDeviceMetricsOverride", "params": {
                "width": width, "height": height, "deviceScaleFactor": 1,
                "mobile": width < 600 } }),
        )
        .await;
    }
}

/// SPEC §10 and §12: a show with its waiting room on opens on the room. A fan signs in from it,
/// waits with a live position that a reload keeps, the room stops polling once left, the
/// organiser watches the line and raises the admission rate from the page, and the fan is
/// admitted, picks a seat and books it (reserve and book carry the pass).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_waits_in_the_room_keeps_the_place_on_reload_then_books() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let fx = app.live_show().await;
    let show = fx.show;
    // One a minute, with two fans already in line: the fan in the browser is third and waits.
    app.patch(
        &format!("/api/v1/shows/{show}"),
        Some(&fx.organiser.token),
        json!({ "queue": { "enabled": true, "admit_per_minute": 1 } }),
    )
    .await
    .expect(200);
    for _ in 0..2 {
        let early = app.visitor().await;
        app.post(
            &format!("/api/v1/shows/{show}/queue/join"),
            Some(&early.token),
            json!({}),
        )
        .await
        .expect(200);
    }

    let driver = Driver::start().await;
    let fan = driver.session("fan").await;
    let show_url = format!("{}/#/show/{show}", app.base);
    fan.go(&show_url).await;
    fan.wait_text("Sign in to join the line").await;
    fan.click("#room-signin").await;
    fan.sign_up(&app.base, "Priya").await; // back to the room once signed up
    fan.wait_text("You're number 3 in line").await;
    let live = fan
        .js(
            "const r = document.querySelector('#room-live'); return [r.getAttribute('aria-live'), r.innerText]",
            json!([]),
        )
        .await;
    assert_eq!(live[0], "polite", "{live}");
    assert!(
        live[1]
            .as_str()
            .is_some_and(|t| t.contains("ahead of you") && t.contains("Estimated wait: about")),
        "{live}"
    );
    assert_eq!(
        fan.js("return document.querySelectorAll('#map').length", json!([]))
            .await,
        0,
        "no seat map before the fan's turn"
    );
    fan.click(".fair summary").await;
    fan.wait_text("SHA-256").await;
    fan.resize(390, 844).await;
    fan.screenshot("waiting-room").await;
    fan.resize(1366, 768).await;
    fan.screenshot("waiting-room").await;

    // A reload keeps the place.
    fan.js("location.reload()", json!([])).await;
    fan.wait_text("Waiting room").await;
    fan.wait_text("You're number 3 in line").await;

    // Leaving the room stops its polling; coming back finds the same place.
    fan.js(
        "window.polls = 0; const real = window.fetch;
         window.fetch = (url, init) => { if (String(url).includes('/queue/')) window.polls += 1; return real(url, init); };
         location.hash = '#/';",
        json!([]),
    )
    .await;
    fan.wait_text("What's on").await;
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    assert_eq!(
        fan.js("return window.polls", json!([])).await,
        0,
        "no status polls after leaving the room"
    );
    fan.go(&show_url).await;
    fan.wait_text("You're number 3 in line").await;

    // The organiser sees the line and lets people in faster.
    let organiser = driver.session("organiser").await;
    organiser
        .sign_in(&app.base, &fx.organiser.email, common::PASSWORD)
        .await;
    organiser
        .go(&format!("{}/#/organiser/{show}", app.base))
        .await;
    organiser.wait_text("Time to drain").await;
    let figures = organiser.text("#room-figures").await;
    assert!(
        figures.contains("Joined") && figures.contains("1 a minute"),
        "{figures}"
    );
    organiser.screenshot("organiser-waiting-room").await;
    organiser
        .js("document.querySelector('#room-rate').value = ''", json!([]))
        .await;
    organiser.type_into("#room-rate", "600").await;
    organiser.click("#room-form button[type=submit]").await;
    organiser.wait_text("600 a minute").await;

    // The fan is let in and books with the pass.
    fan.wait_text("Pick your seats").await;
    fan.wait_text("It's your turn").await;
    fan.screenshot("admitted-seat-map").await;
    let stored = fan
        .js(
            "return JSON.parse(sessionStorage.getItem(arguments[0]))",
            json!([format!("bo.pass.{show}")]),
        )
        .await;
    assert!(
        stored["pass"]
            .as_str()
            .is_some_and(|p| p.starts_with("p1."))
            && stored["expires_at"].is_string(),
        "the pass is kept per show with its expiry: {stored}"
    );
    let seat = free_seats(&fan, 1).await;
    fan.click(&format!("[data-seat=\"{}\"]", seat[0])).await;
    fan.click("#reserve").await;
    fan.wait_text("Your seats are held for you for").await;
    fan.click("#pay-button").await;
    fan.wait_text("You're going!").await;

    // Without a pass, reserving sends the fan back to the room with a reason.
    fan.js(
        "sessionStorage.setItem(arguments[0], JSON.stringify({ ...JSON.parse(sessionStorage.getItem(arguments[0])), pass: 'p1.forged' }))",
        json!([format!("bo.pass.{show}")]),
    )
    .await;
    fan.go(&show_url).await;
    fan.wait_text("Live: seats update").await; // the seat just bought shows as sold
    let seat = free_seats(&fan, 1).await;
    fan.click(&format!("[data-seat=\"{}\"]", seat[0])).await;
    fan.click("#reserve").await;
    // The room finds the fan still admitted and hands out a good pass again.
    let renewed = eventually(Duration::from_secs(8), || async {
        let pass = fan
            .js(
                "return JSON.parse(sessionStorage.getItem(arguments[0]) || 'null')?.pass",
                json!([format!("bo.pass.{show}")]),
            )
            .await;
        pass.as_str()
            .filter(|p| p.starts_with("p1.") && *p != "p1.forged")
            .map(str::to_owned)
    })
    .await;
    if renewed.is_none() {
        let page = fan.js("return document.body.innerText", json!([])).await;
        panic!("no fresh pass replaced the refused one; the page shows: {page}");
    }
    fan.wait_text("Pick your seats").await;

    // Before the room opens: the pre-queue, drawn at random at opening.
    let later = app.live_show().await;
    let opens = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    app.patch(
        &format!("/api/v1/shows/{}", later.show),
        Some(&later.organiser.token),
        json!({ "queue": { "enabled": true, "admit_per_minute": 100, "opens_at": opens } }),
    )
    .await
    .expect(200);
    fan.go(&format!("{}/#/show/{}", app.base, later.show)).await;
    fan.wait_text("You're in the pre-queue").await;
    fan.wait_text("drawn at random at opening").await;
    fan.click(".fair summary").await;
    fan.wait_text("published now").await;
    fan.resize(390, 844).await;
    fan.screenshot("pre-queue").await;
    fan.close().await;
    organiser.close().await;
}
