//! `send`: closed-loop senders (POST, wait for the 201, POST again) into 1 room or spread over
//! many; messages per second and the latency of the 201.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::time::sleep_until;

use super::Bench;
use crate::cli::SendArgs;
use crate::client::{run_prefix, Answer, Api, User};
use crate::num;
use crate::probe;
use crate::procfs::{Pair, Procs};
use crate::report::{Cell, Report};
use crate::stats::{round1, round3, Latency, Tally};

/// A sender stops after this many failed requests (the run is failed anyway).
const MAX_ERRORS_PER_SENDER: u64 = 1000;

pub async fn run(b: &Bench<'_>, a: &SendArgs) -> Result<Report> {
    let prefix = run_prefix("send");
    let max_c = a.concurrency.iter().copied().max().unwrap_or(1).max(1);
    println!("send: registering {max_c} sender accounts");
    let users = b.api.users(&prefix, max_c).await?;
    let mut report = Report::new("send").watch(Procs::one(b.target.pid));
    let mut n = 0;
    for &rooms in &a.rooms {
        for &c in &a.concurrency {
            n += 1;
            let cell = run_cell(
                b,
                a,
                &users,
                c.max(1),
                rooms.max(1),
                &format!("{prefix}{n}"),
            )
            .await?;
            report.cells.push(cell);
        }
    }
    Ok(report)
}

struct SenderResult {
    latency: Latency,
    measured: u64,
    warmup: u64,
    errors: Tally,
    last_done: Option<Instant>,
}

struct Shared {
    api: Api,
    warm_end: Instant,
    end: Instant,
    budget: Option<u64>,
    measured: AtomicU64,
    content_bytes: usize,
    tag: String,
}

async fn run_cell(
    b: &Bench<'_>,
    a: &SendArgs,
    users: &[User],
    c: usize,
    rooms: usize,
    tag: &str,
) -> Result<Cell> {
    let key = format!("c={c} rooms={rooms}");
    let owner = users.first().context("no users")?;
    let mut room_ids = Vec::with_capacity(rooms);
    for j in 0..rooms {
        let room = b
            .api
            .create_room(owner, &format!("{tag} room {j}"), 10_000)
            .await?;
        room_ids.push(room.id);
    }
    let senders = users.get(..c).context("fewer users than senders")?;
    // Senders spread over the rooms in turn.
    let pairs: Vec<(User, i64)> = senders
        .iter()
        .cloned()
        .zip(room_ids.iter().copied().cycle())
        .collect();
    b.api.join_all(&pairs).await?;
    let seq_before = sum_last_seq(&b.api, owner, &room_ids).await?;

    let start = Instant::now();
    let warm_end = start + Duration::from_secs_f64(a.warmup_seconds.max(0.0));
    let shared = Arc::new(Shared {
        api: b.api.clone(),
        warm_end,
        end: warm_end + Duration::from_secs_f64(a.seconds.max(0.0)),
        budget: a.messages,
        measured: AtomicU64::new(0),
        content_bytes: a.content_bytes,
        tag: tag.to_string(),
    });
    let pid = b.target.pid;
    let sampler = tokio::spawn(async move {
        sleep_until(warm_end.into()).await;
        Pair::now(&Procs::one(pid))
    });
    let tasks: Vec<_> = pairs
        .into_iter()
        .enumerate()
        .map(|(i, (user, room))| tokio::spawn(sender(shared.clone(), i, user, room)))
        .collect();
    let mut latency = Latency::new();
    let (mut measured, mut warmup) = (0u64, 0u64);
    let mut errors = Tally::default();
    let mut last_done = warm_end;
    for t in tasks {
        let r = t.await.context("a sender task failed")?;
        latency.merge(&r.latency);
        measured += r.measured;
        warmup += r.warmup;
        errors.merge(&r.errors);
        last_done = last_done.max(r.last_done.unwrap_or(warm_end));
    }
    let after = Pair::now(&Procs::one(pid));
    let before = sampler.await.context("sampler")?;
    let cpu = after.cpu_since(&before);
    let seq_after = sum_last_seq(&b.api, owner, &room_ids).await?;

    let secs = last_done.duration_since(warm_end).as_secs_f64();
    let rate = if secs > 0.0 {
        num::float(measured) / secs
    } else {
        0.0
    };
    let mut cell = Cell::new(&key);
    cell.set("msgs_per_s", round1(rate));
    cell.set("messages", measured);
    cell.set("seconds", round3(secs));
    latency.metrics("send", &mut cell.metrics);
    cpu.record(&mut cell, "");
    if let Some(s) = after.server {
        cell.set("server_rss_mib", round1(s.rss_mib()));
    }
    println!(
        "send {key}: {rate:.1} msgs/s over {secs:.2} s ({measured} measured, {warmup} warm-up); \
         201 latency {}",
        latency.brief()
    );
    println!("  CPU: {}", cpu.line());
    let committed =
        u64::try_from(seq_after - seq_before).context("the rooms' seqs went backwards")?;
    let acked = measured + warmup;
    cell.check(committed >= acked, || {
        format!("{acked} sends got 201 but the rooms' seqs advanced by only {committed}")
    });
    cell.check(committed <= acked + errors.total(), || {
        format!("the rooms' seqs advanced by {committed}, more than the {acked} sends that got 201")
    });
    cell.errors = errors;
    cell.print_verdict();
    Ok(cell)
}

async fn sender(s: Arc<Shared>, i: usize, user: User, room: i64) -> SenderResult {
    let mut r = SenderResult {
        latency: Latency::new(),
        measured: 0,
        warmup: 0,
        errors: Tally::default(),
        last_done: None,
    };
    for n in 0u64.. {
        let t0 = Instant::now();
        if t0 >= s.end || r.errors.total() >= MAX_ERRORS_PER_SENDER {
            break;
        }
        let measuring = t0 >= s.warm_end;
        if measuring {
            if let Some(budget) = s.budget {
                if s.measured.fetch_add(1, Ordering::Relaxed) >= budget {
                    break;
                }
            }
        }
        let key = format!("{}-{i}-{n}", s.tag);
        let content = probe::encode(n, probe::micros_of(t0), s.content_bytes);
        let answer = s.api.send(&user, room, content, &key).await;
        let done = Instant::now();
        match answer {
            Ok(Answer::Ok) if measuring => {
                r.latency.record(num::micros(done.duration_since(t0)));
                r.measured += 1;
                r.last_done = Some(done);
            }
            Ok(Answer::Ok) => r.warmup += 1,
            Ok(other) => r.errors.add(other.label()),
            Err(e) => r.errors.add(format!("transport: {e:#}")),
        }
    }
    r
}

async fn sum_last_seq(api: &Api, user: &User, rooms: &[i64]) -> Result<i64> {
    let mut sum = 0;
    for &id in rooms {
        sum += api.room(user, id).await?.last_seq;
    }
    Ok(sum)
}
