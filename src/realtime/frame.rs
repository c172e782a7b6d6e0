//! One event as it goes over the wire: `{"type","room_id","seq","data"}`, serialized once and
//! shared by every socket of the room.

use bytestring::ByteString;
use serde::Serialize;

use crate::chat::views::{MessageJson, UserRef};
use crate::store::events::{EventView, MEMBER_JOINED, MEMBER_LEFT, MESSAGE_CREATED};

pub const ROOM_DELETED: &str = "room.deleted";

#[derive(Debug)]
pub struct Frame {
    pub room_id: i64,
    pub seq: i64,
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
            terminal: false,
            json,
        }
    }

    pub fn room_deleted(room_id: i64, seq: i64, by: UserRef) -> Frame {
        Frame {
            room_id,
            seq,
            terminal: true,
            json: encode(ROOM_DELETED, room_id, seq, MemberData { user: by }),
        }
    }
}
