//! NATS JetStream: a durable stream (created if missing), publishes with message ids for
//! de-duplication and awaited acks, and durable pull consumers with explicit acks.
//!
//! Several deployments may share a stream and subject prefix (or one database may be reset
//! under a running stream): message ids are `<deployment>:<outbox_id>`, every message carries
//! its deployment in the `Boxoffice-Deployment` header, and each deployment's durable consumers
//! are named after it and skip other deployments' messages.

use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use async_nats::jetstream::{self, stream};
use futures_util::TryStreamExt;
use tokio::sync::{watch, OnceCell};

use super::{handle, Consumer, Deployment, OutboxEvent};
use crate::app::AppState;

/// A connection to JetStream and the stream's name and subject prefix.
#[derive(Clone)]
pub struct NatsBus {
    client: async_nats::Client,
    js: jetstream::Context,
    stream: String,
    prefix: String,
    deployment: std::sync::Arc<Deployment>,
    ready: std::sync::Arc<OnceCell<()>>,
}

/// The header naming the deployment that published a message.
pub const DEPLOYMENT_HEADER: &str = "Boxoffice-Deployment";

impl NatsBus {
    /// Connects, retrying in the background if NATS is down: bookings never wait for it.
    pub async fn connect(
        url: &str,
        stream: &str,
        prefix: &str,
        deployment: std::sync::Arc<Deployment>,
    ) -> anyhow::Result<Self> {
        let client = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(2))
            .connect(url)
            .await?;
        let js = jetstream::new(client.clone());
        Ok(Self {
            client,
            js,
            stream: stream.to_owned(),
            prefix: prefix.to_owned(),
            deployment,
            ready: std::sync::Arc::new(OnceCell::new()),
        })
    }

    pub fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    pub fn subject(&self, topic: &str) -> String {
        format!("{}.{topic}", self.prefix)
    }

    /// Creates the stream once per process (if missing).
    async fn ensure_stream(&self) -> anyhow::Result<stream::Stream> {
        let config = stream::Config {
            name: self.stream.clone(),
            subjects: vec![format!("{}.>", self.prefix)],
            duplicate_window: Duration::from_secs(120),
            max_age: Duration::from_secs(7 * 24 * 3600),
            ..Default::default()
        };
        let stream =
            tokio::time::timeout(Duration::from_secs(5), self.js.get_or_create_stream(config))
                .await
                .map_err(|_| anyhow::anyhow!("JetStream did not answer"))??;
        let _ = self.ready.set(());
        Ok(stream)
    }

    /// The JetStream message id of an outbox row: unique across deployments sharing the stream.
    pub fn message_id(&self, outbox_id: i64) -> String {
        format!("{}:{outbox_id}", self.deployment.id)
    }

    /// The name of this deployment's durable consumer for `consumer`.
    pub fn durable_name(&self, consumer: Consumer) -> String {
        format!("{}-{}", consumer.name(), self.deployment.id)
    }

    /// Publishes and waits for JetStream's ack, with [`message_id`](Self::message_id) as the
    /// message id. `Ok(true)` when JetStream had the message already (a republish it
    /// de-duplicated).
    pub async fn publish(&self, event: &OutboxEvent) -> anyhow::Result<bool> {
        if self.ready.get().is_none() {
            self.ensure_stream().await?;
        }
        let payload = serde_json::to_vec(event)?;
        let ack = tokio::time::timeout(Duration::from_secs(5), async {
            self.js
                .send_publish(
                    self.subject(&event.topic),
                    jetstream::context::Publish::build()
                        .payload(payload.into())
                        .header(DEPLOYMENT_HEADER, self.deployment.id.as_str())
                        .message_id(self.message_id(event.outbox_id)),
                )
                .await?
                .await
                .map_err(anyhow::Error::from)
        })
        .await
        .map_err(|_| anyhow::anyhow!("JetStream publish ack timed out"))??;
        tracing::debug!(
            outbox_id = event.outbox_id,
            seq = ack.sequence,
            duplicate = ack.duplicate,
            "published"
        );
        Ok(ack.duplicate)
    }

    /// The stream, for tests and tools.
    pub async fn stream(&self) -> anyhow::Result<stream::Stream> {
        self.ensure_stream().await
    }
}

/// Handles one delivered message and acks it, or leaves it for JetStream to redeliver.
async fn handle_message(
    state: &AppState,
    bus: &NatsBus,
    consumer: Consumer,
    message: async_nats::jetstream::Message,
) {
    let publisher = message
        .headers
        .as_ref()
        .and_then(|h| h.get(DEPLOYMENT_HEADER))
        .map(|v| v.as_str());
    if publisher != Some(bus.deployment.id.as_str()) {
        // Another deployment's event (or one from before deployment ids).
        let _ = message.ack().await;
        return;
    }
    match serde_json::from_slice::<OutboxEvent>(&message.payload) {
        Ok(event) => match handle(state, consumer, &event).await {
            Ok(()) => {
                let _ = message.ack().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, consumer = consumer.name(), outbox_id = event.outbox_id, "consumer failed; JetStream will redeliver");
            }
        },
        Err(e) => {
            tracing::error!(error = %e, consumer = consumer.name(), "unreadable event; dropped");
            let _ = message.ack().await;
        }
    }
}

/// Runs a durable consumer until shutdown: each message is handled, then acked; a failure is
/// left unacked and JetStream redelivers it.
pub async fn consume(
    state: AppState,
    bus: NatsBus,
    consumer: Consumer,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        let run = async {
            let stream = bus.ensure_stream().await?;
            let name = bus.durable_name(consumer);
            // Nothing of this deployment was published before it was created (a minute of
            // clock skew allowed), so a new consumer does not read the stream's older history.
            let since = bus.deployment.created_at - chrono::Duration::minutes(1);
            let start_time = time::OffsetDateTime::from_unix_timestamp(since.timestamp())
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
            let durable = tokio::time::timeout(
                Duration::from_secs(5),
                stream.get_or_create_consumer(
                    &name,
                    pull::Config {
                        durable_name: Some(name.clone()),
                        deliver_policy: DeliverPolicy::ByStartTime { start_time },
                        ack_policy: AckPolicy::Explicit,
                        ack_wait: Duration::from_secs(30),
                        // A poisoned event stops being redelivered after this many tries.
                        max_deliver: 20,
                        ..Default::default()
                    },
                ),
            )
            .await
            .map_err(|_| anyhow::anyhow!("JetStream did not answer"))??;
            let messages = durable.messages().await?;
            // Handlers are idempotent and independent per booking, so a consumer handles a few
            // events at once (bounded); webhooks keep their order, one at a time.
            messages
                .map_err(|e| anyhow::anyhow!(e))
                .try_for_each_concurrent(consumer.concurrency(), |message| {
                    let (state, bus) = (&state, &bus);
                    async move {
                        handle_message(state, bus, consumer, message).await;
                        anyhow::Ok(())
                    }
                })
                .await?;
            anyhow::Ok(())
        };
        tokio::select! {
            result = run => {
                if let Err(e) = result {
                    tracing::warn!(error = %e, consumer = consumer.name(), "consumer stopped; reconnecting");
                }
            }
            _ = shutdown.changed() => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = shutdown.changed() => return,
        }
    }
}
