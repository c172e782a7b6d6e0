//! Invitations to register (`registration = "invite"`), by the SHA-256 of their code.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::schema::invites;
use super::{now_ms, with_conn, Db, Rejection, StoreError};
use crate::ids::UserId;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = invites)]
pub struct InviteRow {
    pub id: i64,
    pub created_by: Option<UserId>,
    pub uses_left: i32,
    pub expires_at: i64,
    pub created_at: i64,
}

pub async fn create(
    db: &Db,
    code_hash: &str,
    created_by: Option<UserId>,
    uses: i32,
    expires_at: i64,
) -> Result<InviteRow, StoreError> {
    let now = now_ms();
    let code_hash = code_hash.to_owned();
    with_conn!(db, writer, |conn| {
        Ok(diesel::insert_into(invites::table)
            .values((
                invites::code_hash.eq(code_hash),
                invites::created_by.eq(created_by),
                invites::uses_left.eq(uses),
                invites::expires_at.eq(expires_at),
                invites::created_at.eq(now),
            ))
            .returning(InviteRow::as_returning())
            .get_result(conn)
            .await?)
    })
}

/// Every invite, newest first (used up and expired ones too, until revoked).
pub async fn list(db: &Db) -> Result<Vec<InviteRow>, StoreError> {
    with_conn!(db, readers, |conn| {
        Ok(invites::table
            .order(invites::id.desc())
            .select(InviteRow::as_select())
            .load(conn)
            .await?)
    })
}

pub async fn delete(db: &Db, id: i64) -> Result<(), StoreError> {
    with_conn!(db, writer, |conn| {
        let n = diesel::delete(invites::table.find(id))
            .execute(conn)
            .await?;
        if n == 0 {
            return Err(Rejection::InviteNotFound.into());
        }
        Ok(())
    })
}
