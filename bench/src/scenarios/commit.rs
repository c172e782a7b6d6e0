//! `commit`: the floor under a durable send. A bare loop of `BEGIN; INSERT one row; COMMIT`
//! on a fresh SQLite file (WAL, `synchronous = FULL`, as the server sets them) on the same
//! filesystem as the spawned server's database: no HTTP, no pool, no runtime, one fsync per
//! commit. With `--with-send` the same invocation then runs `send` at c=1 into one room, then
//! the loop again, and reports how far the 201 is above that floor (`send_over_commit_p50`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use roomcast_testkit::unique_suffix;

use super::{send, Bench};
use crate::cli::{CommitArgs, SendArgs};
use crate::num;
use crate::procfs::Procs;
use crate::report::{Cell, Report};
use crate::stats::{round1, round3, Latency};

// Shaped like the server's `events` row (migrations/sqlite), without the foreign keys: the
// floor has no users or rooms to point at, and the server checks them in the same commit.
diesel::table! {
    events (id) {
        id -> BigInt,
        room_id -> BigInt,
        seq -> BigInt,
        kind -> Text,
        actor_id -> BigInt,
        content -> Nullable<Text>,
        created_at -> BigInt,
    }
}

const SETUP: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
        room_id BIGINT NOT NULL,
        seq BIGINT NOT NULL,
        kind TEXT NOT NULL,
        actor_id BIGINT NOT NULL,
        content TEXT,
        created_at BIGINT NOT NULL,
        UNIQUE (room_id, seq)
    );";

pub async fn run(b: &Bench<'_>, a: &CommitArgs) -> Result<Report> {
    let mut report = Report::new("commit").watch(Procs::one(b.target.pid));
    let dir = Scratch::new(&floor_parent(b))?;
    let mut floor = floor_round(&dir.0.join("before.db"), a).await?;
    let mut cell = Cell::new("c=1");
    if a.with_send {
        let send_args = SendArgs {
            concurrency: vec![1],
            rooms: vec![1],
            seconds: a.seconds,
            messages: a.commits,
            warmup_seconds: a.warmup_seconds,
            content_bytes: a.content_bytes,
        };
        let sent = send::run(b, &send_args).await?;
        let s = sent
            .cells
            .into_iter()
            .next()
            .context("send gave no result")?;
        for (name, value) in s.metrics {
            // The send cell's throughput is named for the send; its latencies already are.
            let name = if name.starts_with("send_") {
                name
            } else {
                format!("send_{name}")
            };
            cell.metrics.insert(name, value);
        }
        cell.failures.extend(s.failures);
        cell.errors.merge(&s.errors);
        // The disk's fsync cost drifts with what other programs write: a second floor after
        // the send brackets it, and the two halves show how much it drifted.
        let after = floor_round(&dir.0.join("after.db"), a).await?;
        cell.set("commit_before_p50_ms", floor.latency.p50());
        cell.set("commit_after_p50_ms", after.latency.p50());
        floor.merge(&after);
    }
    drop(dir);

    let rate = if floor.seconds > 0.0 {
        num::float(floor.measured) / floor.seconds
    } else {
        0.0
    };
    cell.set("commits_per_s", round1(rate));
    cell.set("commits", floor.measured);
    cell.set("seconds", round3(floor.seconds));
    floor.latency.metrics("commit", &mut cell.metrics);
    cell.check(floor.measured > 0, || "no commit was measured".into());
    let send_p50 = cell
        .metrics
        .get("send_p50_ms")
        .and_then(serde_json::Value::as_f64);
    let commit_p50 = floor.latency.p50();
    if let Some(send_p50) = send_p50.filter(|_| commit_p50 > 0.0) {
        let ratio = send_p50 / commit_p50;
        cell.set("send_over_commit_p50", round3(ratio));
        println!(
            "commit: send c=1 p50 {send_p50:.3} ms / floor p50 {commit_p50:.3} ms (both rounds) = \
             {ratio:.2} (issue 14 target for SQLite: <= 1.5)"
        );
    }
    cell.print_verdict();
    report.cells.push(cell);
    Ok(report)
}

/// One run of the loop on a fresh file in `dir`, on a thread of its own: SQLite blocks on
/// fsync, which must not stall the runtime's workers.
async fn floor_round(db: &Path, a: &CommitArgs) -> Result<Floor> {
    println!(
        "commit: BEGIN/INSERT/COMMIT loop on {} (WAL, synchronous=FULL)",
        db.display()
    );
    let (db, args) = (db.to_path_buf(), a.clone());
    let floor = tokio::task::spawn_blocking(move || floor_loop(&db, &args))
        .await
        .context("the commit loop's thread failed")??;
    let rate = if floor.seconds > 0.0 {
        num::float(floor.measured) / floor.seconds
    } else {
        0.0
    };
    println!(
        "commit: {rate:.1} commits/s over {:.2} s ({} measured, {} warm-up); latency {}",
        floor.seconds,
        floor.measured,
        floor.warmup,
        floor.latency.brief()
    );
    Ok(floor)
}

/// Where the server's SQLite file lives, so the floor's file sits on the same filesystem: the
/// directory of a --database-url SQLite file, else the temp dir in which --spawn makes its own.
fn floor_parent(b: &Bench<'_>) -> PathBuf {
    let url = b.cli.server.database_url.as_deref().unwrap_or_default();
    if url.is_empty() || url.starts_with("postgres") {
        return std::env::temp_dir();
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    match Path::new(path).parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A fresh directory for the floor's database, removed when dropped (also on an error).
struct Scratch(PathBuf);

impl Scratch {
    fn new(parent: &Path) -> Result<Scratch> {
        let dir = parent.join(format!("roomcast-bench-floor-{}", unique_suffix()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            eprintln!("roomcast-bench: removing {}: {e}", self.0.display());
        }
    }
}

struct Floor {
    latency: Latency,
    measured: u64,
    warmup: u64,
    /// From the end of the warm-up to the last measured commit.
    seconds: f64,
}

impl Floor {
    fn merge(&mut self, other: &Floor) {
        self.latency.merge(&other.latency);
        self.measured += other.measured;
        self.warmup += other.warmup;
        self.seconds += other.seconds;
    }
}

/// The loop itself, bounded by --seconds and --commits; blocking.
fn floor_loop(db: &Path, a: &CommitArgs) -> Result<Floor> {
    let path = db
        .to_str()
        .with_context(|| format!("{} is not UTF-8", db.display()))?;
    let mut conn =
        SqliteConnection::establish(path).with_context(|| format!("opening {}", db.display()))?;
    conn.batch_execute(SETUP)
        .context("setting up the floor's database")?;
    let content: String = "x".repeat(a.content_bytes);
    let start = Instant::now();
    let warm_end = start + Duration::from_secs_f64(a.warmup_seconds.max(0.0));
    let end = warm_end + Duration::from_secs_f64(a.seconds.max(0.0));
    let mut f = Floor {
        latency: Latency::new(),
        measured: 0,
        warmup: 0,
        seconds: 0.0,
    };
    let mut last_done = warm_end;
    for seq in 1i64.. {
        let t0 = Instant::now();
        if t0 >= end || a.commits.is_some_and(|n| f.measured >= n) {
            break;
        }
        let created_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        // diesel's transaction is BEGIN ... COMMIT, as the bare loop wants.
        conn.transaction::<_, diesel::result::Error, _>(|c| {
            diesel::insert_into(events::table)
                .values((
                    events::room_id.eq(1),
                    events::seq.eq(seq),
                    events::kind.eq("message"),
                    events::actor_id.eq(1),
                    events::content.eq(Some(content.as_str())),
                    events::created_at.eq(created_at),
                ))
                .execute(c)
        })
        .with_context(|| format!("commit {seq}"))?;
        let done = Instant::now();
        if t0 >= warm_end {
            f.latency.record(num::micros(done.duration_since(t0)));
            f.measured += 1;
            last_done = done;
        } else {
            f.warmup += 1;
        }
    }
    f.seconds = last_done.duration_since(warm_end).as_secs_f64();
    Ok(f)
}
