//! `roomcast backup PATH`: a copy of a SQLite database made while the server serves (and
//! writes), which a new server then runs on with every account, room and message; on
//! PostgreSQL a clear refusal naming pg_dump.

use std::sync::Arc;

use crate::cli::roomcast_with;
use crate::support::{Backend, TestDb, TestServer, PASSWORD};

backend_tests!(a_backup_restores_to_a_working_server);

async fn a_backup_restores_to_a_working_server(b: Backend) {
    let server = TestServer::start(b).await;
    let url = server.database_url().to_string();
    let alice = server.user().await;
    let room = alice.new_room(5).await;
    for i in 0..20 {
        alice.say(room, &format!("message {i}")).await;
    }

    if b == Backend::Postgres {
        let refused = roomcast_with(&url, &["backup", "/tmp/never-written.db"], "", &[]).await;
        assert!(refused.failed().contains("pg_dump"), "{}", refused.failed());
        return;
    }

    // The restored database lives where a fresh test database would.
    let restored = TestDb::create_via(Backend::Sqlite, None).await;
    let path = restored.url.strip_prefix("sqlite://").unwrap().to_string();
    // Sends go on while the copy is made: the copy is a consistent snapshot of some moment.
    let sending = async {
        for i in 20..40 {
            alice.say(room, &format!("message {i}")).await;
        }
    };
    let args = ["backup", path.as_str()];
    let (run, ()) = tokio::join!(roomcast_with(&url, &args, "", &[]), sending);
    assert!(run.ok().contains(&path), "{}", run.ok());
    // Never over an existing file.
    let again = roomcast_with(&url, &["backup", &path], "", &[]).await;
    assert!(again.failed().contains("exists"), "{}", again.failed());

    let copy = TestServer::builder(Backend::Sqlite)
        .shared_db(Arc::new(restored))
        .start()
        .await;
    let client = copy.client();
    client.login(&alice.username, PASSWORD).await.expect(200);
    let messages = client.all_messages(room).await;
    assert!(messages.len() >= 20, "{} messages", messages.len());
    let contents: Vec<&str> = messages
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    // A prefix of what was sent, in order, with no gap.
    for (i, c) in contents.iter().enumerate() {
        assert_eq!(*c, format!("message {i}"), "{contents:?}");
    }
    // The restored server takes writes.
    client
        .send_message(room, "after the restore")
        .await
        .expect(201);
    assert_eq!(client.me().await.expect(200)["admin"], true);
}
