//! One event as it goes over the wire: `{"type","room_id","seq","data"}`, serialized once and
//! shared by every socket of the room.

use std::time::Instant;

use bytestring::ByteString;
use serde::Serialize;

use crate::ids::{RoomId, Seq, UserId};
use crate::store::events::{EventKind, EventView};
use crate::views::{
    MessageDeletedJson, MessageJson, MessageUpdatedJson, ReactionEventJson, UserRef,
};

#[derive(Debug)]
pub struct Frame {
    pub room_id: RoomId,
    pub seq: Seq,
    /// When the server took the send, for the send-to-deliver latency.
    pub sent_at: Option<Instant>,
    /// `room.deleted` is not stored (the room's log goes with it), so it skips gap repair.
    pub terminal: bool,
    /// Typing and presence: never stored and without a seq, so they bypass the sequencer, gap
    /// repair and the socket's seq checks; `None` for every stored event.
    pub ephemeral: Option<Audience>,
    pub json: ByteString,
}

/// Which of a room's sockets an ephemeral frame is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    All,
    /// Every socket but this user's (a typist does not see their own typing).
    AllBut(UserId),
    /// The sockets that asked for presence frames (`presence=true`).
    PresenceListeners,
}

/// The wire form of an ephemeral frame: no `seq` (clients must not count it).
#[derive(Serialize)]
struct EphemeralWire<D: Serialize> {
    #[serde(rename = "type")]
    kind: EphemeralType,
    room_id: RoomId,
    data: D,
}

/// `typing`: `{"user": UserRef}`. `presence`: `{"user": UserRef, "online": bool}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub enum EphemeralType {
    #[serde(rename = "typing")]
    Typing,
    #[serde(rename = "presence")]
    Presence,
}

#[derive(Serialize)]
struct PresenceData {
    user: UserRef,
    online: bool,
}

#[derive(Serialize)]
struct Wire<D: Serialize> {
    #[serde(rename = "type")]
    kind: EventType,
    room_id: RoomId,
    seq: Seq,
    data: D,
}

#[derive(Serialize)]
struct MemberData {
    user: UserRef,
}

/// An event that could not be made a frame: it did not serialize (plain structs of strings and
/// integers always do) or a stored row broke an invariant (a message without content). Either
/// is a bug; it is reported as one rather than sent as an empty frame.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode the {kind:?} frame of room {room_id}, seq {seq}: {source}")]
pub struct FrameError {
    kind: EventType,
    room_id: RoomId,
    seq: Seq,
    source: Box<dyn std::error::Error + Send + Sync>,
}

fn encode<D: Serialize>(
    kind: EventType,
    room_id: RoomId,
    seq: Seq,
    data: D,
) -> Result<ByteString, FrameError> {
    let wire = Wire {
        kind,
        room_id,
        seq,
        data,
    };
    match serde_json::to_string(&wire) {
        Ok(json) => Ok(ByteString::from(json)),
        Err(source) => Err(FrameError {
            kind,
            room_id,
            seq,
            source: source.into(),
        }),
    }
}

impl Frame {
    pub fn from_event(v: &EventView) -> Result<Frame, FrameError> {
        let e = &v.event;
        let kind = EventType::from(e.kind);
        let broken = |source: crate::views::MissingContent| FrameError {
            kind,
            room_id: e.room_id,
            seq: e.seq,
            source: source.into(),
        };
        let json = match e.kind {
            EventKind::MessageCreated => MessageJson::try_from(v)
                .map_err(broken)
                .and_then(|data| encode(kind, e.room_id, e.seq, data)),
            EventKind::MessageUpdated => MessageUpdatedJson::try_from(v)
                .map_err(broken)
                .and_then(|data| encode(kind, e.room_id, e.seq, data)),
            EventKind::MessageDeleted => MessageDeletedJson::try_from(v)
                .map_err(broken)
                .and_then(|data| encode(kind, e.room_id, e.seq, data)),
            EventKind::ReactionAdded | EventKind::ReactionRemoved => ReactionEventJson::try_from(v)
                .map_err(broken)
                .and_then(|data| encode(kind, e.room_id, e.seq, data)),
            EventKind::MemberJoined | EventKind::MemberLeft => encode(
                kind,
                e.room_id,
                e.seq,
                MemberData {
                    user: UserRef::from(v.actor.clone()),
                },
            ),
        }?;
        Ok(Frame {
            room_id: e.room_id,
            seq: e.seq,
            sent_at: None,
            terminal: false,
            ephemeral: None,
            json,
        })
    }

    /// `{"type":"typing","room_id":R,"data":{"user":…}}` for every socket of the room but
    /// the typist's.
    pub fn typing(room_id: RoomId, user: UserRef) -> Result<Frame, serde_json::Error> {
        let skip = user.id;
        Frame::ephemeral(
            EphemeralType::Typing,
            room_id,
            MemberData { user },
            Audience::AllBut(skip),
        )
    }

    /// `{"type":"presence","room_id":R,"data":{"user":…,"online":…}}` for the sockets that
    /// asked for presence.
    pub fn presence(
        room_id: RoomId,
        user: UserRef,
        online: bool,
    ) -> Result<Frame, serde_json::Error> {
        Frame::ephemeral(
            EphemeralType::Presence,
            room_id,
            PresenceData { user, online },
            Audience::PresenceListeners,
        )
    }

    fn ephemeral<D: Serialize>(
        kind: EphemeralType,
        room_id: RoomId,
        data: D,
        audience: Audience,
    ) -> Result<Frame, serde_json::Error> {
        let json = serde_json::to_string(&EphemeralWire {
            kind,
            room_id,
            data,
        })?;
        Ok(Frame::ephemeral_json(
            room_id,
            audience,
            ByteString::from(json),
        ))
    }

    /// An ephemeral frame as another instance serialized it.
    pub fn ephemeral_json(room_id: RoomId, audience: Audience, json: ByteString) -> Frame {
        Frame {
            room_id,
            seq: Seq(0),
            sent_at: None,
            terminal: false,
            ephemeral: Some(audience),
            json,
        }
    }

    pub fn sent_at(mut self, at: Instant) -> Frame {
        self.sent_at = Some(at);
        self
    }

    pub fn room_deleted(room_id: RoomId, seq: Seq, by: UserRef) -> Result<Frame, FrameError> {
        Ok(Frame {
            room_id,
            seq,
            sent_at: None,
            terminal: true,
            ephemeral: None,
            json: encode(
                EventType::RoomDeleted,
                room_id,
                seq,
                MemberData { user: by },
            )?,
        })
    }
}

/// The WebSocket frames, for the OpenAPI document (the wire form is built by `Frame`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // a schema, never constructed
pub struct EventFrame {
    #[schema(rename = "type", inline)]
    pub kind: EventType,
    #[schema(value_type = i64)]
    pub room_id: RoomId,
    /// The room's sequence number: 1, 2, 3, … with no gaps.
    #[schema(value_type = i64)]
    pub seq: Seq,
    /// `message.created`: a MessageJson. `message.updated`: a MessageUpdatedJson.
    /// `message.deleted`: a MessageDeletedJson. `reaction.added`, `reaction.removed`: a
    /// ReactionEventJson. Member and room events: `{"user": UserRef}`.
    #[schema(value_type = Object)]
    pub data: (),
}

/// A page of a room's events over HTTP (`GET /api/rooms/{id}/events` without an upgrade): each
/// event exactly as the socket sends it (the same bytes, from `Frame`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // a schema, never constructed
pub struct EventList {
    /// Ascending by seq.
    pub events: Vec<EventFrame>,
    /// Pass as `after` for the next newer page; null when no newer event exists (yet).
    pub next_after: Option<i64>,
    /// Pass as `before` for the next older page; null when no older event exists.
    pub prev_before: Option<i64>,
}

/// The `EventList` JSON of these frames: their bytes as they are, so a listed event is
/// byte for byte the frame a socket got.
pub fn event_list_json(
    frames: &[Frame],
    next_after: Option<Seq>,
    prev_before: Option<Seq>,
) -> String {
    let number = |n: Option<Seq>| n.map_or_else(|| "null".to_string(), |s| s.0.to_string());
    let size: usize = frames.iter().map(|f| f.json.len() + 1).sum();
    let mut out = String::with_capacity(size + 64);
    out.push_str("{\"events\":[");
    for (i, frame) in frames.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&frame.json);
    }
    out.push_str("],\"next_after\":");
    out.push_str(&number(next_after));
    out.push_str(",\"prev_before\":");
    out.push_str(&number(prev_before));
    out.push('}');
    out
}

/// A typing or presence frame (WebSocket): never stored, so no `seq`; never replayed by
/// `after`; a lost one is not repaired.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // a schema, never constructed
pub struct EphemeralFrame {
    #[schema(rename = "type", inline)]
    pub kind: EphemeralType,
    #[schema(value_type = i64)]
    pub room_id: RoomId,
    /// `typing`: `{"user": UserRef}` (clients show it for about 5 s). `presence`:
    /// `{"user": UserRef, "online": bool}`.
    #[schema(value_type = Object)]
    pub data: (),
}

// A frame's `type`: the stored event kinds, and `room.deleted`, which is never stored. The
// wire and the OpenAPI document both come from this enum, so they cannot disagree. (A plain
// comment: a doc comment would become the schema's description.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub enum EventType {
    #[serde(rename = "message.created")]
    MessageCreated,
    #[serde(rename = "member.joined")]
    MemberJoined,
    #[serde(rename = "member.left")]
    MemberLeft,
    #[serde(rename = "message.updated")]
    MessageUpdated,
    #[serde(rename = "message.deleted")]
    MessageDeleted,
    #[serde(rename = "reaction.added")]
    ReactionAdded,
    #[serde(rename = "reaction.removed")]
    ReactionRemoved,
    #[serde(rename = "room.deleted")]
    RoomDeleted,
}

impl From<EventKind> for EventType {
    fn from(kind: EventKind) -> Self {
        match kind {
            EventKind::MessageCreated => EventType::MessageCreated,
            EventKind::MemberJoined => EventType::MemberJoined,
            EventKind::MemberLeft => EventType::MemberLeft,
            EventKind::MessageUpdated => EventType::MessageUpdated,
            EventKind::MessageDeleted => EventType::MessageDeleted,
            EventKind::ReactionAdded => EventType::ReactionAdded,
            EventKind::ReactionRemoved => EventType::ReactionRemoved,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stored kind goes out under the name it is stored by.
    #[test]
    fn every_stored_kind_is_sent_as_its_stored_name() {
        for kind in EventKind::ALL {
            assert_eq!(
                serde_json::to_value(EventType::from(kind)).ok(),
                Some(serde_json::Value::from(kind.as_str()))
            );
        }
        assert_eq!(
            serde_json::to_value(EventType::RoomDeleted).ok(),
            Some(serde_json::Value::from("room.deleted"))
        );
    }

    /// Data that does not serialize is an error naming the event, never an empty frame.
    #[test]
    fn an_event_that_cannot_be_encoded_is_an_error() {
        // JSON object keys must be strings.
        let data = std::collections::BTreeMap::from([((1, 2), 3)]);
        let e = encode(EventType::MemberLeft, RoomId(7), Seq(42), data).expect_err("not JSON");
        let said = e.to_string();
        assert!(
            said.contains("MemberLeft frame of room 7, seq 42"),
            "{said}"
        );
        let json = encode(EventType::MemberLeft, RoomId(7), Seq(42), ()).expect("JSON");
        assert_eq!(
            &*json,
            r#"{"type":"member.left","room_id":7,"seq":42,"data":null}"#
        );
    }

    /// A stored message without content is a broken invariant: an error naming the event, never
    /// a frame with an empty message.
    #[test]
    fn a_message_without_content_is_an_error() {
        use crate::ids::UserId;
        use crate::store::accounts::Profile;
        use crate::store::events::EventRow;

        let view = |content: Option<&str>| EventView {
            event: EventRow {
                id: 9,
                room_id: RoomId(7),
                seq: Seq(42),
                kind: EventKind::MessageCreated,
                actor_id: UserId(3),
                content: content.map(str::to_string),
                created_at: 0,
                target_id: None,
                edited_at: None,
                deleted_at: None,
            },
            actor: Profile {
                id: UserId(3),
                username: "ann".into(),
                is_bot: false,
            },
        };
        let e = Frame::from_event(&view(None)).expect_err("no content");
        let said = e.to_string();
        assert!(
            said.contains("event 9 is a message without content"),
            "{said}"
        );
        let frame = Frame::from_event(&view(Some("hi"))).expect("a frame");
        assert!(frame.json.contains(r#""content":"hi""#), "{}", &*frame.json);
    }
}
