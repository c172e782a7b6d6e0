//! `App`: the shared state every use case works with. Cheap to clone (handles only); one per
//! process, built by `App::open` for `serve` and for the admin commands alike.

use std::sync::Arc;

use crate::auth::cache::AuthCache;
use crate::auth::password::Passwords;
use crate::config::Config;
use crate::realtime::slots::Slots;
use crate::realtime::{Frame, Hub};
use crate::store::group_commit::Writer;
use crate::store::Db;

/// Everything a use case needs, shared by all workers.
#[derive(Clone)]
pub struct App {
    /// The database pool (SQLite or PostgreSQL): the source of truth.
    pub db: Db,
    /// This instance's sockets, by room: where events go after commit, and which sockets a
    /// logout, a revocation or a leave closes.
    pub hub: Hub,
    /// Group commit for sends: batches messages per room shard into one transaction and
    /// publishes each committed message to the hub, in seq order.
    pub writer: Writer,
    /// Argon2id hashing and verification, on the blocking pool, a bounded number at a time.
    pub passwords: Passwords,
    /// Sessions and bot tokens checked recently; evicted by every use case that ends a
    /// credential (see `chat::credentials`).
    pub auth: AuthCache,
    /// Open WebSockets per user and per client IP, against their caps.
    pub slots: Slots,
    /// The settings this process started with.
    pub config: Arc<Config>,
}

impl App {
    /// Connects to the database (running migrations) and builds the shared state.
    pub async fn open(config: Config) -> Result<App, String> {
        let db = Db::connect(&config).await?;
        let hub = Hub::new(config.ws_queue);
        let publisher = hub.clone();
        let writer = Writer::start(
            db.clone(),
            config.write_batch_max,
            db.write_concurrency(config.write_shards),
            config.write_queue_max,
            Arc::new(move |committed| {
                for (event, received_at) in committed {
                    publisher.publish(Frame::from_event(event).map(|f| f.sent_at(*received_at)));
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
            auth: AuthCache::new(config.auth_cache_ms),
            slots: Slots::new(config.ws_max_per_user, config.ws_max_per_ip),
            config: Arc::new(config),
        })
    }
}
