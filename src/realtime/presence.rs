//! Presence: which members have a socket open on a room right now, on every instance.
//!
//! Each instance counts its own sockets per (room, user). A user's first socket on a room makes
//! them online at once; after their last one closes they stay online for [`LINGER`], so a
//! reconnect does not flap. Each instance announces its own pairs over the bus as numbered
//! deltas plus a heartbeat every [`BEAT`]; a receiver that misses a number (the bus is lossy)
//! asks for a snapshot, and forgets an instance it has not heard for [`EXPIRE`] (one that was
//! killed, or cut off from the bus): its users go offline. A user is online on a room when any
//! instance says so. Every instance sends `presence` frames to its own sockets when that
//! combined answer changes, so each frame is sent once per socket, whoever caused it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{Frame, Hub};
use crate::bus::{Bus, PresenceMsg, Present};
use crate::ids::{RoomId, UserId};
use crate::views::UserRef;

/// How long a user stays online after their last socket on a room closed.
pub const LINGER: Duration = Duration::from_secs(2);
/// How often an instance says it is alive (and the version of what it announced).
pub const BEAT: Duration = Duration::from_secs(1);
/// An instance not heard for this long is gone; its users go offline.
pub const EXPIRE: Duration = Duration::from_secs(4);
/// How often lingering users and silent instances are looked at.
const TICK: Duration = Duration::from_millis(250);

#[derive(Clone)]
pub struct Presence {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    hub: Hub,
    bus: Bus,
}

#[derive(Default)]
struct State {
    local: HashMap<RoomId, HashMap<UserId, Local>>,
    remote: HashMap<u64, Remote>,
    /// The number of the last delta this instance announced.
    version: u64,
}

struct Local {
    user: Present,
    sockets: usize,
    /// When the last socket closed (the user lingers until `LINGER` after it).
    empty_since: Option<Instant>,
}

struct Remote {
    version: u64,
    /// Whether `rooms` follows from a snapshot and every delta since.
    synced: bool,
    heard: Instant,
    asked: Option<Instant>,
    rooms: HashMap<RoomId, HashMap<UserId, Present>>,
}

/// A socket's place in presence; dropping it starts the linger of its user if it was their
/// last socket on the room here.
pub struct PresenceGuard {
    presence: Presence,
    room: RoomId,
    user: UserId,
}

/// A poisoned lock only means another thread panicked mid-update of plain maps.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl State {
    fn online(&self, room: RoomId, user: UserId) -> bool {
        self.local.get(&room).is_some_and(|m| m.contains_key(&user))
            || self
                .remote
                .values()
                .any(|r| r.rooms.get(&room).is_some_and(|m| m.contains_key(&user)))
    }

    fn snapshot(&self) -> Vec<(RoomId, Present)> {
        self.local
            .iter()
            .flat_map(|(room, users)| users.values().map(|l| (*room, l.user.clone())))
            .collect()
    }
}

impl Presence {
    pub fn new(hub: Hub, bus: Bus) -> Presence {
        Presence {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                hub,
                bus,
            }),
        }
    }

    /// A socket of `user` opened on `room` (after its membership was checked).
    pub fn open(&self, room: RoomId, user: Present) -> PresenceGuard {
        let id = user.id;
        let mut st = lock(&self.inner.state);
        match st.local.get_mut(&room).and_then(|m| m.get_mut(&id)) {
            Some(local) => {
                local.sockets += 1;
                local.empty_since = None;
            }
            None => {
                let before = st.online(room, id);
                st.local.entry(room).or_default().insert(
                    id,
                    Local {
                        user: user.clone(),
                        sockets: 1,
                        empty_since: None,
                    },
                );
                st.version += 1;
                self.inner.bus.publish_presence(&PresenceMsg::Delta {
                    version: st.version,
                    room,
                    user: user.clone(),
                    online: true,
                });
                if !before {
                    self.emit(room, &user, true);
                }
            }
        }
        PresenceGuard {
            presence: self.clone(),
            room,
            user: id,
        }
    }

    fn close(&self, room: RoomId, user: UserId) {
        let mut st = lock(&self.inner.state);
        if let Some(local) = st.local.get_mut(&room).and_then(|m| m.get_mut(&user)) {
            local.sockets = local.sockets.saturating_sub(1);
            if local.sockets == 0 {
                local.empty_since = Some(Instant::now());
            }
        }
    }

    /// The members online on `room` (on any instance), by id.
    pub fn online(&self, room: RoomId) -> Vec<Present> {
        let st = lock(&self.inner.state);
        let mut all: BTreeMap<UserId, Present> = BTreeMap::new();
        if let Some(users) = st.local.get(&room) {
            for (id, l) in users {
                all.insert(*id, l.user.clone());
            }
        }
        for r in st.remote.values() {
            if let Some(users) = r.rooms.get(&room) {
                for (id, p) in users {
                    all.entry(*id).or_insert_with(|| p.clone());
                }
            }
        }
        all.into_values().collect()
    }

    fn emit(&self, room: RoomId, user: &Present, online: bool) {
        let user = UserRef {
            id: user.id,
            username: user.username.clone(),
            bot: user.bot,
        };
        match Frame::presence(room, user, online) {
            Ok(frame) => self.inner.hub.ephemeral(Arc::new(frame)),
            Err(e) => tracing::error!(error = %e, "presence frame not sent"),
        }
    }

    /// Ends the lingers that are over and forgets silent instances.
    fn sweep(&self, now: Instant) {
        let mut st = lock(&self.inner.state);
        let mut gone = Vec::new();
        for (room, users) in &st.local {
            for (id, l) in users {
                if l.empty_since
                    .is_some_and(|at| now.duration_since(at) >= LINGER)
                {
                    gone.push((*room, *id));
                }
            }
        }
        for (room, id) in gone {
            let Some(users) = st.local.get_mut(&room) else {
                continue;
            };
            let Some(l) = users.remove(&id) else {
                continue;
            };
            if users.is_empty() {
                st.local.remove(&room);
            }
            st.version += 1;
            self.inner.bus.publish_presence(&PresenceMsg::Delta {
                version: st.version,
                room,
                user: l.user.clone(),
                online: false,
            });
            if !st.online(room, id) {
                self.emit(room, &l.user, false);
            }
        }
        let silent: Vec<u64> = st
            .remote
            .iter()
            .filter(|(_, r)| now.duration_since(r.heard) >= EXPIRE)
            .map(|(origin, _)| *origin)
            .collect();
        for origin in silent {
            if let Some(r) = st.remote.remove(&origin) {
                tracing::info!(
                    instance = origin,
                    "presence: an instance went silent; its users are offline"
                );
                for (room, users) in r.rooms {
                    for (id, user) in users {
                        if !st.online(room, id) {
                            self.emit(room, &user, false);
                        }
                    }
                }
            }
        }
    }

    /// Applies what another instance said.
    pub fn heard(&self, origin: u64, msg: PresenceMsg) {
        let now = Instant::now();
        let mut st = lock(&self.inner.state);
        let fresh = !st.remote.contains_key(&origin);
        let (synced, known) = {
            let r = st.remote.entry(origin).or_insert_with(|| Remote {
                version: 0,
                synced: false,
                heard: now,
                asked: None,
                rooms: HashMap::new(),
            });
            r.heard = now;
            (r.synced, r.version)
        };
        let mut want = fresh;
        match msg {
            PresenceMsg::Beat { version } => want |= !synced || version != known,
            PresenceMsg::Want { from } => {
                if from == self.inner.bus.origin() {
                    let snapshot = PresenceMsg::Snapshot {
                        version: st.version,
                        members: st.snapshot(),
                    };
                    self.inner.bus.publish_presence(&snapshot);
                }
            }
            PresenceMsg::Delta {
                version,
                room,
                user,
                online,
            } => {
                if !synced || version > known.saturating_add(1) {
                    // A delta was lost (or no snapshot yet): ignore deltas until one comes.
                    if let Some(r) = st.remote.get_mut(&origin) {
                        r.synced = false;
                    }
                    want = true;
                } else if version == known.saturating_add(1) {
                    let id = user.id;
                    let before = st.online(room, id);
                    if let Some(r) = st.remote.get_mut(&origin) {
                        r.version = version;
                        if online {
                            r.rooms.entry(room).or_default().insert(id, user.clone());
                        } else if let Some(users) = r.rooms.get_mut(&room) {
                            users.remove(&id);
                            if users.is_empty() {
                                r.rooms.remove(&room);
                            }
                        }
                    }
                    if st.online(room, id) != before {
                        self.emit(room, &user, !before);
                    }
                }
            }
            PresenceMsg::Snapshot { version, members } => {
                let mut rooms: HashMap<RoomId, HashMap<UserId, Present>> = HashMap::new();
                for (room, user) in members {
                    rooms.entry(room).or_default().insert(user.id, user);
                }
                let old = st
                    .remote
                    .get(&origin)
                    .map(|r| r.rooms.clone())
                    .unwrap_or_default();
                let mut touched: Vec<(RoomId, Present)> = Vec::new();
                for side in [&old, &rooms] {
                    for (room, users) in side {
                        touched.extend(users.values().map(|u| (*room, u.clone())));
                    }
                }
                let before: Vec<bool> = touched.iter().map(|(r, u)| st.online(*r, u.id)).collect();
                if let Some(r) = st.remote.get_mut(&origin) {
                    r.rooms = rooms;
                    r.version = version;
                    r.synced = true;
                    r.asked = None;
                }
                let mut told = HashSet::new();
                for ((room, user), was) in touched.iter().zip(before) {
                    let online = st.online(*room, user.id);
                    if online != was && told.insert((*room, user.id)) {
                        self.emit(*room, user, online);
                    }
                }
                want = false;
            }
        }
        if want {
            if let Some(r) = st.remote.get_mut(&origin) {
                if r.asked.is_none_or(|at| now.duration_since(at) >= BEAT) {
                    r.asked = Some(now);
                    self.inner
                        .bus
                        .publish_presence(&PresenceMsg::Want { from: origin });
                }
            }
        }
    }

    /// Sweeps, and with other instances, beats; for the life of the process.
    pub async fn run(self) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_beat: Option<Instant> = None;
        loop {
            tick.tick().await;
            let now = Instant::now();
            self.sweep(now);
            if self.inner.bus.is_shared()
                && last_beat.is_none_or(|at| now.duration_since(at) >= BEAT)
            {
                last_beat = Some(now);
                let version = lock(&self.inner.state).version;
                self.inner
                    .bus
                    .publish_presence(&PresenceMsg::Beat { version });
            }
        }
    }
}

impl Drop for PresenceGuard {
    fn drop(&mut self) {
        self.presence.close(self.room, self.user);
    }
}
