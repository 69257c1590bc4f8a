//! The database: migrations and every query, always with bound parameters.
//!
//! One set of portable SQL runs on SQLite (embedded default) and PostgreSQL (scaled
//! out) through sqlx's `Any` driver, so both back ends pass the same test suite. No
//! SQL text is ever assembled from input: every statement is a string literal.
//!
//! Personal data (users' email and name, orders' shipping address) is encrypted here,
//! column by column (see [`crypto`]), so the domain sees plaintext and the disk never
//! does.

mod audit;
pub mod backup;
mod catalog;
pub mod crypto;
pub mod keys;
mod orders;
mod users;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, ConnectOptions, Executor, Transaction};

pub use catalog::{CatalogQuery, ImportOutcome, ProductRecord, VariantRecord};
pub use crypto::{KEY_RELOAD_INTERVAL, KekSource, KeyringError};
pub use keys::{
    EncryptedColumn, KeyReport, KeyStatus, ReencryptProgress, ReencryptReport, RotationReport,
};
pub use orders::{
    CartLine, OrderLineRecord, OrderRecord, OrderTransition, PaymentRecord, PlaceOrderError,
};
pub use users::{AccountState, RefreshOutcome, SessionRecord, UserRecord};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Which database engine sits behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("record not found")]
    NotFound,
    #[error("conflicting record")]
    Conflict,
    #[error("stored data failed validation: {0}")]
    Corrupt(String),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("migration failed")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("the field encryption keys are not loaded")]
    Locked,
    #[error("a value could not be encrypted")]
    Encrypt,
    /// A stored value failed authentication (or names an unknown key): it was
    /// altered, or moved from another row or column. Ids only, never the value.
    #[error("stored value {table}.{column} of row {row_id} failed to decrypt")]
    Undecryptable {
        table: &'static str,
        column: &'static str,
        row_id: String,
    },
}

impl StoreError {
    /// Unique and check constraint violations become `Conflict`, so callers can
    /// answer 409 instead of 500.
    fn from_write(err: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &err
            && (db.is_unique_violation()
                || db.is_check_violation()
                || db.is_foreign_key_violation())
        {
            return StoreError::Conflict;
        }
        StoreError::Database(err)
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A handle on the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The keys for personal data, set once by [`Store::unlock`].
    crypto: crypto::CryptoSlot,
}

impl Store {
    /// Connects and runs pending migrations.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::Corrupt(
                "database URL must start with sqlite: or postgres:".into(),
            ));
        };
        if backend == Backend::Sqlite {
            create_private_sqlite_file(url)?;
        }
        let options = AnyConnectOptions::from_str(url)?
            .log_statements(tracing::log::LevelFilter::Trace)
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1));
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 8 } else { 16 })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self {
            pool,
            backend,
            crypto: crypto::new_slot(),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A cheap round trip for readiness checks.
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Starts a transaction that will write. On SQLite it takes the write lock up
    /// front (`BEGIN IMMEDIATE`), so concurrent writers queue on the busy timeout
    /// instead of failing when a read lock cannot be upgraded.
    async fn begin_write(&self) -> StoreResult<Transaction<'static, Any>> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(tx)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Creates the SQLite database file with mode 0600 before SQLite does (SQLite gives
/// its -wal and -shm files the database file's mode).
fn create_private_sqlite_file(url: &str) -> StoreResult<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or("");
    if path.is_empty() || path.starts_with(':') || std::path::Path::new(path).exists() {
        return Ok(());
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map(drop)
        .map_err(|e| StoreError::Database(sqlx::Error::Io(e)))
}

/// Serialises a list of strings for a TEXT column.
fn to_json_text(values: &[String]) -> String {
    serde_json::to_string(values).unwrap_or_else(|_| "[]".to_owned())
}

fn from_json_text(text: &str) -> StoreResult<Vec<String>> {
    serde_json::from_str(text).map_err(|_| StoreError::Corrupt("malformed JSON list".into()))
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
