//! Ephemeral signals of a room: typing and presence. Never stored, no seq, never replayed; they reach the
//! room's sockets on every instance (the bus carries them fire-and-forget).

use std::sync::Arc;

use crate::app::App;
use crate::auth::Principal;
use crate::error::AppError;
use crate::ids::RoomId;
use crate::realtime::Frame;
use crate::views::UserRef;

use super::messages;

/// The members online on `room` (a socket open on it, on any instance), for a member.
pub async fn presence(app: &App, who: &Principal, room: RoomId) -> Result<Vec<UserRef>, AppError> {
    messages::ensure_member(app, who, room).await?;
    Ok(app
        .presence
        .online(room)
        .into_iter()
        .map(|p| UserRef {
            id: p.id,
            username: p.username,
            bot: p.bot,
        })
        .collect())
}

/// `who` is typing in `room`: one frame per 3 s per user and room to the room's other
/// members' sockets; calls in between are no-ops (see `realtime::typing`).
pub async fn typing(app: &App, who: &Principal, room: RoomId) -> Result<(), AppError> {
    if app.typing.recent(who.user_id, room) {
        return Ok(());
    }
    messages::ensure_member(app, who, room).await?;
    if !app.typing.take(who.user_id, room) {
        return Ok(());
    }
    match Frame::typing(room, who.user_ref()) {
        Ok(frame) => {
            app.bus
                .publish_ephemeral(room, Some(who.user_id), &frame.json);
            app.hub.ephemeral(Arc::new(frame));
        }
        // Plain strings and integers always serialize; a failure is a bug, not the client's.
        Err(e) => tracing::error!(error = %e, "typing frame not sent"),
    }
    Ok(())
}
