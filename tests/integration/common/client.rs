//! Talking to the app over HTTP: requests with an optional Bearer token, JSON answers with
//! status assertions in the seed's error shape, and signed-in users with their tokens.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::app::TestApp;
use super::unique;

/// The public API at `base`: one node, or a load balancer in front of several.
#[derive(Debug, Clone)]
pub struct Api {
    pub base: String,
    pub client: reqwest::Client,
}

/// The password of every user the harness registers.
pub const PASSWORD: &str = "correct horse battery";

/// A JSON response.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status and returns the body, printing the body on mismatch.
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.body
        );
        self.body
    }

    /// Asserts an error answer in the seed's shape with `code`.
    pub fn expect_error(self, status: u16, code: &str) -> Value {
        let body = self.expect(status);
        assert_eq!(body["error_code"], code, "body: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "message: {body}"
        );
        assert!(
            body["details"].is_object(),
            "details must be an object: {body}"
        );
        body
    }
}

/// A signed-in user.
#[derive(Debug, Clone)]
pub struct User {
    pub user_id: i64,
    pub email: String,
    pub token: String,
    pub refresh_token: String,
}

impl Api {
    /// A client for the API at `base` (`http://host:port`).
    pub fn new(base: String) -> Self {
        Self {
            base,
            // The server closes a keep-alive connection idle for its header timeout (10 s); a
            // client that keeps one longer may send on it as it closes (`IncompleteMessage`).
            client: reqwest::Client::builder()
                .pool_idle_timeout(std::time::Duration::from_secs(4))
                .build()
                .expect("client"),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request sent");
        Self::read(res).await
    }

    pub async fn read(res: reqwest::Response) -> Resp {
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                panic!(
                    "non-JSON body ({status}): {}",
                    String::from_utf8_lossy(&bytes)
                )
            })
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.request(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.request(Method::POST, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.request(Method::PATCH, path, token, Some(body)).await
    }

    /// POSTs `body` with an `Idempotency-Key` header (booking).
    pub async fn post_idempotent(
        &self,
        path: &str,
        token: Option<&str>,
        key: &str,
        body: Value,
    ) -> Resp {
        let mut req = self
            .client
            .post(self.url(path))
            .header("idempotency-key", key)
            .json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Self::read(req.send().await.expect("request sent")).await
    }

    /// Sends a raw body with a content type.
    pub async fn post_raw(
        &self,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> Resp {
        let mut req = self
            .client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Self::read(req.send().await.expect("request sent")).await
    }

    /// Signs `email` in with [`PASSWORD`] (the raw answer: tokens or an error).
    pub async fn login(&self, email: &str) -> Resp {
        self.post(
            "/api/v1/auth/login",
            None,
            json!({ "email": email, "password": PASSWORD }),
        )
        .await
    }

    /// Registers a user with `roles` and signs in.
    pub async fn user(&self, roles: &[&str]) -> User {
        let email = format!("u{}@example.com", unique());
        let created = self
            .post(
                "/api/v1/auth/register",
                None,
                json!({ "email": email, "password": PASSWORD, "name": "Test User", "roles": roles }),
            )
            .await
            .expect(201);
        let tokens = self.login(&email).await.expect(200);
        User {
            user_id: created["user_id"].as_i64().expect("user_id"),
            email,
            token: tokens["access_token"].as_str().expect("token").to_owned(),
            refresh_token: tokens["refresh_token"]
                .as_str()
                .expect("refresh")
                .to_owned(),
        }
    }

    pub async fn visitor(&self) -> User {
        self.user(&[]).await
    }

    pub async fn organiser(&self) -> User {
        self.user(&["organiser"]).await
    }

    pub async fn venue_owner(&self) -> User {
        self.user(&["venue_owner"]).await
    }
}

impl TestApp {
    /// The answer's status, headers and JSON body.
    pub async fn read(res: reqwest::Response) -> Resp {
        Api::read(res).await
    }

    /// `n` visitors created straight in the database with tokens minted by the app's own keys:
    /// for race tests that need many users quickly (registration is tested in tests/integration/auth.rs).
    pub async fn quick_users(&self, n: usize) -> Vec<User> {
        let mut users = Vec::with_capacity(n);
        for _ in 0..n {
            let email = format!("q{}@example.com", unique());
            let parsed = boxoffice::auth::Email::parse(&email).expect("email");
            let user = boxoffice::auth::store::create_user(
                &self.state.db,
                &parsed,
                "Racer",
                "not-a-hash",
                &[],
            )
            .await
            .expect("user")
            .expect("new");
            let token = self
                .state
                .tokens
                .issue(user.user_id, &user.roles, chrono::Utc::now().timestamp())
                .expect("token");
            users.push(User {
                user_id: user.user_id,
                email,
                token,
                refresh_token: String::new(),
            });
        }
        users
    }
}

/// Two access tokens that claim to be `user_id` with the admin role without the server's
/// signature: `signed`'s header and signature around forged claims, and an `alg: none` token.
pub fn forged_tokens(user_id: i64, signed: &str) -> [String; 2] {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let now = chrono::Utc::now().timestamp();
    let claims = format!(
        r#"{{"sub":"{user_id}","roles":["admin"],"iat":{now},"exp":{},"typ":"access"}}"#,
        now + 900
    );
    let parts: Vec<&str> = signed.split('.').collect();
    [
        format!("{}.{}.{}", parts[0], b64(&claims), parts[2]),
        format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#), b64(&claims)),
    ]
}
