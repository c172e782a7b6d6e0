//! Credentials checked recently, kept in memory so that a request does not read its session
//! row (or its bot's token row) from the database every time.
//!
//! What this server changes it forgets at once: logout, a session update, a bot token rotated
//! or revoked, a user disabled (through the revocation poll). A change made elsewhere (another
//! instance, the admin CLI) is seen within `auth_cache_ms` at most; that bound is the price of
//! not reading the row on every request, and `auth_cache_ms = 0` turns the cache off.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;

use crate::ids::UserId;
use crate::store::accounts::Profile;

/// More live credentials than this and the oldest are read from the database again.
const CAPACITY: u64 = 100_000;

/// A session's state as the store holds it, and the two fields eviction needs.
#[derive(Clone)]
pub struct CachedSession {
    pub state: Arc<HashMap<String, String>>,
    pub user_id: Option<UserId>,
    pub sid: Option<String>,
}

/// Cheap to clone; every clone is the same cache.
#[derive(Clone)]
pub struct AuthCache {
    /// By the SHA-256 of the session key.
    sessions: Option<Cache<String, CachedSession>>,
    /// By the SHA-256 of the bearer token.
    tokens: Option<Cache<String, Profile>>,
    /// Bumped by every eviction. A request that read a credential from the database while a
    /// logout or revocation ran must not put it back afterwards: it keeps the entry only if no
    /// eviction happened since it started reading (see `keep_*`).
    evictions: Arc<AtomicU64>,
}

impl AuthCache {
    pub fn new(ttl_ms: u64) -> AuthCache {
        if ttl_ms == 0 {
            return AuthCache {
                sessions: None,
                tokens: None,
                evictions: Arc::default(),
            };
        }
        let ttl = Duration::from_millis(ttl_ms);
        AuthCache {
            sessions: Some(bounded(ttl)),
            tokens: Some(bounded(ttl)),
            evictions: Arc::default(),
        }
    }

    /// Call before reading a credential from the database; hand the result to `keep_*`.
    pub fn epoch(&self) -> u64 {
        self.evictions.load(Ordering::SeqCst)
    }

    fn evicting(&self) {
        self.evictions.fetch_add(1, Ordering::SeqCst);
    }

    /// Caches what was read from the database after `epoch()` returned `epoch`, unless an
    /// eviction ran since (then it may already be revoked). Insert, then check: an eviction
    /// either sees the entry or makes us drop it.
    fn keep<V>(&self, cache: &Option<Cache<String, V>>, key: String, value: V, epoch: u64)
    where
        V: Clone + Send + Sync + 'static,
    {
        if let Some(c) = cache {
            c.insert(key.clone(), value);
            if self.evictions.load(Ordering::SeqCst) != epoch {
                c.invalidate(&key);
            }
        }
    }

    pub fn session(&self, key_hash: &str) -> Option<CachedSession> {
        self.sessions.as_ref()?.get(key_hash)
    }

    pub fn keep_session(&self, key_hash: String, session: CachedSession, epoch: u64) {
        self.keep(&self.sessions, key_hash, session, epoch);
    }

    pub fn forget_session(&self, key_hash: &str) {
        self.evicting();
        if let Some(c) = &self.sessions {
            c.invalidate(key_hash);
        }
    }

    /// Forgets the session with this public id (logout).
    pub fn forget_sid(&self, sid: &str) {
        self.evicting();
        if let Some(c) = &self.sessions {
            let sid = sid.to_string();
            // Only fails if the cache was built without closures, which `new` never does.
            let _ = c.invalidate_entries_if(move |_, s| s.sid.as_deref() == Some(sid.as_str()));
        }
    }

    pub fn token(&self, token_hash: &str) -> Option<Profile> {
        self.tokens.as_ref()?.get(token_hash)
    }

    pub fn keep_token(&self, token_hash: String, who: Profile, epoch: u64) {
        self.keep(&self.tokens, token_hash, who, epoch);
    }

    /// Forgets every credential of a user (disabled, or a bot whose token changed).
    pub fn forget_user(&self, user: UserId) {
        self.evicting();
        if let Some(c) = &self.sessions {
            let _ = c.invalidate_entries_if(move |_, s| s.user_id == Some(user));
        }
        if let Some(c) = &self.tokens {
            let _ = c.invalidate_entries_if(move |_, p| p.id == user);
        }
    }
}

/// A size- and time-bounded cache whose entries can be evicted by predicate.
fn bounded<V: Clone + Send + Sync + 'static>(ttl: Duration) -> Cache<String, V> {
    Cache::builder()
        .max_capacity(CAPACITY)
        .time_to_live(ttl)
        .support_invalidation_closures()
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(user: i64, sid: &str) -> CachedSession {
        let user = UserId(user);
        CachedSession {
            state: Arc::new(HashMap::new()),
            user_id: Some(user),
            sid: Some(sid.into()),
        }
    }

    #[test]
    fn forgets_by_key_sid_and_user() {
        let cache = AuthCache::new(60_000);
        let epoch = cache.epoch();
        cache.keep_session("a".into(), session(1, "s1"), epoch);
        cache.keep_session("b".into(), session(1, "s2"), epoch);
        cache.keep_session("c".into(), session(2, "s3"), epoch);
        cache.keep_token(
            "t".into(),
            Profile {
                id: UserId(2),
                username: "bot".into(),
                is_bot: true,
            },
            epoch,
        );
        cache.forget_session("a");
        assert!(cache.session("a").is_none());
        cache.forget_sid("s2");
        assert!(cache.session("b").is_none());
        assert!(cache.session("c").is_some());
        assert!(cache.token("t").is_some());
        cache.forget_user(UserId(2));
        assert!(cache.session("c").is_none());
        assert!(cache.token("t").is_none());
    }

    #[test]
    fn a_read_that_raced_an_eviction_is_not_kept() {
        let cache = AuthCache::new(60_000);
        // A request starts reading the session; a logout of that session runs meanwhile.
        let epoch = cache.epoch();
        cache.forget_sid("s1");
        cache.keep_session("a".into(), session(1, "s1"), epoch);
        assert!(cache.session("a").is_none());
        // A read that started after the logout is kept.
        let epoch = cache.epoch();
        cache.keep_session("b".into(), session(1, "s2"), epoch);
        assert!(cache.session("b").is_some());
    }

    #[test]
    fn zero_ttl_caches_nothing() {
        let cache = AuthCache::new(0);
        cache.keep_session("a".into(), session(1, "s1"), cache.epoch());
        assert!(cache.session("a").is_none());
    }
}
