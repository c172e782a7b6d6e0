//! Readings from /proc: a process's resident memory and CPU time, open sockets, and the
//! machine's load average.

use std::time::Instant;

use anyhow::{anyhow, Context, Result};

use crate::num;

/// One reading of a process.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub at: Instant,
    /// VmRSS, KiB.
    pub rss_kib: u64,
    /// utime + stime, in clock ticks.
    pub cpu_ticks: u64,
}

impl Sample {
    /// VmRSS, MiB.
    pub fn rss_mib(&self) -> f64 {
        num::float(self.rss_kib) / 1024.0
    }
}

/// `pid` None means this process.
pub fn sample(pid: Option<u32>) -> Result<Sample> {
    let dir = match pid {
        Some(p) => format!("/proc/{p}"),
        None => "/proc/self".to_string(),
    };
    let status = std::fs::read_to_string(format!("{dir}/status"))
        .with_context(|| format!("{dir}/status"))?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| anyhow!("no VmRSS in {dir}/status"))?;
    let stat =
        std::fs::read_to_string(format!("{dir}/stat")).with_context(|| format!("{dir}/stat"))?;
    // The command name (field 2) may hold spaces; the fields after its ')' are fixed.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow!("unexpected {dir}/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
    let tick = |i: usize| -> Result<u64> {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| anyhow!("unexpected {dir}/stat"))
    };
    Ok(Sample {
        at: Instant::now(),
        rss_kib,
        cpu_ticks: tick(11)? + tick(12)?,
    })
}

/// CPU use between two readings, in percent of one core (200 = both cores of this machine).
pub fn cpu_percent(before: &Sample, after: &Sample) -> f64 {
    let secs = after.at.duration_since(before.at).as_secs_f64();
    if secs <= 0.0 {
        return 0.0;
    }
    let ticks = num::float(after.cpu_ticks.saturating_sub(before.cpu_ticks));
    100.0 * ticks / clock_ticks_per_second() / secs
}

fn clock_ticks_per_second() -> f64 {
    match rustix::param::clock_ticks_per_second() {
        0 => 100.0,
        hz => num::float(hz),
    }
}

/// True while `pid` exists and has not exited (a zombie awaiting its parent counts as gone).
pub fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Open file descriptors of a process (sockets included), if readable.
pub fn open_fds(pid: u32) -> Option<usize> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(|d| d.count())
}

/// Busy CPU time of the whole machine (all cores, idle and iowait excluded), in clock ticks.
pub fn machine_busy_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu = stat.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = cpu
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    Some(v.iter().take(8).sum::<u64>() - v.get(3)? - v.get(4)?)
}

/// The 1-minute load average.
pub fn loadavg() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Number of CPUs online.
pub fn cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// CPU time of every process with this command name (e.g. PostgreSQL's backends), in
/// clock ticks. Processes that exit between two readings take their time with them.
pub fn ticks_of_command(name: &str) -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut total = 0;
    for entry in dir.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if &stat[open + 1..close] != name {
            continue;
        }
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let tick = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        total += tick(11) + tick(12);
    }
    total
}

/// The processes of the deployment under test: its server instances and, when the bench runs
/// their bus, its Redis.
#[derive(Clone, Debug, Default)]
pub struct Procs {
    pub servers: Vec<u32>,
    pub redis: Option<u32>,
}

impl Procs {
    /// One server (or none known).
    pub fn one(pid: Option<u32>) -> Procs {
        Procs {
            servers: pid.into_iter().collect(),
            redis: None,
        }
    }
}

/// One reading of several processes taken together: resident memory and CPU time summed. None
/// if there are none, or one cannot be read (it exited).
pub fn sample_sum(pids: &[u32]) -> Option<Sample> {
    let mut sum: Option<Sample> = None;
    for &pid in pids {
        let s = sample(Some(pid)).ok()?;
        sum = Some(match sum {
            None => s,
            Some(t) => Sample {
                at: s.at,
                rss_kib: t.rss_kib + s.rss_kib,
                cpu_ticks: t.cpu_ticks + s.cpu_ticks,
            },
        });
    }
    sum
}

/// A reading of the servers (if their pids are known), their Redis, this process, PostgreSQL
/// and the whole machine, taken together.
#[derive(Clone, Copy)]
pub struct Pair {
    /// Every server instance, summed.
    pub server: Option<Sample>,
    pub redis: Option<Sample>,
    pub client: Option<Sample>,
    pub postgres_ticks: u64,
    pub machine_ticks: Option<u64>,
}

/// CPU use over an interval, in percent of one core (200 = both cores of this machine).
pub struct Cpu {
    /// Every server instance together.
    pub server: Option<f64>,
    /// The bench's own Redis (the instances' bus), when it runs one.
    pub redis: Option<f64>,
    pub bench: Option<f64>,
    /// PostgreSQL's processes (zero on SQLite, unless something else uses PostgreSQL).
    pub postgres: Option<f64>,
    /// Everything else: other programs on the machine.
    pub others: Option<f64>,
    /// The interval's length.
    pub seconds: f64,
}

impl Pair {
    pub fn now(procs: &Procs) -> Pair {
        Pair {
            server: sample_sum(&procs.servers),
            redis: procs.redis.and_then(|p| sample(Some(p)).ok()),
            client: sample(None).ok(),
            postgres_ticks: ticks_of_command("postgres"),
            machine_ticks: machine_busy_ticks(),
        }
    }

    pub fn cpu_since(&self, before: &Pair) -> Cpu {
        let pct = |a: &Option<Sample>, b: &Option<Sample>| match (a, b) {
            (Some(a), Some(b)) => Some(cpu_percent(a, b)),
            _ => None,
        };
        let secs = match (before.client, self.client) {
            (Some(b), Some(a)) => a.at.duration_since(b.at).as_secs_f64(),
            _ => 0.0,
        };
        let per_sec = |ticks: u64| {
            (secs > 0.0).then(|| 100.0 * num::float(ticks) / clock_ticks_per_second() / secs)
        };
        let ticks = |a: &Option<Sample>, b: &Option<Sample>| match (a, b) {
            (Some(a), Some(b)) => a.cpu_ticks.saturating_sub(b.cpu_ticks),
            _ => 0,
        };
        let server = ticks(&self.server, &before.server);
        let redis = ticks(&self.redis, &before.redis);
        let client = ticks(&self.client, &before.client);
        let postgres = self.postgres_ticks.saturating_sub(before.postgres_ticks);
        let others = match (self.machine_ticks, before.machine_ticks) {
            (Some(a), Some(b)) => per_sec(
                a.saturating_sub(b)
                    .saturating_sub(server + redis + client + postgres),
            ),
            _ => None,
        };
        Cpu {
            server: pct(&before.server, &self.server),
            redis: pct(&before.redis, &self.redis),
            bench: pct(&before.client, &self.client),
            postgres: per_sec(postgres),
            others,
            seconds: secs,
        }
    }
}

impl Cpu {
    /// Adds `server_cpu{suffix}_pct` and the others to a cell.
    pub fn record(&self, cell: &mut crate::report::Cell, suffix: &str) {
        let round = crate::stats::round1;
        for (name, v) in [
            ("server", self.server),
            ("redis", self.redis),
            ("bench", self.bench),
            ("postgres", self.postgres),
            ("others", self.others),
        ] {
            if let Some(v) = v {
                cell.set(&format!("{name}_cpu{suffix}_pct"), round(v));
            }
        }
    }

    /// CPU time of the deployment (the servers and their Redis) per unit of work, in µs:
    /// e.g. per delivery.
    pub fn deployment_micros_per(&self, units: u64) -> Option<f64> {
        let server = self.server?;
        let busy = server + self.redis.unwrap_or(0.0);
        (units > 0).then(|| busy / 100.0 * self.seconds * 1e6 / num::float(units))
    }

    /// "server 150%, PostgreSQL 30%, bench 20%, other programs 5%".
    pub fn line(&self) -> String {
        let mut parts = Vec::new();
        for (name, v) in [
            ("server", self.server),
            ("Redis", self.redis),
            ("PostgreSQL", self.postgres.filter(|p| *p >= 0.5)),
            ("bench", self.bench),
            ("other programs", self.others),
        ] {
            if let Some(v) = v {
                parts.push(format!("{name} {v:.0}%"));
            }
        }
        format!("{} (100% = one core)", parts.join(", "))
    }
}
