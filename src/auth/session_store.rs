//! actix-session storage over the database. The cookie carries a random 256-bit key; the table
//! stores only its SHA-256, so a leaked table does not leak live sessions. Deleting the row
//! ends the session at once, for every copy of the cookie.
//!
//! Beside its absolute life (the cookie's TTL, `expires_at`), a session ends when unused for
//! `session_idle_secs`. Use is recorded when a request reads the row from the database (the
//! credential cache lets that happen about once per `auth_cache_ms` of activity), and written
//! only when the recorded time is older than `touch_every`, so an active session costs about
//! one write a minute, not one per request.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration as StdDuration;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration;

use super::cache::{AuthCache, CachedSession};
use super::tokens::{hash_key, random_token};
use crate::ids::UserId;
use crate::store::{now_ms, sessions, Db, StoreError};

/// Session state key holding the user id (JSON number).
pub const USER_ID: &str = "uid";
/// Session state key holding the username (JSON string).
pub const USERNAME: &str = "name";
/// Session state key holding a public id of this session, used to find its sockets at logout.
pub const SESSION_ID: &str = "sid";
/// Set (alone) in the state of a request whose session could not be read because the database
/// is down. actix-session would turn a load error into an opaque 500 after a pool wait; this
/// lets `Principal` answer a prompt 503 instead.
pub const STORE_UNAVAILABLE: &str = "store_unavailable";

tokio::task_local! {
    /// Why a write of the session store found the database unavailable during the request
    /// being served, if it did (see `watching_outage`).
    static OUTAGE: RefCell<Option<String>>;
}

/// Runs `request` (a request going through the middleware stack) and says why the session
/// store found the database unavailable on the way, if it did. actix-session turns the store's
/// errors into opaque 500s; this keeps their reason, so that the caller can answer a retryable
/// 503 without asking the database again.
pub async fn watching_outage<F: Future>(request: F) -> (F::Output, Option<String>) {
    OUTAGE
        .scope(RefCell::new(None), async move {
            let output = request.await;
            (output, OUTAGE.with(RefCell::take))
        })
        .await
}

/// A store error on its way into actix-session, noted if it is an outage.
fn noted(e: StoreError) -> anyhow::Error {
    if let StoreError::Unavailable(why) = &e {
        // Outside `watching_outage` (the CLI, a test) there is nobody to tell.
        let _ = OUTAGE.try_with(|outage| {
            outage
                .borrow_mut()
                .get_or_insert_with(|| format!("storing the session: {why}"));
        });
    }
    e.into()
}

/// The longest a session's recorded use may lag behind its real use.
const TOUCH_AT_MOST_EVERY: StdDuration = StdDuration::from_secs(60);

#[derive(Clone)]
pub struct DbSessionStore {
    db: Db,
    cache: AuthCache,
    /// A session unused this long (ms) is over.
    idle_ms: i64,
    /// A use is written when the recorded one is at least this old (ms): a minute, or a
    /// quarter of the idle timeout if that is shorter, so a session in use never idles out.
    touch_every_ms: i64,
}

impl DbSessionStore {
    pub fn new(db: Db, cache: AuthCache, idle: StdDuration) -> Self {
        let idle_ms = i64::try_from(idle.as_millis()).unwrap_or(i64::MAX);
        let touch_at_most_every_ms =
            i64::try_from(TOUCH_AT_MOST_EVERY.as_millis()).unwrap_or(i64::MAX);
        let touch_every_ms = (idle_ms / 4).min(touch_at_most_every_ms);
        DbSessionStore {
            db,
            cache,
            idle_ms,
            touch_every_ms,
        }
    }
}

/// Sessions last seen at or before this are idle at `now`.
pub fn idle_cutoff(now: i64, idle_ms: i64) -> i64 {
    now.saturating_sub(idle_ms)
}

fn expiry(ttl: &Duration) -> i64 {
    // A negative TTL is already over; a longer one than i64 ms holds is forever.
    let ttl_ms = i64::try_from(ttl.whole_milliseconds().max(0)).unwrap_or(i64::MAX);
    now_ms().saturating_add(ttl_ms)
}

fn user_of(state: &HashMap<String, String>) -> Option<UserId> {
    state.get(USER_ID).and_then(|v| v.parse().ok()).map(UserId)
}

fn sid_of(state: &HashMap<String, String>) -> Option<String> {
    state
        .get(SESSION_ID)
        .and_then(|v| serde_json::from_str(v).ok())
}

impl SessionStore for DbSessionStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<HashMap<String, String>>, LoadError> {
        let key_hash = hash_key(key.as_ref());
        if let Some(hit) = self.cache.session(&key_hash) {
            return Ok(Some(hit.state.as_ref().clone()));
        }
        let epoch = self.cache.epoch();
        let now = now_ms();
        let stored = sessions::load(&self.db, &key_hash, now, idle_cutoff(now, self.idle_ms));
        let stored = match stored.await {
            Ok(stored) => stored,
            Err(StoreError::Unavailable(_)) => {
                return Ok(Some(HashMap::from([(
                    STORE_UNAVAILABLE.to_string(),
                    "true".to_string(),
                )])));
            }
            Err(e) => return Err(LoadError::Other(e.into())),
        };
        let Some((json, last_seen)) = stored else {
            return Ok(None);
        };
        if now.saturating_sub(last_seen) >= self.touch_every_ms {
            // Best effort: a failed write costs at most an earlier idle end.
            if let Err(e) = sessions::seen(&self.db, &key_hash, now).await {
                tracing::debug!(error = %e, "recording a session's use failed");
            }
        }
        let state: HashMap<String, String> =
            serde_json::from_str(&json).map_err(|e| LoadError::Deserialization(e.into()))?;
        self.cache.keep_session(
            key_hash,
            CachedSession {
                user_id: user_of(&state),
                sid: sid_of(&state),
                state: state.clone().into(),
            },
            epoch,
        );
        Ok(Some(state))
    }

    async fn save(
        &self,
        state: HashMap<String, String>,
        ttl: &Duration,
    ) -> Result<SessionKey, SaveError> {
        let json = serde_json::to_string(&state).map_err(|e| SaveError::Serialization(e.into()))?;
        let key = random_token();
        let sid = sid_of(&state);
        sessions::insert(
            &self.db,
            &hash_key(&key),
            sid.as_deref(),
            user_of(&state),
            &json,
            expiry(ttl),
        )
        .await
        .map_err(|e| SaveError::Other(noted(e)))?;
        SessionKey::try_from(key).map_err(|e| SaveError::Other(e.into()))
    }

    async fn update(
        &self,
        key: SessionKey,
        state: HashMap<String, String>,
        ttl: &Duration,
    ) -> Result<SessionKey, UpdateError> {
        let json =
            serde_json::to_string(&state).map_err(|e| UpdateError::Serialization(e.into()))?;
        let sid = sid_of(&state);
        let key_hash = hash_key(key.as_ref());
        let updated = sessions::update(
            &self.db,
            &key_hash,
            sid.as_deref(),
            user_of(&state),
            &json,
            expiry(ttl),
        )
        .await;
        // After the write (whatever its outcome), so a read racing it cannot keep the old state.
        self.cache.forget_session(&key_hash);
        let updated = updated.map_err(|e| UpdateError::Other(noted(e)))?;
        if updated {
            Ok(key)
        } else {
            // The row is gone (expired or logged out elsewhere): never resurrect the login.
            let mut state = state;
            for k in [USER_ID, USERNAME, SESSION_ID] {
                state.remove(k);
            }
            self.save(state, ttl).await.map_err(|e| match e {
                SaveError::Serialization(e) => UpdateError::Serialization(e),
                SaveError::Other(e) => UpdateError::Other(e),
            })
        }
    }

    async fn update_ttl(&self, key: &SessionKey, ttl: &Duration) -> Result<(), anyhow::Error> {
        sessions::touch(&self.db, &hash_key(key.as_ref()), expiry(ttl))
            .await
            .map_err(noted)
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        let key_hash = hash_key(key.as_ref());
        let deleted = sessions::delete(&self.db, &key_hash).await;
        self.cache.forget_session(&key_hash);
        deleted.map_err(noted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_an_unavailable_database_is_an_outage() {
        let down = || StoreError::Unavailable("connection refused".into());
        let (_, outage) = watching_outage(async { noted(down()) }).await;
        assert_eq!(
            outage.as_deref(),
            Some("storing the session: connection refused")
        );
        let (_, outage) = watching_outage(async { noted(StoreError::Task("a bug".into())) }).await;
        assert_eq!(outage, None);
        let (_, outage) = watching_outage(async {}).await;
        assert_eq!(outage, None);
        // Each request starts afresh, and noting outside one is harmless.
        let _ = noted(down());
        let (_, outage) = watching_outage(async {}).await;
        assert_eq!(outage, None);
    }
}
