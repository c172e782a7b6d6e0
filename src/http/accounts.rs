//! POST /api/accounts

use crate::error::Problem;
use crate::http::body::JsonObject;
use crate::http::openapi::{BadBody, Unavailable};
use actix_web::{web, HttpRequest, HttpResponse};

use crate::app::App;
use crate::chat::accounts::{self, Grant, NewAccount, Via};
use crate::error::AppError;
use crate::http::client_ip;
use crate::http::rate_limit::{Limits, Tell};
use crate::views::AccountJson;

#[utoipa::path(
    post,
    path = "/api/accounts",
    tag = "accounts",
    summary = "Register an account",
    request_body = NewAccount,
    responses(
        (status = 201, description = "Registered (not logged in); the first account of an empty server is an admin", body = AccountJson),
        BadBody,
        (status = 403, description = "Registration is closed (`registration-closed`), or needs a live invite code (`invite-invalid`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Username taken (`username-taken`)", body = Problem, content_type = "application/problem+json"),
        Unavailable
    )
)]
pub async fn register(
    req: HttpRequest,
    app: web::Data<App>,
    limits: web::Data<Limits>,
    body: JsonObject<NewAccount>,
) -> Result<HttpResponse, AppError> {
    limits
        .auth
        .charge(&req, &client_ip(&req), Tell::Successes)
        .await?;
    let account = accounts::register(&app, body.into_inner(), Grant::IfFirst, Via::Api).await?;
    Ok(HttpResponse::Created().json(account))
}
