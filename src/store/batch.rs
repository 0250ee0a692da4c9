//! Micro-batching of one statement many requests make at once (PostgreSQL). During an onsale a
//! node has dozens of bookings at the same step; each step on its own is a round trip, a
//! statement and a commit. A [`Batcher`] takes whatever items are waiting (up to its `max`),
//! runs one statement for all of them, and answers each. An item the batch cannot decide (a
//! duplicate in the batch, a row that needs the careful path, a failed or slow batch, a full
//! queue) is answered `None`: its caller then does the step on its own, the way it did before
//! batching, so batching never changes an answer, only how many statements it costs.
//!
//! While batches follow one another (items arrived while the last one ran), the task keeps what
//! its batches run on, a pooled connection ([`on_kept`]), for the next: taking a connection from
//! sqlx's pool and giving it back each costs a round trip to the database (the pool pings a
//! connection as it hands it out and as it takes it back), two for every statement of an
//! onsale's bookings. Once the queue runs dry, the connection goes back to the pool.

use std::future::Future;
use std::time::Duration;

use futures_util::future::BoxFuture;
use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, PgPool, Postgres};
use tokio::sync::{mpsc, oneshot};

/// The longest one batch may take before its items are handed back.
const BATCH_TIMEOUT: Duration = Duration::from_secs(10);

type Item<I, O> = (I, oneshot::Sender<Option<O>>);

/// A pooled connection a batch task keeps for its next batch, if any.
pub type Kept = Option<PoolConnection<Postgres>>;

/// Runs `work` on the connection kept from the last batch, or on one from `pool`. The connection
/// is handed back to be kept when `work` succeeded; after an error it goes back to the pool,
/// whose ping on its return closes it if it is broken (a database that restarted while the
/// connection was kept fails one batch, whose items then go alone on connections the pool
/// checked).
pub async fn on_kept<T>(
    pool: &PgPool,
    kept: Kept,
    work: impl for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, Result<T, sqlx::Error>>,
) -> (Kept, Result<T, sqlx::Error>) {
    let mut conn = match kept {
        Some(conn) => conn,
        None => match pool.acquire().await {
            Ok(conn) => conn,
            Err(e) => return (None, Err(e)),
        },
    };
    let result = work(&mut conn).await;
    (result.is_ok().then_some(conn), result)
}

/// The statement of a batch, run on a connection (a plain function, so a batcher's task owns no
/// borrowed state).
pub type OnConnection<I, O> =
    for<'c> fn(&'c mut PgConnection, Vec<I>) -> BoxFuture<'c, Result<Vec<Option<O>>, sqlx::Error>>;

/// A bounded queue of items and one task running a batch of them at a time.
pub struct Batcher<I, O> {
    queue: mpsc::Sender<Item<I, O>>,
}

impl<I, O> Clone for Batcher<I, O> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
        }
    }
}

impl<I: Send + 'static, O: Send + 'static> Batcher<I, O> {
    /// Starts the task: `run` gets up to `max` items and answers each, in order (`None`: do it
    /// alone). It also gets what the last batch kept (`S::default()` for the first batch, after
    /// a batch that timed out, and once the queue ran dry) and returns what to keep for the
    /// next. It ends when the last clone of the batcher is dropped.
    pub fn start<S, F, Fut>(name: &'static str, max: usize, capacity: usize, run: F) -> Self
    where
        S: Default + Send + 'static,
        F: Fn(S, Vec<I>) -> Fut + Send + 'static,
        Fut: Future<Output = (S, Result<Vec<Option<O>>, sqlx::Error>)> + Send,
    {
        let (queue, mut receiver) = mpsc::channel::<Item<I, O>>(capacity.max(1));
        tokio::spawn(async move {
            let mut waiting = Vec::with_capacity(max);
            let mut kept = S::default();
            while receiver.recv_many(&mut waiting, max).await > 0 {
                let (items, replies): (Vec<I>, Vec<_>) =
                    std::mem::take(&mut waiting).into_iter().unzip();
                let count = items.len();
                let started = std::time::Instant::now();
                let ran =
                    tokio::time::timeout(BATCH_TIMEOUT, run(std::mem::take(&mut kept), items))
                        .await
                        .map(|(keep, answers)| {
                            // Kept only while more items wait.
                            if !receiver.is_empty() {
                                kept = keep;
                            }
                            answers
                        });
                let answers = match ran {
                    Ok(Ok(answers)) if answers.len() == count => {
                        tracing::debug!(
                            batch = name,
                            items = count,
                            ms = started.elapsed().as_secs_f64() * 1e3,
                            "batch done"
                        );
                        answers
                    }
                    Ok(Ok(_)) => {
                        tracing::error!(batch = name, "a batch answered the wrong number of items");
                        Vec::new()
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(batch = name, error = %e, items = count, "a batch failed; each item goes alone");
                        Vec::new()
                    }
                    Err(_) => {
                        tracing::warn!(
                            batch = name,
                            items = count,
                            "a batch timed out; each item goes alone"
                        );
                        Vec::new()
                    }
                };
                let mut answers = answers.into_iter();
                for reply in replies {
                    let _ = reply.send(answers.next().flatten());
                }
            }
        });
        Self { queue }
    }

    /// A batcher whose batches run `work` on a connection of `pool`, kept from one batch to the
    /// next while items keep arriving ([`on_kept`]).
    pub fn on_pool(
        name: &'static str,
        max: usize,
        capacity: usize,
        pool: PgPool,
        work: OnConnection<I, O>,
    ) -> Self {
        Self::start(name, max, capacity, move |kept, items| {
            let pool = pool.clone();
            async move { on_kept(&pool, kept, move |conn| work(conn, items)).await }
        })
    }

    /// The batch's answer for `item`, or `None` when the caller must do it alone.
    pub async fn submit(&self, item: I) -> Option<O> {
        let (reply, answer) = oneshot::channel();
        self.queue.try_send((item, reply)).ok()?;
        answer.await.ok().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn items_waiting_together_share_a_batch_and_undecided_ones_go_alone() {
        let sizes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let batcher = Batcher::start("test", 8, 64, move |(): (), items: Vec<u32>| {
            let seen = seen.clone();
            async move {
                seen.lock().map(|mut s| s.push(items.len())).ok();
                tokio::time::sleep(Duration::from_millis(20)).await;
                let answers = items
                    .into_iter()
                    .map(|i| (i % 2 == 0).then_some(i * 10))
                    .collect();
                ((), Ok(answers))
            }
        });
        let answers = futures_util::future::join_all((0..20u32).map(|i| batcher.submit(i))).await;
        let expected: Vec<Option<u32>> = (0..20).map(|i| (i % 2 == 0).then_some(i * 10)).collect();
        assert_eq!(answers, expected);
        let sizes = sizes.lock().map(|s| s.clone()).unwrap_or_default();
        assert_eq!(sizes.iter().sum::<usize>(), 20);
        assert!(sizes.iter().all(|n| *n <= 8), "{sizes:?}");
        assert!(sizes.len() < 20, "items never shared a batch: {sizes:?}");
    }

    #[tokio::test]
    async fn a_failed_batch_sends_every_item_alone() {
        let batcher = Batcher::start("test", 8, 64, |(): (), _items: Vec<u32>| async {
            ((), Err::<Vec<Option<u32>>, _>(sqlx::Error::PoolTimedOut))
        });
        let answers = futures_util::future::join_all((0..5u32).map(|i| batcher.submit(i))).await;
        assert_eq!(answers, vec![None; 5]);
    }

    /// What a batch keeps (here, how many batches ran before it since the queue last ran dry)
    /// goes to the next batch while items wait, and is dropped once the queue is empty.
    #[tokio::test]
    async fn what_a_batch_keeps_goes_to_the_next_while_items_wait() {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        let batcher = Batcher::start("test", 2, 64, move |before: u32, items: Vec<u32>| {
            let log = log.clone();
            async move {
                log.lock().map(|mut s| s.push(before)).ok();
                tokio::time::sleep(Duration::from_millis(20)).await;
                (before + 1, Ok(items.into_iter().map(Some).collect()))
            }
        });
        let answers = futures_util::future::join_all((0..6u32).map(|i| batcher.submit(i))).await;
        assert_eq!(answers, (0..6).map(Some).collect::<Vec<_>>());
        assert_eq!(batcher.submit(6).await, Some(6));
        let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
        assert_eq!(
            seen,
            vec![0, 1, 2, 0],
            "batches of two while items waited, then one alone"
        );
    }
}
