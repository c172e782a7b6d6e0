//! Liveness and readiness.

use crate::http::openapi::DatabaseDown;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::App;
use crate::error::AppError;

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Ready {
    pub status: &'static str,
    /// "sqlite" or "postgres".
    pub database: &'static str,
    /// The bus between instances: "none" (one instance), "up", or "degraded" (Redis is
    /// unreachable: sends still succeed and sockets here still receive; sockets elsewhere
    /// catch up from the database within `bus_check_ms`).
    pub bus: &'static str,
}

/// The process is up and serving.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    summary = "Liveness",
    responses(
        (status = 200, description = "The process is up", body = Health)
    )
)]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// The database answers; otherwise 503, so a load balancer stops sending traffic here. A bus
/// that is down does not make the instance unready (it still serves; see `bus`).
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    summary = "Readiness",
    responses(
        (status = 200, description = "The database answers (the field bus says whether the bus does)", body = Ready),
        DatabaseDown
    )
)]
pub async fn readyz(app: web::Data<App>) -> Result<HttpResponse, AppError> {
    app.db.ping().await?;
    Ok(HttpResponse::Ok().json(Ready {
        status: "ready",
        database: app.db.backend_name(),
        bus: match (app.bus.is_shared(), app.bus.is_up()) {
            (false, _) => "none",
            (true, true) => "up",
            (true, false) => "degraded",
        },
    }))
}
