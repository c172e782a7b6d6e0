//! Reading the server's database directly, to check what is stored rather than what the
//! API shows (erased content must be gone from the rows themselves).

use diesel::connection::SimpleConnection;
use diesel::prelude::*;

/// The one TEXT (or NULL) column `v` of every row of `sql`, a query without parameters that
/// both backends take, from the database at `url` (as the server is given it).
pub async fn texts(url: &str, sql: &str) -> Vec<Option<String>> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let (path, sql) = (path.to_string(), sql.to_string());
        tokio::task::spawn_blocking(move || {
            #[derive(QueryableByName)]
            struct Row {
                #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
                v: Option<String>,
            }
            let mut conn = SqliteConnection::establish(&path).unwrap();
            conn.batch_execute("PRAGMA busy_timeout = 10000").unwrap();
            diesel::sql_query(sql)
                .load::<Row>(&mut conn)
                .unwrap()
                .into_iter()
                .map(|r| r.v)
                .collect()
        })
        .await
        .unwrap()
    } else {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client
            .query(sql, &[])
            .await
            .unwrap()
            .iter()
            .map(|row| row.get::<_, Option<String>>(0))
            .collect()
    }
}
