//! The server under test: a running one (--url), or one this process starts (--spawn) on a
//! fresh database, watches (log lines, liveness) and stops, dropping the database. With
//! --instances N (or several --url), N instances of one deployment: on one PostgreSQL
//! database, with a redis-server of the bench's own as their bus.

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use roomcast_testkit::process::{self, Pipe};
use roomcast_testkit::redis::RedisServer;
use roomcast_testkit::{pg, unique_suffix};
use rustix::process::{kill_process, Pid, Signal};
use tokio::process::{Child, Command};
use tokio::time::timeout;

use crate::cli::{Backend, BusChoice, ServerArgs};
use crate::procfs::{self, Procs};

const READY_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_GRACE: Duration = Duration::from_secs(20);
/// Lines of server output kept for the report.
const LOG_TAIL: usize = 40;

/// One server process of the deployment.
#[derive(Clone, Debug)]
pub struct Instance {
    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub base: String,
    pub addr: SocketAddr,
    /// For /proc readings: the spawned child, or --pid.
    pub pid: Option<u32>,
}

pub struct Target {
    /// The first instance's `http://127.0.0.1:<port>`, no trailing slash: where every
    /// scenario but `latency` and `bus-recovery` works.
    pub base: String,
    pub addr: SocketAddr,
    /// The first instance's pid, for /proc readings: the spawned child, or --pid.
    pub pid: Option<u32>,
    /// Every instance, the first included.
    pub instances: Vec<Instance>,
    /// "sqlite", "postgres", or "unknown" for --url without --backend.
    pub backend: String,
    /// How the deployment is laid out, for result keys: "" for one instance without a bus,
    /// else e.g. "instances=2" or "instances=1 bus=redis".
    pub topology: String,
    pub cookie_name: String,
    /// The database the instances use, when known (spawned, or --database-url): the `unread`
    /// scenario seeds it directly.
    pub database_url: Option<String>,
    /// Every instance's log lines, together.
    pub log: ServerLog,
    /// The instances' bus, when the bench started it: `bus-recovery` kills and restarts it.
    pub redis: Option<tokio::sync::Mutex<RedisServer>>,
    spawned: Option<Spawned>,
}

struct Spawned {
    /// In instance order.
    children: Vec<Child>,
    cleanup: Cleanup,
}

enum Cleanup {
    None,
    Dir(PathBuf),
    Pg { admin: String, name: String },
}

/// What the server wrote on stdout/stderr after it became ready (with ROOMCAST_LOG=warn,
/// every line is a warning or an error).
#[derive(Clone, Default)]
pub struct ServerLog(Arc<Mutex<LogState>>);

#[derive(Default)]
struct LogState {
    lines: u64,
    warnings: u64,
    errors: u64,
    /// Lines without their timestamp, counted ("WARN target: message" -> n).
    kinds: BTreeMap<String, u64>,
    tail: VecDeque<String>,
}

/// Distinct kinds of line kept; later new kinds are counted under "(other)".
const MAX_KINDS: usize = 50;

impl ServerLog {
    fn push(&self, raw: String) {
        let line = strip_ansi(&raw);
        let Ok(mut s) = self.0.lock() else { return };
        s.lines += 1;
        let level = line.split_whitespace().nth(1).unwrap_or_default();
        if level == "ERROR" || line.contains("\"level\":\"ERROR\"") || line.contains("panicked") {
            s.errors += 1;
        } else if level == "WARN" || line.contains("\"level\":\"WARN\"") {
            s.warnings += 1;
        }
        // "2026-11-22T02:39:37.928414Z  WARN target: message" -> "WARN target: message".
        let kind = match line.split_once(' ') {
            Some((first, rest)) if first.ends_with('Z') => rest.trim_start().to_string(),
            _ => line.clone(),
        };
        let kind = if s.kinds.contains_key(&kind) || s.kinds.len() < MAX_KINDS {
            kind
        } else {
            "(other)".to_string()
        };
        *s.kinds.entry(kind).or_insert(0) += 1;
        if s.tail.len() == LOG_TAIL {
            s.tail.pop_front();
        }
        s.tail.push_back(line);
    }

    /// (lines, warnings, errors) so far.
    pub fn counts(&self) -> (u64, u64, u64) {
        self.0
            .lock()
            .map(|s| (s.lines, s.warnings, s.errors))
            .unwrap_or_default()
    }

    /// The most frequent kinds of line, most frequent first.
    pub fn top_kinds(&self, n: usize) -> Vec<(String, u64)> {
        let mut kinds: Vec<(String, u64)> = self
            .0
            .lock()
            .map(|s| s.kinds.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default();
        kinds.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        kinds.truncate(n);
        kinds
    }

    pub fn tail(&self) -> Vec<String> {
        self.0
            .lock()
            .map(|s| s.tail.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// Removes terminal colour sequences (ESC [ ... letter).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// How the server looked when the bench stopped it.
pub struct Health {
    /// Set if a spawned server had already exited before the bench stopped it.
    pub exited_early: Option<String>,
    pub log_lines: u64,
    pub warnings: u64,
    pub errors: u64,
    pub kinds: Vec<(String, u64)>,
    pub tail: Vec<String>,
}

impl Health {
    pub fn healthy(&self) -> bool {
        self.exited_early.is_none() && self.errors == 0
    }

    pub fn print(&self) {
        if let Some(status) = &self.exited_early {
            eprintln!("roomcast-bench: the server DIED during the run ({status})");
        }
        if self.log_lines > 0 {
            eprintln!(
                "roomcast-bench: the server logged {} line(s): {} warning(s), {} error(s); most frequent:",
                self.log_lines, self.warnings, self.errors
            );
            for (kind, n) in &self.kinds {
                eprintln!("  {n:>7} x {kind}");
            }
        }
        if self.exited_early.is_some() {
            eprintln!("roomcast-bench: the server's last lines:");
            for line in &self.tail {
                eprintln!("  | {line}");
            }
        }
    }
}

impl Target {
    pub async fn start(args: &ServerArgs) -> Result<Target> {
        if !args.url.is_empty() {
            let mut instances = Vec::with_capacity(args.url.len());
            for (i, url) in args.url.iter().enumerate() {
                let addr = loopback_addr(url)?;
                instances.push(Instance {
                    base: format!("http://{addr}"),
                    addr,
                    pid: args.pid.get(i).copied(),
                });
            }
            let topology = match instances.len() {
                1 => String::new(),
                n => format!("instances={n}"),
            };
            return Target::new(
                instances,
                args.backend
                    .map(|b| b.name().to_string())
                    .unwrap_or_else(|| "unknown".into()),
                topology,
                args,
                ServerLog::default(),
                None,
                None,
            );
        }
        let Some(binary) = &args.spawn else {
            bail!("say which server: --url http://127.0.0.1:PORT or --spawn PATH_TO_roomcast");
        };
        spawn(binary, args).await
    }

    fn new(
        instances: Vec<Instance>,
        backend: String,
        topology: String,
        args: &ServerArgs,
        log: ServerLog,
        redis: Option<RedisServer>,
        spawned: Option<Spawned>,
    ) -> Result<Target> {
        let first = instances.first().context("no server instance")?.clone();
        Ok(Target {
            base: first.base,
            addr: first.addr,
            pid: first.pid,
            instances,
            backend,
            topology,
            cookie_name: args.cookie_name.clone(),
            database_url: args.database_url.clone(),
            log,
            redis: redis.map(tokio::sync::Mutex::new),
            spawned,
        })
    }

    /// The processes to read CPU and memory of: every instance whose pid is known, and the
    /// bench's Redis (unless it is being restarted right now).
    pub fn procs(&self) -> Procs {
        Procs {
            servers: self.instances.iter().filter_map(|i| i.pid).collect(),
            redis: self
                .redis
                .as_ref()
                .and_then(|r| r.try_lock().ok())
                .and_then(|r| r.pid()),
        }
    }

    /// True while every spawned instance is running (with --url: unless --pid names a process
    /// that is gone).
    pub fn alive(&self) -> bool {
        self.instances
            .iter()
            .all(|i| i.pid.is_none_or(procfs::running))
    }

    /// Stops the spawned instances (SIGTERM, then SIGKILL) and their Redis, and removes their
    /// database.
    pub async fn stop(mut self) -> Result<Health> {
        let (log_lines, warnings, errors) = self.log.counts();
        let mut health = Health {
            exited_early: None,
            log_lines,
            warnings,
            errors,
            kinds: self.log.top_kinds(10),
            tail: self.log.tail(),
        };
        let Some(mut spawned) = self.spawned.take() else {
            return Ok(health);
        };
        let many = spawned.children.len() > 1;
        let mut early = Vec::new();
        for (i, child) in spawned.children.iter_mut().enumerate() {
            if let Ok(Some(status)) = child.try_wait() {
                early.push(if many {
                    format!("instance {i}: {status}")
                } else {
                    status.to_string()
                });
            } else if let Some(pid) = child.id() {
                // On failure the grace period below runs out and the server is killed.
                if let Err(e) = sigterm(pid) {
                    eprintln!("roomcast-bench: SIGTERM to the server ({pid}): {e:#}");
                }
            }
        }
        if !early.is_empty() {
            health.exited_early = Some(early.join(", "));
        }
        for child in &mut spawned.children {
            if timeout(STOP_GRACE, child.wait()).await.is_err() {
                eprintln!(
                    "roomcast-bench: the server ignored SIGTERM for {STOP_GRACE:?}; killing it"
                );
                child.kill().await.context("killing the server")?;
            }
        }
        if let Some(redis) = self.redis.take() {
            redis.into_inner().kill().await;
        }
        // A last look at the log, now that the servers have flushed it.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (log_lines, warnings, errors) = self.log.counts();
        health.log_lines = log_lines;
        health.warnings = warnings;
        health.errors = errors;
        health.kinds = self.log.top_kinds(10);
        health.tail = self.log.tail();
        match spawned.cleanup {
            Cleanup::None => {}
            Cleanup::Dir(dir) => {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("removing {}", dir.display()))?;
            }
            Cleanup::Pg { admin, name } => pg::drop_database(&admin, &name)
                .await
                .map_err(|e| anyhow!(e))?,
        }
        Ok(health)
    }
}

/// Asks our own child to stop, as Ctrl-C would, so that it drains and flushes its log.
fn sigterm(pid: u32) -> Result<()> {
    let pid = i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .with_context(|| format!("{pid} is not a process id"))?;
    kill_process(pid, Signal::TERM).context("kill")
}

/// `http://127.0.0.1:PORT` -> the address; anything but a loopback IP literal is refused.
fn loopback_addr(url: &str) -> Result<SocketAddr> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("--url must start with http:// (got {url})"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let addr: SocketAddr = authority.parse().with_context(|| {
        format!("--url needs an IP address and a port, e.g. http://127.0.0.1:8080 (got {url})")
    })?;
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_loopback() => Ok(addr),
        _ => bail!("the bench only targets 127.0.0.0/8 (got {addr})"),
    }
}

async fn spawn(binary: &Path, args: &ServerArgs) -> Result<Target> {
    let binary = binary
        .canonicalize()
        .with_context(|| format!("the server binary {}", binary.display()))?;
    let n = args.instances.max(1);
    let with_redis = match (args.bus, n) {
        (BusChoice::Auto, 1) | (BusChoice::None, 1) => false,
        (BusChoice::Auto, _) | (BusChoice::Redis, _) => true,
        (BusChoice::None, _) => {
            bail!("--instances {n} need a bus between them: --bus redis (or auto)")
        }
    };
    let backend = args.backend.unwrap_or(Backend::Sqlite);
    let postgres = match &args.database_url {
        Some(url) => url.starts_with("postgres"),
        None => backend == Backend::Postgres,
    };
    if with_redis && !postgres {
        bail!(
            "a bus between instances needs PostgreSQL (the server refuses SQLite with a bus):              add --backend postgres"
        );
    }
    let dir = std::env::temp_dir().join(format!("roomcast-bench-{}", unique_suffix()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let (database_url, db_cleanup) = match (&args.database_url, backend) {
        (Some(url), _) => (url.clone(), Cleanup::None),
        (None, Backend::Sqlite) => (
            format!("sqlite://{}", dir.join("roomcast.db").display()),
            Cleanup::None,
        ),
        (None, Backend::Postgres) => {
            let name = format!("rc_bench_{}", unique_suffix());
            let client = pg::connect(&args.pg_admin)
                .await
                .map_err(|e| anyhow!("connecting to PostgreSQL ({}): {e}", args.pg_admin))?;
            let url = pg::create_database(&client, &args.pg_admin, &name, None)
                .await
                .map_err(|e| anyhow!(e))?;
            (
                url,
                Cleanup::Pg {
                    admin: args.pg_admin.clone(),
                    name,
                },
            )
        }
    };
    let backend_name = if postgres { "postgres" } else { "sqlite" };
    let drop_db = |cleanup: &Cleanup| {
        let cleanup = match cleanup {
            Cleanup::Pg { admin, name } => Some((admin.clone(), name.clone())),
            _ => None,
        };
        let dir = dir.clone();
        async move {
            if let Some((admin, name)) = cleanup {
                let _ = pg::drop_database(&admin, &name).await;
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    };
    let redis = if with_redis {
        match RedisServer::start().await {
            Ok(redis) => {
                eprintln!("roomcast-bench: started redis-server on {}", redis.url());
                Some(redis)
            }
            Err(e) => {
                drop_db(&db_cleanup).await;
                bail!("the bus: {e}");
            }
        }
    } else {
        None
    };

    let log = ServerLog::default();
    let mut children = Vec::with_capacity(n);
    let mut instances = Vec::with_capacity(n);
    // One at a time: the first runs the migrations.
    for i in 0..n {
        let mut cmd = server_command(&binary, &dir, &database_url, i == 0);
        if let Some(redis) = &redis {
            cmd.env("ROOMCAST_BUS_URL", redis.url());
        }
        for kv in &args.server_env {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| anyhow!("--server-env wants KEY=VALUE, got {kv}"))?;
            cmd.env(k, v);
        }
        // The log is stderr's, from the start; stdout only announces the address.
        let sink: process::Sink = {
            let log = log.clone();
            Arc::new(move |pipe, line| {
                if pipe == Pipe::Stderr {
                    log.push(line);
                }
            })
        };
        let started = match process::start(cmd, READY_TIMEOUT, sink).await {
            Ok(started) => started,
            Err(why) => {
                // The ones already running go with `children` (kill_on_drop).
                drop(children);
                drop_db(&db_cleanup).await;
                bail!("the server did not start: {why}\n{}", log.tail().join("\n"));
            }
        };
        let (child, url) = (started.child, started.url);
        let pid = child.id();
        let addr = loopback_addr(&url)?;
        eprintln!(
            "roomcast-bench: started {} (pid {}) on {} with {}{}",
            binary.display(),
            pid.map(|p| p.to_string()).unwrap_or_default(),
            url,
            backend_name,
            redis
                .as_ref()
                .map(|r| format!(", bus {}", r.url()))
                .unwrap_or_default(),
        );
        children.push(child);
        instances.push(Instance {
            base: format!("http://{addr}"),
            addr,
            pid,
        });
    }
    // The temp dir holds the SQLite file (or nothing, with PostgreSQL); it goes either way.
    let cleanup = match db_cleanup {
        Cleanup::Pg { .. } => {
            let _ = std::fs::remove_dir(&dir);
            db_cleanup
        }
        _ => Cleanup::Dir(dir),
    };
    let topology = match (n, redis.is_some()) {
        (1, false) => String::new(),
        (1, true) => "instances=1 bus=redis".to_string(),
        (n, _) => format!("instances={n}"),
    };
    let mut target = Target::new(
        instances,
        backend_name.to_string(),
        topology,
        args,
        log,
        redis,
        Some(Spawned { children, cleanup }),
    )?;
    target.database_url = Some(database_url);
    Ok(target)
}

/// `roomcast serve` on a free port with the bench's settings; `announce` prints which limits
/// it lifts (once, for the first instance).
fn server_command(binary: &Path, dir: &Path, database_url: &str, announce: bool) -> Command {
    let mut cmd = Command::new(binary);
    cmd.arg("serve")
        .current_dir(dir)
        .env("ROOMCAST_BIND", "127.0.0.1:0")
        .env("ROOMCAST_DATABASE_URL", database_url)
        .env("ROOMCAST_ARGON2_MEMORY_KIB", "64")
        .env("ROOMCAST_ARGON2_ITERATIONS", "1")
        .env("ROOMCAST_LOG", "warn")
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .env_remove("ROOMCAST_CONFIG")
        // Set per deployment above; the developer's own must not leak in.
        .env_remove("ROOMCAST_BUS_URL");
    let lifted = lift_rate_limits(binary, &mut cmd);
    if announce && !lifted.is_empty() {
        eprintln!(
            "roomcast-bench: limits lifted for the bench ({}): it measures capacity, not policy",
            lifted.join(", ")
        );
    }
    cmd
}

/// Rate-limit settings the bench lifts: one benchmark user sends far more than the default
/// 5 messages/s, and every account registers from 127.0.0.1.
const RATE_KEYS: [&str; 4] = ["rate_send", "rate_rooms", "rate_bots", "rate_auth"];
/// Socket caps it lifts too: every receiver connects from 127.0.0.1, a few users open many.
const CAP_KEYS: [&str; 2] = ["ws_max_per_user", "ws_max_per_ip"];
const NO_LIMIT: &str = "1000000000";

/// Sets `ROOMCAST_RATE_*` and the socket caps to effectively unlimited, for each limit this
/// server binary knows.
/// The server refuses unknown settings, so each key is set only if the binary's compiled-in
/// defaults mention it (servers older than the rate limits have none). Returns the keys set.
fn lift_rate_limits(binary: &Path, cmd: &mut Command) -> Vec<String> {
    let Ok(bytes) = std::fs::read(binary) else {
        return Vec::new();
    };
    let mut lifted = Vec::new();
    let rates = RATE_KEYS
        .iter()
        .flat_map(|key| ["_per_minute", "_burst"].map(|suffix| format!("{key}{suffix}")));
    for name in rates.chain(CAP_KEYS.map(String::from)) {
        if bytes.windows(name.len()).any(|w| w == name.as_bytes()) {
            cmd.env(format!("ROOMCAST_{}", name.to_uppercase()), NO_LIMIT);
            lifted.push(name);
        }
    }
    lifted
}
