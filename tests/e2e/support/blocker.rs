//! Holding the database's write lock from outside the server, so that a
//! send is certainly in flight (waiting inside the server) at a chosen
//! moment: the test's stand-in for a slow database.

use diesel::connection::SimpleConnection;
use diesel::{Connection, SqliteConnection};
use tokio::sync::oneshot;
use tokio_postgres::NoTls;

/// While this lives (until `release`), the server's sends wait: on SQLite
/// the whole database is write-locked (`BEGIN IMMEDIATE`); on PostgreSQL the
/// `rooms` table is (every send bumps its room's `last_seq` there).
pub struct WriteBlock {
    release: Option<oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<Result<(), String>>>,
}

impl WriteBlock {
    /// Takes the lock on the database at `url` (as the server is given it).
    pub async fn take(url: &str) -> WriteBlock {
        let (release, released) = oneshot::channel();
        let (locked, is_locked) = oneshot::channel();
        let done = if let Some(path) = url.strip_prefix("sqlite://") {
            let path = path.to_string();
            tokio::task::spawn_blocking(move || {
                let mut conn = SqliteConnection::establish(&path).map_err(|e| e.to_string())?;
                conn.batch_execute("PRAGMA busy_timeout = 10000; BEGIN IMMEDIATE")
                    .map_err(|e| e.to_string())?;
                let _ = locked.send(());
                let _ = released.blocking_recv();
                conn.batch_execute("ROLLBACK").map_err(|e| e.to_string())
            })
        } else {
            let url = url.to_string();
            tokio::spawn(async move {
                let (client, connection) = tokio_postgres::connect(&url, NoTls)
                    .await
                    .map_err(|e| e.to_string())?;
                tokio::spawn(connection);
                client
                    .batch_execute("BEGIN; LOCK TABLE rooms IN EXCLUSIVE MODE")
                    .await
                    .map_err(|e| e.to_string())?;
                let _ = locked.send(());
                let _ = released.await;
                client
                    .batch_execute("ROLLBACK")
                    .await
                    .map_err(|e| e.to_string())
            })
        };
        let mut block = WriteBlock {
            release: Some(release),
            done: Some(done),
        };
        if is_locked.await.is_err() {
            let why = block.done.take().unwrap().await;
            panic!("could not write-lock the test database {url}: {why:?}");
        }
        block
    }

    /// Lets the waiting writes proceed.
    pub async fn release(mut self) {
        let _ = self.release.take().unwrap().send(());
        match self.done.take().unwrap().await {
            Ok(Ok(())) => {}
            other => panic!("releasing the database write lock failed: {other:?}"),
        }
    }
}

impl Drop for WriteBlock {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            let _ = release.send(());
        }
    }
}
