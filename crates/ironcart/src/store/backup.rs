//! The database side of `ironcart backup` and `ironcart restore` (SQLite only):
//! an online snapshot of the live database, and the checks a restored file must
//! pass before it may replace anything.

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{Connection, Row, SqliteConnection};

use super::{Backend, Store, StoreError, StoreResult};

/// What a database file holds, as its checks found it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SnapshotCheck {
    /// The newest migration applied.
    pub schema_version: i64,
    /// The KEKs its data keys are wrapped under (normally exactly one).
    pub kek_ids: Vec<String>,
    pub users: i64,
    pub products: i64,
    pub orders: i64,
    pub audit_events: i64,
}

impl Store {
    /// Writes a transactionally consistent copy of the whole SQLite database to
    /// `path` (`VACUUM INTO`), which must not exist or be empty. It reads in one
    /// read transaction: in WAL mode servers keep reading and writing meanwhile,
    /// and the copy holds exactly what was committed when it started.
    pub async fn snapshot_sqlite_into(&self, path: &Path) -> StoreResult<()> {
        if self.backend != Backend::Sqlite {
            return Err(StoreError::Corrupt(
                "an online snapshot is only taken of an SQLite database".into(),
            ));
        }
        let target = path
            .to_str()
            .ok_or_else(|| StoreError::Corrupt("the snapshot path is not valid UTF-8".into()))?;
        sqlx::query("VACUUM INTO $1")
            .bind(target.to_owned())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// The file of an SQLite database URL (`sqlite://path?mode=rwc`, `sqlite:path`);
/// `None` for an in-memory database or another scheme.
pub fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or("");
    if path.is_empty() || path.starts_with(':') {
        return None;
    }
    Some(std::path::PathBuf::from(path))
}

async fn open_file(path: &Path, busy_timeout: Duration) -> StoreResult<SqliteConnection> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .busy_timeout(busy_timeout);
    Ok(SqliteConnection::connect_with(&options).await?)
}

/// Checks a database file that is about to be restored: SQLite's own
/// `integrity_check` and `foreign_key_check`, then that it is an Ironcart database
/// (its migrations table and data keys). Also switches the file out of WAL mode,
/// so that it is complete in itself, one file to move into place.
pub async fn check_sqlite_file(path: &Path) -> StoreResult<SnapshotCheck> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .journal_mode(SqliteJournalMode::Delete)
        .busy_timeout(Duration::from_secs(5));
    let mut conn = SqliteConnection::connect_with(&options).await?;
    let result = check_connection(&mut conn).await;
    conn.close().await?;
    result
}

async fn check_connection(conn: &mut SqliteConnection) -> StoreResult<SnapshotCheck> {
    let integrity = sqlx::query("PRAGMA integrity_check")
        .fetch_all(&mut *conn)
        .await?;
    let verdict: Vec<String> = integrity
        .iter()
        .map(|row| row.try_get::<String, _>(0))
        .collect::<Result<_, _>>()?;
    if verdict != ["ok"] {
        return Err(StoreError::Corrupt(format!(
            "the database fails SQLite's integrity check: {}",
            verdict.join("; ")
        )));
    }
    let dangling = sqlx::query("PRAGMA foreign_key_check")
        .fetch_all(&mut *conn)
        .await?;
    if !dangling.is_empty() {
        return Err(StoreError::Corrupt(format!(
            "the database has {} rows whose foreign keys point nowhere",
            dangling.len()
        )));
    }
    let migrations = sqlx::query(
        "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_one(&mut *conn)
    .await?;
    if migrations.try_get::<i64, _>("n")? != 1 {
        return Err(StoreError::Corrupt(
            "the file is an SQLite database, but not an Ironcart one (it has no migrations table)"
                .into(),
        ));
    }
    let schema_version: i64 = sqlx::query(
        "SELECT COALESCE(MAX(version), 0) AS v FROM _sqlx_migrations WHERE success = 1",
    )
    .fetch_one(&mut *conn)
    .await?
    .try_get("v")?;
    let wrapped = sqlx::query("SELECT wrapped FROM data_keys ORDER BY id")
        .fetch_all(&mut *conn)
        .await?;
    let mut kek_ids = Vec::new();
    for row in &wrapped {
        let text: String = row.try_get("wrapped")?;
        let kek_id = text.split('.').nth(1).unwrap_or("").to_owned();
        if !kek_ids.contains(&kek_id) {
            kek_ids.push(kek_id);
        }
    }
    let count = |row: sqlx::sqlite::SqliteRow| row.try_get::<i64, _>("n");
    let users = count(
        sqlx::query("SELECT COUNT(*) AS n FROM users")
            .fetch_one(&mut *conn)
            .await?,
    )?;
    let products = count(
        sqlx::query("SELECT COUNT(*) AS n FROM products")
            .fetch_one(&mut *conn)
            .await?,
    )?;
    let orders = count(
        sqlx::query("SELECT COUNT(*) AS n FROM orders")
            .fetch_one(&mut *conn)
            .await?,
    )?;
    let audit_events = count(
        sqlx::query("SELECT COUNT(*) AS n FROM audit_events")
            .fetch_one(&mut *conn)
            .await?,
    )?;
    Ok(SnapshotCheck {
        schema_version,
        kek_ids,
        users,
        products,
        orders,
        audit_events,
    })
}

/// Whether another connection has the database at `path` open. Leaving WAL mode
/// needs the only connection to the file, and SQLite does not wait for it
/// (busy timeout 0): a refusal means a server (or any other process) has it open.
///
/// When nobody has it open, this checkpoints any WAL left by a stopped (or
/// crashed) server into the file and removes the `-wal` and `-shm` files, so
/// that nothing of the old database can be replayed onto a file moved into its
/// place. Only call it on a database that is about to be replaced.
pub async fn take_over_idle_sqlite_file(path: &Path) -> StoreResult<bool> {
    let mut conn = open_file(path, Duration::ZERO).await?;
    let switched = sqlx::query("PRAGMA journal_mode = DELETE")
        .fetch_one(&mut conn)
        .await;
    let _ = conn.close().await;
    match switched {
        Ok(row) => {
            let mode: String = row.try_get(0)?;
            Ok(mode.eq_ignore_ascii_case("delete"))
        }
        Err(sqlx::Error::Database(db)) if is_busy(db.code().as_deref()) => Ok(false),
        Err(other) => Err(other.into()),
    }
}

/// SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes.
fn is_busy(code: Option<&str>) -> bool {
    code.and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|c| matches!(c & 0xff, 5 | 6))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn the_file_of_a_database_url() {
        assert_eq!(
            sqlite_path("sqlite:///data/ironcart.db?mode=rwc"),
            Some("/data/ironcart.db".into())
        );
        assert_eq!(
            sqlite_path("sqlite://./data/ironcart.db"),
            Some("./data/ironcart.db".into())
        );
        assert_eq!(
            sqlite_path("sqlite:relative.db"),
            Some("relative.db".into())
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://db/ironcart"), None);
    }

    #[tokio::test]
    async fn a_snapshot_is_a_checked_copy_and_an_open_database_is_not_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("live.db").display());
        let store = Store::connect(&url).await.unwrap();
        store
            .unlock(
                &crate::store::KekSource::default_file(dir.path()),
                crate::clock::Clock::System,
            )
            .await
            .unwrap();
        store
            .create_user("snap@example.com", "Snap", "hash", &[], 1)
            .await
            .unwrap();
        let copy = dir.path().join("copy.db");
        store.snapshot_sqlite_into(&copy).await.unwrap();
        let check = check_sqlite_file(&copy).await.unwrap();
        assert_eq!(check.users, 1);
        assert_eq!(check.kek_ids.len(), 1);
        assert!(check.schema_version >= 3);

        let live = dir.path().join("live.db");
        assert!(!take_over_idle_sqlite_file(&live).await.unwrap());
        assert!(dir.path().join("live.db-wal").exists());
        store.close().await;
        assert!(take_over_idle_sqlite_file(&copy).await.unwrap());
        assert!(take_over_idle_sqlite_file(&live).await.unwrap());
        assert!(!dir.path().join("live.db-wal").exists());
        assert!(!dir.path().join("live.db-shm").exists());

        std::fs::write(dir.path().join("junk.db"), b"not a database at all").unwrap();
        assert!(
            check_sqlite_file(&dir.path().join("junk.db"))
                .await
                .is_err()
        );
    }
}
