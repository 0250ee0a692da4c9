//! One GCRA step, on Redis (Lua, Redis's clock) or in process (bounded buckets).
//!
//! A bucket holds `burst` requests and refills one every `interval = 60,000 / per_minute` ms;
//! its state is its theoretical arrival time (TAT). A request at `now` is allowed when
//! `max(TAT, now) + interval − burst · interval ≤ now`, and then moves TAT by one interval.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// KEYS: the bucket. ARGV: interval ms, burst. Returns allowed (1/0), remaining, retry after
/// ms, reset ms (until the bucket is full again).
pub const GCRA_LUA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local next_tat = tat + interval
local allow_at = next_tat - burst * interval
if now < allow_at then
  return {0, 0, math.ceil(allow_at - now), math.ceil(tat - now)}
end
redis.call('SET', KEYS[1], string.format('%.3f', next_tat), 'PX', math.ceil(next_tat - now) + 1)
return {1, math.floor((now - allow_at) / interval), 0, math.ceil(next_tat - now)}
"#;

/// A limit: `burst` at once, refilled at `per_minute`; `per_minute == 0` is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub per_minute: u32,
    pub burst: u32,
}

impl Policy {
    pub const OFF: Policy = Policy {
        per_minute: 0,
        burst: 0,
    };

    pub fn is_off(&self) -> bool {
        self.per_minute == 0 || self.burst == 0
    }

    pub fn interval_ms(&self) -> f64 {
        60_000.0 / f64::from(self.per_minute.max(1))
    }
}

/// A decision and what the `RateLimit-*` headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    pub retry_after_ms: u64,
    pub reset_ms: u64,
}

impl Decision {
    /// A refusal over an allowance; of two allowances, the one with less left.
    pub fn stricter(a: Option<Decision>, b: Option<Decision>) -> Option<Decision> {
        match (a, b) {
            (Some(a), Some(b)) => Some(match (a.allowed, b.allowed) {
                (false, true) => a,
                (true, false) => b,
                (false, false) if a.retry_after_ms >= b.retry_after_ms => a,
                (false, false) => b,
                _ if a.remaining <= b.remaining => a,
                _ => b,
            }),
            (a, b) => a.or(b),
        }
    }
}

/// The step itself, on a TAT in ms.
fn step(tat: f64, now: f64, policy: Policy) -> (Decision, Option<f64>) {
    let interval = policy.interval_ms();
    let tat = tat.max(now);
    let next_tat = tat + interval;
    let allow_at = next_tat - f64::from(policy.burst) * interval;
    if now < allow_at {
        let decision = Decision {
            allowed: false,
            limit: policy.burst,
            remaining: 0,
            retry_after_ms: (allow_at - now).ceil() as u64,
            reset_ms: (tat - now).ceil() as u64,
        };
        return (decision, None);
    }
    let decision = Decision {
        allowed: true,
        limit: policy.burst,
        remaining: ((now - allow_at) / interval).floor() as u32,
        retry_after_ms: 0,
        reset_ms: (next_tat - now).ceil() as u64,
    };
    (decision, Some(next_tat))
}

/// In-process buckets, at most `max` of them: full ones (TAT in the past) are dropped first,
/// and if every bucket is still draining the oldest half goes (those clients get a fresh
/// bucket: a bounded memory beats a perfect memory).
pub struct MemoryBuckets {
    started: Instant,
    max: usize,
    buckets: Mutex<HashMap<String, f64>>,
}

impl MemoryBuckets {
    pub fn new(max: usize) -> Self {
        Self {
            started: Instant::now(),
            max: max.max(16),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn decide(&self, key: &str, policy: Policy) -> Decision {
        let now = self.started.elapsed().as_secs_f64() * 1000.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let tat = buckets.get(key).copied().unwrap_or(now);
        let (decision, next) = step(tat, now, policy);
        if let Some(next) = next {
            if buckets.len() >= self.max && !buckets.contains_key(key) {
                buckets.retain(|_, tat| *tat > now);
                if buckets.len() >= self.max {
                    let mut tats: Vec<f64> = buckets.values().copied().collect();
                    tats.sort_by(f64::total_cmp);
                    let cut = tats[tats.len() / 2];
                    buckets.retain(|_, tat| *tat > cut);
                }
            }
            buckets.insert(key.to_owned(), next);
        }
        decision
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.buckets.lock().map(|b| b.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEN_A_MINUTE_BURST_3: Policy = Policy {
        per_minute: 10,
        burst: 3,
    };

    #[test]
    fn a_burst_then_one_per_interval() {
        let p = TEN_A_MINUTE_BURST_3;
        let mut tat = 0.0;
        let mut remaining = Vec::new();
        for _ in 0..3 {
            let (d, next) = step(tat, 0.0, p);
            assert!(d.allowed);
            remaining.push(d.remaining);
            tat = next.expect("allowed");
        }
        assert_eq!(remaining, [2, 1, 0]);
        let (refused, none) = step(tat, 0.0, p);
        assert!(!refused.allowed && none.is_none());
        assert_eq!(refused.retry_after_ms, 6_000);
        // One interval later, exactly one more.
        let (d, next) = step(tat, 6_000.0, p);
        assert!(d.allowed);
        assert!(!step(next.expect("allowed"), 6_000.0, p).0.allowed);
    }

    #[test]
    fn the_stricter_decision_wins() {
        let allow = |remaining| Decision {
            allowed: true,
            limit: 5,
            remaining,
            retry_after_ms: 0,
            reset_ms: 0,
        };
        let refuse = Decision {
            allowed: false,
            limit: 5,
            remaining: 0,
            retry_after_ms: 100,
            reset_ms: 100,
        };
        assert_eq!(
            Decision::stricter(Some(allow(3)), Some(refuse)),
            Some(refuse)
        );
        assert_eq!(
            Decision::stricter(Some(allow(3)), Some(allow(1))),
            Some(allow(1))
        );
        assert_eq!(Decision::stricter(None, Some(allow(1))), Some(allow(1)));
        assert_eq!(Decision::stricter(None, None), None);
    }

    #[test]
    fn memory_buckets_stay_bounded() {
        let buckets = MemoryBuckets::new(100);
        for i in 0..10_000 {
            assert!(
                buckets
                    .decide(&format!("k{i}"), TEN_A_MINUTE_BURST_3)
                    .allowed
            );
        }
        assert!(buckets.len() <= 100, "{} buckets", buckets.len());
        let p = TEN_A_MINUTE_BURST_3;
        for _ in 0..3 {
            assert!(buckets.decide("hot", p).allowed);
        }
        assert!(!buckets.decide("hot", p).allowed);
    }
}
