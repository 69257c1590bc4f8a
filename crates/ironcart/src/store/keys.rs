//! Key management on the `data_keys` table: status, data-key rotation with the
//! re-encryption job, KEK rotation and retirement. `ironcart keys …` and the tests
//! call these same functions.
//!
//! The re-encryption job is safe while servers keep serving: every value is rewritten
//! with a compare-and-set on the ciphertext it read (`… WHERE id = $2 AND col = $3`),
//! so a value a request changed meanwhile is left alone (it was written under the
//! newest key the writer knew, and the next pass looks at it again). It is resumable:
//! it works on whatever is not under the primary key, so an interrupted run simply
//! continues when started again.

use ironcart_vault::{FieldContext, Kek, KekId, KeyId, KeyPurpose, KeyState, Keyring, WrappedKey};
use serde::Serialize;
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, Row, Transaction};

use super::crypto::{KEY_RELOAD_INTERVAL, KeyringError, key_from_row};
use super::{Store, StoreError, StoreResult};

/// Values rewritten per batch (one SELECT, then one UPDATE per value).
pub const REENCRYPT_BATCH: i64 = 100;
/// A demoted key may retire only this long after its demotion, so that every server
/// has reloaded the keys (see `KEY_RELOAD_INTERVAL`) and none still encrypts under it.
pub const RETIRE_GRACE_SECS: i64 = 6 * KEY_RELOAD_INTERVAL.as_secs() as i64;

type AnyQuery = Query<'static, Any, AnyArguments<'static>>;

/// A column that holds envelopes. Each one's SQL is spelled out: no SQL is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncryptedColumn {
    UserEmail,
    UserName,
    OrderShippingAddress,
    /// The payment provider's reference of a charge or refund.
    PaymentReference,
}

impl EncryptedColumn {
    pub const ALL: [EncryptedColumn; 4] = [
        EncryptedColumn::UserEmail,
        EncryptedColumn::UserName,
        EncryptedColumn::OrderShippingAddress,
        EncryptedColumn::PaymentReference,
    ];

    pub fn table(self) -> &'static str {
        match self {
            Self::UserEmail | Self::UserName => "users",
            Self::OrderShippingAddress => "orders",
            Self::PaymentReference => "payments",
        }
    }

    pub fn column(self) -> &'static str {
        match self {
            Self::UserEmail => "email_enc",
            Self::UserName => "name_enc",
            Self::OrderShippingAddress => "shipping_address",
            Self::PaymentReference => "provider_ref",
        }
    }

    /// `$1`: a LIKE pattern (an envelope prefix followed by `%`).
    fn count_like(self) -> AnyQuery {
        match self {
            Self::UserEmail => {
                sqlx::query("SELECT COUNT(*) AS n FROM users WHERE email_enc LIKE $1")
            }
            Self::UserName => sqlx::query("SELECT COUNT(*) AS n FROM users WHERE name_enc LIKE $1"),
            Self::OrderShippingAddress => {
                sqlx::query("SELECT COUNT(*) AS n FROM orders WHERE shipping_address LIKE $1")
            }
            Self::PaymentReference => {
                sqlx::query("SELECT COUNT(*) AS n FROM payments WHERE provider_ref LIKE $1")
            }
        }
    }

    /// `$1`: the primary key's LIKE pattern, `$2`: the id cursor, `$3`: batch size.
    fn batch_not_like(self) -> AnyQuery {
        match self {
            Self::UserEmail => sqlx::query(
                "SELECT id, email_enc AS value FROM users \
                 WHERE email_enc NOT LIKE $1 AND id > $2 ORDER BY id LIMIT $3",
            ),
            Self::UserName => sqlx::query(
                "SELECT id, name_enc AS value FROM users \
                 WHERE name_enc NOT LIKE $1 AND id > $2 ORDER BY id LIMIT $3",
            ),
            Self::OrderShippingAddress => sqlx::query(
                "SELECT id, shipping_address AS value FROM orders \
                 WHERE shipping_address NOT LIKE $1 AND id > $2 ORDER BY id LIMIT $3",
            ),
            Self::PaymentReference => sqlx::query(
                "SELECT id, provider_ref AS value FROM payments \
                 WHERE provider_ref NOT LIKE $1 AND id > $2 ORDER BY id LIMIT $3",
            ),
        }
    }

    /// `$1`: new envelope, `$2`: row id, `$3`: the envelope that was read.
    fn compare_and_set(self) -> AnyQuery {
        match self {
            Self::UserEmail => {
                sqlx::query("UPDATE users SET email_enc = $1 WHERE id = $2 AND email_enc = $3")
            }
            Self::UserName => {
                sqlx::query("UPDATE users SET name_enc = $1 WHERE id = $2 AND name_enc = $3")
            }
            Self::OrderShippingAddress => sqlx::query(
                "UPDATE orders SET shipping_address = $1 WHERE id = $2 AND shipping_address = $3",
            ),
            Self::PaymentReference => sqlx::query(
                "UPDATE payments SET provider_ref = $1 WHERE id = $2 AND provider_ref = $3",
            ),
        }
    }
}

/// One data key as `ironcart keys status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct KeyReport {
    pub id: String,
    pub purpose: &'static str,
    pub state: &'static str,
    pub created_at: i64,
    pub kek_id: Option<String>,
    /// Stored values encrypted under this key (field keys only).
    pub values: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct KeyStatus {
    pub kek_id: String,
    pub primary_key: String,
    pub keys: Vec<KeyReport>,
}

/// What one run of the re-encryption job did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ReencryptReport {
    /// Values rewritten under the primary key.
    pub rewritten: u64,
    /// Values changed by someone else between read and write (left to them).
    pub changed_meanwhile: u64,
    /// Values that failed to decrypt (each recorded as `crypto.decrypt_failed`).
    pub undecryptable: u64,
}

/// Progress of the job, reported after every batch.
#[derive(Debug, Clone, Copy)]
pub struct ReencryptProgress {
    pub column: EncryptedColumn,
    pub pass: u32,
    pub rewritten: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RotationReport {
    /// The primary field key after the run.
    pub primary_key: String,
    /// Whether this run added a new key (false: it continued an unfinished rotation).
    pub new_key: bool,
    pub reencrypted: ReencryptReport,
}

pub(crate) async fn insert_key(
    tx: &mut Transaction<'static, Any>,
    key: &WrappedKey,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO data_keys (id, purpose, wrapped, created_at, state) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(key.id.as_str().to_owned())
    .bind(key.purpose.as_str())
    .bind(key.wrapped.clone())
    .bind(key.created_at)
    .bind(key.state.as_str())
    .execute(&mut **tx)
    .await
    .map_err(StoreError::from_write)?;
    Ok(())
}

/// Encrypts rows written before field encryption existed (bootstrap only) and
/// blanks their legacy plaintext columns.
pub(crate) async fn encrypt_legacy_rows(
    tx: &mut Transaction<'static, Any>,
    ring: &Keyring,
) -> StoreResult<()> {
    let users = sqlx::query("SELECT id, email, name FROM users WHERE email_enc IS NULL")
        .fetch_all(&mut **tx)
        .await?;
    for row in &users {
        let id: String = row.try_get("id")?;
        let email: String = row.try_get("email")?;
        let name: String = row.try_get("name")?;
        let seal = |column, value: &str| {
            ring.encrypt_str(&FieldContext::new("users", column, &id), value)
                .map_err(|_| StoreError::Encrypt)
        };
        let index = ring
            .email_blind_index(&email)
            .map_err(|_| StoreError::Encrypt)?;
        sqlx::query(
            "UPDATE users SET email_index = $1, email_enc = $2, name_enc = $3, email = $4, \
             name = '' WHERE id = $4",
        )
        .bind(index)
        .bind(seal("email_enc", &email)?)
        .bind(seal("name_enc", &name)?)
        .bind(id.clone())
        .execute(&mut **tx)
        .await
        .map_err(StoreError::from_write)?;
    }
    // Shortcoming: a database keyed before payment references were encrypted keeps them in plaintext, and reads of them fail.
    for column in [
        EncryptedColumn::OrderShippingAddress,
        EncryptedColumn::PaymentReference,
    ] {
        let rows = column
            .batch_not_like()
            .bind("v1.%")
            .bind(String::new())
            .bind(i64::MAX)
            .fetch_all(&mut **tx)
            .await?;
        for row in &rows {
            let id: String = row.try_get("id")?;
            let plaintext: String = row.try_get("value")?;
            let sealed = ring
                .encrypt_str(
                    &FieldContext::new(column.table(), column.column(), &id),
                    &plaintext,
                )
                .map_err(|_| StoreError::Encrypt)?;
            column
                .compare_and_set()
                .bind(sealed)
                .bind(id)
                .bind(plaintext)
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
}

impl Store {
    /// Every row of `data_keys`, oldest first.
    pub async fn data_keys(&self) -> Result<Vec<WrappedKey>, KeyringError> {
        let rows = sqlx::query(
            "SELECT id, purpose, wrapped, created_at, state FROM data_keys \
             ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from)?;
        rows.iter().map(key_from_row).collect()
    }

    /// How many stored values, over every encrypted column, are under `key`.
    pub async fn values_under_key(&self, key: &KeyId) -> StoreResult<u64> {
        let pattern = format!("{}%", key.envelope_prefix());
        let mut total = 0u64;
        for column in EncryptedColumn::ALL {
            let n: i64 = column
                .count_like()
                .bind(pattern.clone())
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?;
            total += u64::try_from(n).unwrap_or(0);
        }
        Ok(total)
    }

    /// Which keys exist, their state, and how many values each protects.
    pub async fn key_status(&self) -> Result<KeyStatus, KeyringError> {
        let crypto = self.crypto()?;
        let mut keys = Vec::new();
        for key in self.data_keys().await? {
            let values = match key.purpose {
                KeyPurpose::FieldEncryption => Some(self.values_under_key(&key.id).await?),
                KeyPurpose::BlindIndex => None,
            };
            keys.push(KeyReport {
                id: key.id.to_string(),
                purpose: key.purpose.as_str(),
                state: key.state.as_str(),
                created_at: key.created_at,
                kek_id: key.kek_id().map(|id| id.to_string()),
                values,
            });
        }
        Ok(KeyStatus {
            kek_id: crypto.kek().id().to_string(),
            primary_key: crypto.ring().primary_key_id().to_string(),
            keys,
        })
    }

    /// Adds a new primary field key and demotes the current one, in one transaction
    /// (the demotion is conditional, so two racing rotations cannot both win), then
    /// switches this store's keyring to it.
    pub async fn add_primary_data_key(&self) -> Result<KeyId, KeyringError> {
        let crypto = self.crypto()?;
        let rows = self.data_keys().await?;
        let rotation = ironcart_vault::rotate_data_key(&crypto.kek(), &rows, crypto.clock.now())?;
        let mut tx = self.begin_write().await?;
        if let Some(demoted) = &rotation.demoted {
            let done = sqlx::query(
                "UPDATE data_keys SET state = 'active' WHERE id = $1 AND state = 'primary'",
            )
            .bind(demoted.as_str().to_owned())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
            if done.rows_affected() != 1 {
                return Err(KeyringError::Concurrent);
            }
        }
        insert_key(&mut tx, &rotation.added)
            .await
            .map_err(|err| match err {
                StoreError::Conflict => KeyringError::Concurrent,
                other => KeyringError::Store(other),
            })?;
        tx.commit().await.map_err(StoreError::from)?;
        self.reload_keys().await?;
        Ok(rotation.added.id)
    }

    /// `ironcart keys rotate`: a new primary key, then every value re-encrypted under
    /// it. When values are still under an older key (an interrupted run), no new key is
    /// added: the run continues the unfinished rotation.
    pub async fn rotate_data_keys(
        &self,
        progress: &mut (dyn FnMut(ReencryptProgress) + Send),
    ) -> Result<RotationReport, KeyringError> {
        self.reload_keys().await?;
        let unfinished = self.values_not_under_primary().await? > 0;
        if !unfinished {
            self.add_primary_data_key().await?;
        }
        let reencrypted = self.reencrypt_all(progress).await?;
        Ok(RotationReport {
            primary_key: self.crypto()?.ring().primary_key_id().to_string(),
            new_key: !unfinished,
            reencrypted,
        })
    }

    /// Values stored under any field key except the primary.
    pub async fn values_not_under_primary(&self) -> Result<u64, KeyringError> {
        let primary = self.crypto()?.ring().primary_key_id().clone();
        let mut total = 0;
        for key in self.data_keys().await? {
            if key.purpose == KeyPurpose::FieldEncryption && key.id != primary {
                total += self.values_under_key(&key.id).await?;
            }
        }
        Ok(total)
    }

    /// Rewrites every value not under the primary key, in batches, pass after pass
    /// until a pass finds nothing more to do (values changed meanwhile are looked at
    /// again in the next pass).
    pub async fn reencrypt_all(
        &self,
        progress: &mut (dyn FnMut(ReencryptProgress) + Send),
    ) -> Result<ReencryptReport, KeyringError> {
        let mut report = ReencryptReport::default();
        for pass in 1..=u32::MAX {
            let mut this_pass = ReencryptReport::default();
            for column in EncryptedColumn::ALL {
                self.reencrypt_column(column, pass, &mut this_pass, progress)
                    .await?;
            }
            report.rewritten += this_pass.rewritten;
            report.changed_meanwhile += this_pass.changed_meanwhile;
            report.undecryptable = this_pass.undecryptable;
            if this_pass.rewritten == 0 && this_pass.changed_meanwhile == 0 {
                break;
            }
        }
        Ok(report)
    }

    async fn reencrypt_column(
        &self,
        column: EncryptedColumn,
        pass: u32,
        report: &mut ReencryptReport,
        progress: &mut (dyn FnMut(ReencryptProgress) + Send),
    ) -> Result<(), KeyringError> {
        let mut cursor = String::new();
        loop {
            let ring = self.crypto()?.ring();
            let pattern = format!("{}%", ring.primary_key_id().envelope_prefix());
            let rows = column
                .batch_not_like()
                .bind(pattern)
                .bind(cursor.clone())
                .bind(REENCRYPT_BATCH)
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from)?;
            let Some(last) = rows.last() else {
                return Ok(());
            };
            cursor = last.try_get("id").map_err(StoreError::from)?;
            for row in &rows {
                let id: String = row.try_get("id").map_err(StoreError::from)?;
                let old: String = row.try_get("value").map_err(StoreError::from)?;
                let Some(new) = self.reencrypt_value(column, &id, &old).await else {
                    report.undecryptable += 1;
                    continue;
                };
                let done = column
                    .compare_and_set()
                    .bind(new)
                    .bind(id)
                    .bind(old)
                    .execute(&self.pool)
                    .await
                    .map_err(StoreError::from)?;
                if done.rows_affected() == 1 {
                    report.rewritten += 1;
                } else {
                    report.changed_meanwhile += 1;
                }
            }
            progress(ReencryptProgress {
                column,
                pass,
                rewritten: report.rewritten,
            });
        }
    }

    /// One value decrypted and encrypted again under the primary key; `None` (and a
    /// security event) when it does not decrypt.
    async fn reencrypt_value(
        &self,
        column: EncryptedColumn,
        id: &str,
        old: &str,
    ) -> Option<String> {
        let plaintext = self
            .open(column.table(), column.column(), id, old)
            .await
            .ok()?;
        self.seal(column.table(), column.column(), id, &plaintext)
            .ok()
    }

    /// KEK rotation: every data key re-wrapped under `new` (compare-and-set per row,
    /// one transaction), then this store switches to `new`. The data keys do not
    /// change, so no field value is rewritten. Servers running with the old KEK keep
    /// their keyring but must be restarted with the new KEK to load later keys.
    pub async fn rotate_kek(&self, new: Kek) -> Result<KekId, KeyringError> {
        let crypto = self.crypto()?;
        let rows = self.data_keys().await?;
        let rewrapped = ironcart_vault::rewrap_all(&crypto.kek(), &new, &rows)?;
        let mut tx = self.begin_write().await?;
        for (old, key) in rows.iter().zip(&rewrapped) {
            if old.wrapped == key.wrapped {
                continue;
            }
            let done =
                sqlx::query("UPDATE data_keys SET wrapped = $1 WHERE id = $2 AND wrapped = $3")
                    .bind(key.wrapped.clone())
                    .bind(key.id.as_str().to_owned())
                    .bind(old.wrapped.clone())
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from)?;
            if done.rows_affected() != 1 {
                return Err(KeyringError::Concurrent);
            }
        }
        tx.commit().await.map_err(StoreError::from)?;
        let id = new.id().clone();
        crypto.set_kek(std::sync::Arc::new(new));
        self.reload_keys().await?;
        Ok(id)
    }

    /// Retires a field key that no stored value uses any more, and that was demoted
    /// long enough ago that no server still encrypts under it.
    pub async fn retire_data_key(&self, id: &str) -> Result<WrappedKey, KeyringError> {
        let crypto = self.crypto()?;
        let rows = self.data_keys().await?;
        let key = rows
            .iter()
            .find(|key| key.id.as_str() == id)
            .ok_or_else(|| KeyringError::UnknownKey(id.to_owned()))?;
        let demoted_at = rows
            .iter()
            .filter(|k| k.purpose == key.purpose && k.created_at >= key.created_at)
            .filter(|k| k.id != key.id)
            .map(|k| k.created_at)
            .min();
        if key.state == KeyState::Active
            && demoted_at.is_some_and(|at| crypto.clock.now() - at < RETIRE_GRACE_SECS)
        {
            return Err(KeyringError::RecentlyDemoted(
                key.id.clone(),
                RETIRE_GRACE_SECS,
            ));
        }
        let count = self.values_under_key(&key.id).await?;
        let retired = ironcart_vault::retire(key, count)?;
        let done =
            sqlx::query("UPDATE data_keys SET state = 'retired' WHERE id = $1 AND state = $2")
                .bind(key.id.as_str().to_owned())
                .bind(key.state.as_str())
                .execute(&self.pool)
                .await
                .map_err(StoreError::from)?;
        if done.rows_affected() != 1 {
            return Err(KeyringError::Concurrent);
        }
        self.reload_keys().await?;
        Ok(retired)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::clock::Clock;
    use crate::store::KekSource;

    async fn unlocked_store(dir: &std::path::Path) -> Store {
        let url = format!("sqlite://{}?mode=rwc", dir.join("t.db").display());
        let store = Store::connect(&url).await.unwrap();
        store
            .unlock(&KekSource::default_file(dir), Clock::System)
            .await
            .unwrap();
        store
    }

    /// Rows stored before field encryption existed are sealed when the first keys are
    /// made, in every encrypted column.
    #[tokio::test]
    async fn the_first_keys_seal_every_legacy_plaintext_value() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let store = Store::connect(&url).await.unwrap();
        sqlx::query(
            "INSERT INTO users (id, email, name, password_hash, created_at, updated_at) \
             VALUES ('u1', 'legacy@example.com', 'Lena Legacy', 'h', 1, 1)",
        )
        .execute(&store.pool)
        .await
        .unwrap();
        order_o1_with_charge_p1(
            &store,
            "u1",
            "{\"line1\":\"1 Old Road\"}",
            "ch_legacy_reference",
        )
        .await;
        store
            .unlock(&KekSource::default_file(dir.path()), Clock::System)
            .await
            .unwrap();
        let ring = store.keyring().unwrap();
        for (column, id, plaintext) in [
            (EncryptedColumn::UserEmail, "u1", "legacy@example.com"),
            (EncryptedColumn::UserName, "u1", "Lena Legacy"),
            (
                EncryptedColumn::OrderShippingAddress,
                "o1",
                "{\"line1\":\"1 Old Road\"}",
            ),
            (
                EncryptedColumn::PaymentReference,
                "p1",
                "ch_legacy_reference",
            ),
        ] {
            let sealed = stored(&store, column, id).await;
            assert!(sealed.starts_with("v1."), "{column:?}: {sealed}");
            let context = FieldContext::new(column.table(), column.column(), id);
            assert_eq!(ring.decrypt_str(&context, &sealed).unwrap(), plaintext);
        }
    }

    /// Order `o1` of `user_id` and its charge `p1`, with the raw column values given.
    async fn order_o1_with_charge_p1(store: &Store, user_id: &str, address: &str, reference: &str) {
        sqlx::query(
            "INSERT INTO orders (id, user_id, status, currency, subtotal, total, \
             shipping_address, idempotency_key, request_hash, created_at, updated_at) \
             VALUES ('o1', $1, 'paid', 'USD', 1, 1, $2, 'k', 'h', 1, 1)",
        )
        .bind(user_id.to_owned())
        .bind(address.to_owned())
        .execute(&store.pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO payments (id, order_id, provider, provider_ref, kind, amount, created_at) \
             VALUES ('p1', 'o1', 'sandbox', $1, 'charge', 1, 1)",
        )
        .bind(reference.to_owned())
        .execute(&store.pool)
        .await
        .unwrap();
    }

    async fn stored(store: &Store, column: EncryptedColumn, id: &str) -> String {
        let rows = column
            .batch_not_like()
            .bind("no envelope starts like this")
            .bind(String::new())
            .bind(1000_i64)
            .fetch_all(&store.pool)
            .await
            .unwrap();
        rows.iter()
            .find(|r| r.get::<String, _>("id") == id)
            .map(|r| r.get("value"))
            .unwrap()
    }

    /// The job's write is conditional on the value it read, for every column: a value
    /// changed in between is never overwritten with stale data.
    #[tokio::test]
    async fn the_compare_and_set_never_overwrites_a_value_changed_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let store = unlocked_store(dir.path()).await;
        let user = store
            .create_user("cas@example.com", "Before", "hash", &[], 1)
            .await
            .unwrap();
        order_o1_with_charge_p1(&store, &user.id, "v1.stale.x", "v1.stale.y").await;
        for (column, id) in [
            (EncryptedColumn::UserEmail, user.id.as_str()),
            (EncryptedColumn::UserName, user.id.as_str()),
            (EncryptedColumn::OrderShippingAddress, "o1"),
            (EncryptedColumn::PaymentReference, "p1"),
        ] {
            let current = stored(&store, column, id).await;
            let stale = column
                .compare_and_set()
                .bind("v1.new.value")
                .bind(id.to_owned())
                .bind("v1.what-the-job-read-earlier")
                .execute(&store.pool)
                .await
                .unwrap();
            assert_eq!(stale.rows_affected(), 0, "{column:?}");
            assert_eq!(stored(&store, column, id).await, current, "{column:?}");
            let fresh = column
                .compare_and_set()
                .bind("v1.new.value")
                .bind(id.to_owned())
                .bind(current)
                .execute(&store.pool)
                .await
                .unwrap();
            assert_eq!(fresh.rows_affected(), 1, "{column:?}");
            assert_eq!(stored(&store, column, id).await, "v1.new.value");
        }
    }
}
