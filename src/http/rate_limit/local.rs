//! This instance's own buckets, in memory (`governor`): the limits of a lone instance, and
//! every instance's fallback while Redis cannot be reached.

use std::hash::Hash;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::RateLimiter;

use super::{Quota, Verdict};

pub(super) struct Local<K: Hash + Eq + Clone> {
    limiter: RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock, StateInformationMiddleware>,
    clock: DefaultClock,
}

impl<K: Hash + Eq + Clone> Local<K> {
    pub(super) fn new(quota: Quota) -> Result<Self, String> {
        let quota = governor::Quota::with_period(quota.period)
            .ok_or("a rate is too high")?
            .allow_burst(quota.burst);
        let clock = DefaultClock::default();
        let limiter = RateLimiter::<K, _, _, StateInformationMiddleware>::new(
            quota,
            DefaultKeyedStateStore::default(),
            clock.clone(),
        );
        Ok(Local { limiter, clock })
    }

    /// Takes one unit for `key` from this instance's bucket.
    pub(super) fn take(&self, key: &K) -> Verdict {
        match self.limiter.check_key(key) {
            Ok(state) => Verdict::Taken {
                remaining: state.remaining_burst_capacity(),
            },
            Err(not_until) => Verdict::Refused {
                wait: not_until.wait_time_from(self.clock.now()),
            },
        }
    }

    /// Forgets keys whose bucket is full again, so memory follows active clients only.
    pub(super) fn shrink(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}
