//! A real `roomcast serve` process on a free port, on its own database.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use roomcast_testkit::process;
use tokio::process::{Child, Command};
use tokio::time::timeout;

use super::backend::{Backend, TestDb};
use super::http::Client;
use super::users::User;

const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How many lines of server output are kept for failure reports.
const LOG_LINES: usize = 2000;

/// `http://127.0.0.1:<port>` of the running server. Shared with every client
/// so that clients keep working if a restart has to move to another port.
pub type BaseUrl = Arc<RwLock<String>>;

#[derive(Clone, Default)]
struct Log(Arc<Mutex<VecDeque<String>>>);

impl Log {
    fn push(&self, line: String) {
        let mut lines = self.0.lock().unwrap();
        if lines.len() == LOG_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    fn tail(&self, n: usize) -> String {
        let lines = self.0.lock().unwrap();
        let skip = lines.len().saturating_sub(n);
        lines
            .iter()
            .skip(skip)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    }
}

pub struct TestServerBuilder {
    backend: Backend,
    env: Vec<(String, String)>,
    database_port: Option<u16>,
    shared_db: Option<Arc<TestDb>>,
}

impl TestServerBuilder {
    /// Sets a `ROOMCAST_*` (or other) variable for this server, on top of the
    /// suite's defaults; it is kept across restarts.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// PostgreSQL only: the server reaches its database at
    /// `127.0.0.1:<port>` (a `DbProxy`) rather than at PostgreSQL's own port.
    pub fn database_port(mut self, port: u16) -> Self {
        self.database_port = Some(port);
        self
    }

    /// Serves `db`, which other servers serve too (many instances of one deployment).
    #[allow(dead_code)] // used by the multi-instance tests, not by tests/soak
    pub fn shared_db(mut self, db: Arc<TestDb>) -> Self {
        self.shared_db = Some(db);
        self
    }

    pub async fn start(self) -> TestServer {
        let db = match self.shared_db {
            Some(db) => db,
            None => Arc::new(TestDb::create_via(self.backend, self.database_port).await),
        };
        let mut server = TestServer {
            child: None,
            db,
            backend: self.backend,
            env: self.env,
            base: BaseUrl::default(),
            metrics: None,
            log: Log::default(),
        };
        if let Err(e) = server.spawn("127.0.0.1:0").await {
            panic!("{e}");
        }
        server
    }
}

pub struct TestServer {
    // Declared before `db` so that the process is gone before its database.
    child: Option<Child>,
    db: Arc<TestDb>,
    backend: Backend,
    env: Vec<(String, String)>,
    base: BaseUrl,
    /// `http://127.0.0.1:<port>/metrics` of the metrics listener, if it has one.
    metrics: Option<String>,
    log: Log,
}

impl TestServer {
    pub fn builder(backend: Backend) -> TestServerBuilder {
        TestServerBuilder {
            backend,
            env: Vec::new(),
            database_port: None,
            shared_db: None,
        }
    }

    pub async fn start(backend: Backend) -> TestServer {
        Self::builder(backend).start().await
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn url(&self) -> String {
        self.base.read().unwrap().clone()
    }

    /// The shared cell holding `url()`: a client made with it follows this server's restarts,
    /// even to another port.
    #[allow(dead_code)] // used by the soak checker's many-instance mode (tests/soak)
    pub fn base(&self) -> BaseUrl {
        self.base.clone()
    }

    /// `127.0.0.1:<port>`, what a browser sends as Host (and in Origin).
    pub fn authority(&self) -> String {
        self.url().trim_start_matches("http://").to_string()
    }

    /// The metrics listener's `/metrics` URL (the suite gives every server one on a free
    /// port, unless a test sets `ROOMCAST_METRICS_BIND` itself).
    pub fn metrics_url(&self) -> Option<String> {
        self.metrics.clone()
    }

    /// A client with an empty cookie jar: an anonymous visitor.
    pub fn client(&self) -> Client {
        Client::new(self.base.clone())
    }

    /// A freshly registered and logged-in user with a unique name.
    pub async fn user(&self) -> User {
        User::create(self.client()).await
    }

    /// `n` registered and logged-in users, made a few at a time (setup, not
    /// the thing under test, so it should not stress the server).
    pub async fn users(&self, n: usize) -> Vec<User> {
        use futures_util::stream::{self, StreamExt};
        stream::iter(0..n)
            .map(|_| self.user())
            .buffer_unordered(16)
            .collect()
            .await
    }

    /// Kills the process with SIGKILL (no graceful shutdown) and waits for it.
    /// The database stays; `start_again` serves it again.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            match timeout(Duration::from_secs(10), child.wait()).await {
                Ok(_) => {}
                Err(_) => panic!("server did not exit within 10 s of SIGKILL"),
            }
        }
    }

    /// Starts the server again on the same database, on the same port if it
    /// is still free (so URLs and cookies stay valid), else on a new one.
    pub async fn start_again(&mut self) {
        assert!(self.child.is_none(), "start_again while the server runs");
        let same_port = self.authority();
        if let Err(first) = self.spawn(&same_port).await {
            self.log.push(format!(
                "[e2e] restart on {same_port} failed, trying a new port"
            ));
            if let Err(second) = self.spawn("127.0.0.1:0").await {
                panic!("restart failed on {same_port}: {first}\nand on a new port: {second}");
            }
        }
    }

    /// Sets (or replaces) a variable for the next `start_again`/`restart`: an
    /// operator changing the configuration between runs.
    #[allow(dead_code)] // not every test binary restarts with new settings
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
    }

    /// What the server is given as `ROOMCAST_DATABASE_URL`.
    #[allow(dead_code)] // for tests that open the database themselves
    pub fn database_url(&self) -> &str {
        &self.db.url
    }

    /// Holds the database's write lock until the block is released.
    pub async fn block_writes(&self) -> super::WriteBlock {
        super::WriteBlock::take(&self.db.url).await
    }

    /// The server process's id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(|c| c.id())
    }

    /// Sends SIGTERM (a graceful shutdown request) to this server's process,
    /// and only to it; `wait_exit` collects the result.
    pub fn terminate(&self) {
        let pid = self.pid().expect("terminate: the server is not running");
        let status = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .expect("cannot run kill(1)");
        assert!(status.success(), "kill -TERM {pid} failed: {status}");
    }

    /// Waits for the process to exit on its own and returns its status and
    /// how long that took. Panics (after a SIGKILL) if it is still running
    /// after `within`. `start_again` serves the same database afterwards.
    pub async fn wait_exit(&mut self, within: Duration) -> (std::process::ExitStatus, Duration) {
        let mut child = self
            .child
            .take()
            .expect("wait_exit: the server is not running");
        let started = tokio::time::Instant::now();
        match timeout(within, child.wait()).await {
            Ok(status) => (status.unwrap(), started.elapsed()),
            Err(_) => {
                let _ = child.start_kill();
                let _ = timeout(Duration::from_secs(10), child.wait()).await;
                panic!(
                    "server still running {within:?} after it was asked to exit\n\
                     --- server output ---\n{}",
                    self.log.tail(80)
                );
            }
        }
    }

    /// The last `n` lines the server printed (for reports).
    #[allow(dead_code)] // used by the soak checker (tests/soak)
    pub fn log_tail(&self, n: usize) -> String {
        self.log.tail(n)
    }

    /// `kill` (SIGKILL) followed by `start_again`.
    pub async fn restart(&mut self) {
        self.kill().await;
        self.start_again().await;
    }

    async fn spawn(&mut self, bind: &str) -> Result<(), String> {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_roomcast"));
        cmd.arg("serve");
        // The developer's own settings must not leak into the tests.
        for (key, _) in std::env::vars() {
            if key.starts_with("ROOMCAST_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("ROOMCAST_BIND", bind)
            .env("ROOMCAST_DATABASE_URL", &self.db.url)
            // Cheap hashing: tests register hundreds of users.
            .env("ROOMCAST_ARGON2_MEMORY_KIB", "64")
            .env("ROOMCAST_ARGON2_ITERATIONS", "1")
            // Setup registers users many at a time on a busy machine: they wait for a hashing
            // slot rather than get 503 `overloaded` (a test of that sets its own wait).
            .env("ROOMCAST_ARGON2_WAIT_MS", "30000")
            // Hundreds of users from one IP, thousands of sends: limits out of the way unless
            // a test sets its own through `env`.
            .env("ROOMCAST_RATE_AUTH_PER_MINUTE", "1000000")
            .env("ROOMCAST_RATE_AUTH_BURST", "100000")
            .env("ROOMCAST_RATE_LOGIN_USER_PER_MINUTE", "1000000")
            .env("ROOMCAST_RATE_LOGIN_USER_BURST", "100000")
            .env("ROOMCAST_RATE_SEND_PER_MINUTE", "1000000")
            .env("ROOMCAST_RATE_SEND_BURST", "100000")
            .env("ROOMCAST_RATE_ROOMS_PER_MINUTE", "1000000")
            .env("ROOMCAST_RATE_ROOMS_BURST", "100000")
            .env("ROOMCAST_RATE_BOTS_PER_MINUTE", "1000000")
            .env("ROOMCAST_RATE_BOTS_BURST", "100000")
            .env("ROOMCAST_WS_MAX_PER_USER", "100000")
            .env("ROOMCAST_WS_MAX_PER_IP", "100000")
            // Metrics on a listener of their own, on a free port (read from the output).
            .env("ROOMCAST_METRICS_BIND", "127.0.0.1:0")
            .env("RUST_LOG", "warn")
            .env("ROOMCAST_LOG", "warn");
        for (key, value) in &self.env {
            cmd.env(key, value);
        }
        let log = self.log.clone();
        let sink: process::Sink = Arc::new(move |_, line| log.push(line));
        match process::start(cmd, READY_TIMEOUT, sink).await {
            Ok(started) => {
                *self.base.write().unwrap() = started.url;
                self.metrics = started.metrics;
                self.child = Some(started.child);
                Ok(())
            }
            Err(e) => Err(format!(
                "roomcast serve ({:?}, bind {bind}): {e}\n--- server output ---\n{}",
                self.backend,
                self.log.tail(200)
            )),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.start_kill();
        }
        // The harness shows this only for failed tests; the server's side of
        // the story is usually what explains the failure.
        if std::thread::panicking() {
            eprintln!(
                "--- roomcast ({:?}) output, last lines ---\n{}\n--- end of server output ---",
                self.backend,
                self.log.tail(80)
            );
        }
    }
}
