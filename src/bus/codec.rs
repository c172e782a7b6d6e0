//! The bus's wire format, one message per pub/sub payload: a header line, then the body.
//!
//! ```text
//! E <origin> <room> <seq> <terminal 0|1>\n<frame bytes>   an event with its frame
//! M <origin> <room> <seq> <terminal 0|1>\n                  an event too large to carry
//! C <origin>\n<control as JSON>                             a credential or room end
//! T <origin> <room> <skip user|->\n<frame bytes>             an ephemeral frame (typing)
//! P <origin>\n<presence message as JSON>                     who is online where
//! A <origin> <room> <seq>\n                                   a room's new last seq
//! U <origin> <user> <+room|-room|.>\n<frame bytes>           a user's summary frame
//! ```
//!
//! The frame bytes are the ones sockets send, so no instance serializes an event twice. The
//! origin is the publishing process's random id: an instance skips what it published itself.

use bytestring::ByteString;

use super::{Control, Heard, Interest, PresenceMsg, RoomEphemeral, RoomEvent, UserNote};
use crate::ids::{RoomId, Seq, UserId};

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("malformed bus message header {0:?}")]
    Header(String),
    #[error("bus message is not UTF-8: {0}")]
    NotUtf8(#[from] std::str::Utf8Error),
    #[error("malformed control message: {0}")]
    Control(#[from] serde_json::Error),
}

pub fn encode_event(origin: u64, e: &RoomEvent) -> Vec<u8> {
    let (tag, body) = match &e.frame {
        Some(frame) => ("E", frame.as_bytes().as_ref()),
        None => ("M", &[][..]),
    };
    let mut out = format!(
        "{tag} {origin} {} {} {}\n",
        e.room.0,
        e.seq.0,
        u8::from(e.terminal)
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

pub fn encode_control(origin: u64, c: &Control) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = format!("C {origin}\n").into_bytes();
    serde_json::to_writer(&mut out, c)?;
    Ok(out)
}

pub fn encode_ephemeral(origin: u64, e: &RoomEphemeral) -> Vec<u8> {
    let skip = e.skip.map_or_else(|| "-".to_string(), |u| u.0.to_string());
    let mut out = format!("T {origin} {} {skip}\n", e.room.0).into_bytes();
    out.extend_from_slice(e.frame.as_bytes());
    out
}

pub fn encode_presence(origin: u64, p: &PresenceMsg) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = format!("P {origin}\n").into_bytes();
    serde_json::to_writer(&mut out, p)?;
    Ok(out)
}

pub fn encode_activity(origin: u64, room: RoomId, seq: Seq) -> Vec<u8> {
    format!("A {origin} {} {}\n", room.0, seq.0).into_bytes()
}

pub fn encode_user(origin: u64, n: &UserNote) -> Vec<u8> {
    let change = match n.interest {
        Interest::Joined(room) => format!("+{}", room.0),
        Interest::Left(room) => format!("-{}", room.0),
        Interest::Same => ".".to_string(),
    };
    let mut out = format!("U {origin} {} {change}\n", n.user.0).into_bytes();
    out.extend_from_slice(n.frame.as_bytes());
    out
}

/// What a payload says, or `None` if `me` published it.
pub fn decode(payload: &[u8], me: u64) -> Result<Option<Heard>, DecodeError> {
    let (head, body) = match payload.iter().position(|&b| b == b'\n') {
        Some(at) => (payload.get(..at), payload.get(at + 1..)),
        None => (Some(payload), None),
    };
    let head = std::str::from_utf8(head.unwrap_or_default())?;
    let bad = || DecodeError::Header(head.chars().take(80).collect());
    let mut words = head.split(' ');
    let tag = words.next().ok_or_else(bad)?;
    let origin: u64 = words.next().and_then(|w| w.parse().ok()).ok_or_else(bad)?;
    if origin == me {
        return Ok(None);
    }
    let body = body.unwrap_or_default();
    match tag {
        "E" | "M" => {
            let mut num = || -> Result<i64, DecodeError> {
                words.next().and_then(|w| w.parse().ok()).ok_or_else(bad)
            };
            let (room, seq, terminal) = (RoomId(num()?), Seq(num()?), num()? == 1);
            let frame = match tag {
                "E" => Some(ByteString::from(std::str::from_utf8(body)?)),
                _ => None,
            };
            Ok(Some(Heard::Event(RoomEvent {
                room,
                seq,
                terminal,
                frame,
            })))
        }
        "C" => Ok(Some(Heard::Control(serde_json::from_slice(body)?))),
        "P" => Ok(Some(Heard::Presence {
            origin,
            msg: serde_json::from_slice(body)?,
        })),
        "A" => {
            let mut num = || -> Result<i64, DecodeError> {
                words.next().and_then(|w| w.parse().ok()).ok_or_else(bad)
            };
            let (room, seq) = (RoomId(num()?), Seq(num()?));
            Ok(Some(Heard::Activity(room, seq)))
        }
        "U" => {
            let user = words.next().and_then(|w| w.parse().ok()).ok_or_else(bad)?;
            let change = words.next().ok_or_else(bad)?;
            let room = |w: &str| w.parse().map(RoomId).map_err(|_not_a_number| bad());
            let interest = match change.split_at_checked(1) {
                Some(("+", r)) => Interest::Joined(room(r)?),
                Some(("-", r)) => Interest::Left(room(r)?),
                Some((".", "")) => Interest::Same,
                _ => return Err(bad()),
            };
            Ok(Some(Heard::User(UserNote {
                user: UserId(user),
                interest,
                frame: ByteString::from(std::str::from_utf8(body)?),
            })))
        }
        "T" => {
            let room = words.next().and_then(|w| w.parse().ok()).ok_or_else(bad)?;
            let skip = match words.next().ok_or_else(bad)? {
                "-" => None,
                w => Some(UserId(w.parse().map_err(|_not_a_number| bad())?)),
            };
            Ok(Some(Heard::Ephemeral(RoomEphemeral {
                room: RoomId(room),
                skip,
                frame: ByteString::from(std::str::from_utf8(body)?),
            })))
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::UserId;

    fn event(payload: &[u8]) -> RoomEvent {
        match decode(payload, 1).expect("decodes") {
            Some(Heard::Event(e)) => e,
            other => panic!("not an event: {other:?}"),
        }
    }

    #[test]
    fn events_and_controls_round_trip_and_own_messages_are_skipped() {
        let e = RoomEvent {
            room: RoomId(7),
            seq: Seq(42),
            terminal: false,
            frame: Some(ByteString::from_static("{\"seq\":42,\"x\":\"a\\nb é\"}")),
        };
        let wire = encode_event(9, &e);
        assert_eq!(event(&wire), e);
        assert!(decode(&wire, 9).expect("decodes").is_none());

        let marker = RoomEvent {
            frame: None,
            terminal: true,
            ..e
        };
        assert_eq!(event(&encode_event(9, &marker)), marker);

        for c in [
            Control::SessionEnded { sid: "s".into() },
            Control::UserRevoked { user: UserId(3) },
            Control::MemberRemoved {
                room: RoomId(1),
                user: UserId(2),
            },
            Control::RoomDeleted { room: RoomId(5) },
        ] {
            let wire = encode_control(9, &c).expect("encodes");
            match decode(&wire, 1).expect("decodes") {
                Some(Heard::Control(got)) => assert_eq!(got, c),
                other => panic!("not a control: {other:?}"),
            }
        }
    }

    #[test]
    fn ephemeral_frames_round_trip() {
        for skip in [Some(UserId(4)), None] {
            let e = RoomEphemeral {
                room: RoomId(7),
                skip,
                frame: ByteString::from_static("{\"type\":\"typing\"}"),
            };
            match decode(&encode_ephemeral(9, &e), 1).expect("decodes") {
                Some(Heard::Ephemeral(got)) => assert_eq!(got, e),
                other => panic!("not ephemeral: {other:?}"),
            }
            assert!(decode(&encode_ephemeral(9, &e), 9)
                .expect("decodes")
                .is_none());
        }
    }

    #[test]
    fn presence_messages_round_trip_with_their_origin() {
        use crate::bus::Present;
        let bob = Present {
            id: UserId(2),
            username: "bob".into(),
            bot: false,
        };
        for msg in [
            PresenceMsg::Delta {
                version: 3,
                room: RoomId(1),
                user: bob.clone(),
                online: true,
            },
            PresenceMsg::Beat { version: 3 },
            PresenceMsg::Want { from: 9 },
            PresenceMsg::Snapshot {
                version: 3,
                members: vec![(RoomId(1), bob.clone())],
            },
        ] {
            let wire = encode_presence(9, &msg).expect("encodes");
            match decode(&wire, 1).expect("decodes") {
                Some(Heard::Presence { origin, msg: got }) => {
                    assert_eq!((origin, got), (9, msg));
                }
                other => panic!("not presence: {other:?}"),
            }
        }
    }

    #[test]
    fn activity_and_user_notes_round_trip() {
        match decode(&encode_activity(9, RoomId(3), Seq(8)), 1).expect("decodes") {
            Some(Heard::Activity(room, seq)) => assert_eq!((room, seq), (RoomId(3), Seq(8))),
            other => panic!("not activity: {other:?}"),
        }
        for interest in [
            Interest::Joined(RoomId(4)),
            Interest::Left(RoomId(5)),
            Interest::Same,
        ] {
            let n = UserNote {
                user: UserId(2),
                interest,
                frame: ByteString::from_static("{\"type\":\"room.added\"}"),
            };
            match decode(&encode_user(9, &n), 1).expect("decodes") {
                Some(Heard::User(got)) => assert_eq!(got, n),
                other => panic!("not a user note: {other:?}"),
            }
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            &b""[..],
            b"E",
            b"E x 1 2 0\n{}",
            b"E 2 1 x 0\n{}",
            b"Q 2\n",
            b"C 2\nnot json",
            b"E 2 1 2 0\n\xff\xfe",
            b"\xff 2\n",
            b"T 2 1\n{}",
            b"T 2 1 x\n{}",
            b"T 2 x -\n{}",
            b"P 2\n{\"kind\":\"nope\"}",
            b"A 2 1\n",
            b"U 2 1\n{}",
            b"U 2 1 *3\n{}",
            b"U 2 1 +x\n{}",
            b"U 2 1 .x\n{}",
        ] {
            assert!(decode(bad, 1).is_err(), "{bad:?}");
        }
    }
}
