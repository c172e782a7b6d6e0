//! The JSON shapes clients see, built from store rows. HTTP answers and WebSocket frames share
//! them, so a message looks the same whichever way it arrives.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ids::{RoomId, Seq, UserId};
use crate::store::accounts::{Profile, UserSummary};
use crate::store::events::EventView;
use crate::store::membership::MemberRow;
use crate::store::rooms::RoomView;

/// RFC 3339 in UTC with milliseconds, from stored unix milliseconds.
pub fn timestamp(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserRef {
    #[schema(value_type = i64)]
    pub id: UserId,
    pub username: String,
    /// True for bots, so clients can mark their messages.
    pub bot: bool,
}

impl From<Profile> for UserRef {
    fn from(p: Profile) -> Self {
        UserRef {
            id: p.id,
            username: p.username,
            bot: p.is_bot,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountJson {
    #[schema(value_type = i64)]
    pub id: UserId,
    pub username: String,
    #[schema(format = DateTime)]
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoomJson {
    #[schema(value_type = i64)]
    pub id: RoomId,
    pub name: String,
    pub owner: UserRef,
    pub capacity: i32,
    pub member_count: i32,
    #[schema(value_type = i64)]
    pub last_seq: Seq,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Whether the caller is a member.
    pub joined: bool,
    /// `private` rooms are shown only to their members (DMs always are).
    pub visibility: Visibility,
    /// `dm`: a direct message between two people (capacity 2, members fixed).
    pub kind: RoomKind,
    /// A DM's other member, as the caller sees it (absent for rooms, and for a DM the
    /// caller is not in).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub peer: Option<PeerJson>,
    /// The caller's read marker (members only; absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>, required = false)]
    pub last_read_seq: Option<Seq>,
    /// Messages by others after the marker that are not deleted (members only; absent
    /// otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub unread: Option<i64>,
}

/// Who sees a room: everyone signed in, or only its members.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    #[default]
    Public,
    Private,
}

/// A room for many, or a direct message between two people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoomKind {
    Room,
    Dm,
}

/// The other member of a DM.
#[derive(Debug, Serialize, ToSchema)]
pub struct PeerJson {
    #[schema(value_type = i64)]
    pub id: UserId,
    pub username: String,
}

impl From<RoomView> for RoomJson {
    fn from(v: RoomView) -> Self {
        RoomJson {
            id: v.room.id,
            name: v.room.name,
            owner: UserRef::from(v.owner),
            capacity: v.room.capacity,
            member_count: v.room.member_count,
            last_seq: v.room.last_seq,
            created_at: timestamp(v.room.created_at),
            joined: v.joined,
            visibility: if v.room.is_private {
                Visibility::Private
            } else {
                Visibility::Public
            },
            kind: if v.room.is_dm {
                RoomKind::Dm
            } else {
                RoomKind::Room
            },
            peer: v.peer.map(|p| PeerJson {
                id: p.id,
                username: p.username,
            }),
            last_read_seq: v.read.map(|r| r.last_read_seq),
            unread: v.read.map(|r| r.unread(v.room.message_count)),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageJson {
    pub id: i64,
    #[schema(value_type = i64)]
    pub room_id: RoomId,
    #[schema(value_type = i64)]
    pub seq: Seq,
    pub author: UserRef,
    /// The latest text; null once the message is deleted (a tombstone: the text is erased).
    pub content: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// When the content was last edited; null if never.
    #[schema(format = DateTime)]
    pub edited_at: Option<String>,
    /// When the message was deleted; null if it was not.
    #[schema(format = DateTime)]
    pub deleted_at: Option<String>,
}

/// A stored `message.created` row without content that was not deleted, or an edit or a
/// deletion without the message it changes: the store's invariant is broken.
#[derive(Debug, thiserror::Error)]
pub enum MissingContent {
    #[error("event {0} is a message without content")]
    Content(i64),
    #[error("event {0} changes no message")]
    Target(i64),
}

impl TryFrom<&EventView> for MessageJson {
    type Error = MissingContent;

    fn try_from(v: &EventView) -> Result<Self, MissingContent> {
        let e = &v.event;
        if e.content.is_none() && e.deleted_at.is_none() {
            return Err(MissingContent::Content(e.id));
        }
        Ok(MessageJson {
            id: e.id,
            room_id: e.room_id,
            seq: e.seq,
            author: UserRef::from(v.actor.clone()),
            content: e.content.clone(),
            created_at: timestamp(e.created_at),
            edited_at: e.edited_at.map(timestamp),
            deleted_at: e.deleted_at.map(timestamp),
        })
    }
}

/// The `data` of a `message.updated` frame: the message's new content, by its author.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageUpdatedJson {
    /// The message's `id`.
    pub message_id: i64,
    /// Null when the message was deleted since (the text of its edits is erased too).
    pub content: Option<String>,
    #[schema(format = DateTime)]
    pub edited_at: String,
    pub by: UserRef,
}

/// The `data` of a `message.deleted` frame.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageDeletedJson {
    /// The message's `id`.
    pub message_id: i64,
    #[schema(format = DateTime)]
    pub deleted_at: String,
    /// The author, or the room's owner.
    pub by: UserRef,
}

/// The `data` of a `reaction.added` or `reaction.removed` frame.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReactionEventJson {
    /// The message's `id`.
    pub message_id: i64,
    pub emoji: String,
    pub user: UserRef,
}

impl TryFrom<&EventView> for ReactionEventJson {
    type Error = MissingContent;

    fn try_from(v: &EventView) -> Result<Self, MissingContent> {
        Ok(ReactionEventJson {
            message_id: v
                .event
                .target_id
                .ok_or(MissingContent::Target(v.event.id))?,
            emoji: v
                .event
                .content
                .clone()
                .ok_or(MissingContent::Content(v.event.id))?,
            user: UserRef::from(v.actor.clone()),
        })
    }
}

/// One emoji's reactions to a message, as the caller sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ReactionJson {
    pub emoji: String,
    pub count: i64,
    /// Whether the caller is among them.
    pub me: bool,
}

/// A message as history lists it: with its reactions, counted for the caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListedMessageJson {
    #[serde(flatten)]
    pub message: MessageJson,
    /// By count, most first, then by emoji. Absent when there are none (always for a
    /// deleted message), so a listed message without reactions is the message as sent.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    pub reactions: Vec<ReactionJson>,
}

impl TryFrom<&EventView> for MessageUpdatedJson {
    type Error = MissingContent;

    fn try_from(v: &EventView) -> Result<Self, MissingContent> {
        Ok(MessageUpdatedJson {
            message_id: v
                .event
                .target_id
                .ok_or(MissingContent::Target(v.event.id))?,
            content: v.event.content.clone(),
            edited_at: timestamp(v.event.created_at),
            by: UserRef::from(v.actor.clone()),
        })
    }
}

impl TryFrom<&EventView> for MessageDeletedJson {
    type Error = MissingContent;

    fn try_from(v: &EventView) -> Result<Self, MissingContent> {
        Ok(MessageDeletedJson {
            message_id: v
                .event
                .target_id
                .ok_or(MissingContent::Target(v.event.id))?,
            deleted_at: timestamp(v.event.created_at),
            by: UserRef::from(v.actor.clone()),
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberJson {
    #[schema(value_type = i64)]
    pub id: UserId,
    pub username: String,
    pub bot: bool,
    #[schema(format = DateTime)]
    pub joined_at: String,
}

impl From<MemberRow> for MemberJson {
    fn from(m: MemberRow) -> Self {
        MemberJson {
            id: m.user.id,
            username: m.user.username,
            bot: m.user.is_bot,
            joined_at: timestamp(m.joined_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoomList {
    pub rooms: Vec<RoomJson>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberList {
    pub members: Vec<MemberJson>,
}

/// The members with a socket open on the room now, on any instance, by id.
#[derive(Debug, Serialize, ToSchema)]
pub struct PresenceList {
    pub members: Vec<UserRef>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageList {
    /// Ascending by seq.
    pub messages: Vec<ListedMessageJson>,
}

/// The caller, as `GET /api/me` shows them.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeJson {
    #[schema(value_type = i64)]
    pub id: UserId,
    pub username: String,
    pub bot: bool,
    /// Whether the caller may use the admin endpoints.
    pub admin: bool,
}

/// An account as admins see it (`GET /api/users`).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserJson {
    #[schema(value_type = i64)]
    pub id: UserId,
    pub username: String,
    pub bot: bool,
    pub admin: bool,
    pub disabled: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<UserSummary> for UserJson {
    fn from(u: UserSummary) -> Self {
        UserJson {
            id: u.id,
            username: u.username,
            bot: u.is_bot,
            admin: u.is_admin,
            disabled: u.disabled_at.is_some(),
            created_at: timestamp(u.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<UserJson>,
}

/// An invite to register, as admins see it (never its code).
#[derive(Debug, Serialize, ToSchema)]
pub struct InviteJson {
    pub id: i64,
    /// Registrations it still admits.
    pub uses_left: i32,
    #[schema(format = DateTime)]
    pub expires_at: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// The admin who made it; null for one made with the CLI.
    #[schema(value_type = Option<i64>)]
    pub created_by: Option<UserId>,
}

/// A new invite: the code, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewInviteJson {
    /// Give it to the person; registration takes it as `invite`.
    pub code: String,
    #[serde(flatten)]
    pub invite: InviteJson,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InviteList {
    pub invites: Vec<InviteJson>,
}

/// An invite to a room, as its owner (or an admin) sees it (never its code).
#[derive(Debug, Serialize, ToSchema)]
pub struct RoomInviteJson {
    pub id: i64,
    #[schema(value_type = i64)]
    pub room_id: RoomId,
    /// Joins it still admits.
    pub uses_left: i32,
    #[schema(format = DateTime)]
    pub expires_at: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Who made it (the owner, or an admin).
    #[schema(value_type = Option<i64>)]
    pub created_by: Option<UserId>,
}

/// A new invite to a room: the code, shown this once, and the page's link to it.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewRoomInviteJson {
    /// Give it to the person: `POST /api/room-invites/accept` takes it.
    pub code: String,
    /// The browser page's link that accepts it: `/#/invite/<code>`.
    pub url: String,
    #[serde(flatten)]
    pub invite: RoomInviteJson,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoomInviteList {
    pub invites: Vec<RoomInviteJson>,
}
