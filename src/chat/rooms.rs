//! Rooms: create, list, show, delete.

use serde::Deserialize;
use utoipa::ToSchema;

use super::text::{check_text, trim_blank, Lines};
use crate::app::App;
use crate::auth::Principal;
use crate::bus::{Control, Interest};
use crate::error::AppError;
use crate::ids::{RoomId, Seq};
use crate::realtime::{close, users, Frame};
use crate::store::reads::ReadRow;
use crate::store::rooms::{self, RoomView, Viewer};
use crate::store::{Rejection, StoreError};

use super::admin;
use crate::views::{RoomJson, UserRef};
pub use crate::views::{RoomKind, Visibility};

pub const MAX_CAPACITY: i64 = 10_000;

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewRoom {
    /// 1-100 characters after trimming blanks (stored trimmed), no control characters
    /// (`text::ROOM_NAME_PATTERN`).
    #[schema(
        min_length = 1,
        pattern = r"^[\t\n\x0B\x0C\r\x1C-\x1F \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[^\x00-\x1F\x7F-\x9F \xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000](?:[^\x00-\x1F\x7F-\x9F]{0,98}[^\x00-\x1F\x7F-\x9F \xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000])?[\t\n\x0B\x0C\r\x1C-\x1F \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$"
    )]
    pub name: String,
    /// 1-10000 seats, the owner's included.
    #[schema(minimum = 1, maximum = 10000)]
    #[serde(deserialize_with = "whole_number")]
    pub capacity: i64,
    /// `private`: listed and shown only to members; anyone else gets 404 `room-not-found`
    /// for its id, as for a room that does not exist. Members come in by invite or are
    /// added by the owner. Default `public`.
    #[serde(default)]
    pub visibility: Visibility,
}

/// An integer as JSON Schema means it: `7` or `7.0` (a number with a zero fraction). A whole
/// number too large for i64 becomes i64::MAX, which the range check then refuses with 422.
pub(crate) fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    match n.as_f64() {
        Some(f) if f.is_finite() && f.fract() == 0.0 => Ok(format!("{f:.0}")
            .parse()
            .unwrap_or(if f < 0.0 { i64::MIN } else { i64::MAX })),
        _ => Err(serde::de::Error::custom(format!(
            "expected an integer, got {n}"
        ))),
    }
}

pub async fn create(app: &App, who: &Principal, input: NewRoom) -> Result<RoomJson, AppError> {
    let name = trim_blank(&input.name);
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::validation("name", "must be 1-100 characters"));
    }
    check_text("name", name, Lines::Single)?;
    // The range check is the conversion: no capacity outside it reaches the store.
    let capacity = match i32::try_from(input.capacity) {
        Ok(c) if (1..=MAX_CAPACITY).contains(&i64::from(c)) => c,
        _ => {
            return Err(AppError::validation(
                "capacity",
                format!("must be between 1 and {MAX_CAPACITY}"),
            ))
        }
    };
    let private = input.visibility == Visibility::Private;
    let (room, _owner_joined) =
        rooms::create(&app.db, who.user_id, name, capacity, private).await?;
    // Nobody can be subscribed to a room that did not exist, so the join event is not published.
    let json = RoomJson::from(rooms::RoomView {
        room,
        owner: who.profile(),
        joined: true,
        peer: None,
        read: Some(ReadRow {
            last_read_seq: Seq(1),
            read_count: 0,
            own_after_read: 0,
        }),
    });
    // The owner's other pages hear of it on their summary streams.
    app.notify_user(
        who.user_id,
        Interest::Joined(json.id),
        users::room_added(&json),
    );
    Ok(json)
}

/// The public rooms and the private ones `who` is a member of.
pub async fn list(app: &App, who: &Principal) -> Result<Vec<RoomJson>, AppError> {
    let rooms = rooms::views(&app.db, Viewer::User(who.user_id), None).await?;
    Ok(rooms.into_iter().map(RoomJson::from).collect())
}

/// 404 `room-not-found` for a private room `who` is not in, as for no room at all.
pub async fn show(app: &App, who: &Principal, room: RoomId) -> Result<RoomJson, AppError> {
    rooms::views(&app.db, Viewer::User(who.user_id), Some(room))
        .await?
        .into_iter()
        .next()
        .map(RoomJson::from)
        .ok_or(AppError::RoomNotFound)
}

/// Every room with its owner, private ones and DMs too, for operators (nobody's view:
/// `joined` is false).
pub async fn list_all(app: &App) -> Result<Vec<RoomView>, AppError> {
    Ok(rooms::views(&app.db, Viewer::Operator, None).await?)
}

/// A room's members in join order, whatever the room, for operators.
pub async fn members_any(
    app: &App,
    room: RoomId,
) -> Result<Vec<crate::views::MemberJson>, AppError> {
    let members = crate::store::membership::list(&app.db, room).await?;
    Ok(members
        .into_iter()
        .map(crate::views::MemberJson::from)
        .collect())
}

/// One room, whatever it is, for operators.
pub async fn show_any(app: &App, room: RoomId) -> Result<RoomView, AppError> {
    rooms::views(&app.db, Viewer::Operator, Some(room))
        .await?
        .into_iter()
        .next()
        .ok_or(AppError::RoomNotFound)
}

/// The one rule that keeps private rooms secret: a refusal that would tell `who` the room
/// exists (not a member, not the owner, banned, a DM, …) becomes 404 `room-not-found`, the
/// answer for an id that names no room, when the room is private and `who` is not a member.
/// Admins' moderation (delete, remove, ban) goes through on private rooms, so a refusal on
/// those paths is theirs to see (`moderating`); every member path hides the room from
/// admins too. Refusals that come before the room is looked at (validation, rate limits,
/// database down) are left as they are: a missing room gets them too.
pub async fn conceal<T>(
    app: &App,
    who: &Principal,
    room: RoomId,
    moderating: bool,
    outcome: Result<T, AppError>,
) -> Result<T, AppError> {
    let err = match outcome {
        Ok(done) => return Ok(done),
        Err(err) => err,
    };
    let reveals = matches!(
        err,
        AppError::NotAMember
            | AppError::NotOwner
            | AppError::Banned
            | AppError::OwnerCannotLeave
            | AppError::Forbidden(_)
            | AppError::DirectMessage(_)
            | AppError::RoomFull
            | AppError::MessageNotFound
            | AppError::NotAuthor
            | AppError::MessageDeleted
            | AppError::TooManyReactions
            | AppError::IdempotencyKeyReused
            | AppError::UserNotFound
            | AppError::InviteNotFound
    );
    if !reveals {
        return Err(err);
    }
    match rooms::access(&app.db, room, who.user_id).await? {
        None => Err(AppError::RoomNotFound),
        Some(a) if a.is_private && !a.member => {
            if moderating && admin::is_admin(app, who).await? {
                Err(err)
            } else {
                Err(AppError::RoomNotFound)
            }
        }
        Some(_) => Err(err),
    }
}

/// 404 unless `who` may see the room (public, or a member), for paths that would otherwise
/// answer a non-member without refusing anything.
pub async fn ensure_visible(
    app: &App,
    who: &Principal,
    room: RoomId,
) -> Result<rooms::Access, AppError> {
    match rooms::access(&app.db, room, who.user_id).await? {
        Some(a) if !a.is_private || a.member => Ok(a),
        _ => Err(AppError::RoomNotFound),
    }
}

/// The owner or an admin. The room's sockets, on every instance, get `room.deleted` and then
/// close with 4004.
pub async fn delete(app: &App, who: &Principal, room: RoomId) -> Result<(), AppError> {
    // Admin rights are only read when the owner's condition failed.
    let deleted = match rooms::delete(&app.db, room, Some(who.user_id)).await {
        // Either member of a DM deletes it (its `owner` is only who opened it); so do admins.
        Err(StoreError::Rejected(Rejection::NotOwner))
            if dm_member(app, who, room).await? || admin::is_admin(app, who).await? =>
        {
            rooms::delete(&app.db, room, None).await
        }
        deleted => deleted,
    };
    let last_seq = conceal(app, who, room, true, deleted.map_err(AppError::from)).await?;
    announce_deleted(app, room, last_seq, who.user_ref());
    Ok(())
}

async fn dm_member(app: &App, who: &Principal, room: RoomId) -> Result<bool, AppError> {
    Ok(rooms::access(&app.db, room, who.user_id)
        .await?
        .is_some_and(|a| a.is_dm && a.member))
}

/// Deletes any room, for an operator at the console: returns it as it was. Its sockets close
/// 4004 on running servers (through the bus, or their position check of rooms with
/// sockets); the `room.deleted` frame names the room's owner, there being no account behind
/// an operator.
pub async fn delete_by_operator(app: &App, room: RoomId) -> Result<RoomView, AppError> {
    let view = show_any(app, room).await?;
    let last_seq = rooms::delete(&app.db, room, None).await?;
    announce_deleted(app, room, last_seq, UserRef::from(view.owner.clone()));
    Ok(view)
}

fn announce_deleted(app: &App, room: RoomId, last_seq: crate::ids::Seq, by: UserRef) {
    app.publish(Frame::room_deleted(room, last_seq.next(), by));
    app.hub.close_room(room, close::ROOM_DELETED);
    // Also as a control: the frame may be lost on the bus, and there is no stored event to
    // repair it from.
    app.bus.publish_control(Control::RoomDeleted { room });
    // Each instance tells the members it has summary streams of (see `peers::apply`).
    app.users.room_gone(room);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capacity(json: &str) -> Result<i64, String> {
        serde_json::from_str::<NewRoom>(&format!(r#"{{"name":"r","capacity":{json}}}"#))
            .map(|r| r.capacity)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn capacity_is_an_integer_as_json_schema_means_it() {
        assert_eq!(capacity("9790"), Ok(9790));
        assert_eq!(capacity("9790.0"), Ok(9790));
        assert_eq!(capacity("1e3"), Ok(1000));
        assert_eq!(capacity("1e300"), Ok(i64::MAX));
        assert!(capacity("9790.5").is_err());
        assert!(capacity("\"12\"").is_err());
        // A whole number near 2^52, where the float grid is 0.5 wide: parsed exactly, not
        // one ulp off into a fraction (the fuzzer sent it as a read marker's seq).
        assert_eq!(capacity("3674759375244442.0"), Ok(3_674_759_375_244_442));
    }
}
