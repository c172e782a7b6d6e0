//! A PostgreSQL database per run: created through an admin connection, handed to the server
//! as a URL with the admin's host, port and credentials, dropped afterwards.

use std::path::Path;
use std::time::Duration;

use tokio::time::timeout;
use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config, NoTls};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const DROP_TIMEOUT: Duration = Duration::from_secs(30);

/// Connects as `admin` (a libpq-style string or URL).
pub async fn connect(admin: &str) -> Result<Client, String> {
    match timeout(CONNECT_TIMEOUT, tokio_postgres::connect(admin, NoTls)).await {
        Ok(Ok((client, connection))) => {
            tokio::spawn(connection);
            Ok(client)
        }
        // tokio-postgres puts the useful part ("Connection refused") in the source chain,
        // not in its own message.
        Ok(Err(e)) => Err(with_sources(&e)),
        Err(_) => Err(format!("connect timed out after {CONNECT_TIMEOUT:?}")),
    }
}

fn with_sources(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

fn parse(admin: &str) -> Result<Config, String> {
    admin
        .parse()
        .map_err(|e| format!("{admin:?} is not a PostgreSQL connection string: {e}"))
}

/// `(host, port)` of the PostgreSQL server `admin` names (TCP only; 127.0.0.1:5432 by default).
pub fn host_port(admin: &str) -> Result<(String, u16), String> {
    let config = parse(admin)?;
    Ok(config_host_port(&config))
}

fn config_host_port(config: &Config) -> (String, u16) {
    let host = config
        .get_hosts()
        .iter()
        .find_map(|h| match h {
            Host::Tcp(h) => Some(h.clone()),
            #[allow(unreachable_patterns)] // Host::Unix exists on Unix only
            _ => None,
        })
        .unwrap_or_else(|| "127.0.0.1".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    (host, port)
}

/// The server's URL for database `name`: the admin's host, port and credentials, or
/// `127.0.0.1:<via_port>` (a proxy in front of PostgreSQL) instead of the host and port.
pub fn database_url(admin: &str, name: &str, via_port: Option<u16>) -> Result<String, String> {
    let config = parse(admin)?;
    let (host, port) = match via_port {
        Some(port) => ("127.0.0.1".to_string(), port),
        None => config_host_port(&config),
    };
    let user = config.get_user().unwrap_or("postgres");
    let password = config
        .get_password()
        .map(|p| format!(":{}", String::from_utf8_lossy(p)))
        .unwrap_or_default();
    Ok(format!("postgres://{user}{password}@{host}:{port}/{name}"))
}

/// Creates database `name` (a plain identifier: the callers make it from a prefix and
/// `unique_suffix`) and returns the server's URL for it (see `database_url`).
pub async fn create_database(
    client: &Client,
    admin: &str,
    name: &str,
    via_port: Option<u16>,
) -> Result<String, String> {
    let url = database_url(admin, name, via_port)?;
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .map_err(|e| format!("CREATE DATABASE {name} failed: {}", with_sources(&e)))?;
    Ok(url)
}

/// Drops database `name`, closing its connections (a killed server's included).
pub async fn drop_database(admin: &str, name: &str) -> Result<(), String> {
    let client = connect(admin).await?;
    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    match timeout(DROP_TIMEOUT, client.batch_execute(&sql)).await {
        Ok(result) => result.map_err(|e| format!("DROP DATABASE {name}: {}", with_sources(&e))),
        Err(_) => Err(format!(
            "DROP DATABASE {name} timed out after {DROP_TIMEOUT:?}"
        )),
    }
}

/// `drop_database` from synchronous code that may run inside a runtime (a `Drop`): on a
/// thread with a small runtime of its own, joined, so the database is gone on return.
pub fn drop_database_blocking(admin: &str, name: &str) -> Result<(), String> {
    let (admin, name) = (admin.to_string(), name.to_string());
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot build a runtime to drop {name}: {e}"))?
            .block_on(drop_database(&admin, &name))
    })
    .join()
    .map_err(|panic| {
        format!(
            "the thread dropping the database panicked: {}",
            panic_message(&*panic)
        )
    })?
}

/// A panic's message, when it has one (`panic!` with a literal or with formatting).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// Drops the databases named `<prefix><pid>_…` whose process no longer runs (a run killed
/// with Ctrl-C never reaches its cleanup). Best effort; does nothing where /proc is missing.
pub async fn sweep_dead_runs(client: &Client, prefix: &str) {
    if !Path::new("/proc/self").exists() {
        return; // no cheap way to ask whether a pid is alive
    }
    let Ok(rows) = client
        .query(
            "SELECT datname FROM pg_database WHERE starts_with(datname, $1)",
            &[&prefix],
        )
        .await
    else {
        return;
    };
    for row in rows {
        let name: String = row.get(0);
        let pid = name
            .get(prefix.len()..)
            .and_then(|rest| rest.split('_').next())
            .unwrap_or("");
        let alive = pid.is_empty() || Path::new(&format!("/proc/{pid}")).exists();
        if !alive {
            let _ = client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
        }
    }
}
