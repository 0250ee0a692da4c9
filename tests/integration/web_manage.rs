//! SPEC §12, issue 14: the organiser's and the venue owner's own pages, in headless Chromium at
//! 1366×768 and at 390×844 (touch): "My events" with every show's sales, a new event chosen
//! from a list for its first show, launched and listed as on sale; "My venues" with each
//! venue's seat map, and layout mistakes said in words next to the editor.

use crate::common;

use common::browser::{Browser, Driver, Size};
use common::{Backend, TestApp};
use serde_json::json;

/// Signs in through the API and opens `page` with that session. (The sign-in form moves on to
/// the home page once its answers arrive, which can overtake a navigation made right after it;
/// the form itself is tested in web.rs.)
async fn signed_in_at(b: &Browser, app: &TestApp, email: &str, password: &str, page: &str) {
    let tokens = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({ "email": email, "password": password }),
        )
        .await
        .expect(200);
    let token = tokens["access_token"].as_str().expect("token");
    let me = app.get("/api/v1/me", Some(token)).await.expect(200);
    b.go(&format!("{}/#/", app.base)).await;
    b.js(
        "const [t, me] = arguments;
         localStorage.setItem('bo.access', t.access_token);
         localStorage.setItem('bo.refresh', t.refresh_token);
         localStorage.setItem('bo.expires', String(Date.now() + t.expires_in * 1000));
         localStorage.setItem('bo.user', JSON.stringify(me));",
        json!([tokens, me]),
    )
    .await;
    b.go("about:blank").await;
    b.go(&format!("{}/#/{page}", app.base)).await;
    b.wait_text("Sign out").await;
}

/// The text of the element matching `css` once it has some.
async fn text_of(b: &Browser, css: &str) -> String {
    b.wait_js(
        "const e = document.querySelector(arguments[0]); return e && e.textContent.trim();",
        json!([css]),
    )
    .await
    .as_str()
    .unwrap_or_default()
    .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organiser_sees_their_events_and_launches_a_new_one() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.no_demo = false).await;
    let driver = Driver::start().await;
    for size in [Size::Desktop, Size::Phone] {
        let b = driver.session_sized("organiser", size).await;
        signed_in_at(
            &b,
            &app,
            "organiser@demo.boxoffice.test",
            "organiser-demo-pass",
            "organiser",
        )
        .await;
        b.wait_text("My events").await;
        b.wait_text("Diljit Dosanjh").await;
        // Every demo show is live, with its sales and its capacity.
        let shows = b
            .wait_js(
                "return [...document.querySelectorAll('.own-show')].map(li => li.innerText)",
                json!([]),
            )
            .await;
        let shows = shows.as_array().expect("shows");
        assert!(shows.len() >= 6, "{shows:?}");
        assert!(
            shows.iter().all(|s| s
                .as_str()
                .is_some_and(|s| s.contains("On sale") && s.contains(" sold"))),
            "{shows:?}"
        );
        assert!(
            shows
                .iter()
                .any(|s| s.as_str().is_some_and(|s| s.contains("of 40,000 sold"))),
            "the stadium's capacity: {shows:?}"
        );
        b.screenshot("organiser-events").await;

        // A new event is offered, chosen, for its first show.
        let title = format!("Premiere {}", size.name());
        b.type_into("#title", &title).await;
        b.click("#ev button[type=submit]").await;
        b.wait_text("created").await;
        let chosen = b
            .js(
                "const s = document.querySelector('#event'); return s.options[s.selectedIndex].text",
                json!([]),
            )
            .await;
        assert_eq!(
            chosen.as_str(),
            Some(title.as_str()),
            "the new event is chosen"
        );
        b.wait_text(&title).await;

        // Its show: a mistake first (it ends before it starts), said in words.
        let date = (chrono::Utc::now() + chrono::Duration::days(8)).date_naive();
        b.js(
            "document.querySelector('#start').value = arguments[0]; document.querySelector('#end').value = arguments[1];
             document.querySelectorAll('#prices [data-section]').forEach((i, n) => i.value = 300 + 100 * n);",
            json!([format!("{date}T21:00"), format!("{date}T18:00")]),
        )
        .await;
        b.click("#sh button[type=submit]").await;
        b.wait_text("The show must end after it starts.").await;
        b.js(
            "document.querySelector('#start').value = arguments[0]; document.querySelector('#end').value = arguments[1];",
            json!([format!("{date}T18:00"), format!("{date}T21:00")]),
        )
        .await;
        b.click("#sh button[type=submit]").await;
        b.wait_text("Draft show of").await;
        b.screenshot("organiser-draft").await;
        let draft = b
            .wait_js(
                "const t = [...document.querySelectorAll('.own-event')].find(e => e.querySelector('h3').textContent === arguments[0]);
                 return t && t.querySelector('.pill.draft') && t.innerText;",
                json!([title]),
            )
            .await;
        assert!(
            draft.as_str().is_some_and(|t| t.contains("Draft")),
            "{draft}"
        );
        b.click("#launch").await;
        b.wait_text(&format!("Sales: {title}")).await;
        b.click("main a[href='#/organiser']").await;
        b.wait_text("My events").await;
        let live = b
            .wait_js(
                "const t = [...document.querySelectorAll('.own-event')].find(e => e.querySelector('h3').textContent === arguments[0]);
                 return t && t.querySelector('.pill.live') && t.innerText;",
                json!([title]),
            )
            .await;
        assert!(
            live.as_str()
                .is_some_and(|t| t.contains("On sale") && t.contains("0 of ")),
            "{live}"
        );
        b.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_venue_owner_sees_their_venues_and_layout_mistakes_in_words() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.no_demo = false).await;
    let driver = Driver::start().await;
    for size in [Size::Desktop, Size::Phone] {
        let b = driver.session_sized("owner", size).await;
        signed_in_at(
            &b,
            &app,
            "venues@demo.boxoffice.test",
            "venue-owner-demo-pass",
            "venues",
        )
        .await;
        b.wait_text("My venues").await;
        let venues = b
            .wait_js(
                "return document.querySelectorAll('#venues .card').length",
                json!([]),
            )
            .await;
        assert_eq!(venues.as_i64(), Some(5), "the five demo venues");
        b.wait_text("40,000 seats").await;
        b.screenshot("venue-list").await;

        // One venue's map: its seats, the stage above them, a key of its sections.
        b.click("#venues .card a.title").await;
        b.wait_text("← My venues").await;
        let drawn = b
            .wait_js(
                "const svg = document.querySelector('#map svg'); if (!svg) return null;
                 const stage = svg.querySelector('line').getBBox();
                 const seats = [...svg.querySelectorAll('rect')];
                 return [seats.length, Math.min(...seats.map(r => r.getBBox().y)) > stage.y,
                         document.querySelectorAll('#map .legend li').length];",
                json!([]),
            )
            .await;
        assert!(drawn[0].as_i64().is_some_and(|n| n > 100), "{drawn}");
        assert_eq!(drawn[1], true, "the stage is above every seat: {drawn}");
        assert!(drawn[2].as_i64().is_some_and(|n| n >= 2), "{drawn}");
        if size == Size::Desktop {
            b.screenshot("venue-map").await;
        }

        // A line that does not parse is caught before the API is asked.
        b.go(&format!("{}/#/venues", app.base)).await;
        b.wait_text("Onboard a venue").await;
        b.js(
            "document.querySelector('#layout').value = arguments[0]",
            json!(["Gold, 0: A 10\nSilver C 14"]),
        )
        .await;
        b.click("#preview").await;
        let said = text_of(&b, "#layout-error[role=alert]").await;
        assert_eq!(
            said,
            "Line 2: write a section as Name, priority: A 10; B 12."
        );
        // The API's refusal names the section and the row, next to the editor.
        b.js(
            "document.querySelector('#layout').value = arguments[0]",
            json!(["Gold, 0: A 10 acc 1; B 12 skip 7 acc 30\nSilver, 1: C 14"]),
        )
        .await;
        b.click("#preview").await;
        b.wait_text("Section “Gold”, row B").await;
        let said = text_of(&b, "#layout-error[role=alert]").await;
        assert!(
            said.contains("no seat 30") && !said.contains("sections["),
            "{said}"
        );
        b.js(
            "document.querySelector('#layout').scrollIntoView({ block: 'center' })",
            json!([]),
        )
        .await;
        b.screenshot("venue-editor-error").await;

        // Fixed, it previews with the stage at the top and a key of the sections.
        b.js(
            "const t = document.querySelector('#layout'); t.value = arguments[0];
             t.dispatchEvent(new Event('input', { bubbles: true }));",
            json!(["Gold, 0: A 10 acc 1; B 12 skip 7\nSilver, 1: C 14; D 14"]),
        )
        .await;
        b.click("#preview").await;
        b.wait_text("50 seats").await;
        let preview = b
            .js(
                "return [document.querySelectorAll('#map rect').length,
                         document.querySelector('#layout-error').textContent,
                         [...document.querySelectorAll('#map .legend li')].map(l => l.textContent.trim())]",
                json!([]),
            )
            .await;
        assert_eq!(preview[0], 50, "{preview}");
        assert_eq!(preview[1], "", "the error went once fixed");
        assert_eq!(preview[2], json!(["Gold", "Silver"]));
        b.close().await;
    }
}
