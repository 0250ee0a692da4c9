//! Catalog reads from each node's memory: the show list, a show, an event and a venue are kept
//! as rendered answers, dropped when the catalog changes (a launch, an edit, a cancellation on
//! this node at once; on another node as soon as its outbox tail sees the `show.*` event, within
//! a fraction of a second) and after a short time to live at most.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::browse::ShowDetail;

/// The longest an answer is kept without a change being seen.
pub const TTL: Duration = Duration::from_secs(10);
/// Entries kept at most per kind; past it, the cache starts over.
const MAX_ENTRIES: usize = 10_000;

/// A rendered answer, its entity tag, and the same body gzipped once for the clients that
/// accept it (so a hot answer is not compressed again on every read).
#[derive(Debug, Clone)]
pub struct Rendered {
    pub body: Bytes,
    pub gzip: Option<Bytes>,
    pub etag: Arc<str>,
}

/// Bodies smaller than this are sent as they are (the compression layer leaves them alone too).
const GZIP_FROM: usize = 256;

impl Rendered {
    pub fn new(body: Vec<u8>) -> Self {
        let digest = Sha256::digest(&body);
        let gzip = (body.len() >= GZIP_FROM)
            .then(|| {
                use std::io::Write;
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                gz.write_all(&body).and_then(|()| gz.finish()).ok()
            })
            .flatten()
            .map(Bytes::from);
        Self {
            etag: Arc::from(format!("\"{}\"", hex::encode(&digest[..12]))),
            body: Bytes::from(body),
            gzip,
        }
    }
}

struct Slot<T> {
    generation: u64,
    at: Instant,
    ttl: Duration,
    value: T,
}

struct Map<T>(Mutex<HashMap<String, Slot<T>>>);

impl<T: Clone> Map<T> {
    fn get(&self, key: &str, generation: u64) -> Option<T> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key)
            .filter(|s| s.generation == generation && s.at.elapsed() < s.ttl)
            .map(|s| s.value.clone())
    }

    fn put(&self, key: String, generation: u64, ttl: Duration, value: T) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(
            key,
            Slot {
                generation,
                at: Instant::now(),
                ttl,
                value,
            },
        );
    }
}

impl<T> Default for Map<T> {
    fn default() -> Self {
        Self(Mutex::new(HashMap::new()))
    }
}

/// This node's catalog answers.
#[derive(Default)]
pub struct CatalogCache {
    /// Held while an answer that was missing is computed, so a rush of readers missing the
    /// same answer (after a change or its time to live) computes it once, not once each.
    pub filling: tokio::sync::Mutex<()>,
    generation: AtomicU64,
    answers: Map<Rendered>,
    shows: Map<Arc<ShowDetail>>,
}

impl CatalogCache {
    /// The catalog changed: every kept answer is stale.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The generation to read (and then store) under: an answer computed while a change lands
    /// is stored under the old generation and so never served.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    pub fn answer(&self, key: &str) -> Option<Rendered> {
        self.answers.get(key, self.generation())
    }

    pub fn keep_answer(&self, key: String, generation: u64, ttl: Duration, answer: Rendered) {
        self.answers.put(key, generation, ttl, answer);
    }

    /// A public (live or past, never draft) show, without its live counts.
    pub fn show(&self, show_id: i64) -> Option<Arc<ShowDetail>> {
        self.shows.get(&show_id.to_string(), self.generation())
    }

    pub fn keep_show(&self, generation: u64, show: Arc<ShowDetail>) {
        self.shows
            .put(show.show_id.to_string(), generation, TTL, show);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_or_the_time_to_live_drops_an_answer() {
        let cache = CatalogCache::default();
        let g = cache.generation();
        cache.keep_answer("a".into(), g, TTL, Rendered::new(b"[1]".to_vec()));
        assert_eq!(
            cache.answer("a").map(|r| r.body),
            Some(Bytes::from_static(b"[1]"))
        );
        cache.invalidate();
        assert!(cache.answer("a").is_none());
        // Computed before the change, stored after it: never served.
        cache.keep_answer("b".into(), g, TTL, Rendered::new(b"[2]".to_vec()));
        assert!(cache.answer("b").is_none());
        let g = cache.generation();
        cache.keep_answer(
            "c".into(),
            g,
            Duration::ZERO,
            Rendered::new(b"[3]".to_vec()),
        );
        assert!(cache.answer("c").is_none());
    }
}
