//! A `roomcast serve` process: spawned, its output captured line by line, and ready when it
//! prints the address it listens on (which is how a server bound to port 0 tells its port).

use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::time::timeout;

/// The server prints this, then `http://<addr>`, once it accepts connections.
pub const READY_PREFIX: &str = "roomcast listening on ";
/// Printed before the ready line when `metrics_bind` is set.
pub const METRICS_PREFIX: &str = "roomcast metrics on ";

/// Which pipe a line came from: the server announces itself on stdout and logs on stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pipe {
    Stdout,
    Stderr,
}

/// Receives every line the server prints, on both pipes, from the first until it exits.
pub type Sink = Arc<dyn Fn(Pipe, String) + Send + Sync>;

pub struct Started {
    /// Killed when dropped.
    pub child: Child,
    /// `http://127.0.0.1:<port>` from the ready line, without a trailing slash.
    pub url: String,
    /// The metrics URL announced before the ready line, if any.
    pub metrics: Option<String>,
}

/// Spawns `cmd` (its standard streams are set here) and waits up to `ready_within` for the
/// ready line. Both pipes are drained into `sink` all along, so the server never blocks on
/// a full pipe. On failure the process is gone and the error says why; what it printed went
/// to `sink`.
pub async fn start(
    mut cmd: Command,
    ready_within: Duration,
    sink: Sink,
) -> Result<Started, String> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let program = cmd.as_std().get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err("the server's pipes were not set up".into());
    };
    let stderr = tokio::spawn(drain(
        BufReader::new(stderr).lines(),
        Pipe::Stderr,
        sink.clone(),
    ));
    let mut stdout = BufReader::new(stdout).lines();
    match timeout(ready_within, wait_ready(&mut stdout, &sink)).await {
        Ok(Some((url, metrics))) => {
            tokio::spawn(drain(stdout, Pipe::Stdout, sink));
            Ok(Started {
                child,
                url,
                metrics,
            })
        }
        Ok(None) => {
            // stdout closed: the process is exiting; collect why, and all it said.
            let status = timeout(Duration::from_secs(10), child.wait()).await;
            let _ = timeout(Duration::from_secs(2), stderr).await;
            Err(format!(
                "{program} exited before it was ready: {}",
                describe(status)
            ))
        }
        Err(_) => {
            let _ = child.start_kill();
            let _ = timeout(Duration::from_secs(10), child.wait()).await;
            Err(format!(
                "{program} did not print `{READY_PREFIX}http://…` within {ready_within:?}"
            ))
        }
    }
}

fn describe(status: Result<std::io::Result<ExitStatus>, tokio::time::error::Elapsed>) -> String {
    match status {
        Ok(Ok(status)) => status.to_string(),
        Ok(Err(e)) => format!("(cannot wait for it: {e})"),
        Err(_) => "(still running 10 s after closing its stdout)".into(),
    }
}

/// Reads stdout until the ready line; returns the URL it announces, and the metrics URL
/// announced before it (if any). `None`: stdout closed first.
async fn wait_ready(
    stdout: &mut Lines<BufReader<ChildStdout>>,
    sink: &Sink,
) -> Option<(String, Option<String>)> {
    let mut metrics = None;
    while let Ok(Some(line)) = stdout.next_line().await {
        let trimmed = line.trim();
        if let Some(url) = trimmed.strip_prefix(METRICS_PREFIX) {
            metrics = Some(url.to_string());
        }
        let ready = trimmed
            .strip_prefix(READY_PREFIX)
            .map(|url| url.trim_end_matches('/').to_string());
        sink(Pipe::Stdout, line);
        if let Some(url) = ready {
            return Some((url, metrics));
        }
    }
    None
}

async fn drain<R: AsyncRead + Unpin>(mut lines: Lines<BufReader<R>>, pipe: Pipe, sink: Sink) {
    while let Ok(Some(line)) = lines.next_line().await {
        sink(pipe, line);
    }
}
