//! The line itself: arrival numbers, the pre-queue frozen at opening, and one admission clock
//! per show, on Redis for a deployment (every node reads the same clock, Redis's `TIME`) or in
//! process on the embedded default. Every read or join is one atomic step (one Lua script) and
//! O(1): nothing is kept per waiter but one hash field (user → arrival number), and nothing per
//! waiter in a node's memory.
//!
//! Redis keys of show S (hash tag `{<prefix>:S}`, the holds' slot):
//! - `…:q` hash: `seed` (hex, drawn on first use), `count` (arrivals so far), `pre` (the
//!   pre-queue's size, set once at opening);
//! - `…:q:users` hash: user id → arrival number (0-based);
//! - `…:q:clock` list of `base_ms:base_count:per_minute` segments, oldest first: the clock admits
//!   `base_count + ⌊(now − base_ms) · per_minute / 60,000⌋` people. A new segment starts when the
//!   organiser changes the rate (at the exact instant of the last admission, so nobody is
//!   re-admitted), and the clock restarts at `now` with one free place when it ran ahead of the
//!   line (nobody waiting), so a quiet hour does not become a burst when the next crowd arrives.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::holds::RedisConn;
use redis::Script;

use crate::holds::HoldStoreError;

/// One show's waiting-room settings, as the organiser set them.
#[derive(Debug, Clone, Copy)]
pub struct RoomConfig {
    pub show_id: i64,
    /// Joins before this instant (ms) form the pre-queue; `None`: open from first use.
    pub opens_ms: Option<i64>,
    pub per_minute: u32,
}

/// What a step asks of the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Take a place unless the user has one.
    Join,
    /// Read only (the user's place, if any).
    Read,
    /// Take a new place at the back, if the user's place is still `old` (an expired pass).
    Rejoin { old: u64 },
}

/// A segment of the admission clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub base_ms: i64,
    pub base_count: u64,
    pub per_minute: u32,
}

/// The line as one step left it, at the store's clock.
#[derive(Debug, Clone)]
pub struct Reading {
    pub now_ms: i64,
    /// The user's arrival number.
    pub seq: Option<u64>,
    /// The pre-queue's size, once the room has opened.
    pub pre: Option<u64>,
    /// Arrivals so far.
    pub joined: u64,
    pub seed: Vec<u8>,
    pub clock: Vec<Segment>,
}

impl Reading {
    /// How many places the clock has admitted by now (0 before opening).
    pub fn admitted(&self) -> u64 {
        self.clock.last().map_or(0, |s| admitted_by(s, self.now_ms))
    }

    /// The 1-based place of arrival `seq`: shuffled for the pre-queue, FIFO after it; `None`
    /// before opening.
    pub fn position(&self, seq: u64) -> Option<u64> {
        let pre = self.pre?;
        Some(if seq < pre {
            super::shuffle::permute(&self.seed, pre, seq) + 1
        } else {
            seq + 1
        })
    }

    /// The instant (ms) place `position` is (or was) admitted by the clock.
    pub fn admitted_at(&self, position: u64) -> i64 {
        let Some(first) = self.clock.first() else {
            return i64::MAX;
        };
        match self.clock.iter().rev().find(|s| s.base_count < position) {
            None => first.base_ms,
            Some(s) => s.base_ms + ms_for(position - s.base_count, s.per_minute),
        }
    }
}

/// How long (ms, rounded up) the clock takes to admit `places` at `per_minute`.
fn ms_for(places: u64, per_minute: u32) -> i64 {
    let rate = u128::from(per_minute.max(1));
    i64::try_from((u128::from(places) * 60_000).div_ceil(rate)).unwrap_or(i64::MAX)
}

fn admitted_by(s: &Segment, now_ms: i64) -> u64 {
    let elapsed = (now_ms - s.base_ms).max(0) as u128;
    s.base_count + (elapsed * u128::from(s.per_minute) / 60_000) as u64
}

/// The waiting rooms of a deployment.
#[derive(Clone)]
pub enum Line {
    Redis(RedisLine),
    Memory(MemoryLine),
}

impl Line {
    /// One atomic step on show `config.show_id`'s line for `user` (`None`: the line only).
    pub async fn step(
        &self,
        config: &RoomConfig,
        user: Option<i64>,
        step: Step,
    ) -> Result<Reading, HoldStoreError> {
        match self {
            Line::Redis(r) => r.step(config, user, step).await,
            Line::Memory(m) => Ok(m.step(config, user, step)),
        }
    }

    /// Forgets show `show_id`'s line (the room was turned off and on again, or a test).
    pub async fn reset(&self, show_id: i64) -> Result<(), HoldStoreError> {
        match self {
            Line::Redis(r) => r.reset(show_id).await,
            Line::Memory(m) => {
                m.rooms
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&show_id);
                Ok(())
            }
        }
    }
}

fn fresh_seed() -> Vec<u8> {
    use rand::RngCore;
    let mut seed = vec![0u8; 32];
    rand::thread_rng().fill_bytes(&mut seed);
    seed
}

// ---------------------------------------------------------------------------------------------
// In process.

/// The embedded default's lines, under one lock (the same steps as the Lua script).
#[derive(Clone, Default)]
pub struct MemoryLine {
    rooms: Arc<Mutex<HashMap<i64, Room>>>,
}

#[derive(Default)]
struct Room {
    seed: Vec<u8>,
    count: u64,
    pre: Option<u64>,
    users: HashMap<i64, u64>,
    clock: Vec<Segment>,
}

impl MemoryLine {
    fn step(&self, config: &RoomConfig, user: Option<i64>, step: Step) -> Reading {
        let now = chrono::Utc::now().timestamp_millis();
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        let room = rooms.entry(config.show_id).or_default();
        if room.seed.is_empty() {
            room.seed = fresh_seed();
        }
        let rate = config.per_minute.max(1);
        if room.pre.is_none() && config.opens_ms.is_none_or(|o| now >= o) {
            room.pre = Some(room.count);
            room.clock = vec![Segment {
                base_ms: config.opens_ms.unwrap_or(now),
                base_count: 0,
                per_minute: rate,
            }];
        }
        let mut seq = user.and_then(|u| room.users.get(&u).copied());
        if let Some(u) = user {
            let take = match step {
                Step::Join => seq.is_none(),
                Step::Rejoin { old } => seq == Some(old),
                Step::Read => false,
            };
            if take {
                seq = Some(room.count);
                room.users.insert(u, room.count);
                room.count += 1;
            }
        }
        if let Some(last) = room.clock.last().copied() {
            let admitted = admitted_by(&last, now);
            if admitted > room.count + 1 {
                room.clock = vec![Segment {
                    base_ms: now,
                    base_count: room.count + 1,
                    per_minute: rate,
                }];
            } else if last.per_minute != rate {
                room.clock.push(Segment {
                    base_ms: last.base_ms + ms_for(admitted - last.base_count, last.per_minute),
                    base_count: admitted,
                    per_minute: rate,
                });
                if room.clock.len() > MAX_SEGMENTS {
                    room.clock.remove(0);
                }
            }
        }
        Reading {
            now_ms: now,
            seq,
            pre: room.pre,
            joined: room.count,
            seed: room.seed.clone(),
            clock: room.clock.clone(),
        }
    }
}

/// Rate changes remembered per show (older ones merge into the oldest kept).
const MAX_SEGMENTS: usize = 16;

// ---------------------------------------------------------------------------------------------
// Redis.

/// KEYS: meta, users, clock. ARGV: step (join|read|rejoin), user ('' for none), opens ms (0:
/// none), admissions a minute, a seed candidate (hex), the old arrival number (rejoin), the
/// keys' time to live in ms.
const STEP_LUA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local meta, users, clock = KEYS[1], KEYS[2], KEYS[3]
local step, user = ARGV[1], ARGV[2]
local opens, rate = tonumber(ARGV[3]), tonumber(ARGV[4])
local ttl = tonumber(ARGV[7])
redis.call('HSETNX', meta, 'seed', ARGV[5])
local count = tonumber(redis.call('HGET', meta, 'count') or '0')
local pre = redis.call('HGET', meta, 'pre')
local last = redis.call('LINDEX', clock, -1)
if (not pre and (opens == 0 or now >= opens)) or (pre and not last) then
  if not pre then
    pre = count
    redis.call('HSET', meta, 'pre', pre)
  end
  local base = opens
  if opens == 0 then base = now end
  redis.call('DEL', clock)
  redis.call('RPUSH', clock, string.format('%.0f', base) .. ':0:' .. rate)
end
local seq = false
if user ~= '' then seq = redis.call('HGET', users, user) end
if user ~= '' and ((step == 'join' and not seq) or (step == 'rejoin' and seq == ARGV[6])) then
  seq = count
  count = count + 1
  redis.call('HSET', users, user, seq)
  redis.call('HSET', meta, 'count', count)
end
if pre then
  last = redis.call('LINDEX', clock, -1)
  local b, c, r = string.match(last, '^(%d+):(%d+):(%d+)$')
  b, c, r = tonumber(b), tonumber(c), tonumber(r)
  local admitted = c + math.floor(math.max(0, now - b) * r / 60000)
  if admitted > count + 1 then
    redis.call('DEL', clock)
    redis.call('RPUSH', clock, string.format('%.0f', now) .. ':' .. (count + 1) .. ':' .. rate)
  elseif r ~= rate then
    local at = b + math.ceil((admitted - c) * 60000 / r)
    redis.call('RPUSH', clock, string.format('%.0f', at) .. ':' .. admitted .. ':' .. rate)
    redis.call('LTRIM', clock, -16, -1)
  end
end
-- Every key of the line lives as long as the line is used, and goes together.
redis.call('PEXPIRE', meta, ttl)
redis.call('PEXPIRE', users, ttl)
redis.call('PEXPIRE', clock, ttl)
return {tostring(now), seq or '', tostring(pre or ''), tostring(count),
        redis.call('HGET', meta, 'seed'), redis.call('LRANGE', clock, 0, -1)}
"#;

/// How long a line is kept after its last join (shows sell for weeks at most in one line).
const LINE_TTL_MS: u64 = 30 * 24 * 3600 * 1000;

#[derive(Clone)]
pub struct RedisLine {
    conn: RedisConn,
    timeout: Duration,
    prefix: String,
    script: Arc<Script>,
}

impl RedisLine {
    pub fn new(conn: RedisConn, prefix: &str, timeout: Duration) -> Self {
        Self {
            conn,
            timeout,
            prefix: prefix.to_owned(),
            script: Arc::new(Script::new(STEP_LUA)),
        }
    }

    fn keys(&self, show_id: i64) -> [String; 3] {
        let tag = format!("{{{}:{show_id}}}", self.prefix);
        [
            format!("{tag}:q"),
            format!("{tag}:q:users"),
            format!("{tag}:q:clock"),
        ]
    }

    async fn step(
        &self,
        config: &RoomConfig,
        user: Option<i64>,
        step: Step,
    ) -> Result<Reading, HoldStoreError> {
        let [meta, users, clock] = self.keys(config.show_id);
        let (name, old) = match step {
            Step::Join => ("join", String::new()),
            Step::Read => ("read", String::new()),
            Step::Rejoin { old } => ("rejoin", old.to_string()),
        };
        let mut conn = self.conn.clone();
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(meta)
            .key(users)
            .key(clock)
            .arg(name)
            .arg(user.map(|u| u.to_string()).unwrap_or_default())
            .arg(config.opens_ms.unwrap_or(0).max(0))
            .arg(config.per_minute.max(1))
            .arg(hex::encode(fresh_seed()))
            .arg(old)
            .arg(LINE_TTL_MS);
        let call = invocation
            .invoke_async::<(String, String, String, String, String, Vec<String>)>(&mut conn);
        let (now, seq, pre, count, seed, clock) =
            match tokio::time::timeout(self.timeout, call).await {
                Ok(result) => result?,
                Err(_) => return Err(HoldStoreError("Redis did not answer in time".into())),
            };
        let number = |s: &str| s.parse::<u64>().ok();
        Ok(Reading {
            now_ms: now.parse().unwrap_or_default(),
            seq: number(&seq),
            pre: number(&pre),
            joined: number(&count).unwrap_or_default(),
            seed: hex::decode(seed).unwrap_or_default(),
            clock: clock.iter().filter_map(|s| parse_segment(s)).collect(),
        })
    }

    async fn reset(&self, show_id: i64) -> Result<(), HoldStoreError> {
        let mut conn = self.conn.clone();
        let mut del = redis::cmd("DEL");
        del.arg(&self.keys(show_id)[..]);
        let call = del.query_async::<()>(&mut conn);
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(HoldStoreError("Redis did not answer in time".into())),
        }
    }
}

fn parse_segment(s: &str) -> Option<Segment> {
    let mut parts = s.split(':');
    Some(Segment {
        base_ms: parts.next()?.parse().ok()?,
        base_count: parts.next()?.parse().ok()?,
        per_minute: parts.next()?.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(clock: Vec<Segment>, now_ms: i64) -> Reading {
        Reading {
            now_ms,
            seq: None,
            pre: Some(0),
            joined: 1000,
            seed: vec![1],
            clock,
        }
    }

    #[test]
    fn the_clock_admits_evenly_and_never_ahead() {
        let r = reading(
            vec![Segment {
                base_ms: 0,
                base_count: 0,
                per_minute: 600,
            }],
            0,
        );
        // 600 a minute: one every 100 ms, the first at 100 ms.
        assert_eq!(r.admitted_at(1), 100);
        assert_eq!(r.admitted_at(600), 60_000);
        for (now, admitted) in [(0, 0), (99, 0), (100, 1), (59_999, 599), (60_000, 600)] {
            assert_eq!(
                reading(r.clock.clone(), now).admitted(),
                admitted,
                "at {now}"
            );
        }
    }

    #[test]
    fn a_rate_change_keeps_earlier_admission_times() {
        let clock = vec![
            Segment {
                base_ms: 0,
                base_count: 0,
                per_minute: 60,
            },
            Segment {
                base_ms: 10_000,
                base_count: 10,
                per_minute: 600,
            },
        ];
        let r = reading(clock, 20_000);
        assert_eq!(r.admitted_at(5), 5_000);
        assert_eq!(r.admitted_at(10), 10_000);
        assert_eq!(r.admitted_at(11), 10_100);
        assert_eq!(r.admitted(), 10 + 100);
    }

    #[test]
    fn the_memory_line_gives_one_place_and_restarts_an_idle_clock() {
        let line = MemoryLine::default();
        let config = RoomConfig {
            show_id: 1,
            opens_ms: None,
            per_minute: 60,
        };
        let a = line.step(&config, Some(7), Step::Join);
        let again = line.step(&config, Some(7), Step::Join);
        assert_eq!(a.seq, Some(0));
        assert_eq!(again.seq, Some(0));
        assert_eq!(again.joined, 1);
        // Opened at the first join: one a second, the first after a second.
        let b = line.step(&config, Some(8), Step::Join);
        assert_eq!(b.position(1), Some(2));
        assert_eq!(b.admitted_at(1), b.clock[0].base_ms + 1000);
        assert_eq!(b.admitted_at(2), b.clock[0].base_ms + 2000);
    }
}
