//! The `Principal` extractor: every handler that takes one is authenticated, by bearer token
//! or session cookie.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, FromRequest, HttpRequest};

use crate::app::App;
use crate::auth::origin::{check_same_origin, is_unsafe};
use crate::auth::Principal;
use crate::error::AppError;
use crate::telemetry;

/// A wiring bug: the server registers the `App` for every route.
const NO_APP: &str = "the App is not registered as app data";

impl FromRequest for Principal {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(header) = req.headers().get(AUTHORIZATION).cloned() else {
            let found = Principal::from_session(req).and_then(|who| {
                // A cookie rides along on a cross-site form or fetch too (SameSite=Lax still
                // lets a sibling subdomain or another port through): refuse those.
                if is_unsafe(req.method()) {
                    let app = req
                        .app_data::<web::Data<App>>()
                        .ok_or_else(|| AppError::internal(NO_APP))?;
                    check_same_origin(req.headers(), &app.config)?;
                }
                Ok(who)
            });
            if let Ok(who) = &found {
                telemetry::note_caller(req, who.user_id, who.is_bot);
            }
            return Box::pin(async move { found });
        };
        // A presented token is the credential, even if a cookie came along too.
        let app = req.app_data::<web::Data<App>>().cloned();
        let req = req.clone();
        Box::pin(async move {
            let app = app.ok_or_else(|| AppError::internal(NO_APP))?;
            let who = Principal::from_bearer(&app.db, &app.auth, &header).await?;
            telemetry::note_caller(&req, who.user_id, who.is_bot);
            Ok(who)
        })
    }
}
