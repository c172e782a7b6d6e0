//! The admin commands of the same binary (`roomcast migrate`, `user …`,
//! `bot token`, `room list`), run against a real database, most of them
//! while a server serves that same database: what they change, running
//! servers see (disabled users and rotated tokens lose their sockets).

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use tokio::time::timeout;

use crate::support::{
    assert_token_shape, unique_username, Backend, Bot, EventSocket, TestDb, TestServer, PASSWORD,
};

backend_tests!(
    migrate_prepares_a_fresh_database,
    user_create_and_list,
    user_create_refusals_fail_with_a_message,
    user_disable_ends_sessions_and_closes_sockets,
    bot_token_issues_a_new_token_and_kills_the_old_one,
    room_list_shows_every_room,
    a_bad_database_url_or_command_fails_with_a_message,
    an_unknown_database_scheme_is_refused,
    the_bots_variables_stop_neither_the_server_nor_the_cli,
    every_command_has_help_with_an_example,
    room_show_and_delete_reach_the_running_server,
    user_delete_keeps_messages_and_takes_everything_else,
);

/// `roomcast <command> --help` for every command: exit 0, and an example to copy.
async fn every_command_has_help_with_an_example(b: Backend) {
    let db = TestDb::create_via(b, None).await;
    let commands: [&[&str]; 18] = [
        &["user", "delete"],
        &["room", "show"],
        &["room", "delete"],
        &["migrate"],
        &["backup"],
        &["user", "create"],
        &["user", "list"],
        &["user", "disable"],
        &["user", "enable"],
        &["user", "admin"],
        &["user", "reset-password"],
        &["invite", "create"],
        &["invite", "list"],
        &["invite", "revoke"],
        &["bot", "token"],
        &["room", "list"],
        &["user", "create", "--admin"],
        &["invite", "create", "--uses", "2"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.push("--help");
        let run = roomcast(&db.url, &args, "").await;
        let out = run.ok();
        assert!(
            out.contains("Usage: roomcast")
                && out
                    .split_once("Example:\n  ")
                    .is_some_and(|(_, example)| example.contains("roomcast ")),
            "`roomcast {}`: {out}",
            args.join(" ")
        );
    }
}

/// What one run of the command left behind.
pub(crate) struct Run {
    args: String,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Asserts exit 0 and returns stdout.
    #[track_caller]
    pub(crate) fn ok(&self) -> &str {
        assert_eq!(
            self.code,
            Some(0),
            "`roomcast {}` failed\nstdout: {}\nstderr: {}",
            self.args,
            self.stdout,
            self.stderr
        );
        &self.stdout
    }

    /// Asserts a non-zero exit with a message on stderr, and returns it.
    #[track_caller]
    pub(crate) fn failed(&self) -> &str {
        assert!(
            self.code.is_some_and(|c| c != 0),
            "`roomcast {}` should fail, exited {:?}\nstdout: {}\nstderr: {}",
            self.args,
            self.code,
            self.stdout,
            self.stderr
        );
        assert!(
            !self.stderr.trim().is_empty(),
            "`roomcast {}` failed without a word on stderr",
            self.args
        );
        self.stderr.trim()
    }
}

/// Runs `roomcast <args>` on this database, with `stdin` as standard input,
/// and nothing of the developer's own ROOMCAST_* settings.
async fn roomcast(database_url: &str, args: &[&str], stdin: &str) -> Run {
    roomcast_with(database_url, args, stdin, &[]).await
}

/// `roomcast`, with these variables set too.
pub(crate) async fn roomcast_with(
    database_url: &str,
    args: &[&str],
    stdin: &str,
    env: &[(&str, &str)],
) -> Run {
    // A scratch working directory: whatever a command creates by mistake
    // (say, a relative SQLite path) lands there and is removed.
    let scratch = std::env::temp_dir().join(format!(
        "roomcast-e2e-cli-{}-{}",
        std::process::id(),
        unique_username("run")
    ));
    std::fs::create_dir_all(&scratch).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_roomcast"));
    cmd.current_dir(&scratch)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (key, _) in std::env::vars() {
        if key.starts_with("ROOMCAST_") || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    cmd.env("ROOMCAST_DATABASE_URL", database_url)
        .env("ROOMCAST_ARGON2_MEMORY_KIB", "64")
        .env("ROOMCAST_ARGON2_ITERATIONS", "1")
        .envs(env.iter().copied());
    let mut child = cmd.spawn().expect("cannot run the roomcast binary");
    let mut input = child.stdin.take().unwrap();
    // A command that does not read stdin may have exited already.
    let _ = input.write_all(stdin.as_bytes()).await;
    drop(input);
    let output = timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("`roomcast {}` ran for over 60 s", args.join(" ")))
        .unwrap();
    let _ = std::fs::remove_dir_all(&scratch);
    Run {
        args: args.join(" "),
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Each stdout line of a `--json` listing, parsed.
#[track_caller]
fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("--json line is not JSON ({e}): {line:?}"))
        })
        .collect()
}

#[track_caller]
fn find<'a>(rows: &'a [Value], username: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["username"] == username)
        .unwrap_or_else(|| panic!("{username} not listed: {rows:?}"))
}

/// Waits (at most `within`) for the server to close the socket with `code`.
async fn closes_within(socket: &mut EventSocket, code: u16, within: Duration, what: &str) {
    let started = Instant::now();
    if timeout(within, socket.expect_close(code)).await.is_err() {
        panic!("{what}: the socket was still open {within:?} later");
    }
    eprintln!("{what}: socket closed {code} after {:?}", started.elapsed());
}

async fn migrate_prepares_a_fresh_database(b: Backend) {
    let db = TestDb::create_via(b, None).await;

    let first = roomcast(&db.url, &["migrate"], "").await;
    assert_eq!(first.ok().trim(), "migrations are up to date");
    // Idempotent.
    roomcast(&db.url, &["migrate"], "").await.ok();

    // The schema is there: the listings work and are empty.
    assert_eq!(roomcast(&db.url, &["user", "list"], "").await.ok(), "");
    assert_eq!(
        roomcast(&db.url, &["room", "list", "--json"], "")
            .await
            .ok(),
        ""
    );
    let name = unique_username("first");
    roomcast(
        &db.url,
        &["user", "create", &name],
        &format!("{PASSWORD}\n"),
    )
    .await
    .ok();
    let users = json_lines(
        roomcast(&db.url, &["user", "list", "--json"], "")
            .await
            .ok(),
    );
    assert_eq!(users.len(), 1, "{users:?}");
    assert_eq!(users[0]["username"], name.as_str());
}

async fn user_create_and_list(b: Backend) {
    let server = TestServer::start(b).await;
    let url = server.database_url().to_string();
    let name = unique_username("admin");

    // The password is the first line of stdin; the rest is ignored.
    let created = roomcast(
        &url,
        &["user", "create", &name],
        &format!("{PASSWORD}\nsecond line\n"),
    )
    .await;
    let out = created.ok();
    assert_eq!(out.lines().count(), 1, "one result line: {out:?}");
    assert!(out.contains(&name), "{out}");

    // The running server takes the new account at once.
    let client = server.client();
    let who = client.login(&name, PASSWORD).await.expect(200);
    assert_eq!(who["username"], name.as_str());
    assert_eq!(who["bot"], false);

    // The listing has people and bots, marked.
    let owner = server.user().await;
    let bot = Bot::create(&owner).await;
    let text = roomcast(&url, &["user", "list"], "").await;
    let text = text.ok();
    for expected in [&name, &owner.username, &bot.username] {
        assert!(
            text.contains(expected.as_str()),
            "{expected} not in:\n{text}"
        );
    }
    let rows = json_lines(roomcast(&url, &["user", "list", "--json"], "").await.ok());
    assert_eq!(rows.len(), 3, "{rows:?}");
    let listed = find(&rows, &name);
    assert_eq!(listed["id"], who["id"]);
    assert_eq!(listed["bot"], false);
    assert_eq!(listed["disabled"], false);
    assert!(listed["created_at"].is_string(), "{listed}");
    let listed_bot = find(&rows, &bot.username);
    assert_eq!(listed_bot["id"], bot.id);
    assert_eq!(listed_bot["bot"], true);
    // Ascending by id.
    let ids: Vec<i64> = rows.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    // Nothing secret in the listing.
    let all = serde_json::to_string(&rows).unwrap();
    assert!(
        !all.contains(&bot.token) && !all.contains(PASSWORD),
        "{all}"
    );
}

async fn user_create_refusals_fail_with_a_message(b: Backend) {
    let server = TestServer::start(b).await;
    let url = server.database_url().to_string();
    let taken = server.user().await;
    let password = format!("{PASSWORD}\n");

    let duplicate = roomcast(&url, &["user", "create", &taken.username], &password).await;
    let message = duplicate.failed();
    assert!(message.contains("taken"), "{message}");

    let bad_name = roomcast(&url, &["user", "create", "no way!"], &password).await;
    let message = bad_name.failed();
    assert!(message.contains("username"), "{message}");

    let name = unique_username("short");
    let short = roomcast(&url, &["user", "create", &name], "1234567\n").await;
    let message = short.failed();
    assert!(message.contains("password"), "{message}");
    let empty = roomcast(&url, &["user", "create", &name], "").await;
    empty.failed();
    server
        .client()
        .login(&name, "1234567")
        .await
        .expect_problem(401, "invalid-credentials");

    // A missing argument is a usage error.
    roomcast(&url, &["user", "create"], &password)
        .await
        .failed();
}

async fn user_disable_ends_sessions_and_closes_sockets(b: Backend) {
    let server = TestServer::start(b).await;
    let url = server.database_url().to_string();
    let owner = server.user().await;
    let victim = server.user().await;
    let room = owner.new_room(5).await;
    victim.join(room).await.expect(201);
    // Two sessions, two sockets.
    let elsewhere = server.client();
    elsewhere
        .login(&victim.username, &victim.password)
        .await
        .expect(200);
    let mut first = victim.events(room, None).await;
    let mut second = elsewhere.events(room, None).await;
    let mut owners = owner.events(room, None).await;

    let disabled = roomcast(&url, &["user", "disable", &victim.username], "").await;
    let out = disabled.ok();
    assert!(out.contains(&victim.username), "{out}");

    // The server learns it from the database (revocation poll, 1 s).
    closes_within(&mut first, 4001, Duration::from_secs(5), "first session").await;
    closes_within(&mut second, 4001, Duration::from_secs(5), "second session").await;
    victim.me().await.expect_unauthenticated();
    elsewhere.me().await.expect_unauthenticated();
    server
        .client()
        .login(&victim.username, &victim.password)
        .await
        .expect_problem(401, "invalid-credentials");
    assert_eq!(victim.try_events(room, None).await.err(), Some(401));

    // Everyone else carries on.
    let message = owner.say(room, "still here").await;
    let next = owners.next_event().await;
    assert_eq!(next["data"], message, "owner's socket: {next}");

    let rows = json_lines(roomcast(&url, &["user", "list", "--json"], "").await.ok());
    assert_eq!(find(&rows, &victim.username)["disabled"], true);
    assert_eq!(find(&rows, &owner.username)["disabled"], false);
    let text = roomcast(&url, &["user", "list"], "").await;
    let line = text
        .ok()
        .lines()
        .find(|l| l.contains(&victim.username))
        .unwrap()
        .to_string();
    assert!(line.contains("disabled"), "{line}");

    let unknown = roomcast(&url, &["user", "disable", &unique_username("ghost")], "").await;
    let message = unknown.failed();
    assert!(message.contains("no user"), "{message}");
}

async fn bot_token_issues_a_new_token_and_kills_the_old_one(b: Backend) {
    let server = TestServer::start(b).await;
    let url = server.database_url().to_string();
    let owner = server.user().await;
    let room = owner.new_room(5).await;
    let old = Bot::create(&owner).await;
    old.join(room).await.expect(201);
    let mut socket = old.events(room, None).await;

    let issued = roomcast(&url, &["bot", "token", &old.username.to_uppercase()], "").await;
    let token = issued.ok().trim().to_string();
    assert_eq!(issued.stdout.lines().count(), 1, "{:?}", issued.stdout);
    assert_token_shape(&token);
    assert_ne!(token, old.token);

    // The server learns it from the database (revocation poll, 1 s), which also drops the old
    // token from its credential cache.
    closes_within(&mut socket, 4001, Duration::from_secs(5), "bot socket").await;
    old.me().await.expect_invalid_token();
    let bot = old.with_token(&token);
    assert_eq!(bot.me().await.expect(200), bot.me_json());
    bot.say(room, "new token").await;

    let unknown = roomcast(&url, &["bot", "token", &unique_username("nobot")], "").await;
    let message = unknown.failed();
    assert!(message.contains("no live bot"), "{message}");
    // A person is not a bot.
    roomcast(&url, &["bot", "token", &owner.username], "")
        .await
        .failed();
    // Nor is a deleted bot.
    owner.delete_bot(bot.id).await.expect(204);
    roomcast(&url, &["bot", "token", &bot.username], "")
        .await
        .failed();
    bot.me().await.expect_invalid_token();
}

async fn room_list_shows_every_room(b: Backend) {
    let server = TestServer::start(b).await;
    let url = server.database_url().to_string();
    let owner = server.user().await;
    let member = server.user().await;
    let busy = owner.create_room("busy room", 10).await.expect(201)["id"]
        .as_i64()
        .unwrap();
    let quiet = member.create_room("quiet room", 2).await.expect(201)["id"]
        .as_i64()
        .unwrap();
    member.join(busy).await.expect(201);
    member.say(busy, "one").await;
    member.say(busy, "two").await;

    let rows = json_lines(roomcast(&url, &["room", "list", "--json"], "").await.ok());
    let row = |id: i64| {
        rows.iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("room {id} not listed: {rows:?}"))
            .clone()
    };
    assert_eq!(
        row(busy),
        serde_json::json!({
            "id": busy, "name": "busy room", "owner": owner.username,
            "member_count": 2, "capacity": 10, "last_seq": 4,
        })
    );
    assert_eq!(
        row(quiet),
        serde_json::json!({
            "id": quiet, "name": "quiet room", "owner": member.username,
            "member_count": 1, "capacity": 2, "last_seq": 1,
        })
    );
    let text = roomcast(&url, &["room", "list"], "").await;
    let text = text.ok();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.contains("busy room") && text.contains("quiet room"),
        "{text}"
    );
}

async fn a_bad_database_url_or_command_fails_with_a_message(b: Backend) {
    let unreachable = match b {
        // A folder that cannot be created.
        Backend::Sqlite => "sqlite:///proc/roomcast-none/rc.db".to_string(),
        // Nothing listens on port 1.
        Backend::Postgres => "postgres://postgres@127.0.0.1:1/roomcast".to_string(),
    };
    for args in [
        &["user", "list"][..],
        &["migrate"],
        &["room", "list", "--json"],
        &["bot", "token", "somebot"],
    ] {
        let run = roomcast(&unreachable, args, "").await;
        let message = run.failed();
        assert!(message.starts_with("roomcast:"), "{message}");
        assert_eq!(run.stdout, "", "stdout of a failure");
    }

    let db = TestDb::create_via(b, None).await;
    roomcast(&db.url, &["user"], "").await.failed();
    roomcast(&db.url, &["frobnicate"], "").await.failed();
    roomcast(&db.url, &["user", "list", "--xml"], "")
        .await
        .failed();
}

/// The README: `database_url` is `sqlite://PATH` or `postgres://…`, and a bad
/// value stops the command with a clear line. Any other scheme must not be
/// taken for a SQLite path (which would create `mysql:/…` folders).
async fn an_unknown_database_scheme_is_refused(_: Backend) {
    for url in [
        "mysql://nobody@127.0.0.1/x",
        "postgress://postgres@127.0.0.1/x",
    ] {
        let run = roomcast(url, &["user", "list"], "").await;
        let message = run.failed();
        assert!(message.starts_with("roomcast:"), "{message}");
    }
}

/// The README's bot variables, exported in the shell that also runs the server and the CLI:
/// both start, and each says once which variables it ignores.
async fn the_bots_variables_stop_neither_the_server_nor_the_cli(b: Backend) {
    let bot_env = [
        ("ROOMCAST_TOKEN", "rcb_x"),
        ("ROOMCAST_ROOM", "1"),
        ("ROOMCAST_URL", "http://127.0.0.1:1"),
    ];
    let named = "ROOMCAST_ROOM, ROOMCAST_TOKEN, ROOMCAST_URL";
    let mut builder = TestServer::builder(b);
    for (key, value) in bot_env {
        builder = builder.env(key, value);
    }
    let server = builder.start().await;
    let user = server.user().await;
    // The warning is written before the server listens; its stderr is read by another task.
    let deadline = Instant::now() + Duration::from_secs(5);
    let warnings = loop {
        let log = server.log_tail(2000);
        let warnings: Vec<String> = log
            .lines()
            .filter(|l| l.contains("ROOMCAST_TOKEN"))
            .map(str::to_string)
            .collect();
        if !warnings.is_empty() || Instant::now() > deadline {
            break warnings;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(warnings.len(), 1, "one warning line: {warnings:?}");
    assert!(
        warnings[0].contains("WARN") && warnings[0].contains(named),
        "{warnings:?}"
    );

    let run = roomcast_with(server.database_url(), &["user", "list"], "", &bot_env).await;
    assert!(run.ok().contains(&user.username), "{}", run.stdout);
    let warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("ROOMCAST_TOKEN"))
        .collect();
    assert_eq!(warnings.len(), 1, "one warning line: {}", run.stderr);
    assert!(warnings[0].contains(named), "{}", run.stderr);

    // Without them, not a word.
    let quiet = roomcast(server.database_url(), &["user", "list"], "").await;
    quiet.ok();
    assert_eq!(quiet.stderr.trim(), "", "{}", quiet.stderr);
}

async fn room_show_and_delete_reach_the_running_server(b: Backend) {
    let server = TestServer::start(b).await;
    let url = server.database_url().to_string();
    let owner = server.user().await;
    let body = serde_json::json!({ "name": "hidden", "capacity": 4, "visibility": "private" });
    let room = crate::support::id(&owner.post("/api/rooms", &body).await.expect(201));
    owner.say(room, "hello").await;
    let mut socket = owner.events(room, None).await;
    let id = room.to_string();

    // An operator sees any room, private ones too.
    let shown = json_lines(
        roomcast(&url, &["room", "show", &id, "--json"], "")
            .await
            .ok(),
    );
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert_eq!(shown[0]["visibility"], "private");
    assert_eq!(shown[0]["kind"], "room");
    assert_eq!(shown[0]["members"], serde_json::json!([owner.username]));
    let text = roomcast(&url, &["room", "show", &id], "").await;
    assert!(text.ok().contains("hidden"), "{}", text.ok());

    let deleted = roomcast(&url, &["room", "delete", &id], "").await;
    assert!(deleted.ok().contains(&id), "{}", deleted.ok());
    // The running server finds it gone (its position check, 1 s).
    closes_within(
        &mut socket,
        4004,
        Duration::from_secs(5),
        "the room's socket",
    )
    .await;
    owner.room(room).await.expect_problem(404, "room-not-found");

    // Errors: one line, a non-zero exit.
    let again = roomcast(&url, &["room", "delete", &id], "").await;
    assert!(
        again.failed().contains("no such room"),
        "{}",
        again.failed()
    );
    assert_eq!(again.failed().lines().count(), 1, "{}", again.failed());
    let missing = roomcast(&url, &["room", "show", "999999"], "").await;
    assert!(
        missing.failed().contains("no such room"),
        "{}",
        missing.failed()
    );
}

async fn user_delete_keeps_messages_and_takes_everything_else(b: Backend) {
    let server = TestServer::start(b).await;
    let url = server.database_url().to_string();
    let _admin = server.user().await;
    let alice = server.user().await;
    let bob = server.user().await;
    let own = alice.new_room(5).await;
    let bobs = bob.new_room(5).await;
    alice.join(bobs).await.expect(201);
    let said = alice.say(bobs, "remember me").await;
    let dm = crate::support::id(
        &alice
            .post("/api/dms", &serde_json::json!({ "user_id": bob.id }))
            .await
            .expect(201),
    );
    let bot = Bot::create(&alice).await;
    let mut alices = alice.events(bobs, None).await;
    let mut bobs_socket = bob.events(bobs, None).await;
    let mut in_dm = bob.events(dm, None).await;

    let deleted = roomcast(&url, &["user", "delete", &alice.username], "").await;
    let out = deleted.ok();
    assert!(
        out.contains("2 rooms deleted, 1 left, 1 bots deleted"),
        "{out}"
    );

    // Her sockets close (revocation poll), bob hears her leave, the DM and her room go.
    closes_within(&mut alices, 4001, Duration::from_secs(5), "alice's socket").await;
    closes_within(&mut in_dm, 4004, Duration::from_secs(5), "the DM's socket").await;
    let left = timeout(Duration::from_secs(5), bobs_socket.next_event())
        .await
        .expect("member.left reaches the running server");
    assert_eq!(left["type"], "member.left", "{left}");
    assert_eq!(left["data"]["user"]["id"], alice.id, "{left}");
    alice.me().await.expect_unauthenticated();
    bob.room(own).await.expect_problem(404, "room-not-found");
    bob.room(dm).await.expect_problem(404, "room-not-found");
    let members = bob.members(bobs).await.expect(200);
    assert_eq!(members["members"].as_array().unwrap().len(), 1, "{members}");
    server
        .client()
        .with_bearer(&bot.token)
        .me()
        .await
        .expect_problem(401, "invalid-token");

    // Her messages stay, under the tombstone's name; her name is free again.
    let history = bob.history(bobs, "").await.expect(200);
    let kept = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == said["id"])
        .cloned()
        .unwrap_or_else(|| panic!("the message is gone: {history}"));
    assert_eq!(kept["content"], "remember me");
    assert_eq!(kept["author"]["username"], format!("deleted-{}", alice.id));
    server
        .client()
        .register(&alice.username, PASSWORD)
        .await
        .expect(201);

    let unknown = roomcast(&url, &["user", "delete", "nobody_here"], "").await;
    assert!(
        unknown.failed().contains("no user named"),
        "{}",
        unknown.failed()
    );
}
