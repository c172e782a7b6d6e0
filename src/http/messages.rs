//! /api/rooms/{id}/messages

use crate::http::body::JsonObject;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::auth::Principal;
use crate::chat::messages::{self, NewMessage, Page};
use crate::chat::App;
use crate::error::{rate_headers, AppError};

/// 201 only after the message is committed; the socket fan-out follows the commit.
/// A replay under the same `Idempotency-Key` answers the original 201, marked
/// `Idempotent-Replayed: true`.
pub async fn send(
    req: HttpRequest,
    app: web::Data<App>,
    who: Principal,
    id: web::Path<i64>,
    body: JsonObject<NewMessage>,
) -> Result<HttpResponse, AppError> {
    let key = match req.headers().get("Idempotency-Key") {
        Some(v) => Some(v.to_str().map_err(|_| AppError::InvalidIdempotencyKey)?),
        None => None,
    };
    let rate = app.limits.send.check(&who.user_id)?;
    let sent = messages::send(&app, &who, id.into_inner(), body.into_inner(), key).await?;
    let mut res = HttpResponse::Created();
    rate_headers(&mut res, &rate);
    if sent.replayed {
        res.insert_header(("Idempotent-Replayed", "true"));
    }
    Ok(res.json(sent.message))
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
