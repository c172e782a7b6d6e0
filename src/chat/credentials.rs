//! One use case per way a credential ends: logout, log out everywhere, password changed (the
//! other sessions end) or reset by an operator (every session ends), user disabled, bot token
//! rotated, bot token revoked, bot deleted. Each ends it in the database first (so every
//! copy of the credential is dead before anyone hears of it), then forgets it on this
//! instance (evicts the credential cache, closes the sockets opened with it: 4001), then tells
//! the other instances on the bus, which do the same at once (`chat::peers`). Handlers and the
//! admin CLI call these and nothing else to end a credential.
//!
//! The bus may lose a message, or be down: then the others learn of a revocation from
//! `users.revoked_at` (polled by `server::watch_revocations`, which the admin CLI relies on
//! too), and of a logout when their cache entry expires (`auth_cache_ms`).

use crate::app::App;
use crate::auth::Principal;
use crate::bus::Control;
use crate::error::AppError;
use crate::ids::UserId;
use crate::realtime::close;
use crate::store::accounts::Keep;
use crate::store::{accounts, bots, sessions};

use super::accounts::check_password;
use super::bots::new_token;

/// Who ends a bot's credential: its owner (checked here) or an operator at the console.
#[derive(Debug, Clone, Copy)]
pub enum By<'a> {
    Owner(&'a Principal),
    Operator,
}

/// Logout: the caller's session ends (its row is deleted, every copy of the cookie dies) and
/// the sockets opened with it close, on every instance. A bearer-token caller has no
/// session: nothing ends.
pub async fn logout(app: &App, who: &Principal) -> Result<(), AppError> {
    let Some(sid) = &who.session_id else {
        return Ok(());
    };
    sessions::delete_by_sid(&app.db, sid).await?;
    forget_session(app, sid);
    app.bus
        .publish_control(Control::SessionEnded { sid: sid.clone() });
    Ok(())
}

/// Log out everywhere: ends every session of a person. The rows go first (every copy of
/// every cookie is dead before anyone hears of it), then every instance forgets its cached
/// sessions and closes its sockets (4001).
pub async fn log_out_everywhere(app: &App, who: &Principal) -> Result<usize, AppError> {
    if who.is_bot {
        return Err(AppError::Forbidden(
            "bots have no sessions: rotate or revoke the token instead",
        ));
    }
    let ended = sessions::delete_all_of_user(&app.db, who.user_id).await?;
    revoked(app, who.user_id);
    Ok(ended)
}

/// A person changes their own password: `current` must verify (after `throttle`, the login's
/// per-username limit, so this is no side door for guessing), then the new hash is stored and
/// every other session of theirs ends in the same transaction; those sessions' sockets close
/// (4001) on every instance. The caller's own session and sockets live on.
pub async fn change_password(
    app: &App,
    who: &Principal,
    current: String,
    new: String,
    throttle: impl AsyncFnOnce(&str) -> Result<(), AppError>,
) -> Result<usize, AppError> {
    let Some(sid) = who.session_id.clone().filter(|_| !who.is_bot) else {
        return Err(AppError::Forbidden(
            "only a person's session may change a password",
        ));
    };
    check_password("new", &new)?;
    throttle(&who.username).await?;
    let user = accounts::find(&app.db, who.user_id)
        .await?
        .filter(|u| u.disabled_at.is_none())
        .ok_or(AppError::Unauthenticated)?;
    if !app
        .passwords
        .verify(current, Some(user.password_hash))
        .await?
    {
        return Err(AppError::WrongPassword);
    }
    let hash = app.passwords.hash(new).await?;
    let ended = accounts::set_password(&app.db, who.user_id, &hash, Keep::Session(sid)).await?;
    for sid in &ended {
        forget_session(app, sid);
        app.bus
            .publish_control(Control::SessionEnded { sid: sid.clone() });
    }
    Ok(ended.len())
}

/// An operator sets a person's password: every session of theirs ends and every socket
/// closes (4001), on every instance (the bus, or the `revoked_at` poll).
pub async fn reset_password(app: &App, user: UserId, new: String) -> Result<usize, AppError> {
    check_password("password", &new)?;
    let hash = app.passwords.hash(new).await?;
    let ended = accounts::set_password(&app.db, user, &hash, Keep::Nothing).await?;
    revoked(app, user);
    Ok(ended.len())
}

/// User disabled (an operator's act): no more logins or tokens, every session deleted, every
/// socket closed.
pub async fn disable_user(app: &App, user: UserId) -> Result<(), AppError> {
    accounts::disable(&app.db, user).await?;
    revoked(app, user);
    Ok(())
}

/// Bot token rotated: a new token, shown once; the old one dies at once and the bot's sockets
/// close.
pub async fn rotate_bot_token(app: &App, by: By<'_>, bot: UserId) -> Result<String, AppError> {
    allowed(app, by, bot).await?;
    let (token, hash) = new_token();
    bots::set_token(&app.db, bot, Some(&hash)).await?;
    revoked(app, bot);
    Ok(token)
}

/// Bot token revoked: the bot cannot authenticate until its token is rotated again; its
/// sockets close.
pub async fn revoke_bot_token(app: &App, by: By<'_>, bot: UserId) -> Result<(), AppError> {
    allowed(app, by, bot).await?;
    bots::set_token(&app.db, bot, None).await?;
    revoked(app, bot);
    Ok(())
}

/// Bot deleted: it can no longer authenticate (its account is disabled); its messages stay,
/// attributed to it; its sockets close.
pub async fn delete_bot(app: &App, by: By<'_>, bot: UserId) -> Result<(), AppError> {
    allowed(app, by, bot).await?;
    accounts::disable(&app.db, bot).await?;
    revoked(app, bot);
    Ok(())
}

/// A revocation made here, once stored: forgotten here, then on every other instance.
fn revoked(app: &App, user: UserId) {
    forget_revoked(app, user);
    app.bus.publish_control(Control::UserRevoked { user });
}

/// The local half of every revocation: forgets the principal's cached credentials and closes
/// this instance's sockets of it. Also what an instance does when it learns of a revocation
/// made elsewhere (the bus, or the `revoked_at` poll).
pub fn forget_revoked(app: &App, user: UserId) {
    app.auth.forget_user(user);
    app.hub.close_user(user, close::SESSION_ENDED);
}

/// The local half of a logout (also for one made on another instance).
pub fn forget_session(app: &App, sid: &str) {
    app.auth.forget_sid(sid);
    app.hub.close_session(sid, close::SESSION_ENDED);
}

/// An owner may end their own live bots' credentials (bots may not manage bots); an operator
/// any bot's.
async fn allowed(app: &App, by: By<'_>, bot: UserId) -> Result<(), AppError> {
    let found = match by {
        By::Owner(who) if who.is_bot => return Err(AppError::Forbidden("bots cannot manage bots")),
        By::Owner(who) => bots::find_owned(&app.db, who.user_id, bot).await?,
        By::Operator => bots::find_by_id(&app.db, bot).await?,
    };
    found.ok_or(AppError::BotNotFound)?;
    Ok(())
}
