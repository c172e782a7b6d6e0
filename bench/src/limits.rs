//! The open-file limit: tens of thousands of sockets need more than the usual 1024 or 20000,
//! on both ends. A server started with --spawn inherits the raised limit.

use anyhow::{bail, Result};

/// Enough for 20,000 idle sockets plus the HTTP pool, on each side, with room to spare.
pub const WANTED_NOFILE: u64 = 131_072;

/// Raises RLIMIT_NOFILE (soft, and hard if allowed) toward `want`; returns the soft limit now
/// in force.
pub fn raise_nofile(want: u64) -> Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        bail!("getrlimit: {}", std::io::Error::last_os_error());
    }
    if lim.rlim_cur >= want {
        return Ok(lim.rlim_cur);
    }
    // Raising the hard limit needs privileges (root here); fall back to the current hard one.
    let raised = libc::rlimit {
        rlim_cur: want,
        rlim_max: lim.rlim_max.max(want),
    };
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
        return Ok(want);
    }
    let soft_only = libc::rlimit {
        rlim_cur: lim.rlim_max,
        rlim_max: lim.rlim_max,
    };
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &soft_only) } != 0 {
        bail!("setrlimit: {}", std::io::Error::last_os_error());
    }
    Ok(lim.rlim_max)
}

/// This process's soft open-file limit.
pub fn nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 0;
    }
    lim.rlim_cur
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
    let need = sockets as u64 + MARGIN;
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
