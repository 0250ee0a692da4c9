//! The embedded default's hold store: a map per show behind a mutex. Expiry is checked on every
//! access against the clock, so an expired hold is gone for everyone at the same instant.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};

use super::{new_hold_id, HoldOutcome, HoldRequest, SeatHold};

#[derive(Debug, Clone)]
struct Entry {
    user_id: i64,
    expires_at: DateTime<Utc>,
}

/// In-process holds: show id → seat label → hold.
#[derive(Clone, Default)]
pub struct MemoryHolds {
    shows: Arc<Mutex<HashMap<i64, HashMap<String, Entry>>>>,
}

impl MemoryHolds {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<i64, HashMap<String, Entry>>> {
        // A panic while holding the lock cannot leave the map half-updated (every update is a
        // single insert or remove), so a poisoned lock is still safe to use.
        self.shows.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drops every hold, as a restarted process would (used by the tests that prove the
    /// database, not the hold store, decides every sale).
    pub fn forget_all(&self) {
        self.lock().clear();
    }

    pub fn hold(&self, req: &HoldRequest<'_>) -> HoldOutcome {
        let now = Utc::now();
        let mut shows = self.lock();
        let seats = shows.entry(req.show_id).or_default();
        seats.retain(|_, e| e.expires_at > now);
        let locked: Vec<String> = req
            .seats
            .iter()
            .filter(|s| seats.get(*s).is_some_and(|e| e.user_id != req.user_id))
            .cloned()
            .collect();
        if !locked.is_empty() {
            return HoldOutcome::Locked { seats: locked };
        }
        let held = seats.values().filter(|e| e.user_id == req.user_id).count() as u32;
        let new: Vec<&String> = req
            .seats
            .iter()
            .filter(|s| !seats.contains_key(*s))
            .collect();
        if held + new.len() as u32 + req.bought > req.cap {
            return HoldOutcome::CapExceeded {
                held,
                bought: req.bought,
            };
        }
        let expires_at = now + chrono::Duration::seconds(i64::from(req.hold_seconds));
        for seat in new {
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
        HoldOutcome::Held {
            hold_id: new_hold_id(),
            expires_at: soonest,
        }
    }

    pub fn release(&self, show_id: i64, user_id: i64, seats: &[String]) -> Vec<String> {
        let now = Utc::now();
        let mut shows = self.lock();
        let Some(held) = shows.get_mut(&show_id) else {
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

    pub fn holders(&self, show_id: i64, seats: &[String]) -> Vec<Option<SeatHold>> {
        let now = Utc::now();
        let shows = self.lock();
        let held = shows.get(&show_id);
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
        let shows = self.lock();
        shows
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
