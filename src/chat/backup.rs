//! `roomcast backup PATH`: an online, consistent copy of a SQLite database, safe while servers
//! run on it.

use crate::app::App;
use crate::error::AppError;

/// Copies the database into `path`, a file that must not exist yet (a backup never
/// overwrites). PostgreSQL has its own tools: refused with a message naming them.
pub async fn backup(app: &App, path: &str) -> Result<(), AppError> {
    if std::path::Path::new(path).exists() {
        return Err(AppError::BadRequest(format!(
            "{path} exists already: a backup never overwrites a file"
        )));
    }
    if app.db.backup_sqlite(path).await? {
        Ok(())
    } else {
        Err(AppError::BadRequest(
            "backup copies SQLite databases only: for PostgreSQL use pg_dump \
             (e.g. pg_dump -Fc -f roomcast.dump DATABASE_URL)"
                .into(),
        ))
    }
}
