//! `fanout`: R receivers in one room, senders POST M messages as fast as they get 201s;
//! deliveries per second until every receiver has every message, send-start-to-receive
//! latency, and a per-receiver check that nothing is missing or duplicated. With `--with-raw`,
//! each run is followed by the same receivers on the bench's own broadcaster (the ceiling).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::audience::{self, Accounts, Placement};
use super::Bench;
use crate::cli::{FanoutArgs, FANOUT_SENDERS};
use crate::client::{run_prefix, Answer, Api, Connector, User};
use crate::num;
use crate::probe;
use crate::procfs::{Pair, Procs};
use crate::raw::{self, Raw};
use crate::receivers::{verdict, Arrival, Bits, Plan, Receivers};
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
    let mut report = Report::new("fanout").watch(Procs::one(b.target.pid));
    for (n, &r) in a.receivers.iter().enumerate() {
        let r = r.max(1);
        let mut cell = server_cell(b, a, &who, r, &format!("{prefix}{n}")).await?;
        // Let the server tear the sockets down before the next run.
        tokio::time::sleep(Duration::from_secs(1)).await;
        if a.with_raw {
            let raw = raw_cell(b, a, &who, r).await?;
            let rate = |c: &Cell| c.metrics.get("deliveries_per_s").and_then(|v| v.as_f64());
            if let (Some(server), Some(ceiling)) = (rate(&cell), rate(&raw)) {
                if ceiling > 0.0 {
                    let share = server / ceiling;
                    println!("fanout: the server delivers {share:.2} of the raw ceiling");
                    cell.set("of_raw", round3(share));
                }
            }
            report.cells.push(cell);
            report.cells.push(raw);
            tokio::time::sleep(Duration::from_secs(1)).await;
        } else {
            report.cells.push(cell);
        }
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

/// The server case: a fresh room, receivers on it, senders POSTing.
async fn server_cell(
    b: &Bench<'_>,
    a: &FanoutArgs,
    who: &Accounts,
    r: usize,
    tag: &str,
) -> Result<Cell> {
    let key = key(a, r);
    println!("fanout {key}: opening {r} receivers");
    let name = format!("{tag} fanout");
    let aud = audience::open(b, who, &name, (r, a.messages), Placement::first(b)).await?;
    let vias = aud
        .senders
        .iter()
        .map(|user| Via::Server {
            api: b.api.clone(),
            user: user.clone(),
            room: aud.room,
            key_prefix: format!("{tag}-"),
        })
        .collect();
    let run = Run {
        key,
        procs: Procs::one(b.target.pid),
        rss_mib: aud.server_rss_mib,
    };
    measure(a, run, r, aud.receivers, vias).await
}

/// The ceiling: the same receivers on the bench's own broadcaster, sends as in-process calls.
async fn raw_cell(b: &Bench<'_>, a: &FanoutArgs, who: &Accounts, r: usize) -> Result<Cell> {
    let key = format!("{} raw", key(a, r));
    println!("fanout {key}: opening {r} receivers on the raw broadcaster");
    let raw = Arc::new(Raw::start(a.messages.saturating_add(16)).await?);
    let plan = Plan {
        room: raw::ROOM,
        after: raw.last_seq()?,
        users: who.listeners.clone(),
        sockets: r,
        max_k: a.messages,
        connect_concurrency: audience::CONNECT_CONCURRENCY,
        on: Plan::on_one(Arc::new(Connector::to(raw.addr, b.cli.source_addrs))),
        sends_over: 1,
        record_arrivals: false,
    };
    let receivers = Receivers::open(&plan).await?;
    println!(
        "  {} of {r} receivers connected in {:.2} s",
        receivers.len(),
        receivers.open_seconds
    );
    let vias = (0..a.senders.max(1))
        .map(|_| Via::Raw(raw.clone()))
        .collect();
    // No server CPU to read: the broadcaster's share is in the bench's.
    let run = Run {
        key,
        procs: Procs::default(),
        rss_mib: None,
    };
    measure(a, run, r, receivers, vias).await
}

/// What a measured run is called and where its server's readings come from.
struct Run {
    key: String,
    procs: Procs,
    rss_mib: Option<f64>,
}

/// Sends the messages through `vias` (one task each) to receivers already open, waits for
/// every delivery and checks them.
async fn measure(
    a: &FanoutArgs,
    run: Run,
    r: usize,
    receivers: Receivers,
    vias: Vec<Via>,
) -> Result<Cell> {
    let m = a.messages;
    let Run {
        key,
        procs,
        rss_mib,
    } = run;
    let senders = vias.len();

    let before = Pair::now(&procs);
    let started = Instant::now();
    let acked = Arc::new(Bits::new(m));
    let next = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = vias
        .into_iter()
        .map(|via| tokio::spawn(sender(via, next.clone(), m, acked.clone(), a.content_bytes)))
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
    let all_in = receivers.wait_for(|| sent, until).await;
    let after = Pair::now(&procs);
    let behind = receivers.behind(sent);
    let open_failures = receivers.open_failures.clone();
    let open_seconds = receivers.open_seconds;
    let seen = receivers.finish(LINGER).await;
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
    cell.set("senders", senders);
    cell.set("deliveries", v.deliveries);
    cell.set("deliveries_per_s", round1(rate));
    cell.set("seconds_to_all", round3(secs));
    cell.set("send_seconds", round3(sent_seconds));
    cell.set("open_seconds", round3(open_seconds));
    cell.set("reconnects", v.reconnects);
    v.latency.metrics("deliver", &mut cell.metrics);
    send_latency.metrics("send", &mut cell.metrics);
    cpu.record(&mut cell, "");
    if let Some(rss) = rss_mib {
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

/// Where a sender's messages go.
enum Via {
    /// POST to roomcast as `user`; the idempotency key is `key_prefix` and the number.
    Server {
        api: Api,
        user: User,
        room: i64,
        key_prefix: String,
    },
    /// An in-process call on the raw broadcaster.
    Raw(Arc<Raw>),
}

impl Via {
    async fn send(&self, k: u64, content: String) -> Result<Answer> {
        match self {
            Via::Server {
                api,
                user,
                room,
                key_prefix,
            } => {
                api.send(user, *room, content, &format!("{key_prefix}{k}"))
                    .await
            }
            Via::Raw(raw) => {
                raw.send(&content)?;
                // The call never waits; let the socket tasks run between sends.
                tokio::task::yield_now().await;
                Ok(Answer::Ok)
            }
        }
    }
}

/// Sends message numbers taken from `next` until `m`, each after the previous one's 201;
/// returns the 201 latencies and errors.
async fn sender(
    via: Via,
    next: Arc<AtomicU64>,
    m: u64,
    acked: Arc<Bits>,
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
        match via.send(k, content).await {
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
