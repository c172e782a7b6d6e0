//! One scenario's results: cells of metrics and checks, printed for people and as one JSON
//! line (optionally appended to a file) from which BENCHMARKS.md tables are made.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde_json::{json, Value};

use crate::cli::Cli;
use crate::procfs::{self, Pair, Procs};
use crate::server::Target;
use crate::stats::{round1, Tally};

/// One measured configuration, e.g. "c=8 rooms=50".
pub struct Cell {
    pub key: String,
    pub metrics: BTreeMap<String, Value>,
    /// Checks that did not hold: lost or duplicated messages, wrong seat counts, errors.
    pub failures: Vec<String>,
    /// Non-success answers and transport errors, by kind.
    pub errors: Tally,
}

impl Cell {
    pub fn new(key: impl Into<String>) -> Cell {
        Cell {
            key: key.into(),
            metrics: BTreeMap::new(),
            failures: Vec::new(),
            errors: Tally::default(),
        }
    }

    pub fn set(&mut self, name: &str, value: impl Into<Value>) {
        self.metrics.insert(name.to_string(), value.into());
    }

    /// Records a check; a false one fails the cell (and the run's exit code).
    pub fn check(&mut self, holds: bool, what: impl FnOnce() -> String) {
        if !holds {
            self.failures.push(what());
        }
    }

    pub fn ok(&self) -> bool {
        self.failures.is_empty() && self.errors.is_empty()
    }

    /// The checks' verdict, for the human summary.
    pub fn print_verdict(&self) {
        if !self.errors.is_empty() {
            println!("  errors: {}", self.errors);
        }
        for f in &self.failures {
            println!("  FAILED: {f}");
        }
        if self.ok() {
            println!("  checks: ok");
        }
    }
}

pub struct Report {
    pub scenario: &'static str,
    pub cells: Vec<Cell>,
    loadavg_start: Option<f64>,
    started_unix: u64,
    /// Readings at the start; set by the first `watch`.
    start: Option<Pair>,
    /// The processes watched.
    procs: Procs,
}

impl Report {
    pub fn new(scenario: &'static str) -> Report {
        Report {
            scenario,
            cells: Vec::new(),
            start: None,
            procs: Procs::default(),
            loadavg_start: procfs::loadavg(),
            started_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        }
    }

    /// Starts watching the machine (for the other programs' CPU share over the scenario).
    pub fn watch(mut self, procs: Procs) -> Report {
        self.start = Some(Pair::now(&procs));
        self.procs = procs;
        self
    }

    pub fn ok(&self) -> bool {
        self.cells.iter().all(Cell::ok)
    }

    /// Prints the JSON line (and appends it to --json-out); returns whether every check held.
    pub fn emit(&self, cli: &Cli, target: &Target) -> Result<bool> {
        let (log_lines, warnings, errors) = target.log.counts();
        let alive = target.alive();
        let cells: Vec<Value> = self
            .cells
            .iter()
            .map(|c| {
                json!({
                    "key": c.key,
                    "ok": c.ok(),
                    "metrics": c.metrics,
                    "failures": c.failures,
                    "errors": c.errors.to_json(),
                })
            })
            .collect();
        let ok = self.ok() && alive;
        let others = self
            .start
            .and_then(|start| Pair::now(&self.procs).cpu_since(&start).others)
            .map(round1);
        if let Some(o) = others {
            if o > 20.0 {
                println!(
                    "  NOTE: other programs used {o:.0}% CPU (100% = one core) during this \
                     scenario; figures are noisy"
                );
            }
        }
        let line = json!({
            "bench": "roomcast",
            "scenario": self.scenario,
            "label": cli.label,
            "backend": target.backend,
            "server": if cli.server.spawn.is_some() { "spawn" } else { "url" },
            "started_unix": self.started_unix,
            "machine": {
                "cpus": procfs::cpus(),
                "loadavg_start": self.loadavg_start,
                "loadavg_end": procfs::loadavg(),
                "others_cpu_pct": others,
            },
            "ok": ok,
            "server_alive": alive,
            "server_log": {
                "lines": log_lines,
                "warnings": warnings,
                "errors": errors,
                "top": target.log.top_kinds(5),
            },
            "cells": cells,
        });
        let text = serde_json::to_string(&line)?;
        if !alive {
            println!("  FAILED: the server is no longer running");
        }
        println!("{text}");
        if let Some(path) = &cli.json_out {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening {}", path.display()))?;
            writeln!(f, "{text}").with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(ok)
    }
}
