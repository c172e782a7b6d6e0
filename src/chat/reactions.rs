//! Reactions: one emoji per user per message, bounded in kinds per message; each change is
//! an event in the room's seq stream, published after commit.

use unicode_segmentation::UnicodeSegmentation;

use crate::app::App;
use crate::auth::Principal;
use crate::error::AppError;
use crate::ids::RoomId;
use crate::realtime::Frame;
use crate::store::reactions;

/// The emoji as stored: one grapheme that Unicode's emoji list (the `emojis` crate) knows, in
/// that list's form, so that one emoji typed two ways (with or without its variation
/// selector) counts as one.
pub fn checked_emoji(raw: &str) -> Result<&'static str, AppError> {
    let refused = || {
        AppError::validation(
            "emoji",
            "must be exactly one emoji (one grapheme of Unicode's emoji list)",
        )
    };
    // A bound before any work: the longest emoji (a family with skin tones) is 35 bytes.
    if raw.len() > 64 || raw.graphemes(true).count() != 1 {
        return Err(refused());
    }
    emojis::get(raw).map(|e| e.as_str()).ok_or_else(refused)
}

/// Adds (`on`) or takes back `who`'s reaction. A repeat changes nothing and publishes
/// nothing, so retries are safe: the answer is the same either way.
pub async fn set(
    app: &App,
    who: &Principal,
    room: RoomId,
    message_id: i64,
    emoji: &str,
    on: bool,
) -> Result<(), AppError> {
    let emoji = checked_emoji(emoji)?;
    let changed = reactions::set(
        &app.db,
        room,
        message_id,
        emoji.to_string(),
        who.profile(),
        on,
    )
    .await
    .map_err(AppError::from);
    if let Some(event) = super::rooms::conceal(app, who, room, false, changed).await? {
        app.publish(Frame::from_event(&event));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_emoji_grapheme_only() {
        for ok in ["👍", "❤️", "👍🏽", "👨‍👩‍👧", "🇫🇷", "😀"] {
            assert!(checked_emoji(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a",
            "👍👍",
            "👍 ",
            ":+1:",
            "1",
            "\u{200d}",
            "é",
            &"👍".repeat(30),
        ] {
            assert!(checked_emoji(bad).is_err(), "{bad:?}");
        }
        // One emoji, typed with or without its variation selector, is stored one way.
        assert_eq!(checked_emoji("❤").ok(), checked_emoji("❤️").ok());
    }
}
