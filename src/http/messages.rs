//! /api/rooms/{id}/messages

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::auth::Principal;
use crate::chat::messages::{self, NewMessage, Page};
use crate::chat::App;
use crate::error::AppError;

/// 201 only after the message is committed; the socket fan-out follows the commit.
pub async fn send(
    app: web::Data<App>,
    who: Principal,
    id: web::Path<i64>,
    body: web::Json<NewMessage>,
) -> Result<HttpResponse, AppError> {
    let message = messages::send(&app, &who, id.into_inner(), body.into_inner()).await?;
    Ok(HttpResponse::Created().json(message))
}

pub async fn history(
    app: web::Data<App>,
    who: Principal,
    id: web::Path<i64>,
    page: web::Query<Page>,
) -> Result<HttpResponse, AppError> {
    let list = messages::history(&app, &who, id.into_inner(), page.into_inner()).await?;
    Ok(HttpResponse::Ok().json(json!({ "messages": list })))
}
