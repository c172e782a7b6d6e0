//! The rules: validation, permissions, capacity, ordering; each use case calls the store and,
//! after commit, tells the hub.

pub mod accounts;
pub mod bots;
pub mod limits;
pub mod membership;
pub mod messages;
pub mod rooms;
pub mod text;
pub mod views;

use std::sync::Arc;

use crate::auth::cache::AuthCache;
use crate::auth::password::Passwords;
use crate::config::Config;
use crate::realtime::slots::Slots;
use crate::realtime::{Frame, Hub};
use crate::store::group_commit::Writer;
use crate::store::Db;

impl App {
    /// Connects to the database (running migrations) and builds the shared state; used by
    /// `serve` and by the admin commands alike.
    pub async fn open(config: Config) -> Result<App, String> {
        let db = Db::connect(&config).await?;
        let hub = Hub::new(config.ws_queue);
        let publisher = hub.clone();
        let writer = Writer::start(
            db.clone(),
            config.write_batch_max,
            db.write_concurrency(config.write_shards),
            Arc::new(move |committed| {
                for (event, received_at) in committed {
                    publisher.publish(Frame::from_event(event).sent_at(*received_at));
                }
            }),
        );
        Ok(App {
            db,
            hub,
            writer,
            passwords: Passwords::new(
                config.argon2_memory_kib,
                config.argon2_iterations,
                config.argon2_max_concurrent,
                std::time::Duration::from_millis(config.argon2_wait_ms),
            )?,
            limits: Arc::new(limits::Limits::new(&config)?),
            auth: AuthCache::new(config.auth_cache_ms),
            slots: Slots::new(config.ws_max_per_user, config.ws_max_per_ip),
            config: Arc::new(config),
        })
    }
}

/// Everything a request needs, shared by all workers.
#[derive(Clone)]
pub struct App {
    pub db: Db,
    pub hub: Hub,
    /// Group commit for sends.
    pub writer: Writer,
    pub passwords: Passwords,
    pub limits: Arc<limits::Limits>,
    /// Sessions and bot tokens checked recently.
    pub auth: AuthCache,
    /// Open WebSockets per user and per client IP, against their caps.
    pub slots: Slots,
    pub config: Arc<Config>,
}
