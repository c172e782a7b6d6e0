//! Delivery under stress: the database going away, the server being killed
//! in the middle of a load, and a graceful shutdown.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::{sleep, timeout, Instant};

use crate::support::{
    kind, send_until_acked, seq, Acked, Backend, Client, DbProxy, EventSocket, Incoming, Resp,
    RetryPolicy, TestServer,
};

backend_tests!(
    a_killed_server_keeps_every_acknowledged_message,
    sigterm_finishes_in_flight_sends_closes_sockets_with_1001_and_exits_0,
);

/// The database outage can only be staged on PostgreSQL: the server reaches it
/// over TCP, through a proxy the test can cut. SQLite is a file inside the
/// server's own process; it cannot be "down" while the server runs.
mod postgres_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_database_outage_answers_503_and_the_server_recovers() {
        super::a_database_outage_answers_503_and_the_server_recovers().await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_hung_database_answers_503_within_the_pool_timeout() {
        super::a_hung_database_answers_503_within_the_pool_timeout().await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn healthz_does_not_need_the_database_even_with_a_session_cookie() {
        super::healthz_does_not_need_the_database_even_with_a_session_cookie().await
    }
}

/// SQLite's write lock, held by another process, is the one outage SQLite can have: the
/// server's writes wait `sqlite_busy_timeout_ms`, then give up.
mod sqlite_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_login_whose_session_cannot_be_stored_answers_503() {
        super::a_login_whose_session_cannot_be_stored_answers_503().await
    }
}

/// The pool timeout the fault tests give the server: a request that needs
/// the database must give up on it after about this long.
const POOL_TIMEOUT_MS: &str = "1000";
/// "Promptly", generously: far above the pool timeout, far below a hang.
const PROMPT: Duration = Duration::from_secs(15);

async fn last_seq(client: &Client, room: i64) -> i64 {
    client.room(room).await.expect(200)["last_seq"]
        .as_i64()
        .unwrap()
}

/// Sends a request while the database is down: it must be answered (not
/// hang) within `PROMPT`, with 503 `database-unavailable` and `Retry-After`.
async fn expect_unavailable(client: &Client, what: &str, request: reqwest::RequestBuilder) {
    let started = Instant::now();
    let response = match timeout(PROMPT, client.try_send(request.timeout(PROMPT))).await {
        Err(_) => panic!("{what}: no answer within {PROMPT:?} while the database is down"),
        Ok(Err(e)) => panic!("{what}: no HTTP answer while the database is down: {e}"),
        Ok(Ok(response)) => response,
    };
    assert_unavailable(&response, what);
    eprintln!("{what}: 503 after {:?}", started.elapsed());
}

#[track_caller]
fn assert_unavailable(response: &Resp, what: &str) {
    assert_eq!(
        response.status, 503,
        "{what} while the database is down: HTTP {} {}",
        response.status, response.text
    );
    response.expect_problem(503, "database-unavailable");
    let retry_after = response
        .header("retry-after")
        .unwrap_or_else(|| panic!("{what}: a 503 without Retry-After: {:?}", response.headers));
    assert!(
        retry_after.trim().parse::<u64>().is_ok() || retry_after.ends_with("GMT"),
        "{what}: Retry-After {retry_after:?} is neither seconds nor an HTTP date"
    );
}

async fn a_database_outage_answers_503_and_the_server_recovers() {
    let proxy = DbProxy::to_postgres().await;
    let server = TestServer::builder(Backend::Postgres)
        .database_port(proxy.port())
        .env("ROOMCAST_DB_POOL_TIMEOUT_MS", POOL_TIMEOUT_MS)
        .start()
        .await;
    let owner = server.user().await;
    let member = server.user().await;
    let room = owner.new_room(5).await;
    member.join(room).await.expect(201);
    let before = member.say(room, "before the outage").await;
    owner.readyz().await.expect(200);
    let mut socket = owner.events(room, Some(0)).await;
    let seen = socket.next_events(3).await;
    assert_eq!(seen[2]["data"], before);
    let last_seen = 3;

    proxy.down().await;

    let path = format!("/api/rooms/{room}/messages");
    for attempt in 1..=3 {
        let send = member.message_request(room, "during the outage", Some("outage-key"));
        expect_unavailable(&member, &format!("send attempt {attempt}"), send).await;
    }
    let history = member.request(Method::GET, &path);
    expect_unavailable(&member, "history", history).await;
    // The log says why and which line met the failure (the body says neither).
    let log = server.log_tail(500);
    assert!(
        log.lines().any(|l| l.contains("request failed")
            && l.contains("database-unavailable")
            && l.contains("src/")),
        "no cause and call site logged for a 503:\n{log}"
    );
    let show = owner.request(Method::GET, &format!("/api/rooms/{room}"));
    expect_unavailable(&owner, "GET room", show).await;
    let ready = match timeout(
        PROMPT,
        owner.try_send(owner.request(Method::GET, "/readyz")),
    )
    .await
    {
        Ok(Ok(response)) => response,
        other => panic!("/readyz while the database is down: {other:?}"),
    };
    assert_eq!(ready.status, 503, "/readyz while down: {}", ready.text);
    // Liveness is about the process, which is fine (a probe has no cookie).
    server.client().healthz().await.expect(200);

    // The open socket stays open, or closes with a code that says "resume".
    let mut socket = match socket.next_within(Duration::from_secs(2)).await {
        None => {
            eprintln!("outage: the open socket stayed open");
            Some(socket)
        }
        Some(Incoming::Closed(closed)) if matches!(closed.code, Some(1001 | 4008)) => {
            eprintln!("outage: the open socket closed with {:?}", closed.code);
            None
        }
        Some(other) => panic!(
            "during the outage the socket got {other:?}; \
             it should stay open or close with 1001/4008"
        ),
    };

    proxy.up().await;

    wait_until_ready(&owner).await;

    // The send that was refused during the outage, retried with its key, and
    // a few more: all stored now, each once.
    let policy = RetryPolicy {
        give_up_after: Duration::from_secs(30),
        ..RetryPolicy::default()
    };
    let mut after_outage = Vec::new();
    for (content, key) in [
        ("during the outage", "outage-key"),
        ("after 1", "after-1"),
        ("after 2", "after-2"),
        ("after 3", "after-3"),
    ] {
        let acked = send_until_acked(&member, room, content, key, policy)
            .await
            .unwrap_or_else(|e| panic!("{content:?} after the database came back: {e:?}"));
        assert!(
            acked.failures.iter().all(|f| f == "503"),
            "{content:?} after recovery met other failures than 503: {:?}",
            acked.failures
        );
        if !acked.failures.is_empty() {
            eprintln!("{content:?}: {} × 503 after recovery", acked.failures.len());
        }
        after_outage.push(acked.message);
    }
    let seqs: Vec<i64> = after_outage.iter().map(seq).collect();
    assert_eq!(seqs, vec![4, 5, 6, 7], "{after_outage:?}");
    let mut expected = vec![before.clone()];
    expected.extend(after_outage.iter().cloned());
    assert_eq!(member.all_messages(room).await, expected);

    // The socket that stayed open carries on live; one that was closed
    // resumes. Either way it gets exactly what was committed since.
    let mut live = match socket.take() {
        Some(socket) => socket,
        None => owner.events(room, Some(last_seen)).await,
    };
    let mut resumed = owner.events(room, Some(last_seen)).await;
    for (name, socket) in [("live", &mut live), ("resumed", &mut resumed)] {
        let events = socket.next_events(after_outage.len()).await;
        let data: Vec<Value> = events.iter().map(|e| e["data"].clone()).collect();
        assert_eq!(data, after_outage, "{name} socket after the outage");
    }
    let sentinel = owner.say(room, "sentinel").await;
    for (name, socket) in [("live", &mut live), ("resumed", &mut resumed)] {
        assert_eq!(
            socket.next_event().await["data"],
            sentinel,
            "{name} socket: something between the outage's messages and the sentinel"
        );
    }
}

/// The session is stored by actix-session's middleware after the handler, which turns every
/// store error into an opaque 500. When the store said "unavailable" the answer is a 503 all
/// the same (reads still work here, so asking the database afterwards would say it is fine).
async fn a_login_whose_session_cannot_be_stored_answers_503() {
    let server = TestServer::builder(Backend::Sqlite)
        .env("ROOMCAST_SQLITE_BUSY_TIMEOUT_MS", "200")
        .start()
        .await;
    let user = server.user().await;
    let browser = server.client();
    let block = server.block_writes().await;
    let started = Instant::now();
    let refused = browser.login(&user.username, &user.password).await;
    block.release().await;
    assert!(
        started.elapsed() < PROMPT,
        "login took {:?}",
        started.elapsed()
    );
    assert_unavailable(&refused, "login (sessions write-locked)");
    browser.me().await.expect_problem(401, "unauthenticated");
    browser
        .login(&user.username, &user.password)
        .await
        .expect(200);
    browser.me().await.expect(200);
}

/// The server finds its database again by itself: `/readyz` turns 200 (and
/// says 503, never anything else, until then).
async fn wait_until_ready(client: &Client) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let request = client
            .request(Method::GET, "/readyz")
            .timeout(Duration::from_secs(5));
        match client.try_send(request).await {
            Ok(response) if response.status == 200 => return,
            Ok(response) => assert_eq!(response.status, 503, "/readyz: {}", response.text),
            Err(_) => {}
        }
        assert!(
            Instant::now() < deadline,
            "/readyz still not 200 30 s after the database came back"
        );
        sleep(Duration::from_millis(200)).await;
    }
}

/// A database host that accepts connections and never answers (a hung
/// server, a half-dead network): only the pool's timeouts protect requests,
/// and they must still get their 503 promptly rather than hang.
async fn a_hung_database_answers_503_within_the_pool_timeout() {
    let proxy = DbProxy::to_postgres().await;
    let server = TestServer::builder(Backend::Postgres)
        .database_port(proxy.port())
        .env("ROOMCAST_DB_POOL_TIMEOUT_MS", POOL_TIMEOUT_MS)
        .start()
        .await;
    let user = server.user().await;
    let room = user.new_room(5).await;
    let before = user.say(room, "before the hang").await;

    proxy.hang().await;

    for attempt in 1..=3 {
        let send = user.message_request(room, "during the hang", Some("hang-key"));
        expect_unavailable(&user, &format!("send attempt {attempt} (hung)"), send).await;
    }
    let ready = timeout(PROMPT, user.try_send(user.request(Method::GET, "/readyz"))).await;
    match ready {
        Ok(Ok(response)) => assert_eq!(response.status, 503, "/readyz: {}", response.text),
        other => panic!("/readyz while the database hangs: {other:?}"),
    }

    proxy.up().await;
    wait_until_ready(&user).await;
    let policy = RetryPolicy {
        give_up_after: Duration::from_secs(30),
        ..RetryPolicy::default()
    };
    let acked = send_until_acked(&user, room, "during the hang", "hang-key", policy)
        .await
        .unwrap_or_else(|e| panic!("sending after the hang: {e:?}"));
    assert!(
        acked.failures.iter().all(|f| f == "503"),
        "after recovery: {:?}",
        acked.failures
    );
    assert_eq!(user.all_messages(room).await, vec![before, acked.message]);
}

/// `/healthz` means "the process is up" (README): it needs no session and no
/// database, so the cookie a logged-in browser or tool sends along must not
/// turn it into a database request.
async fn healthz_does_not_need_the_database_even_with_a_session_cookie() {
    let proxy = DbProxy::to_postgres().await;
    let server = TestServer::builder(Backend::Postgres)
        .database_port(proxy.port())
        .env("ROOMCAST_DB_POOL_TIMEOUT_MS", POOL_TIMEOUT_MS)
        .start()
        .await;
    let user = server.user().await;
    user.healthz().await.expect(200);

    proxy.down().await;

    server.client().healthz().await.expect(200);
    let response = user.healthz().await;
    assert_eq!(
        response.status, 200,
        "/healthz with a session cookie while the database is down: HTTP {} {}",
        response.status, response.text
    );
}

const SENDERS: usize = 4;
const PER_SENDER: usize = 30;

async fn a_killed_server_keeps_every_acknowledged_message(b: Backend) {
    let mut server = TestServer::builder(b)
        .env("ROOMCAST_DB_POOL_TIMEOUT_MS", POOL_TIMEOUT_MS)
        .start()
        .await;
    let owner = server.user().await;
    let senders = server.users(SENDERS).await;
    let room = owner.new_room(10).await;
    for user in &senders {
        user.join(room).await.expect(201);
    }
    let joins = 1 + i64::try_from(SENDERS).unwrap();

    // A receiver following the room until the kill cuts it off.
    let socket = owner.events(room, Some(0)).await;
    let receiver = tokio::spawn(follow_until_closed(socket));

    let acked_so_far = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for (i, user) in senders.iter().enumerate() {
        let (client, acked_so_far) = (user.client.clone(), acked_so_far.clone());
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for n in 0..PER_SENDER {
                let content = format!("sender {i} message {n}");
                let key = format!("kill-{i}-{n}");
                match send_until_acked(&client, room, &content, &key, RetryPolicy::default()).await
                {
                    Ok(ack) => acked.push((content, ack)),
                    Err(e) => return Err(format!("{content:?}: {e:?}")),
                }
                acked_so_far.fetch_add(1, Ordering::SeqCst);
            }
            Ok::<Vec<(String, Acked)>, String>(acked)
        }));
    }

    // Kill once a third of the messages are acknowledged.
    let total = SENDERS * PER_SENDER;
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked_so_far.load(Ordering::SeqCst) < total / 3 {
        assert!(Instant::now() < deadline, "the senders made no progress");
        sleep(Duration::from_millis(5)).await;
    }
    server.kill().await;
    let acked_at_kill = acked_so_far.load(Ordering::SeqCst);
    assert!(acked_at_kill < total, "every send was done before the kill");
    let seen_before_kill = timeout(Duration::from_secs(30), receiver)
        .await
        .expect("the receiver's socket outlived the server by 30 s")
        .unwrap();
    sleep(Duration::from_millis(200)).await;
    server.start_again().await;

    let mut acked: Vec<(String, Acked)> = Vec::new();
    for task in tasks {
        acked.extend(
            task.await
                .unwrap()
                .unwrap_or_else(|e| panic!("a send failed: {e}")),
        );
    }
    let retried = acked.iter().filter(|(_, a)| a.attempts > 1).count();
    let replayed = acked.iter().filter(|(_, a)| a.replayed).count();
    eprintln!(
        "{b:?}: killed after {acked_at_kill}/{total} acks; {retried} sends retried, \
         {replayed} acknowledged as replays"
    );

    // The store holds exactly the sent messages, each once, each as acked.
    let last = last_seq(&owner, room).await;
    let history = owner.all_messages(room).await;
    let mut by_content: BTreeMap<String, Value> = BTreeMap::new();
    for message in &history {
        let content = message["content"].as_str().unwrap().to_string();
        if let Some(earlier) = by_content.insert(content.clone(), message.clone()) {
            panic!("stored twice: {earlier} and {message}");
        }
    }
    let sent: BTreeSet<String> = acked.iter().map(|(c, _)| c.clone()).collect();
    let stored: BTreeSet<String> = by_content.keys().cloned().collect();
    assert_eq!(
        stored.difference(&sent).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "stored but never sent"
    );
    for (content, ack) in &acked {
        assert_eq!(
            by_content.get(content),
            Some(&ack.message),
            "acknowledged {content:?} is not in history as acknowledged"
        );
    }
    assert_eq!(history.len(), total);
    assert_eq!(
        last,
        joins + i64::try_from(total).unwrap(),
        "seqs taken besides the messages"
    );

    // The log is gapless; what the receiver saw before the kill is its
    // beginning, and resuming after it yields exactly the rest.
    let log = owner.event_log(room, last).await;
    for (i, event) in log.iter().enumerate() {
        assert_eq!(seq(event), i64::try_from(i).unwrap() + 1, "{event}");
    }
    let k = seen_before_kill.len();
    assert_eq!(
        seen_before_kill,
        log[..k],
        "what the receiver saw before the kill"
    );
    let mut resumed = owner.events(room, Some(i64::try_from(k).unwrap())).await;
    let rest = resumed.next_events(log.len() - k).await;
    assert_eq!(rest, log[k..], "resumed with after={k}");
    let sentinel = owner.say(room, "sentinel").await;
    assert_eq!(
        resumed.next_event().await["data"],
        sentinel,
        "after the resumed events"
    );
}

/// Reads events until the socket ends, however it ends.
async fn follow_until_closed(mut socket: EventSocket) -> Vec<Value> {
    let mut events = Vec::new();
    loop {
        match socket.next_within(Duration::from_secs(30)).await {
            Some(Incoming::Event(event)) => events.push(event),
            Some(Incoming::Closed(_)) | None => return events,
        }
    }
}

const GRACE_SECS: u64 = 10;
const IN_FLIGHT: usize = 5;

async fn sigterm_finishes_in_flight_sends_closes_sockets_with_1001_and_exits_0(b: Backend) {
    let mut server = TestServer::builder(b)
        .env("ROOMCAST_SHUTDOWN_GRACE_SECS", &GRACE_SECS.to_string())
        // The test plays a slow database (it holds the write lock for a few
        // seconds); the server must wait for it rather than give up.
        .env("ROOMCAST_SQLITE_BUSY_TIMEOUT_MS", "20000")
        .env("ROOMCAST_DB_POOL_TIMEOUT_MS", "20000")
        .start()
        .await;
    let owner = server.user().await;
    let room = owner.new_room(5).await;
    let mut socket = owner.events(room, Some(0)).await;
    assert_eq!(kind(&socket.next_event().await), "member.joined");

    // Sends that are certainly in flight when SIGTERM arrives: the test holds
    // the database's write lock, so they wait inside the server.
    let block = server.block_writes().await;
    let (done, mut finished) = mpsc::unbounded_channel();
    for n in 0..IN_FLIGHT {
        let (client, done) = (owner.client.clone(), done.clone());
        tokio::spawn(async move {
            let request = client
                .message_request(
                    room,
                    &format!("in flight {n}"),
                    Some(&format!("flight-{n}")),
                )
                .timeout(Duration::from_secs(GRACE_SECS + 10));
            let response = client.try_send(request).await;
            done.send((n, response)).unwrap();
        });
    }
    drop(done);
    // Time for the requests to reach the server and block there; none can
    // finish while the lock is held.
    sleep(Duration::from_secs(1)).await;
    assert!(
        finished.try_recv().is_err(),
        "a send finished while the database was write-locked"
    );

    server.terminate();
    let signalled = Instant::now();

    // The socket is told the server is going away.
    let before_close = timeout(Duration::from_secs(GRACE_SECS), socket.expect_close(1001))
        .await
        .expect("no close frame within the grace period after SIGTERM");
    // New connections are no longer served.
    let fresh = Client::new(Arc::new(std::sync::RwLock::new(server.url())));
    let late = fresh
        .try_send(
            fresh
                .request(Method::GET, "/healthz")
                .timeout(Duration::from_secs(2)),
        )
        .await;
    assert!(
        late.as_ref().map(|r| r.status != 200).unwrap_or(true),
        "a new request was served after SIGTERM: {late:?}"
    );

    block.release().await;

    let mut answered = BTreeMap::new();
    while let Some((n, response)) = finished.recv().await {
        let response = response.unwrap_or_else(|e| panic!("in-flight send {n} got no answer: {e}"));
        answered.insert(n, response.expect(201));
    }
    assert_eq!(answered.len(), IN_FLIGHT);

    let (status, _) = server.wait_exit(Duration::from_secs(GRACE_SECS + 10)).await;
    let took = signalled.elapsed();
    assert!(
        status.success(),
        "exit status after SIGTERM: {status} (want 0)"
    );
    // Two seconds of slack for process teardown and this machine's scheduling.
    assert!(
        took <= Duration::from_secs(GRACE_SECS + 2),
        "took {took:?} to exit after SIGTERM; the grace period is {GRACE_SECS} s"
    );
    for event in &before_close {
        assert_eq!(kind(event), "message.created", "{event}");
    }

    // Everything that was answered 201 is stored.
    server.start_again().await;
    let history = owner.all_messages(room).await;
    let expected: Vec<Value> = {
        let mut v: Vec<Value> = answered.values().cloned().collect();
        v.sort_by_key(seq);
        v
    };
    assert_eq!(history, expected, "history after the restart");
    let last_seen = before_close.last().map(seq).unwrap_or(1);
    let mut resumed = owner.events(room, Some(last_seen)).await;
    let rest = resumed
        .next_events(expected.len() - before_close.len())
        .await;
    let data: Vec<Value> = before_close
        .iter()
        .chain(rest.iter())
        .map(|e| e["data"].clone())
        .collect();
    assert_eq!(
        data, expected,
        "events before the close plus the resumed ones"
    );
}
