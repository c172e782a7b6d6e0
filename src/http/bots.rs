//! /api/bots

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::auth::Principal;
use crate::chat::bots::{self, NewBot};
use crate::chat::App;
use crate::error::{rate_headers, AppError};
use crate::http::body::JsonObject;

/// 201 with the bot and its token; the token is never shown again.
pub async fn create(
    app: web::Data<App>,
    who: Principal,
    body: JsonObject<NewBot>,
) -> Result<HttpResponse, AppError> {
    let rate = app.limits.create_bot.check(&who.user_id)?;
    let created = bots::create(&app, &who, body.into_inner()).await?;
    let mut res = HttpResponse::Created();
    rate_headers(&mut res, &rate);
    Ok(res.json(created))
}

pub async fn list(app: web::Data<App>, who: Principal) -> Result<HttpResponse, AppError> {
    let list = bots::list(&app, &who).await?;
    Ok(HttpResponse::Ok().json(json!({ "bots": list })))
}

/// Rotates the token: 200 with the new one; the old one is dead.
pub async fn rotate(
    app: web::Data<App>,
    who: Principal,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let token = bots::set_token(&app, &who, id.into_inner(), true).await?;
    Ok(HttpResponse::Ok().json(json!({ "token": token })))
}

/// Revokes the token: the bot cannot authenticate until rotated again.
pub async fn revoke(
    app: web::Data<App>,
    who: Principal,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    bots::set_token(&app, &who, id.into_inner(), false).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn delete(
    app: web::Data<App>,
    who: Principal,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    bots::delete(&app, &who, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
