//! The embedded default's hold store: a map per show behind a mutex. Expiry is checked on every
//! access against the clock, so an expired hold is gone for everyone at the same instant.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};

use super::feed::{initial_version, FeedEvent, FeedMessage, SeatChange, SeatFeed};
use super::{new_hold_id, HoldOutcome, HoldRequest, SeatHold};
use crate::domain::InventoryStatus;

#[derive(Debug, Clone)]
struct Entry {
    user_id: i64,
    expires_at: DateTime<Utc>,
}

/// In-process holds: show id → seat label → hold, and each show's feed version.
#[derive(Clone, Default)]
pub struct MemoryHolds {
    inner: Arc<Mutex<Inner>>,
    feed: SeatFeed,
}

#[derive(Default)]
struct Inner {
    shows: HashMap<i64, HashMap<String, Entry>>,
    versions: HashMap<i64, u64>,
    /// Sold and blocked seats of each show, as announced.
    sold: HashMap<i64, HashSet<String>>,
    /// Seats bought, by (show, user), as announced.
    bought: HashMap<(i64, i64), u32>,
}

impl Inner {
    /// Keeps announced sales, refunds and blocks (and the buyer's count of seats bought);
    /// returns them as feed changes.
    fn record(
        &mut self,
        show_id: i64,
        changes: &[(String, InventoryStatus)],
        buyer: Option<i64>,
    ) -> Vec<SeatChange> {
        let sold = self.sold.entry(show_id).or_default();
        let mut delta = 0i64;
        for (label, status) in changes {
            match status {
                InventoryStatus::Available => {
                    sold.remove(label);
                    delta -= 1;
                }
                InventoryStatus::Sold => {
                    sold.insert(label.clone());
                    delta += 1;
                }
                InventoryStatus::Blocked => {
                    sold.insert(label.clone());
                }
            }
        }
        if let Some(buyer) = buyer {
            let count = self.bought.entry((show_id, buyer)).or_default();
            *count = u32::try_from((i64::from(*count) + delta).max(0)).unwrap_or(u32::MAX);
        }
        changes
            .iter()
            .map(|(label, status)| SeatChange::Recorded {
                label: label.clone(),
                status: *status,
            })
            .collect()
    }

    /// Removes those of `seats` that `user_id` holds; returns their labels.
    fn unhold(&mut self, show_id: i64, user_id: i64, seats: &[String]) -> Vec<String> {
        let now = Utc::now();
        let Some(held) = self.shows.get_mut(&show_id) else {
            return vec![];
        };
        let mut released = Vec::new();
        for seat in seats {
            if held
                .get(seat)
                .is_some_and(|e| e.user_id == user_id && e.expires_at > now)
            {
                held.remove(seat);
                released.push(seat.clone());
            }
        }
        released
    }

    /// Numbers `changes` as the show's next version and sends them, under the store's lock so
    /// versions go out in the order the changes were made.
    fn announce(&mut self, feed: &SeatFeed, show_id: i64, changes: Vec<SeatChange>) {
        if changes.is_empty() {
            return;
        }
        let version = self
            .versions
            .entry(show_id)
            .and_modify(|v| *v += 1)
            .or_insert_with(initial_version);
        feed.send(FeedEvent::Message(Arc::new(FeedMessage {
            show_id,
            version: *version,
            changes,
        })));
    }
}

impl MemoryHolds {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the map half-updated (every update is a
        // single insert or remove), so a poisoned lock is still safe to use.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn feed(&self) -> &SeatFeed {
        &self.feed
    }

    pub fn version(&self, show_id: i64) -> u64 {
        self.lock().versions.get(&show_id).copied().unwrap_or(0)
    }

    pub fn announce(
        &self,
        show_id: i64,
        changes: &[(String, InventoryStatus)],
        buyer: Option<i64>,
    ) {
        let mut inner = self.lock();
        let changes = inner.record(show_id, changes, buyer);
        inner.announce(&self.feed, show_id, changes);
    }

    /// A booking's seats sold and the buyer's holds on them released, as one change.
    pub fn sell(&self, show_id: i64, buyer: i64, seats: &[String]) {
        let sold: Vec<_> = seats
            .iter()
            .map(|label| (label.clone(), InventoryStatus::Sold))
            .collect();
        let mut inner = self.lock();
        let mut changes = inner.record(show_id, &sold, Some(buyer));
        changes.extend(
            inner
                .unhold(show_id, buyer, seats)
                .into_iter()
                .map(|label| SeatChange::Unheld { label }),
        );
        inner.announce(&self.feed, show_id, changes);
    }

    pub fn set_bought(&self, show_id: i64, user_id: i64, bought: u32) {
        self.lock().bought.insert((show_id, user_id), bought);
    }

    /// Ends the due holds among `candidates`; returns how many it ended.
    pub fn expire(&self, show_id: i64, candidates: &[(String, i64, i64)]) -> usize {
        let now_ms = Utc::now().timestamp_millis();
        let mut inner = self.lock();
        let mut changes = Vec::new();
        let mut ended = 0;
        if let Some(seats) = inner.shows.get_mut(&show_id) {
            for (label, user_id, expires_ms) in candidates {
                if *expires_ms > now_ms {
                    continue;
                }
                match seats.get(label) {
                    // Held again since: that hold was announced and stands.
                    Some(e) if e.expires_at.timestamp_millis() > now_ms => continue,
                    Some(e)
                        if e.user_id != *user_id
                            || e.expires_at.timestamp_millis() != *expires_ms =>
                    {
                        continue
                    }
                    Some(_) => {
                        seats.remove(label);
                        ended += 1;
                    }
                    None => {}
                }
                changes.push(SeatChange::Unheld {
                    label: label.clone(),
                });
            }
        } else {
            changes.extend(
                candidates
                    .iter()
                    .filter(|c| c.2 <= now_ms)
                    .map(|c| SeatChange::Unheld { label: c.0.clone() }),
            );
        }
        inner.announce(&self.feed, show_id, changes);
        ended
    }

    /// Drops every hold, as a restarted process would (used by the tests that prove the
    /// database, not the hold store, decides every sale).
    pub fn forget_all(&self) {
        let mut inner = self.lock();
        inner.shows.clear();
        inner.versions.clear();
        inner.sold.clear();
        inner.bought.clear();
    }

    pub fn hold(&self, req: &HoldRequest<'_>) -> HoldOutcome {
        let now = Utc::now();
        let mut inner = self.lock();
        let bought = inner
            .bought
            .get(&(req.show_id, req.user_id))
            .copied()
            .unwrap_or(0);
        let sold: Vec<String> = inner.sold.get(&req.show_id).map_or_else(Vec::new, |sold| {
            req.seats
                .iter()
                .filter(|s| sold.contains(*s))
                .cloned()
                .collect()
        });
        let seats = inner.shows.entry(req.show_id).or_default();
        let mut changes: Vec<SeatChange> = Vec::new();
        seats.retain(|label, e| {
            let live = e.expires_at > now;
            if !live {
                changes.push(SeatChange::Unheld {
                    label: label.clone(),
                });
            }
            live
        });
        let locked: Vec<String> = req
            .seats
            .iter()
            .filter(|s| {
                seats.get(*s).is_some_and(|e| e.user_id != req.user_id) || sold.contains(*s)
            })
            .cloned()
            .collect();
        if !locked.is_empty() {
            inner.announce(&self.feed, req.show_id, changes);
            return HoldOutcome::Locked { seats: locked };
        }
        let held = seats.values().filter(|e| e.user_id == req.user_id).count() as u32;
        let new: Vec<&String> = req
            .seats
            .iter()
            .filter(|s| !seats.contains_key(*s))
            .collect();
        if held + new.len() as u32 + bought > req.cap {
            inner.announce(&self.feed, req.show_id, changes);
            return HoldOutcome::CapExceeded { held, bought };
        }
        let expires_at = now + chrono::Duration::seconds(i64::from(req.hold_seconds));
        for seat in new {
            changes.push(SeatChange::Held {
                label: seat.clone(),
                user_id: req.user_id,
                expires_ms: expires_at.timestamp_millis(),
            });
            seats.insert(
                seat.clone(),
                Entry {
                    user_id: req.user_id,
                    expires_at,
                },
            );
        }
        let soonest = req
            .seats
            .iter()
            .filter_map(|s| seats.get(s).map(|e| e.expires_at))
            .min()
            .unwrap_or(expires_at);
        inner.announce(&self.feed, req.show_id, changes);
        HoldOutcome::Held {
            hold_id: new_hold_id(),
            expires_at: soonest,
        }
    }

    pub fn release(&self, show_id: i64, user_id: i64, seats: &[String]) -> Vec<String> {
        let mut inner = self.lock();
        let released = inner.unhold(show_id, user_id, seats);
        let changes = released
            .iter()
            .map(|label| SeatChange::Unheld {
                label: label.clone(),
            })
            .collect();
        inner.announce(&self.feed, show_id, changes);
        released
    }

    pub fn holders(&self, show_id: i64, seats: &[String]) -> Vec<Option<SeatHold>> {
        let now = Utc::now();
        let inner = self.lock();
        let held = inner.shows.get(&show_id);
        seats
            .iter()
            .map(|s| {
                held.and_then(|h| h.get(s))
                    .filter(|e| e.expires_at > now)
                    .map(|e| SeatHold {
                        user_id: e.user_id,
                        expires_at: e.expires_at,
                    })
            })
            .collect()
    }

    pub fn holds_of_show(&self, show_id: i64) -> HashMap<String, SeatHold> {
        let now = Utc::now();
        let inner = self.lock();
        inner
            .shows
            .get(&show_id)
            .map(|h| {
                h.iter()
                    .filter(|(_, e)| e.expires_at > now)
                    .map(|(s, e)| {
                        (
                            s.clone(),
                            SeatHold {
                                user_id: e.user_id,
                                expires_at: e.expires_at,
                            },
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}
