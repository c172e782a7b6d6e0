//! Liveness and readiness.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::chat::App;
use crate::error::AppError;

/// The process is up and serving.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// The database answers; otherwise 503, so a load balancer stops sending traffic here.
pub async fn readyz(app: web::Data<App>) -> Result<HttpResponse, AppError> {
    app.db.ping().await?;
    Ok(HttpResponse::Ok().json(json!({ "status": "ready", "database": app.db.backend_name() })))
}
