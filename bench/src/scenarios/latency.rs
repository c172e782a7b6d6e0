//! `latency`: a steady rate of sends (open loop: on a fixed schedule, whatever the answers
//! take) into a room with many receivers; send-start-to-receive percentiles.

use std::time::{Duration, Instant};

use anyhow::Result;

use super::audience::{self, Placement};
use super::steady::{self, Schedule, Sent};
use super::Bench;
use crate::cli::LatencyArgs;
use crate::client::{run_prefix, Api};
use crate::num;
use crate::procfs::Pair;
use crate::receivers::{verdict, Arrival};
use crate::report::{Cell, Report};
use crate::stats::{round1, round3};

const LINGER: Duration = Duration::from_millis(300);

pub async fn run(b: &Bench<'_>, a: &LatencyArgs) -> Result<Report> {
    let procs = b.target.procs();
    let mut report = Report::new("latency").watch(procs.clone());
    let prefix = run_prefix("latency");
    let rate = a.rate.max(0.1);
    let total = num::whole((rate * a.seconds.max(0.0)).max(1.0));
    let mut key = format!("receivers={} rate={rate}", a.receivers);
    if !b.target.topology.is_empty() {
        key = format!("{key} {}", b.target.topology);
    }
    let instances = b.nodes.len();
    println!(
        "latency {key}: registering {} accounts",
        1 + a.senders.max(1) + a.receiver_accounts.max(1)
    );
    let who = audience::accounts(b, &prefix, a.senders.max(1), a.receiver_accounts.max(1)).await?;
    println!(
        "latency {key}: opening {} receivers{}",
        a.receivers,
        if instances > 1 {
            format!(" over {instances} instances")
        } else {
            String::new()
        }
    );
    // Receiver i on instance i % n, message k sent to instance k % n.
    let placement = Placement {
        on: b
            .nodes
            .iter()
            .enumerate()
            .map(|(i, node)| (i, node.connector.clone()))
            .collect(),
        sends_over: instances,
        record_arrivals: false,
    };
    let name = format!("{prefix} latency");
    let aud = audience::open(b, &who, &name, (a.receivers, total), placement).await?;
    let apis: Vec<Api> = b.nodes.iter().map(|node| node.api.clone()).collect();

    let before = Pair::now(&procs);
    let sent = steady::send(Schedule {
        apis: &apis,
        senders: &aud.senders,
        room: aud.room,
        total,
        rate,
        max_in_flight: a.max_in_flight,
        content_bytes: a.content_bytes,
        key_prefix: &prefix,
        start: Instant::now() + Duration::from_millis(50),
    })
    .await?;
    let Sent {
        acked,
        send_latency,
        errors,
        skipped,
        worst_lag,
        seconds: sending,
        ..
    } = sent;
    let sent = acked.len();
    let until = Instant::now() + Duration::from_secs_f64(a.wait_seconds);
    let all_in = aud.receivers.wait_for(|| sent, until).await;
    let after = Pair::now(&procs);
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
    if instances > 1 {
        cell.set("instances", instances);
        v.latency_same.metrics("deliver_same", &mut cell.metrics);
        v.latency_cross.metrics("deliver_cross", &mut cell.metrics);
    }
    send_latency.metrics("send", &mut cell.metrics);
    cpu.record(&mut cell, "");
    if let Some(us) = cpu.deployment_micros_per(v.deliveries) {
        cell.set("server_cpu_us_per_delivery", round3(us));
    }
    if let Some(rss) = aud.server_rss_mib {
        cell.set("server_rss_mib", rss);
    }
    println!(
        "latency {key}: {sent} messages over {sending:.2} s to {} receivers ({} deliveries)",
        v.receivers, v.deliveries
    );
    println!("  send start -> receive: {}", v.latency.brief());
    if instances > 1 {
        println!("    on the sender's instance: {}", v.latency_same.brief());
        println!("    on another instance:      {}", v.latency_cross.brief());
    }
    println!("  201 latency: {}", send_latency.brief());
    println!(
        "  schedule: worst lag {:.3} ms, {skipped} sends skipped (over {} in flight)",
        worst_lag.as_secs_f64() * 1000.0,
        a.max_in_flight
    );
    println!("  CPU: {}", cpu.line());
    if let Some(us) = cpu.deployment_micros_per(v.deliveries) {
        println!("  deployment CPU per delivery: {us:.2} µs (servers and their Redis)");
    }
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
