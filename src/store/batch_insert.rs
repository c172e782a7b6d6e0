//! Multi-row inserts: the one place the backends differ in how, not in what.
//!
//! PostgreSQL takes one `INSERT … VALUES (…), (…) RETURNING …`. diesel builds multi-row
//! inserts for SQLite only on its own sync connection, which loops single-row inserts; so the
//! SQLite side does that loop inside one blocking call on the connection (one thread hop for
//! the whole batch, not one per row). Same rows, same table, same result.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;

use super::events::{EventRow, NewEvent};
use super::schema::{events, idempotency_keys};
use super::{PgConn, SqliteConn};
use crate::ids::{RoomId, UserId};

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = idempotency_keys, treat_none_as_default_value = false)]
pub struct KeyInsert {
    pub user_id: UserId,
    pub room_id: RoomId,
    pub idem_key: String,
    pub request_hash: String,
    pub event_id: Option<i64>,
    pub created_at: i64,
}

pub trait InsertMany {
    /// Inserts the events; the stored rows come back in no particular order.
    fn insert_events(&mut self, rows: Vec<NewEvent>) -> BoxFuture<'_, QueryResult<Vec<EventRow>>>;
    fn insert_keys(&mut self, rows: Vec<KeyInsert>) -> BoxFuture<'_, QueryResult<()>>;
}

impl InsertMany for PgConn {
    fn insert_events(&mut self, rows: Vec<NewEvent>) -> BoxFuture<'_, QueryResult<Vec<EventRow>>> {
        async move {
            diesel::insert_into(events::table)
                .values(&rows)
                .returning(EventRow::as_returning())
                .get_results(self)
                .await
        }
        .boxed()
    }

    fn insert_keys(&mut self, rows: Vec<KeyInsert>) -> BoxFuture<'_, QueryResult<()>> {
        async move {
            diesel::insert_into(idempotency_keys::table)
                .values(&rows)
                .execute(self)
                .await
                .map(|_| ())
        }
        .boxed()
    }
}

impl InsertMany for SqliteConn {
    fn insert_events(&mut self, rows: Vec<NewEvent>) -> BoxFuture<'_, QueryResult<Vec<EventRow>>> {
        self.spawn_blocking(move |conn| {
            rows.iter()
                .map(|row| {
                    let insert = diesel::insert_into(events::table)
                        .values(row)
                        .returning(EventRow::as_returning());
                    diesel::RunQueryDsl::get_result(insert, conn)
                })
                .collect()
        })
    }

    fn insert_keys(&mut self, rows: Vec<KeyInsert>) -> BoxFuture<'_, QueryResult<()>> {
        self.spawn_blocking(move |conn| {
            for row in &rows {
                let insert = diesel::insert_into(idempotency_keys::table).values(row);
                diesel::RunQueryDsl::execute(insert, conn)?;
            }
            Ok(())
        })
    }
}
