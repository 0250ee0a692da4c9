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
use futures_util::{StreamExt, TryStreamExt};
use tokio::sync::{watch, OnceCell};

use super::{handle, handle_batch, Consumer, Deployment, OutboxEvent, CONSUMER_BATCH};
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

/// The longest a relay batch waits for JetStream: its sends and acks together.
const PUBLISH_WAIT: Duration = Duration::from_secs(10);

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

    /// Publishes `events` in order with [`message_id`](Self::message_id) as message ids, sending
    /// them all before awaiting JetStream's acks, the whole batch bounded by [`PUBLISH_WAIT`].
    /// Answers the leading events acknowledged (`true` when JetStream had the message already:
    /// a republish it de-duplicated), then the error that stopped the rest, if any.
    pub async fn publish_many(&self, events: &[OutboxEvent]) -> Vec<anyhow::Result<bool>> {
        let deadline = tokio::time::Instant::now() + PUBLISH_WAIT;
        if self.ready.get().is_none() {
            if let Err(e) = self.ensure_stream().await {
                return vec![Err(e)];
            }
        }
        let mut acks = Vec::with_capacity(events.len());
        let mut stopped = None;
        for event in events {
            let sent = async {
                let payload = serde_json::to_vec(event)?;
                let publish = jetstream::context::Publish::build()
                    .payload(payload.into())
                    .header(DEPLOYMENT_HEADER, self.deployment.id.as_str())
                    .message_id(self.message_id(event.outbox_id));
                anyhow::Ok(
                    self.js
                        .send_publish(self.subject(&event.topic), publish)
                        .await?,
                )
            };
            match tokio::time::timeout_at(deadline, sent).await {
                Ok(Ok(ack)) => acks.push(ack),
                Ok(Err(e)) => {
                    stopped = Some(e);
                    break;
                }
                Err(_) => {
                    stopped = Some(anyhow::anyhow!("JetStream publish timed out"));
                    break;
                }
            }
        }
        // What was sent is acknowledged (or not) either way; the rest waits for the next batch.
        let mut results = self.await_acks(acks, deadline).await;
        if let Some(e) = stopped.filter(|_| results.iter().all(Result::is_ok)) {
            results.push(Err(e));
        }
        results
    }

    /// Awaits acks in order until the first failure.
    async fn await_acks(
        &self,
        acks: Vec<jetstream::context::PublishAckFuture>,
        deadline: tokio::time::Instant,
    ) -> Vec<anyhow::Result<bool>> {
        let mut results = Vec::with_capacity(acks.len());
        for ack in acks {
            match tokio::time::timeout_at(deadline, ack).await {
                Ok(Ok(ack)) => results.push(Ok(ack.duplicate)),
                Ok(Err(e)) => {
                    results.push(Err(e.into()));
                    break;
                }
                Err(_) => {
                    results.push(Err(anyhow::anyhow!("JetStream publish ack timed out")));
                    break;
                }
            }
        }
        results
    }

    /// The stream, for tests and tools.
    pub async fn stream(&self) -> anyhow::Result<stream::Stream> {
        self.ensure_stream().await
    }
}

/// Handles delivered messages as one batch and acks them. If the batch fails, each is handled
/// on its own, so one failing event is redelivered alone and the others are acked.
async fn handle_messages(
    state: &AppState,
    bus: &NatsBus,
    consumer: Consumer,
    messages: Vec<async_nats::jetstream::Message>,
) {
    let mut ours = Vec::with_capacity(messages.len());
    let mut events = Vec::with_capacity(messages.len());
    for message in messages {
        match ours_to_handle(bus, consumer, &message) {
            Some(event) => {
                events.push(event);
                ours.push(message);
            }
            None => {
                let _ = message.ack().await;
            }
        }
    }
    if events.is_empty() {
        return;
    }
    match handle_batch(state, consumer, &events).await {
        Ok(()) => {
            for message in ours {
                let _ = message.ack().await;
            }
        }
        Err(e) => {
            tracing::debug!(error = %e, consumer = consumer.name(), "a batch failed; handling its events one at a time");
            for message in ours {
                handle_message(state, bus, consumer, message).await;
            }
        }
    }
}

/// The event a message carries, unless it is another deployment's or unreadable (to be acked
/// and dropped).
fn ours_to_handle(
    bus: &NatsBus,
    consumer: Consumer,
    message: &async_nats::jetstream::Message,
) -> Option<OutboxEvent> {
    let publisher = message
        .headers
        .as_ref()
        .and_then(|h| h.get(DEPLOYMENT_HEADER))
        .map(|v| v.as_str());
    if publisher != Some(bus.deployment.id.as_str()) {
        // Another deployment's event (or one from before deployment ids).
        return None;
    }
    match serde_json::from_slice::<OutboxEvent>(&message.payload) {
        Ok(event) => Some(event),
        Err(e) => {
            tracing::error!(error = %e, consumer = consumer.name(), "unreadable event; dropped");
            None
        }
    }
}

/// Handles one delivered message and acks it, or leaves it for JetStream to redeliver.
async fn handle_message(
    state: &AppState,
    bus: &NatsBus,
    consumer: Consumer,
    message: async_nats::jetstream::Message,
) {
    let Some(event) = ours_to_handle(bus, consumer, &message) else {
        let _ = message.ack().await;
        return;
    };
    match handle(state, consumer, &event).await {
        Ok(()) => {
            let _ = message.ack().await;
        }
        Err(e) => {
            tracing::warn!(error = %e, consumer = consumer.name(), outbox_id = event.outbox_id, "consumer failed; JetStream will redeliver");
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
            // The messages already here are handled as one batch (up to CONSUMER_BATCH), and a
            // few batches at once: handlers are idempotent and independent per booking.
            // Webhooks keep their order, one batch at a time.
            messages
                .ready_chunks(CONSUMER_BATCH)
                .map(Ok)
                .try_for_each_concurrent(consumer.concurrency(), |chunk| {
                    let (state, bus) = (&state, &bus);
                    async move {
                        let mut batch = Vec::with_capacity(chunk.len());
                        let mut failed = None;
                        for message in chunk {
                            match message {
                                Ok(m) => batch.push(m),
                                Err(e) => failed = Some(anyhow::anyhow!(e)),
                            }
                        }
                        handle_messages(state, bus, consumer, batch).await;
                        failed.map_or(Ok(()), Err)
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
