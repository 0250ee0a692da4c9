//! The event pipeline (SPEC §8): the relay publishes outbox rows at least once — to NATS
//! JetStream in production, to in-process subscribers in the embedded default — and idempotent
//! consumers issue tickets and send emails.
//!
//! Several relays (one per node) never publish a row at the same time: each batch is claimed
//! for a short lease (`claimed_until`) in a statement of its own (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL), published outside any transaction, then marked; another node takes a row over
//! only once its lease has expired (`three_nodes_publish_each_event_once`,
//! `a_leased_outbox_row_waits_for_its_lease`). A row is marked published only after JetStream
//! acknowledged it (or every in-process consumer handled it); a crash in between republishes it,
//! JetStream drops the duplicate by its message id and the consumers ignore what they already did.
//!
//! Message ids and durable consumers carry the [`Deployment`] id, so deployments sharing a
//! stream, or a database reset under a running stream, never de-duplicate or consume each
//! other's events (`deployments_sharing_a_stream_each_get_their_events`).

mod nats;
pub mod outbox;
pub mod store;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::workers::{Pace, Worker};

pub use nats::NatsBus;
pub use store::outbox_backlog;

use crate::app::AppState;
use crate::faults::Fault;
use crate::store::Db;
use outbox::topics;

/// An outbox row as published.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct OutboxEvent {
    pub outbox_id: i64,
    pub topic: String,
    pub aggregate_id: i64,
    pub payload: sqlx::types::Json<serde_json::Value>,
    pub created_at: DateTime<Utc>,
}

/// What this node's relay has published, for operators (and the multi-node tests).
#[derive(Debug, Default)]
pub struct RelayStats {
    /// Outbox rows this node handed to the bus (or to the in-process consumers).
    pub published: AtomicU64,
    /// Of those, rows JetStream already had: republished after a crash between publishing and
    /// marking, or by two relays at once (which the claim's lease rules out).
    pub duplicates: AtomicU64,
}

/// Rows per relay batch.
const BATCH: i64 = 100;

/// How long a relay owns the rows it claimed. It stops publishing halfway through, so a slow
/// batch is marked before another node may take its rows over.
const LEASE: Duration = Duration::from_secs(30);

/// One deployment (one database) on a possibly shared event bus: its id is generated once and
/// kept in the database, so every node of the deployment shares it and a reset database gets
/// a new one.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub id: String,
    /// When the id was created: nothing of this deployment was published before.
    pub created_at: DateTime<Utc>,
}

impl Deployment {
    pub async fn load(db: &Db) -> Result<Self, sqlx::Error> {
        let fresh = uuid::Uuid::new_v4().simple().to_string();
        let id = crate::auth::store::shared_secret(db, "deployment_id", &fresh).await?;
        let created_at = store::secret_created_at(db, "deployment_id").await?;
        Ok(Self { id, created_at })
    }
}

/// Which consumer handles an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consumer {
    Tickets,
    Email,
    Webhooks,
}

impl Consumer {
    pub const ALL: [Consumer; 3] = [Consumer::Tickets, Consumer::Email, Consumer::Webhooks];

    /// Batches of events one node's consumer handles at once: tickets and emails are
    /// independent per booking; webhooks are queued in the order their events happened.
    pub fn concurrency(self) -> usize {
        match self {
            Self::Tickets => 4,
            // An email batch spends most of its time waiting (its reads on a busy database,
            // its builders for a CPU): more of them at once keep up with an onsale.
            Self::Email => 8,
            Self::Webhooks => 1,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Tickets => "tickets",
            Self::Email => "email",
            Self::Webhooks => "webhooks",
        }
    }
}

/// The most events a consumer handles in one batch.
pub const CONSUMER_BATCH: usize = 64;

/// Handles one event for one consumer; safe to call again with the same event.
pub async fn handle(
    state: &AppState,
    consumer: Consumer,
    event: &OutboxEvent,
) -> anyhow::Result<()> {
    handle_batch(state, consumer, std::slice::from_ref(event)).await
}

/// Handles events for one consumer, with one statement per step for the whole batch where the
/// step allows (ticket codes, the emails' reads and records); safe to call again with any of
/// the same events. On an error some events may be done and others not: the caller retries
/// them (one at a time, or by redelivery), and what was done is not done twice.
pub async fn handle_batch(
    state: &AppState,
    consumer: Consumer,
    events: &[OutboxEvent],
) -> anyhow::Result<()> {
    let confirmed = || {
        events
            .iter()
            .filter(|e| e.topic == topics::BOOKING_CONFIRMED)
            .map(|e| e.aggregate_id)
            .collect::<Vec<_>>()
    };
    match consumer {
        Consumer::Tickets => {
            crate::tickets::issue_for_bookings(state, &confirmed()).await?;
        }
        Consumer::Email => {
            crate::notify::email::send_confirmations(state, &confirmed()).await?;
            for event in events {
                if event.topic == topics::BOOKING_CANCELLED {
                    crate::notify::email::send_cancellation(state, event.aggregate_id).await?;
                }
            }
        }
        Consumer::Webhooks => {
            crate::notify::webhooks::enqueue(state, events).await?;
        }
    }
    Ok(())
}

/// The outbox relay as a background worker: publishes a batch per step, and says how far
/// behind it is every 30 s.
struct Relay {
    state: AppState,
    last_lag_log: std::time::Instant,
}

impl Worker for Relay {
    const NAME: &'static str = "outbox relay";

    async fn step(&mut self) -> anyhow::Result<usize> {
        if self.last_lag_log.elapsed() > Duration::from_secs(30) {
            self.last_lag_log = std::time::Instant::now();
            if let Ok(lag) = outbox_lag_seconds(&self.state.db).await {
                if lag > 5.0 {
                    tracing::warn!(lag_seconds = lag, "outbox relay is behind");
                } else {
                    tracing::debug!(lag_seconds = lag, "outbox lag");
                }
            }
        }
        relay_once(&self.state).await
    }
}

/// Starts the relay (and, with NATS, the durable consumers) until `shutdown` turns true.
pub fn spawn_workers(
    state: AppState,
    shutdown: watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut handles = Vec::new();
    let wake = state.outbox_wakeup.clone();
    handles.push(tokio::spawn(crate::workers::run(
        Relay {
            state: state.clone(),
            last_lag_log: std::time::Instant::now(),
        },
        Pace::Drain {
            idle: Duration::from_millis(250),
            wake: Some(wake),
        },
        shutdown.clone(),
    )));
    handles.push(tokio::spawn(crate::workers::run(
        crate::notify::webhooks::Deliveries::new(state.clone()),
        Pace::Drain {
            idle: Duration::from_millis(250),
            wake: Some(state.webhook_wakeup.clone()),
        },
        shutdown.clone(),
    )));
    if let Some(bus) = state.nats.clone() {
        for consumer in Consumer::ALL {
            handles.push(tokio::spawn(nats::consume(
                state.clone(),
                bus.clone(),
                consumer,
                shutdown.clone(),
            )));
        }
    }
    handles
}

/// Publishes what the outbox still holds as a node stops (bookings that committed during the
/// grace period, after the relay worker stopped), for at most `within`; returns how many rows
/// were published. What is left is published by another node, or by this one when it starts.
pub async fn flush(state: &AppState, within: Duration) -> usize {
    let deadline = tokio::time::Instant::now() + within;
    let mut published = 0;
    loop {
        match tokio::time::timeout_at(deadline, relay_once(state)).await {
            Ok(Ok(0)) => return published,
            Ok(Ok(n)) => published += n,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "outbox flush at shutdown failed; left to the next relay");
                return published;
            }
            Err(_) => {
                tracing::warn!("outbox flush at shutdown ran out of time; left to the next relay");
                return published;
            }
        }
    }
}

/// Publishes one batch of unpublished outbox rows; returns how many were published.
pub async fn relay_once(state: &AppState) -> anyhow::Result<usize> {
    let claim = uuid::Uuid::new_v4().simple().to_string();
    let now = Utc::now();
    let until = now + chrono::Duration::from_std(LEASE)?;
    // The claim is one short statement: no transaction stays open while the batch is published.
    let mut rows = timed(store::claim_batch(&state.db, &claim, until, now, BATCH)).await?;
    if rows.is_empty() {
        return Ok(0);
    }
    rows.sort_by_key(|e| e.outbox_id);
    let done = match &state.nats {
        Some(bus) => publish_to_bus(state, bus, &rows).await,
        None => match handle_in_process(state, &rows).await {
            Ok(()) => {
                state
                    .relay_stats
                    .published
                    .fetch_add(rows.len() as u64, Ordering::Relaxed);
                rows.iter().map(|e| e.outbox_id).collect()
            }
            // Row by row, so one failing event holds up only itself and those after it.
            Err(_) => handle_one_by_one(state, &rows, std::time::Instant::now() + LEASE / 2).await,
        },
    };
    if state.faults.fire(Fault::RelayCrashAfterPublish) {
        release_claim(&state.db, &claim).await?;
        anyhow::bail!("injected relay crash after publishing, before marking");
    }
    mark_published(&state.db, &done).await?;
    // What was not published is free again at once rather than when the lease expires.
    release_claim(&state.db, &claim).await?;
    Ok(done.len())
}

/// Bounds one relay statement.
async fn timed<T>(
    query: impl std::future::Future<Output = Result<T, sqlx::Error>>,
) -> anyhow::Result<T> {
    tokio::time::timeout(Duration::from_secs(10), query)
        .await
        .map_err(|_| anyhow::anyhow!("the outbox query timed out"))?
        .map_err(Into::into)
}

/// Marks `ids` published (and no longer claimed).
async fn mark_published(db: &Db, ids: &[i64]) -> anyhow::Result<()> {
    timed(store::mark_published(db, ids, Utc::now())).await
}

/// Gives up the unpublished rows of the claim `claim`.
async fn release_claim(db: &Db, claim: &str) -> anyhow::Result<()> {
    timed(store::release_claim(db, claim)).await
}

/// Hands a batch to every in-process consumer, a batch each.
async fn handle_in_process(state: &AppState, rows: &[OutboxEvent]) -> anyhow::Result<()> {
    for consumer in Consumer::ALL {
        for chunk in rows.chunks(CONSUMER_BATCH) {
            handle_batch(state, consumer, chunk).await?;
        }
    }
    Ok(())
}

/// Publishes rows to JetStream in order, all sent before any ack is awaited (one round trip
/// for the batch rather than one a row); returns the ids of the leading rows acknowledged.
/// A row after the first failure may have reached the stream too: it is published again
/// later, and JetStream drops the duplicate by its message id.
async fn publish_to_bus(state: &AppState, bus: &NatsBus, rows: &[OutboxEvent]) -> Vec<i64> {
    let mut done = Vec::with_capacity(rows.len());
    for (event, result) in rows.iter().zip(bus.publish_many(rows).await) {
        match result {
            Ok(duplicate) => {
                if duplicate {
                    state.relay_stats.duplicates.fetch_add(1, Ordering::Relaxed);
                }
                state.relay_stats.published.fetch_add(1, Ordering::Relaxed);
                done.push(event.outbox_id);
            }
            Err(e) => {
                tracing::warn!(error = %e, outbox_id = event.outbox_id, topic = %event.topic, "outbox event not published yet");
                break;
            }
        }
    }
    done
}

/// In-process deliveries of one row that fail this many times are dead-lettered (logged and
/// marked), so one poisoned event cannot hold up every later one.
const MAX_IN_PROCESS_ATTEMPTS: u32 = 10;

/// Hands rows to the in-process consumers one at a time, stopping at the first failure or at
/// `deadline`; returns the ids handled (or dead-lettered).
async fn handle_one_by_one(
    state: &AppState,
    rows: &[OutboxEvent],
    deadline: std::time::Instant,
) -> Vec<i64> {
    let mut done = Vec::with_capacity(rows.len());
    for event in rows {
        if std::time::Instant::now() > deadline {
            break;
        }
        let mut result = Ok(());
        for consumer in Consumer::ALL {
            if let Err(e) = handle(state, consumer, event).await {
                result = Err(e);
                break;
            }
        }
        let attempts = || {
            state
                .relay_attempts
                .lock()
                .unwrap_or_else(|p| p.into_inner())
        };
        match result {
            Ok(()) => {
                state.relay_stats.published.fetch_add(1, Ordering::Relaxed);
                attempts().remove(&event.outbox_id);
                done.push(event.outbox_id)
            }
            Err(e) => {
                let failed = {
                    let mut attempts = attempts();
                    let n = attempts.entry(event.outbox_id).or_insert(0);
                    *n += 1;
                    *n
                };
                if failed < MAX_IN_PROCESS_ATTEMPTS {
                    tracing::warn!(error = %e, outbox_id = event.outbox_id, topic = %event.topic, "outbox event not delivered yet");
                    break;
                }
                tracing::error!(error = %e, outbox_id = event.outbox_id, topic = %event.topic, "event dead-lettered after repeated consumer failures");
                attempts().remove(&event.outbox_id);
                done.push(event.outbox_id);
            }
        }
    }
    done
}

/// Age in seconds of the oldest unpublished outbox row (0 when none).
pub async fn outbox_lag_seconds(db: &Db) -> Result<f64, sqlx::Error> {
    let oldest = store::oldest_unpublished(db).await?;
    Ok(oldest
        .map(|t| (Utc::now() - t).num_milliseconds().max(0) as f64 / 1000.0)
        .unwrap_or(0.0))
}
