//! Prometheus metrics: `GET /metrics` in the text exposition format.
//!
//! Request durations are histograms by method, route template and status, with explicit
//! buckets so several nodes' series add up. Domain counters are recorded where the domain
//! decides (holds, bookings, payments, waiting-room joins); gauges that describe the node's
//! state (outbox, database pool, stream clients) are read when scraped.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::app::AppState;

/// Request duration buckets, in seconds: from a cached read to the request deadline.
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How often recorded samples are folded into the histograms, so memory stays bounded between
/// scrapes (or without any).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The process's recorder (one per process, shared by every node a test starts in it); `None`
/// when another recorder was installed first.
pub fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), DURATION_BUCKETS)
                .ok()?;
            let handle = match builder.install_recorder() {
                Ok(handle) => handle,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    return None;
                }
            };
            describe();
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new()
                .name("metrics-upkeep".to_owned())
                .spawn(move || loop {
                    std::thread::sleep(UPKEEP_EVERY);
                    upkeep.run_upkeep();
                });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "metrics upkeep thread not started");
            }
            Some(handle)
        })
        .as_ref()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_histogram!(
        "http_server_request_duration_seconds",
        Unit::Seconds,
        "Time to answer a request, by method, route template and status."
    );
    describe_gauge!(
        "http_server_requests_in_flight",
        "Requests being answered now."
    );
    describe_counter!(
        "boxoffice_holds_total",
        "Seat hold requests by outcome (granted, locked, cap_exceeded)."
    );
    describe_counter!(
        "boxoffice_holds_released_total",
        "Holds released by their buyer."
    );
    describe_counter!("boxoffice_bookings_total", "Bookings confirmed.");
    describe_counter!(
        "boxoffice_seats_sold_total",
        "Seats sold in confirmed bookings."
    );
    describe_counter!(
        "boxoffice_payments_total",
        "Payment authorizations by outcome (authorized, declined, error)."
    );
    describe_counter!(
        "boxoffice_queue_joins_total",
        "Visitors who joined a waiting room."
    );
    describe_gauge!(
        "boxoffice_outbox_unpublished",
        "Outbox events not yet published to the bus."
    );
    describe_gauge!(
        "boxoffice_outbox_lag_seconds",
        "Age of the oldest unpublished outbox event."
    );
    describe_counter!(
        "boxoffice_outbox_published_total",
        "Outbox events this node published."
    );
    describe_gauge!(
        "boxoffice_db_pool_connections",
        "Database pool connections by pool (write, read) and state (idle, in_use)."
    );
    describe_gauge!(
        "boxoffice_stream_clients",
        "Live seat-map stream clients connected to this node."
    );
    describe_gauge!(
        "boxoffice_live_shows",
        "Shows whose live availability this node keeps in memory."
    );
    describe_counter!(
        "boxoffice_holds_expired_total",
        "Seat holds that ran out unbooked, counted by the node that ended them."
    );
    describe_gauge!(
        "boxoffice_queue_waiting",
        "Visitors in a show's waiting room not yet admitted, as of this node's last read of it."
    );
    describe_gauge!(
        "boxoffice_queue_admitted",
        "Visitors a show's waiting room has admitted, as of this node's last read of it."
    );
    describe_gauge!(
        "boxoffice_search_index_synced_timestamp_seconds",
        "When this node's search index last applied every catalog change (Unix time)."
    );
}

/// One request's entry in the metrics: its route template (never the raw path, so the series
/// stay few) and method, counted in flight from [`RequestTimer::start`] until it is dropped;
/// [`RequestTimer::finish`] records its duration with its status. A request whose client went
/// away is dropped unanswered and leaves the in-flight count all the same.
pub struct RequestTimer {
    route: String,
    method: String,
    started: Instant,
}

impl RequestTimer {
    pub fn start(request: &Request) -> Self {
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
        metrics::gauge!("http_server_requests_in_flight").increment(1.0);
        Self {
            route,
            method: request.method().as_str().to_owned(),
            started: Instant::now(),
        }
    }

    pub fn finish(mut self, response: &Response) {
        metrics::histogram!(
            "http_server_request_duration_seconds",
            "method" => std::mem::take(&mut self.method),
            "route" => std::mem::take(&mut self.route),
            "status" => response.status().as_str().to_owned(),
        )
        .record(self.started.elapsed().as_secs_f64());
    }
}

impl Drop for RequestTimer {
    fn drop(&mut self) {
        metrics::gauge!("http_server_requests_in_flight").decrement(1.0);
    }
}

/// `GET /metrics`.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let Some(handle) = handle() else {
        return crate::error::ApiError::new(
            crate::error::ErrorCode::Unavailable,
            "Metrics are not recorded by this process",
        )
        .into_response();
    };
    scrape_gauges(&state).await;
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        handle.render(),
    )
        .into_response()
}

/// The gauges read at scrape time; a dependency that does not answer in 2 s leaves its gauge
/// as it was.
async fn scrape_gauges(state: &AppState) {
    let bounded = Duration::from_secs(2);
    if let Ok(Ok(backlog)) =
        tokio::time::timeout(bounded, crate::events::outbox_backlog(&state.db)).await
    {
        metrics::gauge!("boxoffice_outbox_unpublished").set(backlog as f64);
    }
    if let Ok(Ok(lag)) =
        tokio::time::timeout(bounded, crate::events::outbox_lag_seconds(&state.db)).await
    {
        metrics::gauge!("boxoffice_outbox_lag_seconds").set(lag.max(0.0));
    }
    for (pool, size, idle) in state.db.pool_use() {
        let in_use = size.saturating_sub(idle);
        metrics::gauge!("boxoffice_db_pool_connections", "pool" => pool, "state" => "idle")
            .set(f64::from(idle));
        metrics::gauge!("boxoffice_db_pool_connections", "pool" => pool, "state" => "in_use")
            .set(f64::from(in_use));
    }
    metrics::counter!("boxoffice_outbox_published_total").absolute(
        state
            .relay_stats
            .published
            .load(std::sync::atomic::Ordering::Relaxed),
    );
    let (shows, clients) = state.availability.stream_clients();
    metrics::gauge!("boxoffice_live_shows").set(shows as f64);
    metrics::gauge!("boxoffice_stream_clients").set(clients as f64);
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    fn in_flight(rendered: &str) -> Option<f64> {
        rendered
            .lines()
            .find_map(|l| l.strip_prefix("http_server_requests_in_flight "))
            .and_then(|v| v.trim().parse().ok())
    }

    #[test]
    fn a_request_leaves_the_in_flight_count_whether_answered_or_dropped() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            let request = Request::builder()
                .uri("/healthz")
                .body(Body::empty())
                .expect("request");
            let answered = RequestTimer::start(&request);
            let dropped = RequestTimer::start(&request);
            assert_eq!(in_flight(&handle.render()), Some(2.0));
            answered.finish(&Response::new(Body::empty()));
            // The client went away: the request's future is dropped before any answer.
            drop(dropped);
            let rendered = handle.render();
            assert_eq!(in_flight(&rendered), Some(0.0), "{rendered}");
            let counted = rendered
                .lines()
                .find(|l| l.starts_with("http_server_request_duration_seconds_count"))
                .unwrap_or_default();
            assert!(
                counted.contains("status=\"200\"") && counted.ends_with(" 1"),
                "only the answered request is timed: {rendered}"
            );
        });
    }
}
