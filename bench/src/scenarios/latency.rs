//! `latency`: a steady rate of sends (open loop: on a fixed schedule, whatever the answers
//! take) into a room with many receivers; send-start-to-receive percentiles.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::sync::Semaphore;
use tokio::time::sleep_until;

use super::audience;
use super::Bench;
use crate::cli::LatencyArgs;
use crate::client::{self, run_prefix, Answer};
use crate::num;
use crate::probe;
use crate::procfs::Pair;
use crate::receivers::{verdict, Arrival, Bits};
use crate::report::{Cell, Report};
use crate::stats::{round1, round3, Latency, Tally};

const LINGER: Duration = Duration::from_millis(300);

pub async fn run(b: &Bench<'_>, a: &LatencyArgs) -> Result<Report> {
    let mut report = Report::new("latency").watch(b.target.pid);
    let prefix = run_prefix("latency");
    let rate = a.rate.max(0.1);
    let total = num::whole((rate * a.seconds.max(0.0)).max(1.0));
    let key = format!("receivers={} rate={rate}", a.receivers);
    println!(
        "latency {key}: registering {} accounts",
        1 + a.senders.max(1) + a.receiver_accounts.max(1)
    );
    let who = audience::accounts(b, &prefix, a.senders.max(1), a.receiver_accounts.max(1)).await?;
    println!("latency {key}: opening {} receivers", a.receivers);
    let aud = audience::open(b, &who, &format!("{prefix} latency"), a.receivers, total).await?;
    let pid = b.target.pid;

    let acked = Arc::new(Bits::new(total));
    let slots = Arc::new(Semaphore::new(a.max_in_flight.max(1)));
    let interval = Duration::from_secs_f64(1.0 / rate);
    let before = Pair::now(pid);
    let start = Instant::now() + Duration::from_millis(50);
    let mut skipped = 0u64;
    let mut worst_lag = Duration::ZERO;
    // A hint only: none if `total` does not fit (a 32-bit target).
    let mut tasks = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for (i, k) in (0..total).enumerate() {
        let at = start + interval.mul_f64(num::float(k));
        sleep_until(at.into()).await;
        worst_lag = worst_lag.max(Instant::now().saturating_duration_since(at));
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            skipped += 1;
            continue;
        };
        let api = b.api.clone();
        let user = client::round_robin(&aud.senders, i)
            .cloned()
            .context("no senders")?;
        let (room, bytes, key) = (aud.room, a.content_bytes, format!("{prefix}{k}"));
        tasks.push(tokio::spawn(async move {
            let t0 = Instant::now();
            let content = probe::encode(k, probe::micros_of(t0), bytes);
            let answer = api.send(&user, room, content, &key).await;
            drop(slot);
            (k, t0.elapsed(), answer)
        }));
    }
    let mut send_latency = Latency::new();
    let mut errors = Tally::default();
    for t in tasks {
        let (k, took, answer) = t.await.context("a send task failed")?;
        match answer {
            Ok(Answer::Ok) => {
                acked.insert(k);
                send_latency.record(num::micros(took));
            }
            Ok(other) => errors.add(other.label()),
            Err(e) => errors.add(format!("transport: {e:#}")),
        }
    }
    let sending = start.elapsed().as_secs_f64();
    let sent = acked.len();
    let until = Instant::now() + Duration::from_secs_f64(a.wait_seconds);
    let all_in = aud.receivers.wait_for(|| sent, until).await;
    let after = Pair::now(pid);
    let behind = aud.receivers.behind(sent);
    let open_failures = aud.receivers.open_failures.clone();
    let seen = aud.receivers.finish(LINGER).await;
    let v = verdict(&seen, &acked);
    drop(seen);

    let cpu = after.cpu_since(&before);
    let mut cell = Cell::new(&key);
    cell.set("receivers", v.receivers);
    cell.set("rate_target", rate);
    cell.set("rate_sent", round1(num::float(sent) / sending.max(1e-9)));
    cell.set("messages", sent);
    cell.set("deliveries", v.deliveries);
    cell.set("skipped_sends", skipped);
    cell.set(
        "schedule_lag_max_ms",
        round3(worst_lag.as_secs_f64() * 1000.0),
    );
    cell.set("reconnects", v.reconnects);
    v.latency.metrics("deliver", &mut cell.metrics);
    send_latency.metrics("send", &mut cell.metrics);
    cpu.record(&mut cell, "");
    if let Some(rss) = aud.server_rss_mib {
        cell.set("server_rss_mib", rss);
    }
    println!(
        "latency {key}: {sent} messages over {sending:.2} s to {} receivers ({} deliveries)",
        v.receivers, v.deliveries
    );
    println!("  send start -> receive: {}", v.latency.brief());
    println!("  201 latency: {}", send_latency.brief());
    println!(
        "  schedule: worst lag {:.3} ms, {skipped} sends skipped (over {} in flight)",
        worst_lag.as_secs_f64() * 1000.0,
        a.max_in_flight
    );
    println!("  CPU: {}", cpu.line());
    if v.reconnects > 0 || !v.closes.is_empty() {
        println!("  closes seen: {} ({} reconnects)", v.closes, v.reconnects);
    }
    cell.check(skipped == 0, || {
        format!(
            "{skipped} scheduled sends skipped: {} were already in flight (the server did not \
             keep up with {rate} msgs/s)",
            a.max_in_flight
        )
    });
    let arrival = Arrival {
        all_in,
        behind,
        wait_seconds: a.wait_seconds,
    };
    v.conclude(&mut cell, a.receivers, arrival, &open_failures, &errors);
    cell.print_verdict();
    report.cells.push(cell);
    Ok(report)
}
