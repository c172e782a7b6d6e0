//! The bus between instances: what one instance tells the others after it committed
//! something. Two transports sit behind [`Transport`]: none (one instance, the default) and
//! Redis pub/sub (`bus_url`).
//!
//! The bus is allowed to lose messages. Everything it carries is either already in the
//! database (events, by room and seq: a receiver that sees a gap, or hears that it was
//! disconnected, reads the gap from there) or has a database-polled fallback (credential ends:
//! `users.revoked_at`). So nothing here retries or acknowledges; it only has to be fast.

mod codec;
mod redis;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytestring::ByteString;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::config::Config;
use crate::ids::{RoomId, Seq, UserId};

pub use codec::DecodeError;

/// An event of a room, as published after its commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomEvent {
    pub room: RoomId,
    pub seq: Seq,
    /// `room.deleted`: not stored, ends the room's sockets.
    pub terminal: bool,
    /// The frame as sockets send it, serialized once by the committing instance; `None` when
    /// it was larger than `bus_frame_max` (receivers read it from the database).
    pub frame: Option<ByteString>,
}

/// A typing (or other ephemeral) frame of a room: fire and forget, never stored, never
/// repaired; a lost one is simply not seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomEphemeral {
    pub room: RoomId,
    /// Sent to every socket of the room but this user's.
    pub skip: Option<UserId>,
    pub frame: ByteString,
}

/// Who has a socket open on which room, between instances: each instance announces its own
/// (room, user) pairs as numbered deltas and a heartbeat; a receiver that misses a number asks
/// for a snapshot, and forgets an instance it has not heard for a few beats (one killed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PresenceMsg {
    Delta {
        version: u64,
        room: RoomId,
        user: Present,
        online: bool,
    },
    Beat {
        version: u64,
    },
    /// Asks instance `from` for a snapshot.
    Want {
        from: u64,
    },
    Snapshot {
        version: u64,
        members: Vec<(RoomId, Present)>,
    },
}

/// How a user note changes the rooms a user's summary stream follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    Joined(RoomId),
    Left(RoomId),
    Same,
}

/// A frame for one user's summary streams (`/api/me/events`), on whichever instance they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserNote {
    pub user: UserId,
    pub interest: Interest,
    pub frame: ByteString,
}

/// A user as presence frames show them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Present {
    pub id: UserId,
    pub username: String,
    pub bot: bool,
}

/// Something that ends sockets or cached credentials on every instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Control {
    /// A logout: its sockets close (4001) and every cache forgets the session.
    SessionEnded { sid: String },
    /// A user disabled, every session ended, a bot token rotated or revoked: every cache
    /// forgets the principal and its sockets close (4001).
    UserRevoked { user: UserId },
    /// Left or removed: the member's sockets of the room close (4003).
    MemberRemoved { room: RoomId, user: UserId },
    /// The room's sockets close (4004).
    RoomDeleted { room: RoomId },
}

/// What an instance hears from the bus.
#[derive(Debug)]
pub enum Heard {
    Event(RoomEvent),
    Control(Control),
    Ephemeral(RoomEphemeral),
    Presence {
        origin: u64,
        msg: PresenceMsg,
    },
    /// A room got a new event (its seq): for the summary streams of its members.
    Activity(RoomId, Seq),
    User(UserNote),
    /// The connection to the bus dropped: anything published meanwhile may be lost.
    Down,
    /// Back, and subscribed again to every room this instance watches: time to repair every
    /// room from the database.
    Up,
}

/// How a transport carries messages. Publishing never waits (a commit must not wait for the
/// bus); watching a room waits until the bus confirms, so that a socket that opens after it
/// misses nothing the bus carries.
pub trait Transport: Send + Sync + 'static {
    fn publish_event(&self, event: &RoomEvent);
    fn publish_control(&self, control: &Control);
    /// To the instances watching the room, like its events.
    fn publish_ephemeral(&self, ephemeral: &RoomEphemeral);
    /// To every instance.
    fn publish_presence(&self, msg: &PresenceMsg);
    /// This process's id on the bus.
    fn origin(&self) -> u64;
    /// To every instance.
    fn publish_activity(&self, room: RoomId, seq: Seq);
    /// To every instance.
    fn publish_user(&self, note: &UserNote);
    /// Starts receiving `room`'s events. Resolves once subscribed, or once it failed (a
    /// failure is repaired like any other loss: from the database).
    fn watch(&self, room: RoomId) -> BoxFuture<'static, ()>;
    fn unwatch(&self, room: RoomId);
    /// Resolves once what was published so far has left (or could not), for a process about
    /// to exit.
    fn flush(&self) -> BoxFuture<'static, ()>;
}

/// A transport for one instance: there is nobody to tell.
struct Alone;

impl Transport for Alone {
    fn publish_event(&self, _: &RoomEvent) {}
    fn publish_control(&self, _: &Control) {}
    fn publish_ephemeral(&self, _: &RoomEphemeral) {}
    fn publish_presence(&self, _: &PresenceMsg) {}
    fn origin(&self) -> u64 {
        0
    }
    fn publish_activity(&self, _: RoomId, _: Seq) {}
    fn publish_user(&self, _: &UserNote) {}
    fn watch(&self, _: RoomId) -> BoxFuture<'static, ()> {
        Box::pin(std::future::ready(()))
    }
    fn unwatch(&self, _: RoomId) {}
    fn flush(&self) -> BoxFuture<'static, ()> {
        Box::pin(std::future::ready(()))
    }
}

/// The bus as the rest of the server sees it. Cheap to clone.
#[derive(Clone)]
pub struct Bus {
    transport: Arc<dyn Transport>,
    shared: bool,
    up: Arc<AtomicBool>,
    frame_max: usize,
}

impl Bus {
    /// One instance: publishing goes nowhere, nothing is ever heard.
    pub fn alone() -> Bus {
        Bus {
            transport: Arc::new(Alone),
            shared: false,
            up: Arc::new(AtomicBool::new(true)),
            frame_max: usize::MAX,
        }
    }

    /// The bus `config.bus_url` names, and what this instance will hear from it. An empty URL
    /// is [`Bus::alone`], whose receiver is closed at once. Redis need not be reachable yet: it
    /// is connected to, and reconnected to, in the background (`Heard::Up` when it is).
    pub fn open(config: &Config) -> Result<(Bus, mpsc::UnboundedReceiver<Heard>), String> {
        let (heard, hear) = mpsc::unbounded_channel();
        if config.bus_url.is_empty() {
            return Ok((Bus::alone(), hear));
        }
        let up = Arc::new(AtomicBool::new(false));
        let transport = redis::RedisBus::start(config, heard, up.clone())?;
        Ok((
            Bus {
                transport: Arc::new(transport),
                shared: true,
                up,
                frame_max: config.bus_frame_max,
            },
            hear,
        ))
    }

    /// Whether other instances may exist (a shared bus is configured).
    pub fn is_shared(&self) -> bool {
        self.shared
    }

    /// Whether the bus is connected (always, for one instance).
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Tells the other instances about a committed event (its frame, if small enough).
    pub fn publish_event(&self, room: RoomId, seq: Seq, terminal: bool, frame: &ByteString) {
        if !self.shared {
            return;
        }
        self.transport.publish_event(&RoomEvent {
            room,
            seq,
            terminal,
            frame: (frame.len() <= self.frame_max).then(|| frame.clone()),
        });
    }

    pub fn publish_control(&self, control: Control) {
        if self.shared {
            self.transport.publish_control(&control);
        }
    }

    /// Tells the instances watching `room` about a typing frame (dropped if over
    /// `bus_frame_max`: it is only a hint).
    pub fn publish_ephemeral(&self, room: RoomId, skip: Option<UserId>, frame: &ByteString) {
        if self.shared && frame.len() <= self.frame_max {
            self.transport.publish_ephemeral(&RoomEphemeral {
                room,
                skip,
                frame: frame.clone(),
            });
        }
    }

    pub fn publish_presence(&self, msg: &PresenceMsg) {
        if self.shared {
            self.transport.publish_presence(msg);
        }
    }

    /// Tells every instance that `room` reached `seq` (summary streams; lossy).
    pub fn publish_activity(&self, room: RoomId, seq: Seq) {
        if self.shared {
            self.transport.publish_activity(room, seq);
        }
    }

    /// Hands a frame to `note.user`'s summary streams on the other instances.
    pub fn publish_user(&self, note: &UserNote) {
        if self.shared && note.frame.len() <= self.frame_max {
            self.transport.publish_user(note);
        }
    }

    /// This process's id on the bus (what `PresenceMsg::Want` names).
    pub fn origin(&self) -> u64 {
        self.transport.origin()
    }

    pub fn watch(&self, room: RoomId) -> BoxFuture<'static, ()> {
        self.transport.watch(room)
    }

    pub fn unwatch(&self, room: RoomId) {
        self.transport.unwatch(room);
    }

    /// Waits (a few seconds at most) until what was published has left: the admin CLI exits
    /// right after its change.
    pub async fn flush(&self) {
        self.transport.flush().await;
    }
}
