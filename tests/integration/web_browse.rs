//! SPEC §12, issue 14: browsing by event. The home page lists each event once with its
//! artwork, narrowed by category, city, date and language; an event's page gives its cast and
//! its showtimes by date and venue, each leading to the show's seat map. On a phone and on a
//! desktop, against the embedded default with demo data.

use crate::common;

use common::browser::{Browser, Driver, Size};
use common::{Backend, TestApp};
use serde_json::{json, Value};

/// The titles of the cards on the home page once they have settled on `expected` (in any
/// order), or a panic naming what is shown instead.
async fn wait_titles(b: &Browser, expected: &[&str]) {
    let mut want: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
    want.sort();
    let script = "const t = [...document.querySelectorAll('#list a.title')].map(a => a.textContent.trim()).sort(); return JSON.stringify(t) === arguments[0] ? t : null";
    let wanted = serde_json::to_string(&want).expect("json");
    let found = common::eventually(std::time::Duration::from_secs(8), || async {
        let v = b.js(script, json!([wanted])).await;
        (!v.is_null()).then_some(v)
    })
    .await;
    if found.is_none() {
        let shown = b
            .js(
                "return [...document.querySelectorAll('#list a.title')].map(a => a.textContent.trim())",
                json!([]),
            )
            .await;
        panic!("the home page shows {shown}, not {want:?}");
    }
}

/// Chooses `value` in the select `css`, as a visitor would.
async fn choose(b: &Browser, css: &str, value: &str) {
    b.js(
        "const s = document.querySelector(arguments[0]); s.value = arguments[1]; s.dispatchEvent(new Event('change', { bubbles: true }))",
        json!([css, value]),
    )
    .await;
}

const ALL: [&str; 6] = [
    "Pushpa 2: The Rule",
    "Arijit Singh Live",
    "Stree 2: Sarkate Ka Aatank",
    "A. R. Rahman: Wonderment Tour",
    "Diljit Dosanjh: Dil-Luminati Tour",
    "Interstellar (IMAX re-release)",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_browses_events_by_category_city_date_and_language_then_picks_a_showtime() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.no_demo = false).await;
    let driver = Driver::start().await;
    // The demo's shows are days from today in India; the visitor is there too.
    let tomorrow =
        (chrono::Utc::now() + chrono::Duration::minutes(330) + chrono::Duration::days(1))
            .date_naive()
            .to_string();
    for size in [Size::Phone, Size::Desktop] {
        let b = driver
            .session_sized(&format!("browse-{}", size.name()), size)
            .await;
        let zone = b
            .cmd(
                reqwest::Method::POST,
                "/goog/cdp/execute",
                json!({ "cmd": "Emulation.setTimezoneOverride",
                        "params": { "timezoneId": "Asia/Kolkata" } }),
            )
            .await;
        assert!(zone.as_object().is_some_and(|o| o.is_empty()), "{zone}");
        b.go(&app.base).await;

        // One card per event: Pushpa's four shows make one card.
        wait_titles(&b, &ALL).await;
        let pushpa = b
            .js("return [...document.querySelectorAll('#list .card')].find(c => c.textContent.includes('Pushpa')).innerText", json!([]))
            .await;
        let pushpa = pushpa.as_str().unwrap_or_default();
        assert!(
            pushpa.contains("Movie · Telugu")
                && pushpa.contains("2 venues in 2 cities")
                && pushpa.contains("Tomorrow, 6:30 pm")
                && pushpa.contains("4 shows")
                && pushpa.contains("from ₹250.00"),
            "{pushpa}"
        );
        let art = b
            .js("return document.querySelectorAll('#list .card svg.art linearGradient stop[stop-color]').length", json!([]))
            .await;
        assert_eq!(art, json!(12), "each card has its gradient artwork");
        assert_eq!(
            b.js("return document.title", json!([])).await,
            json!("boxoffice — movies and concerts")
        );

        // On a phone the search box comes first, as wide as the page's content, under a header
        // of one line.
        let layout = b
            .js(
                "const q = document.querySelector('#q').getBoundingClientRect();
                 const main = document.querySelector('#main');
                 const pad = parseFloat(getComputedStyle(main).paddingLeft) + parseFloat(getComputedStyle(main).paddingRight);
                 const city = document.querySelector('#city').getBoundingClientRect();
                 const date = document.querySelector('#date').getBoundingClientRect();
                 return { q: q.width, content: main.clientWidth - pad, top: q.top, city: city.top,
                          date: date.top, header: document.querySelector('header.top').getBoundingClientRect().height,
                          scroll: document.documentElement.scrollWidth, view: window.innerWidth }",
                json!([]),
            )
            .await;
        let f = |k: &str| layout[k].as_f64().unwrap_or(f64::NAN);
        assert!(f("header") < 70.0, "the header is one line: {layout}");
        assert!(
            f("scroll") <= f("view"),
            "nothing scrolls sideways: {layout}"
        );
        if size == Size::Phone {
            assert!(
                (f("q") - f("content")).abs() < 1.0,
                "search is full width: {layout}"
            );
            assert!(f("top") < f("city") - 20.0, "search comes first: {layout}");
        } else {
            assert!(
                (f("top") - f("city")).abs() < 2.0 && (f("city") - f("date")).abs() < 2.0,
                "search, city and date share a row: {layout}"
            );
        }
        b.screenshot("home").await;

        // Category.
        b.click("[data-cat=\"concert\"]").await;
        wait_titles(
            &b,
            &[
                "Arijit Singh Live",
                "A. R. Rahman: Wonderment Tour",
                "Diljit Dosanjh: Dil-Luminati Tour",
            ],
        )
        .await;
        b.click("[data-cat=\"all\"]").await;
        wait_titles(&b, &ALL).await;

        // City.
        choose(&b, "#city", "Delhi").await;
        wait_titles(&b, &["Diljit Dosanjh: Dil-Luminati Tour"]).await;
        choose(&b, "#city", "Mumbai").await;
        wait_titles(
            &b,
            &[
                "Pushpa 2: The Rule",
                "Stree 2: Sarkate Ka Aatank",
                "A. R. Rahman: Wonderment Tour",
                "Interstellar (IMAX re-release)",
            ],
        )
        .await;
        choose(&b, "#city", "").await;
        wait_titles(&b, &ALL).await;

        // Date: the chips, and a day picked on the calendar.
        b.click("[data-when=\"tomorrow\"]").await;
        wait_titles(&b, &["Pushpa 2: The Rule", "Stree 2: Sarkate Ka Aatank"]).await;
        b.click("[data-when=\"today\"]").await;
        wait_titles(&b, &[]).await;
        b.wait_text("Nothing on for these choices").await;
        choose(&b, "#date", &tomorrow).await;
        wait_titles(&b, &["Pushpa 2: The Rule", "Stree 2: Sarkate Ka Aatank"]).await;
        let pressed = b
            .js(
                "return document.querySelectorAll('[data-when][aria-pressed=\"true\"]').length",
                json!([]),
            )
            .await;
        assert_eq!(pressed, json!(0), "a picked day replaces the chips");
        b.click("[data-when=\"any\"]").await;
        wait_titles(&b, &ALL).await;

        // Language: those present in the list.
        let languages = b
            .js(
                "return [...document.querySelectorAll('#lang option')].map(o => o.value)",
                json!([]),
            )
            .await;
        assert_eq!(
            languages,
            json!(["", "English", "Hindi", "Punjabi", "Tamil", "Telugu"])
        );
        choose(&b, "#lang", "Hindi").await;
        wait_titles(&b, &["Arijit Singh Live", "Stree 2: Sarkate Ka Aatank"]).await;
        choose(&b, "#lang", "").await;
        wait_titles(&b, &ALL).await;

        // The event page: facts, cast, and showtimes by date, then venue.
        b.js("[...document.querySelectorAll('#list a.title')].find(a => a.textContent.includes('Pushpa')).click()", json!([]))
            .await;
        b.wait_text("Showtimes").await;
        let page = b.js("return document.body.innerText", json!([])).await;
        let page = page.as_str().unwrap_or_default();
        for needle in [
            "Pushpa 2: The Rule",
            "Telugu",
            "3 h 20 min",
            "Allu Arjun",
            "Rashmika Mandanna",
            "red-sandalwood",
        ] {
            assert!(
                page.contains(needle),
                "the event page shows {needle:?}: {page}"
            );
        }
        assert_eq!(
            b.js("return document.title", json!([])).await,
            json!("Pushpa 2: The Rule — boxoffice")
        );
        let days = b
            .js("return [...document.querySelectorAll('.date-strip [data-day]')].map(b => b.textContent.trim())", json!([]))
            .await;
        let days: Vec<String> = days
            .as_array()
            .expect("days")
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
        let weekdays = ["Mon ", "Tue ", "Wed ", "Thu ", "Fri ", "Sat ", "Sun "];
        assert_eq!(days.len(), 2, "Pushpa plays on two days: {days:?}");
        assert!(
            days.iter()
                .all(|d| weekdays.iter().any(|w| d.starts_with(w))),
            "human dates with a weekday: {days:?}"
        );
        let venues = "return [...document.querySelectorAll('.venue-times')].map(v => [v.querySelector('.where').innerText.replace(/\\s+/g, ' '), [...v.querySelectorAll('a.time strong')].map(t => t.textContent)])";
        assert_eq!(
            b.js(venues, json!([])).await,
            json!([["PVR: Phoenix Marketcity Bangalore", ["6:30 pm", "10:00 pm"]]]),
            "tomorrow: one venue, two times"
        );
        b.wait_text("Tomorrow, ").await;
        b.click(".date-strip [data-day]:nth-child(2)").await;
        let second = b
            .wait_js(
                &format!(
                    "const v = ({})(); return v.length === 2 ? v : null",
                    venues.replacen("return ", "() => ", 1)
                ),
                json!([]),
            )
            .await;
        assert_eq!(
            second,
            json!([
                ["PVR: Phoenix Marketcity Bangalore", ["6:30 pm"]],
                ["PVR: Icon Infiniti Mall Mumbai", ["7:00 pm"]]
            ])
        );
        let times = b
            .js("return [...document.querySelectorAll('a.time')].map(a => a.getBoundingClientRect().height)", json!([]))
            .await;
        assert!(
            times
                .as_array()
                .is_some_and(|t| t.iter().all(|h| h.as_f64().unwrap_or(0.0) >= 44.0)),
            "showtimes are easy to tap: {times}"
        );
        b.screenshot("event").await;

        // A time opens that show's seat map.
        b.click("a.time").await;
        b.find("#map").await;
        let url = b.js("return location.hash", json!([])).await;
        assert!(
            url.as_str().is_some_and(|u| u.starts_with("#/show/")),
            "{url}"
        );
        b.close().await;
    }
}
