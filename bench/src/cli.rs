//! Command-line options: which server, which scenario, and each scenario's knobs.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "roomcast-bench",
    version,
    about = "Load generator for roomcast (HTTP send, WebSocket receive) on 127.0.0.1",
    after_help = "Examples:\n  \
        roomcast-bench --spawn target/release/roomcast send --concurrency 1,8,64 --rooms 1,50\n  \
        roomcast-bench --spawn target/release/roomcast --backend postgres fanout --receivers 1000\n  \
        roomcast-bench --url http://127.0.0.1:8080 joins\n  \
        roomcast-bench --spawn target/release/roomcast --backend postgres --instances 2 latency\n  \
        roomcast-bench --spawn target/release/roomcast --backend postgres --instances 2 bus-recovery\n  \
        roomcast-bench summarize results.jsonl"
)]
pub struct Cli {
    #[command(flatten)]
    pub server: ServerArgs,

    /// Stop everything after this many seconds, whatever the scenario is doing.
    #[arg(long, global = true, default_value_t = 600.0)]
    pub deadline_seconds: f64,

    /// Also append each JSON result line to this file.
    #[arg(long, global = true)]
    pub json_out: Option<PathBuf>,

    /// A free-form tag copied into the JSON line (e.g. "baseline").
    #[arg(long, global = true, default_value = "")]
    pub label: String,

    /// WebSockets connect from this many source addresses, 127.0.0.2 and up (1 = 127.0.0.1
    /// only); each address has its own ~28k ephemeral ports.
    #[arg(long, global = true, default_value_t = 8)]
    pub source_addrs: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args)]
pub struct ServerArgs {
    /// Use a running server, e.g. http://127.0.0.1:8080 (loopback only); several instances of
    /// one deployment: their URLs, comma-separated (or --url repeated).
    #[arg(long, global = true, conflicts_with = "spawn", value_delimiter = ',')]
    pub url: Vec<String>,

    /// Start this roomcast binary on 127.0.0.1:0 with a fresh database and stop it at the end.
    #[arg(long, global = true)]
    pub spawn: Option<PathBuf>,

    /// With --spawn: start this many instances on the one fresh database (PostgreSQL for more
    /// than one), each on its own port, with a redis-server of the bench's own as their bus.
    /// `latency` spreads its senders and receivers over them; the other scenarios use the
    /// first.
    #[arg(long, global = true, default_value_t = 1)]
    pub instances: usize,

    /// With --spawn: the bus between the instances. auto: Redis for 2 or more instances, none
    /// (in-process) for one; redis: Redis even for one instance (to see the bus's own cost).
    #[arg(long, global = true, value_enum, default_value_t = BusChoice::Auto)]
    pub bus: BusChoice,

    /// Database for --spawn: a fresh SQLite file in a temp dir, or a fresh PostgreSQL database
    /// created through --pg-admin and dropped at the end. With --url this only labels results.
    #[arg(long, global = true, value_enum)]
    pub backend: Option<Backend>,

    /// With --spawn: use this database URL as is (not created, not dropped).
    #[arg(long, global = true)]
    pub database_url: Option<String>,

    /// Where to create and drop the fresh PostgreSQL database (tokio-postgres syntax).
    #[arg(
        long,
        global = true,
        default_value = "host=127.0.0.1 port=5432 user=postgres dbname=test"
    )]
    pub pg_admin: String,

    /// Extra environment for the spawned server, KEY=VALUE (repeatable), e.g.
    /// ROOMCAST_WORKERS=2. Applied after the bench's own settings.
    #[arg(long = "server-env", global = true, value_name = "KEY=VALUE")]
    pub server_env: Vec<String>,

    /// With --url: the server's process id, for RSS and CPU readings from /proc (several
    /// instances: their ids in --url's order, comma-separated).
    #[arg(long, global = true, value_delimiter = ',')]
    pub pid: Vec<u32>,

    /// Name of the session cookie.
    #[arg(long, global = true, default_value = "roomcast_session")]
    pub cookie_name: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BusChoice {
    Auto,
    /// In-process: one instance only.
    None,
    Redis,
}

#[derive(Subcommand)]
pub enum Command {
    /// Send throughput: C concurrent senders into 1 room and into many rooms.
    Send(SendArgs),
    /// Fan-out: R receivers in one room get M messages; every delivery is verified.
    Fanout(FanoutArgs),
    /// Steady-rate sending into a room with many receivers; send-to-receive latency (with
    /// several instances: on the sender's instance and on another, separately).
    Latency(LatencyArgs),
    /// Many instances: receivers on instance B, a steady sender on A; Redis (the bus) is
    /// killed and started again; the time from Redis answering again until every receiver
    /// has every message sent so far. Needs --spawn --backend postgres --instances 2 (or more).
    BusRecovery(BusRecoveryArgs),
    /// Many idle sockets: server memory per socket and CPU at rest.
    Idle(IdleArgs),
    /// Concurrent joins on a small room: exactly the free seats succeed.
    Joins(JoinsArgs),
    /// The durable-write floor: BEGIN, one INSERT, COMMIT in a loop on a fresh SQLite file
    /// (WAL, synchronous=FULL) beside the server's; with --with-send, also send at c=1.
    Commit(CommitArgs),
    /// Unread counts: one user in N rooms holding M messages in all (seeded with SQL straight
    /// into the database), then GET /api/rooms again and again. Needs --spawn (or
    /// --database-url with --url).
    Unread(UnreadArgs),
    /// Every scenario once, with modest sizes.
    All,
    /// Medians of JSON result lines (from --json-out files) as Markdown tables.
    Summarize(SummarizeArgs),
    /// An SVG bar chart of send throughput: one results file against another.
    Chart(ChartArgs),
}

#[derive(Args, Clone)]
pub struct SendArgs {
    /// Concurrent senders (each loops: POST, wait for 201, POST again); one run per value.
    #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
    pub concurrency: Vec<usize>,
    /// Rooms the senders are spread over; one run per value.
    #[arg(long, value_delimiter = ',', default_value = "1,50")]
    pub rooms: Vec<usize>,
    /// Measured seconds per run (after the warm-up).
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Stop a run after this many measured messages (whichever of this and --seconds comes
    /// first).
    #[arg(long)]
    pub messages: Option<u64>,
    /// Unmeasured sending before each run.
    #[arg(long, default_value_t = 1.0)]
    pub warmup_seconds: f64,
    /// Message content length in bytes.
    #[arg(long, default_value_t = 64)]
    pub content_bytes: usize,
}

/// `fanout`'s senders unless told otherwise; results keyed without `senders=` used this many.
pub const FANOUT_SENDERS: usize = 4;

#[derive(Args, Clone)]
pub struct FanoutArgs {
    /// Receivers (WebSockets) in the room; one run per value.
    #[arg(long, value_delimiter = ',', default_value = "1000,5000")]
    pub receivers: Vec<usize>,
    /// Messages sent into the room per run.
    #[arg(long, default_value_t = 200)]
    pub messages: u64,
    /// Senders, each waiting for its 201 before its next POST; the messages are split
    /// between them (1 = one speaker).
    #[arg(long, default_value_t = FANOUT_SENDERS)]
    pub senders: usize,
    /// After each server run, the same receivers on the bench's own minimal broadcaster
    /// (no database, no auth): the machine's ceiling, and the server's share of it.
    #[arg(long)]
    pub with_raw: bool,
    /// Accounts the receivers' sockets are spread over (one account may hold many sockets).
    #[arg(long, default_value_t = 10)]
    pub receiver_accounts: usize,
    /// Give up waiting for deliveries after this many seconds.
    #[arg(long, default_value_t = 60.0)]
    pub wait_seconds: f64,
    /// Message content length in bytes.
    #[arg(long, default_value_t = 64)]
    pub content_bytes: usize,
}

#[derive(Args, Clone)]
pub struct LatencyArgs {
    /// Receivers (WebSockets) in the room.
    #[arg(long, default_value_t = 1000)]
    pub receivers: usize,
    /// Messages per second, sent open-loop on a fixed schedule.
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    /// Seconds of sending.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Sender accounts (sends rotate over them).
    #[arg(long, default_value_t = 8)]
    pub senders: usize,
    /// At most this many sends in flight; a scheduled send beyond it is skipped and counted.
    #[arg(long, default_value_t = 256)]
    pub max_in_flight: usize,
    /// Accounts the receivers' sockets are spread over.
    #[arg(long, default_value_t = 10)]
    pub receiver_accounts: usize,
    /// Give up waiting for deliveries this many seconds after the last send.
    #[arg(long, default_value_t = 30.0)]
    pub wait_seconds: f64,
    /// Message content length in bytes.
    #[arg(long, default_value_t = 64)]
    pub content_bytes: usize,
}

#[derive(Args, Clone)]
pub struct BusRecoveryArgs {
    /// Receivers (WebSockets) in the room, all on the second instance.
    #[arg(long, default_value_t = 100)]
    pub receivers: usize,
    /// Messages per second, sent open-loop to the first instance.
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    /// Seconds of sending before Redis is killed.
    #[arg(long, default_value_t = 3.0)]
    pub before_seconds: f64,
    /// Seconds Redis stays down (sending goes on).
    #[arg(long, default_value_t = 3.0)]
    pub down_seconds: f64,
    /// Seconds of sending after Redis answers again.
    #[arg(long, default_value_t = 5.0)]
    pub after_seconds: f64,
    /// Sender accounts (sends rotate over them).
    #[arg(long, default_value_t = 4)]
    pub senders: usize,
    /// At most this many sends in flight; a scheduled send beyond it is skipped and counted.
    #[arg(long, default_value_t = 256)]
    pub max_in_flight: usize,
    /// Accounts the receivers' sockets are spread over.
    #[arg(long, default_value_t = 10)]
    pub receiver_accounts: usize,
    /// Give up waiting for deliveries this many seconds after the last send.
    #[arg(long, default_value_t = 30.0)]
    pub wait_seconds: f64,
    /// Message content length in bytes.
    #[arg(long, default_value_t = 64)]
    pub content_bytes: usize,
}

#[derive(Args, Clone)]
pub struct IdleArgs {
    /// Idle sockets to open.
    #[arg(long, default_value_t = 20000)]
    pub sockets: usize,
    /// Seconds over which the server's CPU at rest is measured.
    #[arg(long, default_value_t = 10.0)]
    pub rest_seconds: f64,
    /// Pause before each RSS reading.
    #[arg(long, default_value_t = 2.0)]
    pub settle_seconds: f64,
    /// Handshakes in flight while opening.
    #[arg(long, default_value_t = 128)]
    pub connect_concurrency: usize,
    /// Accounts the sockets are spread over.
    #[arg(long, default_value_t = 4)]
    pub accounts: usize,
}

#[derive(Args, Clone)]
pub struct JoinsArgs {
    /// Distinct users joining at the same moment.
    #[arg(long, default_value_t = 1000)]
    pub joiners: usize,
    /// Room capacity (the owner holds one seat).
    #[arg(long, default_value_t = 100)]
    pub capacity: i64,
}

#[derive(Args, Clone)]
pub struct UnreadArgs {
    /// Rooms the user is a member of.
    #[arg(long, default_value_t = 100)]
    pub rooms: i64,
    /// Messages in all, by another user, spread evenly over the rooms.
    #[arg(long, default_value_t = 1_000_000)]
    pub messages: i64,
    /// Measured GET /api/rooms requests, one at a time.
    #[arg(long, default_value_t = 1000)]
    pub requests: usize,
    /// Unmeasured requests first.
    #[arg(long, default_value_t = 50)]
    pub warmup: usize,
}

#[derive(Args, Clone)]
pub struct CommitArgs {
    /// Measured seconds of the loop (after the warm-up); also the send run's, with --with-send.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Stop the loop after this many measured commits (whichever of this and --seconds first).
    #[arg(long)]
    pub commits: Option<u64>,
    /// Unmeasured commits before the loop (and sends before the send run).
    #[arg(long, default_value_t = 1.0)]
    pub warmup_seconds: f64,
    /// Length in bytes of the row's text column.
    #[arg(long, default_value_t = 64)]
    pub content_bytes: usize,
    /// After the loop, run `send` at c=1 into one room, then the loop again; report
    /// send_p50 / commit_p50 (both loops).
    #[arg(long)]
    pub with_send: bool,
}

#[derive(Args, Clone)]
pub struct ChartArgs {
    /// Results before the change (JSON lines from --json-out).
    pub before: PathBuf,
    /// Results after the change.
    pub after: PathBuf,
    /// Where to write the SVG.
    #[arg(long, default_value = "docs/bench-send.svg")]
    pub out: PathBuf,
}

#[derive(Args, Clone)]
pub struct SummarizeArgs {
    /// JSON-lines files written with --json-out.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Only lines with this label.
    #[arg(long)]
    pub only_label: Option<String>,
}
