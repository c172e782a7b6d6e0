//! Sending and history.

use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::text::{check_text, trim_blank, Lines};
use crate::app::App;
use crate::auth::Principal;
use crate::error::AppError;
use crate::ids::{RoomId, Seq};
use crate::realtime::frame::Frame;
use crate::views::{ListedMessageJson, MessageJson, ReactionJson};
use sha2::{Digest, Sha256};

use super::rooms::conceal;
use crate::store::events;
use crate::store::group_commit::{Message, Sent};

pub const MAX_CONTENT_CHARS: usize = 4000;
pub const MAX_PAGE: i64 = 100;
pub const DEFAULT_PAGE: i64 = 50;
/// The largest page of `GET /api/rooms/{id}/events` (events are smaller than messages with
/// their reactions, and a reload wants few round trips).
pub const MAX_EVENT_PAGE: i64 = 200;

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewMessage {
    /// 1-4000 characters after trimming blanks; stored trimmed. No control characters
    /// inside except tab, line feed and CR LF (`text::CONTENT_PATTERN`).
    #[schema(
        min_length = 1,
        pattern = r"^[\t\n\x0B\x0C\r\x1C-\x1F \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[^\x00-\x1F\x7F-\x9F \xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000](?:(?:[^\x00-\x08\x0B-\x1F\x7F-\x9F]|\r(?=\n)){0,3998}[^\x00-\x1F\x7F-\x9F \xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000])?[\t\n\x0B\x0C\r\x1C-\x1F \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$"
    )]
    pub content: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// The first `limit` messages with a greater seq.
    pub after: Option<i64>,
    /// The last `limit` messages with a smaller seq.
    pub before: Option<i64>,
    /// 1-100, default 50.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

impl Page {
    /// The page size: `limit` if given (it must be 1-100), else 50.
    pub fn limit(&self) -> Result<i64, AppError> {
        let limit = self.limit.unwrap_or(DEFAULT_PAGE);
        if (1..=MAX_PAGE).contains(&limit) {
            Ok(limit)
        } else {
            Err(AppError::validation(
                "limit",
                format!("must be between 1 and {MAX_PAGE}"),
            ))
        }
    }
}

/// The result of a send: the message, and whether it was stored by an earlier request
/// with the same Idempotency-Key.
pub struct Delivered {
    pub message: MessageJson,
    pub replayed: bool,
}

/// Checks an `Idempotency-Key` header value: 1-255 printable ASCII characters
/// (`text::IDEMPOTENCY_KEY_PATTERN`).
pub fn check_idempotency_key(key: &str) -> Result<(), AppError> {
    if (1..=255).contains(&key.len()) && key.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        Ok(())
    } else {
        Err(AppError::InvalidIdempotencyKey)
    }
}

/// The content a send or an edit stores: trimmed, 1-4000 characters, no control characters
/// but tab, LF and CR LF.
pub fn checked_content(raw: &str) -> Result<&str, AppError> {
    let content = trim_blank(raw);
    let chars = content.chars().count();
    if chars == 0 || chars > MAX_CONTENT_CHARS {
        return Err(AppError::validation(
            "content",
            format!("must be 1-{MAX_CONTENT_CHARS} characters and not only whitespace"),
        ));
    }
    check_text("content", content, Lines::Multi)?;
    Ok(content)
}

/// The `Idempotency-Key` (checked) with the digest of the request it vouches for.
pub fn keyed(key: Option<&str>, request: &[u8]) -> Result<Option<(String, String)>, AppError> {
    let Some(key) = key else {
        return Ok(None);
    };
    check_idempotency_key(key)?;
    Ok(Some((
        key.to_string(),
        hex::encode(Sha256::digest(request)),
    )))
}

/// Stores the message (trimmed) and, once committed, hands it to the room's sockets.
/// A retry with the same key and body returns the stored message and publishes nothing.
pub async fn send(
    app: &App,
    who: &Principal,
    room: RoomId,
    input: NewMessage,
    idempotency_key: Option<&str>,
) -> Result<Delivered, AppError> {
    let received_at = std::time::Instant::now();
    let content = checked_content(&input.content)?;
    // The body is what the key vouches for: the same key with other content is refused.
    let key = keyed(idempotency_key, input.content.as_bytes())?;
    let sent = app
        .writer
        .send(Message {
            room_id: room,
            author: who.profile(),
            content: content.to_string(),
            key,
            received_at,
        })
        .await
        .map_err(AppError::from);
    let sent = conceal(app, who, room, false, sent).await?;
    // New messages were published by the writer, in seq order, right after the commit.
    Ok(match sent {
        Sent::New(view) => Delivered {
            message: MessageJson::try_from(&view).map_err(|e| AppError::internal(e))?,
            replayed: false,
        },
        Sent::Replayed(view) => Delivered {
            message: MessageJson::try_from(&view).map_err(|e| AppError::internal(e))?,
            replayed: true,
        },
    })
}

/// A page of the room's messages, members only.
pub async fn history(
    app: &App,
    who: &Principal,
    room: RoomId,
    page: Page,
) -> Result<Vec<ListedMessageJson>, AppError> {
    let limit = page.limit()?;
    ensure_member(app, who, room).await?;
    let (after, before) = (page.after.map(Seq), page.before.map(Seq));
    let rows = events::messages(&app.db, room, after, before, limit).await?;
    let ids = rows.iter().map(|r| r.event.id).collect();
    let mut counts = crate::store::reactions::counts(&app.db, ids, who.user_id).await?;
    rows.iter()
        .map(|row| {
            let message = MessageJson::try_from(row).map_err(|e| AppError::internal(e))?;
            let reactions = counts
                .remove(&row.event.id)
                .unwrap_or_default()
                .into_iter()
                .map(|(emoji, count, me)| ReactionJson { emoji, count, me })
                .collect();
            Ok(ListedMessageJson { message, reactions })
        })
        .collect()
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsPage {
    /// Listing: the oldest page after this seq. WebSocket: the last seq the client has
    /// (omitted, the socket starts from now).
    #[param(minimum = 0)]
    pub after: Option<i64>,
    /// The last `limit` events with a smaller seq (still listed ascending).
    #[param(minimum = 0)]
    pub before: Option<i64>,
    /// 1-200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// WebSocket: `true` also sends `presence` frames (EphemeralFrame) when a member comes
    /// online or goes offline on the room. Off by default, so clients that count frames see
    /// only events and `typing`. The listing ignores it.
    pub presence: Option<bool>,
}

impl EventsPage {
    /// The page size (`limit` 1-200, default 50), with `after` and `before` not negative. The
    /// socket checks the same (one operation, one set of parameters) and reads `after` only.
    pub fn checked_limit(&self) -> Result<i64, AppError> {
        let limit = self.limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_EVENT_PAGE).contains(&limit) {
            return Err(AppError::validation(
                "limit",
                format!("must be between 1 and {MAX_EVENT_PAGE}"),
            ));
        }
        for (field, value) in [("after", self.after), ("before", self.before)] {
            if value.is_some_and(|v| v < 0) {
                return Err(AppError::validation(field, "must be 0 or more".to_string()));
            }
        }
        Ok(limit)
    }
}

/// A page of a room's events as frames, with the cursors of the pages beside it.
pub struct EventListing {
    pub frames: Vec<Frame>,
    pub next_after: Option<Seq>,
    pub prev_before: Option<Seq>,
}

/// A page of the room's whole event log (messages as they are now, joins, leaves, edits,
/// deletions, reactions), each event as the socket sends it. Members only.
pub async fn events_page(
    app: &App,
    who: &Principal,
    room: RoomId,
    page: EventsPage,
) -> Result<EventListing, AppError> {
    let limit = page.checked_limit()?;
    ensure_member(app, who, room).await?;
    let (after, before) = (page.after.map(Seq), page.before.map(Seq));
    let listed = events::page(&app.db, room, false, after, before, limit).await?;
    let frames = listed
        .events
        .iter()
        .map(Frame::from_event)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| AppError::internal(e))?;
    Ok(EventListing {
        next_after: frames.last().filter(|_| listed.newer).map(|f| f.seq),
        prev_before: frames.first().filter(|_| listed.older).map(|f| f.seq),
        frames,
    })
}

/// Where a new socket of `who` in `room` starts: at `after` when the client resumes, else at
/// the room's last seq. Members only.
pub async fn stream_start(
    app: &App,
    who: &Principal,
    room: RoomId,
    after: Option<Seq>,
) -> Result<Seq, AppError> {
    ensure_member(app, who, room).await?;
    match after {
        Some(after) => Ok(after.max(Seq(0))),
        None => crate::store::rooms::last_seq(&app.db, room)
            .await?
            .ok_or(AppError::RoomNotFound),
    }
}

/// 404 for a room that does not exist or a private one the caller is not in, 403 for a
/// public one the caller is not in.
pub async fn ensure_member(app: &App, who: &Principal, room: RoomId) -> Result<(), AppError> {
    match crate::store::rooms::access(&app.db, room, who.user_id).await? {
        Some(a) if a.member => Ok(()),
        Some(a) if !a.is_private => Err(AppError::NotAMember),
        _ => Err(AppError::RoomNotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn idempotency_keys() {
        assert!(check_idempotency_key("a").is_ok());
        assert!(check_idempotency_key(&"k".repeat(255)).is_ok());
        assert!(check_idempotency_key("").is_err());
        assert!(check_idempotency_key(&"k".repeat(256)).is_err());
        assert!(check_idempotency_key("tab\there").is_err());
        assert!(check_idempotency_key("ünïcode").is_err());
    }

    /// What the header rule says in words: 1-255 characters, each a space or a visible
    /// ASCII character. Written independently of `check_idempotency_key`.
    fn printable_ascii(key: &str) -> bool {
        (1..=255).contains(&key.chars().count())
            && key.chars().all(|c| c == ' ' || c.is_ascii_graphic())
    }

    /// `?...` as actix-web's `Query` extractor parses it for GET /messages.
    fn page(query: &str) -> Result<Page, actix_web::error::QueryPayloadError> {
        actix_web::web::Query::<Page>::from_query(query).map(|q| q.into_inner())
    }

    proptest! {
        #[test]
        fn idempotency_key_accepts_exactly_printable_ascii(key in any::<String>()) {
            prop_assert_eq!(check_idempotency_key(&key).is_ok(), printable_ascii(&key));
        }

        #[test]
        fn idempotency_key_accepts_every_printable_ascii_key(key in "[ -~]{1,255}") {
            prop_assert!(check_idempotency_key(&key).is_ok());
        }

        #[test]
        fn idempotency_key_refuses_long_or_foreign_characters(
            key in prop_oneof!["[ -~]{256,400}", "[ -~]{0,20}[^ -~][ -~]{0,20}"],
        ) {
            prop_assert!(check_idempotency_key(&key).is_err());
        }

        #[test]
        fn any_query_string_parses_or_is_refused_without_panic(query in any::<String>()) {
            if let Ok(p) = page(&query) {
                // Whatever parsed, the page size is either 1-100 or refused with 422.
                match p.limit() {
                    Ok(limit) => prop_assert!((1..=MAX_PAGE).contains(&limit)),
                    Err(e) => {
                        let limit_refused = matches!(e, AppError::Validation { field: "limit", .. });
                        prop_assert!(limit_refused);
                    }
                }
            }
        }

        #[test]
        fn query_numbers_round_trip(
            after in proptest::option::of(any::<i64>()),
            before in proptest::option::of(any::<i64>()),
            limit in proptest::option::of(any::<i64>()),
        ) {
            let mut parts = Vec::new();
            if let Some(v) = after { parts.push(format!("after={v}")); }
            if let Some(v) = before { parts.push(format!("before={v}")); }
            if let Some(v) = limit { parts.push(format!("limit={v}")); }
            let p = page(&parts.join("&")).expect("integers parse");
            prop_assert_eq!((p.after, p.before, p.limit), (after, before, limit));
            let want = match limit {
                None => Some(DEFAULT_PAGE),
                Some(l) if (1..=MAX_PAGE).contains(&l) => Some(l),
                Some(_) => None,
            };
            prop_assert_eq!(p.limit().ok(), want);
        }

        #[test]
        fn query_non_integers_are_refused(
            name in prop_oneof![Just("after"), Just("before"), Just("limit")],
            value in "[^0-9&=#+%-][^&=#%]{0,10}|[1-9][0-9]{19,24}|[0-9]+\\.[0-9]+",
        ) {
            prop_assert!(page(&format!("{name}={value}")).is_err(), "{}={} parsed", name, value);
        }
    }
}
