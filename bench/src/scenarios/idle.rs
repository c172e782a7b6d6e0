//! `idle`: N sockets that only answer pings; the server's memory per socket and its CPU at
//! rest. Memory and CPU come from /proc, so they need --spawn or --pid.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures_util::{stream, StreamExt};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use super::Bench;
use crate::cli::IdleArgs;
use crate::client::{self, run_prefix, User, Ws};
use crate::limits;
use crate::num;
use crate::procfs::{self, Pair, Procs};
use crate::report::{Cell, Report};
use crate::stats::{round1, round3, Tally};

pub async fn run(b: &Bench<'_>, a: &IdleArgs) -> Result<Report> {
    let mut report = Report::new("idle").watch(Procs::one(b.target.pid));
    let prefix = run_prefix("idle");
    let n = a.sockets;
    limits::ensure_room_for(n, b.target.pid)?;
    let key = format!("sockets={n}");
    let mut users = b.api.users(&prefix, 1 + a.accounts.max(1)).await?;
    let owner = users.remove(0);
    let room = b
        .api
        .create_room(&owner, &format!("{prefix} idle"), 10_000)
        .await?;
    let pairs: Vec<(User, i64)> = users.iter().map(|u| (u.clone(), room.id)).collect();
    b.api.join_all(&pairs).await?;
    let after = b.api.room(&owner, room.id).await?.last_seq;
    let pid = b.target.pid;
    if pid.is_none() {
        println!("idle: no server pid (use --spawn or --pid): memory and CPU are not measured");
    }

    let settle = Duration::from_secs_f64(a.settle_seconds.max(0.0));
    tokio::time::sleep(settle).await;
    let rss_before = pid.and_then(|p| procfs::sample(Some(p)).ok());
    println!("idle {key}: opening {n} sockets");
    let (stop, stop_rx) = watch::channel(false);
    let closed = Arc::new(AtomicU64::new(0));
    let pings = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let opened: Vec<Result<Ws>> = stream::iter(0..n)
        .map(|i| {
            let user = client::round_robin(&users, i).cloned();
            let connector = b.connector.clone();
            async move {
                let user = user.context("no users to open sockets as")?;
                connector.open(&user, room.id, after).await
            }
        })
        .buffer_unordered(a.connect_concurrency.max(1))
        .collect()
        .await;
    let open_seconds = started.elapsed().as_secs_f64();
    let mut open_failures = Tally::default();
    let mut tasks = Vec::with_capacity(n);
    for ws in opened {
        match ws {
            Ok(ws) => tasks.push(tokio::spawn(idle(
                ws,
                stop_rx.clone(),
                closed.clone(),
                pings.clone(),
            ))),
            Err(e) => open_failures.add(format!("open: {e:#}")),
        }
    }
    let open = tasks.len();
    println!(
        "  {open} of {n} sockets open in {open_seconds:.2} s ({:.0}/s)",
        num::float_usize(open) / open_seconds.max(1e-9)
    );

    tokio::time::sleep(settle).await;
    let rss_after = pid.and_then(|p| procfs::sample(Some(p)).ok());
    let fds = pid.and_then(procfs::open_fds);
    let closed_before_rest = closed.load(Ordering::Relaxed);
    let pings_before_rest = pings.load(Ordering::Relaxed);
    let rest_start = Pair::now(&Procs::one(pid));
    tokio::time::sleep(Duration::from_secs_f64(a.rest_seconds.max(0.0))).await;
    let rest_end = Pair::now(&Procs::one(pid));
    // Again after the rest: with `--rest-seconds` past the heartbeat, every socket has then
    // read a pong and written a ping, which leaves more behind than a socket never used.
    let rss_rested = pid.and_then(|p| procfs::sample(Some(p)).ok());
    let rest_pings = pings.load(Ordering::Relaxed) - pings_before_rest;
    let closed_total = closed.load(Ordering::Relaxed);
    let cpu = rest_end.cpu_since(&rest_start);

    let _ = stop.send(true);
    let mut unexpected = Tally::default();
    for t in tasks {
        match t.await {
            Ok(outcome) => {
                if let Some(why) = outcome {
                    unexpected.add(why);
                }
            }
            Err(e) => unexpected.add(format!("task failed: {e}")),
        }
    }

    let mut cell = Cell::new(&key);
    cell.set("sockets", open);
    cell.set("open_seconds", round3(open_seconds));
    cell.set(
        "opens_per_s",
        round1(num::float_usize(open) / open_seconds.max(1e-9)),
    );
    if let (Some(before), Some(after)) = (rss_before, rss_after) {
        let grown = num::float(after.rss_kib) - num::float(before.rss_kib);
        let per_socket = if open > 0 {
            grown / num::float_usize(open)
        } else {
            0.0
        };
        cell.set("server_rss_before_mib", round1(before.rss_mib()));
        cell.set("server_rss_after_mib", round1(after.rss_mib()));
        cell.set("rss_per_socket_kib", round1(per_socket));
        println!(
            "  server RSS {:.1} MiB -> {:.1} MiB: {per_socket:.1} KiB per socket",
            before.rss_mib(),
            after.rss_mib()
        );
        if let (Some(rested), true) = (rss_rested, open > 0) {
            let per_socket =
                (num::float(rested.rss_kib) - num::float(before.rss_kib)) / num::float_usize(open);
            cell.set("server_rss_rested_mib", round1(rested.rss_mib()));
            cell.set("rss_per_socket_rested_kib", round1(per_socket));
            println!(
                "  after the rest: {:.1} MiB, {per_socket:.1} KiB per socket ({rest_pings} heartbeat pings meanwhile)",
                rested.rss_mib()
            );
        }
    }
    if let Some(fds) = fds {
        cell.set("server_fds", fds);
    }
    cpu.record(&mut cell, "_rest");
    cell.set("pings_during_rest", rest_pings);
    println!(
        "  CPU at rest over {:.0} s: {}; the server sent {rest_pings} pings meanwhile",
        a.rest_seconds,
        cpu.line()
    );
    cell.check(closed_total == 0, || {
        format!(
            "{closed_total} idle sockets were closed by the server ({} during the rest period): {}",
            closed_total - closed_before_rest,
            unexpected
        )
    });
    cell.errors = open_failures;
    cell.print_verdict();
    report.cells.push(cell);
    // Let the server drop the sockets before anything else runs.
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(report)
}

/// Reads an idle socket (so pings get their pongs) until told to stop; returns why it ended
/// if the server ended it first, or if an event arrived on a room where nothing happens.
async fn idle(
    mut ws: Ws,
    mut stop: watch::Receiver<bool>,
    closed: Arc<AtomicU64>,
    pings: Arc<AtomicU64>,
) -> Option<String> {
    loop {
        let why = tokio::select! {
            biased;
            _ = stop.changed() => return None,
            msg = ws.next() => match msg {
                Some(Ok(Message::Ping(_))) => {
                    pings.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                Some(Ok(Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Ok(Message::Text(t))) => {
                    format!("unexpected event: {}", t.as_str().chars().take(80).collect::<String>())
                }
                Some(Ok(Message::Binary(_))) => "unexpected binary frame".to_string(),
                Some(Ok(Message::Close(frame))) => {
                    format!("closed {}", frame.map(|f| u16::from(f.code)).unwrap_or(1005))
                }
                Some(Err(e)) => format!("error: {e}"),
                None => "eof".to_string(),
            }
        };
        closed.fetch_add(1, Ordering::Relaxed);
        // Hold on until the end, so the socket count stays what it was.
        let _ = stop.changed().await;
        return Some(why);
    }
}
