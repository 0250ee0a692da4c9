//! Organiser webhooks: an organiser registers URLs per event; every event about it (bookings,
//! show changes) is POSTed with an HMAC-SHA256 signature and retried with exponential backoff.
//! Deliveries are rows, so retries survive restarts, and a failing endpoint never blocks a
//! booking (delivery runs beside the relay, not in it).

use std::time::Duration;

use anyhow::Context;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::Sha256;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::catalog::events::event_of_organiser;
use crate::error::{ApiError, ApiResult};
use crate::events::OutboxEvent;
use crate::http::auth::AuthUser;
use crate::http::json::{ApiJson, ApiPath};

use super::{store, targets};

/// Attempts before a delivery is given up.
pub const MAX_ATTEMPTS: i32 = 8;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_webhook, list_webhooks))
        .routes(routes!(delete_webhook))
}

const TAG: &str = "webhooks";

/// A webhook as created: its signing secret is shown this once.
#[derive(serde::Serialize, ToSchema)]
struct NewWebhook {
    webhook_id: i64,
    event_id: i64,
    url: String,
    /// Signs each delivery (`X-Boxoffice-Signature`); shown only here.
    secret: String,
    created_at: chrono::DateTime<Utc>,
}

/// A webhook with its delivery counts.
#[derive(serde::Serialize, ToSchema)]
struct WebhookView {
    webhook_id: i64,
    event_id: i64,
    url: String,
    created_at: chrono::DateTime<Utc>,
    delivered: i64,
    failed: i64,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct WebhookBody {
    url: String,
}

async fn check_url(url: &str, allow_private: bool) -> ApiResult<String> {
    let url = url.trim();
    let parsed = reqwest::Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
    let Some(parsed) = parsed.filter(|_| url.len() <= 2000) else {
        return Err(ApiError::invalid_field("url", "url must be an http(s) URL"));
    };
    if !allow_private && public_target(&parsed).await.is_err() {
        return Err(ApiError::invalid_field(
            "url",
            "url must resolve to a public address (not loopback, private or link-local)",
        ));
    }
    Ok(url.to_owned())
}

/// `Ok` when the URL's host is a global IP literal or a name whose every address is global.
/// Sending checks again, on the addresses it connects to ([`targets::GuardedResolver`]).
async fn public_target(url: &reqwest::Url) -> Result<(), String> {
    targets::check_url_host(url)?;
    let host = url.host_str().unwrap_or_default();
    if host.starts_with('[') || host.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    targets::resolve_checked(host, url.port_or_known_default().unwrap_or(443), true)
        .await
        .map(|_| ())
}

/// The delivery client: it never follows a redirect or uses a proxy, connects only to the
/// addresses its resolver checked (global ones unless `allow_private`), and trusts the
/// operator's extra CA besides the built-in roots.
pub fn delivery_client(
    allow_private: bool,
    extra_ca_pem: Option<&[u8]>,
) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .connect_timeout(Duration::from_secs(3))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(std::sync::Arc::new(targets::GuardedResolver {
            public_only: !allow_private,
        }));
    if let Some(pem) = extra_ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .context("the webhook CA file is not a PEM certificate bundle")?;
        anyhow::ensure!(
            !certs.is_empty(),
            "the webhook CA file holds no certificate"
        );
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    Ok(builder.build()?)
}

/// Registers a URL to receive the event's booking and show changes, signed (its organiser).
#[utoipa::path(post, path = "/api/v1/events/{event_id}/webhooks", tag = TAG, request_body = WebhookBody,
    params(("event_id" = i64, Path, description = "The event")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Registered", body = NewWebhook),
        (status = 400, description = "`INVALID_REQUEST`: not a public http(s) URL", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "`FORBIDDEN`", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "`NOT_FOUND`", body = crate::http::openapi::ErrorBody),
    ))]
async fn create_webhook(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(event_id): ApiPath<i64>,
    ApiJson(body): ApiJson<WebhookBody>,
) -> ApiResult<(StatusCode, Json<NewWebhook>)> {
    event_of_organiser(&state, &user, event_id).await?;
    let url = check_url(&body.url, state.webhooks_allow_private).await?;
    let secret = format!("whsec_{}", crate::auth::tokens::random_token(24));
    let now = Utc::now();
    let webhook_id = store::insert_webhook(&state.db, event_id, &url, &secret, now).await?;
    // The secret is shown once, at creation.
    Ok((
        StatusCode::CREATED,
        Json(NewWebhook {
            webhook_id,
            event_id,
            url,
            secret,
            created_at: now,
        }),
    ))
}

#[utoipa::path(get, path = "/api/v1/events/{event_id}/webhooks", tag = TAG,
    params(("event_id" = i64, Path, description = "The event")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The event's webhooks", body = Vec<WebhookView>),
        (status = 403, description = "`FORBIDDEN`", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "`NOT_FOUND`", body = crate::http::openapi::ErrorBody),
    ))]
async fn list_webhooks(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(event_id): ApiPath<i64>,
) -> ApiResult<Json<Vec<WebhookView>>> {
    event_of_organiser(&state, &user, event_id).await?;
    let webhooks = store::webhooks_of_event(&state.db, event_id).await?;
    Ok(Json(
        webhooks
            .into_iter()
            .map(|w| WebhookView {
                webhook_id: w.webhook_id,
                event_id,
                url: w.url,
                created_at: w.created_at,
                delivered: w.delivered,
                failed: w.failed,
            })
            .collect(),
    ))
}

#[utoipa::path(delete, path = "/api/v1/events/{event_id}/webhooks/{webhook_id}", tag = TAG,
    params(
        ("event_id" = i64, Path, description = "The event"),
        ("webhook_id" = i64, Path, description = "The webhook"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "`FORBIDDEN`", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "`NOT_FOUND`", body = crate::http::openapi::ErrorBody),
    ))]
async fn delete_webhook(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath((event_id, webhook_id)): ApiPath<(i64, i64)>,
) -> ApiResult<StatusCode> {
    event_of_organiser(&state, &user, event_id).await?;
    if !store::delete_webhook(&state.db, event_id, webhook_id).await? {
        return Err(ApiError::not_found("Webhook", webhook_id));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The consumer: queues one delivery per webhook of each event's event (idempotent), the
/// whole batch in one statement; wakes the sender only when something was queued.
pub async fn enqueue(state: &AppState, events: &[OutboxEvent]) -> anyhow::Result<()> {
    let queued: Vec<store::EventDeliveries> = events
        .iter()
        .filter_map(|event| {
            let payload = &event.payload.0;
            let event_id = payload.get("event_id").and_then(Value::as_i64);
            let show_id = payload.get("show_id").and_then(Value::as_i64);
            if event_id.is_none() && show_id.is_none() {
                return None;
            }
            let body = json!({
                "id": format!("evt_{}", event.outbox_id),
                "type": event.topic,
                "created_at": event.created_at,
                "data": payload,
            })
            .to_string();
            Some(store::EventDeliveries {
                outbox_id: event.outbox_id,
                topic: event.topic.clone(),
                body,
                event_id,
                show_id,
            })
        })
        .collect();
    if store::queue_deliveries(&state.db, &queued, Utc::now()).await? > 0 {
        state.webhook_wakeup.notify_one();
    }
    Ok(())
}

/// `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// Seconds before attempt `attempts + 1`: 1, 2, 4, … up to 2^12 (about 68 minutes).
pub fn backoff_seconds(attempts: i32) -> i64 {
    1_i64 << attempts.clamp(0, 12) as u32
}

/// The webhook sender as a background worker: each step delivers the deliveries that are due.
pub struct Deliveries {
    state: AppState,
    client: reqwest::Client,
}

impl Deliveries {
    pub fn new(state: AppState) -> Self {
        let client = state.webhook_client.clone();
        Self { state, client }
    }
}

impl crate::workers::Worker for Deliveries {
    const NAME: &'static str = "webhook sender";

    async fn step(&mut self) -> anyhow::Result<usize> {
        deliver_due(&self.state, &self.client).await
    }
}

/// An error with its causes (reqwest's own message rarely names the reason).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

async fn deliver_due(state: &AppState, client: &reqwest::Client) -> anyhow::Result<usize> {
    let now = Utc::now();
    let due = store::due_deliveries(&state.db, now).await?;
    let mut sent = 0;
    for d in due {
        // Lease the delivery for 30 s so another node does not send it at the same time.
        let leased =
            store::lease_delivery(&state.db, &d, now + chrono::Duration::seconds(30)).await?;
        if !leased {
            continue;
        }
        sent += 1;
        let timestamp = Utc::now().timestamp();
        // Checked again at send time, on the addresses connected to: DNS may have changed since
        // the URL was registered. IP literals skip the resolver, so they are checked here.
        let target = reqwest::Url::parse(&d.url)
            .map_err(|e| e.to_string())
            .and_then(|url| {
                if state.webhooks_allow_private {
                    Ok(url)
                } else {
                    targets::check_url_host(&url).map(|()| url)
                }
            });
        let result = match target {
            Ok(url) => client
                .post(url)
                .header("content-type", "application/json")
                .header("x-boxoffice-event", &d.topic)
                .header(
                    "x-boxoffice-delivery",
                    format!("{}-{}", d.webhook_id, d.outbox_id),
                )
                .header(
                    "x-boxoffice-signature",
                    signature(&d.secret, timestamp, &d.payload),
                )
                .body(d.payload.clone())
                .send()
                .await
                .map_err(|e| error_chain(&e)),
            Err(e) => Err(e),
        };
        let error = match result {
            Ok(res) if res.status().is_success() => None,
            // Redirects are not followed: the target must answer itself.
            Ok(res) if res.status().is_redirection() => Some(format!(
                "HTTP {} (redirects are not followed)",
                res.status()
            )),
            Ok(res) => Some(format!("HTTP {}", res.status())),
            Err(e) => Some(e),
        };
        let attempts = d.attempts + 1;
        let (status, next) = match &error {
            None => ("delivered", Utc::now()),
            Some(_) if attempts >= MAX_ATTEMPTS => ("failed", Utc::now()),
            Some(_) => (
                "pending",
                Utc::now() + chrono::Duration::seconds(backoff_seconds(d.attempts)),
            ),
        };
        if let Some(e) = &error {
            tracing::warn!(webhook_id = d.webhook_id, outbox_id = d.outbox_id, attempts, error = %e, "webhook delivery failed");
        }
        store::record_attempt(
            &state.db,
            d.webhook_id,
            d.outbox_id,
            status,
            attempts,
            next,
            error.as_deref(),
        )
        .await?;
    }
    Ok(sent)
}
