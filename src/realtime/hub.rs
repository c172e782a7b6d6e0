//! Local subscribers per room, and the registry of open sockets.
//!
//! Each room has one `broadcast` channel: a frame is stored once in the ring and every socket
//! reads it from there, so memory per room is bounded by `ws_queue` frames whatever the number
//! of sockets, and a socket that falls `ws_queue` frames behind sees `Lagged` (closed 4008)
//! instead of stalling the others. Frames enter through the room's [`Sequencer`], so that
//! what the bus delivers late, twice or not at all still reaches sockets once and in order;
//! a gap is read from the database once per room. The hub decides nothing else; it carries
//! frames.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::future::{BoxFuture, FutureExt, Shared};
use tokio::sync::{broadcast, oneshot};

use super::frame::FrameError;
use super::sequencer::{Repair, Sequencer};
use super::Frame;
use crate::bus::Bus;
use crate::ids::{RoomId, Seq, UserId};

/// Reads a room's stored events after a seq, through another (a page at most), as frames:
/// how the hub fills a gap. The server's reads the database; unit tests give their own.
pub type Backfill =
    Arc<dyn Fn(RoomId, Seq, Seq) -> BoxFuture<'static, Result<Vec<Frame>, String>> + Send + Sync>;

/// How long a gap may wait for the bus to fill it before the database is read: frames of one
/// room committed on two instances often arrive a moment out of order.
const GAP_GRACE: Duration = Duration::from_millis(5);

/// One room's stream on this instance.
struct Room {
    tx: broadcast::Sender<Arc<Frame>>,
    seq: Sequencer,
    /// Resolves once the bus delivers this room's events to this instance.
    watched: Shared<BoxFuture<'static, ()>>,
}

#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    rooms: Mutex<HashMap<RoomId, Room>>,
    sockets: Mutex<Registry>,
    next_id: AtomicU64,
    queue: usize,
    bus: Bus,
    backfill: Backfill,
}

/// What the registry knows of an open socket, to find it when it must be closed.
struct SocketEntry {
    /// `None` for a user's summary stream (`/api/me/events`), which no room owns.
    room_id: Option<RoomId>,
    user_id: UserId,
    session_id: Option<String>,
    close: oneshot::Sender<u16>,
}

/// The open sockets, indexed by every key a close is asked by, so that a logout, a leave or
/// a revocation touches only the sockets it ends, not every socket of the server. The
/// indexes hold exactly the ids of `sockets` (no empty sets), kept so by `insert`/`remove`.
#[derive(Default)]
struct Registry {
    sockets: HashMap<u64, SocketEntry>,
    by_session: HashMap<String, HashSet<u64>>,
    by_user: HashMap<UserId, HashSet<u64>>,
    by_room: HashMap<RoomId, HashSet<u64>>,
}

fn index<K: Eq + Hash>(map: &mut HashMap<K, HashSet<u64>>, key: K, id: u64) {
    map.entry(key).or_default().insert(id);
}

fn unindex<K: Eq + Hash>(map: &mut HashMap<K, HashSet<u64>>, key: K, id: u64) {
    if let Entry::Occupied(mut ids) = map.entry(key) {
        ids.get_mut().remove(&id);
        if ids.get().is_empty() {
            ids.remove();
        }
    }
}

impl Registry {
    fn insert(&mut self, id: u64, entry: SocketEntry) {
        if let Some(sid) = &entry.session_id {
            index(&mut self.by_session, sid.clone(), id);
        }
        index(&mut self.by_user, entry.user_id, id);
        if let Some(room) = entry.room_id {
            index(&mut self.by_room, room, id);
        }
        self.sockets.insert(id, entry);
    }

    fn remove(&mut self, id: u64) -> Option<SocketEntry> {
        let entry = self.sockets.remove(&id)?;
        if let Some(sid) = &entry.session_id {
            // By reference: the key is only cloned when a socket registers.
            if let Some(ids) = self.by_session.get_mut(sid.as_str()) {
                ids.remove(&id);
                if ids.is_empty() {
                    self.by_session.remove(sid.as_str());
                }
            }
        }
        unindex(&mut self.by_user, entry.user_id, id);
        if let Some(room) = entry.room_id {
            unindex(&mut self.by_room, room, id);
        }
        Some(entry)
    }

    /// Unregisters each of `ids` and signals it `code`; returns how many were open.
    fn close(&mut self, ids: Vec<u64>, code: u16) -> usize {
        let mut closed = 0;
        for id in ids {
            if let Some(entry) = self.remove(id) {
                // An error only means the socket's task already ended.
                let _ = entry.close.send(code);
                closed += 1;
            }
        }
        closed
    }
}

/// A socket's place in the hub. Dropping it unsubscribes and unregisters.
pub struct Subscription {
    pub events: broadcast::Receiver<Arc<Frame>>,
    /// Fires with a close code when the server ends this socket (logout, leave, delete, stop).
    pub closed: oneshot::Receiver<u16>,
    watched: Shared<BoxFuture<'static, ()>>,
    id: u64,
    room_id: RoomId,
    /// Whose socket this is: an ephemeral frame may be for everyone but them.
    pub user_id: UserId,
    hub: Hub,
}

impl Subscription {
    /// Waits until the bus delivers the room's events here (at once with one instance), so
    /// that the start point read next misses nothing another instance commits.
    pub async fn watched(&self) {
        self.watched.clone().await;
    }
}

/// A poisoned lock only means another thread panicked mid-update of a map of channels;
/// the map itself is still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Hub {
    pub fn new(queue: usize, bus: Bus, backfill: Backfill) -> Hub {
        Hub {
            inner: Arc::new(Inner {
                rooms: Mutex::new(HashMap::new()),
                sockets: Mutex::new(Registry::default()),
                next_id: AtomicU64::new(1),
                queue,
                bus,
                backfill,
            }),
        }
    }

    pub fn subscribe(
        &self,
        room_id: RoomId,
        user_id: UserId,
        session_id: Option<String>,
    ) -> Subscription {
        let (events, watched) = {
            let mut rooms = lock(&self.inner.rooms);
            let room = rooms.entry(room_id).or_insert_with(|| Room {
                tx: broadcast::channel(self.inner.queue).0,
                seq: Sequencer::new(self.inner.queue),
                watched: self.inner.bus.watch(room_id).shared(),
            });
            (room.tx.subscribe(), room.watched.clone())
        };
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        metrics::gauge!("roomcast_sockets_open").increment(1.0);
        let (close, closed) = oneshot::channel();
        lock(&self.inner.sockets).insert(
            id,
            SocketEntry {
                room_id: Some(room_id),
                user_id,
                session_id,
                close,
            },
        );
        Subscription {
            events,
            closed,
            watched,
            id,
            room_id,
            user_id,
            hub: self.clone(),
        }
    }

    /// Hands a committed event's frame to the room's sockets (if any), through the room's
    /// sequencer. A frame that could not be encoded (a bug) is logged instead; the gap is
    /// read from the store, where encoding fails again and the sockets close with 1011.
    pub fn publish(&self, frame: Result<Frame, FrameError>) {
        match frame {
            Ok(frame) => self.offer(Arc::new(frame)),
            Err(e) => tracing::error!(error = %e, "event not published"),
        }
    }

    /// A frame from this instance's commits or from the bus.
    pub fn offer(&self, frame: Arc<Frame>) {
        if frame.ephemeral.is_some() {
            return self.ephemeral(frame);
        }
        let room_id = frame.room_id;
        self.step(room_id, |r, out| r.seq.offer(frame, out));
    }

    /// Hands a typing or presence frame to the room's sockets here, around the sequencer: it
    /// has no seq, is never stored, and a lost one is never repaired.
    pub fn ephemeral(&self, frame: Arc<Frame>) {
        if let Some(r) = lock(&self.inner.rooms).get(&frame.room_id) {
            // An error only means nobody listens right now.
            let _ = r.tx.send(frame);
        }
    }

    /// Every event of `room` through `seq` is committed (the position check, or an event the
    /// bus carried without its frame): what the room's sockets lack is read from the store.
    pub fn committed_through(&self, room: RoomId, seq: Seq) {
        self.step(room, |r, _| r.seq.committed_through(seq));
    }

    /// A new socket's start, read from the store after it subscribed, sets the position of a
    /// room stream it opened alone: from there, a frame the bus lost is a gap the stream sees.
    /// With other sockets in it already, the stream keeps the position its frames gave it (a
    /// start read here could be ahead of a frame still on its way to them).
    pub fn seed(&self, room: RoomId, seq: Seq) {
        self.step(room, |r, _| {
            if r.tx.receiver_count() == 1 || r.seq.last().is_some() {
                r.seq.seed(seq)
            } else {
                None
            }
        });
    }

    /// The rooms with sockets here, with the last seq handed to them (if known yet).
    pub fn positions(&self) -> Vec<(RoomId, Option<Seq>)> {
        lock(&self.inner.rooms)
            .iter()
            .map(|(id, room)| (*id, room.seq.last()))
            .collect()
    }

    /// Runs one step of `room`'s sequencer, sends what it hands out, and starts the repair it
    /// asks for. Sending under the lock keeps each room's frames in order.
    fn step(
        &self,
        room: RoomId,
        f: impl FnOnce(&mut Room, &mut Vec<Arc<Frame>>) -> Option<Repair>,
    ) {
        let mut out = Vec::new();
        let repair = {
            let mut rooms = lock(&self.inner.rooms);
            let Some(r) = rooms.get_mut(&room) else {
                return;
            };
            let repair = f(r, &mut out);
            for frame in out.drain(..) {
                // An error only means nobody listens right now.
                let _ = r.tx.send(frame);
            }
            repair
        };
        if repair.is_some() {
            self.spawn_repair(room);
        }
    }

    /// Fills `room`'s gap from the store, a page at a time, unless the bus fills it first.
    fn spawn_repair(&self, room: RoomId) {
        let hub = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(GAP_GRACE).await;
            let mut repaired_any = false;
            loop {
                let needed = match lock(&hub.inner.rooms).get_mut(&room) {
                    Some(r) => r.seq.still_needed(),
                    None => None,
                };
                let Some(Repair { after, through }) = needed else {
                    break;
                };
                match (hub.inner.backfill)(room, after, through).await {
                    Ok(frames) => {
                        repaired_any |= !frames.is_empty();
                        let frames = frames.into_iter().map(Arc::new).collect();
                        let mut more = false;
                        hub.step(room, |r, out| {
                            more = r.seq.repaired(frames, out);
                            None
                        });
                        if !more {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, room = room.0, "gap repair failed; retried on the next frame or position check");
                        if let Some(r) = lock(&hub.inner.rooms).get_mut(&room) {
                            r.seq.repair_failed();
                        }
                        break;
                    }
                }
            }
            if repaired_any {
                metrics::counter!("roomcast_gaps_repaired_total").increment(1);
            }
        });
    }

    /// Closes the sockets opened with session `sid` (logout); returns how many.
    pub fn close_session(&self, sid: &str, code: u16) -> usize {
        let mut reg = lock(&self.inner.sockets);
        let ids = ids_of(reg.by_session.get(sid));
        reg.close(ids, code)
    }

    /// Closes every socket of `user`, whatever the room (credentials revoked); returns how many.
    pub fn close_user(&self, user: UserId, code: u16) -> usize {
        let mut reg = lock(&self.inner.sockets);
        let ids = ids_of(reg.by_user.get(&user));
        reg.close(ids, code)
    }

    /// Closes every socket of `room` (room deleted); returns how many.
    pub fn close_room(&self, room: RoomId, code: u16) -> usize {
        let mut reg = lock(&self.inner.sockets);
        let ids = ids_of(reg.by_room.get(&room));
        reg.close(ids, code)
    }

    /// Closes `user`'s sockets of `room` (left or removed); returns how many.
    pub fn close_member(&self, room: RoomId, user: UserId, code: u16) -> usize {
        let mut reg = lock(&self.inner.sockets);
        // Through the user's sockets: a handful (capped per user), where a room may have
        // thousands.
        let ids = reg.by_user.get(&user).map_or_else(Vec::new, |ids| {
            ids.iter()
                .copied()
                .filter(|id| reg.sockets.get(id).is_some_and(|e| e.room_id == Some(room)))
                .collect()
        });
        reg.close(ids, code)
    }

    /// Closes every socket (shutdown); returns how many.
    pub fn close_all(&self, code: u16) -> usize {
        let mut reg = lock(&self.inner.sockets);
        let ids = reg.sockets.keys().copied().collect();
        reg.close(ids, code)
    }

    /// Registers a user's summary stream, so that a logout, a revocation or a shutdown closes
    /// it like the user's room sockets. Dropping the registration unregisters it.
    pub fn register_user_stream(
        &self,
        user_id: UserId,
        session_id: Option<String>,
    ) -> Registration {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (close, closed) = oneshot::channel();
        lock(&self.inner.sockets).insert(
            id,
            SocketEntry {
                room_id: None,
                user_id,
                session_id,
                close,
            },
        );
        Registration {
            closed,
            id,
            hub: self.clone(),
        }
    }

    pub fn open_sockets(&self) -> usize {
        lock(&self.inner.sockets).sockets.len()
    }
}

fn ids_of(ids: Option<&HashSet<u64>>) -> Vec<u64> {
    ids.map_or_else(Vec::new, |ids| ids.iter().copied().collect())
}

/// A summary stream's place in the registry.
pub struct Registration {
    /// Fires with a close code when the server ends the stream.
    pub closed: oneshot::Receiver<u16>,
    id: u64,
    hub: Hub,
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock(&self.hub.inner.sockets).remove(self.id);
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        metrics::gauge!("roomcast_sockets_open").decrement(1.0);
        lock(&self.hub.inner.sockets).remove(self.id);
        let mut rooms = lock(&self.hub.inner.rooms);
        // Our own receiver still counts; if it is the last one, the room's stream goes.
        if rooms
            .get(&self.room_id)
            .is_some_and(|r| r.tx.receiver_count() <= 1)
        {
            rooms.remove(&self.room_id);
            self.hub.inner.bus.unwatch(self.room_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::ids::Seq;

    fn new_hub(queue: usize) -> Hub {
        Hub::new(
            queue,
            Bus::alone(),
            Arc::new(|_, _, _| Box::pin(async { Err("no store in unit tests".to_string()) })),
        )
    }

    fn frame(room: i64, seq: i64) -> Frame {
        Frame {
            room_id: RoomId(room),
            seq: Seq(seq),
            sent_at: None,
            terminal: false,
            ephemeral: None,
            json: format!("{seq}").into(),
        }
    }

    #[tokio::test]
    async fn a_gap_is_read_once_per_room_and_every_socket_gets_it_in_order() {
        let reads = Arc::new(AtomicU64::new(0));
        let counted = reads.clone();
        let hub = Hub::new(
            64,
            Bus::alone(),
            Arc::new(move |room: RoomId, after: Seq, through: Seq| {
                counted.fetch_add(1, Ordering::SeqCst);
                Box::pin(async move {
                    Ok((after.0 + 1..=through.0)
                        .map(|s| frame(room.0, s))
                        .collect())
                })
            }),
        );
        let mut a = hub.subscribe(RoomId(1), UserId(10), None);
        let mut b = hub.subscribe(RoomId(1), UserId(11), None);
        hub.publish(Ok(frame(1, 1)));
        // 2 and 3 were lost; 5 comes before 4.
        hub.publish(Ok(frame(1, 5)));
        hub.publish(Ok(frame(1, 4)));
        hub.publish(Ok(frame(1, 1)));
        for sub in [&mut a, &mut b] {
            for want in 1..=5 {
                assert_eq!(sub.events.recv().await.expect("frame").seq, Seq(want));
            }
        }
        hub.publish(Ok(frame(1, 6)));
        assert_eq!(a.events.recv().await.expect("frame").seq, Seq(6));
        assert!(a.events.try_recv().is_err());
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        // The position check finds the room behind the store: the tail is read.
        hub.committed_through(RoomId(1), Seq(8));
        for want in 7..=8 {
            assert_eq!(a.events.recv().await.expect("frame").seq, Seq(want));
        }
        assert_eq!(hub.positions(), [(RoomId(1), Some(Seq(8)))]);
    }

    #[tokio::test]
    async fn frames_reach_only_their_room_and_lag_is_bounded() {
        let hub = new_hub(2);
        let mut a = hub.subscribe(RoomId(1), UserId(10), None);
        let mut b = hub.subscribe(RoomId(2), UserId(10), None);
        hub.publish(Ok(frame(1, 1)));
        assert_eq!(a.events.recv().await.expect("frame").seq, Seq(1));
        assert!(b.events.try_recv().is_err());
        for s in 2..=5 {
            hub.publish(Ok(frame(1, s)));
        }
        assert!(matches!(
            a.events.recv().await,
            Err(broadcast::error::RecvError::Lagged(2))
        ));
    }

    impl Hub {
        /// Asserts the indexes hold exactly the registered sockets, with no empty sets.
        fn assert_indexed(&self) {
            let reg = lock(&self.inner.sockets);
            let mut sessions: HashMap<String, HashSet<u64>> = HashMap::new();
            let mut users: HashMap<UserId, HashSet<u64>> = HashMap::new();
            let mut rooms: HashMap<RoomId, HashSet<u64>> = HashMap::new();
            for (id, e) in &reg.sockets {
                if let Some(sid) = &e.session_id {
                    index(&mut sessions, sid.clone(), *id);
                }
                index(&mut users, e.user_id, *id);
                if let Some(room) = e.room_id {
                    index(&mut rooms, room, *id);
                }
            }
            assert_eq!(reg.by_session, sessions);
            assert_eq!(reg.by_user, users);
            assert_eq!(reg.by_room, rooms);
        }

        fn assert_empty(&self) {
            self.assert_indexed();
            assert_eq!(self.open_sockets(), 0);
            assert!(lock(&self.inner.sockets).by_user.is_empty());
            assert!(lock(&self.inner.rooms).is_empty());
        }
    }

    /// The close code a socket got, if any yet.
    fn code(sub: &mut Subscription) -> Option<u16> {
        sub.closed.try_recv().ok()
    }

    #[tokio::test]
    async fn a_closed_socket_is_signalled_and_drop_cleans_up() {
        let hub = new_hub(8);
        let mut s1 = hub.subscribe(RoomId(1), UserId(10), Some("x".into()));
        let s2 = hub.subscribe(RoomId(1), UserId(11), Some("y".into()));
        assert_eq!(hub.close_session("x", 4001), 1);
        assert_eq!((&mut s1.closed).await.expect("code"), 4001);
        assert_eq!(hub.open_sockets(), 1);
        hub.assert_indexed();
        drop(s2);
        assert_eq!(hub.open_sockets(), 0);
        // s1 was unregistered but still holds its receiver; the room's channel goes with it.
        assert!(!lock(&hub.inner.rooms).is_empty());
        drop(s1);
        hub.assert_empty();
    }

    #[tokio::test]
    async fn each_close_ends_exactly_the_sockets_it_names() {
        let hub = new_hub(8);
        // (room, user, session)
        let mut subs: Vec<Subscription> = [
            (1, 10, Some("a")),
            (1, 10, Some("b")),
            (2, 10, Some("a")),
            (1, 11, Some("c")),
            (2, 11, None),
            (3, 12, Some("d")),
            (3, 13, None),
        ]
        .into_iter()
        .map(|(room, user, sid)| hub.subscribe(RoomId(room), UserId(user), sid.map(String::from)))
        .collect();
        hub.assert_indexed();
        let mut codes = || subs.iter_mut().map(code).collect::<Vec<_>>();

        assert_eq!(hub.close_session("a", 4001), 2);
        assert_eq!(hub.close_session("a", 4001), 0);
        assert_eq!(hub.close_session("nobody", 4001), 0);
        hub.assert_indexed();
        assert_eq!(
            codes(),
            [Some(4001), None, Some(4001), None, None, None, None]
        );

        assert_eq!(hub.close_member(RoomId(1), UserId(11), 4003), 1);
        assert_eq!(hub.close_member(RoomId(2), UserId(12), 4003), 0);
        hub.assert_indexed();
        assert_eq!(codes(), [None, None, None, Some(4003), None, None, None]);

        assert_eq!(hub.close_user(UserId(10), 4001), 1);
        hub.assert_indexed();
        assert_eq!(codes(), [None, Some(4001), None, None, None, None, None]);

        assert_eq!(hub.close_room(RoomId(3), 4004), 2);
        hub.assert_indexed();
        assert_eq!(
            codes(),
            [None, None, None, None, None, Some(4004), Some(4004)]
        );

        assert_eq!(hub.open_sockets(), 1);
        assert_eq!(hub.close_all(1001), 1);
        assert_eq!(codes(), [None, None, None, None, Some(1001), None, None]);
        assert_eq!(hub.close_all(1001), 0);
        drop(subs);
        hub.assert_empty();
    }

    #[tokio::test]
    async fn sockets_that_end_by_themselves_leave_nothing_behind() {
        let hub = new_hub(8);
        let mut subs = Vec::new();
        for i in 0..50_i64 {
            let sid = (i % 3 != 0).then(|| format!("s{}", i % 7));
            subs.push(hub.subscribe(RoomId(i % 4), UserId(i % 5), sid));
        }
        hub.assert_indexed();
        // Drop every other one, then the rest (in another order), checking on the way.
        let mut kept = Vec::new();
        for (i, sub) in subs.into_iter().enumerate() {
            if i % 2 == 0 {
                drop(sub);
            } else {
                kept.push(sub);
            }
        }
        hub.assert_indexed();
        assert_eq!(hub.open_sockets(), 25);
        while let Some(sub) = kept.pop() {
            drop(sub);
            hub.assert_indexed();
        }
        hub.assert_empty();
        // Closing after the fact finds nothing and signals nobody.
        assert_eq!(hub.close_user(UserId(1), 4001), 0);
        assert_eq!(hub.close_room(RoomId(1), 4004), 0);
    }
}
