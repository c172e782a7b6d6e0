//! /api/bots

use crate::error::Problem;
use crate::http::openapi::{BadBody, BotNotFound, BotsForbidden, DatabaseDown, Unauthorized};
use actix_web::{web, HttpRequest, HttpResponse};

use crate::app::App;
use crate::auth::Principal;
use crate::chat::bots::{self, BotList, BotWithToken, NewBot, TokenJson};
use crate::chat::credentials::{self, By};
use crate::error::AppError;
use crate::http::body::JsonObject;
use crate::http::rate_limit::{Limits, Tell};
use crate::ids::UserId;
use crate::telemetry::SECURITY;

/// 201 with the bot and its token; the token is never shown again.
#[utoipa::path(
    post,
    path = "/api/bots",
    tag = "bots",
    summary = "Create a bot",
    request_body = NewBot,
    responses(
        (status = 201, description = "Created; the token is shown only here", body = BotWithToken),
        Unauthorized,
        BotsForbidden,
        (status = 409, description = "Name taken (`username-taken`)", body = Problem, content_type = "application/problem+json"),
        BadBody,
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn create(
    req: HttpRequest,
    app: web::Data<App>,
    limits: web::Data<Limits>,
    who: Principal,
    body: JsonObject<NewBot>,
) -> Result<HttpResponse, AppError> {
    limits
        .create_bot
        .charge(&req, &who.user_id, Tell::Successes)
        .await?;
    let created = bots::create(&app, &who, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(created))
}

#[utoipa::path(
    get,
    path = "/api/bots",
    tag = "bots",
    summary = "List my bots",
    responses(
        (status = 200, description = "The caller's bots", body = BotList),
        Unauthorized,
        BotsForbidden,
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn list(app: web::Data<App>, who: Principal) -> Result<HttpResponse, AppError> {
    let list = bots::list(&app, &who).await?;
    Ok(HttpResponse::Ok().json(BotList { bots: list }))
}

/// Rotates the token: 200 with the new one; the old one is dead.
#[utoipa::path(
    post,
    path = "/api/bots/{id}/token",
    tag = "bots",
    summary = "Rotate a bot token",
    params(("id" = i64, Path, description = "Bot id")),
    responses(
        (status = 200, description = "The new token; the old one is dead and its sockets closed with 4001", body = TokenJson),
        Unauthorized,
        BotsForbidden,
        BotNotFound,
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn rotate(
    app: web::Data<App>,
    who: Principal,
    id: web::Path<UserId>,
) -> Result<HttpResponse, AppError> {
    let bot = id.into_inner();
    let token = credentials::rotate_bot_token(&app, By::Owner(&who), bot).await?;
    tracing::info!(target: SECURITY, event = "bot.token_rotated", user = who.user_id.0, bot = bot.0, "bot token rotated");
    Ok(HttpResponse::Ok().json(TokenJson { token }))
}

/// Revokes the token: the bot cannot authenticate until rotated again.
#[utoipa::path(
    delete,
    path = "/api/bots/{id}/token",
    tag = "bots",
    summary = "Revoke a bot token",
    params(("id" = i64, Path, description = "Bot id")),
    responses(
        (status = 204, description = "Revoked; sockets closed with 4001"),
        Unauthorized,
        BotsForbidden,
        BotNotFound,
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn revoke(
    app: web::Data<App>,
    who: Principal,
    id: web::Path<UserId>,
) -> Result<HttpResponse, AppError> {
    let bot = id.into_inner();
    credentials::revoke_bot_token(&app, By::Owner(&who), bot).await?;
    tracing::info!(target: SECURITY, event = "bot.token_revoked", user = who.user_id.0, bot = bot.0, "bot token revoked");
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    delete,
    path = "/api/bots/{id}",
    tag = "bots",
    summary = "Delete a bot",
    params(("id" = i64, Path, description = "Bot id")),
    responses(
        (status = 204, description = "Deleted; its messages stay"),
        Unauthorized,
        BotsForbidden,
        BotNotFound,
        DatabaseDown
    ),
    security(("session" = []), ("bearer" = []))
)]
pub async fn delete(
    app: web::Data<App>,
    who: Principal,
    id: web::Path<UserId>,
) -> Result<HttpResponse, AppError> {
    let bot = id.into_inner();
    credentials::delete_bot(&app, By::Owner(&who), bot).await?;
    tracing::info!(target: SECURITY, event = "bot.deleted", user = who.user_id.0, bot = bot.0, "bot deleted");
    Ok(HttpResponse::NoContent().finish())
}
