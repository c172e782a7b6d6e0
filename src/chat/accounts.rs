//! Registration and credential checks.

use serde::Deserialize;
use utoipa::ToSchema;

use super::views::{timestamp, AccountJson};
use super::App;
use crate::error::AppError;
use crate::store::accounts::{self, User};

#[derive(Debug, Deserialize, ToSchema)]
pub struct Credentials {
    /// 3-32 characters of A-Z a-z 0-9 _ . - (compared case-insensitively).
    #[schema(min_length = 3, max_length = 32, pattern = r"^[A-Za-z0-9_.-]{3,32}$")]
    pub username: String,
    /// At least 8 characters, at most 1024 bytes of UTF-8.
    #[schema(min_length = 8, max_length = 1024)]
    pub password: String,
}

/// Usernames (and bot names) exactly as `text::NAME_PATTERN` says: no trimming, no other
/// characters. Compared case-insensitively by storing them lowercased.
pub fn normalize_username(raw: &str) -> Result<String, AppError> {
    let valid_chars = raw
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if !(3..=32).contains(&raw.len()) || !valid_chars {
        return Err(AppError::validation(
            "username",
            "must be 3-32 characters of a-z, 0-9, '_', '.', '-'",
        ));
    }
    Ok(raw.to_ascii_lowercase())
}

/// The minimum counts characters (what a person types), the maximum bytes (what hashing
/// costs); a schema's minLength/maxLength of 8/1024 characters implies both.
fn check_password(password: &str) -> Result<(), AppError> {
    if password.chars().count() < 8 || password.len() > 1024 {
        return Err(AppError::validation(
            "password",
            "must be at least 8 characters and at most 1024 bytes",
        ));
    }
    Ok(())
}

pub async fn register(app: &App, input: Credentials) -> Result<AccountJson, AppError> {
    let username = normalize_username(&input.username)?;
    check_password(&input.password)?;
    let hash = app.passwords.hash(input.password).await?;
    let user = accounts::create(&app.db, &username, &hash).await?;
    Ok(AccountJson {
        id: user.id,
        username: user.username,
        created_at: timestamp(user.created_at),
    })
}

/// The user, if the credentials match. Unknown names and wrong passwords fail alike, in the
/// same time (a dummy hash is verified for unknown names).
pub async fn authenticate(app: &App, input: Credentials) -> Result<User, AppError> {
    // A name that could never be registered cannot log in either, but is still hashed against.
    let username = normalize_username(&input.username).unwrap_or_default();
    let user = if username.is_empty() {
        None
    } else {
        accounts::find_by_username(&app.db, &username).await?
    };
    // Disabled accounts and bots (which have no password) cannot log in.
    let user = user.filter(|u| u.disabled_at.is_none() && !u.is_bot);
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    if app.passwords.verify(input.password, stored).await? {
        user.ok_or(AppError::InvalidCredentials)
    } else {
        Err(AppError::InvalidCredentials)
    }
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
