//! Seat holds (SPEC §6): a visitor's seats are kept for them for the show's `hold_seconds` while
//! they pay. One interface, two stores passing the same tests: Redis in production (atomic Lua
//! scripts, expiry by Redis's clock, every key of a show under one hash tag) and an in-process
//! store for the embedded default.
//!
//! Holds are advisory: the database transaction of a booking is the arbiter of every sale, so a
//! lost hold (a flushed Redis) can never sell a seat twice (`tests/integration/booking.rs`,
//! `losing_every_hold_never_sells_a_seat_twice`).

mod connection;
mod feed;
mod memory;
mod redis_store;
mod routes;

pub use routes::router;

use std::collections::HashMap;

use chrono::{DateTime, Utc};

pub use connection::{RedisConn, RedisTarget};
pub use feed::{FeedEvent, FeedMessage, SeatChange, SeatFeed};
pub use memory::MemoryHolds;
pub use redis_store::RedisHolds;

/// Who holds a seat, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatHold {
    pub user_id: i64,
    pub expires_at: DateTime<Utc>,
}

/// A request to hold `seats` of `show_id` for `user_id`.
#[derive(Debug, Clone)]
pub struct HoldRequest<'a> {
    pub show_id: i64,
    pub user_id: i64,
    pub seats: &'a [String],
    pub hold_seconds: u32,
    /// The show's per-user cap: seats held plus seats bought (the store keeps the seats each
    /// user bought, from the sales announced to it).
    pub cap: u32,
}

/// What a hold request led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldOutcome {
    /// Every seat is now held by the caller; `expires_at` is the earliest expiry among them
    /// (seats the caller already held keep their expiry).
    Held {
        hold_id: String,
        expires_at: DateTime<Utc>,
    },
    /// Nothing was held: these seats are held by someone else, or sold.
    Locked { seats: Vec<String> },
    /// Nothing was held: the cap would be exceeded.
    CapExceeded { held: u32, bought: u32 },
}

/// A failure of the hold store itself (Redis unreachable).
#[derive(Debug, thiserror::Error)]
#[error("hold store unavailable: {0}")]
pub struct HoldStoreError(pub String);

impl From<redis::RedisError> for HoldStoreError {
    fn from(e: redis::RedisError) -> Self {
        Self(e.to_string())
    }
}

/// The hold store of a deployment.
#[derive(Clone)]
pub enum HoldStore {
    Redis(RedisHolds),
    Memory(MemoryHolds),
}

impl HoldStore {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Redis(_) => "redis",
            Self::Memory(_) => "memory",
        }
    }

    /// Holds every seat or none, checking locks and the cap in the same atomic step.
    pub async fn hold(&self, req: &HoldRequest<'_>) -> Result<HoldOutcome, HoldStoreError> {
        match self {
            Self::Redis(s) => s.hold(req).await,
            Self::Memory(s) => Ok(s.hold(req)),
        }
    }

    /// Releases those of `seats` that `user_id` holds; returns the released labels.
    pub async fn release(
        &self,
        show_id: i64,
        user_id: i64,
        seats: &[String],
    ) -> Result<Vec<String>, HoldStoreError> {
        match self {
            Self::Redis(s) => s.release(show_id, user_id, seats).await,
            Self::Memory(s) => Ok(s.release(show_id, user_id, seats)),
        }
    }

    /// The live hold of each of `seats` (`None` where nobody holds it).
    pub async fn holders(
        &self,
        show_id: i64,
        seats: &[String],
    ) -> Result<Vec<Option<SeatHold>>, HoldStoreError> {
        match self {
            Self::Redis(s) => s.holders(show_id, seats).await,
            Self::Memory(s) => Ok(s.holders(show_id, seats)),
        }
    }

    /// Every live hold of a show, by seat label (without scanning the keyspace).
    pub async fn holds_of_show(
        &self,
        show_id: i64,
    ) -> Result<HashMap<String, SeatHold>, HoldStoreError> {
        match self {
            Self::Redis(s) => s.holds_of_show(show_id).await,
            Self::Memory(s) => Ok(s.holds_of_show(show_id)),
        }
    }

    /// Announces changes the database made (sales, refunds, a cancelled show) to every node,
    /// in the same numbered sequence as the holds of the show. The store also keeps them: a
    /// sold or blocked seat cannot be held, and the `buyer`'s count of seats bought (up by
    /// each seat sold, down by each one given back) is what [`Self::hold`] checks the cap with.
    pub async fn announce(
        &self,
        show_id: i64,
        changes: &[(String, crate::domain::InventoryStatus)],
        buyer: Option<i64>,
    ) -> Result<(), HoldStoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        match self {
            Self::Redis(s) => s.announce(show_id, changes, buyer).await,
            Self::Memory(s) => {
                s.announce(show_id, changes, buyer);
                Ok(())
            }
        }
    }

    /// A booking's `seats` sold to `buyer`: announced to every node and kept by the store as
    /// [`Self::announce`] does, and the buyer's holds on them released, in one atomic step (one
    /// round trip and one feed message), so every node sees the seats go from held to sold.
    pub async fn sell(
        &self,
        show_id: i64,
        buyer: i64,
        seats: &[String],
    ) -> Result<(), HoldStoreError> {
        if seats.is_empty() {
            return Ok(());
        }
        match self {
            Self::Redis(s) => s.sell(show_id, buyer, seats).await,
            Self::Memory(s) => {
                s.sell(show_id, buyer, seats);
                Ok(())
            }
        }
    }

    /// Sets the count of seats `user_id` bought for the show, from the database (the store's
    /// count is a fast copy: a lost announcement or a flushed Redis leaves it behind).
    pub async fn set_bought(
        &self,
        show_id: i64,
        user_id: i64,
        bought: u32,
    ) -> Result<(), HoldStoreError> {
        match self {
            Self::Redis(s) => s.set_bought(show_id, user_id, bought).await,
            Self::Memory(s) => {
                s.set_bought(show_id, user_id, bought);
                Ok(())
            }
        }
    }

    /// Ends the holds among `candidates` (label, holder, expiry in ms) whose time has passed
    /// and announces them; a seat someone holds again meanwhile is left alone. Every node calls
    /// this for the expiries it has seen, so an expiry is announced even if the node that made
    /// the hold is gone; the second caller finds nothing left to do. Returns how many holds
    /// this call ended (each expiry is counted once, by the node that ended it).
    pub async fn expire(
        &self,
        show_id: i64,
        candidates: &[(String, i64, i64)],
    ) -> Result<usize, HoldStoreError> {
        if candidates.is_empty() {
            return Ok(0);
        }
        match self {
            Self::Redis(s) => s.expire(show_id, candidates).await,
            Self::Memory(s) => Ok(s.expire(show_id, candidates)),
        }
    }

    /// The latest announced version of a show's seats (0 if none yet).
    pub async fn version(&self, show_id: i64) -> Result<u64, HoldStoreError> {
        match self {
            Self::Redis(s) => s.version(show_id).await,
            Self::Memory(s) => Ok(s.version(show_id)),
        }
    }

    /// The stream of seat changes of every show, as this node receives them.
    pub fn feed(&self) -> &SeatFeed {
        match self {
            Self::Redis(s) => s.feed(),
            Self::Memory(s) => s.feed(),
        }
    }

    /// Answers whether the store responds, for `/readyz`.
    pub async fn ping(&self) -> Result<(), HoldStoreError> {
        match self {
            Self::Redis(s) => s.ping().await,
            Self::Memory(_) => Ok(()),
        }
    }
}

/// A new hold id.
pub fn new_hold_id() -> String {
    format!("hold_{}", uuid::Uuid::new_v4().simple())
}
