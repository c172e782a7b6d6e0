//! Registration and credential checks.

use serde::Deserialize;
use utoipa::ToSchema;

use super::views::{timestamp, AccountJson};
use super::App;
use crate::error::AppError;
use crate::store::accounts::{self, User};

#[derive(Debug, Deserialize, ToSchema)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// Usernames are compared case-insensitively by storing them lowercased.
pub fn normalize_username(raw: &str) -> Result<String, AppError> {
    let name = raw.trim().to_lowercase();
    let valid_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'));
    if !(3..=32).contains(&name.len()) || !valid_chars {
        return Err(AppError::validation(
            "username",
            "must be 3-32 characters of a-z, 0-9, '_', '.', '-'",
        ));
    }
    Ok(name)
}

fn check_password(password: &str) -> Result<(), AppError> {
    if !(8..=1024).contains(&password.len()) {
        return Err(AppError::validation("password", "must be 8-1024 bytes"));
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
        assert_eq!(normalize_username(" Alice ").ok(), Some("alice".into()));
        assert!(normalize_username("ab").is_err());
        assert!(normalize_username("a b c").is_err());
        assert!(normalize_username(&"x".repeat(33)).is_err());
        assert!(normalize_username("ok_name.-1").is_ok());
        assert!(normalize_username("émile").is_err());
    }
}
