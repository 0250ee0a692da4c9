//! One show's live seat statuses on this node, kept current from the seat feed: the recorded
//! status of every seat (the database's: available, sold, blocked) with the holds laid over it,
//! the version of the last change applied, the recent deltas for clients that reconnect, and a
//! snapshot rendered at most once per version.
//!
//! The snapshot packs every seat's status in 2 bits, in seat index order (seat `i` in byte
//! `i / 4`, bits `2 * (i % 4)` and up): 0 available, 1 held, 2 sold, 3 blocked, then base64
//! (standard alphabet, padded). 50,000 seats are 16,668 characters.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine;
use bytes::Bytes;
use tokio::sync::broadcast;

use super::map::SeatMap;
use crate::domain::{InventoryStatus, SeatStatus};
use crate::holds::{FeedMessage, SeatChange, SeatHold};

/// The encoding named in snapshots.
pub const ENCODING: &str = "2bit-base64";

/// Deltas kept for clients resuming with `Last-Event-ID` (at a flush every 100 ms, about 25 s
/// of changes).
const RING: usize = 256;
/// Deltas a stream client may fall behind by before it is dropped (it reconnects and resumes).
const CLIENT_BACKLOG: usize = 64;

fn code(status: SeatStatus) -> u8 {
    match status {
        SeatStatus::Available => 0,
        SeatStatus::Held => 1,
        SeatStatus::Sold => 2,
        SeatStatus::Blocked => 3,
    }
}

fn status_of(code: u8) -> SeatStatus {
    match code & 3 {
        0 => SeatStatus::Available,
        1 => SeatStatus::Held,
        2 => SeatStatus::Sold,
        _ => SeatStatus::Blocked,
    }
}

/// The changes between two versions, rendered once as a server-sent event.
#[derive(Debug)]
pub struct Delta {
    pub from: u64,
    pub to: u64,
    pub event: Bytes,
}

/// `GET /api/v1/shows/{id}/availability` (and the stream's `snapshot` event): every seat's
/// status at `version`, 2 bits a seat in seat index order (`0` available, `1` held, `2` sold,
/// `3` blocked; seat `i` in byte `i / 4` at bits `2 * (i % 4)`), base64.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct AvailabilityBody {
    show_id: i64,
    /// Grows with every change; the stream's event ids.
    version: u64,
    /// `2bit-base64`.
    encoding: &'static str,
    seat_count: usize,
    seats: String,
    sections: Vec<SectionCounts>,
}

/// A section's seats by status.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct SectionCounts {
    name: String,
    available: u32,
    held: u32,
    sold: u32,
    blocked: u32,
}

/// A rendered snapshot of one version.
#[derive(Debug)]
pub struct Snapshot {
    pub version: u64,
    pub json: Bytes,
    /// The same body gzipped, for clients that accept it.
    pub gzip: Bytes,
    /// The `snapshot` server-sent event, made when a stream client first needs it (most
    /// snapshots are read with a GET and never need one).
    event: std::sync::OnceLock<Bytes>,
    /// Per section (in the map's order): available, held, sold, blocked.
    pub section_counts: Vec<[u32; 4]>,
}

impl Snapshot {
    /// The `snapshot` server-sent event of this version.
    pub fn event(&self) -> Bytes {
        self.event
            .get_or_init(|| {
                let mut event =
                    format!("id: {}\nevent: snapshot\ndata: ", self.version).into_bytes();
                event.extend_from_slice(&self.json);
                event.extend_from_slice(b"\n\n");
                Bytes::from(event)
            })
            .clone()
    }
}

#[derive(Debug, Clone, Copy)]
struct Hold {
    user_id: i64,
    expires_ms: i64,
}

struct Inner {
    version: u64,
    recorded: Vec<InventoryStatus>,
    holds: HashMap<u32, Hold>,
    /// The effective status of every seat as its 2-bit code (`code`), kept in step by
    /// [`Inner::touch`] and rebuilt by `fill`, so a snapshot reads it instead of working out
    /// 50,000 statuses.
    codes: Vec<u8>,
    /// Hold expiries still to announce, soonest first.
    expiries: BTreeSet<(i64, u32)>,
    /// Effective statuses changed since the last flush.
    pending: BTreeMap<u32, SeatStatus>,
    /// The version of the last delta sent.
    flushed: u64,
    ring: VecDeque<Arc<Delta>>,
    snapshot: Option<Arc<Snapshot>>,
    /// The state may have missed changes: rebuild it from the stores.
    stale: bool,
    /// Messages applied while a repair reads the stores, re-applied over what it read.
    repair_log: Option<Vec<Arc<FeedMessage>>>,
    /// A repair is running (one at a time).
    repairing: bool,
}

/// What a recorded status says on its own: sold and blocked seats are that whatever their
/// holds; an available one is held or free depending on the holds.
fn recorded_as(status: InventoryStatus) -> Option<SeatStatus> {
    match status {
        InventoryStatus::Sold => Some(SeatStatus::Sold),
        InventoryStatus::Blocked => Some(SeatStatus::Blocked),
        _ => None,
    }
}

impl Inner {
    fn effective(&self, index: u32) -> SeatStatus {
        match self
            .recorded
            .get(index as usize)
            .copied()
            .and_then(recorded_as)
        {
            Some(status) => status,
            None if self.holds.contains_key(&index) => SeatStatus::Held,
            None => SeatStatus::Available,
        }
    }

    /// The effective status of every seat, as [`effective`](Self::effective) gives them one
    /// by one, in one pass over the recorded statuses and one over the holds (rather than a
    /// hold lookup per seat: 50,000 of them for a stadium).
    fn all_effective(&self) -> Vec<SeatStatus> {
        let mut all: Vec<SeatStatus> = self
            .recorded
            .iter()
            .map(|r| recorded_as(*r).unwrap_or(SeatStatus::Available))
            .collect();
        for index in self.holds.keys() {
            if let Some(status) = all.get_mut(*index as usize) {
                if *status == SeatStatus::Available {
                    *status = SeatStatus::Held;
                }
            }
        }
        all
    }

    /// Runs `change` on seat `index`, noting its effective status if it changed.
    fn touch(&mut self, index: u32, change: impl FnOnce(&mut Self)) {
        let before = self.effective(index);
        change(self);
        let after = self.effective(index);
        if before != after {
            if let Some(c) = self.codes.get_mut(index as usize) {
                *c = code(after);
            }
            self.pending.insert(index, after);
        }
    }

    fn set_hold(&mut self, index: u32, hold: Option<Hold>) {
        self.touch(index, |s| {
            if let Some(old) = s.holds.remove(&index) {
                s.expiries.remove(&(old.expires_ms, index));
            }
            if let Some(hold) = hold {
                s.expiries.insert((hold.expires_ms, index));
                s.holds.insert(index, hold);
            }
        });
    }
}

/// A show's live statuses on this node.
pub struct ShowLive {
    pub map: Arc<SeatMap>,
    inner: Mutex<Inner>,
    deltas: broadcast::Sender<Arc<Delta>>,
}

/// What a stream client starts from.
pub enum Resume {
    /// The deltas after the client's version.
    Deltas(Vec<Arc<Delta>>),
    /// Too far behind (or new): a full snapshot.
    Snapshot(Arc<Snapshot>),
}

impl ShowLive {
    /// A state at `version` from the recorded statuses and the live holds.
    pub fn new(
        map: Arc<SeatMap>,
        version: u64,
        recorded: &[(i64, InventoryStatus)],
        holds: &HashMap<String, SeatHold>,
    ) -> Self {
        let mut inner = Inner {
            version,
            recorded: vec![InventoryStatus::Available; map.len()],
            holds: HashMap::new(),
            codes: Vec::new(),
            expiries: BTreeSet::new(),
            pending: BTreeMap::new(),
            flushed: version,
            ring: VecDeque::new(),
            snapshot: None,
            stale: false,
            repair_log: None,
            repairing: false,
        };
        fill(&map, &mut inner, recorded, holds);
        inner.pending.clear();
        let (deltas, _) = broadcast::channel(CLIENT_BACKLOG);
        Self {
            map,
            inner: Mutex::new(inner),
            deltas,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every update leaves the state consistent between statements that cannot panic.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn version(&self) -> u64 {
        self.lock().version
    }

    pub fn subscribers(&self) -> usize {
        self.deltas.receiver_count()
    }

    /// Applies one feed message. A message older than the state is skipped; one that skips a
    /// version marks the state stale (it is applied all the same, and then rebuilt).
    pub fn apply(&self, message: &Arc<FeedMessage>) {
        let mut inner = self.lock();
        if message.version <= inner.version {
            return;
        }
        if message.version > inner.version + 1 {
            inner.stale = true;
        }
        if let Some(log) = &mut inner.repair_log {
            log.push(message.clone());
        }
        self.apply_changes(&mut inner, message);
        inner.version = message.version;
    }

    fn apply_changes(&self, inner: &mut Inner, message: &FeedMessage) {
        for change in &message.changes {
            match change {
                SeatChange::Held {
                    label,
                    user_id,
                    expires_ms,
                } => {
                    if let Some(index) = self.map.index_of_label(label) {
                        let hold = Hold {
                            user_id: *user_id,
                            expires_ms: *expires_ms,
                        };
                        inner.set_hold(index, Some(hold));
                    }
                }
                SeatChange::Unheld { label } => {
                    if let Some(index) = self.map.index_of_label(label) {
                        inner.set_hold(index, None);
                    }
                }
                SeatChange::Recorded { label, status } => {
                    if let Some(index) = self.map.index_of_label(label) {
                        inner.touch(index, |s| s.recorded[index as usize] = *status);
                    }
                }
            }
        }
    }

    /// Starts logging the messages applied from now on, for [`Self::repair`] to re-apply.
    pub fn begin_repair(&self) {
        self.lock().repair_log = Some(Vec::new());
    }

    /// Replaces the state with one rebuilt from the stores at `version` (read before them), and
    /// notes the seats whose status that corrected.
    pub fn repair(
        &self,
        version: u64,
        recorded: &[(i64, InventoryStatus)],
        holds: &HashMap<String, SeatHold>,
    ) {
        let mut inner = self.lock();
        let before = inner.all_effective();
        inner.recorded = vec![InventoryStatus::Available; self.map.len()];
        inner.holds.clear();
        inner.expiries.clear();
        fill(&self.map, &mut inner, recorded, holds);
        // What changed while the stores were read may be missing from what was read.
        for message in inner.repair_log.take().unwrap_or_default() {
            if message.version > version {
                self.apply_changes(&mut inner, &message);
            }
        }
        // `before` already includes the changes not flushed yet: those stay pending (with the
        // status they have now), since the clients have not been sent them.
        for (i, old) in before.into_iter().enumerate() {
            let index = i as u32;
            let now = inner.effective(index);
            if now != old {
                inner.pending.insert(index, now);
            } else if let Some(pending) = inner.pending.get_mut(&index) {
                *pending = now;
            }
        }
        inner.version = inner.version.max(version);
        inner.repairing = false;
    }

    /// Marks the state as possibly behind: it is rebuilt at the next tick.
    pub fn mark_stale(&self) {
        self.lock().stale = true;
    }

    /// A repair that could not read the stores: tried again at the next tick.
    pub fn repair_failed(&self) {
        let mut inner = self.lock();
        inner.repair_log = None;
        inner.repairing = false;
        inner.stale = true;
    }

    /// True (once) when the state may have missed changes and no repair is running; the
    /// caller then runs one.
    pub fn take_stale(&self) -> bool {
        let mut inner = self.lock();
        if !inner.stale || inner.repairing {
            return false;
        }
        inner.stale = false;
        inner.repairing = true;
        true
    }

    /// Holds whose expiry has passed, as (label, holder, expiry) for the hold store to end;
    /// each is asked about again a second later if its end is not announced by then.
    pub fn due_expiries(&self, now_ms: i64) -> Vec<(String, i64, i64)> {
        let mut inner = self.lock();
        let mut due = Vec::new();
        let mut retry = Vec::new();
        while let Some(&(expires_ms, index)) = inner.expiries.first() {
            if expires_ms > now_ms || due.len() >= 500 {
                break;
            }
            inner.expiries.pop_first();
            // A retry entry of a hold that was replaced meanwhile finds a later expiry: skipped,
            // the new hold has its own entry.
            let hold = inner
                .holds
                .get(&index)
                .copied()
                .filter(|h| h.expires_ms <= now_ms);
            if let (Some(hold), Some(label)) = (hold, self.map.label(index)) {
                due.push((label, hold.user_id, hold.expires_ms));
                retry.push((now_ms + 1000, index));
            }
        }
        inner.expiries.extend(retry);
        due
    }

    /// Sends the effective changes since the last flush as one delta to the stream clients and
    /// keeps it for resuming clients. Returns whether there was anything to send.
    pub fn flush(&self) -> bool {
        let mut inner = self.lock();
        if inner.pending.is_empty() {
            return false;
        }
        let changes: Vec<(u32, &'static str)> = inner
            .pending
            .iter()
            .map(|(i, s)| (*i, s.as_str()))
            .collect();
        inner.pending.clear();
        // The snapshot rendered before these changes were sent is now behind the stream.
        inner.snapshot = None;
        let from = inner.flushed;
        let to = inner.version;
        let data = serde_json::json!({ "version": to, "changes": changes });
        let event = Bytes::from(format!("id: {to}\nevent: seats\ndata: {data}\n\n"));
        let delta = Arc::new(Delta { from, to, event });
        inner.flushed = to;
        inner.ring.push_back(delta.clone());
        while inner.ring.len() > RING {
            inner.ring.pop_front();
        }
        drop(inner);
        let _ = self.deltas.send(delta);
        true
    }

    /// A receiver of the deltas to come, and what the client needs first to catch up from
    /// `since` (its `Last-Event-ID`), subscribed in that order so nothing falls between.
    pub fn follow(&self, since: Option<u64>) -> (broadcast::Receiver<Arc<Delta>>, Resume) {
        let receiver = self.deltas.subscribe();
        let resume = {
            let inner = self.lock();
            // Only a version this node sent (a delta boundary) can be resumed from; anything
            // else (a made-up id, one older than the kept deltas) gets a snapshot.
            let known = |v: u64| {
                inner.ring.front().is_some_and(|d| d.from == v)
                    || inner.ring.iter().any(|d| d.to == v)
            };
            match since {
                Some(v) if v == inner.flushed => Some(Vec::new()),
                Some(v) if known(v) => {
                    Some(inner.ring.iter().filter(|d| d.to > v).cloned().collect())
                }
                _ => None,
            }
        };
        match resume {
            Some(deltas) => (receiver, Resume::Deltas(deltas)),
            None => (receiver, Resume::Snapshot(self.snapshot())),
        }
    }

    /// The current snapshot. It is rendered (with any changes not flushed yet) when first asked
    /// for after a flush and served until the next flush sends a delta, so a show is rendered at
    /// most once per [`super::FLUSH_EVERY`] however many read it; it is never further behind
    /// than the changes the next delta brings, which a stream client subscribed before reading
    /// it receives.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        let mut inner = self.lock();
        if let Some(s) = &inner.snapshot {
            return s.clone();
        }
        let snapshot = Arc::new(self.render(&inner));
        inner.snapshot = Some(snapshot.clone());
        snapshot
    }

    fn render(&self, inner: &Inner) -> Snapshot {
        let n = self.map.len();
        let mut packed = vec![0u8; n.div_ceil(4)];
        let mut counts = vec![[0u32; 4]; self.map.sections.len()];
        for (i, c) in inner.codes.iter().copied().enumerate().take(n) {
            packed[i / 4] |= c << (2 * (i % 4));
            if let Some(section) = counts.get_mut(self.map.seats[i].section as usize) {
                section[c as usize & 3] += 1;
            }
        }
        let sections = self
            .map
            .sections
            .iter()
            .zip(&counts)
            .map(|(s, c)| SectionCounts {
                name: s.name.clone(),
                available: c[0],
                held: c[1],
                sold: c[2],
                blocked: c[3],
            })
            .collect();
        let body = AvailabilityBody {
            show_id: self.map.show_id,
            version: inner.version,
            encoding: ENCODING,
            seat_count: n,
            seats: base64::engine::general_purpose::STANDARD.encode(&packed),
            sections,
        };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let gzip = gz
            .write_all(&json)
            .and_then(|()| gz.finish())
            .unwrap_or_default();
        Snapshot {
            version: inner.version,
            json: Bytes::from(json),
            gzip: Bytes::from(gzip),
            event: std::sync::OnceLock::new(),
            section_counts: counts,
        }
    }

    /// Each of `labels`' seat id, price and status as recorded (sold, blocked or available, as
    /// this node last heard: the hold store and the booking transaction decide), in request
    /// order; or the labels the show does not have.
    pub fn seats_of(
        &self,
        labels: &[String],
    ) -> Result<Vec<(i64, i64, InventoryStatus)>, Vec<String>> {
        let inner = self.lock();
        let mut seats = Vec::with_capacity(labels.len());
        let mut unknown = Vec::new();
        for label in labels {
            let Some(index) = self.map.index_of_label(label) else {
                unknown.push(label.clone());
                continue;
            };
            let seat = &self.map.seats[index as usize];
            let price = self
                .map
                .sections
                .get(usize::from(seat.section))
                .map_or(0, |s| s.price_minor);
            seats.push((seat.seat_id, price, inner.recorded[index as usize]));
        }
        if unknown.is_empty() {
            Ok(seats)
        } else {
            Err(unknown)
        }
    }

    /// Every seat's effective status, with the caller's own holds marked.
    pub fn statuses(&self, user_id: Option<i64>) -> Vec<(SeatStatus, bool)> {
        let inner = self.lock();
        (0..self.map.len() as u32)
            .map(|i| {
                let status = inner.effective(i);
                let mine = status == SeatStatus::Held
                    && user_id.is_some()
                    && inner.holds.get(&i).map(|h| h.user_id) == user_id;
                (status, mine)
            })
            .collect()
    }

    /// The seats `user_id` holds (labels) and the soonest of their expiries.
    pub fn holds_of(&self, user_id: i64) -> (Vec<String>, Option<i64>) {
        let inner = self.lock();
        let mut seats: Vec<(u32, i64)> = inner
            .holds
            .iter()
            .filter(|(i, h)| h.user_id == user_id && inner.effective(**i) == SeatStatus::Held)
            .map(|(i, h)| (*i, h.expires_ms))
            .collect();
        seats.sort_unstable();
        let soonest = seats.iter().map(|(_, e)| *e).min();
        (
            seats
                .into_iter()
                .filter_map(|(i, _)| self.map.label(i))
                .collect(),
            soonest,
        )
    }

    /// Counts per section: (available, held, sold, blocked).
    pub fn section_counts(&self) -> Vec<[u32; 4]> {
        let inner = self.lock();
        let mut counts = vec![[0u32; 4]; self.map.sections.len()];
        for (i, c) in inner.codes.iter().copied().enumerate().take(self.map.len()) {
            if let Some(section) = counts.get_mut(self.map.seats[i].section as usize) {
                section[c as usize & 3] += 1;
            }
        }
        counts
    }

    /// The effective status of the seat labelled `label`.
    pub fn status_of_label(&self, label: &str) -> Option<SeatStatus> {
        let index = self.map.index_of_label(label)?;
        Some(self.lock().effective(index))
    }
}

fn fill(
    map: &SeatMap,
    inner: &mut Inner,
    recorded: &[(i64, InventoryStatus)],
    holds: &HashMap<String, SeatHold>,
) {
    for (seat_id, status) in recorded {
        if let Some(index) = map.index_of_seat_id(*seat_id) {
            inner.recorded[index as usize] = *status;
        }
    }
    for (label, hold) in holds {
        if let Some(index) = map.index_of_label(label) {
            let hold = Hold {
                user_id: hold.user_id,
                expires_ms: hold.expires_at.timestamp_millis(),
            };
            inner.expiries.insert((hold.expires_ms, index));
            inner.holds.insert(index, hold);
        }
    }
    inner.codes = inner.all_effective().into_iter().map(code).collect();
}

/// Unpacks a snapshot's `seats` (for tests and the load generator).
pub fn decode_seats(encoded: &str, seat_count: usize) -> Option<Vec<SeatStatus>> {
    let packed = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    (0..seat_count)
        .map(|i| packed.get(i / 4).map(|b| status_of(b >> (2 * (i % 4)))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::availability::store::{MapShow, SeatRow, SectionRow};
    use crate::domain::ShowStatus;
    use chrono::{DateTime, Utc};

    fn map(n: i32) -> Arc<SeatMap> {
        let show = MapShow {
            show_id: 1,
            venue_id: 1,
            status: ShowStatus::Live,
            currency: "INR".into(),
        };
        let sections = vec![SectionRow {
            section_id: 1,
            name: "All".into(),
            colour: "#000".into(),
            priority: 0,
            price_minor: 100,
        }];
        let seats = (1..=n)
            .map(|i| SeatRow {
                seat_id: i64::from(i),
                section_id: 1,
                row_label: "A".into(),
                number: i,
                x: i,
                y: 0,
                accessible: false,
            })
            .collect();
        Arc::new(SeatMap::build(&show, sections, seats))
    }

    fn message(version: u64, changes: Vec<SeatChange>) -> Arc<FeedMessage> {
        Arc::new(FeedMessage {
            show_id: 1,
            version,
            changes,
        })
    }

    /// The snapshot (and the section counts) read the codes kept in step with each change;
    /// after any sequence of holds, releases, sales, blocks and repairs they say what each
    /// seat's own status says.
    #[test]
    fn snapshots_agree_with_every_seat_after_any_changes_and_repairs() {
        use rand::{Rng, SeedableRng};
        let n = 40;
        let live = ShowLive::new(map(n), 1, &[(3, InventoryStatus::Sold)], &HashMap::new());
        let mut rng = rand::rngs::StdRng::seed_from_u64(13);
        let mut version = 1;
        for step in 0..400 {
            version += 1;
            let label = format!("A{}", rng.gen_range(1..=n));
            let change = match rng.gen_range(0..6) {
                0 | 1 => SeatChange::Held {
                    label,
                    user_id: rng.gen_range(1..4),
                    expires_ms: 1,
                },
                2 => SeatChange::Unheld { label },
                3 => SeatChange::Recorded {
                    label,
                    status: InventoryStatus::Sold,
                },
                4 => SeatChange::Recorded {
                    label,
                    status: InventoryStatus::Blocked,
                },
                _ => SeatChange::Recorded {
                    label,
                    status: InventoryStatus::Available,
                },
            };
            live.apply(&message(version, vec![change]));
            if step % 50 == 49 {
                // A repair that finds seat A5 sold and A6 held, whatever was there.
                live.begin_repair();
                let holds = HashMap::from([(
                    "A6".to_owned(),
                    SeatHold {
                        user_id: 9,
                        expires_at: Utc::now(),
                    },
                )]);
                live.repair(version, &[(5, InventoryStatus::Sold)], &holds);
            }
            let one_by_one: Vec<SeatStatus> = (1..=n)
                .map(|i| live.status_of_label(&format!("A{i}")).expect("seat"))
                .collect();
            let decode = |snapshot: &Snapshot| {
                let body: serde_json::Value = serde_json::from_slice(&snapshot.json).expect("json");
                decode_seats(body["seats"].as_str().expect("seats"), n as usize).expect("decodes")
            };
            // Between flushes a snapshot, once rendered, is served as it is; after a flush it
            // is every seat's status.
            let cached = live.snapshot();
            if step % 3 == 0 {
                live.flush();
                assert_eq!(decode(&live.snapshot()), one_by_one, "step {step}");
            } else {
                assert!(Arc::ptr_eq(&cached, &live.snapshot()), "step {step}");
            }
            let counted = |s: SeatStatus| one_by_one.iter().filter(|x| **x == s).count() as u32;
            assert_eq!(
                live.section_counts(),
                vec![[
                    counted(SeatStatus::Available),
                    counted(SeatStatus::Held),
                    counted(SeatStatus::Sold),
                    counted(SeatStatus::Blocked)
                ]],
                "step {step}"
            );
        }
    }

    #[test]
    fn holds_sales_and_releases_flow_into_snapshot_and_deltas() {
        let live = ShowLive::new(map(6), 10, &[(6, InventoryStatus::Sold)], &HashMap::new());
        let (mut rx, resume) = live.follow(None);
        assert!(matches!(resume, Resume::Snapshot(_)));
        live.apply(&message(
            11,
            vec![SeatChange::Held {
                label: "A1".into(),
                user_id: 7,
                expires_ms: 1,
            }],
        ));
        live.apply(&message(
            12,
            vec![SeatChange::Recorded {
                label: "A2".into(),
                status: InventoryStatus::Sold,
            }],
        ));
        // An old message changes nothing.
        live.apply(&message(
            11,
            vec![SeatChange::Unheld { label: "A1".into() }],
        ));
        assert!(live.flush());
        let delta = rx.try_recv().expect("a delta");
        assert_eq!((delta.from, delta.to), (10, 12));
        let text = String::from_utf8_lossy(&delta.event);
        assert!(text.contains(r#"[[0,"held"],[1,"sold"]]"#), "{text}");
        let snapshot = live.snapshot();
        let body: serde_json::Value = serde_json::from_slice(&snapshot.json).expect("json");
        assert_eq!(body["version"], 12);
        let seats = decode_seats(body["seats"].as_str().expect("seats"), 6).expect("decodes");
        assert_eq!(
            seats,
            vec![
                SeatStatus::Held,
                SeatStatus::Sold,
                SeatStatus::Available,
                SeatStatus::Available,
                SeatStatus::Available,
                SeatStatus::Sold
            ]
        );
        assert_eq!(body["sections"][0]["sold"], 2);
        assert_eq!(live.holds_of(7).0, vec!["A1".to_string()]);
        // A held seat that is sold shows sold; its release changes nothing visible.
        live.apply(&message(
            13,
            vec![
                SeatChange::Recorded {
                    label: "A1".into(),
                    status: InventoryStatus::Sold,
                },
                SeatChange::Unheld { label: "A1".into() },
            ],
        ));
        assert!(live.flush());
        let text = String::from_utf8_lossy(&rx.try_recv().expect("delta").event).to_string();
        assert!(text.contains(r#"[[0,"sold"]]"#), "{text}");
    }

    #[test]
    fn resuming_clients_get_the_deltas_they_missed_or_a_snapshot() {
        let live = ShowLive::new(map(4), 100, &[], &HashMap::new());
        for (v, label) in [(101, "A1"), (102, "A2"), (103, "A3")] {
            live.apply(&message(
                v,
                vec![SeatChange::Held {
                    label: label.into(),
                    user_id: 1,
                    expires_ms: 1,
                }],
            ));
            live.flush();
        }
        let (_, resume) = live.follow(Some(101));
        match resume {
            Resume::Deltas(d) => {
                assert_eq!(d.iter().map(|d| d.to).collect::<Vec<_>>(), vec![102, 103])
            }
            Resume::Snapshot(_) => panic!("expected deltas"),
        }
        let (_, resume) = live.follow(Some(103));
        assert!(matches!(resume, Resume::Deltas(d) if d.is_empty()));
        let (_, resume) = live.follow(Some(5));
        assert!(matches!(resume, Resume::Snapshot(_)));
    }

    #[test]
    fn a_skipped_version_marks_the_state_stale_and_repair_corrects_it() {
        let live = ShowLive::new(map(3), 1, &[], &HashMap::new());
        live.apply(&message(
            3,
            vec![SeatChange::Held {
                label: "A1".into(),
                user_id: 1,
                expires_ms: 50,
            }],
        ));
        assert!(live.take_stale());
        assert!(!live.take_stale());
        // The stores say: A1 is not held (the hold store lost it), A3 is sold.
        live.repair(4, &[(3, InventoryStatus::Sold)], &HashMap::new());
        assert_eq!(live.status_of_label("A1"), Some(SeatStatus::Available));
        assert_eq!(live.status_of_label("A3"), Some(SeatStatus::Sold));
        assert_eq!(live.version(), 4);
        assert!(live.flush());
    }

    /// A change applied just before a repair that finds the same state is still sent: a repair
    /// between a change and the next flush once swallowed it, and stream clients never heard
    /// of the seat (seen in CI as a resumed stream that got no delta).
    #[test]
    fn a_repair_between_a_change_and_its_flush_keeps_the_change() {
        let live = ShowLive::new(map(3), 1, &[], &HashMap::new());
        live.begin_repair();
        live.apply(&message(
            2,
            vec![SeatChange::Held {
                label: "A2".into(),
                user_id: 7,
                expires_ms: i64::MAX,
            }],
        ));
        let holds = HashMap::from([(
            "A2".to_owned(),
            SeatHold {
                user_id: 7,
                expires_at: DateTime::<Utc>::MAX_UTC,
            },
        )]);
        live.repair(2, &[], &holds);
        let mut deltas = live.deltas.subscribe();
        assert!(live.flush(), "the held seat is still to be sent");
        let delta = deltas.try_recv().expect("a delta");
        assert_eq!(delta.to, 2);
        let event = String::from_utf8_lossy(&delta.event).into_owned();
        assert!(event.contains(r#"[1,"held"]"#), "{event}");
    }

    #[test]
    fn expiries_come_due_in_order_and_are_retried() {
        let live = ShowLive::new(map(3), 1, &[], &HashMap::new());
        live.apply(&message(
            2,
            vec![
                SeatChange::Held {
                    label: "A2".into(),
                    user_id: 1,
                    expires_ms: 200,
                },
                SeatChange::Held {
                    label: "A1".into(),
                    user_id: 2,
                    expires_ms: 100,
                },
            ],
        ));
        assert!(live.due_expiries(50).is_empty());
        assert_eq!(live.due_expiries(150), vec![("A1".to_string(), 2, 100)]);
        assert!(live.due_expiries(160).is_empty());
        // A2 comes due, and A1, not announced within a second, is asked about again.
        let again = live.due_expiries(1150);
        assert_eq!(
            again,
            vec![("A2".to_string(), 1, 200), ("A1".to_string(), 2, 100)]
        );
    }

    #[test]
    fn a_client_that_stops_reading_is_left_behind_not_buffered_for() {
        let live = ShowLive::new(map(2), 1, &[], &HashMap::new());
        let (mut rx, _) = live.follow(None);
        for v in 2..200u64 {
            let change = if v % 2 == 0 {
                SeatChange::Held {
                    label: "A1".into(),
                    user_id: 1,
                    expires_ms: 1,
                }
            } else {
                SeatChange::Unheld { label: "A1".into() }
            };
            live.apply(&message(v, vec![change]));
            live.flush();
        }
        // At most CLIENT_BACKLOG deltas wait for it; the stream then ends it (it reconnects).
        assert!(matches!(
            rx.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(n)) if n >= 100
        ));
        assert!(live.lock().ring.len() <= RING);
    }

    #[test]
    fn fifty_thousand_seats_fit_in_twenty_kilobytes() {
        let live = ShowLive::new(map(50_000), 1, &[], &HashMap::new());
        let snapshot = live.snapshot();
        let body: serde_json::Value = serde_json::from_slice(&snapshot.json).expect("json");
        assert_eq!(body["seats"].as_str().map(str::len), Some(16_668));
        assert!(snapshot.json.len() <= 20 * 1024, "{}", snapshot.json.len());
    }
}
