//! One event as it goes over the wire: `{"type","room_id","seq","data"}`, serialized once and
//! shared by every socket of the room.

use std::time::Instant;

use bytestring::ByteString;
use serde::Serialize;

use crate::store::events::{EventView, MEMBER_JOINED, MEMBER_LEFT, MESSAGE_CREATED};
use crate::views::{MessageJson, UserRef};

pub const ROOM_DELETED: &str = "room.deleted";

#[derive(Debug)]
pub struct Frame {
    pub room_id: i64,
    pub seq: i64,
    /// When the server took the send, for the send-to-deliver latency.
    pub sent_at: Option<Instant>,
    /// `room.deleted` is not stored (the room's log goes with it), so it skips gap repair.
    pub terminal: bool,
    pub json: ByteString,
}

#[derive(Serialize)]
struct Wire<'a, D: Serialize> {
    #[serde(rename = "type")]
    kind: &'a str,
    room_id: i64,
    seq: i64,
    data: D,
}

#[derive(Serialize)]
struct MemberData {
    user: UserRef,
}

fn encode<D: Serialize>(kind: &str, room_id: i64, seq: i64, data: D) -> ByteString {
    let wire = Wire {
        kind,
        room_id,
        seq,
        data,
    };
    // Serializing plain structs of strings and integers cannot fail.
    ByteString::from(serde_json::to_string(&wire).unwrap_or_default())
}

impl Frame {
    pub fn from_event(v: &EventView) -> Frame {
        let e = &v.event;
        let json = match e.kind.as_str() {
            MESSAGE_CREATED => encode(MESSAGE_CREATED, e.room_id, e.seq, MessageJson::from(v)),
            kind @ (MEMBER_JOINED | MEMBER_LEFT) => encode(
                kind,
                e.room_id,
                e.seq,
                MemberData {
                    user: UserRef::from(v.actor.clone()),
                },
            ),
            other => encode(other, e.room_id, e.seq, serde_json::Value::Null),
        };
        Frame {
            room_id: e.room_id,
            seq: e.seq,
            sent_at: None,
            terminal: false,
            json,
        }
    }

    pub fn sent_at(mut self, at: Instant) -> Frame {
        self.sent_at = Some(at);
        self
    }

    pub fn room_deleted(room_id: i64, seq: i64, by: UserRef) -> Frame {
        Frame {
            room_id,
            seq,
            sent_at: None,
            terminal: true,
            json: encode(ROOM_DELETED, room_id, seq, MemberData { user: by }),
        }
    }
}

/// The WebSocket frames, for the OpenAPI document (the wire form is built by `Frame`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // a schema, never constructed
pub struct EventFrame {
    #[schema(rename = "type", inline)]
    pub kind: EventType,
    pub room_id: i64,
    /// The room's sequence number: 1, 2, 3, … with no gaps.
    pub seq: i64,
    /// `message.created`: a MessageJson. Member and room events: `{"user": UserRef}`.
    #[schema(value_type = Object)]
    pub data: (),
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub enum EventType {
    #[schema(rename = "message.created")]
    MessageCreated,
    #[schema(rename = "member.joined")]
    MemberJoined,
    #[schema(rename = "member.left")]
    MemberLeft,
    #[schema(rename = "room.deleted")]
    RoomDeleted,
}
