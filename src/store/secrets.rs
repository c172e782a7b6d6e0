//! Server-wide secrets that must survive restarts and be shared by every instance.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::schema::server_secrets;
use super::{with_conn, Db, StoreError};

/// Returns the stored value of `name`, storing `candidate` first if there is none.
/// Insert-if-absent then read, so concurrent first starts agree on one value.
pub async fn get_or_create(db: &Db, name: &str, candidate: &str) -> Result<String, StoreError> {
    let (name, candidate) = (name.to_owned(), candidate.to_owned());
    with_conn!(db, writer, |conn| {
        diesel::insert_into(server_secrets::table)
            .values((
                server_secrets::name.eq(&name),
                server_secrets::value.eq(candidate),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        Ok(server_secrets::table
            .find(&name)
            .select(server_secrets::value)
            .first(conn)
            .await?)
    })
}
