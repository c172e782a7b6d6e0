//! The browser client: files under web/, compiled into the binary so `cargo run` is enough.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpResponse};

/// Scripts only from this origin, no inline script, no plugins; sockets to this origin.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; \
                   form-action 'self'";

struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_str!("../../web/index.html"),
    },
    Asset {
        path: "/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../web/app.js"),
    },
    Asset {
        path: "/style.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../../web/style.css"),
    },
];

pub fn routes(cfg: &mut web::ServiceConfig) {
    for asset in ASSETS {
        cfg.route(
            asset.path,
            web::get().to(move || async move {
                HttpResponse::Ok()
                    .content_type(asset.content_type)
                    .insert_header((
                        header::CONTENT_SECURITY_POLICY,
                        HeaderValue::from_static(CSP),
                    ))
                    .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                    .insert_header((header::REFERRER_POLICY, "same-origin"))
                    .insert_header((header::CACHE_CONTROL, "no-cache"))
                    .body(asset.body)
            }),
        );
    }
}
