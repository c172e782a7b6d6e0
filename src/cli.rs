//! Admin commands for operators who script: same config and database as `serve`, plain text
//! (or `--json` lines) on stdout, a clear line on stderr and a non-zero exit on failure.

use std::io::BufRead;

use clap::Subcommand;
use serde::Serialize;

use crate::app::App;
use crate::chat::accounts::{self, normalize_username, Credentials};
use crate::chat::credentials::{self, By};
use crate::chat::{bots, rooms};
use crate::config::Config;
use crate::ids::{RoomId, Seq, UserId};
use crate::telemetry::SECURITY;
use crate::views::timestamp;

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create an account; the password is read from the first line of standard input.
    Create { username: String },
    /// List accounts and bots.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Disable an account: no more logins or tokens; its sessions end and its sockets close.
    Disable { username: String },
}

#[derive(Subcommand)]
pub enum BotCommand {
    /// Issue a new token for a bot (by name), printed once; the old token dies at once.
    Token { bot: String },
}

#[derive(Subcommand)]
pub enum RoomCommand {
    /// List rooms with their seats and last seq.
    List {
        #[arg(long)]
        json: bool,
    },
}

pub async fn user(config: Config, cmd: UserCommand) -> Result<(), String> {
    let app = App::open(config).await?;
    match cmd {
        UserCommand::Create { username } => {
            let mut password = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut password)
                .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
            let password = password.trim_end_matches(['\r', '\n']).to_string();
            let account = accounts::register(&app, Credentials { username, password })
                .await
                .map_err(|e| e.report())?;
            println!("created user {} (id {})", account.username, account.id);
        }
        UserCommand::List { json } => {
            let users = accounts::list_all(&app).await.map_err(|e| e.report())?;
            for u in users {
                let row = UserLine {
                    id: u.id,
                    username: u.username,
                    bot: u.is_bot,
                    created_at: timestamp(u.created_at),
                    disabled: u.disabled_at.is_some(),
                };
                print_row(json, &row, || {
                    format!(
                        "{:>6}  {:<32}  {:<4}  {}{}",
                        row.id,
                        row.username,
                        if row.bot { "bot" } else { "user" },
                        row.created_at,
                        if row.disabled { "  disabled" } else { "" }
                    )
                })?;
            }
        }
        UserCommand::Disable { username } => {
            let name = normalize_username(&username).map_err(|e| e.report())?;
            let user = accounts::find_id(&app, &name)
                .await
                .map_err(|e| e.report())?
                .ok_or(format!("no user named {name}"))?;
            credentials::disable_user(&app, user)
                .await
                .map_err(|e| e.report())?;
            tracing::info!(target: SECURITY, event = "user.disabled", account = user.0, username = %name, via = "cli", "user disabled");
            // With a bus, running servers close the sockets at once (else within the poll).
            app.bus.flush().await;
            println!("disabled {name} (id {user}); sessions ended");
        }
    }
    Ok(())
}

pub async fn bot(config: Config, cmd: BotCommand) -> Result<(), String> {
    let app = App::open(config).await?;
    match cmd {
        BotCommand::Token { bot } => {
            let name = normalize_username(&bot).map_err(|e| e.report())?;
            let found = bots::find_by_name(&app, &name)
                .await
                .map_err(|e| e.report())?
                .ok_or(format!("no live bot named {name}"))?;
            let token = credentials::rotate_bot_token(&app, By::Operator, found)
                .await
                .map_err(|e| e.report())?;
            tracing::info!(target: SECURITY, event = "bot.token_rotated", bot = found.0, via = "cli", "bot token rotated");
            app.bus.flush().await;
            println!("{token}");
        }
    }
    Ok(())
}

pub async fn room(config: Config, cmd: RoomCommand) -> Result<(), String> {
    let app = App::open(config).await?;
    match cmd {
        RoomCommand::List { json } => {
            // Nobody's view, so `joined` is false everywhere and not shown.
            let rooms = rooms::list_all(&app).await.map_err(|e| e.report())?;
            for r in rooms {
                let row = RoomLine {
                    id: r.room.id,
                    name: r.room.name,
                    owner: r.owner.username,
                    member_count: r.room.member_count,
                    capacity: r.room.capacity,
                    last_seq: r.room.last_seq,
                };
                print_row(json, &row, || {
                    format!(
                        "{:>6}  {:<24}  owner {:<20}  {:>5}/{:<5}  seq {}",
                        row.id, row.name, row.owner, row.member_count, row.capacity, row.last_seq
                    )
                })?;
            }
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct UserLine {
    id: UserId,
    username: String,
    bot: bool,
    created_at: String,
    disabled: bool,
}

#[derive(Serialize)]
struct RoomLine {
    id: RoomId,
    name: String,
    owner: String,
    member_count: i32,
    capacity: i32,
    last_seq: Seq,
}

fn print_row<T: Serialize>(
    json: bool,
    row: &T,
    text: impl FnOnce() -> String,
) -> Result<(), String> {
    if json {
        println!("{}", serde_json::to_string(row).map_err(|e| e.to_string())?);
    } else {
        println!("{}", text());
    }
    Ok(())
}
