//! Group commit of bookings (PostgreSQL). During an onsale a node has many bookings ready to
//! commit at once; each on its own costs about ten statements and a commit. The committer takes
//! whatever bookings are waiting (up to [`MAX_BATCH`]) and commits them in one transaction with
//! one statement per step for the whole batch, so the statements and the WAL flush are shared.
//!
//! Every booking keeps the contract of [`super::store::commit_booking`]: its seats flip from
//! `available` to `sold` all or none (a booking that loses a seat, to another node or to another
//! booking of the same batch, writes nothing and leaves the others unharmed), the buyers are
//! locked and their confirmed seats recounted inside the transaction (bookings of one buyer in
//! the same batch count against each other), and the shows are locked for share so a
//! cancellation waits. When the batch transaction fails as a whole (a deadlock with another
//! node, a lost connection), each booking is handed back and commits on its own.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use tokio::sync::{mpsc, oneshot};

use super::store::BookingOutcome;
use crate::domain::ShowStatus;
use crate::events::outbox::topics;
use crate::inventory::{InventorySeat, SaleShow};
use crate::payments::CaptureRecord;
use crate::store::batch::{Batcher, Kept};

/// Bookings committed together at most.
pub const MAX_BATCH: usize = 64;
/// Bookings waiting for the committer at most (shared equally by the runners' queues); beyond, a
/// booking commits on its own.
const QUEUE: usize = 1024;
/// Batches one node commits at once. Each runner has its own queue and a buyer's bookings always
/// go to the same one (by user id), so two batches of a node never lock the same buyer: one
/// never waits for the other's commit. Their seats are held by different buyers and their shows
/// are locked for share, so they rarely touch the same rows; a deadlock (with another node)
/// fails one batch, whose bookings then commit alone.
const RUNNERS: usize = 2;
/// The longest a batch transaction may take before its bookings are handed back.
const BATCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Renders a confirmed booking's 201 body from its id and `(ticket id, seat id)` pairs.
pub type Render = Box<dyn Fn(i64, &[(i64, i64)]) -> String + Send + Sync>;

/// One booking for the committer (owned: it crosses tasks).
pub struct GroupBooking {
    pub user_id: i64,
    pub idempotency_key: String,
    pub show: SaleShow,
    pub currency: &'static str,
    pub seats: Vec<InventorySeat>,
    pub transaction_id: String,
    pub provider: String,
    pub total_minor: i64,
    pub render: Render,
}

/// What the committer made of a booking.
pub enum GroupOutcome {
    /// Decided in a batch (committed or refused).
    Decided(BookingOutcome),
    /// Not decided: the caller commits it on its own (the batch failed, or the committer is
    /// full or gone). Nothing of it was written.
    Alone,
}

struct Item {
    booking: GroupBooking,
    reply: oneshot::Sender<GroupOutcome>,
}

/// The node's booking committer: [`RUNNERS`] tasks committing batches, each from its own bounded
/// queue of a share of the buyers; beside it, the booking's two single statements outside its
/// transaction, batched the same way: claiming idempotency keys and recording captures.
#[derive(Clone)]
pub struct GroupCommitter {
    queues: Vec<mpsc::Sender<Item>>,
    claims: Batcher<(i64, String, String), ()>,
    captures: Batcher<String, CaptureRecord>,
}

impl GroupCommitter {
    /// Starts the committer on `pool`; it ends when the last clone is dropped.
    pub fn start(pool: PgPool) -> Self {
        let queues = (0..RUNNERS)
            .map(|_| {
                let (queue, receiver) = mpsc::channel(QUEUE / RUNNERS);
                tokio::spawn(run(pool.clone(), receiver));
                queue
            })
            .collect();
        let claims = Batcher::on_pool(
            "idempotency claims",
            MAX_BATCH,
            QUEUE,
            pool.clone(),
            |conn, items| Box::pin(super::idempotency::claim_many(conn, items)),
        );
        let captures = Batcher::on_pool("capture records", MAX_BATCH, QUEUE, pool, |conn, txns| {
            Box::pin(crate::payments::store::record_captures_pg(conn, txns))
        });
        Self {
            queues,
            claims,
            captures,
        }
    }

    /// Claims a fresh idempotency key with other bookings' claims: true when claimed, false when
    /// the caller must claim it alone (the key exists already, or the batch could not decide).
    pub async fn claim(&self, user_id: i64, key: &str, request_hash: &str) -> bool {
        self.claims
            .submit((user_id, key.to_owned(), request_hash.to_owned()))
            .await
            .is_some()
    }

    /// Records a capture with other bookings' ([`crate::payments::record_capture`]); `None`
    /// when the caller must record it alone.
    pub async fn record_capture(&self, txn: &str) -> Option<CaptureRecord> {
        self.captures.submit(txn.to_owned()).await
    }

    /// Commits `booking` with whatever else is waiting.
    pub async fn commit(&self, booking: GroupBooking) -> GroupOutcome {
        let (reply, answer) = oneshot::channel();
        let queue = &self.queues[runner_of(booking.user_id)];
        if queue.try_send(Item { booking, reply }).is_err() {
            return GroupOutcome::Alone;
        }
        // The committer answers every item it takes, within its batch timeout.
        match answer.await {
            Ok(outcome) => outcome,
            Err(_) => GroupOutcome::Decided(BookingOutcome::Injected(
                "the booking committer stopped".to_owned(),
            )),
        }
    }
}

/// The runner whose queue takes `user_id`'s bookings.
pub fn runner_of(user_id: i64) -> usize {
    user_id.rem_euclid(RUNNERS as i64) as usize
}

/// One runner: takes whatever is waiting in its queue (while it committed its last batch) and
/// commits it.
///
/// While batches follow one another it keeps its connection for the next (as
/// [`crate::store::batch`] does), saving the pool's two pings a batch.
async fn run(pool: PgPool, mut receiver: mpsc::Receiver<Item>) {
    let mut kept: Kept = None;
    loop {
        let mut items = Vec::with_capacity(MAX_BATCH);
        if receiver.recv_many(&mut items, MAX_BATCH).await == 0 {
            return;
        }
        let bookings: Vec<&GroupBooking> = items.iter().map(|i| &i.booking).collect();
        let started = std::time::Instant::now();
        let decided = tokio::time::timeout(BATCH_TIMEOUT, async {
            // After an error the connection goes back to the pool, as `on_kept` does.
            let mut conn = match kept.take() {
                Some(conn) => conn,
                None => pool.acquire().await?,
            };
            let outcomes = commit_batch(&mut conn, &bookings).await?;
            Ok::<_, sqlx::Error>((conn, outcomes))
        })
        .await
        .map(|decided| {
            decided.map(|(conn, outcomes)| {
                if !receiver.is_empty() {
                    kept = Some(conn);
                }
                outcomes
            })
        });
        drop(bookings);
        match decided {
            Ok(Ok(outcomes)) => {
                tracing::debug!(
                    bookings = items.len(),
                    ms = started.elapsed().as_secs_f64() * 1e3,
                    "booking batch decided"
                );
                for (item, outcome) in items.into_iter().zip(outcomes) {
                    let _ = item.reply.send(GroupOutcome::Decided(outcome));
                }
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, bookings = items.len(), "a booking batch failed; committing each on its own");
                hand_back(items);
            }
            Err(_) => {
                tracing::warn!(
                    bookings = items.len(),
                    "a booking batch timed out; committing each on its own"
                );
                hand_back(items);
            }
        }
    }
}

fn hand_back(items: Vec<Item>) {
    for item in items {
        let _ = item.reply.send(GroupOutcome::Alone);
    }
}

/// One transaction for the whole batch; a decision per booking, in order. Nothing is written
/// when it fails.
async fn commit_batch(
    conn: &mut PgConnection,
    batch: &[&GroupBooking],
) -> Result<Vec<BookingOutcome>, sqlx::Error> {
    let now = Utc::now();
    let mut tx = sqlx::Connection::begin(conn).await?;

    // Buyers, in id order (two batches never wait on each other in a cycle), then the shows.
    let mut users: Vec<i64> = batch.iter().map(|b| b.user_id).collect();
    users.sort_unstable();
    users.dedup();
    sqlx::query(
        "SELECT user_id FROM users WHERE user_id = ANY($1) ORDER BY user_id FOR NO KEY UPDATE",
    )
    .bind(&users)
    .execute(&mut *tx)
    .await?;
    let mut shows: Vec<i64> = batch.iter().map(|b| b.show.show_id).collect();
    shows.sort_unstable();
    shows.dedup();
    let show_rows: Vec<(i64, ShowStatus, DateTime<Utc>)> = sqlx::query_as(
        "SELECT show_id, status, start_time FROM shows WHERE show_id = ANY($1)
          ORDER BY show_id FOR SHARE",
    )
    .bind(&shows)
    .fetch_all(&mut *tx)
    .await?;
    let show_rows: HashMap<i64, (ShowStatus, DateTime<Utc>)> = show_rows
        .into_iter()
        .map(|(id, status, start)| (id, (status, start)))
        .collect();
    // Seats bought so far, counted after the buyers' locks were granted (a statement of its
    // own, so its snapshot sees every booking that held a lock before us). Selected by buyer
    // alone, every show of theirs: with the show in the condition too, a plan the connection
    // cached while `bookings` was young and had no statistics could go through the show's
    // index and read every booking of the show for each buyer (150-190 ms a batch late in a
    // stadium onsale, found with `auto_explain`). A buyer's bookings are few.
    let bought_rows: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT b.user_id, b.show_id, CAST(SUM(b.seat_count) AS BIGINT) FROM bookings b
          WHERE b.user_id = ANY($1) AND b.status = 'confirmed'
          GROUP BY b.user_id, b.show_id",
    )
    .bind(&users)
    .fetch_all(&mut *tx)
    .await?;
    let mut bought: HashMap<(i64, i64), i64> = bought_rows
        .into_iter()
        .map(|(u, s, n)| ((u, s), n))
        .collect();

    // Decisions that need no seat: the show, the cap (a buyer's earlier bookings in this batch
    // count as bought).
    let mut decisions: Vec<Option<BookingOutcome>> = Vec::with_capacity(batch.len());
    for b in batch {
        let (status, start_time) = show_rows
            .get(&b.show.show_id)
            .copied()
            .unwrap_or((ShowStatus::Cancelled, b.show.start_time));
        if status != ShowStatus::Live || start_time <= now {
            decisions.push(Some(BookingOutcome::NotOnSale { status, start_time }));
            continue;
        }
        let so_far = bought.entry((b.user_id, b.show.show_id)).or_insert(0);
        let cap = i64::from(b.show.max_seats_per_user);
        if *so_far + b.seats.len() as i64 > cap {
            decisions.push(Some(BookingOutcome::SeatLimitExceeded {
                cap,
                bought: *so_far,
            }));
            continue;
        }
        *so_far += b.seats.len() as i64;
        decisions.push(None);
    }
    let candidates: Vec<usize> = (0..batch.len())
        .filter(|i| decisions[*i].is_none())
        .collect();
    if candidates.is_empty() {
        tx.rollback().await?;
        return Ok(finish(decisions));
    }

    // The candidates' bookings, then their seats: each row goes to one booking at most.
    let column = |f: &dyn Fn(&GroupBooking) -> i64| -> Vec<i64> {
        candidates.iter().map(|i| f(batch[*i])).collect()
    };
    let inserted: Vec<(i64, i64, String)> = sqlx::query_as(
        "INSERT INTO bookings (user_id, show_id, status, total_minor, seat_count, currency,
                               idempotency_key, created_at)
         SELECT u, s, 'confirmed', t, n, c, k, $7
           FROM unnest($1::BIGINT[], $2::BIGINT[], $3::BIGINT[], $4::INT[], $5::TEXT[], $6::TEXT[])
                AS x(u, s, t, n, c, k)
         RETURNING booking_id, user_id, idempotency_key",
    )
    .bind(column(&|b| b.user_id))
    .bind(column(&|b| b.show.show_id))
    .bind(column(&|b| b.total_minor))
    .bind(
        candidates
            .iter()
            .map(|i| batch[*i].seats.len() as i32)
            .collect::<Vec<_>>(),
    )
    .bind(
        candidates
            .iter()
            .map(|i| batch[*i].currency)
            .collect::<Vec<_>>(),
    )
    .bind(
        candidates
            .iter()
            .map(|i| batch[*i].idempotency_key.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    let ids: HashMap<(i64, &str), i64> = inserted
        .iter()
        .map(|(id, user, key)| ((*user, key.as_str()), *id))
        .collect();
    let mut booking_of = Vec::with_capacity(candidates.len());
    for i in &candidates {
        let b = batch[*i];
        let id = ids
            .get(&(b.user_id, b.idempotency_key.as_str()))
            .copied()
            .ok_or_else(|| sqlx::Error::Protocol("a batch booking has no id".into()))?;
        booking_of.push(id);
    }
    let (mut claim_shows, mut claim_seats, mut claim_bookings) = (vec![], vec![], vec![]);
    for (n, i) in candidates.iter().enumerate() {
        for seat in &batch[*i].seats {
            claim_shows.push(batch[*i].show.show_id);
            claim_seats.push(seat.seat_id);
            claim_bookings.push(booking_of[n]);
        }
    }
    let won: Vec<(i64, i64)> = sqlx::query_as(
        "UPDATE inventory i SET status = 'sold', booking_id = c.b
           FROM unnest($1::BIGINT[], $2::BIGINT[], $3::BIGINT[]) AS c(s, seat, b)
          WHERE i.show_id = c.s AND i.seat_id = c.seat AND i.status = 'available'
         RETURNING i.booking_id, i.seat_id",
    )
    .bind(&claim_shows)
    .bind(&claim_seats)
    .bind(&claim_bookings)
    .fetch_all(&mut *tx)
    .await?;
    let mut won_by: HashMap<i64, Vec<i64>> = HashMap::new();
    for (booking_id, seat_id) in won {
        won_by.entry(booking_id).or_default().push(seat_id);
    }
    // A booking that did not get every seat writes nothing: its seats go back, its row goes.
    let mut losers = Vec::new();
    let mut winners = Vec::new();
    for (n, i) in candidates.iter().enumerate() {
        let b = batch[*i];
        let got = won_by.get(&booking_of[n]).map_or(0, Vec::len);
        if got == b.seats.len() {
            winners.push((n, *i));
        } else {
            losers.push(booking_of[n]);
            let mine = won_by.get(&booking_of[n]).cloned().unwrap_or_default();
            let taken = b
                .seats
                .iter()
                .filter(|s| !mine.contains(&s.seat_id))
                .map(|s| s.label.clone())
                .collect();
            decisions[*i] = Some(BookingOutcome::SeatsTaken(taken));
        }
    }
    if !losers.is_empty() {
        sqlx::query(
            "UPDATE inventory SET status = 'available', booking_id = NULL
              WHERE booking_id = ANY($1) AND status = 'sold'",
        )
        .bind(&losers)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM bookings WHERE booking_id = ANY($1)")
            .bind(&losers)
            .execute(&mut *tx)
            .await?;
    }
    if winners.is_empty() {
        tx.rollback().await?;
        return Ok(finish(decisions));
    }

    // Tickets, payments, completed idempotency records and outbox rows of the winners.
    let (mut t_bookings, mut t_shows, mut t_seats, mut t_prices) = (vec![], vec![], vec![], vec![]);
    for (n, i) in &winners {
        let b = batch[*i];
        for seat in &b.seats {
            t_bookings.push(booking_of[*n]);
            t_shows.push(b.show.show_id);
            t_seats.push(seat.seat_id);
            t_prices.push(seat.price_minor);
        }
    }
    let tickets: Vec<(i64, i64, i64)> = sqlx::query_as(
        "INSERT INTO tickets (booking_id, show_id, seat_id, price_minor, status)
         SELECT b, s, seat, p, 'valid'
           FROM unnest($1::BIGINT[], $2::BIGINT[], $3::BIGINT[], $4::BIGINT[]) AS x(b, s, seat, p)
         RETURNING booking_id, ticket_id, seat_id",
    )
    .bind(&t_bookings)
    .bind(&t_shows)
    .bind(&t_seats)
    .bind(&t_prices)
    .fetch_all(&mut *tx)
    .await?;
    let mut tickets_of: HashMap<i64, Vec<(i64, i64)>> = HashMap::new();
    for (booking_id, ticket_id, seat_id) in tickets {
        tickets_of
            .entry(booking_id)
            .or_default()
            .push((ticket_id, seat_id));
    }
    let winner = |f: &dyn Fn(usize, &GroupBooking) -> i64| -> Vec<i64> {
        winners.iter().map(|(n, i)| f(*n, batch[*i])).collect()
    };
    let texts = |f: &dyn Fn(&GroupBooking) -> String| -> Vec<String> {
        winners.iter().map(|(_, i)| f(batch[*i])).collect()
    };
    sqlx::query(
        "INSERT INTO payments (booking_id, user_id, provider, transaction_id, amount_minor,
                               currency, status, created_at, updated_at)
         SELECT b, u, p, t, a, c, 'authorized', $7, $7
           FROM unnest($1::BIGINT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::BIGINT[], $6::TEXT[])
                AS x(b, u, p, t, a, c)",
    )
    .bind(winner(&|n, _| booking_of[n]))
    .bind(winner(&|_, b| b.user_id))
    .bind(texts(&|b| b.provider.clone()))
    .bind(texts(&|b| b.transaction_id.clone()))
    .bind(winner(&|_, b| b.total_minor))
    .bind(texts(&|b| b.currency.to_owned()))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    // The 201 bodies, stored with the completed idempotency records.
    let mut confirmed = Vec::with_capacity(winners.len());
    for (n, i) in &winners {
        let booking_id = booking_of[*n];
        let tickets = tickets_of.remove(&booking_id).unwrap_or_default();
        let body = (batch[*i].render)(booking_id, &tickets);
        confirmed.push((*i, booking_id, body));
    }
    sqlx::query(
        "UPDATE idempotency_records r
            SET status = 'completed', response_status = 201, response_body = x.body,
                updated_at = $4
           FROM unnest($1::BIGINT[], $2::TEXT[], $3::TEXT[]) AS x(u, k, body)
          WHERE r.user_id = x.u AND r.idempotency_key = x.k",
    )
    .bind(winner(&|_, b| b.user_id))
    .bind(texts(&|b| b.idempotency_key.clone()))
    .bind(
        confirmed
            .iter()
            .map(|(_, _, body)| body.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let payloads: Vec<String> = winners
        .iter()
        .map(|(n, i)| {
            let b = batch[*i];
            let labels: Vec<&str> = b.seats.iter().map(|s| s.label.as_str()).collect();
            json!({
                "booking_id": booking_of[*n], "show_id": b.show.show_id, "user_id": b.user_id,
                "seat_ids": labels, "transaction_id": b.transaction_id,
            })
            .to_string()
        })
        .collect();
    sqlx::query(
        "INSERT INTO outbox (topic, aggregate_id, payload, created_at)
         SELECT $1, a, p::JSONB, $4 FROM unnest($2::BIGINT[], $3::TEXT[]) AS x(a, p)",
    )
    .bind(topics::BOOKING_CONFIRMED)
    .bind(winner(&|n, _| booking_of[n]))
    .bind(&payloads)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    for (i, booking_id, body) in confirmed {
        decisions[i] = Some(BookingOutcome::Confirmed { booking_id, body });
    }
    Ok(finish(decisions))
}

fn finish(decisions: Vec<Option<BookingOutcome>>) -> Vec<BookingOutcome> {
    decisions
        .into_iter()
        .map(|d| {
            d.unwrap_or_else(|| {
                BookingOutcome::Injected("a batch left a booking undecided".to_owned())
            })
        })
        .collect()
}
