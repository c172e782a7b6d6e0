//! Editing and deleting messages: the same content rules and Idempotency-Key semantics as a
//! send; each change is an event in the room's seq stream, published after commit.

use crate::app::App;
use crate::auth::Principal;
use crate::error::AppError;
use crate::ids::RoomId;
use crate::realtime::Frame;
use crate::store::message_changes::{self, Edit, Edited};
use crate::views::MessageJson;

use super::messages::{checked_content, keyed, Delivered, NewMessage};
use super::rooms::conceal;

/// Rewrites the content of `who`'s message. A retry with the same key and body answers the
/// message as it is now and publishes nothing.
pub async fn edit(
    app: &App,
    who: &Principal,
    room: RoomId,
    message_id: i64,
    input: NewMessage,
    idempotency_key: Option<&str>,
) -> Result<Delivered, AppError> {
    let content = checked_content(&input.content)?;
    // The key vouches for this edit of this message: reused for a send, or for an edit of
    // another message, it is refused like a key reused with another body.
    let mut request = format!("PATCH message {message_id}\n").into_bytes();
    request.extend_from_slice(input.content.as_bytes());
    let key = keyed(idempotency_key, &request)?;
    let edited = message_changes::edit(
        &app.db,
        Edit {
            room,
            message_id,
            editor: who.profile(),
            content: content.to_string(),
            key,
        },
    )
    .await
    .map_err(AppError::from);
    let edited = conceal(app, who, room, false, edited).await?;
    let (view, replayed) = match edited {
        Edited::New(change) => {
            app.publish(Frame::from_event(&change.event));
            (change.message, false)
        }
        Edited::Replayed(view) => (view, true),
    };
    Ok(Delivered {
        message: MessageJson::try_from(&view).map_err(|e| AppError::internal(e))?,
        replayed,
    })
}

/// Deletes a message, by its author or the room's owner. Deleting it again is a no-op, so
/// retries are safe.
pub async fn delete(
    app: &App,
    who: &Principal,
    room: RoomId,
    message_id: i64,
) -> Result<(), AppError> {
    let deleted = message_changes::delete(&app.db, room, message_id, who.profile())
        .await
        .map_err(AppError::from);
    if let Some(change) = conceal(app, who, room, false, deleted).await? {
        app.publish(Frame::from_event(&change.event));
    }
    Ok(())
}
