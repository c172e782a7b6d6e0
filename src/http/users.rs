//! /api/users… (admins only)

use actix_web::{web, HttpResponse};

use crate::app::App;
use crate::auth::Principal;
use crate::chat::admin;
use crate::error::AppError;
use crate::http::openapi::{DatabaseDown, NotAdmin, Unauthorized};
use crate::ids::UserId;
use crate::telemetry::SECURITY;
use crate::views::UserList;

#[utoipa::path(
    get,
    path = "/api/users",
    tag = "admin",
    summary = "List every account and bot (admins only)",
    responses(
        (status = 200, description = "Every account, in id order", body = UserList),
        Unauthorized,
        NotAdmin,
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn list(app: web::Data<App>, who: Principal) -> Result<HttpResponse, AppError> {
    let users = admin::users(&app, &who).await?;
    Ok(HttpResponse::Ok().json(UserList { users }))
}

#[utoipa::path(
    put,
    path = "/api/users/{id}/disabled",
    tag = "admin",
    summary = "Disable an account (admins only)",
    params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 204, description = "Disabled (again); its sessions end and its sockets close with 4001"),
        Unauthorized,
        NotAdmin,
        (status = 404, description = "No such user (`user-not-found`)", body = crate::error::Problem, content_type = "application/problem+json"),
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn disable(
    app: web::Data<App>,
    who: Principal,
    id: web::Path<UserId>,
) -> Result<HttpResponse, AppError> {
    let target = id.into_inner();
    admin::disable(&app, &who, target).await?;
    tracing::info!(target: SECURITY, event = "user.disabled", user = who.user_id.0, account = target.0, via = "api", "user disabled");
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    delete,
    path = "/api/users/{id}/disabled",
    tag = "admin",
    summary = "Enable a disabled account (admins only)",
    params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 204, description = "Enabled (or was not disabled); it may log in again"),
        Unauthorized,
        NotAdmin,
        (status = 404, description = "No such person (`user-not-found`; bots cannot be enabled)", body = crate::error::Problem, content_type = "application/problem+json"),
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn enable(
    app: web::Data<App>,
    who: Principal,
    id: web::Path<UserId>,
) -> Result<HttpResponse, AppError> {
    let target = id.into_inner();
    admin::enable(&app, &who, target).await?;
    tracing::info!(target: SECURITY, event = "user.enabled", user = who.user_id.0, account = target.0, via = "api", "user enabled");
    Ok(HttpResponse::NoContent().finish())
}
