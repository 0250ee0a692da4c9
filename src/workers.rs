//! The background loops of a node (outbox relay, webhook sender, search indexer, payment
//! reconciler) share one shape, run by [`run`]: do a step, pause as the [`Pace`] says, and stop
//! as soon as shutdown begins. A step that fails is logged and retried at the next turn.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};

/// One unit of a background loop's work.
pub trait Worker: Send {
    /// What the worker is called in logs.
    const NAME: &'static str;

    /// Does one round of work; returns how much it did (0: nothing was waiting).
    fn step(&mut self) -> impl Future<Output = anyhow::Result<usize>> + Send;
}

/// When a worker's next step runs.
pub enum Pace {
    /// At once while steps find work; otherwise after `idle`, or sooner when `wake` is notified.
    Drain {
        idle: Duration,
        wake: Option<Arc<Notify>>,
    },
    /// `every` after the previous step, whatever it did (work found or not).
    Every(Duration),
    /// `every` before each step, the first one included.
    AfterEvery(Duration),
}

/// Runs `worker` at `pace` until `shutdown` turns true.
pub async fn run<W: Worker>(mut worker: W, pace: Pace, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        if let Pace::AfterEvery(every) = &pace {
            tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => return,
                () = tokio::time::sleep(*every) => {}
            }
        }
        let done = match worker.step().await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, worker = W::NAME, "background step failed; will retry");
                0
            }
        };
        let pause = match &pace {
            Pace::Drain { .. } if done > 0 => continue,
            Pace::Drain { idle, .. } | Pace::Every(idle) => *idle,
            Pace::AfterEvery(_) => continue,
        };
        let wake = match &pace {
            Pace::Drain {
                wake: Some(wake), ..
            } => Some(wake.clone()),
            _ => None,
        };
        let woken = async {
            match wake {
                Some(wake) => wake.notified().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = woken => {}
            () = tokio::time::sleep(pause) => {}
            _ = shutdown.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Finds work on its first `busy` steps, then nothing; counts every step.
    struct Counting {
        steps: Arc<AtomicUsize>,
        busy: usize,
    }

    impl Worker for Counting {
        const NAME: &'static str = "counting";

        async fn step(&mut self) -> anyhow::Result<usize> {
            let n = self.steps.fetch_add(1, Ordering::SeqCst);
            Ok(usize::from(n < self.busy))
        }
    }

    #[tokio::test]
    async fn drains_at_once_waits_when_idle_wakes_on_notify_and_stops_on_shutdown() {
        let steps = Arc::new(AtomicUsize::new(0));
        let wake = Arc::new(Notify::new());
        let (stop, shutdown) = watch::channel(false);
        let worker = Counting {
            steps: steps.clone(),
            busy: 3,
        };
        let pace = Pace::Drain {
            idle: Duration::from_secs(60),
            wake: Some(wake.clone()),
        };
        let running = tokio::spawn(run(worker, pace, shutdown));
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Three steps found work and ran back to back; the fourth found none: now idle.
        assert_eq!(steps.load(Ordering::SeqCst), 4);
        wake.notify_one();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(steps.load(Ordering::SeqCst), 5, "a wake-up runs a step");
        let _ = stop.send(true);
        tokio::time::timeout(Duration::from_secs(1), running)
            .await
            .expect("stops at once on shutdown")
            .expect("no panic");
    }
}
