//! Many instances of one deployment: N real `roomcast serve` processes on one PostgreSQL
//! database, with a `redis-server` of the test's own as their bus.

use std::sync::Arc;

use roomcast_testkit::redis::RedisServer;

use super::backend::{Backend, TestDb};
use super::server::TestServer;

pub struct Cluster {
    // In drop order: the servers, then their bus, then their database.
    pub servers: Vec<TestServer>,
    pub redis: RedisServer,
    pub db: Arc<TestDb>,
}

impl Cluster {
    /// `n` instances on a fresh PostgreSQL database and a fresh Redis, each with `env` on top
    /// of the suite's defaults.
    pub async fn start(n: usize, env: &[(&str, &str)]) -> Cluster {
        let redis = RedisServer::start().await.unwrap();
        let db = Arc::new(TestDb::create_via(Backend::Postgres, None).await);
        let mut servers = Vec::with_capacity(n);
        for _ in 0..n {
            let mut builder = TestServer::builder(Backend::Postgres)
                .shared_db(db.clone())
                .env("ROOMCAST_BUS_URL", &redis.url());
            for (key, value) in env {
                builder = builder.env(key, value);
            }
            servers.push(builder.start().await);
        }
        Cluster { servers, redis, db }
    }
}
