//! Persistence. Every query is written once: `with_conn!` expands the same diesel block for the
//! SQLite and the PostgreSQL connection type, so both backends are type-checked from one copy.

pub mod accounts;
pub mod bots;
pub mod dms;
pub mod events;
pub mod group_commit;
pub mod invites;
pub mod membership;
pub mod message_changes;
pub mod reactions;
pub mod reads;
pub mod rooms;
pub mod schema;
pub mod secrets;
pub mod sessions;
/// A fresh SQLite file or PostgreSQL database per test: the e2e suite's own, shared.
#[cfg(test)]
#[path = "../../tests/e2e/support/backend.rs"]
#[allow(dead_code)]
pub(crate) mod test_db;
pub mod value_rows;

use std::time::Duration;

use deadpool::managed::{PoolError, Timeouts};
use deadpool::Runtime;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::SqliteConnection;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{
    AsyncConnection, AsyncMigrationHarness, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection,
};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use futures_util::FutureExt;

use crate::config::Config;

pub type SqliteConn = SyncConnectionWrapper<SqliteConnection>;
pub type PgConn = AsyncPgConnection;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
/// The PostgreSQL advisory lock key that migrations run under ("roomcast" in ASCII): any
/// constant works, as long as nothing else on the database uses it.
const MIGRATION_LOCK: i64 = 0x726f_6f6d_6361_7374;

/// The database handle. Cloning is cheap (the pools and the runtime handle are shared).
#[derive(Clone)]
pub struct Db {
    pools: Pools,
    /// The process's multi-thread runtime: every database call runs as a task there (see
    /// `Db::run`), never inside a request's own future.
    runtime: tokio::runtime::Handle,
}

#[derive(Clone)]
pub(crate) enum Pools {
    /// SQLite allows one writer at a time: a single write connection avoids lock waits, while
    /// readers use their own pool (WAL lets them run beside the writer).
    Sqlite {
        writer: Pool<SqliteConn>,
        readers: Pool<SqliteConn>,
    },
    Postgres(Pool<PgConn>),
}

/// Runs `$body` as a task on the multi-thread runtime with `$conn` bound to `&mut` a pooled
/// connection, expanded once per backend; `writer` or `reader` picks the SQLite pool
/// (PostgreSQL has one pool for both). The body is moved into the task, so it owns what it
/// uses: callers turn borrowed arguments into owned values first.
///
/// The expansion is a `Result<T, StoreError>`, and `$body` must be one too. It returns
/// early: when no connection can be had (pool timeout, database down), `on_conn!` inside the
/// task returns `Err(StoreError::Unavailable)` and `$body` never runs. Likewise `?` in
/// `$body` leaves the task, not the calling function.
macro_rules! with_conn {
    ($db:expr, $pool:ident, |$conn:ident| $body:expr) => {{
        let db: &$crate::store::Db = $db;
        let task_db = db.clone();
        db.run(async move { $crate::store::on_conn!(&task_db, $pool, |$conn| $body) })
            .await
    }};
}
pub(crate) use with_conn;

/// Like `with_conn!`, but runs `$body` right here. Only for code that already runs in a task
/// nobody cancels (the group-commit writer); a request must use `with_conn!`.
///
/// Returns early: on a pool error it does `return Err(StoreError::Unavailable(..))` from the
/// enclosing function (or async block), before `$body` runs.
macro_rules! on_conn {
    ($db:expr, $pool:ident, |$conn:ident| $body:expr) => {
        match $db.pools() {
            $crate::store::Pools::Sqlite { $pool, .. } => {
                let waited = std::time::Instant::now();
                let mut pooled = $pool
                    .get()
                    .await
                    .map_err($crate::store::StoreError::from_pool)?;
                $crate::store::record_pool_wait(waited);
                let $conn: &mut $crate::store::SqliteConn = &mut pooled;
                $body
            }
            $crate::store::Pools::Postgres(pool) => {
                let waited = std::time::Instant::now();
                let mut pooled = pool
                    .get()
                    .await
                    .map_err($crate::store::StoreError::from_pool)?;
                $crate::store::record_pool_wait(waited);
                let $conn: &mut $crate::store::PgConn = &mut pooled;
                $body
            }
        }
    };
}
pub(crate) use on_conn;

/// Why a store call did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached (pool timeout, refused or broken connection).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A rule enforced by the statement itself said no; the transaction was rolled back.
    #[error("rejected: {0:?}")]
    Rejected(Rejection),
    #[error("database error: {0}")]
    Query(DieselError),
    /// The task running the call died (a panic in it): a bug, not the caller's fault.
    #[error("database task failed: {0}")]
    Task(String),
    /// A writer's queue of waiting sends is full: refused at once, nothing stored.
    #[error("the writer's queue is full")]
    Overloaded,
}

/// Outcomes decided atomically inside a transaction (a conditional update found no row, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    RoomNotFound,
    RoomFull,
    NotAMember,
    NotOwner,
    OwnerCannotLeave,
    UsernameTaken,
    IdempotencyKeyReused,
    BotNotFound,
    UserNotFound,
    /// No invite with this code that has a use left and has not expired.
    InviteInvalid,
    InviteNotFound,
    /// No `message.created` event with that id in that room.
    MessageNotFound,
    /// Only the author may edit (and, besides the room's owner, delete) a message.
    NotAuthor,
    /// An edit of (or a reaction to) a message that was deleted.
    MessageDeleted,
    /// The user is banned from the room.
    Banned,
    /// The room's owner cannot be banned from it.
    OwnerCannotBeBanned,
    /// A new emoji on a message that has `MAX_DISTINCT` of them.
    TooManyReactions,
    /// The database refused a message's content (found when a batch is retried one by one).
    ContentRefused,
    /// A DM's members are fixed: nobody joins, leaves, is invited, added, removed or banned.
    DirectMessage,
}

impl From<DieselError> for StoreError {
    fn from(e: DieselError) -> Self {
        match &e {
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                info,
            ) => StoreError::Unavailable(info.message().to_string()),
            // A server going down says so before it drops the connection (SQLSTATE 57P01..3);
            // SQLite's lock wait running out is load, not a bug. Both are worth a retry.
            DieselError::DatabaseError(DatabaseErrorKind::Unknown, info)
                if is_transient(info.message()) =>
            {
                StoreError::Unavailable(info.message().to_string())
            }
            DieselError::BrokenTransactionManager => {
                StoreError::Unavailable("connection lost inside a transaction".into())
            }
            _ => StoreError::Query(e),
        }
    }
}

fn is_transient(message: &str) -> bool {
    const TRANSIENT: [&str; 4] = [
        "terminating connection",
        "the database system is shutting down",
        "database is locked",
        "connection closed",
    ];
    TRANSIENT.iter().any(|t| message.contains(t))
}

impl From<Rejection> for StoreError {
    fn from(r: Rejection) -> Self {
        StoreError::Rejected(r)
    }
}

impl StoreError {
    /// The same failure for every request of a failed batch (diesel errors do not clone).
    pub fn replicate(&self) -> StoreError {
        match self {
            StoreError::Unavailable(s) => StoreError::Unavailable(s.clone()),
            StoreError::Rejected(r) => StoreError::Rejected(*r),
            StoreError::Query(e) => {
                StoreError::Query(DieselError::QueryBuilderError(e.to_string().into()))
            }
            StoreError::Task(s) => StoreError::Task(s.clone()),
            StoreError::Overloaded => StoreError::Overloaded,
        }
    }

    pub(crate) fn from_pool<E: std::fmt::Display>(e: PoolError<E>) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

/// The unique index on `users.username` refused a name (people and bots share it).
pub(crate) fn name_taken(e: DieselError) -> StoreError {
    match e {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            Rejection::UsernameTaken.into()
        }
        e => StoreError::from(e),
    }
}

/// How long a request waited for a pooled connection.
pub fn record_pool_wait(since: std::time::Instant) {
    metrics::histogram!("roomcast_db_pool_wait_seconds").record(since.elapsed().as_secs_f64());
}

/// Milliseconds since the Unix epoch; the one clock for every stored time.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Db {
    /// Opens the pools for `config.database_url` and runs pending migrations. Must be called
    /// on the multi-thread runtime, which then runs every database call.
    pub async fn connect(config: &Config) -> Result<Db, String> {
        let runtime = tokio::runtime::Handle::current();
        if runtime.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
            return Err("the store needs tokio's multi-thread runtime".into());
        }
        let url = config.database_url.as_str();
        let timeout = Duration::from_millis(config.db_pool_timeout_ms);
        let timeouts = Timeouts {
            wait: Some(timeout),
            create: Some(timeout),
            recycle: Some(timeout),
        };
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let mut mc = ManagerConfig::default();
            mc.recycling_method = RecyclingMethod::Fast;
            let manager = AsyncDieselConnectionManager::<PgConn>::new_with_config(url, mc);
            let pool = Pool::builder(manager)
                .max_size(config.db_pool_size)
                .timeouts(timeouts)
                .runtime(Runtime::Tokio1)
                .build()
                .map_err(|e| format!("cannot build the PostgreSQL pool: {e}"))?;
            let db = Db {
                pools: Pools::Postgres(pool),
                runtime,
            };
            db.migrate().await?;
            Ok(db)
        } else {
            // Only sqlite:// or a plain path; a typo like postgress:// must not become a file.
            let path = match url.strip_prefix("sqlite://") {
                Some(path) => path.to_string(),
                None if !url.contains("://") => url.to_string(),
                None => {
                    return Err(format!(
                        "invalid configuration: database_url must start with sqlite:// or \
                         postgres:// (got {url})"
                    ))
                }
            };
            if let Some(dir) = std::path::Path::new(&path).parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                }
            }
            let busy = config.sqlite_busy_timeout_ms;
            let build = |size: usize| {
                let mut mc = ManagerConfig::<SqliteConn>::default();
                mc.recycling_method = RecyclingMethod::Fast;
                mc.custom_setup = Box::new(move |url| sqlite_setup(url.to_string(), busy).boxed());
                let manager = AsyncDieselConnectionManager::new_with_config(path.clone(), mc);
                Pool::builder(manager)
                    .max_size(size)
                    .timeouts(timeouts)
                    .runtime(Runtime::Tokio1)
                    .build()
                    .map_err(|e| format!("cannot build the SQLite pool: {e}"))
            };
            let db = Db {
                pools: Pools::Sqlite {
                    writer: build(1)?,
                    readers: build(config.db_pool_size)?,
                },
                runtime,
            };
            db.migrate().await?;
            Ok(db)
        }
    }

    /// Runs pending migrations on the writer. Needs the multi-thread runtime
    /// (the harness blocks in place).
    ///
    /// PostgreSQL: under an advisory lock, so any number of instances may start at once on
    /// one database. Without it two of them both found the same migrations pending and ran
    /// them side by side; the second `CREATE TABLE` died on `pg_type_typname_nsp_index`.
    /// Whoever waits for the lock finds nothing pending once it has it. SQLite needs no lock:
    /// one process, one writer connection.
    pub async fn migrate(&self) -> Result<(), String> {
        let unavailable = |e| format!("cannot reach the database: {}", StoreError::from_pool(e));
        match &self.pools {
            Pools::Sqlite { writer, .. } => {
                run_migrations(writer.get().await.map_err(unavailable)?, SQLITE_MIGRATIONS).1
            }
            Pools::Postgres(pool) => {
                // Out of the pool: the lock belongs to this connection's session, and if the
                // unlock below failed, a pooled connection would carry it to its next user.
                // Dropped here, the connection closes and PostgreSQL releases the lock.
                let mut conn =
                    deadpool::managed::Object::take(pool.get().await.map_err(unavailable)?);
                let lock_failed = |e| format!("cannot take the migration lock: {e}");
                conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
                    .await
                    .map_err(lock_failed)?;
                let (mut conn, migrated) = run_migrations(conn, PG_MIGRATIONS);
                let unlocked = conn
                    .batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
                    .await;
                migrated?;
                unlocked.map_err(|e| format!("cannot release the migration lock: {e}"))
            }
        }
    }

    /// An online, consistent copy of a SQLite database into the new file `path` (`VACUUM
    /// INTO`: a read transaction on a reader, so the server keeps serving, writes included).
    /// `Ok(false)` on PostgreSQL, which has its own tools (pg_dump).
    pub async fn backup_sqlite(&self, path: &str) -> Result<bool, StoreError> {
        let Pools::Sqlite { readers, .. } = &self.pools else {
            return Ok(false);
        };
        let readers = readers.clone();
        let path = path.to_owned();
        self.run(async move {
            let mut conn = readers.get().await.map_err(StoreError::from_pool)?;
            diesel::sql_query("VACUUM INTO ?")
                .bind::<diesel::sql_types::Text, _>(path)
                .execute(&mut *conn)
                .await?;
            Ok(true)
        })
        .await
    }

    /// A cheap round trip, for readiness.
    pub async fn ping(&self) -> Result<(), StoreError> {
        with_conn!(self, readers, |conn| {
            conn.batch_execute("SELECT 1").await?;
            Ok(())
        })
    }

    /// How many group-commit batches may be written at once: SQLite has one writer connection.
    pub fn write_concurrency(&self, configured: usize) -> usize {
        match &self.pools {
            Pools::Sqlite { .. } => 1,
            Pools::Postgres(_) => configured.max(1),
        }
    }

    pub fn backend_name(&self) -> &'static str {
        match &self.pools {
            Pools::Sqlite { .. } => "sqlite",
            Pools::Postgres(_) => "postgres",
        }
    }

    pub(crate) fn pools(&self) -> &Pools {
        &self.pools
    }

    /// Runs one database call as a task on the multi-thread runtime and waits for it.
    ///
    /// Why: actix drops a request's future at any await (another extractor failed, the client
    /// left). Dropping a query in flight is not safe: SQLite's wrapper then waits in
    /// `block_in_place`, which panics on actix's current-thread workers, and a transaction cut
    /// off half-way is left to the pool to notice. As a task the call always runs to its end
    /// (committed or rolled back); a dropped request only stops waiting for it.
    pub(crate) async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        F: std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
        T: Send + 'static,
    {
        match self.runtime.spawn(work).await {
            Ok(result) => result,
            // Cancelled: the runtime is shutting down, so the database is going away too.
            Err(e) if e.is_cancelled() => Err(StoreError::Unavailable(
                "the server is shutting down".into(),
            )),
            Err(e) => {
                tracing::error!(error = %e, "database task panicked");
                Err(StoreError::Task(e.to_string()))
            }
        }
    }
}

/// Per-connection SQLite settings: WAL for readers beside the writer, a lock wait instead of
/// an immediate "database is locked", foreign keys (off by default in SQLite), and a sync of
/// the WAL at every commit (`FULL`): a 201 survives a power cut, not only a crash. Group commit
/// makes that one sync per batch.
async fn sqlite_setup(path: String, busy_ms: u64) -> diesel::ConnectionResult<SqliteConn> {
    let mut conn = SqliteConn::establish(&path).await?;
    let pragmas = format!(
        "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = {busy_ms}; \
         PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
    );
    conn.batch_execute(&pragmas)
        .await
        .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
    Ok(conn)
}

/// Runs the pending `migrations` on `conn`, and hands the connection back.
fn run_migrations<C>(conn: C, migrations: EmbeddedMigrations) -> (C, Result<(), String>)
where
    C: AsyncConnection,
    AsyncMigrationHarness<C>: MigrationHarness<C::Backend>,
{
    let mut harness = AsyncMigrationHarness::new(conn);
    let result = harness
        .run_pending_migrations(migrations)
        .map(|_| ())
        .map_err(|e| format!("migrations failed: {e}"));
    (harness.into_inner(), result)
}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    use diesel::sql_types::BigInt;
    use diesel_migrations::MigrationHarness;

    use super::schema::{events, idempotency_keys, memberships, rooms, sessions, users};
    use super::SQLITE_MIGRATIONS;

    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    type Rows = (
        Vec<(
            i64,
            String,
            String,
            i64,
            bool,
            Option<i64>,
            Option<String>,
            Option<i64>,
            Option<i64>,
        )>,
        Vec<(i64, String, i64, i32, i32, i64, i64)>,
        Vec<(i64, i64, i64)>,
        Vec<(i64, i64, i64, String, i64, Option<String>, i64)>,
        Vec<(String, Option<String>, Option<i64>, String, i64)>,
        Vec<(i64, i64, String, String, Option<i64>, i64)>,
    );

    /// Every row of every table with a foreign key or an integer id, through schema.rs (so a
    /// column it names that the database lacks fails here).
    fn everything(conn: &mut SqliteConnection) -> Rows {
        (
            // The columns that predate `autoincrement`, as for sessions below.
            users::table
                .order(users::id)
                .select((
                    users::id,
                    users::username,
                    users::password_hash,
                    users::created_at,
                    users::is_bot,
                    users::bot_owner_id,
                    users::token_hash,
                    users::disabled_at,
                    users::revoked_at,
                ))
                .load(conn)
                .unwrap(),
            // The columns that predate `autoincrement` (later migrations add more).
            rooms::table
                .order(rooms::id)
                .select((
                    rooms::id,
                    rooms::name,
                    rooms::owner_id,
                    rooms::capacity,
                    rooms::member_count,
                    rooms::last_seq,
                    rooms::created_at,
                ))
                .load(conn)
                .unwrap(),
            // The columns that predate `autoincrement` (later migrations add more).
            memberships::table
                .order((memberships::room_id, memberships::user_id))
                .select((
                    memberships::room_id,
                    memberships::user_id,
                    memberships::joined_at,
                ))
                .load(conn)
                .unwrap(),
            // The columns that predate `autoincrement` (later migrations add more).
            events::table
                .order(events::id)
                .select((
                    events::id,
                    events::room_id,
                    events::seq,
                    events::kind,
                    events::actor_id,
                    events::content,
                    events::created_at,
                ))
                .load(conn)
                .unwrap(),
            // The columns that predate `autoincrement` (later migrations add more).
            sessions::table
                .order(sessions::key_hash)
                .select((
                    sessions::key_hash,
                    sessions::sid,
                    sessions::user_id,
                    sessions::state,
                    sessions::expires_at,
                ))
                .load(conn)
                .unwrap(),
            idempotency_keys::table
                .order(idempotency_keys::idem_key)
                .load(conn)
                .unwrap(),
        )
    }

    fn scalar(conn: &mut SqliteConnection, sql: &str) -> i64 {
        diesel::sql_query(sql).get_result::<Count>(conn).unwrap().n
    }

    /// A database made by the migrations before `autoincrement`, with data in it, migrates with
    /// every row and reference intact; afterwards a deleted id is never handed out again.
    #[test]
    fn sqlite_ids_are_never_reused_and_old_databases_migrate_intact() {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        // As every server connection has it (store::sqlite_setup).
        conn.batch_execute("PRAGMA foreign_keys = ON").unwrap();
        loop {
            let pending = conn.pending_migrations(SQLITE_MIGRATIONS).unwrap();
            let next = pending.first().expect("an autoincrement migration");
            if next.name().to_string().ends_with("_autoincrement") {
                break;
            }
            conn.run_migration(next.as_ref()).unwrap();
        }
        conn.batch_execute(
            "INSERT INTO users (id, username, password_hash, created_at) \
                 VALUES (1, 'ann', 'h1', 10), (2, 'bob', 'h2', 11);
             INSERT INTO users (id, username, password_hash, created_at, is_bot, bot_owner_id,
                                token_hash, revoked_at)
                 VALUES (3, 'helper', '', 12, 1, 1, 'tok', 13);
             INSERT INTO rooms (id, name, owner_id, capacity, member_count, last_seq, created_at)
                 VALUES (1, 'general', 1, 5, 2, 2, 20), (2, 'quiet', 2, 3, 1, 1, 21);
             INSERT INTO memberships VALUES (1, 1, 30), (1, 3, 31), (2, 2, 32);
             INSERT INTO events (id, room_id, seq, kind, actor_id, content, created_at)
                 VALUES (1, 1, 1, 'message.created', 1, 'hi', 40),
                        (2, 1, 2, 'member.joined', 3, NULL, 41),
                        (3, 2, 1, 'message.created', 2, 'yo', 42);
             INSERT INTO sessions VALUES ('k1', 's1', 1, '{}', 50);
             INSERT INTO idempotency_keys VALUES (1, 1, 'key', 'hash', 1, 60);",
        )
        .unwrap();
        let before = everything(&mut conn);

        conn.run_pending_migrations(SQLITE_MIGRATIONS).unwrap();
        assert_eq!(everything(&mut conn), before);
        assert_eq!(
            scalar(
                &mut conn,
                "SELECT foreign_keys AS n FROM pragma_foreign_keys"
            ),
            1
        );
        assert_eq!(
            scalar(
                &mut conn,
                "SELECT count(*) AS n FROM pragma_foreign_key_check"
            ),
            0
        );
        // The cascades still work: room 2 takes its membership and event along.
        diesel::delete(rooms::table.find(2))
            .execute(&mut conn)
            .unwrap();
        assert_eq!(
            memberships::table
                .count()
                .get_result::<i64>(&mut conn)
                .unwrap(),
            2
        );
        assert_eq!(
            events::table.count().get_result::<i64>(&mut conn).unwrap(),
            2
        );

        // The largest ids are gone (room 2 and event 3 just now; user 3 and event 2 here), and
        // none comes back, as a plain INTEGER PRIMARY KEY would hand them out again.
        conn.batch_execute(
            "DELETE FROM events WHERE actor_id = 3; DELETE FROM users WHERE id = 3;",
        )
        .unwrap();
        let room: i64 = diesel::insert_into(rooms::table)
            .values((
                rooms::name.eq("new"),
                rooms::owner_id.eq(1),
                rooms::capacity.eq(5),
                rooms::created_at.eq(70),
            ))
            .returning(rooms::id)
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(room, 3);
        let user: i64 = diesel::insert_into(users::table)
            .values((
                users::username.eq("cat"),
                users::password_hash.eq("h"),
                users::created_at.eq(71),
            ))
            .returning(users::id)
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(user, 4);
        let event: i64 = diesel::insert_into(events::table)
            .values((
                events::room_id.eq(room),
                events::seq.eq(1),
                events::kind.eq("message.created"),
                events::actor_id.eq(user),
                events::created_at.eq(72),
            ))
            .returning(events::id)
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(event, 4);
    }
}
