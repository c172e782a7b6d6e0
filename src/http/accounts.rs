//! POST /api/accounts

use crate::http::body::JsonObject;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::chat::accounts::{self, Credentials};
use crate::chat::App;
use crate::error::{rate_headers, AppError};
use crate::http::client_ip;

pub async fn register(
    req: HttpRequest,
    app: web::Data<App>,
    body: JsonObject<Credentials>,
) -> Result<HttpResponse, AppError> {
    let rate = app.limits.auth.check(&client_ip(&req))?;
    let account = accounts::register(&app, body.into_inner()).await?;
    let mut res = HttpResponse::Created();
    rate_headers(&mut res, &rate);
    Ok(res.json(account))
}
