//! `fanout`: R receivers in one room, senders POST M messages as fast as they get 201s;
//! deliveries per second until every receiver has every message, send-start-to-receive
//! latency, and a per-receiver check that nothing is missing or duplicated.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::audience::{self, Accounts};
use super::Bench;
use crate::cli::{FanoutArgs, FANOUT_SENDERS};
use crate::client::{run_prefix, Answer, Api, User};
use crate::num;
use crate::probe;
use crate::procfs::Pair;
use crate::receivers::{verdict, Arrival, Bits};
use crate::report::{Cell, Report};
use crate::stats::{round1, round3, Latency, Tally};

/// How long receivers keep reading after the last delivery (a late duplicate would show).
const LINGER: Duration = Duration::from_millis(300);

pub async fn run(b: &Bench<'_>, a: &FanoutArgs) -> Result<Report> {
    let prefix = run_prefix("fanout");
    let senders = a.senders.max(1);
    println!(
        "fanout: registering {} accounts",
        1 + senders + a.receiver_accounts.max(1)
    );
    let who = audience::accounts(b, &prefix, senders, a.receiver_accounts.max(1)).await?;
    let mut report = Report::new("fanout").watch(b.target.pid);
    for (n, &r) in a.receivers.iter().enumerate() {
        let cell = run_cell(b, a, &who, r.max(1), &format!("{prefix}{n}")).await?;
        report.cells.push(cell);
        // Let the server tear the sockets down before the next run.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Ok(report)
}

/// "receivers=R messages=M", with the senders when not the default (so older results keep
/// their keys).
fn key(a: &FanoutArgs, r: usize) -> String {
    let senders = a.senders.max(1);
    let mut key = format!("receivers={r} messages={}", a.messages);
    if senders != FANOUT_SENDERS {
        key.push_str(&format!(" senders={senders}"));
    }
    key
}

async fn run_cell(
    b: &Bench<'_>,
    a: &FanoutArgs,
    who: &Accounts,
    r: usize,
    tag: &str,
) -> Result<Cell> {
    let m = a.messages;
    let key = key(a, r);
    println!("fanout {key}: opening {r} receivers");
    let aud = audience::open(b, who, &format!("{tag} fanout"), r, m).await?;
    let pid = b.target.pid;

    let before = Pair::now(pid);
    let started = Instant::now();
    let acked = Arc::new(Bits::new(m));
    let next = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = aud
        .senders
        .iter()
        .map(|user| {
            tokio::spawn(sender(
                b.api.clone(),
                user.clone(),
                aud.room,
                next.clone(),
                m,
                acked.clone(),
                format!("{tag}-"),
                a.content_bytes,
            ))
        })
        .collect();
    let mut send_latency = Latency::new();
    let mut errors = Tally::default();
    for t in tasks {
        let (lat, errs) = t.await.context("a sender task failed")?;
        send_latency.merge(&lat);
        errors.merge(&errs);
    }
    let sent = acked.len();
    let sent_seconds = started.elapsed().as_secs_f64();
    let until = Instant::now() + Duration::from_secs_f64(a.wait_seconds);
    let all_in = aud.receivers.wait_for(|| sent, until).await;
    let after = Pair::now(pid);
    let behind = aud.receivers.behind(sent);
    let open_failures = aud.receivers.open_failures.clone();
    let open_seconds = aud.receivers.open_seconds;
    let seen = aud.receivers.finish(LINGER).await;
    let v = verdict(&seen, &acked);
    drop(seen);

    let secs = v
        .last_delivery
        .map(|t| t.duration_since(started).as_secs_f64())
        .unwrap_or(0.0);
    let rate = if secs > 0.0 {
        num::float(v.deliveries) / secs
    } else {
        0.0
    };
    let cpu = after.cpu_since(&before);
    let mut cell = Cell::new(&key);
    cell.set("receivers", v.receivers);
    cell.set("messages", sent);
    cell.set("senders", aud.senders.len());
    cell.set("deliveries", v.deliveries);
    cell.set("deliveries_per_s", round1(rate));
    cell.set("seconds_to_all", round3(secs));
    cell.set("send_seconds", round3(sent_seconds));
    cell.set("open_seconds", round3(open_seconds));
    cell.set("reconnects", v.reconnects);
    v.latency.metrics("deliver", &mut cell.metrics);
    send_latency.metrics("send", &mut cell.metrics);
    cpu.record(&mut cell, "");
    if let Some(rss) = aud.server_rss_mib {
        cell.set("server_rss_mib", rss);
    }
    println!(
        "fanout {key}: {} deliveries in {secs:.2} s = {rate:.0} deliveries/s \
         (sends took {sent_seconds:.2} s)",
        v.deliveries
    );
    println!("  send start -> receive: {}", v.latency.brief());
    println!("  201 latency: {}", send_latency.brief());
    println!("  CPU: {}", cpu.line());
    if v.reconnects > 0 || !v.closes.is_empty() {
        println!(
            "  closes seen: {} ({} reconnects with after=)",
            v.closes, v.reconnects
        );
    }
    cell.check(sent == m, || format!("only {sent} of {m} sends got 201"));
    let arrival = Arrival {
        all_in,
        behind,
        wait_seconds: a.wait_seconds,
    };
    v.conclude(&mut cell, r, arrival, &open_failures, &errors);
    cell.print_verdict();
    Ok(cell)
}

/// Sends message numbers taken from `next` until `m`; returns the 201 latencies and errors.
#[allow(clippy::too_many_arguments)]
async fn sender(
    api: Api,
    user: User,
    room: i64,
    next: Arc<AtomicU64>,
    m: u64,
    acked: Arc<Bits>,
    key_prefix: String,
    content_bytes: usize,
) -> (Latency, Tally) {
    let mut latency = Latency::new();
    let mut errors = Tally::default();
    loop {
        let k = next.fetch_add(1, Ordering::Relaxed);
        if k >= m {
            break;
        }
        let t0 = Instant::now();
        let content = probe::encode(k, probe::micros_of(t0), content_bytes);
        match api
            .send(&user, room, content, &format!("{key_prefix}{k}"))
            .await
        {
            Ok(Answer::Ok) => {
                acked.insert(k);
                latency.record(num::micros(t0.elapsed()));
            }
            Ok(other) => errors.add(other.label()),
            Err(e) => errors.add(format!("transport: {e:#}")),
        }
    }
    (latency, errors)
}
