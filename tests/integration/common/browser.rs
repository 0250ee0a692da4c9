//! A headless Chromium driven over W3C WebDriver (Debian's `chromium` and `chromium-driver`),
//! for the web app's browser tests. Screenshots go under `target/screenshots/`.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};

use super::eventually;

/// A chromedriver process of this test's own.
pub struct Driver {
    child: Child,
    base: String,
    http: reqwest::Client,
    _profiles: tempfile::TempDir,
}

impl Driver {
    pub async fn start() -> Self {
        let port = super::free_port();
        let mut child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is installed (apt-get install chromium chromium-driver)");
        if super::wait_for_port(port).await {
            return Self {
                child,
                base: format!("http://127.0.0.1:{port}"),
                http: reqwest::Client::new(),
                _profiles: tempfile::tempdir().expect("dir"),
            };
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("chromedriver did not start");
    }

    /// A desktop browser (1366×768) with a profile of its own.
    pub async fn session(&self, name: &str) -> Browser {
        self.session_sized(name, Size::Desktop).await
    }

    /// A browser of `size` with a profile of its own: a phone is emulated with touch.
    pub async fn session_sized(&self, name: &str, size: Size) -> Browser {
        let profile = self._profiles.path().join(name);
        let (w, h) = size.pixels();
        let mut options = json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run",
                     "--hide-scrollbars", format!("--window-size={w},{h}"),
                     format!("--user-data-dir={}", profile.display())]
        });
        if size == Size::Phone {
            options["mobileEmulation"] = json!({ "deviceMetrics": {
                "width": w, "height": h, "pixelRatio": 1.0, "touch": true } });
        }
        let caps = json!({ "capabilities": { "alwaysMatch": { "browserName": "chrome",
            "goog:loggingPrefs": { "browser": "ALL" }, "goog:chromeOptions": options } } });
        let res: Value = self
            .http
            .post(format!("{}/session", self.base))
            .json(&caps)
            .send()
            .await
            .expect("session")
            .json()
            .await
            .expect("json");
        let id = res["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {res}"))
            .to_owned();
        let browser = Browser {
            url: format!("{}/session/{id}", self.base),
            http: self.http.clone(),
            size,
        };
        if size == Size::Desktop {
            // The headless window's size is not its viewport's: set the viewport itself.
            browser
                .cmd(
                    reqwest::Method::POST,
                    "/goog/cdp/execute",
                    json!({ "cmd": "Emulation.setDeviceMetricsOverride", "params": {
                        "width": w, "height": h, "deviceScaleFactor": 1, "mobile": false } }),
                )
                .await;
        }
        browser
    }
}

/// The two screens the web app is judged on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Size {
    /// 1366×768.
    Desktop,
    /// 390×844, touch.
    Phone,
}

impl Size {
    pub fn pixels(self) -> (u32, u32) {
        match self {
            Size::Desktop => (1366, 768),
            Size::Phone => (390, 844),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Size::Desktop => "desktop",
            Size::Phone => "phone",
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A W3C WebDriver session.
pub struct Browser {
    url: String,
    http: reqwest::Client,
    pub size: Size,
}

pub const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Browser {
    pub async fn cmd(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let req = self.http.request(method, format!("{}{path}", self.url));
        let req = if body.is_null() { req } else { req.json(&body) };
        let res: Value = req
            .send()
            .await
            .expect("webdriver")
            .json()
            .await
            .expect("json");
        res["value"].clone()
    }

    pub async fn go(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", json!({ "url": url }))
            .await;
    }

    pub async fn js(&self, script: &str, args: Value) -> Value {
        self.cmd(
            reqwest::Method::POST,
            "/execute/sync",
            json!({ "script": script, "args": args }),
        )
        .await
    }

    /// Waits up to 5 s for `css` to match, returning the element id.
    pub async fn find(&self, css: &str) -> String {
        let found = eventually(Duration::from_secs(8), || async {
            let v = self
                .cmd(
                    reqwest::Method::POST,
                    "/element",
                    json!({ "using": "css selector", "value": css }),
                )
                .await;
            v.get(ELEMENT).and_then(Value::as_str).map(str::to_owned)
        })
        .await;
        found.unwrap_or_else(|| panic!("no element matches {css}"))
    }

    /// Clicks the element as a person would: scrolled to the middle of the screen first, clear
    /// of sticky bars (WebDriver only scrolls what is wholly out of view).
    pub async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.js(
            "arguments[0].scrollIntoView({ block: 'center', inline: 'nearest' })",
            json!([{ ELEMENT: id }]),
        )
        .await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            json!({}),
        )
        .await;
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            json!({ "text": text }),
        )
        .await;
    }

    pub async fn text(&self, css: &str) -> String {
        let id = self.find(css).await;
        self.cmd(
            reqwest::Method::GET,
            &format!("/element/{id}/text"),
            Value::Null,
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Waits until the page's text contains `needle`.
    pub async fn wait_text(&self, needle: &str) {
        let ok = eventually(Duration::from_secs(8), || async {
            let body = self.js("return document.body.innerText", json!([])).await;
            body.as_str()
                .is_some_and(|b| b.contains(needle))
                .then_some(())
        })
        .await;
        if ok.is_none() {
            let body = self.js("return document.body.innerText", json!([])).await;
            let console = self.console().await;
            panic!("page never showed {needle:?}; it shows: {body}\nconsole: {console:#?}");
        }
    }

    /// The class of the seat `label` on the seat map.
    pub async fn seat_class(&self, label: &str) -> String {
        self.js("const g = document.querySelector(`[data-seat=\"${arguments[0]}\"]`); return g ? g.getAttribute('class') : ''", json!([label]))
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub async fn wait_seat(&self, label: &str, class: &str) {
        let ok = eventually(Duration::from_secs(8), || async {
            self.seat_class(label)
                .await
                .split(' ')
                .any(|c| c == class)
                .then_some(())
        })
        .await;
        assert!(
            ok.is_some(),
            "seat {label} never became {class}: {}",
            self.seat_class(label).await
        );
    }

    pub async fn screenshot(&self, name: &str) {
        let png = self
            .cmd(reqwest::Method::GET, "/screenshot", Value::Null)
            .await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .expect("png");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).expect("dir");
        // Named for the screen it was taken on (a test may resize its window).
        let wide = self.js("return window.innerWidth", json!([])).await;
        let screen = if wide.as_f64().is_some_and(|w| w < 600.0) {
            Size::Phone
        } else {
            Size::Desktop
        };
        std::fs::write(dir.join(format!("{name}-{}.png", screen.name())), bytes).expect("write");
    }

    /// Waits until `script` returns something truthy, and returns it.
    pub async fn wait_js(&self, script: &str, args: Value) -> Value {
        let found = eventually(Duration::from_secs(8), || async {
            let v = self.js(script, args.clone()).await;
            let truthy = !(v.is_null()
                || v == Value::Bool(false)
                || v == json!(0)
                || v == json!("")
                || v.as_array().is_some_and(Vec::is_empty));
            truthy.then_some(v)
        })
        .await;
        found.unwrap_or_else(|| panic!("never true: {script}"))
    }

    /// Signs in through the form.
    pub async fn sign_in(&self, base: &str, email: &str, password: &str) {
        self.go(&format!("{base}/#/login")).await;
        self.type_into("#email", email).await;
        self.type_into("#password", password).await;
        self.submit_account_form().await;
    }

    /// Signs up a new visitor called `name` through the form.
    pub async fn sign_up(&self, base: &str, name: &str) {
        self.go(&format!("{base}/#/signup")).await;
        self.type_into("#name", name).await;
        self.type_into(
            "#email",
            &format!("{}{}@example.com", name.to_lowercase(), super::unique()),
        )
        .await;
        self.type_into("#password", "a good password").await;
        self.submit_account_form().await;
    }

    /// Submits the sign-in or sign-up form and waits until the app has stored the session
    /// and moved on from the form.
    async fn submit_account_form(&self) {
        self.click("#f button[type=submit]").await;
        self.wait_text("Sign out").await;
        self.wait_js(
            "return !['#/login', '#/signup'].includes(location.hash)",
            json!([]),
        )
        .await;
    }

    /// The page's accessibility violations by axe-core (WCAG 2.x A and AA rules), as
    /// "rule: target" lines. axe-core comes from npm (`scripts/web/tools.sh`, run by CI).
    pub async fn axe(&self) -> Vec<String> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/webtools/node_modules/axe-core/axe.min.js");
        let source = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{} is missing ({e}): run scripts/web/tools.sh",
                path.display()
            )
        });
        self.js(&source, json!([])).await;
        let result = self
            .cmd(
                reqwest::Method::POST,
                "/execute/async",
                json!({ "script": "const done = arguments[arguments.length - 1];
                    axe.run(document, { runOnly: { type: 'tag', values:
                      ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] } })
                      .then(r => done(r.violations.flatMap(v => v.nodes.map(n =>
                        v.id + ': ' + n.target.join(' ') + ' — ' + (n.failureSummary || '').replace(/\\s+/g, ' ')))))
                      .catch(e => done(['axe failed: ' + e]));", "args": [] }),
            )
            .await;
        result
            .as_array()
            .unwrap_or_else(|| panic!("axe answered {result}"))
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    }

    pub async fn accept_dialog(&self) {
        let _ = eventually(Duration::from_secs(3), || async {
            let v = self
                .cmd(reqwest::Method::POST, "/alert/accept", json!({}))
                .await;
            v.is_null().then_some(())
        })
        .await;
    }

    /// The browser console's messages since the last call (chromedriver's log endpoint).
    pub async fn console(&self) -> Vec<String> {
        let logs = self
            .cmd(
                reqwest::Method::POST,
                "/se/log",
                json!({ "type": "browser" }),
            )
            .await;
        logs.as_array()
            .unwrap_or_else(|| panic!("chromedriver returned no browser log: {logs}"))
            .iter()
            .filter_map(|entry| entry["message"].as_str().map(str::to_owned))
            .collect()
    }

    /// Ends the session, first asserting that the page never broke its Content-Security-Policy
    /// (a blocked script, style or image is reported on the console).
    pub async fn close(&self) {
        let violations: Vec<String> = self
            .console()
            .await
            .into_iter()
            .filter(|m| m.contains("Content Security Policy"))
            .collect();
        self.cmd(reqwest::Method::DELETE, "", Value::Null).await;
        assert!(violations.is_empty(), "CSP violations: {violations:#?}");
    }
}
