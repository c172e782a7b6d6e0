//! The `roomcast` command: `serve` (the default) and `migrate`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use roomcast::cli;
use roomcast::config::{Config, Loaded, LogFormat};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "roomcast",
    version,
    about = "Chat server: send over HTTP, receive over WebSocket"
)]
struct Cli {
    /// A TOML file of settings, applied over the defaults and under ROOMCAST_* variables.
    #[arg(long, global = true, env = "ROOMCAST_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP and WebSocket (the default).
    Serve,
    /// Run pending database migrations and exit.
    #[command(after_help = "Example:\n  roomcast migrate")]
    Migrate,
    /// Copy the SQLite database into a new file, online and consistent (safe while servers
    /// run). PostgreSQL: use pg_dump.
    #[command(after_help = "Example:\n  roomcast backup /var/backups/roomcast-2026-11-30.db")]
    Backup { path: std::path::PathBuf },
    /// Manage accounts.
    #[command(subcommand)]
    User(cli::UserCommand),
    /// Manage bots.
    #[command(subcommand)]
    Bot(cli::BotCommand),
    /// Inspect and delete rooms.
    #[command(subcommand)]
    Room(cli::RoomCommand),
    /// Manage invites to register.
    #[command(subcommand)]
    Invite(cli::InviteCommand),
}

fn init_logging(config: &Config, quiet: bool) {
    // Admin commands keep their security events (a disabled user, a new bot token) on stderr.
    let level = if quiet {
        "warn,roomcast::security=info"
    } else {
        config.log.as_str()
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    // Colour only on a terminal: escape codes in a file or a pipe are noise to every reader.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match config.log_format {
        // The current span holds the request id, so every line of a request carries it.
        LogFormat::Json => builder.json().with_current_span(true).init(),
        LogFormat::Text => builder.init(),
    }
}

/// One ERROR line per panic, through tracing (so it goes where the logs go and carries the
/// request's span), instead of the default hook's text plus, under `RUST_BACKTRACE`, a backtrace
/// of hundreds of KB: whatever a request can make panic must not be able to flood the log.
fn log_panics() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(no message)");
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let thread = std::thread::current();
        tracing::error!(
            thread = thread.name().unwrap_or("unnamed"),
            %location,
            "panicked: {message}"
        );
    }));
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Loaded {
        config,
        ignored_env,
    } = match Config::load(cli.config.as_deref()) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("roomcast: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Admin commands print their own results; only warnings belong on stderr.
    let quiet = !matches!(cli.command, None | Some(Command::Serve));
    init_logging(&config, quiet);
    log_panics();
    // Not fatal: a bot's ROOMCAST_TOKEN in the same shell is no typo of a setting.
    if !ignored_env.is_empty() {
        tracing::warn!(
            "ignoring environment variables that name no setting: {}",
            ignored_env.join(", ")
        );
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("roomcast: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => roomcast::server::serve(config).await,
            Command::Migrate => roomcast::store::Db::connect(&config).await.map(|_| {
                println!("migrations are up to date");
            }),
            Command::User(cmd) => cli::user(config, cmd).await,
            Command::Bot(cmd) => cli::bot(config, cmd).await,
            Command::Room(cmd) => cli::room(config, cmd).await,
            Command::Invite(cmd) => cli::invite(config, cmd).await,
            Command::Backup { path } => cli::backup(config, &path).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("roomcast: {e}");
            ExitCode::FAILURE
        }
    }
}
