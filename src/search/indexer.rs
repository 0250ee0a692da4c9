//! Keeps a node's index within a couple of seconds of the database by tailing the outbox from
//! the position it last reached (kept beside the index, so a restarted node catches up).
//! Re-indexing a show is idempotent, so the tail re-reads a small window before its position to
//! catch rows whose transactions committed out of id order.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Datelike, Utc};

use super::index::{SearchIndex, ShowDoc};
use super::store::{self, ShowDocRow};
use crate::app::AppState;
use crate::catalog::browse::ShowSummary;
use crate::catalog::cache::CatalogCache;
use crate::domain::ShowStatus;
use crate::store::Db;

/// Outbox ids re-read behind the position on every poll.
const LOOKBACK: i64 = 200;

/// The document of a searchable show: live, not started, not sold out.
fn to_doc(row: ShowDocRow, now: DateTime<Utc>) -> Option<ShowDoc> {
    let r = &row.summary;
    if r.status != ShowStatus::Live || r.start_time <= now || row.available == 0 {
        return None;
    }
    let summary = ShowSummary::from_row(r, false);
    Some(ShowDoc {
        show_id: r.show_id,
        title: r.title.clone(),
        description: row.description,
        tags: row.tags.0,
        artists: row.artists.0,
        venue: r.venue_name.clone(),
        city: r.city.clone(),
        category: r.category.clone(),
        start: r.start_time,
        local_day: i64::from(
            r.start_time
                .with_timezone(&r.tz())
                .date_naive()
                .num_days_from_ce(),
        ),
        summary: serde_json::to_value(summary).unwrap_or_default(),
    })
}

fn position_file(dir: &Path) -> PathBuf {
    dir.join("outbox-position")
}

fn read_position(dir: &Path) -> Option<i64> {
    std::fs::read_to_string(position_file(dir))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn write_position(dir: &Path, position: i64) -> std::io::Result<()> {
    let tmp = dir.join("outbox-position.tmp");
    std::fs::write(&tmp, position.to_string())?;
    std::fs::rename(tmp, position_file(dir))
}

/// Runs tantivy writes and the commit on the blocking pool: a commit fsyncs segments and may
/// merge them, which must not stall the async workers serving requests.
async fn write_index<T: Send + 'static>(
    index: &Arc<SearchIndex>,
    write: impl FnOnce(&SearchIndex) -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let index = index.clone();
    tokio::task::spawn_blocking(move || write(&index)).await?
}

/// Rebuilds the whole index from the database (`boxoffice reindex`, or a node's first start).
pub async fn rebuild(db: &Db, index: &Arc<SearchIndex>, dir: &Path) -> anyhow::Result<usize> {
    let position = store::max_outbox_id(db).await?;
    let now = Utc::now();
    let rows = store::live_show_rows(db, now).await?;
    let docs: Vec<ShowDoc> = rows
        .into_iter()
        .filter_map(|row| to_doc(row, now))
        .collect();
    let dir = dir.to_path_buf();
    index
        .applied
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clear();
    write_index(index, move |index| {
        index.clear()?;
        for doc in &docs {
            index.upsert(doc)?;
        }
        index.commit()?;
        write_position(&dir, position)?;
        Ok(docs.len())
    })
    .await
}

/// Applies the outbox rows after the position; returns how many shows were re-indexed.
///
/// A `show.*` event also drops this node's kept catalog answers (`catalog`), so a change made
/// on any node reaches every node's catalog reads as fast as its search index.
pub async fn sync_once(
    db: &Db,
    index: &Arc<SearchIndex>,
    dir: &Path,
    catalog: Option<&CatalogCache>,
) -> anyhow::Result<usize> {
    let Some(position) = read_position(dir) else {
        rebuild(db, index, dir).await?;
        return Ok(0);
    };
    let events = store::outbox_tail(db, position - LOOKBACK).await?;
    // Rows inside the window that this process has not applied yet: new ones, and ones whose
    // transactions committed after a later id was read.
    let fresh: Vec<_> = {
        let applied = index.applied.lock().unwrap_or_else(|p| p.into_inner());
        events
            .iter()
            .filter(|e| !applied.contains(&e.0) && (e.0 > position || !applied.is_empty()))
            .collect()
    };
    // The row at our position is gone: the database was reset (or restored from an older
    // backup) under this node's index. Start over from what the database holds now.
    if events
        .iter()
        .map(|e| e.0)
        .max()
        .is_none_or(|newest| newest < position)
        && store::max_outbox_id(db).await? < position
    {
        tracing::warn!(
            position,
            "the outbox is behind this node's search index; rebuilding it"
        );
        rebuild(db, index, dir).await?;
        return Ok(0);
    }
    let Some(newest) = events.iter().map(|e| e.0).max() else {
        return Ok(0);
    };
    if fresh.is_empty() {
        return Ok(0);
    }
    if fresh.iter().any(|e| e.1.starts_with("show.")) {
        if let Some(catalog) = catalog {
            catalog.invalidate();
        }
    }
    let mut shows = BTreeSet::new();
    for (_, topic, aggregate_id, payload) in fresh.iter().copied() {
        if topic.starts_with("show.") {
            shows.insert(*aggregate_id);
        } else if let Some(show_id) = payload.0.get("show_id").and_then(serde_json::Value::as_i64) {
            shows.insert(show_id);
        }
    }
    let now = Utc::now();
    let mut docs = std::collections::HashMap::new();
    for chunk in shows.iter().copied().collect::<Vec<_>>().chunks(200) {
        let rows = store::show_rows(db, chunk).await?;
        docs.extend(
            rows.into_iter()
                .filter_map(|row| to_doc(row, now))
                .map(|d| (d.show_id, d)),
        );
    }
    let position = position.max(newest);
    // Most booking events leave the show's document as it was (it changes when the show sells
    // out): those cost no write and no commit.
    let changed: Vec<(i64, Option<ShowDoc>)> = shows
        .iter()
        .map(|id| (*id, docs.remove(id)))
        .filter(|(id, doc)| index.differs(*id, doc.as_ref()))
        .collect();
    let dir = dir.to_path_buf();
    write_index(index, move |index| {
        if !changed.is_empty() {
            for (id, doc) in &changed {
                match doc {
                    Some(doc) => index.upsert(doc)?,
                    None => index.remove(*id),
                }
            }
            index.commit()?;
        }
        write_position(&dir, position)?;
        Ok(())
    })
    .await?;
    let mut applied = index.applied.lock().unwrap_or_else(|p| p.into_inner());
    applied.extend(fresh.iter().map(|e| e.0));
    let floor = position - LOOKBACK;
    applied.retain(|id| *id > floor);
    // Remember the window as applied even when this process started inside it.
    applied.insert(position);
    Ok(shows.len())
}

/// Keeps the node's index fresh: each step applies what the outbox gained since the kept
/// position; every five minutes it rebuilds instead, to drop shows that have started (no outbox
/// row marks a start).
pub struct Indexer {
    pub state: AppState,
    pub index: Arc<SearchIndex>,
    pub dir: PathBuf,
    last_sweep: std::time::Instant,
}

impl Indexer {
    pub fn new(state: AppState, index: Arc<SearchIndex>, dir: PathBuf) -> Self {
        Self {
            state,
            index,
            dir,
            last_sweep: std::time::Instant::now(),
        }
    }
}

impl crate::workers::Worker for Indexer {
    const NAME: &'static str = "search indexer";

    async fn step(&mut self) -> anyhow::Result<usize> {
        let applied = if self.last_sweep.elapsed() > Duration::from_secs(300) {
            self.last_sweep = std::time::Instant::now();
            rebuild(&self.state.db, &self.index, &self.dir).await?
        } else {
            sync_once(
                &self.state.db,
                &self.index,
                &self.dir,
                Some(&self.state.catalog),
            )
            .await?
        };
        // Each step applies everything the outbox had gained: the index is as fresh as this
        // step's time (alert on `time() - boxoffice_search_index_synced_timestamp_seconds`).
        metrics::gauge!("boxoffice_search_index_synced_timestamp_seconds")
            .set(chrono::Utc::now().timestamp_millis() as f64 / 1000.0);
        Ok(applied)
    }
}
