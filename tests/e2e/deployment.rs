//! Many instances of one deployment: any number of them start at once on one fresh
//! PostgreSQL database (migrations run under an advisory lock), and then serve it together.
//! PostgreSQL only: SQLite is one process.

use std::sync::Arc;

use futures_util::future::join_all;

use crate::support::{id, unique_username, Backend, TestDb, TestServer, PASSWORD};

/// Without the lock, two of three instances started together on a fresh database both ran
/// the migrations, and the second died on `duplicate key value violates unique constraint
/// "pg_type_typname_nsp_index"`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_started_at_once_on_a_fresh_database_all_serve() {
    let db = Arc::new(TestDb::create_via(Backend::Postgres, None).await);
    let servers: Vec<TestServer> = join_all((0..3).map(|_| {
        TestServer::builder(Backend::Postgres)
            .shared_db(db.clone())
            .start()
    }))
    .await;

    // One database: an account made on one instance logs in on every other, and a room
    // created on the second is seen from the third.
    let name = unique_username("together");
    let account = servers[0]
        .client()
        .register(&name, PASSWORD)
        .await
        .expect(201);
    for server in &servers {
        let me = server.client().login(&name, PASSWORD).await.expect(200);
        assert_eq!(id(&me), id(&account));
    }
    let second = servers[1].client();
    second.login(&name, PASSWORD).await.expect(200);
    let room = id(&second.create_room("shared", 5).await.expect(201));
    let third = servers[2].client();
    third.login(&name, PASSWORD).await.expect(200);
    assert_eq!(third.room(room).await.expect(200)["name"], "shared");
}
