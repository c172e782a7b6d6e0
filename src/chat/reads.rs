//! Read markers (issue 15, item 5): `PUT /api/rooms/{id}/read` moves the caller's marker; the
//! room list carries `last_read_seq` and `unread` (see `store::reads` for the counters).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::App;
use crate::auth::Principal;
use crate::error::AppError;
use crate::ids::{RoomId, Seq};
use crate::store::reads::{self, ReadState};

#[derive(Debug, Deserialize, ToSchema)]
pub struct ReadMarker {
    /// The seq read up to (a frame's or a listed event's `seq`). 0 or more; one beyond the
    /// room's last seq is taken as the last seq ("everything read"). A seq at or below the
    /// current marker changes nothing.
    #[schema(minimum = 0)]
    #[serde(deserialize_with = "int64")]
    pub seq: i64,
}

/// An integer as JSON Schema means it (`7` or `7.0`) within int64: anything else, a larger
/// number included, is refused (422), never saturated.
fn int64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    // 2^63 is exactly representable; every whole float below it (and from -2^63) is an i64.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && (-LIMIT..LIMIT).contains(&f) => {
            format!("{f:.0}").parse().map_err(serde::de::Error::custom)
        }
        _ => Err(serde::de::Error::custom(format!(
            "expected a 64-bit integer, got {n}"
        ))),
    }
}

/// The caller's marker in a room after a `PUT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct ReadJson {
    #[schema(value_type = i64)]
    pub room_id: RoomId,
    #[schema(value_type = i64)]
    pub last_read_seq: Seq,
    /// Messages by others after the marker that are not deleted.
    pub unread: i64,
}

impl From<ReadState> for ReadJson {
    fn from(s: ReadState) -> Self {
        ReadJson {
            room_id: s.room_id,
            last_read_seq: s.last_read_seq,
            unread: s.unread,
        }
    }
}

/// Moves the caller's marker forward (never back), members only, and tells the caller's
/// other sockets when it moved.
pub async fn mark(
    app: &App,
    who: &Principal,
    room: RoomId,
    input: ReadMarker,
) -> Result<ReadJson, AppError> {
    if input.seq < 0 {
        return Err(AppError::validation("seq", "must be 0 or more"));
    }
    let marked = reads::mark(&app.db, room, who.user_id, Seq(input.seq))
        .await
        .map_err(AppError::from);
    let (state, moved) = super::rooms::conceal(app, who, room, false, marked).await?;
    let read = ReadJson::from(state);
    if moved {
        read_updated(app, who, read);
    }
    Ok(read)
}

/// Called after a committed marker move, with the state the `PUT` answered: the hook for the
/// `read.updated` frame to the same user's other sockets (so another tab clears its badge).
/// `{"type":"read.updated","data":{"room_id","last_read_seq","unread"}}` on `who`'s summary
/// streams (`/api/me/events`), on every instance.
pub fn read_updated(app: &App, who: &Principal, read: ReadJson) {
    app.notify_read(who.user_id, read.room_id, read.last_read_seq, read.unread);
}
