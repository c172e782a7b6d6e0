//! Invitations to register (`registration = "invite"`): admins (or operators at the console)
//! create them, with a number of uses and an expiry; the code is shown once (only its hash is
//! stored). A registration takes a use in its own transaction (`store::accounts::create`).

use serde::Deserialize;
use utoipa::ToSchema;

use crate::app::App;
use crate::auth::tokens::{hash_key, random_token};
use crate::auth::Principal;
use crate::error::AppError;
use crate::ids::{RoomId, UserId};
use crate::store::invites::{self, InviteRow};
use crate::store::now_ms;
use crate::views::{InviteJson, NewInviteJson};

use super::admin;

/// What an invite code starts with, so a leaked one is recognisable (as bots' `rcb_`).
const CODE_PREFIX: &str = "rci_";
pub const MAX_USES: i64 = 1000;
/// 30 days.
pub const MAX_EXPIRES_IN_SECS: i64 = 30 * 24 * 3600;

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewInvite {
    /// How many registrations it admits (default 1).
    #[schema(minimum = 1, maximum = 1000)]
    #[serde(default = "one", deserialize_with = "super::rooms::whole_number")]
    pub uses: i64,
    /// Seconds until it expires (default 7 days, at most 30 days).
    #[schema(minimum = 1, maximum = 2592000)]
    #[serde(default = "a_week", deserialize_with = "super::rooms::whole_number")]
    pub expires_in_secs: i64,
}

fn one() -> i64 {
    1
}

fn a_week() -> i64 {
    7 * 24 * 3600
}

/// An admin's new invite; the code is in the answer and nowhere else.
pub async fn create(
    app: &App,
    who: &Principal,
    input: NewInvite,
) -> Result<NewInviteJson, AppError> {
    admin::require(app, who).await?;
    create_by(app, Some(who), input).await
}

/// An invite made at the console (no account made it).
pub async fn create_by_operator(app: &App, input: NewInvite) -> Result<NewInviteJson, AppError> {
    create_by(app, None, input).await
}

async fn create_by(
    app: &App,
    who: Option<&Principal>,
    input: NewInvite,
) -> Result<NewInviteJson, AppError> {
    let (uses, expires_at) = terms(input.uses, input.expires_in_secs, "expires_in_secs", 1)?;
    let (code, row) = issue(app, who.map(|w| w.user_id), uses, expires_at, None).await?;
    Ok(NewInviteJson {
        code,
        invite: InviteJson::from(row),
    })
}

/// The one rule for an invite's terms, of both kinds: 1 to `MAX_USES` uses, a lifetime of
/// `min_secs` to `MAX_EXPIRES_IN_SECS` (`field` names it in a 422). Returns the uses and the
/// expiry time.
pub(crate) fn terms(
    uses: i64,
    expires_in_secs: i64,
    field: &'static str,
    min_secs: i64,
) -> Result<(i32, i64), AppError> {
    let uses = match i32::try_from(uses) {
        Ok(n) if (1..=MAX_USES).contains(&i64::from(n)) => n,
        _ => {
            return Err(AppError::validation(
                "uses",
                format!("must be between 1 and {MAX_USES}"),
            ))
        }
    };
    if !(min_secs..=MAX_EXPIRES_IN_SECS).contains(&expires_in_secs) {
        return Err(AppError::validation(
            field,
            format!("must be between {min_secs} and {MAX_EXPIRES_IN_SECS}"),
        ));
    }
    Ok((
        uses,
        now_ms().saturating_add(expires_in_secs.saturating_mul(1000)),
    ))
}

/// Stores a new invite (to register: `room` None; else to that room) and returns its code,
/// which exists nowhere else: only its hash is stored.
pub(crate) async fn issue(
    app: &App,
    by: Option<UserId>,
    uses: i32,
    expires_at: i64,
    room: Option<RoomId>,
) -> Result<(String, InviteRow), AppError> {
    let code = format!("{CODE_PREFIX}{}", random_token());
    let row = invites::create(&app.db, &hash_key(&code), by, uses, expires_at, room).await?;
    Ok((code, row))
}

pub async fn list(app: &App, who: &Principal) -> Result<Vec<InviteJson>, AppError> {
    admin::require(app, who).await?;
    list_all(app).await
}

pub async fn list_all(app: &App) -> Result<Vec<InviteJson>, AppError> {
    Ok(invites::list(&app.db, None)
        .await?
        .into_iter()
        .map(InviteJson::from)
        .collect::<Vec<_>>())
}

pub async fn revoke(app: &App, who: &Principal, id: i64) -> Result<(), AppError> {
    admin::require(app, who).await?;
    revoke_by_operator(app, id).await
}

pub async fn revoke_by_operator(app: &App, id: i64) -> Result<(), AppError> {
    Ok(invites::delete(&app.db, id, None).await?)
}

impl From<InviteRow> for InviteJson {
    fn from(r: InviteRow) -> Self {
        InviteJson {
            id: r.id,
            uses_left: r.uses_left,
            expires_at: crate::views::timestamp(r.expires_at),
            created_at: crate::views::timestamp(r.created_at),
            created_by: r.created_by,
        }
    }
}
