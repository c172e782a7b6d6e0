//! /api/rooms/{id}/members…

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::auth::Principal;
use crate::chat::membership::{self, Joined};
use crate::chat::App;
use crate::error::AppError;

/// 201 when the caller takes a seat now, 200 when they already had one.
pub async fn join(
    app: web::Data<App>,
    who: Principal,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    Ok(match membership::join(&app, &who, id.into_inner()).await? {
        Joined::Now(room) => HttpResponse::Created().json(room),
        Joined::Already(room) => HttpResponse::Ok().json(room),
    })
}

/// 204 whether or not the caller was a member (a retry is harmless).
pub async fn leave(
    app: web::Data<App>,
    who: Principal,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    membership::remove(&app, &who, id.into_inner(), who.user_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn remove(
    app: web::Data<App>,
    who: Principal,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, AppError> {
    let (room, user) = path.into_inner();
    membership::remove(&app, &who, room, user).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn list(
    app: web::Data<App>,
    _who: Principal,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let members = membership::list(&app, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(json!({ "members": members })))
}
