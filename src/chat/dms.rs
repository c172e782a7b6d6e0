//! Direct messages: a private room of exactly two users, one per pair, whoever opens it
//! first. It behaves like any room (send, history, socket, idempotency), except that its
//! members are fixed: nobody joins, leaves, is invited, added, removed or banned (409
//! `direct-message`). Either member (or an admin) may delete it.

use serde::Deserialize;
use utoipa::ToSchema;

use crate::app::App;
use crate::auth::Principal;
use crate::bus::Interest;
use crate::error::AppError;
use crate::ids::{RoomId, UserId};
use crate::realtime::users;
use crate::store::accounts;
use crate::store::dms::{self, Opened};
use crate::store::rooms::{self, Viewer};
use crate::views::RoomJson;

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewDm {
    /// The other person (or bot); not yourself.
    #[schema(minimum = 1)]
    #[serde(deserialize_with = "super::rooms::whole_number")]
    pub user_id: i64,
}

/// Opens the DM of `who` and `input.user_id`: `(true, room)` when created now, `(false,
/// room)` when it existed. A person opens DMs, with a person or a bot; a bot does not open
/// them (403 `forbidden`), so a leaked bot token cannot write to everyone. Not with
/// yourself (422), nor with an unknown or disabled account (404 `user-not-found`).
pub async fn open(app: &App, who: &Principal, input: NewDm) -> Result<(bool, RoomJson), AppError> {
    if who.is_bot {
        return Err(AppError::Forbidden("bots do not open direct messages"));
    }
    if input.user_id == who.user_id.0 {
        return Err(AppError::validation(
            "user_id",
            "a direct message is with someone else",
        ));
    }
    let peer = accounts::find(&app.db, UserId(input.user_id))
        .await?
        .filter(|u| u.disabled_at.is_none())
        .ok_or(AppError::UserNotFound)?;
    let (created, room) = match dms::open(&app.db, who.user_id, peer.id).await? {
        Opened::Created(room) => (true, room),
        Opened::Existing(room) => (false, room),
    };
    // Nobody can be subscribed to a DM that did not exist: the joins are not published.
    let view = as_seen_by(app, who.user_id, room).await?;
    if created {
        // Both people's room lists learn of it live (the peer's the first they hear of it),
        // each with the room as they see it (`peer` is the other one).
        app.notify_user(
            who.user_id,
            Interest::Joined(room),
            users::room_added(&view),
        );
        let theirs = as_seen_by(app, peer.id, room).await?;
        app.notify_user(peer.id, Interest::Joined(room), users::room_added(&theirs));
    }
    Ok((created, view))
}

async fn as_seen_by(app: &App, user: UserId, room: RoomId) -> Result<RoomJson, AppError> {
    rooms::views(&app.db, Viewer::User(user), Some(room))
        .await?
        .into_iter()
        .next()
        .map(RoomJson::from)
        .ok_or(AppError::RoomNotFound)
}
