//! /api/rooms and /api/rooms/{id}

use crate::http::body::JsonObject;
use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::auth::Principal;
use crate::chat::rooms::{self, NewRoom};
use crate::chat::App;
use crate::error::{rate_headers, AppError};

pub async fn create(
    app: web::Data<App>,
    who: Principal,
    body: JsonObject<NewRoom>,
) -> Result<HttpResponse, AppError> {
    let rate = app.limits.create_room.check(&who.user_id)?;
    let room = rooms::create(&app, &who, body.into_inner()).await?;
    let mut res = HttpResponse::Created();
    rate_headers(&mut res, &rate);
    Ok(res.json(room))
}

pub async fn list(app: web::Data<App>, who: Principal) -> Result<HttpResponse, AppError> {
    let rooms = rooms::list(&app, &who).await?;
    Ok(HttpResponse::Ok().json(json!({ "rooms": rooms })))
}

pub async fn show(
    app: web::Data<App>,
    who: Principal,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(rooms::show(&app, &who, id.into_inner()).await?))
}

pub async fn delete(
    app: web::Data<App>,
    who: Principal,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    rooms::delete(&app, &who, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
