//! /api/invites… (admins only): invitations to register.

use actix_web::{web, HttpResponse};

use crate::app::App;
use crate::auth::Principal;
use crate::chat::invites::{self, NewInvite};
use crate::error::{AppError, Problem};
use crate::http::body::JsonObject;
use crate::http::openapi::{BadBody, DatabaseDown, NotAdmin, Unauthorized};
use crate::telemetry::SECURITY;
use crate::views::{InviteList, NewInviteJson};

#[utoipa::path(
    post,
    path = "/api/invites",
    tag = "admin",
    summary = "Create an invite to register (admins only)",
    request_body = NewInvite,
    responses(
        (status = 201, description = "Created; the code is shown this once", body = NewInviteJson),
        Unauthorized,
        NotAdmin,
        BadBody,
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn create(
    app: web::Data<App>,
    who: Principal,
    body: JsonObject<NewInvite>,
) -> Result<HttpResponse, AppError> {
    let made = invites::create(&app, &who, body.into_inner()).await?;
    tracing::info!(target: SECURITY, event = "invite.created", user = who.user_id.0, invite = made.invite.id, uses = made.invite.uses_left, "invite created");
    Ok(HttpResponse::Created().json(made))
}

#[utoipa::path(
    get,
    path = "/api/invites",
    tag = "admin",
    summary = "List invites (admins only)",
    responses(
        (status = 200, description = "Every invite, newest first, without codes", body = InviteList),
        Unauthorized,
        NotAdmin,
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn list(app: web::Data<App>, who: Principal) -> Result<HttpResponse, AppError> {
    let invites = invites::list(&app, &who).await?;
    Ok(HttpResponse::Ok().json(InviteList { invites }))
}

#[utoipa::path(
    delete,
    path = "/api/invites/{id}",
    tag = "admin",
    summary = "Revoke an invite (admins only)",
    params(("id" = i64, Path, description = "Invite id")),
    responses(
        (status = 204, description = "Revoked: its code no longer registers anyone"),
        Unauthorized,
        NotAdmin,
        (status = 404, description = "No such invite (`invite-not-found`)", body = Problem, content_type = "application/problem+json"),
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn revoke(
    app: web::Data<App>,
    who: Principal,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    invites::revoke(&app, &who, id).await?;
    tracing::info!(target: SECURITY, event = "invite.revoked", user = who.user_id.0, invite = id, "invite revoked");
    Ok(HttpResponse::NoContent().finish())
}
