//! Field encryption applied in the store: the domain hands plaintext in and gets
//! plaintext back, the database only ever sees `ironcart-vault` envelopes.
//!
//! The unwrapped keys live in one [`Keyring`] shared by every clone of the [`Store`]
//! (and so by the whole `AppState`): `Arc<RwLock<Arc<Keyring>>>`, swapped whole when
//! the `data_keys` rows change. A running server picks up a key written by another
//! process (`ironcart keys rotate`) in two ways: it reloads the rows every
//! [`KEY_RELOAD_INTERVAL`], and at once when it meets an envelope under a key id it
//! does not hold.
//!
//! A value that fails to decrypt (edited bytes, a ciphertext moved from another row or
//! column, an unknown or retired key) is never returned: the read fails with
//! [`StoreError::Undecryptable`] and a `crypto.decrypt_failed` security event naming
//! the table, column and row id, never the value.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use ironcart_vault::{
    FieldContext, FieldError, Kek, KekError, KeyError, KeyId, KeyPurpose, KeyState, Keyring,
    RetireRefused, WrappedKey,
};
use sqlx::Row;

use super::{Store, StoreError, StoreResult};
use crate::clock::Clock;
use crate::security::audit::{AuditEvent, Outcome, SecurityEvents};

/// How often a server re-reads `data_keys` to pick up keys added by the CLI.
pub const KEY_RELOAD_INTERVAL: Duration = Duration::from_secs(10);

/// The environment variable that may hold the KEK itself (standard base64).
pub const KEK_VARIABLE: &str = "IRONCART_KEK";

/// Where the key-encryption key comes from. Never from the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KekSource {
    /// The base64 KEK in the `IRONCART_KEK` environment variable.
    Variable,
    /// A file of mode 0600 (or stricter); created with a new KEK on first start.
    File(PathBuf),
}

impl KekSource {
    /// The default: `<data-dir>/keys/kek`.
    pub fn default_file(data_dir: &Path) -> Self {
        KekSource::File(data_dir.join("keys").join("kek"))
    }
}

/// Why keys could not be loaded or managed. Messages carry key ids, KEK ids and
/// paths, never key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error(transparent)]
    Kek(#[from] KekError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Retire(#[from] RetireRefused),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "the KEK file {0} does not exist, but the database holds data keys: \
         give the KEK they are wrapped under (--kek-file, IRONCART_KEK_FILE or IRONCART_KEK)"
    )]
    MissingKekFile(PathBuf),
    #[error("the data_keys row {0:?} is malformed")]
    MalformedRow(String),
    #[error("no data key has the id {0:?}")]
    UnknownKey(String),
    #[error("key {0} was demoted less than {1} seconds ago; servers may still write under it")]
    RecentlyDemoted(KeyId, i64),
    #[error("another process changed the data keys at the same time; run the command again")]
    Concurrent,
}

/// The KEK and the unwrapped keyring, shared by every clone of a store.
#[derive(Debug)]
pub(crate) struct FieldCrypto {
    kek: RwLock<Arc<Kek>>,
    ring: RwLock<Arc<Keyring>>,
    pub(crate) clock: Clock,
}

/// The slot a store's keys are put in once, by [`Store::unlock`].
pub(crate) type CryptoSlot = Arc<OnceLock<FieldCrypto>>;

impl FieldCrypto {
    pub(crate) fn ring(&self) -> Arc<Keyring> {
        match self.ring.read() {
            Ok(ring) => ring.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub(crate) fn kek(&self) -> Arc<Kek> {
        match self.kek.read() {
            Ok(kek) => kek.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub(crate) fn set_ring(&self, ring: Arc<Keyring>) {
        match self.ring.write() {
            Ok(mut slot) => *slot = ring,
            Err(poisoned) => *poisoned.into_inner() = ring,
        }
    }

    pub(crate) fn set_kek(&self, kek: Arc<Kek>) {
        match self.kek.write() {
            Ok(mut slot) => *slot = kek,
            Err(poisoned) => *poisoned.into_inner() = kek,
        }
    }
}

/// Loads the KEK; a missing file is created (mode 0600) only when the database holds
/// no data keys yet, so a lost or misplaced KEK is an error, never a silent new key.
fn load_kek(source: &KekSource, first_start: bool) -> Result<Kek, KeyringError> {
    match source {
        KekSource::Variable => Ok(Kek::from_env(KEK_VARIABLE)?),
        KekSource::File(path) if path.exists() => Ok(Kek::from_file(path)?),
        KekSource::File(path) if first_start => {
            if let Some(dir) = path.parent() {
                crate::bootstrap::create_private_dir(dir).map_err(|e| {
                    KeyringError::Kek(KekError::Io {
                        path: dir.to_owned(),
                        source: std::io::Error::other(format!("{e:#}")),
                    })
                })?;
            }
            let kek = Kek::create_file(path)?;
            tracing::warn!(
                kek_file = %path.display(),
                kek_id = %kek.id(),
                "created a new key-encryption key; back it up apart from the database"
            );
            Ok(kek)
        }
        KekSource::File(path) => Err(KeyringError::MissingKekFile(path.clone())),
    }
}

pub(crate) fn key_from_row(row: &sqlx::any::AnyRow) -> Result<WrappedKey, KeyringError> {
    let id: String = row.try_get("id").map_err(StoreError::from)?;
    let purpose: String = row.try_get("purpose").map_err(StoreError::from)?;
    let state: String = row.try_get("state").map_err(StoreError::from)?;
    let malformed = || KeyringError::MalformedRow(id.clone());
    Ok(WrappedKey {
        id: KeyId::parse(&id).map_err(|_| malformed())?,
        purpose: KeyPurpose::parse(&purpose).ok_or_else(malformed)?,
        wrapped: row.try_get("wrapped").map_err(StoreError::from)?,
        created_at: row.try_get("created_at").map_err(StoreError::from)?,
        state: KeyState::parse(&state).ok_or_else(malformed)?,
    })
}

/// Why a value failed, as a short code for the security event.
fn failure_reason(err: &FieldError) -> &'static str {
    match err {
        FieldError::Malformed => "malformed",
        FieldError::UnknownKey(_) => "unknown_key",
        FieldError::Decrypt => "authentication_failed",
        FieldError::IncompleteContext => "incomplete_context",
        FieldError::TooLong => "too_long",
        FieldError::Randomness(_) => "randomness",
    }
}

impl Store {
    /// Loads the KEK and unwraps the data keys, creating both on first start
    /// (together with the encryption of rows written before encryption existed).
    /// Must run before any query that touches personal data.
    pub async fn unlock(&self, source: &KekSource, clock: Clock) -> Result<(), KeyringError> {
        let rows = self.data_keys().await?;
        let kek = load_kek(source, rows.is_empty())?;
        let ring = if rows.is_empty() {
            match self.bootstrap_data_keys(&kek, clock.now()).await {
                Ok(ring) => ring,
                // Another instance bootstrapped at the same moment: use its keys.
                Err(KeyringError::Store(StoreError::Conflict)) => {
                    Keyring::unlock(&kek, &self.data_keys().await?)?
                }
                Err(other) => return Err(other),
            }
        } else {
            Keyring::unlock(&kek, &rows)?
        };
        tracing::info!(
            kek_id = %kek.id(),
            primary_key = %ring.primary_key_id(),
            "field encryption keys loaded"
        );
        let (kek, ring) = (Arc::new(kek), Arc::new(ring));
        if let Some(existing) = self.crypto.get() {
            existing.set_kek(kek);
            existing.set_ring(ring);
            return Ok(());
        }
        let _ = self.crypto.set(FieldCrypto {
            kek: RwLock::new(kek),
            ring: RwLock::new(ring),
            clock,
        });
        Ok(())
    }

    /// Writes the first data keys and, in the same transaction, encrypts any row
    /// stored before field encryption existed. Only ever runs while `data_keys` is
    /// empty: afterwards plaintext in an encrypted column is tampering, not legacy.
    async fn bootstrap_data_keys(&self, kek: &Kek, now: i64) -> Result<Keyring, KeyringError> {
        let keys = ironcart_vault::bootstrap_keys(kek, now)?;
        let ring = Keyring::unlock(kek, &keys)?;
        let mut tx = self.begin_write().await?;
        for key in &keys {
            super::keys::insert_key(&mut tx, key).await?;
        }
        super::keys::encrypt_legacy_rows(&mut tx, &ring).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(ring)
    }

    pub(crate) fn crypto(&self) -> StoreResult<&FieldCrypto> {
        self.crypto.get().ok_or(StoreError::Locked)
    }

    /// The keyring in use (for the blind index and for tests).
    pub fn keyring(&self) -> StoreResult<Arc<Keyring>> {
        Ok(self.crypto()?.ring())
    }

    /// Re-reads `data_keys` and swaps in the new keyring. On failure the current
    /// ring stays (a server keeps serving) and the caller decides what to log.
    pub async fn reload_keys(&self) -> Result<(), KeyringError> {
        let crypto = self.crypto()?;
        let rows = self.data_keys().await?;
        let ring = Keyring::unlock(&crypto.kek(), &rows)?;
        crypto.set_ring(Arc::new(ring));
        Ok(())
    }

    /// Encrypts one value for its place.
    pub(crate) fn seal(
        &self,
        table: &str,
        column: &str,
        row_id: &str,
        plaintext: &str,
    ) -> StoreResult<String> {
        self.crypto()?
            .ring()
            .encrypt_str(&FieldContext::new(table, column, row_id), plaintext)
            .map_err(|_| StoreError::Encrypt)
    }

    /// The blind index of an email, for `users.email_index`.
    pub(crate) fn email_index(&self, email: &str) -> StoreResult<String> {
        self.crypto()?
            .ring()
            .email_blind_index(email)
            .map_err(|_| StoreError::Encrypt)
    }

    /// Decrypts one stored value, or records the failure and refuses.
    pub(crate) async fn open(
        &self,
        table: &'static str,
        column: &'static str,
        row_id: &str,
        envelope: &str,
    ) -> StoreResult<String> {
        let context = FieldContext::new(table, column, row_id);
        let mut result = self.crypto()?.ring().decrypt_str(&context, envelope);
        if matches!(result, Err(FieldError::UnknownKey(_))) && self.reload_keys().await.is_ok() {
            result = self.crypto()?.ring().decrypt_str(&context, envelope);
        }
        match result {
            Ok(plaintext) => Ok(plaintext),
            Err(err) => Err(self
                .decrypt_failed(table, column, row_id, failure_reason(&err))
                .await),
        }
    }

    /// Records a `crypto.decrypt_failed` event (ids only) and returns the error.
    pub(crate) async fn decrypt_failed(
        &self,
        table: &'static str,
        column: &'static str,
        row_id: &str,
        reason: &'static str,
    ) -> StoreError {
        let now = match self.crypto() {
            Ok(crypto) => crypto.clock.now(),
            Err(_) => Clock::System.now(),
        };
        let event = AuditEvent::new(now, "crypto.decrypt_failed", Outcome::Failure)
            .target(format!("{table}.{column}:{row_id}"))
            .details(serde_json::json!({
                "table": table,
                "column": column,
                "row_id": row_id,
                "reason": reason,
            }));
        SecurityEvents::new(self.clone()).record(event).await;
        StoreError::Undecryptable {
            table,
            column,
            row_id: row_id.to_owned(),
        }
    }
}

/// An empty slot, filled by [`Store::unlock`].
pub(crate) fn new_slot() -> CryptoSlot {
    Arc::new(OnceLock::new())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_missing_kek_file_is_created_owner_only_on_first_start_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys").join("kek");
        let source = KekSource::File(path.clone());

        let refused = load_kek(&source, false).unwrap_err();
        assert!(matches!(refused, KeyringError::MissingKekFile(_)));
        assert!(!path.exists(), "no KEK may appear when data keys exist");

        let created = load_kek(&source, true).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = std::fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700);
        // Loaded again, it is the same KEK.
        assert_eq!(load_kek(&source, false).unwrap().id(), created.id());
    }

    #[test]
    fn a_kek_file_others_may_read_is_refused_without_quoting_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek");
        let text = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let err = load_kek(&KekSource::File(path), true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("mode 0640"), "{err}");
        assert!(!err.contains(text));
    }
}
