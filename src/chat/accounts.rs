//! Registration and credential checks.

use serde::Deserialize;
use utoipa::ToSchema;

use crate::app::App;
use crate::auth::tokens::hash_key;
use crate::config::Registration;
use crate::error::AppError;
use crate::ids::UserId;
pub use crate::store::accounts::Grant;
use crate::store::accounts::{self, User, UserSummary};
use crate::views::{timestamp, AccountJson};

#[derive(Debug, Deserialize, ToSchema)]
pub struct Credentials {
    /// 3-32 characters of A-Z a-z 0-9 _ . - (compared case-insensitively).
    #[schema(min_length = 3, max_length = 32, pattern = r"^[A-Za-z0-9_.-]{3,32}$")]
    pub username: String,
    /// At least 8 characters, at most 1024 bytes of UTF-8.
    #[schema(min_length = 8, max_length = 1024)]
    pub password: String,
}

/// A registration: credentials, and an invite code where the server asks for one.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewAccount {
    /// 3-32 characters of A-Z a-z 0-9 _ . - (compared case-insensitively).
    #[schema(min_length = 3, max_length = 32, pattern = r"^[A-Za-z0-9_.-]{3,32}$")]
    pub username: String,
    /// At least 8 characters, at most 1024 bytes of UTF-8.
    #[schema(min_length = 8, max_length = 1024)]
    pub password: String,
    /// An invite code from an admin: required when the server's `registration` is `invite`,
    /// ignored otherwise.
    #[serde(default)]
    pub invite: Option<String>,
}

/// Who asks for a new account: the public API (which `registration` governs) or an operator
/// at the console (always allowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Api,
    Operator,
}

/// Usernames (and bot names) exactly as `text::NAME_PATTERN` says: no trimming, no other
/// characters. Compared case-insensitively by storing them lowercased.
pub fn normalize_username(raw: &str) -> Result<String, AppError> {
    normalize_name("username", raw)
}

/// `normalize_username` for a name sent as `field` (a bot's is `name`).
pub fn normalize_name(field: &'static str, raw: &str) -> Result<String, AppError> {
    let valid_chars = raw
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if !(3..=32).contains(&raw.len()) || !valid_chars {
        return Err(AppError::validation(
            field,
            "must be 3-32 characters of a-z, 0-9, '_', '.', '-'",
        ));
    }
    Ok(raw.to_ascii_lowercase())
}

/// Bytes: what hashing costs. Also checked at login, before any hashing.
const PASSWORD_MAX_BYTES: usize = 1024;

/// The minimum counts characters (what a person types), the maximum bytes (what hashing
/// costs); a schema's minLength/maxLength of 8/1024 characters implies both.
pub(crate) fn check_password(field: &'static str, password: &str) -> Result<(), AppError> {
    if password.chars().count() < 8 || password.len() > PASSWORD_MAX_BYTES {
        return Err(AppError::validation(
            field,
            "must be at least 8 characters and at most 1024 bytes",
        ));
    }
    Ok(())
}

/// A new account: an admin if `grant` says so, or if it is the server's first. Through the
/// API, `registration` decides: open, an invite's use taken in the account's own transaction,
/// or closed (403 `registration-closed`).
pub async fn register(
    app: &App,
    input: NewAccount,
    grant: Grant,
    via: Via,
) -> Result<AccountJson, AppError> {
    let invite = match (via, app.config.registration) {
        (Via::Operator, _) | (Via::Api, Registration::Open) => None,
        (Via::Api, Registration::Closed) => return Err(AppError::RegistrationClosed),
        (Via::Api, Registration::Invite) => match input.invite.as_deref() {
            Some(code) if !code.is_empty() => Some(hash_key(code)),
            _ => {
                return Err(AppError::InviteInvalid(
                    "registration on this server needs an invite code",
                ))
            }
        },
    };
    let username = normalize_username(&input.username)?;
    check_password("password", &input.password)?;
    let hash = app.passwords.hash(input.password).await?;
    let user = accounts::create(&app.db, &username, &hash, grant, invite).await?;
    Ok(AccountJson {
        id: user.id,
        username: user.username,
        created_at: timestamp(user.created_at),
    })
}

/// The user, if the credentials match. Unknown names and wrong passwords fail alike, in the
/// same time (a dummy hash is verified for unknown names).
///
/// Cheap refusals come first, before any hash: a password longer than registration allows
/// (422), and a username whose attempts are used up (429, counted per name whatever the
/// client's address, known names and unknown alike: `throttle` is the HTTP layer's limiter).
pub async fn authenticate(
    app: &App,
    input: Credentials,
    throttle: impl AsyncFnOnce(&str) -> Result<(), AppError>,
) -> Result<User, AppError> {
    if input.password.len() > PASSWORD_MAX_BYTES {
        return Err(AppError::validation(
            "password",
            "must be at least 8 characters and at most 1024 bytes",
        ));
    }
    // A name that could never be registered cannot log in either, but is still hashed against.
    let username = normalize_username(&input.username).unwrap_or_default();
    let user = if username.is_empty() {
        None
    } else {
        throttle(&username).await?;
        accounts::find_by_username(&app.db, &username).await?
    };
    // Disabled accounts and bots (which have no password) cannot log in.
    let user = user.filter(|u| u.disabled_at.is_none() && !u.is_bot);
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let password = input.password;
    // Kept for a rehash only when one is due (a rare, one-time cost per account).
    let rehash = stored
        .as_deref()
        .is_some_and(|s| app.passwords.needs_rehash(s))
        .then(|| password.clone());
    if !app.passwords.verify(password, stored).await? {
        return Err(AppError::InvalidCredentials);
    }
    let user = user.ok_or(AppError::InvalidCredentials)?;
    if let Some(password) = rehash {
        upgrade_hash(app, &user, password).await;
    }
    Ok(user)
}

/// Stores a hash at the configured cost in place of a weaker one. Best effort: the login has
/// succeeded already, and the next one tries again. The swap is conditional on the old hash,
/// so a password changed meanwhile is never overwritten.
async fn upgrade_hash(app: &App, user: &User, password: String) {
    // `?`, not `map_err(AppError::from)`: through a fn pointer `#[track_caller]` would record
    // a line in core as the fault's call site, not this one.
    let result: Result<_, AppError> = async {
        let hash = app.passwords.hash(password).await?;
        Ok(accounts::replace_password_hash(&app.db, user.id, &user.password_hash, &hash).await?)
    }
    .await;
    match result {
        Ok(_) => tracing::info!(
            user = user.id.0,
            "password hash upgraded to the configured cost"
        ),
        Err(e) => {
            tracing::warn!(user = user.id.0, error = %e.report(), "password hash upgrade failed")
        }
    }
}

/// An account's id by username (any kind, disabled or not), for operators.
pub async fn find_id(app: &App, username: &str) -> Result<Option<UserId>, AppError> {
    let name = normalize_username(username)?;
    Ok(accounts::find_by_username(&app.db, &name)
        .await?
        .map(|user| user.id))
}

/// Every account and bot, for operators.
pub async fn list_all(app: &App) -> Result<Vec<UserSummary>, AppError> {
    Ok(accounts::list(&app.db).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert_eq!(normalize_username("Alice").ok(), Some("alice".into()));
        assert!(normalize_username(" alice").is_err());
        // The Kelvin sign lowercases to an ASCII k; it is still not an ASCII letter.
        assert!(normalize_username("\u{212A}elvin").is_err());
        assert!(normalize_username("ab").is_err());
        assert!(normalize_username("a b c").is_err());
        assert!(normalize_username(&"x".repeat(33)).is_err());
        assert!(normalize_username("ok_name.-1").is_ok());
        assert!(normalize_username("émile").is_err());
    }
}
