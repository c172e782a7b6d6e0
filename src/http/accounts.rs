//! POST /api/accounts

use crate::error::Problem;
use crate::http::body::JsonObject;
use crate::http::openapi::{BadBody, RateLimited, Unavailable};
use actix_web::{web, HttpRequest, HttpResponse};

use crate::app::App;
use crate::chat::accounts::{self, Credentials};
use crate::error::AppError;
use crate::http::client_ip;
use crate::http::rate_limit::{rate_headers, Limits};
use crate::views::AccountJson;

#[utoipa::path(
    post,
    path = "/api/accounts",
    tag = "accounts",
    summary = "Register an account",
    request_body = Credentials,
    responses(
        (status = 201, description = "Registered (not logged in)", body = AccountJson, headers(("RateLimit-Limit" = u32), ("RateLimit-Remaining" = u32), ("RateLimit-Reset" = u64))),
        BadBody,
        (status = 409, description = "Username taken (`username-taken`)", body = Problem, content_type = "application/problem+json"),
        RateLimited,
        Unavailable
    )
)]
pub async fn register(
    req: HttpRequest,
    app: web::Data<App>,
    limits: web::Data<Limits>,
    body: JsonObject<Credentials>,
) -> Result<HttpResponse, AppError> {
    let rate = limits.auth.check(&client_ip(&req))?;
    let account = accounts::register(&app, body.into_inner()).await?;
    let mut res = HttpResponse::Created();
    rate_headers(&mut res, &rate);
    Ok(res.json(account))
}
