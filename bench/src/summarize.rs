//! `summarize`: reads JSON result lines and prints, per scenario, a Markdown table of the
//! median of every run for each (configuration, backend).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, Write as _};

use anyhow::{Context, Result};
use serde_json::Value;

use crate::cli::SummarizeArgs;

/// The columns shown per scenario (any other metric stays in the JSON).
fn columns(scenario: &str) -> &'static [&'static str] {
    match scenario {
        "send" => &[
            "msgs_per_s",
            "send_p50_ms",
            "send_p99_ms",
            "send_max_ms",
            "server_cpu_pct",
            "postgres_cpu_pct",
            "bench_cpu_pct",
            "others_cpu_pct",
        ],
        "fanout" => &[
            "deliveries_per_s",
            "of_raw",
            "seconds_to_all",
            "deliver_p50_ms",
            "deliver_p99_ms",
            "deliver_max_ms",
            "send_p50_ms",
            "open_seconds",
            "server_cpu_pct",
            "postgres_cpu_pct",
            "bench_cpu_pct",
            "others_cpu_pct",
            "server_rss_mib",
            "reconnects",
        ],
        "latency" => &[
            "rate_sent",
            "deliver_p50_ms",
            "deliver_p99_ms",
            "deliver_p999_ms",
            "deliver_max_ms",
            "deliver_same_p50_ms",
            "deliver_same_p99_ms",
            "deliver_cross_p50_ms",
            "deliver_cross_p99_ms",
            "send_p50_ms",
            "send_p99_ms",
            "skipped_sends",
            "server_cpu_pct",
            "redis_cpu_pct",
            "server_cpu_us_per_delivery",
            "postgres_cpu_pct",
            "bench_cpu_pct",
            "others_cpu_pct",
        ],
        "bus-recovery" => &[
            "recovery_ms",
            "recovery_p50_ms",
            "bus_live_ms",
            "redis_restart_ms",
            "before_deliver_p50_ms",
            "before_deliver_p99_ms",
            "outage_deliver_p50_ms",
            "outage_deliver_max_ms",
            "after_deliver_p50_ms",
            "after_deliver_max_ms",
            "messages",
            "others_cpu_pct",
        ],
        "idle" => &[
            "sockets",
            "rss_per_socket_kib",
            "server_rss_before_mib",
            "server_rss_after_mib",
            "rss_per_socket_rested_kib",
            "server_cpu_rest_pct",
            "pings_during_rest",
            "opens_per_s",
            "others_cpu_rest_pct",
        ],
        "joins" => &[
            "seconds",
            "joined",
            "room_full",
            "join_p50_ms",
            "join_p99_ms",
            "join_max_ms",
            "server_cpu_pct",
            "postgres_cpu_pct",
            "others_cpu_pct",
        ],
        "commit" => &[
            "commits_per_s",
            "commit_p50_ms",
            "commit_p99_ms",
            "commit_max_ms",
            "commit_before_p50_ms",
            "commit_after_p50_ms",
            "send_p50_ms",
            "send_p99_ms",
            "send_over_commit_p50",
        ],
        _ => &[],
    }
}

/// A configuration ("c=8 rooms=1") on a backend.
type GroupId = (String, String);
/// A scenario's groups, in the order they first appear.
type Groups = Vec<(GroupId, Group)>;

#[derive(Default)]
struct Group {
    runs: usize,
    ok: usize,
    metrics: BTreeMap<String, Vec<f64>>,
}

pub fn run(args: &SummarizeArgs) -> Result<()> {
    // scenario -> (key, backend) -> runs; keys keep the order they first appear in.
    let mut scenarios: Vec<(String, Groups)> = Vec::new();
    for path in &args.files {
        let file =
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        for line in std::io::BufReader::new(file).lines() {
            let line = line.with_context(|| format!("reading {}", path.display()))?;
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if v.get("bench").and_then(Value::as_str) != Some("roomcast") {
                continue;
            }
            if let Some(want) = &args.only_label {
                if v.get("label").and_then(Value::as_str) != Some(want.as_str()) {
                    continue;
                }
            }
            let text = |v: &Value, field: &str| {
                v.get(field)
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_string()
            };
            let flag = |v: &Value, field: &str| v.get(field).and_then(Value::as_bool);
            let scenario = text(&v, "scenario");
            let backend = text(&v, "backend");
            let alive = flag(&v, "server_alive").unwrap_or(true);
            let groups = entry(&mut scenarios, scenario)?;
            for cell in v
                .get("cells")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let g = entry(groups, (text(cell, "key"), backend.clone()))?;
                g.runs += 1;
                if flag(cell, "ok").unwrap_or(false) && alive {
                    g.ok += 1;
                }
                let metrics = cell.get("metrics").and_then(Value::as_object);
                for (name, value) in metrics.into_iter().flatten() {
                    if let Some(x) = value.as_f64() {
                        g.metrics.entry(name.clone()).or_default().push(x);
                    }
                }
            }
        }
    }
    let mut out = String::new();
    for (scenario, groups) in &mut scenarios {
        // Configurations in the order they were run, backends side by side for each.
        let mut first_seen: Vec<String> = Vec::new();
        for ((key, _), _) in groups.iter() {
            if !first_seen.contains(key) {
                first_seen.push(key.clone());
            }
        }
        let order = |key: &String| first_seen.iter().position(|k| k == key);
        groups.sort_by(|a, b| {
            order(&a.0 .0)
                .cmp(&order(&b.0 .0))
                .then(a.0 .1.cmp(&b.0 .1))
        });
        // The scenario's columns that some run has (e.g. the same/cross-instance split only
        // where several instances ran).
        let mut cols: Vec<String> = columns(scenario)
            .iter()
            .filter(|c| groups.iter().any(|(_, g)| g.metrics.contains_key(**c)))
            .map(|c| c.to_string())
            .collect();
        if cols.is_empty() {
            for (_, g) in groups.iter() {
                for name in g.metrics.keys() {
                    if !cols.contains(name) {
                        cols.push(name.clone());
                    }
                }
            }
        }
        writeln!(out, "### {scenario}\n")?;
        writeln!(
            out,
            "| configuration | backend | runs (ok) | {} |",
            cols.join(" | ")
        )?;
        writeln!(out, "|---|---|---|{}", "---:|".repeat(cols.len()))?;
        for ((key, backend), g) in groups.iter() {
            let values: Vec<String> = cols
                .iter()
                .map(|c| match g.metrics.get(c) {
                    Some(xs) => format_number(median(xs)),
                    None => "–".into(),
                })
                .collect();
            writeln!(
                out,
                "| {key} | {backend} | {} ({}) | {} |",
                g.runs,
                g.ok,
                values.join(" | ")
            )?;
        }
        writeln!(out)?;
    }
    // A closed pipe (`| head`) is not an error worth a panic.
    match std::io::stdout().write_all(out.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// The value under `key` in a list kept in first-seen order, added (default) if missing.
fn entry<K: PartialEq, V: Default>(list: &mut Vec<(K, V)>, key: K) -> Result<&mut V> {
    if !list.iter().any(|(k, _)| *k == key) {
        list.push((key, V::default()));
        return Ok(&mut list.last_mut().context("just pushed")?.1);
    }
    let found = list.iter_mut().find(|(k, _)| *k == key);
    Ok(&mut found.context("just found")?.1)
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    // An odd count has one more value in `high`, whose first is the median.
    let (low, high) = v.split_at(v.len() / 2);
    match (low.last(), high.first()) {
        (Some(a), Some(b)) if low.len() == high.len() => (a + b) / 2.0,
        (_, Some(b)) => *b,
        (_, None) => 0.0,
    }
}

fn format_number(x: f64) -> String {
    if x.fract() == 0.0 || x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[5.0]), 5.0);
        assert_eq!(median(&[]), 0.0);
        assert_eq!(format_number(1234.4), "1234");
        assert_eq!(format_number(0.1234), "0.12");
        assert_eq!(format_number(99.0), "99");
    }
}
