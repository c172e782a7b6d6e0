//! Per-user summary streams (`GET /api/me/events`): how a page learns about the rooms it is not
//! showing. Frames carry no message bodies: `room.activity` (a joined room's new last seq),
//! `room.added`, `room.removed` and `read.updated`. Each stream has a bounded queue; a stream
//! that falls `ws_queue` frames behind is closed 4008 (it reconnects and reloads its rooms).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use bytestring::ByteString;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::bus::Interest;
use crate::ids::{RoomId, Seq, UserId};
use crate::views::RoomJson;

#[derive(Clone)]
pub struct UserStreams {
    state: Arc<Mutex<State>>,
    queue: usize,
}

#[derive(Default)]
struct State {
    streams: HashMap<u64, Entry>,
    by_user: HashMap<UserId, HashSet<u64>>,
    /// The joined rooms of each user with a stream here, and the reverse index.
    rooms: HashMap<UserId, HashSet<RoomId>>,
    by_room: HashMap<RoomId, HashSet<UserId>>,
    next: u64,
}

struct Entry {
    tx: mpsc::Sender<ByteString>,
    /// Fired once when the queue is full: the stream closes 4008.
    slow: Option<oneshot::Sender<()>>,
}

/// One open summary stream; dropping it unregisters it.
pub struct UserStream {
    pub frames: mpsc::Receiver<ByteString>,
    pub slow: oneshot::Receiver<()>,
    id: u64,
    user: UserId,
    streams: UserStreams,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Serialize)]
struct Wire<D: Serialize> {
    #[serde(rename = "type")]
    kind: UserFrameType,
    data: D,
}

// A summary frame's `type` (a plain comment: a doc comment would become the schema's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub enum UserFrameType {
    #[serde(rename = "room.activity")]
    RoomActivity,
    #[serde(rename = "room.added")]
    RoomAdded,
    #[serde(rename = "room.removed")]
    RoomRemoved,
    #[serde(rename = "read.updated")]
    ReadUpdated,
}

/// A frame of `GET /api/me/events` (WebSocket), for the OpenAPI document.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // a schema, never constructed
pub struct UserFrame {
    #[schema(rename = "type", inline)]
    pub kind: UserFrameType,
    /// `room.activity`: `{"room_id", "last_seq"}`. `room.added`: a RoomJson.
    /// `room.removed`: `{"room_id"}`. `read.updated`: `{"room_id", "last_read_seq", "unread"}`.
    #[schema(value_type = Object)]
    pub data: (),
}

#[derive(Serialize)]
struct Activity {
    room_id: RoomId,
    last_seq: Seq,
}

#[derive(Serialize)]
struct Removed {
    room_id: RoomId,
}

#[derive(Serialize)]
struct ReadUpdated {
    room_id: RoomId,
    last_read_seq: Seq,
    unread: i64,
}

fn encode<D: Serialize>(kind: UserFrameType, data: D) -> Result<ByteString, serde_json::Error> {
    serde_json::to_string(&Wire { kind, data }).map(ByteString::from)
}

pub fn room_activity(room: RoomId, seq: Seq) -> Result<ByteString, serde_json::Error> {
    encode(
        UserFrameType::RoomActivity,
        Activity {
            room_id: room,
            last_seq: seq,
        },
    )
}

pub fn room_added(room: &RoomJson) -> Result<ByteString, serde_json::Error> {
    encode(UserFrameType::RoomAdded, room)
}

pub fn room_removed(room: RoomId) -> Result<ByteString, serde_json::Error> {
    encode(UserFrameType::RoomRemoved, Removed { room_id: room })
}

pub fn read_updated(
    room: RoomId,
    last_read_seq: Seq,
    unread: i64,
) -> Result<ByteString, serde_json::Error> {
    encode(
        UserFrameType::ReadUpdated,
        ReadUpdated {
            room_id: room,
            last_read_seq,
            unread,
        },
    )
}

impl State {
    fn send(&mut self, ids: &[u64], json: &ByteString) {
        for id in ids {
            if let Some(e) = self.streams.get_mut(id) {
                if e.tx.try_send(json.clone()).is_err() {
                    // Full (or closing): the slow-consumer rule of the room sockets, 4008.
                    if let Some(slow) = e.slow.take() {
                        metrics::counter!("roomcast_slow_consumer_closes_total").increment(1);
                        let _ = slow.send(());
                    }
                }
            }
        }
    }

    fn ids_of(&self, user: UserId) -> Vec<u64> {
        self.by_user
            .get(&user)
            .map_or_else(Vec::new, |ids| ids.iter().copied().collect())
    }

    fn follow(&mut self, user: UserId, room: RoomId) {
        if self.by_user.contains_key(&user) {
            self.rooms.entry(user).or_default().insert(room);
            self.by_room.entry(room).or_default().insert(user);
        }
    }

    fn unfollow(&mut self, user: UserId, room: RoomId) {
        if let Some(rooms) = self.rooms.get_mut(&user) {
            rooms.remove(&room);
        }
        if let Some(users) = self.by_room.get_mut(&room) {
            users.remove(&user);
            if users.is_empty() {
                self.by_room.remove(&room);
            }
        }
    }
}

impl UserStreams {
    pub fn new(queue: usize) -> UserStreams {
        UserStreams {
            state: Arc::default(),
            queue: queue.max(1),
        }
    }

    /// A new stream of `user`. Register it before reading the user's rooms (`follow_all`), so
    /// that a join in between is not missed.
    pub fn open(&self, user: UserId) -> UserStream {
        let (tx, frames) = mpsc::channel(self.queue);
        let (slow_tx, slow) = oneshot::channel();
        let mut st = lock(&self.state);
        st.next += 1;
        let id = st.next;
        st.streams.insert(
            id,
            Entry {
                tx,
                slow: Some(slow_tx),
            },
        );
        st.by_user.entry(user).or_default().insert(id);
        metrics::gauge!("roomcast_user_streams_open").increment(1.0);
        UserStream {
            frames,
            slow,
            id,
            user,
            streams: self.clone(),
        }
    }

    /// The rooms `user` is a member of, read from the store after `open`.
    pub fn follow_all(&self, user: UserId, rooms: impl IntoIterator<Item = RoomId>) {
        let mut st = lock(&self.state);
        for room in rooms {
            st.follow(user, room);
        }
    }

    /// A frame for `user`'s streams here, and the change it makes to the rooms they follow.
    pub fn deliver(&self, user: UserId, interest: Interest, json: &ByteString) {
        let mut st = lock(&self.state);
        if !st.by_user.contains_key(&user) {
            return;
        }
        match interest {
            Interest::Joined(room) => st.follow(user, room),
            Interest::Left(room) => st.unfollow(user, room),
            Interest::Same => {}
        }
        let ids = st.ids_of(user);
        st.send(&ids, json);
    }

    /// `room` reached `seq`: `room.activity` to the streams of its members here.
    pub fn activity(&self, room: RoomId, seq: Seq) {
        let mut st = lock(&self.state);
        let Some(users) = st.by_room.get(&room) else {
            return;
        };
        let ids: Vec<u64> = users
            .iter()
            .flat_map(|u| st.by_user.get(u).into_iter().flatten().copied())
            .collect();
        match room_activity(room, seq) {
            Ok(json) => st.send(&ids, &json),
            Err(e) => tracing::error!(error = %e, "room.activity not sent"),
        }
    }

    /// `room` was deleted: `room.removed` to the streams of its members here.
    pub fn room_gone(&self, room: RoomId) {
        let mut st = lock(&self.state);
        let Some(users) = st.by_room.remove(&room) else {
            return;
        };
        let json = match room_removed(room) {
            Ok(json) => json,
            Err(e) => return tracing::error!(error = %e, "room.removed not sent"),
        };
        for user in users {
            if let Some(rooms) = st.rooms.get_mut(&user) {
                rooms.remove(&room);
            }
            let ids = st.ids_of(user);
            st.send(&ids, &json);
        }
    }
}

impl Drop for UserStream {
    fn drop(&mut self) {
        metrics::gauge!("roomcast_user_streams_open").decrement(1.0);
        let mut st = lock(&self.streams.state);
        st.streams.remove(&self.id);
        let last = match st.by_user.get_mut(&self.user) {
            Some(ids) => {
                ids.remove(&self.id);
                ids.is_empty()
            }
            None => false,
        };
        if last {
            st.by_user.remove(&self.user);
            for room in st.rooms.remove(&self.user).unwrap_or_default() {
                if let Some(users) = st.by_room.get_mut(&room) {
                    users.remove(&self.user);
                    if users.is_empty() {
                        st.by_room.remove(&room);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn activity_reaches_followers_and_a_full_queue_is_slow() {
        let streams = UserStreams::new(2);
        let mut a = streams.open(UserId(1));
        let mut b = streams.open(UserId(2));
        streams.follow_all(UserId(1), [RoomId(7)]);
        streams.activity(RoomId(7), Seq(3));
        let got = a.frames.recv().await.expect("a frame");
        assert_eq!(
            &*got,
            r#"{"type":"room.activity","data":{"room_id":7,"last_seq":3}}"#
        );
        assert!(b.frames.try_recv().is_err());
        // b joins: it follows the room from then on.
        streams.deliver(UserId(2), Interest::Joined(RoomId(7)), &"x".into());
        assert_eq!(&*b.frames.recv().await.expect("note"), "x");
        for s in 4..=6 {
            streams.activity(RoomId(7), Seq(s));
        }
        // a's queue (2) overflowed: it is told to close.
        assert!(a.slow.try_recv().is_ok());
        streams.room_gone(RoomId(7));
        drop(a);
        drop(b);
        let st = lock(&streams.state);
        assert!(st.streams.is_empty() && st.by_user.is_empty());
        assert!(st.rooms.is_empty() && st.by_room.is_empty());
    }
}
