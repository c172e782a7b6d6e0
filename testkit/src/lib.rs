//! What roomcast's end-to-end tests (`tests/e2e/support`) and its load generator (`bench/`)
//! share: starting a real `roomcast serve` and waiting for its ready line, and a PostgreSQL
//! database of its own per run, created and dropped. Errors are plain text: the tests panic
//! with it, the bench reports it.

pub mod pg;
pub mod process;
pub mod redis;

use std::sync::atomic::{AtomicU64, Ordering};

/// Unique across concurrent processes (the pid), within one (a counter), and against a reused
/// pid finding a killed run's leftovers (a random part): for temp dirs and database names.
/// Starts with the pid, which `pg::sweep_dead_runs` relies on.
pub fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let random = {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(n);
        h.finish() & 0xffff_ffff
    };
    format!("{}_{}_{:08x}", std::process::id(), n, random)
}
