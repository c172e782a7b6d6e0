//! Invites to a room, and the owner adding a member: the ways into a private room. The room's
//! owner (or an admin) makes an invite with a number of uses and an expiry; the code is shown
//! once (only its hash is stored, as for invites to register, whose rules and table these
//! share). Accepting takes a use and a seat in one transaction (`store::invites::accept`).
//! A DM takes neither invites nor added members: its two members are fixed.

use serde::Deserialize;
use utoipa::ToSchema;

use crate::app::App;
use crate::auth::tokens::hash_key;
use crate::auth::Principal;
use crate::error::AppError;
use crate::ids::{RoomId, UserId};
use crate::store::accounts::{self, Profile};
use crate::store::invites::{self, Accepted, InviteRow};
use crate::store::membership::{self as seats, Admission};
use crate::store::rooms;
use crate::store::{Rejection, StoreError};
use crate::views::{timestamp, NewRoomInviteJson, RoomInviteJson};

use super::admin;
use super::invites::{issue, terms};
use super::membership::{joined, Joined};
use super::rooms::conceal;

/// A room invite lives at least a minute.
pub const MIN_EXPIRES_IN_SECS: i64 = 60;

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewRoomInvite {
    /// How many joins it admits (default 1).
    #[schema(minimum = 1, maximum = 1000)]
    #[serde(default = "one", deserialize_with = "super::rooms::whole_number")]
    pub uses: i64,
    /// Seconds until it expires (default 7 days; 60 s to 30 days).
    #[schema(minimum = 60, maximum = 2592000)]
    #[serde(default = "a_week", deserialize_with = "super::rooms::whole_number")]
    pub expires_in_s: i64,
}

fn one() -> i64 {
    1
}

fn a_week() -> i64 {
    7 * 24 * 3600
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AcceptInvite {
    /// The code as `POST /api/rooms/{id}/invites` showed it.
    #[schema(min_length = 1, max_length = 200)]
    pub code: String,
}

/// 404 unless `who` may manage the room's members (its owner, or an admin), with the
/// refusals a non-member of a private room must not tell apart from a missing room. A DM is
/// 409 `direct-message`.
async fn managed_by(app: &App, who: &Principal, room: RoomId) -> Result<(), AppError> {
    let outcome = match rooms::access(&app.db, room, who.user_id).await? {
        None => Err(AppError::RoomNotFound),
        Some(a) if a.is_dm => Err(AppError::DirectMessage(
            "a direct message's two members are fixed: it takes no invites or added members",
        )),
        Some(a) if a.owner != who.user_id && !admin::is_admin(app, who).await? => {
            Err(AppError::NotOwner)
        }
        Some(_) => Ok(()),
    };
    conceal(app, who, room, true, outcome).await
}

pub async fn create(
    app: &App,
    who: &Principal,
    room: RoomId,
    input: NewRoomInvite,
) -> Result<NewRoomInviteJson, AppError> {
    let (uses, expires_at) = terms(
        input.uses,
        input.expires_in_s,
        "expires_in_s",
        MIN_EXPIRES_IN_SECS,
    )?;
    managed_by(app, who, room).await?;
    let (code, row) = issue(app, Some(who.user_id), uses, expires_at, Some(room)).await?;
    Ok(NewRoomInviteJson {
        url: format!("/#/invite/{code}"),
        code,
        invite: json(row, room),
    })
}

pub async fn list(
    app: &App,
    who: &Principal,
    room: RoomId,
) -> Result<Vec<RoomInviteJson>, AppError> {
    managed_by(app, who, room).await?;
    Ok(invites::list(&app.db, Some(room))
        .await?
        .into_iter()
        .map(|row| json(row, room))
        .collect())
}

pub async fn revoke(app: &App, who: &Principal, room: RoomId, id: i64) -> Result<(), AppError> {
    managed_by(app, who, room).await?;
    Ok(invites::delete(&app.db, id, Some(room)).await?)
}

/// `who` accepts an invite: seated now (`member.joined` is published) or already a member.
/// Unknown, expired, used-up and revoked codes are one answer (403 `invite-invalid`); a ban
/// wins over any code (403 `banned`, no use taken), as does a full room (409 `room-full`).
pub async fn accept(app: &App, who: &Principal, input: AcceptInvite) -> Result<Joined, AppError> {
    // A pasted code may carry spaces or a newline. One that is blank once trimmed names no
    // invite: it gets the same 403 as any unknown code, not a 422 the document cannot
    // predict (the schema can say 1-200 characters, not "not only whitespace").
    if input.code.is_empty() || input.code.chars().count() > 200 {
        return Err(AppError::validation("code", "must be 1-200 characters"));
    }
    let code = input.code.trim();
    if code.is_empty() {
        return Err(StoreError::from(Rejection::InviteInvalid).into());
    }
    match invites::accept(&app.db, &hash_key(code), who.user_id).await? {
        Accepted::Joined(room, event, actor) => {
            joined(app, who, room, Some((event, actor)), false).await
        }
        Accepted::Already(room) => joined(app, who, room, None, false).await,
    }
}

/// The owner (or an admin) seats `target` in the room, under the rules of any join: capacity
/// (409 `room-full`), bans (403 `banned`), people and bots alike, never a disabled account
/// (404 `user-not-found`). `member.joined` is published as for a join.
pub async fn add_member(
    app: &App,
    who: &Principal,
    room: RoomId,
    target: UserId,
) -> Result<Joined, AppError> {
    managed_by(app, who, room).await?;
    let user = accounts::find(&app.db, target)
        .await?
        .filter(|u| u.disabled_at.is_none())
        .ok_or(AppError::UserNotFound)?;
    let event = seats::join(&app.db, room, target, Admission::Let).await?;
    let actor = Profile {
        id: user.id,
        username: user.username,
        is_bot: user.is_bot,
    };
    let seated = event.map(|event| (event, actor));
    joined(app, who, room, seated, true).await
}

fn json(row: InviteRow, room: RoomId) -> RoomInviteJson {
    RoomInviteJson {
        id: row.id,
        room_id: row.room_id.unwrap_or(room),
        uses_left: row.uses_left,
        expires_at: timestamp(row.expires_at),
        created_at: timestamp(row.created_at),
        created_by: row.created_by,
    }
}
