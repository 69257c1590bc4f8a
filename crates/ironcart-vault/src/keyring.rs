//! The unlocked data keys the app holds in memory while it runs: what the
//! store layer calls to encrypt a field before writing it, decrypt it after
//! reading it, compute a blind index, and find values the re-encryption job
//! must rewrite.

use std::collections::BTreeMap;
use std::fmt;

use crate::blind_index::{self, BlindIndexKey};
use crate::envelope::{self, FieldContext, VERSION};
use crate::kek::Kek;
use crate::keys::{KeyError, KeyId, KeyPurpose, KeyState, WrappedKey, unwrap_key};
use crate::primitives::{self, AeadKey, RandomnessUnavailable};

/// Why a field could not be encrypted or decrypted.
///
/// Decryption has exactly three outcomes besides success, and only the
/// first two say anything specific: [`Malformed`](Self::Malformed) and
/// [`UnknownKey`](Self::UnknownKey) depend only on the public text of the
/// envelope, while every authentication failure (tampered bytes, wrong row,
/// wrong column, wrong key) is the single [`Decrypt`](Self::Decrypt).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// The stored text is not a `v1` envelope.
    #[error("the stored value is not a valid encrypted envelope")]
    Malformed,
    /// The envelope names a key this ring does not hold (retired, or from
    /// another installation).
    #[error("the stored value is encrypted under unknown data key {0}")]
    UnknownKey(KeyId),
    /// Authentication failed; deliberately no detail.
    #[error("the stored value could not be decrypted")]
    Decrypt,
    /// A context part (table, column, row id) is empty.
    #[error("a field context needs a table, a column and a row id")]
    IncompleteContext,
    /// The value is too long for one AES-GCM encryption.
    #[error("the value is too long to encrypt")]
    TooLong,
    /// No nonce could be drawn.
    #[error(transparent)]
    Randomness(#[from] RandomnessUnavailable),
}

/// The blind index could not be computed (HMAC refused its key, which does
/// not happen for 32-byte keys; reported rather than assumed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the blind index could not be computed")]
pub struct BlindIndexError;

/// Unwrapped data keys, one of them primary, and the blind-index key.
///
/// Key material is wiped when the ring is dropped; `Debug` lists key ids
/// only. Share one ring (in an `Arc`) across request handlers: every method
/// takes `&self`.
pub struct Keyring {
    keys: BTreeMap<KeyId, AeadKey>,
    primary: KeyId,
    email_index: BlindIndexKey,
}

impl Keyring {
    /// Unwraps the rows of the `data_keys` table with `kek`.
    ///
    /// Loads every `Primary` and `Active` field key; skips `Retired` ones
    /// (values under them then fail as [`FieldError::UnknownKey`]). Exactly
    /// one field key and exactly one blind-index key must be primary, and
    /// every loaded key must unwrap: a ring that starts is a ring that works.
    pub fn unlock(kek: &Kek, rows: &[WrappedKey]) -> Result<Self, KeyError> {
        let mut keys = BTreeMap::new();
        let mut primaries = Vec::new();
        let mut index_roots = Vec::new();
        let mut seen = std::collections::BTreeSet::new();

        for row in rows {
            if !seen.insert(&row.id) {
                return Err(KeyError::DuplicateId { id: row.id.clone() });
            }
            match (row.purpose, row.state) {
                (_, KeyState::Retired) => {}
                (KeyPurpose::FieldEncryption, state) => {
                    let raw = unwrap_key(kek, row)?;
                    keys.insert(row.id.clone(), AeadKey::from_bytes(&raw));
                    if state == KeyState::Primary {
                        primaries.push(row.id.clone());
                    }
                }
                (KeyPurpose::BlindIndex, KeyState::Primary) => index_roots.push(row),
                (KeyPurpose::BlindIndex, KeyState::Active) => {}
            }
        }

        let primary = match primaries.as_slice() {
            [] => return Err(KeyError::NoPrimary),
            [one] => one.clone(),
            several => {
                return Err(KeyError::SeveralPrimaries {
                    count: several.len(),
                });
            }
        };
        let index_root = match index_roots.as_slice() {
            [] => return Err(KeyError::NoBlindIndexKey),
            [one] => unwrap_key(kek, one)?,
            several => {
                return Err(KeyError::SeveralBlindIndexKeys {
                    count: several.len(),
                });
            }
        };
        let email_index = BlindIndexKey::derive(&index_root, blind_index::EMAIL_INFO)?;

        Ok(Self {
            keys,
            primary,
            email_index,
        })
    }

    /// The key new values are encrypted under.
    pub fn primary_key_id(&self) -> &KeyId {
        &self.primary
    }

    /// Every field key the ring can decrypt with, in id order.
    pub fn key_ids(&self) -> impl Iterator<Item = &KeyId> {
        self.keys.keys()
    }

    /// Encrypts `plaintext` for the place `context`, under the primary key,
    /// with a fresh random nonce. Two encryptions of one value differ.
    pub fn encrypt(
        &self,
        context: &FieldContext<'_>,
        plaintext: &[u8],
    ) -> Result<String, FieldError> {
        if !context.is_complete() {
            return Err(FieldError::IncompleteContext);
        }
        let key = self
            .keys
            .get(&self.primary)
            .ok_or(FieldError::UnknownKey(self.primary.clone()))?;
        let nonce = primitives::random_nonce()?;
        let aad = context.associated_data(&self.primary);
        let sealed =
            primitives::seal(key, &nonce, &aad, plaintext).map_err(|_| FieldError::TooLong)?;
        Ok(format!(
            "{VERSION}.{}.{}",
            self.primary,
            crate::encoding::encode_sealed(&nonce, &sealed)
        ))
    }

    /// [`encrypt`](Self::encrypt) for text fields.
    pub fn encrypt_str(
        &self,
        context: &FieldContext<'_>,
        plaintext: &str,
    ) -> Result<String, FieldError> {
        self.encrypt(context, plaintext.as_bytes())
    }

    /// Decrypts an envelope read from the place `context`.
    ///
    /// The plaintext is returned in a buffer wiped on drop.
    pub fn decrypt(
        &self,
        context: &FieldContext<'_>,
        envelope: &str,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, FieldError> {
        let parsed = envelope::parse(envelope).ok_or(FieldError::Malformed)?;
        let key = self
            .keys
            .get(&parsed.key_id)
            .ok_or_else(|| FieldError::UnknownKey(parsed.key_id.clone()))?;
        let aad = context.associated_data(&parsed.key_id);
        primitives::open(key, &parsed.nonce, &aad, &parsed.ciphertext_and_tag)
            .map_err(|_| FieldError::Decrypt)
    }

    /// [`decrypt`](Self::decrypt) for text fields. Authentic bytes that are
    /// not UTF-8 (a value stored with [`encrypt`](Self::encrypt) as binary)
    /// count as [`FieldError::Decrypt`].
    pub fn decrypt_str(
        &self,
        context: &FieldContext<'_>,
        envelope: &str,
    ) -> Result<String, FieldError> {
        let bytes = self.decrypt(context, envelope)?;
        std::str::from_utf8(&bytes)
            .map(str::to_owned)
            .map_err(|_| FieldError::Decrypt)
    }

    /// Whether the re-encryption job should rewrite this stored value: true
    /// unless it is a well-formed envelope under the primary key. Malformed
    /// text counts as needing work, so the job surfaces it rather than
    /// skipping it silently.
    pub fn needs_reencryption(&self, envelope: &str) -> bool {
        envelope::envelope_key_id(envelope).as_ref() != Some(&self.primary)
    }

    /// The re-encryption job's step for one value: decrypts under whichever
    /// key it names and encrypts again under the primary key, for the same
    /// place.
    pub fn reencrypt(
        &self,
        context: &FieldContext<'_>,
        envelope: &str,
    ) -> Result<String, FieldError> {
        let plaintext = self.decrypt(context, envelope)?;
        self.encrypt(context, &plaintext)
    }

    /// The blind index of an email address (normalised first, see
    /// [`normalize_email`](crate::normalize_email)): 64 hex digits for the
    /// indexed `email_index` column.
    pub fn email_blind_index(&self, email: &str) -> Result<String, BlindIndexError> {
        self.email_index
            .index(&blind_index::normalize_email(email))
            .map_err(|_| BlindIndexError)
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("primary", &self.primary)
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}
