//! Caps on open WebSockets per user and per client IP: each socket holds a `Slot` for its
//! whole life, so one client cannot hold thousands of sockets (and their memory) open.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::ids::UserId;

#[derive(Default)]
struct Counts {
    users: HashMap<UserId, usize>,
    ips: HashMap<IpAddr, usize>,
}

#[derive(Clone)]
pub struct Slots {
    counts: Arc<Mutex<Counts>>,
    per_user: usize,
    per_ip: usize,
}

/// Which cap a refused socket hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    User,
    Ip,
}

/// One open socket's place; dropping it frees the place.
pub struct Slot {
    slots: Slots,
    user: UserId,
    ip: IpAddr,
}

/// The counts stay right even if another thread panicked while holding the lock: each update
/// is a single insert or decrement.
fn lock(m: &Mutex<Counts>) -> MutexGuard<'_, Counts> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn release<K: Hash + Eq>(map: &mut HashMap<K, usize>, key: &K) {
    if let Some(n) = map.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            map.remove(key);
        }
    }
}

impl Slots {
    pub fn new(per_user: usize, per_ip: usize) -> Slots {
        Slots {
            counts: Arc::default(),
            per_user,
            per_ip,
        }
    }

    /// A place for one more socket of `user` from `ip`, if both are under their caps.
    pub fn take(&self, user: UserId, ip: IpAddr) -> Result<Slot, Full> {
        let mut counts = lock(&self.counts);
        if counts.users.get(&user).copied().unwrap_or(0) >= self.per_user {
            return Err(Full::User);
        }
        if counts.ips.get(&ip).copied().unwrap_or(0) >= self.per_ip {
            return Err(Full::Ip);
        }
        *counts.users.entry(user).or_default() += 1;
        *counts.ips.entry(ip).or_default() += 1;
        Ok(Slot {
            slots: self.clone(),
            user,
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = lock(&self.slots.counts);
        release(&mut counts.users, &self.user);
        release(&mut counts.ips, &self.ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn caps_per_user_and_per_ip_and_release_on_drop() {
        let slots = Slots::new(2, 3);
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let b = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let first = slots.take(UserId(1), a).expect("1st");
        let _second = slots.take(UserId(1), b).expect("2nd");
        assert_eq!(slots.take(UserId(1), a).err(), Some(Full::User));
        let _other = slots.take(UserId(2), a).expect("another user");
        let _other2 = slots.take(UserId(3), a).expect("third from a");
        assert_eq!(slots.take(UserId(4), a).err(), Some(Full::Ip));
        drop(first);
        assert!(
            slots.take(UserId(4), a).is_ok(),
            "a freed place is reusable"
        );
        assert!(
            !lock(&slots.counts).users.contains_key(&UserId(4)),
            "dropped again"
        );
    }
}
