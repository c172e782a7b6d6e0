//! `unread`: one user in `rooms` rooms that hold `messages` messages in all (by another user,
//! so every one is unread), then `GET /api/rooms` one request at a time. The messages go
//! straight into the database with one SQL text for both backends (a recursive CTE), as fast
//! as the database writes them: sending a million messages over HTTP would take minutes and
//! measure something else. Checks that every room reports exactly its messages as unread.

use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use diesel::connection::SimpleConnection;
use diesel::sqlite::SqliteConnection;
use diesel::Connection;

use super::Bench;
use crate::cli::UnreadArgs;
use crate::client::run_prefix;
use crate::num;
use crate::procfs::Procs;
use crate::report::{Cell, Report};
use crate::stats::{round3, Latency};

pub async fn run(b: &Bench<'_>, a: &UnreadArgs) -> Result<Report> {
    let mut report = Report::new("unread").watch(Procs::one(b.target.pid));
    let url = b
        .target
        .database_url
        .clone()
        .ok_or_else(|| anyhow!("unread seeds the database: use --spawn, or --database-url"))?;
    let rooms = a.rooms.max(1);
    let per_room = a.messages.max(rooms) / rooms;
    let total = per_room * rooms;
    let key = format!("rooms={rooms} messages={total}");
    let prefix = run_prefix("unread");
    let mut users = b.api.users(&prefix, 2).await?;
    let (reader, writer) = (users.remove(0), users.remove(0));
    let writer_id = b
        .api
        .get_json(&writer, "/api/me")
        .await?
        .get("id")
        .and_then(serde_json::Value::as_i64)
        .context("the writer's id")?;
    println!("unread {key}: creating {rooms} rooms");
    let mut ids = Vec::new();
    for i in 0..rooms {
        ids.push(
            b.api
                .create_room(&reader, &format!("{prefix} {i}"), 10)
                .await?
                .id,
        );
    }
    let ids_sql = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    // The writer need not be a member: rows, not requests. Seqs continue each room's log, and
    // the counters the server keeps move with them, as a send's commit moves them.
    let now = 1_764_460_800_000_i64;
    let seed = format!(
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < {per_room}) \
         INSERT INTO events (room_id, seq, kind, actor_id, content, created_at) \
         SELECT r.id, r.last_seq + n.x, 'message.created', {writer_id}, 'seeded', {now} \
         FROM rooms r CROSS JOIN n WHERE r.id IN ({ids_sql}); \
         UPDATE rooms SET last_seq = last_seq + {per_room}, \
         message_count = message_count + {per_room} WHERE id IN ({ids_sql});"
    );
    let t0 = Instant::now();
    execute(&url, &seed).await?;
    let seeded = t0.elapsed();
    println!(
        "unread {key}: seeded {total} messages in {:.1} s",
        seeded.as_secs_f64()
    );

    for _ in 0..a.warmup {
        b.api.get_json(&reader, "/api/rooms").await?;
    }
    let mut latency = Latency::new();
    let mut last = serde_json::Value::Null;
    let started = Instant::now();
    for _ in 0..a.requests.max(1) {
        let t = Instant::now();
        last = b.api.get_json(&reader, "/api/rooms").await?;
        latency.record(num::micros(t.elapsed()));
    }
    let secs = started.elapsed().as_secs_f64();
    println!("unread {key}: GET /api/rooms {}", latency.brief());

    let listed = last
        .get("rooms")
        .and_then(serde_json::Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mine: Vec<_> = listed
        .iter()
        .filter(|r| {
            r.get("id")
                .and_then(serde_json::Value::as_i64)
                .is_some_and(|id| ids.contains(&id))
        })
        .collect();
    let unread: Vec<i64> = mine
        .iter()
        .filter_map(|r| r.get("unread").and_then(serde_json::Value::as_i64))
        .collect();
    let mut cell = Cell::new(&key);
    cell.set("seed_seconds", round3(seeded.as_secs_f64()));
    cell.set(
        "requests_per_s",
        round3(num::float_usize(a.requests.max(1)) / secs),
    );
    cell.set("rooms_listed", listed.len());
    latency.metrics("list", &mut cell.metrics);
    cell.check(mine.len() == ids.len(), || {
        format!("{} of the {} rooms listed", mine.len(), ids.len())
    });
    cell.check(unread.iter().all(|n| *n == per_room), || {
        format!("every room should have {per_room} unread: {unread:?}")
    });
    cell.print_verdict();
    report.cells.push(cell);
    Ok(report)
}

/// Runs `sql` (several statements) on the server's database, in one transaction.
async fn execute(url: &str, sql: &str) -> Result<()> {
    let sql = format!("BEGIN; {sql} COMMIT;");
    if url.starts_with("postgres") {
        let client = roomcast_testkit::pg::connect(url)
            .await
            .map_err(|e| anyhow!("connecting to {url}: {e}"))?;
        client
            .batch_execute(&sql)
            .await
            .map_err(|e| anyhow!("seeding: {e}"))?;
        return Ok(());
    }
    let Some(path) = url.strip_prefix("sqlite://") else {
        bail!("unread seeds SQLite or PostgreSQL, not {url}");
    };
    let path = path.to_string();
    tokio::task::spawn_blocking(move || -> Result<()> {
        let mut conn =
            SqliteConnection::establish(&path).with_context(|| format!("opening {path}"))?;
        conn.batch_execute(&format!("PRAGMA busy_timeout = 30000; {sql}"))
            .context("seeding")
    })
    .await
    .context("the seeding task")?
}
