//! Soak checker: steady keyed sends, resuming receivers, and faults, then a
//! verdict on every message and every receiver.
//!
//! S senders post into R rooms at a steady rate for T seconds. Every send
//! carries an `Idempotency-Key` and is retried with the same key (and body)
//! on timeouts, connection errors and 5xx, with a small bounded backoff.
//! W WebSocket receivers (one room each) disconnect at random moments and
//! resume with `after=<last seq seen>`; when the server is gone they
//! reconnect with backoff. Mid-run the server is killed with SIGKILL and
//! started again on the same port and database, and (PostgreSQL only) the
//! database can be taken away for a few seconds through a TCP proxy.
//!
//! **Many instances** (`cluster::soak`): the same, on N servers sharing one
//! PostgreSQL database, with a `redis-server` of the test's own as their bus.
//! Each send goes to a random instance and each retry (same key, same body) to
//! the next one, as behind a load balancer; each receiver connection goes to
//! a random instance, resuming with `after=`, so most events reach it through
//! the bus from another instance. Mid-run Redis is killed with SIGKILL and
//! started again (empty) a few seconds later, and a random instance is killed
//! with SIGKILL and restarted. The verdict is the same.
//!
//! The verdict, from each room's log as the store replays it afterwards:
//! every receiver holds exactly its room's log (no gap, no duplicate, in
//! order); every acknowledged (201) message is in the log as acknowledged;
//! every message in the log is one that was sent (acknowledged, or a send
//! whose answer was lost); no content is stored twice.
//!
//! Beside the honest senders, a hostile one (a member of every room) sends
//! poison: a NUL in the content, a body over 64 KiB, content over 4,000
//! characters, wrong JSON types, malformed JSON, a wrong Content-Type, a bad
//! Idempotency-Key. Each must get a 4xx (or no answer / 503 while a fault is
//! on), never a 2xx or another 5xx, none may be stored, and the honest
//! senders' verdict above must not notice it.
//!
//! Short run (what `cargo test` runs; about 15 s per backend, one kill; the
//! many-instance run: 3 instances, one Redis outage, one instance kill):
//!
//! ```sh
//! cargo test --test soak -- --nocapture
//! ```
//!
//! Long run:
//!
//! ```sh
//! SOAK_SECS=300 SOAK_KILL_SERVER=5 SOAK_KILL_DB=3 cargo test --release --test soak -- --nocapture
//! ```
//!
//! One backend only: add `sqlite` or `postgres` after `--test soak`; the
//! many-instance run only: `cluster`. Its long run:
//!
//! ```sh
//! SOAK_SECS=300 SOAK_INSTANCES=3 SOAK_KILL_REDIS=3 SOAK_KILL_SERVER=3 SOAK_KILL_DB=2 \
//! cargo test --release --test soak cluster -- --nocapture
//! ```
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `SOAK_SECS` | 14 | how long the senders send |
//! | `SOAK_SENDERS` | 6 | S: sending users (each one task, each in every room) |
//! | `SOAK_ROOMS` | 3 | R: rooms |
//! | `SOAK_RECEIVERS` | 6 | W: WebSocket receivers, spread over the rooms |
//! | `SOAK_RATE` | 8 | messages per second per sender (the test server lifts its rate limits) |
//! | `SOAK_KILL_SERVER` | 1 | SIGKILL + restart this many times, spread over the run (0: never); many instances: a random one each time |
//! | `SOAK_KILL_DB` | 0 | PostgreSQL: take the database away (3 s) this many times |
//! | `SOAK_DB_DOWN_SECS` | 3 | how long each database outage lasts |
//! | `SOAK_HOSTILE_RATE` | 2 | poison inputs per second from the hostile sender (0: none) |
//! | `SOAK_SEED` | random | seeds the receivers' disconnects, the senders' room choice, the instances picked |
//! | `SOAK_INSTANCES` | 3 | many instances only: N servers (at least 2) |
//! | `SOAK_KILL_REDIS` | 1 | many instances only: SIGKILL Redis and start it again this many times |
//! | `SOAK_REDIS_DOWN_SECS` | 3 | how long each Redis outage lasts |

// For the whole test crate, helpers included (clippy.toml's in-test allowances cover only
// #[test] functions); never in src/ or bench/.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "a test harness that panics on a broken expectation is reporting the failure"
)]

#[macro_use]
#[allow(dead_code, unused_imports, unused_macros)]
#[path = "../e2e/support/mod.rs"]
mod support;

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use roomcast_testkit::redis::RedisServer;
use serde_json::Value;
use tokio::sync::{watch, Mutex};
use tokio::time::{interval, sleep, sleep_until, Instant, MissedTickBehavior};

use support::{
    kind, send_until_acked_via, seq, Backend, Client, DbProxy, Incoming, NotAcked, RetryPolicy,
    TestDb, TestServer, TestServerBuilder,
};

backend_tests!(soak);

/// Many instances of one deployment: PostgreSQL only (a bus on SQLite is refused).
mod cluster {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn soak() {
        super::soak_cluster().await
    }
}

#[derive(Debug, Clone)]
struct Params {
    secs: u64,
    senders: usize,
    rooms: usize,
    receivers: usize,
    rate: f64,
    kill_server: u32,
    kill_db: u32,
    db_down_secs: u64,
    hostile_rate: f64,
    seed: u64,
    /// 1: one server, no bus; more: that many on one database, Redis between them.
    instances: usize,
    kill_redis: u32,
    redis_down_secs: u64,
}

fn env_or<T: FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(text) if !text.trim().is_empty() => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} does not parse")),
        _ => default,
    }
}

impl Params {
    /// `many`: the many-instance run, which alone reads `SOAK_INSTANCES` and
    /// `SOAK_KILL_REDIS`.
    fn from_env(many: bool) -> Params {
        let params = Params {
            secs: env_or("SOAK_SECS", 14),
            senders: env_or("SOAK_SENDERS", 6),
            rooms: env_or("SOAK_ROOMS", 3),
            receivers: env_or("SOAK_RECEIVERS", 6),
            rate: env_or("SOAK_RATE", 8.0),
            kill_server: env_or("SOAK_KILL_SERVER", 1),
            kill_db: env_or("SOAK_KILL_DB", 0),
            db_down_secs: env_or("SOAK_DB_DOWN_SECS", 3),
            hostile_rate: env_or("SOAK_HOSTILE_RATE", 2.0),
            seed: env_or("SOAK_SEED", rand::random()),
            instances: if many { env_or("SOAK_INSTANCES", 3) } else { 1 },
            kill_redis: if many {
                env_or("SOAK_KILL_REDIS", 1)
            } else {
                0
            },
            redis_down_secs: env_or("SOAK_REDIS_DOWN_SECS", 3),
        };
        assert!(params.senders >= 1 && params.rooms >= 1, "{params:?}");
        assert!(params.rate > 0.0, "SOAK_RATE must be positive");
        assert!(
            params.hostile_rate >= 0.0,
            "SOAK_HOSTILE_RATE must not be negative"
        );
        assert!(
            !many || params.instances >= 2,
            "SOAK_INSTANCES must be at least 2 (one instance is what `sqlite`/`postgres` run)"
        );
        params
    }
}

/// What one sender did.
#[derive(Default)]
struct SenderLog {
    /// (room, content) of every message it tried to send, in order.
    attempted: Vec<(i64, String)>,
    /// (room, content, stored message) of every 201.
    acked: Vec<(i64, String, Value)>,
    /// Sends whose retries ran out: outcome unknown.
    gave_up: Vec<(i64, String)>,
    /// Definite refusals (4xx): a server bug, since every send is valid.
    refused: Vec<String>,
    /// Failed attempts that were retried.
    retries: usize,
    /// Attempts answered with a 5xx other than 503 (which means "away, retry"):
    /// what a poison input in the same batch would cause.
    server_errors: usize,
    /// 201s marked `Idempotent-Replayed` (the first answer was lost, the
    /// message had been stored).
    replays: usize,
    /// content -> (when its 201 came, which instance answered it).
    acked_at: HashMap<String, (Instant, usize)>,
}

/// What one receiver saw.
struct ReceiverLog {
    room: i64,
    /// Every event frame, in arrival order, across all its connections.
    events: Vec<Value>,
    /// For each of `events`: when it came, on which connection.
    arrivals: Vec<Arrival>,
    connections: usize,
    /// Disconnects the receiver chose.
    disconnects: usize,
    /// Connections the server ended (close frame or not).
    dropped: usize,
    /// Close codes other than the resumable ones (1001, 4008) or none.
    bad_closes: Vec<String>,
    /// Refused handshakes other than 503 (e.g. 401/403: a server bug here).
    bad_refusals: Vec<u16>,
    failed_connects: usize,
}

/// When an event came to a receiver, and on what connection.
#[derive(Clone, Copy)]
struct Arrival {
    at: Instant,
    /// When that connection was opened: an event committed after it came live (through the
    /// bus, from another instance), not from the backfill.
    opened: Instant,
    instance: usize,
}

#[derive(Default, Debug)]
struct Verdict {
    losses: usize,
    duplicates: usize,
    foreign: usize,
    disorder: usize,
    mismatched: usize,
    unacked_stored: usize,
    problems: Vec<String>,
}

impl Verdict {
    fn problem(&mut self, text: String) {
        if self.problems.len() < 40 {
            self.problems.push(text);
        }
    }
}

/// The servers under test: one, or N instances of one deployment on one database with a
/// Redis of their own as the bus; the database possibly behind a proxy that can cut it off.
struct Fleet {
    servers: Vec<TestServer>,
    /// Shared with the Redis outage tasks, which kill and restart it in the background.
    redis: Option<Arc<Mutex<RedisServer>>>,
}

impl Fleet {
    async fn start(b: Backend, p: &Params, proxy: Option<&DbProxy>) -> Fleet {
        let configure = |builder: TestServerBuilder| {
            let builder = builder.env("ROOMCAST_DB_POOL_TIMEOUT_MS", "1000");
            match proxy {
                Some(proxy) => builder.database_port(proxy.port()),
                None => builder,
            }
        };
        if p.instances <= 1 {
            let server = configure(TestServer::builder(b)).start().await;
            return Fleet {
                servers: vec![server],
                redis: None,
            };
        }
        assert_eq!(b, Backend::Postgres, "many instances need PostgreSQL");
        let redis = RedisServer::start().await.unwrap_or_else(|e| panic!("{e}"));
        let db = Arc::new(TestDb::create_via(b, proxy.map(DbProxy::port)).await);
        let mut servers = Vec::with_capacity(p.instances);
        // One at a time: the first runs the migrations.
        for _ in 0..p.instances {
            let builder = configure(TestServer::builder(b))
                .shared_db(db.clone())
                .env("ROOMCAST_BUS_URL", &redis.url());
            servers.push(builder.start().await);
        }
        Fleet {
            servers,
            redis: Some(Arc::new(Mutex::new(redis))),
        }
    }

    /// `client` (its cookie jar, so its session) on every instance.
    fn everywhere(&self, client: &Client) -> Everywhere {
        Everywhere {
            client: client.clone(),
            bases: self.servers.iter().map(TestServer::base).collect(),
        }
    }

    fn urls(&self) -> String {
        let urls: Vec<String> = self.servers.iter().map(TestServer::url).collect();
        urls.join(" ")
    }
}

/// One user's client on every instance. The cookie jar is per host, not per port, so the
/// session made on one instance on 127.0.0.1 goes to all of them.
#[derive(Clone)]
struct Everywhere {
    client: Client,
    /// Each instance's address, as it follows a restart (to another port if its own was
    /// taken).
    bases: Vec<Arc<RwLock<String>>>,
}

impl Everywhere {
    fn len(&self) -> usize {
        self.bases.len()
    }

    fn on(&self, instance: usize) -> Client {
        self.client.at(&self.bases[instance].read().unwrap())
    }

    fn all(&self) -> Vec<Client> {
        (0..self.len()).map(|i| self.on(i)).collect()
    }
}

async fn soak(b: Backend) {
    run(b, Params::from_env(false)).await
}

async fn soak_cluster() {
    run(Backend::Postgres, Params::from_env(true)).await
}

async fn run(b: Backend, p: Params) {
    let kill_db = match b {
        Backend::Postgres => p.kill_db,
        // SQLite is a file inside the server process: it cannot be "down".
        Backend::Sqlite => 0,
    };
    let proxy = if kill_db > 0 {
        Some(Arc::new(DbProxy::to_postgres().await))
    } else {
        None
    };
    let mut fleet = Fleet::start(b, &p, proxy.as_deref()).await;
    let label = match p.instances {
        1 => format!("{b:?}").to_lowercase(),
        n => format!("postgres+redis x{n}"),
    };
    println!("soak: start backend={label} {p:?} on {}", fleet.urls());

    // The cast: an owner, R rooms, S senders in every room, W receivers. Accounts are made
    // on the first instance; their sessions work on every one (one database).
    let server = &fleet.servers[0];
    let owner = server.user().await;
    let capacity = i64::try_from((p.senders + p.receivers + 2).min(10_000)).unwrap();
    let mut rooms = Vec::new();
    for _ in 0..p.rooms {
        rooms.push(owner.new_room(capacity).await);
    }
    let senders = server.users(p.senders).await;
    for user in &senders {
        for &room in &rooms {
            user.join(room).await.expect(201);
        }
    }
    let hostile = server.user().await;
    for &room in &rooms {
        hostile.join(room).await.expect(201);
    }
    let receivers = server.users(p.receivers).await;
    for (i, user) in receivers.iter().enumerate() {
        user.join(rooms[i % rooms.len()]).await.expect(201);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let (set_targets, targets) = watch::channel::<Option<HashMap<i64, i64>>>(None);

    let mut receiver_tasks = Vec::new();
    for (i, user) in receivers.iter().enumerate() {
        let room = rooms[i % rooms.len()];
        let rng = StdRng::seed_from_u64(p.seed ^ (0x5eed_0000 + u64::try_from(i).unwrap()));
        receiver_tasks.push(tokio::spawn(receive(
            fleet.everywhere(&user.client),
            room,
            rng,
            targets.clone(),
        )));
    }
    let mut sender_tasks = Vec::new();
    for (i, user) in senders.iter().enumerate() {
        let rng = StdRng::seed_from_u64(p.seed ^ (0xa11c_e000 + u64::try_from(i).unwrap()));
        sender_tasks.push(tokio::spawn(send(
            fleet.everywhere(&user.client),
            i,
            rooms.clone(),
            p.rate,
            rng,
            stop.clone(),
        )));
    }

    let hostile_task = (p.hostile_rate > 0.0).then(|| {
        tokio::spawn(poison(
            fleet.everywhere(&hostile.client),
            rooms.clone(),
            p.hostile_rate,
            stop.clone(),
        ))
    });

    // The faults, spread over the run.
    let start = Instant::now();
    let run = Duration::from_secs(p.secs);
    let mut schedule: Vec<(Duration, Fault)> = Vec::new();
    for k in 1..=p.kill_server {
        schedule.push((run * k / (p.kill_server + 1), Fault::KillServer));
    }
    for k in 1..=kill_db {
        // Halfway between kills where the counts allow; where a kill falls
        // into an outage, the restart waits for the database (see below).
        let at = run * (2 * k - 1) / (2 * kill_db + 2);
        schedule.push((at, Fault::DatabaseDown));
    }
    let kill_redis = if fleet.redis.is_some() {
        p.kill_redis
    } else {
        0
    };
    for k in 1..=kill_redis {
        // A quarter of a slot before each kill's (one Redis outage and one kill: at 3/8 of the
        // run, so the kill at 1/2 falls into a long enough outage and an instance starts
        // while the bus is away), clear of the database outages (at 1/4 for one).
        let at = run * (4 * k - 1) / (4 * kill_redis + 4);
        schedule.push((at, Fault::RedisDown));
    }
    schedule.sort_by_key(|(at, _)| *at);
    let mut chaos = StdRng::seed_from_u64(p.seed ^ 0xc4a0_5000);
    let mut kills = 0;
    // Both kinds of outage run in the background; each kind is counted on its own.
    let mut outages = Vec::new();
    let (mut db_outages, mut redis_outages) = (0, 0);
    for (at, fault) in schedule {
        sleep_until(start + at).await;
        match fault {
            Fault::KillServer => {
                let victim = if fleet.servers.len() > 1 {
                    chaos.gen_range(0..fleet.servers.len())
                } else {
                    0
                };
                let server = &mut fleet.servers[victim];
                let before = server.url();
                server.kill().await;
                let pause = Duration::from_millis(chaos.gen_range(100..600));
                sleep(pause).await;
                // A server does not start without its database (it exits 1),
                // so a restart that falls into an outage waits for its end,
                // as a supervisor retrying the start would.
                while proxy.as_ref().is_some_and(|proxy| !proxy.is_up()) {
                    sleep(Duration::from_millis(50)).await;
                }
                let restarting = Instant::now();
                server.start_again().await;
                kills += 1;
                let moved = if server.url() == before {
                    String::new()
                } else {
                    format!(" (moved from {before}: the port was taken)")
                };
                println!(
                    "soak: {:.1}s kill #{kills}: SIGKILL instance {victim}, down {pause:?}, back on {}{moved} after {:?}",
                    start.elapsed().as_secs_f64(),
                    server.url(),
                    restarting.elapsed()
                );
            }
            Fault::DatabaseDown => {
                // In the background, so a kill may fall into the outage.
                let proxy = proxy.clone().unwrap();
                db_outages += 1;
                let (n, down_for) = (db_outages, Duration::from_secs(p.db_down_secs));
                outages.push(tokio::spawn(async move {
                    println!(
                        "soak: {:.1}s database outage #{n}: down for {down_for:?}",
                        start.elapsed().as_secs_f64()
                    );
                    proxy.down().await;
                    sleep(down_for).await;
                    proxy.up().await;
                    println!(
                        "soak: {:.1}s database outage #{n}: up",
                        start.elapsed().as_secs_f64()
                    );
                }));
            }
            Fault::RedisDown => {
                // In the background too: a kill may fall into it.
                let redis = fleet.redis.clone().unwrap();
                redis_outages += 1;
                let (n, down_for) = (redis_outages, Duration::from_secs(p.redis_down_secs));
                outages.push(tokio::spawn(async move {
                    println!(
                        "soak: {:.1}s Redis outage #{n}: SIGKILL, down for {down_for:?}",
                        start.elapsed().as_secs_f64()
                    );
                    redis.lock().await.kill().await;
                    sleep(down_for).await;
                    redis
                        .lock()
                        .await
                        .start_again()
                        .await
                        .unwrap_or_else(|e| panic!("Redis did not start again: {e}"));
                    println!(
                        "soak: {:.1}s Redis outage #{n}: up (empty)",
                        start.elapsed().as_secs_f64()
                    );
                }));
            }
        }
    }
    let (outages, outage_tasks) = (db_outages, outages);
    sleep_until(start + run).await;
    stop.store(true, Ordering::SeqCst);
    for outage in outage_tasks {
        outage.await.unwrap();
    }

    let mut sent = Vec::new();
    for task in sender_tasks {
        sent.push(task.await.unwrap());
    }
    let hostile = match hostile_task {
        Some(task) => task.await.unwrap(),
        None => HostileLog::default(),
    };
    let sending_took = start.elapsed();

    // Each room's final seq, for the receivers to catch up to.
    let mut last_seqs = HashMap::new();
    for &room in &rooms {
        let last = owner.room(room).await.expect(200)["last_seq"]
            .as_i64()
            .unwrap();
        last_seqs.insert(room, last);
    }
    set_targets.send(Some(last_seqs.clone())).unwrap();
    let mut received = Vec::new();
    for task in receiver_tasks {
        received.push(task.await.unwrap());
    }

    // The reference: each room's log as the store replays it, which history
    // must agree with.
    let mut logs: BTreeMap<i64, Vec<Value>> = BTreeMap::new();
    let mut verdict = Verdict::default();
    for &room in &rooms {
        let last = last_seqs[&room];
        let log = owner.event_log(room, last).await;
        for (i, event) in log.iter().enumerate() {
            assert_eq!(
                seq(event),
                i64::try_from(i).unwrap() + 1,
                "room {room}'s log: {event}"
            );
        }
        let from_log: Vec<Value> = log
            .iter()
            .filter(|e| kind(e) == "message.created")
            .map(|e| e["data"].clone())
            .collect();
        let history = owner.all_messages(room).await;
        if history != from_log {
            verdict.problem(format!(
                "room {room}: history ({} messages) differs from the event log ({})",
                history.len(),
                from_log.len()
            ));
            verdict.disorder += 1;
        }
        logs.insert(room, log);
    }

    check_senders(&sent, &logs, &mut verdict);
    check_receivers(&received, &logs, &mut verdict);

    let messages: usize = logs
        .values()
        .map(|log| log.iter().filter(|e| kind(e) == "message.created").count())
        .sum();
    let acked: usize = sent.iter().map(|s| s.acked.len()).sum();
    let attempted: usize = sent.iter().map(|s| s.attempted.len()).sum();
    let retries: usize = sent.iter().map(|s| s.retries).sum();
    let replays: usize = sent.iter().map(|s| s.replays).sum();
    let server_errors: usize = sent.iter().map(|s| s.server_errors).sum();
    let gave_up: usize = sent.iter().map(|s| s.gave_up.len()).sum();
    let refused: Vec<&String> = sent.iter().flat_map(|s| &s.refused).collect();
    let disconnects: usize = received.iter().map(|r| r.disconnects).sum();
    let dropped: usize = received.iter().map(|r| r.dropped).sum();
    let connections: usize = received.iter().map(|r| r.connections).sum();
    let failed_connects: usize = received.iter().map(|r| r.failed_connects).sum();
    let events_received: usize = received.iter().map(|r| r.events.len()).sum();
    let bad_closes: Vec<&String> = received.iter().flat_map(|r| &r.bad_closes).collect();
    let bad_refusals: Vec<u16> = received
        .iter()
        .flat_map(|r| r.bad_refusals.clone())
        .collect();

    let pass = verdict.losses == 0
        && verdict.duplicates == 0
        && verdict.foreign == 0
        && verdict.disorder == 0
        && verdict.mismatched == 0
        && gave_up == 0
        && refused.is_empty()
        && bad_closes.is_empty()
        && bad_refusals.is_empty()
        && hostile.wrong.is_empty();
    println!(
        "soak: {} backend={label} messages={messages} receivers={} disconnects={disconnects} \
         kills={kills} db_outages={outages}{} losses={} duplicates={}",
        if pass { "PASS" } else { "FAIL" },
        received.len(),
        if p.instances > 1 {
            format!(" redis_outages={redis_outages}")
        } else {
            String::new()
        },
        verdict.losses,
        verdict.duplicates,
    );
    println!(
        "soak: backend={label} secs={} senders={} rooms={} rate={}/s seed={} | \
         sends: attempted={attempted} acked={acked} retries={retries} replays={replays} \
         server_errors={server_errors} \
         gave_up={gave_up} refused={} unacked_but_stored={} | \
         receivers: connections={connections} dropped_by_server={dropped} \
         failed_connects={failed_connects} events={events_received} | \
         foreign={} disorder={} mismatched={} | sending took {:.1}s, total {:.1}s",
        p.secs,
        p.senders,
        p.rooms,
        p.rate,
        p.seed,
        refused.len(),
        verdict.unacked_stored,
        verdict.foreign,
        verdict.disorder,
        verdict.mismatched,
        sending_took.as_secs_f64(),
        start.elapsed().as_secs_f64(),
    );
    println!(
        "soak: backend={label} hostile: sent={} refused(4xx)={} unavailable={} wrong={} | by status {:?}",
        hostile.sent,
        hostile.refused.values().sum::<usize>(),
        hostile.unavailable,
        hostile.wrong.len(),
        hostile.refused,
    );
    let (mut same, mut cross) = live_lags(&sent, &received);
    let cross = if p.instances > 1 {
        format!(
            ", on another instance (the bus) {}",
            percentiles(&mut cross)
        )
    } else {
        String::new()
    };
    println!(
        "soak: backend={label} live events, 201 to receipt: on the answering instance {}{cross}",
        percentiles(&mut same),
    );
    for problem in &verdict.problems {
        println!("soak:   {problem}");
    }
    if !pass {
        for (i, server) in fleet.servers.iter().enumerate() {
            eprintln!(
                "--- roomcast ({label}, instance {i}) output, last lines ---\n{}",
                server.log_tail(60)
            );
        }
    }

    assert_eq!(verdict.losses, 0, "losses: {:#?}", verdict.problems);
    assert_eq!(verdict.duplicates, 0, "duplicates: {:#?}", verdict.problems);
    assert_eq!(
        (verdict.foreign, verdict.disorder, verdict.mismatched),
        (0, 0, 0),
        "(foreign, disorder, mismatched): {:#?}",
        verdict.problems
    );
    assert!(refused.is_empty(), "valid sends refused: {refused:?}");
    assert_eq!(
        gave_up, 0,
        "sends never acknowledged within the retry budget (60 s)"
    );
    assert!(
        bad_closes.is_empty(),
        "sockets closed with non-resumable codes: {bad_closes:?}"
    );
    assert!(
        bad_refusals.is_empty(),
        "resuming handshakes refused with {bad_refusals:?}"
    );
    assert!(acked > 0, "nothing was acknowledged");
    assert!(
        hostile.wrong.is_empty(),
        "poison inputs answered other than 4xx: {:#?}",
        &hostile.wrong[..hostile.wrong.len().min(20)]
    );
    if p.hostile_rate > 0.0 {
        assert!(
            hostile.refused.values().sum::<usize>() > 0,
            "no poison input was ever refused: the hostile sender proved nothing"
        );
    }
}

enum Fault {
    KillServer,
    DatabaseDown,
    RedisDown,
}

/// One sender: a message per tick into a random room, each retried under
/// its key until it is acknowledged (or the retry budget runs out). With many
/// instances, each message starts on a random one and each retry moves on to
/// the next.
async fn send(
    instances: Everywhere,
    me: usize,
    rooms: Vec<i64>,
    rate: f64,
    mut rng: StdRng,
    stop: Arc<AtomicBool>,
) -> SenderLog {
    let policy = RetryPolicy {
        attempt_timeout: Duration::from_secs(5),
        first_backoff: Duration::from_millis(25),
        max_backoff: Duration::from_secs(1),
        give_up_after: Duration::from_secs(60),
    };
    let mut log = SenderLog::default();
    let mut tick = interval(Duration::from_secs_f64(1.0 / rate));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    for n in 0u64.. {
        tick.tick().await;
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let room = rooms[rng.gen_range(0..rooms.len())];
        // Drawn only with many instances, so one instance's runs keep their seeds' meaning.
        let first = if instances.len() > 1 {
            rng.gen_range(0..instances.len())
        } else {
            0
        };
        let clients = instances.all();
        let content = format!("soak sender {me} message {n} room {room}");
        let key = format!("soak-{me}-{n}");
        log.attempted.push((room, content.clone()));
        match send_until_acked_via(&clients, first, room, &content, &key, policy).await {
            Ok(ack) => {
                log.acked_at
                    .insert(content.clone(), (Instant::now(), ack.instance));
                log.retries += usize::try_from(ack.attempts - 1).unwrap();
                log.server_errors += server_errors(&ack.failures);
                log.replays += usize::from(ack.replayed);
                log.acked.push((room, content, ack.message));
            }
            Err(NotAcked::GaveUp { attempts, failures }) => {
                log.retries += usize::try_from(attempts).unwrap();
                log.server_errors += server_errors(&failures);
                log.gave_up.push((room, content));
            }
            Err(NotAcked::Refused { status, body }) => {
                log.refused
                    .push(format!("{content:?}: HTTP {status} {body}"));
            }
        }
    }
    log
}

/// Failed attempts (as `send_until_acked` records them) that got a 5xx other than 503.
fn server_errors(failures: &[String]) -> usize {
    failures
        .iter()
        .filter_map(|f| f.parse::<u16>().ok())
        .filter(|&status| status >= 500 && status != 503)
        .count()
}

/// What the hostile sender did.
#[derive(Default)]
struct HostileLog {
    sent: usize,
    /// 4xx answers by status: the poison was refused, as it must be.
    refused: BTreeMap<u16, usize>,
    /// No answer, or 503: the server or its database was away (a fault of the run).
    unavailable: usize,
    /// Anything else: a poison input taken (2xx) or a server error.
    wrong: Vec<String>,
}

/// One poison input: (what it is, body, Content-Type, Idempotency-Key).
fn poison_input(n: u64) -> (&'static str, String, &'static str, Option<String>) {
    let json = "application/json";
    let body = |content: Value| serde_json::json!({ "content": content }).to_string();
    match n % 9 {
        0 => (
            "NUL in content",
            body("poison \u{0} nul".into()),
            json,
            None,
        ),
        1 => ("NUL alone", body("\u{0}".into()), json, None),
        2 => (
            "body over 64 KiB",
            body("x".repeat(70_000).into()),
            json,
            None,
        ),
        3 => (
            "content over 4000 characters",
            body("y".repeat(4001).into()),
            json,
            None,
        ),
        4 => ("content a number", body(12345.into()), json, None),
        5 => ("body an array", r#"["poison"]"#.to_string(), json, None),
        6 => (
            "malformed JSON",
            r#"{"content": "poison"#.to_string(),
            json,
            None,
        ),
        7 => (
            "not JSON at all",
            body("poison text/plain".into()),
            "text/plain",
            None,
        ),
        _ => (
            "bad Idempotency-Key",
            body(format!("poison keyed {n}").into()),
            json,
            Some("k".repeat(300)),
        ),
    }
}

/// The hostile sender: poison inputs into the honest senders' rooms, at a
/// steady rate, until told to stop; with many instances, to each in turn.
async fn poison(
    instances: Everywhere,
    rooms: Vec<i64>,
    rate: f64,
    stop: Arc<AtomicBool>,
) -> HostileLog {
    let mut log = HostileLog::default();
    let mut tick = interval(Duration::from_secs_f64(1.0 / rate));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    for n in 0u64.. {
        tick.tick().await;
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let room = rooms[usize::try_from(n).unwrap() % rooms.len()];
        let client = instances.on(usize::try_from(n).unwrap() % instances.len());
        let (what, body, content_type, key) = poison_input(n);
        let mut request = client
            .request(
                reqwest::Method::POST,
                &format!("/api/rooms/{room}/messages"),
            )
            .header("content-type", content_type)
            .body(body);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        log.sent += 1;
        match client.try_send(request).await {
            Ok(res) if (400..500).contains(&res.status) => {
                *log.refused.entry(res.status).or_default() += 1;
            }
            Ok(res) if res.status == 503 => log.unavailable += 1,
            Ok(res) => log
                .wrong
                .push(format!("{what}: HTTP {} {}", res.status, res.text)),
            Err(_) => log.unavailable += 1,
        }
    }
    log
}

/// One receiver: connects with `after=<last seq>`, holds the socket for a
/// random while, drops it and resumes; reconnects with backoff while the
/// server is away. Ends once it has its room's final seq (or gives up 30 s
/// after that seq is known). With many instances, each connection goes to a
/// random one.
async fn receive(
    instances: Everywhere,
    room: i64,
    mut rng: StdRng,
    mut targets: watch::Receiver<Option<HashMap<i64, i64>>>,
) -> ReceiverLog {
    let mut log = ReceiverLog {
        room,
        events: Vec::new(),
        arrivals: Vec::new(),
        connections: 0,
        disconnects: 0,
        dropped: 0,
        bad_closes: Vec::new(),
        bad_refusals: Vec::new(),
        failed_connects: 0,
    };
    let mut last = 0i64;
    let mut backoff = Duration::from_millis(50);
    let mut drain_deadline: Option<Instant> = None;
    // Whether the receiver is done: it has reached the final seq, or the
    // time to catch up has run out.
    let mut done = |last: i64| -> bool {
        let target = targets.borrow_and_update().as_ref().map(|t| t[&room]);
        match target {
            None => false,
            Some(target) => {
                let deadline =
                    *drain_deadline.get_or_insert_with(|| Instant::now() + Duration::from_secs(30));
                last >= target || Instant::now() >= deadline
            }
        }
    };
    'connections: while !done(last) {
        let instance = if instances.len() > 1 {
            rng.gen_range(0..instances.len())
        } else {
            0
        };
        let client = instances.on(instance);
        let mut socket = match client
            .open_events(room, Some(last), Duration::from_secs(5))
            .await
        {
            Ok(socket) => socket,
            Err(e) => {
                log.failed_connects += 1;
                if let support::ConnectError::Refused(status) = e {
                    if status != 503 {
                        log.bad_refusals.push(status);
                    }
                }
                sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        log.connections += 1;
        let opened = Instant::now();
        backoff = Duration::from_millis(50);
        let hold_until = Instant::now() + Duration::from_millis(rng.gen_range(200..2500));
        loop {
            if done(last) {
                socket.close().await;
                break 'connections;
            }
            let now = Instant::now();
            if now >= hold_until {
                socket.close().await;
                log.disconnects += 1;
                continue 'connections;
            }
            let wait = (hold_until - now).min(Duration::from_millis(250));
            match socket.next_within(wait).await {
                None => {}
                Some(Incoming::Event(event)) => {
                    last = last.max(seq(&event));
                    log.events.push(event);
                    log.arrivals.push(Arrival {
                        at: Instant::now(),
                        opened,
                        instance,
                    });
                }
                Some(Incoming::Closed(closed)) => {
                    log.dropped += 1;
                    match closed.code {
                        // Server going away, too slow, or killed: resume.
                        None | Some(1001) | Some(1006) | Some(4008) => {}
                        Some(code) => log
                            .bad_closes
                            .push(format!("room {room}: {code} {}", closed.detail)),
                    }
                    sleep(backoff).await;
                    continue 'connections;
                }
            }
        }
    }
    log
}

/// Every acknowledged message is in its room's log exactly as acknowledged;
/// every logged message was sent by us; nothing is stored twice; each
/// sender's messages to a room are stored in the order it sent them.
fn check_senders(sent: &[SenderLog], logs: &BTreeMap<i64, Vec<Value>>, v: &mut Verdict) {
    // content -> (room, message) for every stored message
    let mut stored: HashMap<String, Vec<(i64, Value)>> = HashMap::new();
    for (&room, log) in logs {
        for event in log.iter().filter(|e| kind(e) == "message.created") {
            let content = event["data"]["content"].as_str().unwrap_or("").to_string();
            stored
                .entry(content)
                .or_default()
                .push((room, event["data"].clone()));
        }
    }
    let mut attempted: HashMap<&str, i64> = HashMap::new();
    for log in sent {
        for (room, content) in &log.attempted {
            attempted.insert(content, *room);
        }
    }
    for (content, copies) in &stored {
        if copies.len() > 1 {
            v.duplicates += copies.len() - 1;
            v.problem(format!("stored {} times: {content:?}", copies.len()));
        }
        match attempted.get(content.as_str()) {
            None => {
                v.foreign += 1;
                v.problem(format!("stored but never sent: {content:?}"));
            }
            Some(room) if copies.iter().any(|(r, _)| r != room) => {
                v.mismatched += 1;
                v.problem(format!("{content:?} stored in another room than {room}"));
            }
            Some(_) => {}
        }
    }
    for log in sent {
        let mut last_seq_in_room: HashMap<i64, i64> = HashMap::new();
        for (room, content, message) in &log.acked {
            match stored.get(content.as_str()) {
                None => {
                    v.losses += 1;
                    v.problem(format!(
                        "acknowledged but not stored: {content:?} ({message})"
                    ));
                }
                Some(copies) if !copies.iter().any(|(_, m)| m == message) => {
                    v.mismatched += 1;
                    v.problem(format!(
                        "acknowledged as {message} but stored as {:?}",
                        copies
                            .iter()
                            .map(|(_, m)| m.to_string())
                            .collect::<Vec<_>>()
                    ));
                }
                Some(_) => {}
            }
            let s = seq(message);
            if let Some(previous) = last_seq_in_room.insert(*room, s) {
                if s <= previous {
                    v.disorder += 1;
                    v.problem(format!(
                        "{content:?} got seq {s}, after a later-sent one got {previous}"
                    ));
                }
            }
        }
        for (_, content) in &log.gave_up {
            if stored.contains_key(content.as_str()) {
                v.unacked_stored += 1;
            }
        }
    }
}

/// Each receiver holds exactly its room's log: every seq once, in order,
/// each event identical to the store's.
fn check_receivers(received: &[ReceiverLog], logs: &BTreeMap<i64, Vec<Value>>, v: &mut Verdict) {
    for (i, r) in received.iter().enumerate() {
        let log = &logs[&r.room];
        let mut seen = vec![0usize; log.len() + 1];
        let mut previous = 0;
        for event in &r.events {
            let s = seq(event);
            // Seqs count from 1: `at` is the event's place in the log, counted from 1 too.
            let Some(at) = usize::try_from(s)
                .ok()
                .filter(|at| (1..=log.len()).contains(at))
            else {
                v.foreign += 1;
                v.problem(format!("receiver {i}: event beyond the log: {event}"));
                continue;
            };
            seen[at] += 1;
            if seen[at] > 1 {
                v.duplicates += 1;
                v.problem(format!("receiver {i}: seq {s} delivered again"));
            } else if s != previous + 1 {
                v.disorder += 1;
                v.problem(format!("receiver {i}: seq {s} right after {previous}"));
            }
            if event != &log[at - 1] {
                v.mismatched += 1;
                v.problem(format!(
                    "receiver {i}: seq {s} differs from the store: {event} vs {}",
                    log[at - 1]
                ));
            }
            previous = previous.max(s);
        }
        let missing: Vec<usize> = (1..=log.len()).filter(|&s| seen[s] == 0).collect();
        if !missing.is_empty() {
            v.losses += missing.len();
            v.problem(format!(
                "receiver {i} (room {}): {} events missing, first {:?}",
                r.room,
                missing.len(),
                &missing[..missing.len().min(10)]
            ));
        }
    }
}

/// How long each live event took from its send's 201 to a receiver: (on the instance that
/// answered the send, on another one). Events of a connection's backfill (acknowledged
/// before the connection opened) are left out; one that came before the 201 counts 0.
fn live_lags(sent: &[SenderLog], received: &[ReceiverLog]) -> (Vec<Duration>, Vec<Duration>) {
    let acked: HashMap<&str, (Instant, usize)> = sent
        .iter()
        .flat_map(|s| s.acked_at.iter().map(|(c, at)| (c.as_str(), *at)))
        .collect();
    let (mut same, mut cross) = (Vec::new(), Vec::new());
    for r in received {
        for (event, arrival) in r.events.iter().zip(&r.arrivals) {
            let content = event["data"]["content"].as_str().unwrap_or("");
            let Some(&(acked_at, instance)) = acked.get(content) else {
                continue;
            };
            if arrival.opened > acked_at {
                continue;
            }
            let lag = arrival.at.saturating_duration_since(acked_at);
            if arrival.instance == instance {
                same.push(lag);
            } else {
                cross.push(lag);
            }
        }
    }
    (same, cross)
}

/// "p50 3 ms, p99 40 ms, max 900 ms (n=1234)".
fn percentiles(lags: &mut [Duration]) -> String {
    if lags.is_empty() {
        return "(none)".into();
    }
    lags.sort();
    // The nearest rank, in a non-empty slice.
    let at = |percent: usize| {
        let rank = (lags.len() * percent).div_ceil(100).max(1);
        lags[rank - 1].as_secs_f64() * 1000.0
    };
    format!(
        "p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms (n={})",
        at(50),
        at(99),
        at(100),
        lags.len()
    )
}

/// The verdict itself must catch what it claims to: a checker that never
/// fails proves nothing.
#[test]
fn the_verdict_catches_losses_duplicates_and_disorder() {
    use serde_json::json;
    let message =
        |seq: i64, content: &str| json!({"id": seq, "room_id": 1, "seq": seq, "content": content});
    let event = |seq: i64, content: &str| json!({"type": "message.created", "room_id": 1, "seq": seq, "data": message(seq, content)});
    let log = vec![event(1, "a"), event(2, "b"), event(3, "c")];
    let logs = BTreeMap::from([(1, log.clone())]);
    let receiver = |events: Vec<Value>| ReceiverLog {
        room: 1,
        events,
        arrivals: Vec::new(),
        connections: 1,
        disconnects: 0,
        dropped: 0,
        bad_closes: Vec::new(),
        bad_refusals: Vec::new(),
        failed_connects: 0,
    };
    let sender = |acked: Vec<(&str, i64)>, attempted: Vec<&str>| SenderLog {
        attempted: attempted.iter().map(|c| (1, c.to_string())).collect(),
        acked: acked
            .iter()
            .map(|(c, s)| (1, c.to_string(), message(*s, c)))
            .collect(),
        ..SenderLog::default()
    };

    // All well.
    let mut v = Verdict::default();
    check_receivers(&[receiver(log.clone())], &logs, &mut v);
    check_senders(
        &[sender(
            vec![("a", 1), ("b", 2), ("c", 3)],
            vec!["a", "b", "c"],
        )],
        &logs,
        &mut v,
    );
    assert_eq!(
        (v.losses, v.duplicates, v.disorder, v.foreign, v.mismatched),
        (0, 0, 0, 0, 0),
        "{v:?}"
    );

    // A receiver with a gap, one with a repeat, one out of order.
    let mut v = Verdict::default();
    check_receivers(
        &[
            receiver(vec![log[0].clone(), log[2].clone()]),
            receiver(vec![
                log[0].clone(),
                log[1].clone(),
                log[1].clone(),
                log[2].clone(),
            ]),
            receiver(vec![log[1].clone(), log[0].clone(), log[2].clone()]),
        ],
        &logs,
        &mut v,
    );
    // (The gap is also out of order: seq 3 came right after seq 1.)
    assert_eq!((v.losses, v.duplicates, v.disorder), (1, 1, 3), "{v:?}");

    // An acknowledged message missing from the store, a stored one nobody
    // sent, one stored twice.
    let twice = BTreeMap::from([(
        1,
        vec![event(1, "a"), event(2, "x"), event(3, "a"), event(4, "b")],
    )]);
    let mut v = Verdict::default();
    check_senders(
        &[sender(
            vec![("a", 1), ("b", 4), ("c", 5)],
            vec!["a", "b", "c"],
        )],
        &twice,
        &mut v,
    );
    assert_eq!((v.losses, v.duplicates, v.foreign), (1, 1, 1), "{v:?}");
}
