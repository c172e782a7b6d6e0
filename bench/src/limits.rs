//! The open-file limit: tens of thousands of sockets need more than the usual 1024 or 20000,
//! on both ends. A server started with --spawn inherits the raised limit.

use anyhow::{bail, Context, Result};
use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

use crate::num;

/// Enough for 20,000 idle sockets plus the HTTP pool, on each side, with room to spare.
pub const WANTED_NOFILE: u64 = 131_072;

/// Raises RLIMIT_NOFILE (soft, and hard if allowed) toward `want`; returns the soft limit now
/// in force.
pub fn raise_nofile(want: u64) -> Result<u64> {
    let (current, hard) = nofile_limits();
    if current >= want {
        return Ok(current);
    }
    // Raising the hard limit needs privileges (root here); fall back to the current hard one.
    let raised = Rlimit {
        current: Some(want),
        maximum: Some(hard.max(want)),
    };
    if setrlimit(Resource::Nofile, raised).is_ok() {
        return Ok(want);
    }
    let soft_only = Rlimit {
        current: Some(hard),
        maximum: Some(hard),
    };
    setrlimit(Resource::Nofile, soft_only).context("setrlimit")?;
    Ok(hard)
}

/// This process's soft open-file limit.
pub fn nofile() -> u64 {
    nofile_limits().0
}

/// (soft, hard) open-file limits, "unlimited" as `u64::MAX` (RLIM_INFINITY).
fn nofile_limits() -> (u64, u64) {
    let lim = getrlimit(Resource::Nofile);
    (
        lim.current.unwrap_or(u64::MAX),
        lim.maximum.unwrap_or(u64::MAX),
    )
}

/// Another process's soft open-file limit, from /proc/<pid>/limits.
pub fn nofile_of(pid: u32) -> Option<u64> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Fails early, with the fix, if `sockets` cannot be held open by this process or the server.
pub fn ensure_room_for(sockets: usize, server_pid: Option<u32>) -> Result<()> {
    // Besides the sockets: the HTTP pool, the runtime, stdio; on the server, the database.
    const MARGIN: u64 = 200;
    let need = num::count(sockets).saturating_add(MARGIN);
    let mine = nofile();
    if mine < need {
        bail!(
            "{sockets} sockets need an open file limit of about {need}, and this process has \
             {mine} (the hard limit could not be raised: that takes CAP_SYS_RESOURCE); use \
             --sockets {} or raise `ulimit -Hn`",
            mine.saturating_sub(MARGIN)
        );
    }
    if let Some(theirs) = server_pid.and_then(nofile_of) {
        if theirs < need {
            bail!(
                "the server's open file limit is {theirs}, too low for {sockets} sockets; use \
                 --sockets {} or start it with a higher limit",
                theirs.saturating_sub(MARGIN)
            );
        }
    }
    Ok(())
}
