//! `joins`: many distinct users join a small room at the same moment. Exactly the free seats
//! must succeed (201), everyone else gets 409 room-full, and the counts must agree.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use tokio::sync::Barrier;

use super::Bench;
use crate::cli::JoinsArgs;
use crate::client::{run_prefix, Answer};
use crate::num;
use crate::procfs::{Pair, Procs};
use crate::report::{Cell, Report};
use crate::stats::{round1, round3, Latency, Tally};

pub async fn run(b: &Bench<'_>, a: &JoinsArgs) -> Result<Report> {
    let mut report = Report::new("joins").watch(Procs::one(b.target.pid));
    let prefix = run_prefix("joins");
    let n = a.joiners.max(1);
    let key = format!("joiners={n} capacity={}", a.capacity);
    println!("joins {key}: registering {} accounts", n + 1);
    let mut users = b.api.users(&prefix, n + 1).await?;
    let owner = users.remove(0);
    let room = b
        .api
        .create_room(&owner, &format!("{prefix} joins"), a.capacity)
        .await?;
    // A room over capacity (none should be) has no free seat.
    let free = u64::try_from(room.capacity - room.member_count).unwrap_or(0);
    let joiners = num::count(n);
    // With more seats than joiners, everyone gets in.
    let winners = free.min(joiners);
    let pid = b.target.pid;

    // Every joiner waits at the barrier, so the requests leave together.
    let barrier = Arc::new(Barrier::new(n + 1));
    let tasks: Vec<_> = users
        .into_iter()
        .map(|user| {
            let (api, barrier, id) = (b.api.clone(), barrier.clone(), room.id);
            tokio::spawn(async move {
                barrier.wait().await;
                let t0 = Instant::now();
                let answer = api.join(&user, id).await;
                (answer, t0.elapsed(), Instant::now())
            })
        })
        .collect();
    let before = Pair::now(&Procs::one(pid));
    barrier.wait().await;
    let released = Instant::now();
    let mut latency = Latency::new();
    let mut outcomes = Tally::default();
    let mut errors = Tally::default();
    let mut joined = 0u64;
    let mut full = 0u64;
    let mut last = released;
    for t in tasks {
        let (answer, took, done) = t.await.context("a join task failed")?;
        latency.record(num::micros(took));
        last = last.max(done);
        match answer {
            Ok(Answer::Ok) => {
                joined += 1;
                outcomes.add("201 joined");
            }
            Ok(Answer::Other(409, kind)) if kind == "room-full" => {
                full += 1;
                outcomes.add("409 room-full");
            }
            Ok(other) => errors.add(other.label()),
            Err(e) => errors.add(format!("transport: {e:#}")),
        }
    }
    let after = Pair::now(&Procs::one(pid));
    let secs = last.duration_since(released).as_secs_f64();
    let cpu = after.cpu_since(&before);
    let room_after = b.api.room(&owner, room.id).await?;
    let listed = b.api.member_list_len(&owner, room.id).await?;

    let mut cell = Cell::new(&key);
    cell.set("seconds", round3(secs));
    cell.set("joins_per_s", round1(num::float_usize(n) / secs.max(1e-9)));
    cell.set("joined", joined);
    cell.set("room_full", full);
    latency.metrics("join", &mut cell.metrics);
    cpu.record(&mut cell, "");
    println!(
        "joins {key}: {n} concurrent joins answered in {secs:.3} s ({outcomes}); {}",
        latency.brief()
    );
    cell.check(joined == winners, || {
        format!("{joined} joins succeeded, but {free} seats were free for {n} joiners")
    });
    cell.check(full == joiners - winners, || {
        format!("{full} joins got room-full, expected {}", joiners - winners)
    });
    let members_now = room.member_count + i64::try_from(winners).context("seats won")?;
    cell.check(room_after.member_count == members_now, || {
        format!(
            "member_count is {} after the joins, expected {members_now} (capacity {})",
            room_after.member_count, room.capacity
        )
    });
    cell.check(
        u64::try_from(room_after.member_count) == Ok(num::count(listed)),
        || {
            format!(
                "the member list has {listed} entries, member_count says {}",
                room_after.member_count
            )
        },
    );
    cell.check(
        u64::try_from(room_after.last_seq - room.last_seq) == Ok(joined),
        || {
            format!(
                "last_seq advanced by {} for {joined} joins",
                room_after.last_seq - room.last_seq
            )
        },
    );
    cell.errors = errors;
    cell.print_verdict();
    report.cells.push(cell);
    Ok(report)
}
