//! Admin commands for operators who script: same config and database as `serve`, plain text
//! (or `--json` lines) on stdout, a clear line on stderr and a non-zero exit on failure.

use std::io::BufRead;

use clap::Subcommand;
use serde::Serialize;

use crate::app::App;
use crate::chat::accounts::{self, normalize_username, Grant, NewAccount, Via};
use crate::chat::credentials::{self, By};
use crate::chat::invites::{self, NewInvite};
use crate::chat::{admin, backup, bots, rooms};
use crate::config::Config;
use crate::ids::{RoomId, Seq, UserId};
use crate::telemetry::SECURITY;
use crate::views::timestamp;

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create an account; the password is read from the first line of standard input.
    /// The first account of an empty server is an admin.
    #[command(
        after_help = "Example:\n  echo 'a good password' | roomcast user create carol --admin"
    )]
    Create {
        username: String,
        /// Make the account an admin.
        #[arg(long)]
        admin: bool,
    },
    /// List accounts and bots.
    #[command(after_help = "Example:\n  roomcast user list --json")]
    List {
        #[arg(long)]
        json: bool,
    },
    /// Disable an account: no more logins or tokens; its sessions end and its sockets close.
    #[command(after_help = "Example:\n  roomcast user disable carol")]
    Disable { username: String },
    /// Enable a disabled account: it may log in again.
    #[command(after_help = "Example:\n  roomcast user enable carol")]
    Enable { username: String },
    /// Set a new password, read from the first line of standard input: every session of the
    /// user ends and every socket of theirs closes (4001).
    #[command(
        name = "reset-password",
        after_help = "Example:\n  echo 'a new good password' | roomcast user reset-password carol"
    )]
    ResetPassword { username: String },
    /// Delete an account: its sessions and tokens end (sockets close 4001), its name is freed
    /// (its messages stay, under `deleted-<id>`), the rooms it owns and its DMs are deleted,
    /// it leaves every other room, and its bots are deleted.
    #[command(after_help = "Example:\n  roomcast user delete carol")]
    Delete { username: String },
    /// Grant (on) or withdraw (off) admin rights.
    #[command(after_help = "Example:\n  roomcast user admin carol on")]
    Admin { username: String, state: OnOff },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

#[derive(Subcommand)]
pub enum InviteCommand {
    /// Create an invite to register (for `registration = "invite"`); prints its code once.
    #[command(after_help = "Example:\n  roomcast invite create --uses 5 --expires-in 86400")]
    Create {
        /// How many registrations it admits.
        #[arg(long, default_value_t = 1)]
        uses: i64,
        /// Seconds until it expires (at most 30 days).
        #[arg(long, default_value_t = 7 * 24 * 3600)]
        expires_in: i64,
    },
    /// List invites (never their codes).
    #[command(after_help = "Example:\n  roomcast invite list --json")]
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke an invite by id: its code no longer registers anyone.
    #[command(after_help = "Example:\n  roomcast invite revoke 3")]
    Revoke { id: i64 },
}

#[derive(Subcommand)]
pub enum BotCommand {
    /// Issue a new token for a bot (by name), printed once; the old token dies at once.
    #[command(after_help = "Example:\n  roomcast bot token weatherbot")]
    Token { bot: String },
}

#[derive(Subcommand)]
pub enum RoomCommand {
    /// List rooms with their seats and last seq.
    #[command(after_help = "Example:\n  roomcast room list --json")]
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one room, private rooms and DMs too: its owner, seats, visibility and members.
    #[command(after_help = "Example:\n  roomcast room show 7 --json")]
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Delete a room: its sockets get room.deleted and close 4004, on running servers too.
    #[command(after_help = "Example:\n  roomcast room delete 7")]
    Delete { id: i64 },
}

pub async fn user(config: Config, cmd: UserCommand) -> Result<(), String> {
    let app = App::open(config).await?;
    match cmd {
        UserCommand::Create { username, admin } => {
            let password = read_password()?;
            let grant = if admin { Grant::Admin } else { Grant::IfFirst };
            let input = NewAccount {
                username,
                password,
                invite: None,
            };
            let account = accounts::register(&app, input, grant, Via::Operator)
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
                    admin: u.is_admin,
                };
                print_row(json, &row, || {
                    format!(
                        "{:>6}  {:<32}  {:<5}  {}{}",
                        row.id,
                        row.username,
                        if row.bot {
                            "bot"
                        } else if row.admin {
                            "admin"
                        } else {
                            "user"
                        },
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
        UserCommand::Enable { username } => {
            let (name, user) = find_user(&app, &username).await?;
            admin::enable_by_operator(&app, user)
                .await
                .map_err(|e| e.report())?;
            tracing::info!(target: SECURITY, event = "user.enabled", account = user.0, username = %name, via = "cli", "user enabled");
            println!("enabled {name} (id {user})");
        }
        UserCommand::ResetPassword { username } => {
            let (name, user) = find_user(&app, &username).await?;
            let password = read_password()?;
            let ended = credentials::reset_password(&app, user, password)
                .await
                .map_err(|e| e.report())?;
            tracing::info!(target: SECURITY, event = "password.reset", account = user.0, username = %name, sessions_ended = ended, via = "cli", "password reset");
            app.bus.flush().await;
            println!("new password set for {name} (id {user}); {ended} sessions ended");
        }
        UserCommand::Delete { username } => {
            let (name, user) = find_user(&app, &username).await?;
            let done = admin::delete_user(&app, user)
                .await
                .map_err(|e| e.report())?;
            tracing::info!(target: SECURITY, event = "user.deleted", account = user.0, username = %name, rooms_deleted = done.rooms_deleted, rooms_left = done.rooms_left, bots_deleted = done.bots_deleted, via = "cli", "user deleted");
            app.bus.flush().await;
            println!(
                "deleted {name} (id {user}): {} rooms deleted, {} left, {} bots deleted; \
                 messages kept as deleted-{user}",
                done.rooms_deleted, done.rooms_left, done.bots_deleted
            );
        }
        UserCommand::Admin { username, state } => {
            let (name, user) = find_user(&app, &username).await?;
            let on = matches!(state, OnOff::On);
            admin::set_admin(&app, user, on)
                .await
                .map_err(|e| e.report())?;
            tracing::info!(target: SECURITY, event = "user.admin", account = user.0, username = %name, admin = on, via = "cli", "admin rights changed");
            println!(
                "{name} (id {user}) is {}",
                if on { "an admin" } else { "not an admin" }
            );
        }
    }
    Ok(())
}

pub async fn invite(config: Config, cmd: InviteCommand) -> Result<(), String> {
    let app = App::open(config).await?;
    match cmd {
        InviteCommand::Create { uses, expires_in } => {
            let input = NewInvite {
                uses,
                expires_in_secs: expires_in,
            };
            let made = invites::create_by_operator(&app, input)
                .await
                .map_err(|e| e.report())?;
            tracing::info!(target: SECURITY, event = "invite.created", invite = made.invite.id, uses, via = "cli", "invite created");
            println!("{}", made.code);
        }
        InviteCommand::List { json } => {
            for i in invites::list_all(&app).await.map_err(|e| e.report())? {
                print_row(json, &i, || {
                    format!(
                        "{:>6}  {:>4} uses left  expires {}  created {}",
                        i.id, i.uses_left, i.expires_at, i.created_at
                    )
                })?;
            }
        }
        InviteCommand::Revoke { id } => {
            invites::revoke_by_operator(&app, id)
                .await
                .map_err(|e| e.report())?;
            tracing::info!(target: SECURITY, event = "invite.revoked", invite = id, via = "cli", "invite revoked");
            println!("revoked invite {id}");
        }
    }
    Ok(())
}

pub async fn backup(config: Config, path: &std::path::Path) -> Result<(), String> {
    let app = App::open(config).await?;
    let target = path
        .to_str()
        .ok_or(format!("{} is not a UTF-8 path", path.display()))?;
    backup::backup(&app, target).await.map_err(|e| e.report())?;
    println!("backed up to {target}");
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
        RoomCommand::Show { id, json } => {
            let room = RoomId(id);
            let r = rooms::show_any(&app, room)
                .await
                .map_err(|e| format!("room {id}: {}", e.report()))?;
            let members = rooms::members_any(&app, room)
                .await
                .map_err(|e| e.report())?;
            let show = RoomShow {
                id: r.room.id,
                name: r.room.name,
                owner: r.owner.username,
                visibility: if r.room.is_private {
                    "private"
                } else {
                    "public"
                },
                kind: if r.room.is_dm { "dm" } else { "room" },
                member_count: r.room.member_count,
                capacity: r.room.capacity,
                last_seq: r.room.last_seq,
                created_at: timestamp(r.room.created_at),
                members: members.iter().map(|m| m.username.clone()).collect(),
            };
            print_row(json, &show, || {
                format!(
                    "{}  {}\nowner {}  {} {}  {}/{} seats  seq {}  created {}\nmembers: {}",
                    show.id,
                    show.name,
                    show.owner,
                    show.visibility,
                    show.kind,
                    show.member_count,
                    show.capacity,
                    show.last_seq,
                    show.created_at,
                    show.members.join(", ")
                )
            })?;
        }
        RoomCommand::Delete { id } => {
            let gone = rooms::delete_by_operator(&app, RoomId(id))
                .await
                .map_err(|e| format!("room {id}: {}", e.report()))?;
            tracing::info!(target: SECURITY, event = "room.deleted", room = id, via = "cli", "room deleted");
            // With a bus, running servers close its sockets at once (else at their next
            // position check).
            app.bus.flush().await;
            println!("deleted room {id} ({})", gone.room.name);
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct RoomShow {
    id: RoomId,
    name: String,
    owner: String,
    visibility: &'static str,
    kind: &'static str,
    member_count: i32,
    capacity: i32,
    last_seq: Seq,
    created_at: String,
    members: Vec<String>,
}

#[derive(Serialize)]
struct UserLine {
    id: UserId,
    username: String,
    bot: bool,
    created_at: String,
    disabled: bool,
    admin: bool,
}

/// The first line of standard input, without its line end.
fn read_password() -> Result<String, String> {
    let mut password = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut password)
        .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
    Ok(password.trim_end_matches(['\r', '\n']).to_string())
}

/// A username as typed, and the id of its account: one clear line if there is none.
async fn find_user(app: &App, username: &str) -> Result<(String, UserId), String> {
    let name = normalize_username(username).map_err(|e| e.report())?;
    let user = accounts::find_id(app, &name)
        .await
        .map_err(|e| e.report())?
        .ok_or(format!("no user named {name}"))?;
    Ok((name, user))
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
