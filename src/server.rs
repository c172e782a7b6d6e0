//! Builds the app and serves it until SIGINT/SIGTERM.

use std::time::Duration;

use actix_session::config::{PersistentSession, TtlExtensionPolicy};
use actix_session::SessionMiddleware;
use actix_web::cookie::{Key, SameSite};
use actix_web::middleware::from_fn;
use actix_web::{web, HttpServer};
use metrics_exporter_prometheus::PrometheusHandle;
use tracing_actix_web::TracingLogger;

use crate::app::App;
use crate::auth::session_store::{idle_cutoff, DbSessionStore};
use crate::chat::{credentials, peers};
use crate::config::Config;
use crate::http::rate_limit::Limits;
use crate::realtime::close;
use crate::store::{accounts, events, now_ms, secrets, sessions, Db};
use crate::{http, telemetry};

/// The cookie signing/encryption key, kept in the database so it survives restarts and is the
/// same on every instance.
async fn session_key(db: &Db) -> Result<Key, String> {
    let candidate = hex::encode(Key::generate().master());
    let stored = secrets::get_or_create(db, "session_key", &candidate)
        .await
        .map_err(|e| format!("cannot read the session key: {e}"))?;
    let bytes = hex::decode(stored).map_err(|e| format!("stored session key is corrupt: {e}"))?;
    Key::try_from(bytes.as_slice()).map_err(|e| format!("stored session key is unusable: {e}"))
}

pub async fn serve(config: Config) -> Result<(), String> {
    let metrics = web::Data::new(telemetry::install()?);
    let limits = web::Data::new(Limits::new(&config)?);
    let (app, heard) = App::open_serving(config).await?;
    let key = session_key(&app.db).await?;
    let (db, hub, config) = (app.db.clone(), app.hub.clone(), app.config.clone());

    let server_app = app.clone();
    let server_limits = limits.clone();
    let server = HttpServer::new(move || {
        let cfg = &server_app.config;
        let sessions = SessionMiddleware::builder(
            DbSessionStore::new(
                server_app.db.clone(),
                server_app.auth.clone(),
                Duration::from_secs(cfg.session_idle_secs.unsigned_abs()),
            ),
            key.clone(),
        )
        .cookie_name(cfg.session_cookie_name.clone())
        .cookie_secure(cfg.cookie_secure)
        .cookie_http_only(true)
        .cookie_same_site(SameSite::Lax)
        .session_lifecycle(
            PersistentSession::default()
                .session_ttl(actix_web::cookie::time::Duration::seconds(
                    cfg.session_ttl_secs,
                ))
                .session_ttl_extension_policy(TtlExtensionPolicy::OnStateChanges),
        )
        .build();
        actix_web::App::new()
            .app_data(web::Data::new(server_app.clone()))
            .app_data(server_limits.clone())
            // For `proxies::client_ip`, which the access log and the per-IP limits ask.
            .app_data(cfg.proxies.clone())
            .wrap(from_fn(http::problems::normalize))
            .wrap(from_fn(http::front::guard))
            .wrap(from_fn(telemetry::observe))
            .wrap(TracingLogger::<telemetry::RequestSpan>::new())
            .configure(|cfg| http::routes(cfg, sessions))
    })
    .disable_signals()
    .shutdown_timeout(config.shutdown_grace_secs);
    let server = if config.workers > 0 {
        server.workers(config.workers)
    } else {
        server
    };
    let server = server
        .bind(&config.bind)
        .map_err(|e| format!("cannot listen on {}: {e}", config.bind))?;
    // Printed before the public address, which scripts wait for as the ready line.
    let metrics_server = metrics_server(&config.metrics_bind, metrics)?;
    for addr in server.addrs() {
        // Tests and scripts read this line to learn the port when bind uses port 0.
        println!("roomcast listening on http://{addr}");
    }
    tracing::info!(backend = db.backend_name(), "serving");
    let server = server.run();
    let handle = server.handle();
    let metrics_handle = metrics_server.map(|m| {
        let handle = m.handle();
        tokio::spawn(m);
        handle
    });

    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        // Stop accepting first: a client that saw its socket close must not get a new
        // connection served.
        handle.pause().await;
        hub.close_all(close::GOING_AWAY);
        if let Some(metrics) = &metrics_handle {
            metrics.stop(false).await;
        }
        handle.stop(true).await;
    });
    tokio::spawn(peers::follow(app.clone(), heard));
    tokio::spawn(app.presence.clone().run());
    tokio::spawn(watch_revocations(app.clone()));
    tokio::spawn(janitor(app.clone(), limits.into_inner()));

    server.await.map_err(|e| format!("server failed: {e}"))
}

/// `/metrics` on its own listener (`metrics_bind`), never on the public port: the figures
/// are for the operator's scraper, not for anyone who can reach the API. Empty: not served.
fn metrics_server(
    bind: &str,
    handle: web::Data<PrometheusHandle>,
) -> Result<Option<actix_web::dev::Server>, String> {
    if bind.is_empty() {
        return Ok(None);
    }
    let server = HttpServer::new(move || {
        actix_web::App::new()
            .app_data(handle.clone())
            .route("/metrics", web::get().to(telemetry::render))
    })
    .workers(1)
    .disable_signals()
    .bind(bind)
    .map_err(|e| format!("cannot listen on {bind} (metrics_bind): {e}"))?;
    for addr in server.addrs() {
        println!("roomcast metrics on http://{addr}/metrics");
    }
    Ok(Some(server.run()))
}

/// Closes sockets of principals revoked by anyone (another instance, the admin CLI): polls
/// `users.revoked_at`, a cheap indexed read, instead of re-checking every socket.
async fn watch_revocations(app: App) {
    let mut since = now_ms();
    let mut tick = tokio::time::interval(Duration::from_millis(app.config.revocation_poll_ms));
    loop {
        tick.tick().await;
        match accounts::revoked_since(&app.db, since).await {
            Ok(revoked) => {
                for (user, at) in revoked {
                    since = since.max(at);
                    credentials::forget_revoked(&app, user);
                }
            }
            Err(e) => tracing::debug!(error = %e, "revocation poll failed"),
        }
    }
}

/// Sweeps expired sessions, idempotency keys and idle rate-limit buckets, forever.
async fn janitor(app: App, limits: std::sync::Arc<Limits>) {
    let (db, config) = (&app.db, &app.config);
    let mut tick = tokio::time::interval(Duration::from_secs(config.janitor_interval_secs));
    loop {
        tick.tick().await;
        let now = now_ms();
        limits.shrink();
        let idle_ms = config.session_idle_secs.saturating_mul(1000);
        match sessions::purge_expired(db, now, idle_cutoff(now, idle_ms)).await {
            Ok(n) if n > 0 => tracing::info!(removed = n, "expired sessions purged"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "session purge failed"),
        }
        let cutoff = now - config.idempotency_retention_secs.saturating_mul(1000);
        match events::purge_idempotency_keys(db, cutoff).await {
            Ok(n) if n > 0 => tracing::info!(removed = n, "old idempotency keys purged"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "idempotency key purge failed"),
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
