//! Rooms: create, list, show, delete.

use serde::Deserialize;
use utoipa::ToSchema;

use super::text::{check_text, Lines};
use super::views::RoomJson;
use super::App;
use crate::auth::Principal;
use crate::error::AppError;
use crate::realtime::{close, Frame};
use crate::store::rooms;

pub const MAX_CAPACITY: i64 = 10_000;

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewRoom {
    /// 1-100 characters after trimming, no control characters.
    pub name: String,
    /// 1-10000 seats, the owner's included.
    pub capacity: i64,
}

pub async fn create(app: &App, who: &Principal, input: NewRoom) -> Result<RoomJson, AppError> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::validation("name", "must be 1-100 characters"));
    }
    check_text("name", name, Lines::Single)?;
    if !(1..=MAX_CAPACITY).contains(&input.capacity) {
        return Err(AppError::validation(
            "capacity",
            format!("must be between 1 and {MAX_CAPACITY}"),
        ));
    }
    // In range, so the conversion cannot fail.
    let capacity = i32::try_from(input.capacity).unwrap_or(1);
    let (room, _owner_joined) = rooms::create(&app.db, who.user_id, name, capacity).await?;
    // Nobody can be subscribed to a room that did not exist, so the join event is not published.
    Ok(RoomJson::from(rooms::RoomView {
        room,
        owner: who.profile(),
        joined: true,
    }))
}

pub async fn list(app: &App, who: &Principal) -> Result<Vec<RoomJson>, AppError> {
    let rooms = rooms::views(&app.db, who.user_id, None).await?;
    Ok(rooms.into_iter().map(RoomJson::from).collect())
}

pub async fn show(app: &App, who: &Principal, room: i64) -> Result<RoomJson, AppError> {
    rooms::views(&app.db, who.user_id, Some(room))
        .await?
        .into_iter()
        .next()
        .map(RoomJson::from)
        .ok_or(AppError::RoomNotFound)
}

/// Owner only. The room's sockets get `room.deleted` and then close with 4004.
pub async fn delete(app: &App, who: &Principal, room: i64) -> Result<(), AppError> {
    let last_seq = rooms::delete(&app.db, room, who.user_id).await?;
    app.hub
        .publish(Frame::room_deleted(room, last_seq + 1, who.user_ref()));
    app.hub
        .close_where(close::ROOM_DELETED, |s| s.room_id == room);
    Ok(())
}
