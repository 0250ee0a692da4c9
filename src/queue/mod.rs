//! The waiting room (SPEC §10, issue 12): per show, turned on by its organiser.
//!
//! - Joins before the room opens (`queue.opens_at`) form a pre-queue that is shuffled once, at
//!   opening, by a seeded permutation anyone can recompute ([`shuffle`]); the seed's SHA-256 is
//!   shown before opening, the seed after. Joins after opening are FIFO. One place per user.
//! - One admission clock per show in the line's store ([`line`]): `admit_per_minute` spread
//!   evenly (one every `60 / rate` seconds), the same on every node.
//! - An admitted user reads a signed pass ([`pass`]) valid for `pass_minutes` from the instant
//!   the clock reached their place; `reserve` and `book` for that show require it
//!   (`X-Queue-Pass`). **No-shows do not stall the line**: the clock admits by time, not by
//!   freed capacity, so a place whose owner never comes simply passes; its pass expires unused
//!   and its owner, if they come back, may join again at the back.

pub mod line;
pub mod pass;
mod routes;
pub mod shuffle;

pub use routes::router;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::catalog::time::local_rfc3339_millis;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::inventory::SaleShow;
use line::{Line, Reading, RoomConfig, Step};
use pass::PassKeys;

/// The deployment's waiting rooms: the lines and the pass keys.
pub struct WaitingRoom {
    pub line: Line,
    pub keys: PassKeys,
    /// Per show (never per waiter): the line as last read from its store, with the store's
    /// clock offset, for status reads that bring their queue token (see [`Self::place_by_token`]).
    recent: std::sync::Mutex<HashMap<i64, Recent>>,
}

struct Recent {
    reading: Reading,
    /// The store's clock minus this node's, in ms, when it was read.
    offset_ms: i64,
    read_at: std::time::Instant,
}

/// How old a line read may be for a status read answered from it.
const RECENT_FOR: std::time::Duration = std::time::Duration::from_millis(100);
/// Shows whose line a node keeps (the least recently read goes first).
const MAX_RECENT: usize = 1024;

/// A user's place, as `join` and `status` answer it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Place {
    pub show_id: i64,
    /// `waiting`, `admitted` or `expired`.
    pub state: &'static str,
    /// 1-based, stable once assigned; `null` in the pre-queue until the room opens.
    pub position: Option<u64>,
    /// People before the caller who are not admitted yet.
    pub ahead: Option<u64>,
    pub estimated_wait_seconds: u64,
    pub queue_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass_expires_at: Option<String>,
    pub admit_per_minute: u32,
    /// When the room opens (or opened); joins before it were shuffled at opening.
    pub opens_at: Option<String>,
    pub pre_queue: bool,
    pub fairness: Fairness,
}

/// What lets anyone audit the pre-queue's order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Fairness {
    /// SHA-256 of the seed, shown from the first join.
    pub seed_sha256: String,
    /// The seed itself, once the room has opened (hex).
    pub seed: Option<String>,
    /// How many joined before opening.
    pub pre_queue_size: Option<u64>,
    pub algorithm: &'static str,
}

/// The organiser's view of the line.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LineStats {
    pub show_id: i64,
    pub enabled: bool,
    pub open: bool,
    pub admit_per_minute: u32,
    pub opens_at: Option<String>,
    pub pass_minutes: i32,
    pub joined: u64,
    pub admitted: u64,
    pub waiting: u64,
    pub estimated_drain_seconds: u64,
    pub fairness: Fairness,
}

const ALGORITHM: &str =
    "place = feistel_sha256(seed, pre_queue_size, arrival) + 1, see docs/ARCHITECTURE.md";

/// The line's length and admissions as of `reading`, for `/metrics`: updated on every join,
/// status read and organiser read (a waiting room with visitors is read several times a second).
fn record_line(show_id: i64, reading: &Reading) {
    let admitted = reading.admitted().min(reading.joined);
    let show = show_id.to_string();
    metrics::gauge!("boxoffice_queue_waiting", "show_id" => show.clone())
        .set((reading.joined - admitted) as f64);
    metrics::gauge!("boxoffice_queue_admitted", "show_id" => show).set(admitted as f64);
}

pub fn room_config(show: &SaleShow) -> RoomConfig {
    RoomConfig {
        show_id: show.show_id,
        opens_ms: show.queue_opens_at.map(|t| t.timestamp_millis()),
        per_minute: u32::try_from(show.queue_admit_per_minute.max(1)).unwrap_or(1),
    }
}

fn instant(show: &SaleShow, ms: i64) -> Option<String> {
    DateTime::<Utc>::from_timestamp_millis(ms).map(|t| local_rfc3339_millis(t, show.tz()))
}

fn fairness(reading: &Reading) -> Fairness {
    Fairness {
        seed_sha256: shuffle::commitment(&reading.seed),
        seed: reading.pre.map(|_| hex::encode(&reading.seed)),
        pre_queue_size: reading.pre,
        algorithm: ALGORITHM,
    }
}

impl WaitingRoom {
    pub fn new(line: Line, secret: &[u8]) -> Self {
        Self {
            line,
            keys: PassKeys::new(secret),
            recent: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The caller's place from the queue token it was given (which names its arrival number,
    /// signed) and this node's read of the line at most [`RECENT_FOR`] old: no store round trip
    /// for most status reads, and nothing per waiter in memory. `None` when the token is not
    /// this user's for this show (the caller then reads the store).
    pub async fn place_by_token(
        &self,
        show: &SaleShow,
        user: i64,
        token: &str,
    ) -> ApiResult<Option<Place>> {
        if !show.queue_enabled {
            return Ok(None);
        }
        let Some(seq) = self.keys.token_seq(token, show.show_id, user) else {
            return Ok(None);
        };
        let fresh = {
            let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            recent.get(&show.show_id).and_then(|r| {
                (r.read_at.elapsed() < RECENT_FOR).then(|| {
                    let mut reading = r.reading.clone();
                    reading.now_ms = Utc::now().timestamp_millis() + r.offset_ms;
                    reading
                })
            })
        };
        let mut reading = match fresh {
            Some(reading) => reading,
            None => {
                let reading = self.line.step(&room_config(show), None, Step::Read).await?;
                let offset_ms = reading.now_ms - Utc::now().timestamp_millis();
                let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
                if recent.len() >= MAX_RECENT && !recent.contains_key(&show.show_id) {
                    if let Some(oldest) = recent
                        .iter()
                        .min_by_key(|(_, r)| r.read_at)
                        .map(|(k, _)| *k)
                    {
                        recent.remove(&oldest);
                    }
                }
                recent.insert(
                    show.show_id,
                    Recent {
                        reading: reading.clone(),
                        offset_ms,
                        read_at: std::time::Instant::now(),
                    },
                );
                reading
            }
        };
        // A place taken after this read (a join within the last 100 ms) is read from the store.
        if seq >= reading.joined {
            return Ok(None);
        }
        reading.seq = Some(seq);
        let pass_ms = i64::from(show.queue_pass_minutes.max(1)) * 60_000;
        Ok(Some(self.describe(show, user, seq, &reading, pass_ms)))
    }

    /// Joins (one place per user; a user whose pass expired unused goes to the back) or reads
    /// the caller's place.
    pub async fn place(&self, show: &SaleShow, user: i64, join: bool) -> ApiResult<Place> {
        if !show.queue_enabled {
            return Err(ApiError::invalid_state(format!(
                "Show {} has no waiting room; go straight to the seat map",
                show.show_id
            )));
        }
        let config = room_config(show);
        let step = if join { Step::Join } else { Step::Read };
        let mut reading = self.line.step(&config, Some(user), step).await?;
        let Some(mut seq) = reading.seq else {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                "You are not in this show's waiting room; join it first",
            )
            .with_details(serde_json::json!({ "show_id": show.show_id })));
        };
        let pass_ms = i64::from(show.queue_pass_minutes.max(1)) * 60_000;
        if join {
            if let Some(p) = reading.position(seq) {
                if reading.now_ms > reading.admitted_at(p) + pass_ms {
                    reading = self
                        .line
                        .step(&config, Some(user), Step::Rejoin { old: seq })
                        .await?;
                    seq = reading.seq.unwrap_or(seq);
                }
            }
        }
        record_line(show.show_id, &reading);
        Ok(self.describe(show, user, seq, &reading, pass_ms))
    }

    fn describe(
        &self,
        show: &SaleShow,
        user: i64,
        seq: u64,
        reading: &Reading,
        pass_ms: i64,
    ) -> Place {
        let now = reading.now_ms;
        let position = reading.position(seq);
        let admitted = reading.admitted();
        let (state, wait, pass) = match position {
            None => {
                let opens = show.queue_opens_at.map_or(now, |t| t.timestamp_millis());
                ("waiting", (opens - now).max(0), None)
            }
            Some(p) => {
                let at = reading.admitted_at(p);
                if at > now {
                    ("waiting", at - now, None)
                } else if now <= at + pass_ms {
                    ("admitted", 0, Some(at + pass_ms))
                } else {
                    ("expired", 0, None)
                }
            }
        };
        Place {
            show_id: show.show_id,
            state,
            position,
            ahead: position.map(|p| (p - 1).saturating_sub(admitted)),
            estimated_wait_seconds: u64::try_from(wait).unwrap_or(0).div_ceil(1000),
            queue_token: self.keys.queue_token(show.show_id, user, seq),
            pass: pass.map(|exp| self.keys.pass(show.show_id, user, exp)),
            pass_expires_at: pass.and_then(|exp| instant(show, exp)),
            admit_per_minute: room_config(show).per_minute,
            opens_at: show
                .queue_opens_at
                .map(|t| local_rfc3339_millis(t, show.tz())),
            pre_queue: reading.pre.is_some_and(|n| seq < n) || reading.pre.is_none(),
            fairness: fairness(reading),
        }
    }

    /// The organiser's figures.
    pub async fn stats(&self, show: &SaleShow) -> ApiResult<LineStats> {
        let config = room_config(show);
        let reading = self.line.step(&config, None, Step::Read).await?;
        record_line(show.show_id, &reading);
        let admitted = if reading.pre.is_some() {
            reading.admitted().min(reading.joined)
        } else {
            0
        };
        let waiting = reading.joined - admitted;
        Ok(LineStats {
            show_id: show.show_id,
            enabled: show.queue_enabled,
            open: reading.pre.is_some(),
            admit_per_minute: config.per_minute,
            opens_at: show
                .queue_opens_at
                .map(|t| local_rfc3339_millis(t, show.tz())),
            pass_minutes: show.queue_pass_minutes,
            joined: reading.joined,
            admitted,
            waiting,
            estimated_drain_seconds: (waiting * 60).div_ceil(u64::from(config.per_minute)),
            fairness: fairness(&reading),
        })
    }

    /// `Ok` unless the show's room is on and `pass` does not admit `user` now (for `book`,
    /// `grace_ms` after the pass expired still counts: the seats were held with it).
    pub fn check_pass(
        &self,
        show: &SaleShow,
        user: i64,
        pass: Option<&str>,
        grace_ms: i64,
    ) -> ApiResult<()> {
        if !show.queue_enabled {
            return Ok(());
        }
        let now = Utc::now().timestamp_millis();
        self.keys
            .check(pass, show.show_id, user, now, grace_ms)
            .map_err(|refusal| {
                ApiError::new(ErrorCode::QueuePassRequired, refusal.message()).with_details(
                    serde_json::json!({ "show_id": show.show_id, "reason": refusal.reason() }),
                )
            })
    }
}

/// The `X-Queue-Pass` header of a request.
pub fn pass_header(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers.get("x-queue-pass").and_then(|v| v.to_str().ok())
}
