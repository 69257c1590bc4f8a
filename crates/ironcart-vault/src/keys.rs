//! Data keys as the database stores them, and the pure functions that create,
//! rotate, re-wrap and retire them.
//!
//! The app keeps one row per [`WrappedKey`] in a `data_keys` table
//! (`id TEXT PRIMARY KEY, purpose TEXT, wrapped TEXT, created_at BIGINT,
//! state TEXT`). Nothing here touches the database: each function takes the
//! rows it needs and returns the rows to write, so the store layer decides
//! the transaction and this crate decides the cryptography.
//!
//! A wrapped key is `kw1.<kek id>.<base64url(nonce || ciphertext || tag)>`:
//! the 32-byte key sealed with AES-256-GCM under the KEK's wrapping key, with
//! associated data binding it to its KEK id, key id and purpose. Copying the
//! `wrapped` text to another row, or relabelling a blind-index key as a field
//! key, makes it fail to unwrap.
//!
//! Life of a field key: `Primary` (new values are encrypted under it) →
//! `Active` (a newer key took over; still decrypts old values while the
//! re-encryption job rewrites them) → `Retired` (no value uses it any more,
//! which the app proves by counting; the keyring no longer loads it).

use std::fmt;

use zeroize::Zeroizing;

use crate::encoding::{associated_data, decode_sealed, encode_sealed};
use crate::kek::{Kek, KekId};
use crate::primitives::{self, HkdfOutputTooLong, KEY_LEN, RandomnessUnavailable, SealFailed};

const WRAP_VERSION: &str = "kw1";
const WRAP_AAD_LABEL: &[u8] = b"ironcart-vault kw1 wrapped key";
const MAX_KEY_ID_LEN: usize = 32;

/// The identifier of a data key, written into every envelope it encrypts.
/// Lowercase ASCII letters, digits and `-`, 1 to 32 characters: safe in a
/// dotted envelope, in a SQL `LIKE` pattern and in logs.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

/// A key id outside the allowed alphabet or length.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a key id is 1 to 32 characters of a-z, 0-9 and '-'")]
pub struct InvalidKeyId;

impl KeyId {
    /// Validates a key id read from the database.
    pub fn parse(text: &str) -> Result<Self, InvalidKeyId> {
        let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
        if text.is_empty() || text.len() > MAX_KEY_ID_LEN || !text.chars().all(allowed) {
            return Err(InvalidKeyId);
        }
        Ok(Self(text.to_owned()))
    }

    /// A new random id: 64 random bits as 16 hex digits, so ids reveal
    /// neither creation order nor how many keys exist.
    fn generate() -> Result<Self, RandomnessUnavailable> {
        let random = primitives::random_key()?;
        Ok(Self(crate::encoding::hex(&random[..8])))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text every envelope under this key starts with (`v1.<id>.`), for
    /// the app's count of values still using a key:
    /// `SELECT count(*) FROM customers WHERE email_enc LIKE $1 || '%'`.
    /// Ids contain no `%`, `_` or `\`, so the prefix needs no escaping.
    pub fn envelope_prefix(&self) -> String {
        format!("{}.{}.", crate::envelope::VERSION, self.0)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.0)
    }
}

/// Where a key is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyState {
    /// Decrypts, but no longer encrypts: values under it are waiting for the
    /// re-encryption job.
    Active,
    /// Encrypts every new value (field keys) or computes every blind index.
    Primary,
    /// No value uses it; it is not loaded and its row may be deleted.
    Retired,
}

impl KeyState {
    /// The text stored in the `state` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Primary => "primary",
            Self::Retired => "retired",
        }
    }

    /// Reads the `state` column.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "active" => Some(Self::Active),
            "primary" => Some(Self::Primary),
            "retired" => Some(Self::Retired),
            _ => None,
        }
    }
}

/// What a key is for. Each key has exactly one purpose, bound into its
/// wrapping, so that key material is never used for two things.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyPurpose {
    /// AES-256-GCM data key for field envelopes.
    FieldEncryption,
    /// Root secret from which blind-index HMAC keys are derived (HKDF).
    BlindIndex,
}

impl KeyPurpose {
    /// The text stored in the `purpose` column (also bound into the wrapping).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FieldEncryption => "field",
            Self::BlindIndex => "blind-index",
        }
    }

    /// Reads the `purpose` column.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "field" => Some(Self::FieldEncryption),
            "blind-index" => Some(Self::BlindIndex),
            _ => None,
        }
    }
}

/// One row of the `data_keys` table. `wrapped` is ciphertext under the KEK,
/// so the whole row is safe to print and to back up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    /// Primary key of the row, and the id envelopes name.
    pub id: KeyId,
    /// What the key is for.
    pub purpose: KeyPurpose,
    /// `kw1.<kek id>.<base64url(nonce || ciphertext || tag)>`.
    pub wrapped: String,
    /// Unix seconds, as passed in by the caller (this crate never reads the clock).
    pub created_at: i64,
    /// Where the key is in its life.
    pub state: KeyState,
}

impl WrappedKey {
    /// The id of the KEK this key is wrapped under, if the text is well formed.
    pub fn kek_id(&self) -> Option<KekId> {
        parse_wrapped(&self.wrapped).map(|(kek_id, _)| kek_id)
    }
}

/// Splits `kw1.<kek id>.<sealed>`; the sealed part is checked when decoded.
fn parse_wrapped(wrapped: &str) -> Option<(KekId, &str)> {
    let mut parts = wrapped.splitn(3, '.');
    let (version, kek_id, sealed) = (parts.next()?, parts.next()?, parts.next()?);
    if version != WRAP_VERSION {
        return None;
    }
    Some((KekId::parse(kek_id)?, sealed))
}

/// Why key material could not be loaded, created or re-wrapped. Messages
/// name key ids and KEK ids, never key bytes.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key is wrapped under another KEK than the one loaded (the wrong KEK
    /// was deployed, or a KEK rotation is half done).
    #[error("data key {id} is wrapped under KEK {wrapped_under}, but the loaded KEK is {loaded}")]
    WrongKek {
        /// The key that could not be opened.
        id: KeyId,
        /// The KEK id written in its row.
        wrapped_under: KekId,
        /// The KEK id of the KEK in hand.
        loaded: KekId,
    },
    /// The right KEK failed to unwrap the key: its row was altered, or copied
    /// from another row.
    #[error("data key {id} failed to unwrap: its row was altered or moved")]
    UnwrapFailed {
        /// The key that could not be opened.
        id: KeyId,
    },
    /// The `wrapped` text is not in the `kw1` format.
    #[error("data key {id} has a malformed wrapped value")]
    Malformed {
        /// The offending key.
        id: KeyId,
    },
    /// Two rows share one id.
    #[error("data key id {id} appears more than once")]
    DuplicateId {
        /// The repeated id.
        id: KeyId,
    },
    /// No field key is primary, so nothing could be encrypted.
    #[error("no field-encryption key is primary")]
    NoPrimary,
    /// More than one field key claims to be primary.
    #[error("{count} field-encryption keys are primary; exactly one must be")]
    SeveralPrimaries {
        /// How many claim it.
        count: usize,
    },
    /// No blind-index key is primary, so no index could be computed.
    #[error("no blind-index key is primary")]
    NoBlindIndexKey,
    /// More than one blind-index key is primary.
    #[error("{count} blind-index keys are primary; exactly one must be")]
    SeveralBlindIndexKeys {
        /// How many claim it.
        count: usize,
    },
    /// A new key could not be drawn.
    #[error(transparent)]
    Randomness(#[from] RandomnessUnavailable),
    /// Sealing a 32-byte key failed (cannot happen; reported rather than assumed).
    #[error(transparent)]
    Seal(#[from] SealFailed),
    /// HKDF refused to derive a blind-index key (cannot happen for 32 bytes;
    /// reported rather than assumed).
    #[error(transparent)]
    Derivation(#[from] HkdfOutputTooLong),
}

/// A key in memory, wiped on drop.
pub(crate) type RawKey = Zeroizing<[u8; KEY_LEN]>;

fn wrap_aad(kek_id: &KekId, id: &KeyId, purpose: KeyPurpose) -> Vec<u8> {
    associated_data(
        WRAP_AAD_LABEL,
        &[
            kek_id.as_str().as_bytes(),
            id.as_str().as_bytes(),
            purpose.as_str().as_bytes(),
        ],
    )
}

fn wrap(kek: &Kek, id: &KeyId, purpose: KeyPurpose, key: &RawKey) -> Result<String, KeyError> {
    let nonce = primitives::random_nonce()?;
    let aad = wrap_aad(kek.id(), id, purpose);
    let sealed = primitives::seal(kek.wrapping_key(), &nonce, &aad, key.as_slice())?;
    Ok(format!(
        "{WRAP_VERSION}.{}.{}",
        kek.id(),
        encode_sealed(&nonce, &sealed)
    ))
}

/// Opens a wrapped key with `kek`.
pub(crate) fn unwrap_key(kek: &Kek, key: &WrappedKey) -> Result<RawKey, KeyError> {
    let malformed = || KeyError::Malformed { id: key.id.clone() };
    let (wrapped_under, sealed_text) = parse_wrapped(&key.wrapped).ok_or_else(malformed)?;
    if &wrapped_under != kek.id() {
        return Err(KeyError::WrongKek {
            id: key.id.clone(),
            wrapped_under,
            loaded: kek.id().clone(),
        });
    }
    let (nonce, sealed) = decode_sealed(sealed_text).ok_or_else(malformed)?;

    let aad = wrap_aad(kek.id(), &key.id, key.purpose);
    let plain = primitives::open(kek.wrapping_key(), &nonce, &aad, &sealed)
        .map_err(|_| KeyError::UnwrapFailed { id: key.id.clone() })?;
    let raw: [u8; KEY_LEN] = plain
        .as_slice()
        .try_into()
        .map_err(|_| KeyError::UnwrapFailed { id: key.id.clone() })?;
    Ok(Zeroizing::new(raw))
}

fn new_key(kek: &Kek, purpose: KeyPurpose, now: i64) -> Result<WrappedKey, KeyError> {
    let id = KeyId::generate()?;
    let raw = primitives::random_key()?;
    let wrapped = wrap(kek, &id, purpose, &raw)?;
    Ok(WrappedKey {
        id,
        purpose,
        wrapped,
        created_at: now,
        state: KeyState::Primary,
    })
}

/// The rows a fresh installation starts with: one primary field key and one
/// blind-index root key, both wrapped under `kek`.
pub fn bootstrap_keys(kek: &Kek, now: i64) -> Result<Vec<WrappedKey>, KeyError> {
    Ok(vec![
        new_key(kek, KeyPurpose::FieldEncryption, now)?,
        new_key(kek, KeyPurpose::BlindIndex, now)?,
    ])
}

/// The outcome of [`rotate_data_key`]: insert `added`, and set `demoted`'s
/// state to `active`, in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataKeyRotation {
    /// The new primary field key.
    pub added: WrappedKey,
    /// The previous primary, now only decrypting.
    pub demoted: Option<KeyId>,
}

impl DataKeyRotation {
    /// The full set of rows after the rotation, as the database will hold them.
    pub fn apply(&self, keys: &[WrappedKey]) -> Vec<WrappedKey> {
        let mut rows: Vec<WrappedKey> = keys
            .iter()
            .cloned()
            .map(|mut key| {
                if Some(&key.id) == self.demoted.as_ref() {
                    key.state = KeyState::Active;
                }
                key
            })
            .collect();
        rows.push(self.added.clone());
        rows
    }
}

/// Creates a new primary field key and demotes the current one.
///
/// Refuses when any current row is wrapped under another KEK: a key added
/// under the wrong KEK would leave the ring impossible to unlock.
pub fn rotate_data_key(
    kek: &Kek,
    current: &[WrappedKey],
    now: i64,
) -> Result<DataKeyRotation, KeyError> {
    for key in current {
        let wrapped_under = key
            .kek_id()
            .ok_or_else(|| KeyError::Malformed { id: key.id.clone() })?;
        if &wrapped_under != kek.id() {
            return Err(KeyError::WrongKek {
                id: key.id.clone(),
                wrapped_under,
                loaded: kek.id().clone(),
            });
        }
    }
    let primaries: Vec<&WrappedKey> = current
        .iter()
        .filter(|key| key.purpose == KeyPurpose::FieldEncryption && key.state == KeyState::Primary)
        .collect();
    if primaries.len() > 1 {
        return Err(KeyError::SeveralPrimaries {
            count: primaries.len(),
        });
    }
    Ok(DataKeyRotation {
        added: new_key(kek, KeyPurpose::FieldEncryption, now)?,
        demoted: primaries.first().map(|key| key.id.clone()),
    })
}

/// KEK rotation: every row re-wrapped under `new`, with the same id,
/// purpose, state and creation time. The data keys themselves do not change,
/// so no field value needs rewriting.
///
/// Rows already under `new` are checked (they must unwrap) and kept as they
/// are, so a rotation interrupted half way can simply be run again.
pub fn rewrap_all(old: &Kek, new: &Kek, keys: &[WrappedKey]) -> Result<Vec<WrappedKey>, KeyError> {
    keys.iter()
        .map(|key| {
            if key.kek_id().as_ref() == Some(new.id()) {
                unwrap_key(new, key)?;
                return Ok(key.clone());
            }
            let raw = unwrap_key(old, key)?;
            Ok(WrappedKey {
                wrapped: wrap(new, &key.id, key.purpose, &raw)?,
                ..key.clone()
            })
        })
        .collect()
}

/// Why a key may not retire yet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetireRefused {
    /// The primary key encrypts new values; promote another one first.
    #[error("key {id} is primary; rotate to a new data key first")]
    Primary {
        /// The key.
        id: KeyId,
    },
    /// Stored values still name this key; the re-encryption job is not done.
    #[error("key {id} still protects {count} stored values")]
    InUse {
        /// The key.
        id: KeyId,
        /// How many values the app counted.
        count: u64,
    },
    /// Retiring the blind-index root would orphan every index value; that
    /// needs a full re-index, which this crate does not offer yet.
    #[error("key {id} is the blind-index key; it cannot retire without a re-index")]
    BlindIndex {
        /// The key.
        id: KeyId,
    },
}

/// Retires `key` if the app's count of stored values still encrypted under
/// it (over every encrypted column, see [`KeyId::envelope_prefix`]) is zero.
/// Returns the row to write.
pub fn retire(key: &WrappedKey, values_still_using: u64) -> Result<WrappedKey, RetireRefused> {
    let id = key.id.clone();
    if key.purpose == KeyPurpose::BlindIndex {
        return Err(RetireRefused::BlindIndex { id });
    }
    if key.state == KeyState::Primary {
        return Err(RetireRefused::Primary { id });
    }
    if values_still_using > 0 {
        return Err(RetireRefused::InUse {
            id,
            count: values_still_using,
        });
    }
    Ok(WrappedKey {
        state: KeyState::Retired,
        ..key.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_accept_only_the_safe_alphabet() {
        assert!(KeyId::parse("0123abcd-ef").is_ok());
        for bad in ["", "A1", "a.b", "a%", "a_b", "é", &"a".repeat(33)] {
            assert_eq!(KeyId::parse(bad), Err(InvalidKeyId), "{bad:?}");
        }
    }

    #[test]
    fn generated_ids_are_16_hex_digits_and_differ() -> Result<(), RandomnessUnavailable> {
        let a = KeyId::generate()?;
        let b = KeyId::generate()?;
        assert_eq!(a.as_str().len(), 16);
        assert!(KeyId::parse(a.as_str()).is_ok());
        assert_ne!(a, b);
        Ok(())
    }

    #[test]
    fn states_and_purposes_round_trip_through_their_column_text() {
        for state in [KeyState::Active, KeyState::Primary, KeyState::Retired] {
            assert_eq!(KeyState::parse(state.as_str()), Some(state));
        }
        for purpose in [KeyPurpose::FieldEncryption, KeyPurpose::BlindIndex] {
            assert_eq!(KeyPurpose::parse(purpose.as_str()), Some(purpose));
        }
        assert_eq!(KeyState::parse("Primary"), None);
        assert_eq!(KeyPurpose::parse(""), None);
    }
}
