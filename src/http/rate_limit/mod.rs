//! Rate limits of the HTTP API (GCRA): per principal for sends, room and bot creation; per
//! client IP for login and registration, and per username for login, against password
//! guessing (from one address, and from many addresses at one account).
//!
//! A lone instance keeps its buckets in memory ([`local`], `governor`). Many instances
//! (`bus_url` set) keep them in Redis ([`shared`]), so that spreading requests over the
//! instances multiplies nobody's allowance; while Redis does not answer, each instance falls
//! back to its own buckets. Both give a [`Verdict`], which [`Quota::answer`] alone turns into
//! the `RateLimit-*` numbers or a 429.

mod local;
mod shared;

use std::fmt::Display;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest};

use crate::config::Config;
use crate::error::AppError;
use crate::ids::UserId;
use local::Local;
use shared::Shared;

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

/// A rate and a burst, as configured (`rate_*_per_minute`, `rate_*_burst`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Quota {
    /// How long one unit takes to come back (GCRA's emission interval).
    period: Duration,
    burst: NonZeroU32,
}

/// What a bucket, local or shared, said to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// A unit was taken; this many are left.
    Taken { remaining: u32 },
    /// Refused: the next unit comes back after `wait`.
    Refused { wait: Duration },
}

impl Quota {
    fn new(per_minute: u32, burst: u32) -> Result<Quota, String> {
        let per_minute = NonZeroU32::new(per_minute).ok_or("a rate must be at least 1/min")?;
        let burst = NonZeroU32::new(burst).ok_or("a burst must be at least 1")?;
        let period = Duration::from_secs(60) / per_minute.get();
        if period.is_zero() {
            return Err("a rate is too high".into());
        }
        Ok(Quota { period, burst })
    }

    /// The one place a verdict becomes what the client is told.
    fn answer(&self, verdict: Verdict) -> Result<RateInfo, AppError> {
        let limit = self.burst.get();
        match verdict {
            Verdict::Taken { remaining } => Ok(RateInfo {
                limit,
                remaining,
                reset_secs: ceil_secs(self.period.saturating_mul(limit.saturating_sub(remaining))),
            }),
            Verdict::Refused { wait } => Err(AppError::RateLimited {
                limit,
                reset_secs: ceil_secs(self.period.saturating_mul(limit)),
                retry_after_secs: ceil_secs(wait).max(1),
            }),
        }
    }
}

/// One limit: its quota, this instance's buckets, and with a Redis bus the shared ones.
pub struct Limit<K: Hash + Eq + Clone> {
    /// Part of the Redis key, and the `limit` label of the fallback counter.
    name: &'static str,
    quota: Quota,
    local: Local<K>,
    shared: Option<Shared>,
}

impl<K: Hash + Eq + Clone + Display> Limit<K> {
    fn new(
        name: &'static str,
        per_minute: u32,
        burst: u32,
        shared: Option<Shared>,
    ) -> Result<Self, String> {
        let invalid = |e: String| format!("invalid rate limit {name}: {e}");
        let quota = Quota::new(per_minute, burst).map_err(invalid)?;
        let local = Local::new(quota).map_err(invalid)?;
        Ok(Limit {
            name,
            quota,
            local,
            shared,
        })
    }

    /// Takes one unit for `key` on behalf of `req`, whose answer then carries the
    /// `RateLimit-*` headers (written by [`headers`]), or refuses it with 429.
    pub async fn charge(&self, req: &HttpRequest, key: &K, tell: Tell) -> Result<(), AppError> {
        let info = self.check(key).await?;
        req.extensions_mut().insert(Charged { info, tell });
        Ok(())
    }

    /// Takes one unit for `key`, or says when to come back. Alone, for a limit whose numbers
    /// the answer does not show (a 429 still shows its own).
    pub async fn check(&self, key: &K) -> Result<RateInfo, AppError> {
        let shared = match &self.shared {
            Some(shared) => shared.take(self.name, key, self.quota).await,
            None => None,
        };
        // No shared verdict (no bus, or Redis did not answer): this instance's own buckets.
        let verdict = shared.unwrap_or_else(|| self.local.take(key));
        self.quota.answer(verdict)
    }

    /// Forgets local keys whose bucket is full again (Redis expires its own).
    pub fn shrink(&self) {
        self.local.shrink();
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
    /// With a Redis `bus_url`, every limit is shared through one connection to Redis (made
    /// lazily: the server starts while Redis is down, on its local buckets).
    pub fn new(c: &Config) -> Result<Self, String> {
        let shared = if c.bus_url.is_empty() {
            None
        } else {
            Some(Shared::connect(&c.bus_url)?)
        };
        let s = || shared.clone();
        Ok(Limits {
            send: Limit::new("send", c.rate_send_per_minute, c.rate_send_burst, s())?,
            create_room: Limit::new("rooms", c.rate_rooms_per_minute, c.rate_rooms_burst, s())?,
            create_bot: Limit::new("bots", c.rate_bots_per_minute, c.rate_bots_burst, s())?,
            auth: Limit::new("auth", c.rate_auth_per_minute, c.rate_auth_burst, s())?,
            login_user: Limit::new(
                "login_user",
                c.rate_login_user_per_minute,
                c.rate_login_user_burst,
                s(),
            )?,
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

    #[tokio::test]
    async fn burst_then_refusal_with_retry_after() {
        let limit: Limit<i64> = Limit::new("test", 60, 3, None).expect("quota");
        let first = limit.check(&1).await.expect("allowed");
        assert_eq!((first.limit, first.remaining), (3, 2));
        limit.check(&1).await.expect("allowed");
        limit.check(&1).await.expect("allowed");
        match limit.check(&1).await {
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
        assert_eq!(limit.check(&2).await.expect("allowed").remaining, 2);
    }

    #[test]
    fn a_verdict_becomes_the_headers_or_a_429() {
        // 30 a minute: a unit every 2 s.
        let quota = Quota::new(30, 3).expect("quota");
        let taken = quota.answer(Verdict::Taken { remaining: 1 });
        let info = RateInfo {
            limit: 3,
            remaining: 1,
            reset_secs: 4,
        };
        assert_eq!(taken.expect("taken"), info);
        let full = quota
            .answer(Verdict::Taken { remaining: 3 })
            .expect("taken");
        assert_eq!(full.reset_secs, 0);
        for (wait, retry_after) in [(1500, 2), (2000, 2), (0, 1), (1, 1)] {
            let refused = quota.answer(Verdict::Refused {
                wait: Duration::from_millis(wait),
            });
            match refused {
                Err(AppError::RateLimited {
                    limit: 3,
                    reset_secs: 6,
                    retry_after_secs,
                }) => assert_eq!(retry_after_secs, retry_after, "wait {wait} ms"),
                other => panic!("wait {wait} ms: {other:?}"),
            }
        }
    }

    #[test]
    fn a_quota_needs_a_rate_and_a_burst() {
        assert!(Quota::new(0, 1).is_err());
        assert!(Quota::new(1, 0).is_err());
        let quota = Quota::new(300, 20).expect("the default send quota");
        assert_eq!(quota.period, Duration::from_millis(200));
    }
}
