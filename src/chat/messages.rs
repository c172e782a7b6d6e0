//! Sending and history.

use serde::Deserialize;

use super::views::MessageJson;
use super::App;
use crate::auth::Principal;
use crate::error::AppError;
use crate::realtime::Frame;
use crate::store::events::{self, EventView};
use crate::store::membership;

pub const MAX_CONTENT_CHARS: usize = 4000;
pub const MAX_PAGE: i64 = 100;
pub const DEFAULT_PAGE: i64 = 50;

#[derive(Debug, Deserialize)]
pub struct NewMessage {
    pub content: String,
}

#[derive(Debug, Deserialize)]
pub struct Page {
    pub after: Option<i64>,
    pub before: Option<i64>,
    pub limit: Option<i64>,
}

/// Stores the message (trimmed) and, once committed, hands it to the room's sockets.
pub async fn send(
    app: &App,
    who: &Principal,
    room: i64,
    input: NewMessage,
) -> Result<MessageJson, AppError> {
    let content = input.content.trim();
    let chars = content.chars().count();
    if chars == 0 || chars > MAX_CONTENT_CHARS {
        return Err(AppError::validation(
            "content",
            format!("must be 1-{MAX_CONTENT_CHARS} characters and not only whitespace"),
        ));
    }
    let event = events::append_message(&app.db, room, who.user_id, content).await?;
    let view = EventView {
        event,
        actor_name: who.username.clone(),
    };
    app.hub.publish(Frame::from_event(&view));
    Ok(MessageJson::from(&view))
}

/// A page of the room's messages, members only.
pub async fn history(
    app: &App,
    who: &Principal,
    room: i64,
    page: Page,
) -> Result<Vec<MessageJson>, AppError> {
    let limit = page.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(AppError::validation(
            "limit",
            format!("must be between 1 and {MAX_PAGE}"),
        ));
    }
    ensure_member(app, who, room).await?;
    let rows = events::messages(&app.db, room, page.after, page.before, limit).await?;
    Ok(rows.iter().map(MessageJson::from).collect())
}

/// 404 for a room that does not exist, 403 for one the caller is not in.
pub async fn ensure_member(app: &App, who: &Principal, room: i64) -> Result<(), AppError> {
    if membership::is_member(&app.db, room, who.user_id).await? {
        return Ok(());
    }
    match crate::store::rooms::last_seq(&app.db, room).await? {
        Some(_) => Err(AppError::NotAMember),
        None => Err(AppError::RoomNotFound),
    }
}
