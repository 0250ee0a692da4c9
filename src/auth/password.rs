//! Password hashing with Argon2id, run off the async executor and bounded: each hash holds its
//! Argon2 memory (19 MiB by default), so only `concurrency` run at once, at most `queue` more
//! wait (each for at most `wait`), and anything beyond is refused with a 503 rather than memory.
//! `tests/integration/auth.rs::password_hashing_is_bounded` crosses the bound.

use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{ApiError, ErrorCode};

/// How many hashes may run and wait at once.
#[derive(Debug, Clone, Copy)]
pub struct HashLimits {
    /// Hashes running at once (each on a blocking thread with its Argon2 memory).
    pub concurrency: usize,
    /// Hashes allowed to wait for a running slot; more are refused at once.
    pub queue: usize,
    /// The longest a hash waits for a running slot before it is refused.
    pub wait: Duration,
}

impl Default for HashLimits {
    /// One running hash per core, 64 waiting, 5 seconds of waiting at most.
    fn default() -> Self {
        Self {
            concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
            queue: 64,
            wait: Duration::from_secs(5),
        }
    }
}

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Too many hashes are running or waiting; the caller should retry shortly.
    #[error("password hashing is at capacity")]
    Busy,
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// Seconds a refused sign-in is told to wait before retrying.
const RETRY_AFTER_SECONDS: u64 = 2;

impl From<PasswordError> for ApiError {
    fn from(err: PasswordError) -> Self {
        match err {
            PasswordError::Busy => Self::new(
                ErrorCode::Unavailable,
                "Too many sign-ins at once; please try again in a moment",
            )
            .with_retry_after(RETRY_AFTER_SECONDS),
            PasswordError::Failed(e) => Self::internal(e),
        }
    }
}

/// Hashes and verifies passwords with fixed Argon2id parameters.
#[derive(Clone)]
pub struct Passwords {
    params: Params,
    /// A hash of a random password, verified against when the email is unknown so that the
    /// answer takes as long as for a known email.
    dummy_hash: String,
    /// One permit per hash running or waiting (`concurrency + queue`).
    admitted: Arc<Semaphore>,
    /// One permit per running hash (`concurrency`).
    running: Arc<Semaphore>,
    wait: Duration,
}

impl Passwords {
    pub fn new(memory_kib: u32, iterations: u32) -> anyhow::Result<Self> {
        Self::with_limits(memory_kib, iterations, HashLimits::default())
    }

    pub fn with_limits(
        memory_kib: u32,
        iterations: u32,
        limits: HashLimits,
    ) -> anyhow::Result<Self> {
        let params = Params::new(memory_kib, iterations, 1, None)
            .map_err(|e| anyhow::anyhow!("invalid Argon2 parameters: {e}"))?;
        let concurrency = limits.concurrency.max(1);
        let mut me = Self {
            params,
            dummy_hash: String::new(),
            admitted: Arc::new(Semaphore::new(concurrency.saturating_add(limits.queue))),
            running: Arc::new(Semaphore::new(concurrency)),
            wait: limits.wait,
        };
        me.dummy_hash = me.hash_now(&super::tokens::random_token(16))?;
        Ok(me)
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    fn hash_now(&self, password: &str) -> anyhow::Result<String> {
        let salt = SaltString::generate(&mut OsRng);
        self.argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))
    }

    /// A running slot, or `Busy` when the queue is full or the wait runs out. The permits are
    /// held by the blocking work itself, so a client that hangs up does not free its slot
    /// before its hash has finished.
    async fn slot(&self) -> Result<(OwnedSemaphorePermit, OwnedSemaphorePermit), PasswordError> {
        let admitted = self
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| PasswordError::Busy)?;
        let running = tokio::time::timeout(self.wait, self.running.clone().acquire_owned())
            .await
            .map_err(|_| PasswordError::Busy)?
            .map_err(|_| PasswordError::Busy)?;
        Ok((admitted, running))
    }

    /// The PHC string of `password` (Argon2id, random salt).
    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        let permits = self.slot().await?;
        let me = self.clone();
        let hashed = tokio::task::spawn_blocking(move || {
            let _permits = permits;
            me.hash_now(&password)
        })
        .await
        .map_err(anyhow::Error::from)??;
        Ok(hashed)
    }

    /// True when `password` matches `hash`; with `hash = None` burns the same time and fails.
    pub async fn verify(
        &self,
        password: String,
        hash: Option<String>,
    ) -> Result<bool, PasswordError> {
        let permits = self.slot().await?;
        let me = self.clone();
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.clone());
        let verified = tokio::task::spawn_blocking(move || {
            let _permits = permits;
            PasswordHash::new(&hash)
                .map(|parsed| {
                    me.argon2()
                        .verify_password(password.as_bytes(), &parsed)
                        .is_ok()
                })
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        Ok(known && verified)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashing_beyond_the_queue_is_refused_and_waiting_is_bounded() {
        let limits = HashLimits {
            concurrency: 1,
            queue: 1,
            wait: Duration::from_millis(1),
        };
        let passwords = Passwords::with_limits(1024, 1, limits).expect("params");
        // Hold both admissions: the next caller is refused at once.
        let held = passwords.slot().await.expect("first slot");
        let queued = passwords
            .admitted
            .clone()
            .try_acquire_owned()
            .expect("queue");
        assert!(matches!(
            passwords.hash("password".into()).await,
            Err(PasswordError::Busy)
        ));
        drop(queued);
        // Admitted but the only running slot is taken: the wait runs out.
        assert!(matches!(
            passwords.verify("password".into(), None).await,
            Err(PasswordError::Busy)
        ));
        drop(held);
        let hash = passwords.hash("password".into()).await.expect("hash");
        assert!(passwords
            .verify("password".into(), Some(hash))
            .await
            .expect("verify"));
    }
}
