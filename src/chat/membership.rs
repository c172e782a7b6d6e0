//! Join, leave, remove, ban, list.

use crate::app::App;
use crate::auth::Principal;
use crate::bus::{Control, Interest};
use crate::error::AppError;
use crate::ids::{RoomId, UserId};
use crate::realtime::{close, users, Frame};
use crate::store::accounts::Profile;
use crate::store::events::{EventRow, EventView};
use crate::store::membership::Admission;
use crate::store::rooms::Viewer;
use crate::store::{membership, rooms, Rejection, StoreError};

use super::admin;
use super::rooms::{conceal, ensure_visible};
use crate::views::{MemberJson, RoomJson};

/// Whether a join seated the caller now or found them already seated.
pub enum Joined {
    Now(RoomJson),
    Already(RoomJson),
}

/// `who` joins on their own: public rooms only (a private room they are not in is 404).
pub async fn join(app: &App, who: &Principal, room: RoomId) -> Result<Joined, AppError> {
    let event = membership::join(&app.db, room, who.user_id, Admission::Open).await?;
    joined(
        app,
        who,
        room,
        event.map(|event| (event, who.profile())),
        false,
    )
    .await
}

/// After a seat was taken (or found taken): publishes `member.joined` of `seated`, if any,
/// and answers the room as `who` now sees it (`moderator`: or as an operator does, for an
/// admin who seated someone else).
pub(crate) async fn joined(
    app: &App,
    who: &Principal,
    room: RoomId,
    seated: Option<(EventRow, Profile)>,
    moderator: bool,
) -> Result<Joined, AppError> {
    let newly = seated.is_some();
    // Whoever took the seat: the caller, or the member an owner or admin added.
    let seated_user = seated.as_ref().map(|(_, actor)| actor.id);
    if let Some((event, actor)) = seated {
        app.publish(Frame::from_event(&EventView { event, actor }));
    }
    let mut views = rooms::views(&app.db, Viewer::User(who.user_id), Some(room)).await?;
    if views.is_empty() && moderator {
        // An admin who added someone to a private room they are not in: the room as an
        // operator sees it (`joined` false).
        views = rooms::views(&app.db, Viewer::Operator, Some(room)).await?;
    }
    let view = views
        .into_iter()
        .next()
        .map(RoomJson::from)
        .ok_or(AppError::RoomNotFound)?;
    match seated_user {
        Some(user) if user == who.user_id => {
            app.notify_user(user, Interest::Joined(room), users::room_added(&view));
        }
        // Added by someone else: the room as the added member sees it.
        Some(user) => {
            let theirs = rooms::views(&app.db, Viewer::User(user), Some(room)).await?;
            if let Some(theirs) = theirs.into_iter().next().map(RoomJson::from) {
                app.notify_user(user, Interest::Joined(room), users::room_added(&theirs));
            }
        }
        None => {}
    }
    Ok(if newly {
        Joined::Now(view)
    } else {
        Joined::Already(view)
    })
}

/// `who` takes `target` out of the room (themselves, or anyone if `who` owns it or is an
/// admin).
/// Leaving when not a member is a no-op, so retries are safe. The target's sockets close 4003,
/// on every instance.
pub async fn remove(
    app: &App,
    who: &Principal,
    room: RoomId,
    target: UserId,
) -> Result<(), AppError> {
    // Admin rights are only read when the owner's condition failed.
    let left = match membership::leave(&app.db, room, target, Some(who.user_id)).await {
        Err(StoreError::Rejected(Rejection::NotOwner)) if admin::is_admin(app, who).await? => {
            membership::leave(&app.db, room, target, None).await
        }
        left => left,
    };
    let left = conceal(
        app,
        who,
        room,
        target != who.user_id,
        left.map_err(AppError::from),
    )
    .await?;
    let Some(event) = left else {
        // Not a member: a no-op, unless the room is private and the caller not in it.
        if target == who.user_id {
            ensure_visible(app, who, room).await?;
        }
        return Ok(());
    };
    app.publish(Frame::from_event(&event));
    app.hub.close_member(room, target, close::NOT_A_MEMBER);
    app.bus
        .publish_control(Control::MemberRemoved { room, user: target });
    app.notify_user(target, Interest::Left(room), users::room_removed(room));
    Ok(())
}

/// An operator takes `target` out of a room (not its owner): `member.left`, their sockets
/// close 4003 here and on every instance. A no-op if they were not in it.
pub async fn remove_by_operator(app: &App, room: RoomId, target: UserId) -> Result<(), AppError> {
    if let Some(event) = membership::leave(&app.db, room, target, None).await? {
        app.publish(Frame::from_event(&event));
        app.hub.close_member(room, target, close::NOT_A_MEMBER);
        app.bus
            .publish_control(Control::MemberRemoved { room, user: target });
    }
    Ok(())
}

/// The owner (or an admin) bans `target`: removed at once if a member (`member.left`, their
/// sockets close 4003 on every instance), and refused every later join (403 `banned`) until
/// the ban is lifted.
pub async fn ban(app: &App, who: &Principal, room: RoomId, target: UserId) -> Result<(), AppError> {
    // Admin rights are only read when the owner's condition failed.
    let left = match membership::ban(&app.db, room, target, Some(who.user_id)).await {
        Err(StoreError::Rejected(Rejection::NotOwner)) if admin::is_admin(app, who).await? => {
            membership::ban(&app.db, room, target, None).await
        }
        left => left,
    };
    let left = conceal(app, who, room, true, left.map_err(AppError::from)).await?;
    if let Some(event) = left {
        app.publish(Frame::from_event(&event));
        app.notify_user(target, Interest::Left(room), users::room_removed(room));
    }
    // Also when no membership ended here: a join racing the ban may have just been undone.
    app.hub.close_member(room, target, close::NOT_A_MEMBER);
    app.bus
        .publish_control(Control::MemberRemoved { room, user: target });
    Ok(())
}

/// The owner (or an admin) lifts a ban; a no-op if there is none.
pub async fn unban(
    app: &App,
    who: &Principal,
    room: RoomId,
    target: UserId,
) -> Result<(), AppError> {
    let done = match membership::unban(&app.db, room, target, Some(who.user_id)).await {
        Err(StoreError::Rejected(Rejection::NotOwner)) if admin::is_admin(app, who).await? => {
            membership::unban(&app.db, room, target, None).await
        }
        done => done,
    };
    conceal(app, who, room, true, done.map_err(AppError::from)).await
}

/// Members of a room `who` may see (public, or private and a member).
pub async fn list(app: &App, who: &Principal, room: RoomId) -> Result<Vec<MemberJson>, AppError> {
    ensure_visible(app, who, room).await?;
    // An empty list is impossible for an existing room (the owner is always in it).
    let members = membership::list(&app.db, room).await?;
    if members.is_empty() {
        return Err(AppError::RoomNotFound);
    }
    Ok(members.into_iter().map(MemberJson::from).collect())
}
