//! The scenarios, and `all`, which runs each once with modest sizes.

mod audience;
mod bus_recovery;
mod commit;
mod fanout;
mod idle;
mod joins;
mod latency;
mod send;
mod steady;
mod unread;

use std::sync::Arc;

use anyhow::Result;

use crate::cli::{Cli, Command, FanoutArgs, IdleArgs, JoinsArgs, LatencyArgs, SendArgs};
use crate::client::{Api, Connector};
use crate::report::Report;
use crate::server::Target;

/// What every scenario works with.
pub struct Bench<'a> {
    pub cli: &'a Cli,
    pub target: &'a Target,
    /// The first instance's API and sockets.
    pub api: Api,
    pub connector: Arc<Connector>,
    /// Every instance's, the first included, in instance order.
    pub nodes: Vec<Node>,
}

/// One instance as the scenarios reach it.
pub struct Node {
    pub api: Api,
    pub connector: Arc<Connector>,
}

/// Runs the chosen scenario(s); true if every check held.
pub async fn run(cli: &Cli, target: &Target) -> Result<bool> {
    let api = Api::new(target)?;
    let connector = Arc::new(Connector::new(target, cli.source_addrs));
    let mut nodes = vec![Node {
        api: api.clone(),
        connector: connector.clone(),
    }];
    for instance in target.instances.iter().skip(1) {
        nodes.push(Node {
            api: api.at(&instance.base),
            connector: Arc::new(Connector::to(instance.addr, cli.source_addrs)),
        });
    }
    let bench = Bench {
        cli,
        target,
        api,
        connector,
        nodes,
    };
    crate::probe::epoch();
    let mut ok = true;
    match &cli.command {
        Command::Send(a) => ok &= emit(&bench, send::run(&bench, a).await?)?,
        Command::Fanout(a) => ok &= emit(&bench, fanout::run(&bench, a).await?)?,
        Command::Latency(a) => ok &= emit(&bench, latency::run(&bench, a).await?)?,
        Command::BusRecovery(a) => ok &= emit(&bench, bus_recovery::run(&bench, a).await?)?,
        Command::Idle(a) => ok &= emit(&bench, idle::run(&bench, a).await?)?,
        Command::Joins(a) => ok &= emit(&bench, joins::run(&bench, a).await?)?,
        Command::Commit(a) => ok &= emit(&bench, commit::run(&bench, a).await?)?,
        Command::Unread(a) => ok &= emit(&bench, unread::run(&bench, a).await?)?,
        Command::All => {
            let (send, fanout, latency, idle, joins) = modest();
            ok &= emit(&bench, send::run(&bench, &send).await?)?;
            ok &= emit(&bench, fanout::run(&bench, &fanout).await?)?;
            ok &= emit(&bench, latency::run(&bench, &latency).await?)?;
            ok &= emit(&bench, idle::run(&bench, &idle).await?)?;
            ok &= emit(&bench, joins::run(&bench, &joins).await?)?;
        }
        Command::Summarize(_) | Command::Chart(_) => {
            unreachable!("handled before a server is started")
        }
    }
    Ok(ok)
}

fn emit(bench: &Bench, report: Report) -> Result<bool> {
    report.emit(bench.cli, bench.target)
}

/// The sizes `all` uses: about a minute in total on a 2-core machine.
fn modest() -> (SendArgs, FanoutArgs, LatencyArgs, IdleArgs, JoinsArgs) {
    (
        SendArgs {
            concurrency: vec![1, 8, 64],
            rooms: vec![1, 50],
            seconds: 3.0,
            messages: None,
            warmup_seconds: 0.5,
            content_bytes: 64,
        },
        FanoutArgs {
            receivers: vec![1000],
            messages: 100,
            senders: crate::cli::FANOUT_SENDERS,
            with_raw: false,
            receiver_accounts: 10,
            wait_seconds: 60.0,
            content_bytes: 64,
        },
        LatencyArgs {
            receivers: 1000,
            rate: 200.0,
            seconds: 5.0,
            senders: 8,
            max_in_flight: 256,
            receiver_accounts: 10,
            wait_seconds: 30.0,
            content_bytes: 64,
        },
        IdleArgs {
            sockets: 5000,
            rest_seconds: 5.0,
            settle_seconds: 2.0,
            connect_concurrency: 128,
            accounts: 4,
        },
        JoinsArgs {
            joiners: 1000,
            capacity: 100,
        },
    )
}
