//! Holds on Redis. Every key of show S shares the hash tag `{bo:S}`, so a show's keys live in one
//! slot and the scripts run unchanged on Redis Cluster:
//!
//! - `{bo:S}:seat:<label>`: `user:hold:expires_ms`, with a PX expiry; the authoritative hold.
//! - `{bo:S}:holds`: hash label → `user:expires_ms`, the index that reads a show's holds without
//!   scanning the keyspace; entries past their expiry (by Redis's clock) are ignored and pruned.
//! - `{bo:S}:user:<id>`: hash label → `expires_ms`, the caller's holds for the cap.
//! - `{bo:S}:bought:<deployment>`: hash user → seats bought, and `{bo:S}:sold:<deployment>`:
//!   the set of sold and blocked seats (keyed by the database's deployment id), both kept from the database's announced changes, so a hold is decided in one round
//!   trip without reading the database. They are fast copies: after a flush the node's live
//!   availability still refuses sold seats, and the booking transaction enforces the cap.
//!
//! A multi-seat hold is one Lua script: every seat or none, expiry by Redis `TIME`, the cap
//! checked in the same step.
//!
//! The scripts read and write a request's seats with one multi-key or multi-field command each
//! (`MGET`, `SMISMEMBER`, `HSET`, `HDEL`, `DEL`) rather than a command per seat; only the seat
//! keys' `SET … PX` stays per seat. That is 12 commands a script instead of 20 in the booking
//! bench, but not measurably less time: most of a script's 25 µs there is Lua's and Redis's
//! calling of it, not its commands (docs/BENCHMARKS.md, issue 13's thirteenth step).

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use redis::Script;

use std::sync::{Arc, Weak};

use futures_util::StreamExt;

use super::connection::{RedisConn, RedisTarget};
use super::feed::{parse_message, recorded_code, FeedEvent, SeatFeed};
use super::{new_hold_id, HoldOutcome, HoldRequest, HoldStoreError, SeatHold};
use crate::domain::InventoryStatus;

/// Shared by the scripts: `let_go` deletes seat keys and their entries in the show's index and
/// the buyer's holds; `publish` numbers a step's changes as the show's next version and
/// publishes them on the deployment's channel, in the same atomic step as the changes
/// themselves; `count_bought` moves a buyer's count of seats bought and keeps the show's bought
/// and sold keys for 30 days.
const PUBLISH_LUA: &str = r#"
local function publish(verkey, now, channel, show, changes)
  if #changes == 0 then return end
  local v = redis.call('INCR', verkey)
  if v == 1 then
    v = now * 1000
    redis.call('SET', verkey, string.format('%.0f', v))
  end
  redis.call('PEXPIRE', verkey, 2592000000)
  redis.call('PUBLISH', channel, '{"s":' .. show .. ',"v":"' .. string.format('%.0f', v)
    .. '","c":' .. cjson.encode(changes) .. '}')
end
local function count_bought(bought, sold, user, delta)
  if user ~= '' and delta ~= 0 then
    if redis.call('HINCRBY', bought, user, delta) <= 0 then
      redis.call('HDEL', bought, user)
    end
  end
  redis.call('PEXPIRE', bought, 2592000000)
  redis.call('PEXPIRE', sold, 2592000000)
end
local function let_go(index, own, keys, labels)
  if #keys > 0 then
    redis.call('DEL', unpack(keys))
    redis.call('HDEL', index, unpack(labels))
    redis.call('HDEL', own, unpack(labels))
  end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"#;

/// KEYS: index, user's holds, version, bought, sold, then one seat key per seat. ARGV: user,
/// hold id, ttl ms, cap, show, channel, then the seat labels.
const HOLD_LUA: &str = r#"
local user, hold_id = ARGV[1], ARGV[2]
local ttl, cap = tonumber(ARGV[3]), tonumber(ARGV[4])
local first, labels = 5, 6
local n = #KEYS - first
if n == 0 then return {'held', string.format('%.0f', now + ttl)} end
local current = redis.call('MGET', unpack(KEYS, first + 1, first + n))
local sold = redis.call('SMISMEMBER', KEYS[5], unpack(ARGV, labels + 1, labels + n))
local locked, fresh, mine = {}, {}, {}
for i = 1, n do
  local v = current[i]
  if v then
    local owner, expires = string.match(v, '^([^:]+):[^:]*:(%d+)$')
    if owner == user then
      mine[#mine + 1] = tonumber(expires)
    else
      locked[#locked + 1] = ARGV[labels + i]
    end
  elseif sold[i] == 1 then
    locked[#locked + 1] = ARGV[labels + i]
  else
    fresh[#fresh + 1] = i
  end
end
if #locked > 0 then return {'locked', locked} end
local held, ended = 0, {}
local entries = redis.call('HGETALL', KEYS[2])
for j = 1, #entries, 2 do
  if tonumber(entries[j + 1]) > now then
    held = held + 1
  else
    ended[#ended + 1] = entries[j]
  end
end
if #ended > 0 then redis.call('HDEL', KEYS[2], unpack(ended)) end
local bought = tonumber(redis.call('HGET', KEYS[4], user) or '0') or 0
if held + #fresh + bought > cap then return {'cap', tostring(held), tostring(bought)} end
local expires = now + ttl
local expires_text = string.format('%.0f', expires)
local owner_text = user .. ':' .. expires_text
local seat_text = user .. ':' .. hold_id .. ':' .. expires_text
local changes, index, own = {}, {}, {}
for _, i in ipairs(fresh) do
  local label = ARGV[labels + i]
  redis.call('SET', KEYS[first + i], seat_text, 'PX', ttl)
  index[#index + 1] = label
  index[#index + 1] = owner_text
  own[#own + 1] = label
  own[#own + 1] = expires_text
  changes[#changes + 1] = {label, 'h', user, expires_text}
end
if #fresh > 0 then
  redis.call('HSET', KEYS[1], unpack(index))
  redis.call('HSET', KEYS[2], unpack(own))
end
local soonest = expires
for _, e in ipairs(mine) do
  if e < soonest then soonest = e end
end
for k = 1, 2 do
  if redis.call('PTTL', KEYS[k]) < ttl + 60000 then
    redis.call('PEXPIRE', KEYS[k], ttl + 60000)
  end
end
publish(KEYS[3], now, ARGV[6], ARGV[5], changes)
return {'held', string.format('%.0f', soonest)}
"#;

/// KEYS: index, user's holds, version, then the seat keys. ARGV: user, show, channel, labels.
const RELEASE_LUA: &str = r#"
local user = ARGV[1]
local released, changes, keys = {}, {}, {}
local n = #KEYS - 3
if n == 0 then return released end
local current = redis.call('MGET', unpack(KEYS, 4, 3 + n))
for i = 1, n do
  local v = current[i]
  if v and string.match(v, '^([^:]+):') == user then
    keys[#keys + 1] = KEYS[i + 3]
    released[#released + 1] = ARGV[3 + i]
    changes[#changes + 1] = {ARGV[3 + i], 'u'}
  end
end
let_go(KEYS[1], KEYS[2], keys, released)
publish(KEYS[3], now, ARGV[3], ARGV[2], changes)
return released
"#;

/// KEYS: index, version, then the seat keys. ARGV: show, channel, then (label, user, expiry ms)
/// per seat. A hold is over when its seat key has expired and the index still names it; the
/// first node to notice removes it from the index and announces it, later ones find it gone.
const EXPIRE_LUA: &str = r#"
local changes = {}
local n = #KEYS - 2
for i = 1, n do
  local label, user, expires = ARGV[3 * i], ARGV[3 * i + 1], ARGV[3 * i + 2]
  if tonumber(expires) <= now and redis.call('EXISTS', KEYS[i + 2]) == 0 then
    if redis.call('HGET', KEYS[1], label) == user .. ':' .. expires then
      redis.call('HDEL', KEYS[1], label)
      changes[#changes + 1] = {label, 'u'}
    end
  end
end
publish(KEYS[2], now, ARGV[2], ARGV[1], changes)
return #changes
"#;

/// KEYS: version, bought, sold. ARGV: show, channel, buyer (or ""), then (label, code) per
/// seat. Sold and blocked seats join the show's sold set (which holds refuse), seats given back
/// leave it; the buyer's count of seats bought moves by the seats sold less those given back.
const ANNOUNCE_LUA: &str = r#"
local changes = {}
local delta = 0
for i = 4, #ARGV, 2 do
  local label, code = ARGV[i], ARGV[i + 1]
  changes[#changes + 1] = {label, code}
  if code == 'a' then
    redis.call('SREM', KEYS[3], label)
    delta = delta - 1
  else
    redis.call('SADD', KEYS[3], label)
    if code == 's' then delta = delta + 1 end
  end
end
count_bought(KEYS[2], KEYS[3], ARGV[3], delta)
publish(KEYS[1], now, ARGV[2], ARGV[1], changes)
return #changes
"#;

/// KEYS: index, buyer's holds, version, bought, sold, then one seat key per seat. ARGV: show,
/// channel, buyer, then the labels. A booking's seats sold and the buyer's holds on them
/// released, announced as one change: the seats go from held to sold, never through available.
const SELL_LUA: &str = r#"
local user = ARGV[3]
local changes, mine, keys = {}, {}, {}
local n = #KEYS - 5
if n > 0 then
  redis.call('SADD', KEYS[5], unpack(ARGV, 4, 3 + n))
  local current = redis.call('MGET', unpack(KEYS, 6, 5 + n))
  for i = 1, n do
    local label = ARGV[3 + i]
    changes[#changes + 1] = {label, 's'}
    local v = current[i]
    if v and string.match(v, '^([^:]+):') == user then
      keys[#keys + 1] = KEYS[5 + i]
      mine[#mine + 1] = label
      changes[#changes + 1] = {label, 'u'}
    end
  end
  let_go(KEYS[1], KEYS[2], keys, mine)
end
count_bought(KEYS[4], KEYS[5], user, n)
publish(KEYS[3], now, ARGV[2], ARGV[1], changes)
return #changes
"#;

/// Reads the index without changing it: entries past their expiry are left for the expiry
/// announcement to remove.
const READ_SHOW_LUA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local entries = redis.call('HGETALL', KEYS[1])
local live = {}
for j = 1, #entries, 2 do
  local owner, expires = string.match(entries[j + 1], '^([^:]+):(%d+)$')
  if expires and tonumber(expires) > now then
    live[#live + 1] = entries[j]
    live[#live + 1] = owner .. ':' .. expires
  end
end
return live
"#;

/// The store's Lua scripts, loaded once.
struct Scripts {
    hold: Script,
    release: Script,
    expire: Script,
    announce: Script,
    sell: Script,
    read_show: Script,
}

/// Holds on a Redis server (or a Redis Cluster-compatible proxy).
#[derive(Clone)]
pub struct RedisHolds {
    conn: RedisConn,
    /// The longest any one call may take, reconnection included.
    timeout: Duration,
    prefix: String,
    /// The database's deployment id: the copies of its sales are keyed by it, so a reset or
    /// replaced database does not inherit another one's.
    deployment: String,
    scripts: Arc<Scripts>,
    /// The deployment's seat feed channel, `<prefix>:seats`.
    channel: String,
    feed: SeatFeed,
    /// Dropped with the last clone of the store: ends the feed's subscriber task.
    _alive: Arc<()>,
}

impl RedisHolds {
    /// The connection, call timeout and key prefix, for the stores that share this Redis (the
    /// waiting room's lines, the rate limits).
    pub fn connection(&self) -> (RedisConn, Duration, &str) {
        (self.conn.clone(), self.timeout, &self.prefix)
    }

    fn tag(&self, show_id: i64) -> String {
        format!("{{{}:{show_id}}}", self.prefix)
    }

    fn seat_key(&self, show_id: i64, label: &str) -> String {
        format!("{}:seat:{label}", self.tag(show_id))
    }

    fn holds_key(&self, show_id: i64) -> String {
        format!("{}:holds", self.tag(show_id))
    }

    fn user_key(&self, show_id: i64, user_id: i64) -> String {
        format!("{}:user:{user_id}", self.tag(show_id))
    }

    fn version_key(&self, show_id: i64) -> String {
        format!("{}:ver", self.tag(show_id))
    }

    fn bought_key(&self, show_id: i64) -> String {
        format!("{}:bought:{}", self.tag(show_id), self.deployment)
    }

    fn sold_key(&self, show_id: i64) -> String {
        format!("{}:sold:{}", self.tag(show_id), self.deployment)
    }
}

fn instant(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or_else(Utc::now)
}

/// Parses `user:…:expires_ms` (seat keys) or `user:expires_ms` (the index).
fn parse_hold(value: &str) -> Option<SeatHold> {
    let user_id = value.split(':').next()?.parse().ok()?;
    let expires = value.rsplit(':').next()?.parse().ok()?;
    Some(SeatHold {
        user_id,
        expires_at: instant(expires),
    })
}

impl RedisHolds {
    /// Connects to `url`. Every call is bounded by `timeout`; a lost connection is re-made in
    /// the background with a backoff capped at a quarter of `timeout`, so holds resume within
    /// about that long of Redis coming back (`tests/integration/booking.rs`,
    /// `redis_outage_is_a_fast_503_and_service_resumes`).
    pub async fn connect(
        url: &str,
        prefix: &str,
        deployment: &str,
        timeout: Duration,
    ) -> Result<Self, HoldStoreError> {
        let target = RedisTarget::parse(url).map_err(HoldStoreError)?;
        let conn = tokio::time::timeout(timeout * 2, RedisConn::connect(&target, timeout))
            .await
            .map_err(|_| HoldStoreError("timed out connecting to Redis".into()))??;
        let feed = SeatFeed::default();
        let alive = Arc::new(());
        let channel = format!("{prefix}:seats");
        tokio::spawn(subscribe(
            target,
            channel.clone(),
            feed.clone(),
            timeout,
            Arc::downgrade(&alive),
        ));
        let script = |body: &str| Script::new(&format!("{PUBLISH_LUA}{body}"));
        Ok(Self {
            conn,
            timeout,
            prefix: prefix.to_owned(),
            deployment: deployment.to_owned(),
            scripts: Arc::new(Scripts {
                hold: script(HOLD_LUA),
                release: script(RELEASE_LUA),
                expire: script(EXPIRE_LUA),
                announce: script(ANNOUNCE_LUA),
                sell: script(SELL_LUA),
                read_show: Script::new(READ_SHOW_LUA),
            }),
            channel,
            feed,
            _alive: alive,
        })
    }

    pub fn feed(&self) -> &SeatFeed {
        &self.feed
    }

    pub async fn version(&self, show_id: i64) -> Result<u64, HoldStoreError> {
        let mut conn = self.conn.clone();
        let version: Option<u64> = self
            .bounded(
                redis::cmd("GET")
                    .arg(self.version_key(show_id))
                    .query_async(&mut conn),
            )
            .await?;
        Ok(version.unwrap_or(0))
    }

    pub async fn announce(
        &self,
        show_id: i64,
        changes: &[(String, InventoryStatus)],
        buyer: Option<i64>,
    ) -> Result<(), HoldStoreError> {
        let mut inv = self.scripts.announce.prepare_invoke();
        inv.key(self.version_key(show_id))
            .key(self.bought_key(show_id))
            .key(self.sold_key(show_id))
            .arg(show_id)
            .arg(&self.channel)
            .arg(buyer.map(|b| b.to_string()).unwrap_or_default());
        for (label, status) in changes {
            inv.arg(label).arg(recorded_code(*status));
        }
        let mut conn = self.conn.clone();
        let _: i64 = self.bounded(inv.invoke_async(&mut conn)).await?;
        Ok(())
    }

    pub async fn sell(
        &self,
        show_id: i64,
        buyer: i64,
        seats: &[String],
    ) -> Result<(), HoldStoreError> {
        let mut inv = self.scripts.sell.prepare_invoke();
        inv.key(self.holds_key(show_id))
            .key(self.user_key(show_id, buyer))
            .key(self.version_key(show_id))
            .key(self.bought_key(show_id))
            .key(self.sold_key(show_id));
        for seat in seats {
            inv.key(self.seat_key(show_id, seat));
        }
        inv.arg(show_id).arg(&self.channel).arg(buyer);
        for seat in seats {
            inv.arg(seat);
        }
        let mut conn = self.conn.clone();
        let _: i64 = self.bounded(inv.invoke_async(&mut conn)).await?;
        Ok(())
    }

    pub async fn set_bought(
        &self,
        show_id: i64,
        user_id: i64,
        bought: u32,
    ) -> Result<(), HoldStoreError> {
        let key = self.bought_key(show_id);
        let mut pipe = redis::pipe();
        if bought == 0 {
            pipe.hdel(&key, user_id);
        } else {
            pipe.hset(&key, user_id, bought);
        }
        pipe.pexpire(&key, 2_592_000_000);
        let mut conn = self.conn.clone();
        let _: () = self.bounded(pipe.query_async(&mut conn)).await?;
        Ok(())
    }

    pub async fn expire(
        &self,
        show_id: i64,
        candidates: &[(String, i64, i64)],
    ) -> Result<usize, HoldStoreError> {
        let mut inv = self.scripts.expire.prepare_invoke();
        inv.key(self.holds_key(show_id))
            .key(self.version_key(show_id));
        for (label, _, _) in candidates {
            inv.key(self.seat_key(show_id, label));
        }
        inv.arg(show_id).arg(&self.channel);
        for (label, user_id, expires_ms) in candidates {
            inv.arg(label).arg(user_id).arg(expires_ms);
        }
        let mut conn = self.conn.clone();
        let ended: i64 = self.bounded(inv.invoke_async(&mut conn)).await?;
        Ok(usize::try_from(ended).unwrap_or(0))
    }

    pub async fn hold(&self, req: &HoldRequest<'_>) -> Result<HoldOutcome, HoldStoreError> {
        let hold_id = new_hold_id();
        let mut inv = self.scripts.hold.prepare_invoke();
        inv.key(self.holds_key(req.show_id))
            .key(self.user_key(req.show_id, req.user_id))
            .key(self.version_key(req.show_id))
            .key(self.bought_key(req.show_id))
            .key(self.sold_key(req.show_id));
        for seat in req.seats {
            inv.key(self.seat_key(req.show_id, seat));
        }
        inv.arg(req.user_id)
            .arg(&hold_id)
            .arg(u64::from(req.hold_seconds) * 1000)
            .arg(req.cap)
            .arg(req.show_id)
            .arg(&self.channel);
        for seat in req.seats {
            inv.arg(seat);
        }
        let mut conn = self.conn.clone();
        let reply: Vec<redis::Value> = self.bounded(inv.invoke_async(&mut conn)).await?;
        let kind: String = reply
            .first()
            .map(redis::from_redis_value)
            .transpose()?
            .unwrap_or_default();
        match kind.as_str() {
            "held" => {
                let ms: String = redis::from_redis_value(&reply[1])?;
                let ms: i64 = ms
                    .parse()
                    .map_err(|_| HoldStoreError("bad expiry".into()))?;
                Ok(HoldOutcome::Held {
                    hold_id,
                    expires_at: instant(ms),
                })
            }
            "locked" => Ok(HoldOutcome::Locked {
                seats: redis::from_redis_value(&reply[1])?,
            }),
            "cap" => {
                let held: String = redis::from_redis_value(&reply[1])?;
                let bought: String = redis::from_redis_value(&reply[2])?;
                Ok(HoldOutcome::CapExceeded {
                    held: held.parse().unwrap_or(0),
                    bought: bought.parse().unwrap_or(0),
                })
            }
            other => Err(HoldStoreError(format!("unexpected hold reply {other:?}"))),
        }
    }

    pub async fn release(
        &self,
        show_id: i64,
        user_id: i64,
        seats: &[String],
    ) -> Result<Vec<String>, HoldStoreError> {
        if seats.is_empty() {
            return Ok(vec![]);
        }
        let mut inv = self.scripts.release.prepare_invoke();
        inv.key(self.holds_key(show_id))
            .key(self.user_key(show_id, user_id))
            .key(self.version_key(show_id));
        for seat in seats {
            inv.key(self.seat_key(show_id, seat));
        }
        inv.arg(user_id).arg(show_id).arg(&self.channel);
        for seat in seats {
            inv.arg(seat);
        }
        let mut conn = self.conn.clone();
        self.bounded(inv.invoke_async(&mut conn)).await
    }

    pub async fn holders(
        &self,
        show_id: i64,
        seats: &[String],
    ) -> Result<Vec<Option<SeatHold>>, HoldStoreError> {
        if seats.is_empty() {
            return Ok(vec![]);
        }
        let keys: Vec<String> = seats.iter().map(|s| self.seat_key(show_id, s)).collect();
        let mut conn = self.conn.clone();
        let values: Vec<Option<String>> = self
            .bounded(redis::cmd("MGET").arg(&keys).query_async(&mut conn))
            .await?;
        // A key exists only while its PX expiry has not passed (Redis's clock), so every value
        // read here is a live hold.
        Ok(values
            .into_iter()
            .map(|v| v.as_deref().and_then(parse_hold))
            .collect())
    }

    pub async fn holds_of_show(
        &self,
        show_id: i64,
    ) -> Result<HashMap<String, SeatHold>, HoldStoreError> {
        let mut conn = self.conn.clone();
        let flat: Vec<String> = self
            .bounded(
                self.scripts
                    .read_show
                    .key(self.holds_key(show_id))
                    .invoke_async(&mut conn),
            )
            .await?;
        Ok(flat
            .chunks(2)
            .filter_map(|pair| match pair {
                [label, value] => parse_hold(value).map(|h| (label.clone(), h)),
                _ => None,
            })
            .collect())
    }

    pub async fn ping(&self) -> Result<(), HoldStoreError> {
        let mut conn = self.conn.clone();
        let _: String = self
            .bounded(redis::cmd("PING").query_async(&mut conn))
            .await?;
        Ok(())
    }

    /// Runs one Redis call within the store's timeout.
    async fn bounded<T>(
        &self,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, HoldStoreError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(HoldStoreError("Redis did not answer in time".into())),
        }
    }
}

/// Forwards the deployment's seat feed channel to this node's [`SeatFeed`], re-subscribing with
/// a backoff when the connection is lost and telling the receivers to resynchronise after each
/// (re)subscription, since changes published meanwhile were missed. Ends when the store is gone.
async fn subscribe(
    target: RedisTarget,
    channel: String,
    feed: SeatFeed,
    timeout: Duration,
    alive: Weak<()>,
) {
    let mut backoff = Duration::from_millis(50);
    let mut attempt = 0;
    while alive.strong_count() > 0 {
        // On a cluster, any node hears every PUBLISH; each failure tries the next one.
        let url = target.subscriber_url(attempt);
        attempt += 1;
        let connected = tokio::time::timeout(timeout * 2, async {
            let client = redis::Client::open(url)?;
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        })
        .await;
        let pubsub = match connected {
            Ok(Ok(pubsub)) => pubsub,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "seat feed: cannot subscribe; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(timeout.max(Duration::from_millis(100)));
                continue;
            }
            Err(_) => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(timeout.max(Duration::from_millis(100)));
                continue;
            }
        };
        backoff = Duration::from_millis(50);
        feed.send(FeedEvent::Resync);
        let mut messages = pubsub.into_on_message();
        loop {
            let next = tokio::time::timeout(Duration::from_secs(1), messages.next()).await;
            match next {
                Ok(Some(msg)) => {
                    let payload: String = match msg.get_payload() {
                        Ok(p) => p,
                        Err(_) => continue,
                    };
                    match parse_message(&payload) {
                        Some(m) => feed.send(FeedEvent::Message(Arc::new(m))),
                        None => tracing::warn!("seat feed: unreadable message"),
                    }
                }
                Ok(None) => {
                    tracing::warn!("seat feed: subscription lost; re-subscribing");
                    break;
                }
                Err(_) if alive.strong_count() == 0 => return,
                Err(_) => {}
            }
        }
    }
}
