//! `roomcast-bench`: a load generator that talks to a real roomcast server over HTTP and
//! WebSocket on 127.0.0.1, prints a human summary and one JSON line per scenario, and stops
//! by itself (every loop is bounded by a count and by a global deadline).

mod chart;
mod cli;
mod client;
mod limits;
mod num;
mod probe;
mod procfs;
mod raw;
mod receivers;
mod report;
mod scenarios;
mod server;
mod stats;
mod summarize;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let offline = match &cli.command {
        Command::Summarize(args) => Some(summarize::run(args)),
        Command::Chart(args) => Some(chart::run(args)),
        _ => None,
    };
    if let Some(result) = offline {
        return match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("roomcast-bench: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    // Raised before anything is spawned, so that a server started by --spawn inherits it.
    match limits::raise_nofile(limits::WANTED_NOFILE) {
        Ok(n) => eprintln!("roomcast-bench: open file limit {n}"),
        Err(e) => eprintln!("roomcast-bench: warning: cannot raise the open file limit: {e}"),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("roomcast-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(run(cli));
    // Receiver tasks that a deadline cut short must not keep the process alive.
    runtime.shutdown_timeout(Duration::from_secs(2));
    code
}

async fn run(cli: Cli) -> ExitCode {
    let target = match server::Target::start(&cli.server).await {
        Ok(t) => t,
        Err(e) => {
            eprintln!("roomcast-bench: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let deadline = Duration::from_secs_f64(cli.deadline_seconds);
    let outcome = tokio::select! {
        r = tokio::time::timeout(deadline, scenarios::run(&cli, &target)) => match r {
            Ok(Ok(all_ok)) => if all_ok { Outcome::Ok } else { Outcome::Failed },
            Ok(Err(e)) => {
                eprintln!("roomcast-bench: {e:#}");
                Outcome::Error
            }
            Err(_) => {
                eprintln!(
                    "roomcast-bench: global deadline of {:.0} s reached; stopping",
                    cli.deadline_seconds
                );
                Outcome::Error
            }
        },
        _ = tokio::signal::ctrl_c() => {
            eprintln!("roomcast-bench: interrupted; stopping");
            Outcome::Error
        }
    };
    let health = target.stop().await;
    match &health {
        Ok(h) => h.print(),
        Err(e) => eprintln!("roomcast-bench: cleanup: {e:#}"),
    }
    let server_ok = health.as_ref().map(|h| h.healthy()).unwrap_or(false);
    match outcome {
        Outcome::Ok if server_ok => ExitCode::SUCCESS,
        Outcome::Ok | Outcome::Failed => {
            eprintln!("roomcast-bench: FAILED (see the checks above)");
            ExitCode::from(1)
        }
        Outcome::Error => ExitCode::from(2),
    }
}

enum Outcome {
    Ok,
    Failed,
    Error,
}
