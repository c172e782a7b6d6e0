//! Credentials checked recently, kept in memory so that a request does not read its session
//! row (or its bot's token row) from the database every time.
//!
//! What this server changes it forgets at once: logout, a session update, a bot token rotated
//! or revoked, a user disabled (through the revocation poll). A change made elsewhere (another
//! instance, the admin CLI) is seen within `auth_cache_ms` at most; that bound is the price of
//! not reading the row on every request, and `auth_cache_ms = 0` turns the cache off.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;

use crate::store::accounts::Profile;

/// More live credentials than this and the oldest are read from the database again.
const CAPACITY: u64 = 100_000;

/// A session's state as the store holds it, and the two fields eviction needs.
#[derive(Clone)]
pub struct CachedSession {
    pub state: Arc<HashMap<String, String>>,
    pub user_id: Option<i64>,
    pub sid: Option<String>,
}

/// Cheap to clone; every clone is the same cache.
#[derive(Clone)]
pub struct AuthCache {
    /// By the SHA-256 of the session key.
    sessions: Option<Cache<String, CachedSession>>,
    /// By the SHA-256 of the bearer token.
    tokens: Option<Cache<String, Profile>>,
}

impl AuthCache {
    pub fn new(ttl_ms: u64) -> AuthCache {
        if ttl_ms == 0 {
            return AuthCache {
                sessions: None,
                tokens: None,
            };
        }
        let ttl = Duration::from_millis(ttl_ms);
        AuthCache {
            sessions: Some(
                Cache::builder()
                    .max_capacity(CAPACITY)
                    .time_to_live(ttl)
                    .support_invalidation_closures()
                    .build(),
            ),
            tokens: Some(
                Cache::builder()
                    .max_capacity(CAPACITY)
                    .time_to_live(ttl)
                    .support_invalidation_closures()
                    .build(),
            ),
        }
    }

    pub fn session(&self, key_hash: &str) -> Option<CachedSession> {
        self.sessions.as_ref()?.get(key_hash)
    }

    pub fn keep_session(&self, key_hash: String, session: CachedSession) {
        if let Some(c) = &self.sessions {
            c.insert(key_hash, session);
        }
    }

    pub fn forget_session(&self, key_hash: &str) {
        if let Some(c) = &self.sessions {
            c.invalidate(key_hash);
        }
    }

    /// Forgets the session with this public id (logout).
    pub fn forget_sid(&self, sid: &str) {
        if let Some(c) = &self.sessions {
            let sid = sid.to_string();
            // Only fails if the cache was built without closures, which `new` never does.
            let _ = c.invalidate_entries_if(move |_, s| s.sid.as_deref() == Some(sid.as_str()));
        }
    }

    pub fn token(&self, token_hash: &str) -> Option<Profile> {
        self.tokens.as_ref()?.get(token_hash)
    }

    pub fn keep_token(&self, token_hash: String, who: Profile) {
        if let Some(c) = &self.tokens {
            c.insert(token_hash, who);
        }
    }

    /// Forgets every credential of a user (disabled, or a bot whose token changed).
    pub fn forget_user(&self, user: i64) {
        if let Some(c) = &self.sessions {
            let _ = c.invalidate_entries_if(move |_, s| s.user_id == Some(user));
        }
        if let Some(c) = &self.tokens {
            let _ = c.invalidate_entries_if(move |_, p| p.id == user);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(user: i64, sid: &str) -> CachedSession {
        CachedSession {
            state: Arc::new(HashMap::new()),
            user_id: Some(user),
            sid: Some(sid.into()),
        }
    }

    #[test]
    fn forgets_by_key_sid_and_user() {
        let cache = AuthCache::new(60_000);
        cache.keep_session("a".into(), session(1, "s1"));
        cache.keep_session("b".into(), session(1, "s2"));
        cache.keep_session("c".into(), session(2, "s3"));
        cache.keep_token(
            "t".into(),
            Profile {
                id: 2,
                username: "bot".into(),
                is_bot: true,
            },
        );
        cache.forget_session("a");
        assert!(cache.session("a").is_none());
        cache.forget_sid("s2");
        assert!(cache.session("b").is_none());
        assert!(cache.session("c").is_some());
        assert!(cache.token("t").is_some());
        cache.forget_user(2);
        assert!(cache.session("c").is_none());
        assert!(cache.token("t").is_none());
    }

    #[test]
    fn zero_ttl_caches_nothing() {
        let cache = AuthCache::new(0);
        cache.keep_session("a".into(), session(1, "s1"));
        assert!(cache.session("a").is_none());
    }
}
