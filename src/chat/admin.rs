//! What only admins may do: see every account, disable and enable accounts. (Deleting any
//! room and removing any member are the rooms' and members' own rules, which ask `is_admin`
//! when the caller is not the owner.)
//!
//! Admin rights are read from the database at every admin action, never cached: a right
//! withdrawn (`roomcast user admin NAME off`) or an admin disabled counts at once, on every
//! instance.

use crate::app::App;
use crate::auth::Principal;
use crate::error::AppError;
use crate::ids::UserId;
use crate::store::{accounts, bots, membership};
use crate::views::UserJson;

use super::credentials;

/// Whether the caller is a live admin (bots never are).
pub async fn is_admin(app: &App, who: &Principal) -> Result<bool, AppError> {
    Ok(!who.is_bot && accounts::is_admin(&app.db, who.user_id).await?)
}

/// 403 `not-admin` unless the caller is an admin.
pub async fn require(app: &App, who: &Principal) -> Result<(), AppError> {
    if is_admin(app, who).await? {
        Ok(())
    } else {
        Err(AppError::NotAdmin)
    }
}

/// Every account and bot.
pub async fn users(app: &App, who: &Principal) -> Result<Vec<UserJson>, AppError> {
    require(app, who).await?;
    Ok(accounts::list(&app.db)
        .await?
        .into_iter()
        .map(UserJson::from)
        .collect())
}

/// Disables an account (a person or a bot): as `roomcast user disable` does. An admin cannot
/// disable themselves (nor so lock the last admin out).
pub async fn disable(app: &App, who: &Principal, target: UserId) -> Result<(), AppError> {
    require(app, who).await?;
    if target == who.user_id {
        return Err(AppError::Forbidden(
            "an admin cannot disable their own account",
        ));
    }
    credentials::disable_user(app, target).await
}

/// Enables a disabled person again (they log in anew: their sessions ended when disabled).
pub async fn enable(app: &App, who: &Principal, target: UserId) -> Result<(), AppError> {
    require(app, who).await?;
    enable_by_operator(app, target).await
}

/// Enables a disabled person, for an operator at the console.
pub async fn enable_by_operator(app: &App, target: UserId) -> Result<(), AppError> {
    Ok(accounts::enable(&app.db, target).await?)
}

/// What deleting an account did.
#[derive(Debug, Default)]
pub struct Deleted {
    /// Rooms it owned, and its DMs: deleted (sockets get `room.deleted`, close 4004).
    pub rooms_deleted: usize,
    /// Rooms it was a member of: left (`member.left`).
    pub rooms_left: usize,
    /// Its bots: deleted as their owner would (messages stay).
    pub bots_deleted: usize,
}

/// Deletes an account (an operator's act, `roomcast user delete`): its credentials end first
/// (sessions, tokens; sockets close 4001 on every instance), its name is freed (the row stays
/// as `deleted-<id>`, so its messages stay, attributed to that name), the rooms it owns and
/// its DMs are deleted, it leaves every other room (`member.left`), and its bots are deleted.
/// Each step is idempotent: a run cut short is finished by running it again.
pub async fn delete_user(app: &App, target: UserId) -> Result<Deleted, AppError> {
    accounts::tombstone(&app.db, target).await?;
    credentials::forget_revoked(app, target);
    app.bus
        .publish_control(crate::bus::Control::UserRevoked { user: target });
    let mut done = Deleted::default();
    for (room, owner, is_dm) in membership::rooms_of(&app.db, target).await? {
        if owner == target || is_dm {
            match super::rooms::delete_by_operator(app, room).await {
                Ok(_) | Err(AppError::RoomNotFound) => done.rooms_deleted += 1,
                Err(e) => return Err(e),
            }
        } else {
            super::membership::remove_by_operator(app, room, target).await?;
            done.rooms_left += 1;
        }
    }
    for bot in bots::list(&app.db, Some(target)).await? {
        credentials::delete_bot(app, credentials::By::Operator, bot.id).await?;
        done.bots_deleted += 1;
    }
    Ok(done)
}

/// Grants or withdraws admin rights (operators only: there is no API for it).
pub async fn set_admin(app: &App, target: UserId, admin: bool) -> Result<(), AppError> {
    Ok(accounts::set_admin(&app.db, target, admin).await?)
}
