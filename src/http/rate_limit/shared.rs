//! The buckets of all instances at once, in Redis (`bus_url`): one atomic script per request
//! (`gcra.lua`, by EVALSHA, loaded again by itself after a Redis restart), so that spreading
//! requests over the instances multiplies nobody's allowance.
//!
//! Redis is not trusted to be up. A call that fails, or has no answer within [`TIMEOUT`],
//! gives no verdict and the caller asks its local buckets instead. After a failure Redis is
//! left alone for [`REST`], so an outage costs at most one slow request per `REST`, not a
//! slow request each. The first fallback is logged at WARN and the recovery at INFO; every
//! fallback is counted in `roomcast_rate_limit_fallbacks_total{limit}`.

use std::fmt::Display;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Script;
use tokio::runtime::Handle;

use super::{Quota, Verdict};

/// The longest a request waits for Redis before it is limited locally.
const TIMEOUT: Duration = Duration::from_millis(300);
/// How long Redis is not asked after it failed to answer.
const REST: Duration = Duration::from_secs(1);

/// One connection to Redis (multiplexed, reconnecting by itself) for every limit.
#[derive(Clone)]
pub(super) struct Shared(Arc<Inner>);

struct Inner {
    redis: ConnectionManager,
    script: Script,
    /// The server's multi-thread runtime: the connection's tasks live there (see `take`).
    runtime: Handle,
    started: Instant,
    /// Milliseconds after `started` before which Redis is not asked (it just failed).
    rest_until_ms: AtomicU64,
    /// Whether the last word on Redis was a failure (what the WARN and INFO lines follow).
    down: AtomicBool,
}

impl Shared {
    /// Sets up the connection without waiting for it, so that the server starts while Redis
    /// is down (limiting locally), and dials it in the background.
    pub(super) fn connect(url: &str) -> Result<Shared, String> {
        let runtime = Handle::try_current()
            .map_err(|e| format!("the rate limits need the server's runtime: {e}"))?;
        // Not the URL itself in the message: it may hold a password.
        let client = redis::Client::open(url).map_err(|e| format!("invalid bus_url: {e}"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            // A reconnection gives up soon; the next request after `REST` starts another.
            .set_number_of_retries(1)
            .set_max_delay(TIMEOUT);
        let redis = {
            let _inside = runtime.enter();
            ConnectionManager::new_lazy_with_config(client, config)
                .map_err(|e| format!("cannot set up the rate limits' Redis connection: {e}"))?
        };
        let shared = Shared(Arc::new(Inner {
            redis,
            script: Script::new(include_str!("gcra.lua")),
            runtime,
            started: Instant::now(),
            rest_until_ms: AtomicU64::new(0),
            down: AtomicBool::new(false),
        }));
        shared.warm_up();
        Ok(shared)
    }

    /// Connects and loads the script now, so the first request pays for neither.
    fn warm_up(&self) {
        let shared = self.clone();
        self.0.runtime.spawn(async move {
            let mut redis = shared.0.redis.clone();
            let load = shared.0.script.load_async(&mut redis);
            match tokio::time::timeout(TIMEOUT, load).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => shared.went_down(&e.to_string()),
                Err(_) => shared.went_down("no answer in time"),
            }
        });
    }

    /// Takes one unit from `limit`'s bucket for `key` in Redis; `None` when Redis gave no
    /// verdict and the caller must decide locally (counted here).
    pub(super) async fn take(
        &self,
        limit: &'static str,
        key: &impl Display,
        quota: Quota,
    ) -> Option<Verdict> {
        let verdict = if self.resting() {
            None
        } else {
            self.ask(limit, key, quota).await
        };
        if verdict.is_none() {
            metrics::counter!("roomcast_rate_limit_fallbacks_total", "limit" => limit).increment(1);
        }
        verdict
    }

    async fn ask(&self, limit: &'static str, key: &impl Display, quota: Quota) -> Option<Verdict> {
        let bucket = format!("roomcast:rl:{limit}:{key}");
        let (period_us, burst) = script_args(quota);
        let shared = self.clone();
        // A task on the multi-thread runtime, like a database call: the connection's driver
        // and its reconnections are spawned there, not on whichever actix worker (a
        // single-thread runtime of its own) happened to use it first.
        let call = self.0.runtime.spawn(async move {
            let mut redis = shared.0.redis.clone();
            let mut invocation = shared.0.script.key(bucket);
            invocation.arg(period_us).arg(burst);
            tokio::time::timeout(TIMEOUT, invocation.invoke_async::<Vec<i64>>(&mut redis)).await
        });
        let outcome = match call.await {
            Ok(Ok(Ok(reply))) => {
                verdict(&reply, quota.burst).ok_or_else(|| format!("unexpected reply {reply:?}"))
            }
            Ok(Ok(Err(e))) => Err(e.to_string()),
            Ok(Err(_)) => Err(format!("no answer within {} ms", TIMEOUT.as_millis())),
            Err(e) => Err(format!("the call's task failed: {e}")),
        };
        match outcome {
            Ok(verdict) => {
                self.came_back();
                Some(verdict)
            }
            Err(why) => {
                tracing::debug!(limit, error = %why, "rate limit decided locally");
                self.went_down(&why);
                None
            }
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.0.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn resting(&self) -> bool {
        self.now_ms() < self.0.rest_until_ms.load(Ordering::Relaxed)
    }

    fn went_down(&self, why: &str) {
        let rest = u64::try_from(REST.as_millis()).unwrap_or(u64::MAX);
        let until = self.now_ms().saturating_add(rest);
        self.0.rest_until_ms.store(until, Ordering::Relaxed);
        if !self.0.down.swap(true, Ordering::Relaxed) {
            tracing::warn!(error = %why, "rate limits: Redis does not answer; each instance \
                limits on its own until it does (roomcast_rate_limit_fallbacks_total)");
        }
    }

    fn came_back(&self) {
        if self.0.down.swap(false, Ordering::Relaxed) {
            tracing::info!("rate limits: Redis answers again; limits are shared by all instances");
        }
    }
}

/// The script's arguments: the emission interval in whole microseconds (at least 1: Redis
/// counts in microseconds, governor in nanoseconds; they differ only above 60 million a
/// minute), and the burst.
fn script_args(quota: Quota) -> (u64, u32) {
    let period_us = u64::try_from(quota.period.as_micros()).unwrap_or(u64::MAX);
    (period_us.max(1), quota.burst.get())
}

/// The script's reply: `[1, units left]` or `[0, µs to wait]`. Anything else gives no verdict,
/// like no answer: the local buckets decide.
fn verdict(reply: &[i64], burst: NonZeroU32) -> Option<Verdict> {
    match *reply {
        [1, remaining] => {
            let remaining = u32::try_from(remaining).ok()?;
            (remaining <= burst.get()).then_some(Verdict::Taken { remaining })
        }
        [0, wait_us] => Some(Verdict::Refused {
            wait: Duration::from_micros(u64::try_from(wait_us).ok()?),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use roomcast_testkit::redis::RedisServer;

    use super::super::local::Local;
    use super::*;

    fn burst(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).expect("non-zero")
    }

    #[test]
    fn the_scripts_reply_becomes_a_verdict() {
        assert_eq!(
            verdict(&[1, 2], burst(3)),
            Some(Verdict::Taken { remaining: 2 })
        );
        assert_eq!(
            verdict(&[0, 1_500_000], burst(3)),
            Some(Verdict::Refused {
                wait: Duration::from_millis(1500)
            })
        );
        for unreadable in [
            &[1, 4][..],
            &[1, -1],
            &[0, -5],
            &[2, 0],
            &[],
            &[1],
            &[1, 2, 3],
        ] {
            assert_eq!(verdict(unreadable, burst(3)), None, "{unreadable:?}");
        }
    }

    #[test]
    fn the_script_counts_in_whole_microseconds() {
        assert_eq!(
            script_args(Quota::new(60, 5).expect("quota")),
            (1_000_000, 5)
        );
        assert_eq!(
            script_args(Quota::new(7, 1).expect("quota")),
            (8_571_428, 1)
        );
        // Above 60 million a minute governor's nanoseconds still count; the script's
        // microseconds round up to 1.
        assert_eq!(script_args(Quota::new(u32::MAX, 2).expect("quota")), (1, 2));
    }

    /// The same requests get the same verdicts from Redis and from governor (at 1/min nothing
    /// comes back during the test), and the key expires when its bucket would be full again.
    #[tokio::test]
    async fn the_script_agrees_with_the_local_buckets() {
        let server = RedisServer::start().await.expect("redis-server");
        let shared = Shared::connect(&server.url()).expect("client");
        let quota = Quota::new(1, 3).expect("quota");
        let local: Local<&str> = Local::new(quota).expect("quota");
        let mut seen = Vec::new();
        for _ in 0..4 {
            let remote = shared.take("test", &"alice", quota).await;
            seen.push((remote.expect("Redis answers"), local.take(&"alice")));
        }
        let taken: Vec<_> = (0..3)
            .map(|n| Verdict::Taken { remaining: 2 - n })
            .collect();
        for (n, (remote, here)) in seen.iter().enumerate() {
            match (remote, here) {
                (Verdict::Refused { wait: remote }, Verdict::Refused { wait: here }) => {
                    assert_eq!(n, 3, "refused early");
                    // The first unit comes back 60 s after it was taken.
                    for wait in [remote, here] {
                        assert!(
                            *wait > Duration::from_secs(55) && *wait <= Duration::from_secs(60),
                            "{wait:?}"
                        );
                    }
                }
                _ => {
                    assert_eq!(remote, here, "request {n}");
                    assert_eq!(Some(remote), taken.get(n), "request {n}");
                }
            }
        }
        // Another key is another bucket.
        assert_eq!(
            shared.take("test", &"bob", quota).await,
            Some(Verdict::Taken { remaining: 2 })
        );
        // Three units taken at 1/min: full again in about 3 min, and gone then.
        let mut redis = shared.0.redis.clone();
        let ttl: i64 = redis::cmd("PTTL")
            .arg("roomcast:rl:test:alice")
            .query_async(&mut redis)
            .await
            .expect("PTTL");
        assert!((170_000..=180_000).contains(&ttl), "PTTL {ttl}");
    }

    /// No Redis: no verdict, within the timeout, and then none at once while resting.
    #[tokio::test]
    async fn an_unreachable_redis_gives_no_verdict_in_time() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let shared = Shared::connect(&format!("redis://127.0.0.1:{port}")).expect("client");
        let quota = Quota::new(1, 3).expect("quota");
        let started = Instant::now();
        assert_eq!(shared.take("test", &"alice", quota).await, None);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        let again = Instant::now();
        assert_eq!(shared.take("test", &"alice", quota).await, None);
        assert!(shared.resting());
        assert!(
            again.elapsed() < Duration::from_millis(50),
            "{:?}",
            again.elapsed()
        );
    }
}
