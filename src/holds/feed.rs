//! The seat feed: every change of a show's seats (a hold, a release, an expiry, a sale, a refund,
//! a cancelled show), numbered per show and delivered to every node.
//!
//! The hold store is the sequencer. On Redis, each hold, release and expiry script increments
//! the show's version and publishes its changes in the same atomic step, so the version order is
//! the order the changes happened in and no change can be made without being announced; sales
//! and refunds are announced through the same counter after their commit. Every node subscribes
//! to the deployment's channel. In the embedded default the in-process store does the same under
//! its lock.
//!
//! A version starts at the current time in milliseconds times 1,000 when a show has none (its
//! first change, or after the hold store lost its data), so versions only ever grow, also across
//! a flushed Redis or a restarted embedded node.

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::domain::InventoryStatus;

/// One change of a seat, by its label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeatChange {
    /// Held by `user_id` until `expires_ms` (Unix milliseconds).
    Held {
        label: String,
        user_id: i64,
        expires_ms: i64,
    },
    /// Its hold ended (released, expired, or bought: the sale comes as its own change).
    Unheld { label: String },
    /// The database's record of the seat changed: sold, back on sale, or blocked.
    Recorded {
        label: String,
        status: InventoryStatus,
    },
}

/// The changes one step made to a show, with the show's version after them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedMessage {
    pub show_id: i64,
    pub version: u64,
    pub changes: Vec<SeatChange>,
}

/// What a node's feed delivers.
#[derive(Debug, Clone)]
pub enum FeedEvent {
    Message(Arc<FeedMessage>),
    /// Changes may have been missed (the subscription was re-made): rebuild what is derived
    /// from the feed.
    Resync,
}

/// This node's end of the feed: a bounded broadcast; a receiver that falls behind by more than
/// its capacity is told so (`Lagged`) and resynchronises.
#[derive(Clone)]
pub struct SeatFeed {
    tx: broadcast::Sender<FeedEvent>,
}

/// Feed events a slow receiver may fall behind by before it must resynchronise.
const FEED_CAPACITY: usize = 16 * 1024;

impl Default for SeatFeed {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(FEED_CAPACITY);
        Self { tx }
    }
}

impl SeatFeed {
    pub fn subscribe(&self) -> broadcast::Receiver<FeedEvent> {
        self.tx.subscribe()
    }

    pub(crate) fn send(&self, event: FeedEvent) {
        // No receiver (a one-shot command): nothing to tell.
        let _ = self.tx.send(event);
    }
}

/// The first version of a show without one: now in milliseconds times 1,000.
pub(crate) fn initial_version() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0) * 1000
}

/// The one-letter code of a recorded status in the wire form.
pub(crate) fn recorded_code(status: InventoryStatus) -> &'static str {
    match status {
        InventoryStatus::Available => "a",
        InventoryStatus::Sold => "s",
        InventoryStatus::Blocked => "b",
    }
}

/// Parses the wire form the Redis scripts publish:
/// `{"s": show, "v": "version", "c": [[label, "h", user, "expires_ms"], [label, "u"],
/// [label, "s" | "a" | "b"]]}`.
pub(crate) fn parse_message(payload: &str) -> Option<FeedMessage> {
    let value: serde_json::Value = serde_json::from_str(payload).ok()?;
    let number = |v: &serde_json::Value| -> Option<i64> {
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    };
    let show_id = number(&value["s"])?;
    let version = u64::try_from(number(&value["v"])?).ok()?;
    let mut changes = Vec::new();
    for change in value["c"].as_array()? {
        let label = change[0].as_str()?.to_owned();
        changes.push(match change[1].as_str()? {
            "h" => SeatChange::Held {
                label,
                user_id: number(&change[2])?,
                expires_ms: number(&change[3])?,
            },
            "u" => SeatChange::Unheld { label },
            "s" => SeatChange::Recorded {
                label,
                status: InventoryStatus::Sold,
            },
            "a" => SeatChange::Recorded {
                label,
                status: InventoryStatus::Available,
            },
            "b" => SeatChange::Recorded {
                label,
                status: InventoryStatus::Blocked,
            },
            _ => return None,
        });
    }
    Some(FeedMessage {
        show_id,
        version,
        changes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_change_and_large_versions() {
        let msg = parse_message(
            r#"{"s":7,"v":"1764612345678001","c":[["A1","h","42","1764612945678"],["A2","u"],["B1","s"],["B2","a"],["C1","b"]]}"#,
        )
        .expect("parses");
        assert_eq!(msg.show_id, 7);
        assert_eq!(msg.version, 1_764_612_345_678_001);
        assert_eq!(
            msg.changes,
            vec![
                SeatChange::Held {
                    label: "A1".into(),
                    user_id: 42,
                    expires_ms: 1_764_612_945_678
                },
                SeatChange::Unheld { label: "A2".into() },
                SeatChange::Recorded {
                    label: "B1".into(),
                    status: InventoryStatus::Sold
                },
                SeatChange::Recorded {
                    label: "B2".into(),
                    status: InventoryStatus::Available
                },
                SeatChange::Recorded {
                    label: "C1".into(),
                    status: InventoryStatus::Blocked
                },
            ]
        );
        assert!(parse_message(r#"{"s":7,"v":"1","c":[["A1","x"]]}"#).is_none());
        assert!(parse_message("not json").is_none());
    }

    #[test]
    fn initial_versions_grow_with_time() {
        let a = initial_version();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(initial_version() > a + 1000);
    }
}
