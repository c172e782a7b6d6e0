//! Which database a test server runs on, and one fresh database per server.
//!
//! The database outlives server restarts (a `TestServer` may be killed and
//! started again on it) and is removed when the `TestDb` is dropped.

use std::path::PathBuf;

use roomcast_testkit::{pg, unique_suffix};
use tokio::sync::OnceCell;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The admin connection used to create and drop the per-server databases.
const DEFAULT_PG_ADMIN: &str = "host=127.0.0.1 port=5432 user=postgres dbname=test";
/// Every database this suite creates starts with this, followed by the pid of
/// the test process; that lets a later run sweep up after a killed one.
const PG_PREFIX: &str = "rc_t_";

pub struct TestDb {
    /// What the server gets as `ROOMCAST_DATABASE_URL`.
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(PathBuf),
    Pg { admin: String, name: String },
}

impl TestDb {
    /// With `via_port`, the server is told to reach the database at
    /// `127.0.0.1:<via_port>` (a `DbProxy`) instead of PostgreSQL's own port.
    /// The database itself is still created on the real server.
    pub async fn create_via(backend: Backend, via_port: Option<u16>) -> TestDb {
        if via_port.is_some() && backend == Backend::Sqlite {
            panic!("a database port only means something for PostgreSQL; SQLite is a file");
        }
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("roomcast-e2e-{}", unique_suffix()));
                std::fs::create_dir_all(&dir).unwrap();
                TestDb {
                    url: format!("sqlite://{}", dir.join("rc.db").display()),
                    cleanup: Cleanup::Dir(dir),
                }
            }
            Backend::Postgres => create_pg(via_port).await,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            // Joined, so the database is gone before the test reports success.
            Cleanup::Pg { admin, name } => {
                if let Err(e) = pg::drop_database_blocking(admin, name) {
                    eprintln!("warning: could not drop test database {name}: {e}");
                }
            }
        }
    }
}

fn pg_admin_url() -> String {
    std::env::var("ROOMCAST_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_ADMIN.to_string())
}

async fn create_pg(via_port: Option<u16>) -> TestDb {
    let admin = pg_admin_url();
    let client = pg::connect(&admin).await.unwrap_or_else(|e| {
        let at = if admin == DEFAULT_PG_ADMIN {
            "127.0.0.1:5432".to_string()
        } else {
            format!("{admin:?} (from ROOMCAST_TEST_PG_URL)")
        };
        panic!("PostgreSQL at {at} unreachable: {e}; start it or set ROOMCAST_TEST_PG_URL")
    });
    static SWEPT: OnceCell<()> = OnceCell::const_new();
    SWEPT
        .get_or_init(|| pg::sweep_dead_runs(&client, PG_PREFIX))
        .await;

    let name = format!("{PG_PREFIX}{}", unique_suffix());
    let url = pg::create_database(&client, &admin, &name, via_port)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    TestDb {
        url,
        cleanup: Cleanup::Pg { admin, name },
    }
}

/// `host:port` of the PostgreSQL server the suite uses (what a `DbProxy`
/// forwards to).
pub fn pg_upstream() -> String {
    let admin = pg_admin_url();
    let (host, port) =
        pg::host_port(&admin).unwrap_or_else(|e| panic!("ROOMCAST_TEST_PG_URL: {e}"));
    format!("{host}:{port}")
}
