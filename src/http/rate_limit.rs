//! Rate limits of the HTTP API (GCRA, from `governor`): per principal for sends, room and bot
//! creation; per client IP for login and registration, and per username for login, against
//! password guessing (from one address, and from many addresses at one account).

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::config::Config;
use crate::error::AppError;
use crate::ids::UserId;

const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");

/// Which answers to a charged request carry its `RateLimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tell {
    /// Only a success.
    Successes,
    /// Refusals too (login: a wrong password still says how many attempts are left).
    EveryAnswer,
}

/// What a request was charged, kept in its extensions for [`headers`] to write.
#[derive(Debug, Clone, Copy)]
struct Charged {
    info: RateInfo,
    tell: Tell,
}

/// Middleware on /api: writes the `RateLimit-*` headers of a charged request (see
/// [`Limit::charge`]) on its answer. A 429 `rate-limited` writes its own (with `Retry-After`)
/// and is left as it is.
pub async fn headers<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    let mut res = next.call(req).await?;
    let charged = res.request().extensions().get::<Charged>().copied();
    if let Some(Charged { info, tell }) = charged {
        let told = res.status().is_success() || tell == Tell::EveryAnswer;
        if told && !res.headers().contains_key(RATELIMIT_LIMIT) {
            for (name, value) in info.headers() {
                res.headers_mut().insert(name, value);
            }
        }
    }
    Ok(res)
}

/// What the `RateLimit-*` headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateInfo {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the full burst is available again.
    pub reset_secs: u64,
}

impl RateInfo {
    /// The `RateLimit-*` headers (IETF draft "RateLimit header fields for HTTP").
    pub fn headers(&self) -> [(HeaderName, HeaderValue); 3] {
        [
            (RATELIMIT_LIMIT, HeaderValue::from(self.limit)),
            (
                HeaderName::from_static("ratelimit-remaining"),
                HeaderValue::from(self.remaining),
            ),
            (
                HeaderName::from_static("ratelimit-reset"),
                HeaderValue::from(self.reset_secs),
            ),
        ]
    }
}

pub struct Limit<K: Hash + Eq + Clone> {
    limiter: RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock, StateInformationMiddleware>,
    quota: Quota,
    clock: DefaultClock,
}

impl<K: Hash + Eq + Clone> Limit<K> {
    fn new(per_minute: u32, burst: u32) -> Result<Self, String> {
        let per_minute = NonZeroU32::new(per_minute).ok_or("a rate must be at least 1/min")?;
        let burst = NonZeroU32::new(burst).ok_or("a burst must be at least 1")?;
        let period = Duration::from_secs(60) / per_minute.get();
        let quota = Quota::with_period(period)
            .ok_or("a rate is too high")?
            .allow_burst(burst);
        let clock = DefaultClock::default();
        let limiter = RateLimiter::<K, _, _, StateInformationMiddleware>::new(
            quota,
            DefaultKeyedStateStore::default(),
            clock.clone(),
        );
        Ok(Limit {
            limiter,
            quota,
            clock,
        })
    }

    /// Takes one unit for `key` on behalf of `req`, whose answer then carries the
    /// `RateLimit-*` headers (written by [`headers`]), or refuses it with 429.
    pub fn charge(&self, req: &HttpRequest, key: &K, tell: Tell) -> Result<(), AppError> {
        let info = self.check(key)?;
        req.extensions_mut().insert(Charged { info, tell });
        Ok(())
    }

    /// Takes one unit for `key`, or says when to come back. Alone, for a limit whose numbers
    /// the answer does not show (a 429 still shows its own).
    pub fn check(&self, key: &K) -> Result<RateInfo, AppError> {
        let limit = self.quota.burst_size().get();
        let per_unit = self.quota.replenish_interval();
        match self.limiter.check_key(key) {
            Ok(state) => {
                let remaining = state.remaining_burst_capacity();
                Ok(RateInfo {
                    limit,
                    remaining,
                    reset_secs: ceil_secs(per_unit * (limit - remaining)),
                })
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                Err(AppError::RateLimited {
                    limit,
                    reset_secs: ceil_secs(per_unit * limit),
                    retry_after_secs: ceil_secs(wait).max(1),
                })
            }
        }
    }

    /// Forgets keys whose bucket is full again, so memory follows active clients only.
    pub fn shrink(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

pub struct Limits {
    pub send: Limit<UserId>,
    pub create_room: Limit<UserId>,
    pub create_bot: Limit<UserId>,
    pub auth: Limit<IpAddr>,
    /// Keyed by the normalized (lowercased) username, known or not, so that the answer says
    /// nothing about which names exist.
    pub login_user: Limit<String>,
}

impl Limits {
    pub fn new(c: &Config) -> Result<Self, String> {
        let named = |name: &'static str| move |e: String| format!("invalid rate limit {name}: {e}");
        Ok(Limits {
            send: Limit::new(c.rate_send_per_minute, c.rate_send_burst).map_err(named("send"))?,
            create_room: Limit::new(c.rate_rooms_per_minute, c.rate_rooms_burst)
                .map_err(named("rooms"))?,
            create_bot: Limit::new(c.rate_bots_per_minute, c.rate_bots_burst)
                .map_err(named("bots"))?,
            auth: Limit::new(c.rate_auth_per_minute, c.rate_auth_burst).map_err(named("auth"))?,
            login_user: Limit::new(c.rate_login_user_per_minute, c.rate_login_user_burst)
                .map_err(named("login_user"))?,
        })
    }

    pub fn shrink(&self) {
        self.send.shrink();
        self.create_room.shrink();
        self.create_bot.shrink();
        self.auth.shrink();
        self.login_user.shrink();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refusal_with_retry_after() {
        let limit: Limit<i64> = Limit::new(60, 3).expect("quota");
        let first = limit.check(&1).expect("allowed");
        assert_eq!((first.limit, first.remaining), (3, 2));
        limit.check(&1).expect("allowed");
        limit.check(&1).expect("allowed");
        match limit.check(&1) {
            Err(AppError::RateLimited {
                retry_after_secs,
                limit,
                ..
            }) => {
                assert!((1..=1).contains(&retry_after_secs), "{retry_after_secs}");
                assert_eq!(limit, 3);
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        // Another key has its own bucket.
        assert_eq!(limit.check(&2).expect("allowed").remaining, 2);
    }
}
