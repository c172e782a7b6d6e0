//! POST /api/accounts

use crate::http::body::JsonObject;
use actix_web::{web, HttpResponse};

use crate::chat::accounts::{self, Credentials};
use crate::chat::App;
use crate::error::AppError;

pub async fn register(
    app: web::Data<App>,
    body: JsonObject<Credentials>,
) -> Result<HttpResponse, AppError> {
    let account = accounts::register(&app, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(account))
}
