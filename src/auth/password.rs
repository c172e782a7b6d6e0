//! argon2id password hashes (PHC strings). Hashing is CPU-heavy, so it runs off the async
//! workers, on a few threads of its own.
//!
//! Each hash holds `argon2_memory_kib` while it runs, so hashes are admitted through a
//! semaphore (`argon2_max_concurrent`), and a request that finds no free slot within
//! `argon2_wait_ms` gets 503 `overloaded` at once. They run on exactly that many dedicated
//! threads, not on the blocking pool: glibc gives each thread its own malloc arena and keeps
//! a freed 19 MiB block there, so hashes spread over many blocking threads left about 0.5 GiB
//! resident after 64 logins even with only 2 running at a time (measured; see SECURITY.md).

use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

use crate::error::AppError;

#[derive(Clone)]
pub struct Passwords {
    params: Params,
    /// A real hash of a random password: an unknown username is checked against it so that it
    /// costs the same time as a wrong password.
    dummy_hash: String,
    /// One permit per hash allowed to run at once.
    slots: Arc<Semaphore>,
    /// How long a request waits for a slot before it is refused.
    wait: Duration,
    /// The hashing threads' queue; as many threads as slots, so a job admitted by a slot
    /// never waits for a thread.
    jobs: crossbeam_channel::Sender<Job>,
}

type Job = Box<dyn FnOnce() + Send>;

/// Starts `n` named threads that run hashing jobs until every sender is gone.
fn start_threads(n: usize) -> Result<crossbeam_channel::Sender<Job>, String> {
    let (tx, rx) = crossbeam_channel::unbounded::<Job>();
    for i in 0..n {
        let rx = rx.clone();
        std::thread::Builder::new()
            .name(format!("argon2-{i}"))
            .spawn(move || {
                for job in rx {
                    job();
                }
            })
            .map_err(|e| format!("cannot start a password hashing thread: {e}"))?;
    }
    Ok(tx)
}

impl Passwords {
    /// `max_concurrent` 0 means one hash per core.
    pub fn new(
        memory_kib: u32,
        iterations: u32,
        max_concurrent: usize,
        wait: Duration,
    ) -> Result<Self, String> {
        let params = Params::new(memory_kib, iterations, 1, None)
            .map_err(|e| format!("invalid argon2 parameters: {e}"))?;
        let slots = match max_concurrent {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let mut p = Passwords {
            params,
            dummy_hash: String::new(),
            slots: Arc::new(Semaphore::new(slots)),
            wait,
            jobs: start_threads(slots)?,
        };
        p.dummy_hash = p
            .hash_now("not-a-real-password-just-timing")
            .map_err(|e| format!("argon2 self-test failed: {e}"))?;
        Ok(p)
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    fn hash_now(&self, password: &str) -> Result<String, argon2::password_hash::Error> {
        let salt = SaltString::generate(&mut OsRng);
        Ok(self
            .argon2()
            .hash_password(password.as_bytes(), &salt)?
            .to_string())
    }

    /// A hashing slot, or `Overloaded` if none frees up within the wait. The permit moves into
    /// the blocking task, so a hash whose request was dropped still holds its slot until it
    /// is done: the bound is on hashes running, not on requests waiting.
    async fn slot(&self) -> Result<OwnedSemaphorePermit, AppError> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(permit);
        }
        match tokio::time::timeout(self.wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            // The semaphore is never closed.
            Ok(Err(closed)) => Err(AppError::internal(closed)),
            Err(_) => {
                metrics::counter!("roomcast_password_hash_refused_total").increment(1);
                Err(AppError::Overloaded)
            }
        }
    }

    /// True if `stored` was hashed with less memory or fewer iterations than configured now,
    /// so it should be hashed again (at login, the only time the password is known).
    pub fn needs_rehash(&self, stored: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(stored) else {
            return false;
        };
        match Params::try_from(&parsed) {
            Ok(p) => p.m_cost() < self.params.m_cost() || p.t_cost() < self.params.t_cost(),
            Err(_) => false,
        }
    }

    /// Runs `work` on a hashing thread. The permit moves with it, so a hash whose request was
    /// dropped still holds its slot until it is done.
    async fn run<T: Send + 'static>(
        &self,
        slot: OwnedSemaphorePermit,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _slot = slot;
            // The receiver is gone only if the request was dropped; nobody wants the answer.
            let _ = tx.send(work());
        });
        if self.jobs.send(job).is_err() {
            return Err(AppError::internal("password hashing threads are gone"));
        }
        rx.await.map_err(|e| {
            AppError::internal(format!(
                "a password hashing job ended without an answer (it panicked): {e}"
            ))
        })
    }

    pub async fn hash(&self, password: String) -> Result<String, AppError> {
        let this = self.clone();
        let slot = self.slot().await?;
        self.run(slot, move || this.hash_now(&password))
            .await?
            .map_err(|e| AppError::internal(format!("password hashing failed: {e}")))
    }

    /// Verifies `password` against `stored`, or against the dummy hash when there is no user,
    /// so both failures take the same time. Verification uses the parameters in the PHC string.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, AppError> {
        let this = self.clone();
        let known = stored.is_some();
        let slot = self.slot().await?;
        let ok = self
            .run(slot, move || {
                let phc = stored.unwrap_or_else(|| this.dummy_hash.clone());
                match PasswordHash::new(&phc) {
                    Ok(parsed) => this
                        .argon2()
                        .verify_password(password.as_bytes(), &parsed)
                        .is_ok(),
                    Err(_) => false,
                }
            })
            .await?;
        Ok(ok && known)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_then_verify() {
        let p = Passwords::new(64, 1, 0, Duration::from_millis(100)).expect("params");
        let h = p.hash("correct horse".into()).await.expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(p
            .verify("correct horse".into(), Some(h.clone()))
            .await
            .expect("v"));
        assert!(!p
            .verify("wrong horse".into(), Some(h.clone()))
            .await
            .expect("v"));
        assert!(!p
            .verify("not-a-real-password-just-timing".into(), None)
            .await
            .expect("v"));
        let stronger = Passwords::new(64, 2, 0, Duration::ZERO).expect("params");
        assert!(stronger.needs_rehash(&h));
        assert!(!p.needs_rehash(&h));
        assert!(!p.needs_rehash("not a phc string"));
    }

    #[tokio::test]
    async fn no_free_slot_is_overloaded_not_a_queue() {
        let p = Passwords::new(64, 1, 1, Duration::from_millis(20)).expect("params");
        let held = p.slot().await.expect("the only slot");
        assert!(matches!(p.slot().await, Err(AppError::Overloaded)));
        drop(held);
        assert!(p.hash("correct horse".into()).await.is_ok());
    }
}
