//! The typing throttle: at most one typing frame per user and room every [`TYPING_EVERY`].
//! A call inside that window is a quiet no-op (204) rather than a 429: a client that sends
//! one per keystroke must not see errors, and the no-op costs one map lookup (no database).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::ids::{RoomId, UserId};

/// One typing frame per user and room per this long.
pub const TYPING_EVERY: Duration = Duration::from_secs(3);

/// Entries kept at most (a typing signal in the last 3 s, per user and room); past it, new
/// signals are dropped until old ones expire, so no flood grows the map without bound.
const MAX_ENTRIES: usize = 100_000;

#[derive(Default)]
pub struct Throttle {
    last: Mutex<HashMap<(UserId, RoomId), Instant>>,
}

/// Only timestamps live in the map; a panic elsewhere leaves it usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Throttle {
    /// Whether `user` sent a typing frame in `room` within the window (the call is then a
    /// no-op, without even the membership check).
    pub fn recent(&self, user: UserId, room: RoomId) -> bool {
        lock(&self.last)
            .get(&(user, room))
            .is_some_and(|at| at.elapsed() < TYPING_EVERY)
    }

    /// Takes the window for one typing frame; false if a concurrent call took it first, or
    /// the map is full of live entries.
    pub fn take(&self, user: UserId, room: RoomId) -> bool {
        let now = Instant::now();
        let mut last = lock(&self.last);
        if let Some(at) = last.get(&(user, room)) {
            if now.duration_since(*at) < TYPING_EVERY {
                return false;
            }
        }
        if last.len() >= MAX_ENTRIES {
            last.retain(|_, at| now.duration_since(*at) < TYPING_EVERY);
            if last.len() >= MAX_ENTRIES {
                return false;
            }
        }
        last.insert((user, room), now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_per_window_per_user_and_room() {
        let t = Throttle::default();
        assert!(!t.recent(UserId(1), RoomId(1)));
        assert!(t.take(UserId(1), RoomId(1)));
        assert!(t.recent(UserId(1), RoomId(1)));
        assert!(!t.take(UserId(1), RoomId(1)));
        assert!(t.take(UserId(1), RoomId(2)));
        assert!(t.take(UserId(2), RoomId(1)));
    }
}
