//! Live seat availability at stadium scale (SPEC §5, §10): each node keeps every show it is asked
//! about in memory, current from the seat feed the hold store numbers and publishes (holds,
//! releases, expiries, sales, refunds, cancelled shows), and serves from it:
//!
//! - `GET /api/v1/shows/{id}/layout`: the immutable seat map with a stable seat index;
//! - `GET /api/v1/shows/{id}/availability`: every seat's status in 2 bits, versioned;
//! - `GET /api/v1/shows/{id}/seats/stream`: server-sent events, a snapshot then deltas;
//! - `GET /api/v1/shows/{id}/seats`: the per-seat list, from the same state.
//!
//! The database stays the arbiter of sales; the state is built from it and the hold store when
//! a show is first asked for, rebuilt when a version is skipped or the feed was interrupted, and
//! repaired periodically (a flushed hold store, an announcement lost to a crash).

pub mod live;
pub mod map;
mod routes;
pub mod store;
pub mod stream;

pub use routes::{held_count, router, seat_list};

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, watch};

use crate::domain::ShowStatus;
use crate::error::{ApiError, ApiResult};
use crate::holds::{FeedEvent, FeedMessage, HoldStore};
use crate::store::Db;
use live::ShowLive;
use map::SeatMap;

/// Shows one node keeps in memory at most; the least recently read without stream clients goes.
const MAX_SHOWS: usize = 256;
/// Messages kept for a show while its state is being built.
const MAX_BUFFERED: usize = 100_000;
/// How often deltas go out to stream clients (changes within it are coalesced).
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

struct Entry {
    live: Arc<ShowLive>,
    used: Instant,
}

#[derive(Default)]
struct Registry {
    shows: HashMap<i64, Entry>,
    /// Shows being built, with the messages that arrived meanwhile.
    loading: HashMap<i64, Vec<Arc<FeedMessage>>>,
}

/// This node's live availability of every show it was asked about.
pub struct Availability {
    db: Db,
    holds: HoldStore,
    registry: Mutex<Registry>,
    /// One build at a time, so a rush on a show builds it once.
    building: tokio::sync::Mutex<()>,
    feed: Mutex<Option<broadcast::Receiver<FeedEvent>>>,
    repair_every: Duration,
}

impl Availability {
    /// Subscribes to the hold store's feed at once, so no change made from now on is missed.
    pub fn new(db: Db, holds: HoldStore, repair_every: Duration) -> Arc<Self> {
        let feed = holds.feed().subscribe();
        Arc::new(Self {
            db,
            holds,
            registry: Mutex::default(),
            building: tokio::sync::Mutex::new(()),
            feed: Mutex::new(Some(feed)),
            repair_every,
        })
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The live state of a show that is (or was) on sale; 404 for a draft or no show.
    pub async fn show(&self, show_id: i64) -> ApiResult<Arc<ShowLive>> {
        if let Some(live) = self.cached(show_id) {
            return Ok(live);
        }
        let _building = self.building.lock().await;
        if let Some(live) = self.cached(show_id) {
            return Ok(live);
        }
        let show = store::map_show(&self.db, show_id)
            .await?
            .filter(|s| s.status != ShowStatus::Draft)
            .ok_or_else(|| ApiError::show_not_found(show_id))?;
        self.registry().loading.insert(show_id, Vec::new());
        let built = self.build(&show).await;
        let mut registry = self.registry();
        let buffered = registry.loading.remove(&show_id).unwrap_or_default();
        let live = Arc::new(built?);
        for message in &buffered {
            live.apply(message);
        }
        if registry.shows.len() >= MAX_SHOWS {
            evict(&mut registry);
        }
        registry.shows.insert(
            show_id,
            Entry {
                live: live.clone(),
                used: Instant::now(),
            },
        );
        Ok(live)
    }

    /// How many shows this node keeps, and how many stream clients follow them.
    pub fn stream_clients(&self) -> (usize, usize) {
        let registry = self.registry();
        let clients = registry.shows.values().map(|e| e.live.subscribers()).sum();
        (registry.shows.len(), clients)
    }

    /// The show's state if this node already keeps it (no database read, no wait).
    pub fn cached_show(&self, show_id: i64) -> Option<Arc<ShowLive>> {
        self.cached(show_id)
    }

    fn cached(&self, show_id: i64) -> Option<Arc<ShowLive>> {
        let mut registry = self.registry();
        let entry = registry.shows.get_mut(&show_id)?;
        entry.used = Instant::now();
        Some(entry.live.clone())
    }

    async fn build(&self, show: &store::MapShow) -> ApiResult<ShowLive> {
        // The version first: everything read after it is at least that recent, and the
        // messages buffered meanwhile are applied on top.
        let version = self.holds.version(show.show_id).await?;
        let sections = store::show_sections(&self.db, show.show_id).await?;
        let seats = store::venue_seats(&self.db, show.venue_id).await?;
        let recorded = store::unavailable_seats(&self.db, show.show_id).await?;
        let holds = self.holds.holds_of_show(show.show_id).await?;
        let map = Arc::new(SeatMap::build(show, sections, seats));
        Ok(ShowLive::new(map, version, &recorded, &holds))
    }

    /// Rebuilds a show's state from the stores, keeping what changed while they were read.
    async fn repair(&self, live: &ShowLive) -> ApiResult<()> {
        live.begin_repair();
        let show_id = live.map.show_id;
        let version = self.holds.version(show_id).await?;
        let recorded = store::unavailable_seats(&self.db, show_id).await?;
        let holds = self.holds.holds_of_show(show_id).await?;
        live.repair(version, &recorded, &holds);
        Ok(())
    }

    fn dispatch(&self, event: FeedEvent) {
        match event {
            FeedEvent::Message(message) => {
                let mut registry = self.registry();
                if let Some(entry) = registry.shows.get(&message.show_id) {
                    entry.live.apply(&message);
                } else if let Some(buffer) = registry.loading.get_mut(&message.show_id) {
                    if buffer.len() < MAX_BUFFERED {
                        buffer.push(message);
                    }
                }
            }
            FeedEvent::Resync => self.mark_all_stale(),
        }
    }

    fn mark_all_stale(&self) {
        for live in self.all() {
            live.mark_stale();
        }
    }

    fn all(&self) -> Vec<Arc<ShowLive>> {
        self.registry()
            .shows
            .values()
            .map(|e| e.live.clone())
            .collect()
    }

    /// Runs the node's availability: applies the feed, flushes deltas every
    /// [`FLUSH_EVERY`], asks the hold store to end holds that are due, rebuilds stale states
    /// and repairs every state every `repair_every`, until shutdown.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let Some(mut feed) = self.feed.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return;
        };
        let mut flush = tokio::time::interval(FLUSH_EVERY);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut repair = tokio::time::interval(self.repair_every);
        repair.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        repair.tick().await;
        loop {
            tokio::select! {
                event = feed.recv() => match event {
                    Ok(event) => self.dispatch(event),
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "availability fell behind the seat feed; rebuilding");
                        self.mark_all_stale();
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = flush.tick() => self.tick(),
                _ = repair.tick() => {
                    for live in self.all() {
                        live.mark_stale();
                    }
                }
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }

    /// One flush: deltas out, due expiries asked for, stale states rebuilt (in the background,
    /// so the feed keeps flowing).
    fn tick(self: &Arc<Self>) {
        let now_ms = chrono::Utc::now().timestamp_millis();
        for live in self.all() {
            live.flush();
            let due = live.due_expiries(now_ms);
            if !due.is_empty() {
                let holds = self.holds.clone();
                let show_id = live.map.show_id;
                tokio::spawn(async move {
                    match holds.expire(show_id, &due).await {
                        Ok(ended) => metrics::counter!("boxoffice_holds_expired_total")
                            .increment(ended as u64),
                        Err(e) => {
                            tracing::warn!(error = %e, show_id, "cannot announce hold expiries; will retry");
                        }
                    }
                });
            }
            if live.take_stale() {
                let this = self.clone();
                tokio::spawn(async move {
                    if let Err(e) = this.repair(&live).await {
                        tracing::warn!(error = ?e, show_id = live.map.show_id, "cannot rebuild availability; will retry");
                        live.repair_failed();
                    }
                });
            }
        }
    }
}

/// Drops the least recently read show that no stream follows.
fn evict(registry: &mut Registry) {
    let oldest = registry
        .shows
        .iter()
        .filter(|(_, e)| e.live.subscribers() == 0)
        .min_by_key(|(_, e)| e.used)
        .map(|(id, _)| *id);
    if let Some(id) = oldest {
        registry.shows.remove(&id);
    }
}
