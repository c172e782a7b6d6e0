//! Which database a test server runs on, and one fresh database per server.
//!
//! The database outlives server restarts (a `TestServer` may be killed and
//! started again on it) and is removed when the `TestDb` is dropped.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::OnceCell;
use tokio::time::timeout;
use tokio_postgres::config::Host;
use tokio_postgres::NoTls;

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
            Cleanup::Pg { admin, name } => {
                // Drop runs inside the test's runtime, which cannot be blocked on;
                // a thread with its own small runtime can, and joining it means
                // the database is gone before the test reports success.
                let (admin, owned_name) = (admin.clone(), name.clone());
                let done = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    rt.block_on(drop_pg_database(&admin, &owned_name))
                })
                .join();
                if let Ok(Err(e)) = done {
                    eprintln!("warning: could not drop test database {name}: {e}");
                }
            }
        }
    }
}

fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // The counter is unique within this process, the pid across concurrent
    // processes; the random part guards against a reused pid finding leftovers.
    let random = {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(n);
        h.finish() & 0xffff_ffff
    };
    format!("{}_{}_{:08x}", std::process::id(), n, random)
}

fn pg_admin_url() -> String {
    std::env::var("ROOMCAST_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_ADMIN.to_string())
}

async fn pg_admin_connect(admin: &str) -> Result<tokio_postgres::Client, String> {
    let connect = timeout(
        Duration::from_secs(10),
        tokio_postgres::connect(admin, NoTls),
    );
    match connect.await {
        Ok(Ok((client, connection))) => {
            tokio::spawn(connection);
            Ok(client)
        }
        Ok(Err(e)) => {
            // tokio-postgres puts the useful part ("Connection refused") in
            // the source chain, not in its own message.
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                text = format!("{text}: {cause}");
                source = cause.source();
            }
            Err(text)
        }
        Err(_) => Err("connect timed out after 10 s".into()),
    }
}

async fn create_pg(via_port: Option<u16>) -> TestDb {
    let admin = pg_admin_url();
    let client = pg_admin_connect(&admin).await.unwrap_or_else(|e| {
        let at = if admin == DEFAULT_PG_ADMIN {
            "127.0.0.1:5432".to_string()
        } else {
            format!("{admin:?} (from ROOMCAST_TEST_PG_URL)")
        };
        panic!("PostgreSQL at {at} unreachable: {e}; start it or set ROOMCAST_TEST_PG_URL")
    });
    static SWEPT: OnceCell<()> = OnceCell::const_new();
    SWEPT.get_or_init(|| sweep_dead_runs(&client)).await;

    let name = format!("{PG_PREFIX}{}", unique_suffix());
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name} failed: {e}"));
    TestDb {
        url: server_pg_url(&admin, &name, via_port),
        cleanup: Cleanup::Pg { admin, name },
    }
}

fn parse_admin(admin: &str) -> tokio_postgres::Config {
    admin.parse().unwrap_or_else(|e| {
        panic!("ROOMCAST_TEST_PG_URL {admin:?} is not a PostgreSQL connection string: {e}")
    })
}

/// `(host, port)` of the PostgreSQL server the suite uses.
fn pg_host_port(config: &tokio_postgres::Config) -> (String, u16) {
    let host = config
        .get_hosts()
        .iter()
        .find_map(|h| match h {
            Host::Tcp(h) => Some(h.clone()),
            _ => None,
        })
        .unwrap_or_else(|| "127.0.0.1".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    (host, port)
}

/// `host:port` of the PostgreSQL server the suite uses (what a `DbProxy`
/// forwards to).
pub fn pg_upstream() -> String {
    let (host, port) = pg_host_port(&parse_admin(&pg_admin_url()));
    format!("{host}:{port}")
}

/// The server gets a URL for the new database with the admin's host, port and
/// credentials, so overriding `ROOMCAST_TEST_PG_URL` moves both; `via_port`
/// sends it to a proxy on 127.0.0.1 instead.
fn server_pg_url(admin: &str, name: &str, via_port: Option<u16>) -> String {
    let config = parse_admin(admin);
    let (host, port) = match via_port {
        Some(port) => ("127.0.0.1".to_string(), port),
        None => pg_host_port(&config),
    };
    let user = config.get_user().unwrap_or("postgres");
    let password = config
        .get_password()
        .map(|p| format!(":{}", String::from_utf8_lossy(p)))
        .unwrap_or_default();
    format!("postgres://{user}{password}@{host}:{port}/{name}")
}

async fn drop_pg_database(admin: &str, name: &str) -> Result<(), String> {
    let client = pg_admin_connect(admin).await?;
    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    match timeout(Duration::from_secs(20), client.batch_execute(&sql)).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err("DROP DATABASE timed out after 20 s".into()),
    }
}

/// Drops databases left by test processes that no longer run (a run killed
/// with Ctrl-C never reaches its `Drop`s). Best effort, once per process.
async fn sweep_dead_runs(client: &tokio_postgres::Client) {
    if !Path::new("/proc/self").exists() {
        return; // no cheap way to ask whether a pid is alive
    }
    let Ok(rows) = client
        .query(
            "SELECT datname FROM pg_database WHERE starts_with(datname, $1)",
            &[&PG_PREFIX],
        )
        .await
    else {
        return;
    };
    for row in rows {
        let name: String = row.get(0);
        let pid = name[PG_PREFIX.len()..].split('_').next().unwrap_or("");
        let alive = pid.is_empty() || Path::new(&format!("/proc/{pid}")).exists();
        if !alive {
            let _ = client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
        }
    }
}
