//! The key-encryption key (KEK): the one secret that lives outside the
//! database, from which the vault derives the key that wraps every data key.
//!
//! The KEK is 32 random bytes, written as standard base64, given either in a
//! file that only its owner may read (mode 0600 or stricter) or in an
//! environment variable. It is never stored next to the data it protects, so
//! a stolen database dump (or backup) is not enough to read customer fields.
//!
//! The raw KEK is used only as HKDF input and dropped (wiped) right after:
//!
//! | derived value | HKDF `info` | use |
//! |---|---|---|
//! | wrapping key (32 bytes) | `ironcart-vault v1 kek: wrap data keys` | AES-256-GCM key that wraps data keys |
//! | KEK id (first 8 bytes, hex) | `ironcart-vault v1 kek: identifier` | public fingerprint written into each wrapped key |
//!
//! Both use the salt `ironcart-vault v1`. The KEK id lets an operator see
//! which KEK a wrapped key belongs to (during a KEK rotation, or when the
//! wrong KEK is deployed) without revealing anything about the KEK: it is a
//! PRF output under a label no other use shares.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::primitives::{self, AeadKey, HkdfOutputTooLong, KEY_LEN, RandomnessUnavailable};

/// HKDF salt shared by every derivation of this crate (a domain label).
pub(crate) const HKDF_SALT: &[u8] = b"ironcart-vault v1";
const WRAP_INFO: &[u8] = b"ironcart-vault v1 kek: wrap data keys";
const ID_INFO: &[u8] = b"ironcart-vault v1 kek: identifier";

/// A KEK file larger than this is certainly not a base64 key; refusing early
/// keeps a wrong path (a log file, a disk image) from being read into memory.
const MAX_KEK_FILE_LEN: u64 = 1024;

/// Why a KEK could not be loaded. Messages name the file or variable, never
/// its content.
#[derive(Debug, thiserror::Error)]
pub enum KekError {
    /// The KEK file could not be read (missing, unreadable, not a file).
    #[error("cannot read the KEK file {path}: {source}")]
    Io {
        /// The file that was asked for.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The KEK file is readable or writable by someone other than its owner.
    #[error(
        "the KEK file {path} has mode {mode:04o}, which lets other users read or change it; \
         restrict it with `chmod 600 {path}`"
    )]
    Permissions {
        /// The offending file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The platform gives no way to check who may read the file.
    #[error("cannot verify the permissions of the KEK file {path} on this platform")]
    PermissionsUnverifiable {
        /// The file that was asked for.
        path: PathBuf,
    },
    /// The environment variable is not set (or not valid Unicode).
    #[error("the environment variable {var} holding the KEK is not set")]
    MissingVariable {
        /// The variable's name.
        var: String,
    },
    /// The value is not the standard base64 of exactly 32 bytes. The decoder's
    /// own message is left out on purpose: it quotes the offending character,
    /// which is part of the secret.
    #[error("the KEK from {origin} is not the base64 encoding of 32 bytes")]
    Encoding {
        /// Where the value came from: a file path or a variable name.
        origin: String,
    },
    /// A new KEK could not be drawn.
    #[error(transparent)]
    Randomness(#[from] RandomnessUnavailable),
    /// HKDF refused to derive the wrapping key (cannot happen for the
    /// lengths used here; reported rather than assumed).
    #[error(transparent)]
    Derivation(#[from] HkdfOutputTooLong),
}

/// A short public fingerprint of a KEK (16 hex digits), written into every
/// wrapped data key. Safe to log.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KekId(String);

impl KekId {
    /// The fingerprint as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        let is_hex = |c: char| c.is_ascii_digit() || ('a'..='f').contains(&c);
        (text.len() == 16 && text.chars().all(is_hex)).then(|| Self(text.to_owned()))
    }
}

impl fmt::Display for KekId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KekId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KekId({})", self.0)
    }
}

/// A loaded key-encryption key. Holds only what is derived from it (the raw
/// bytes are wiped as soon as the derivation is done); `Debug` shows the
/// public [`KekId`] and nothing else.
pub struct Kek {
    wrapping_key: AeadKey,
    id: KekId,
}

impl Kek {
    /// Loads the KEK from `path`, refusing a file whose mode grants anything
    /// beyond read and write to its owner (0600, 0400 and 0200 pass; 0640,
    /// 0644, 0660 and 0700 are refused).
    pub fn from_file(path: &Path) -> Result<Self, KekError> {
        let io_error = |source| KekError::Io {
            path: path.to_owned(),
            source,
        };
        let metadata = std::fs::metadata(path).map_err(io_error)?;
        if !metadata.is_file() {
            return Err(io_error(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a regular file",
            )));
        }
        check_owner_only(path, &metadata)?;

        let mut text = Zeroizing::new(String::new());
        std::fs::File::open(path)
            .map_err(io_error)?
            .take(MAX_KEK_FILE_LEN)
            .read_to_string(&mut text)
            .map_err(io_error)?;
        Self::decode(&text, || format!("file {}", path.display()))
    }

    /// Loads the KEK from the environment variable `var` (standard base64).
    pub fn from_env(var: &str) -> Result<Self, KekError> {
        let value = Zeroizing::new(std::env::var(var).map_err(|_| KekError::MissingVariable {
            var: var.to_owned(),
        })?);
        Self::decode(&value, || format!("environment variable {var}"))
    }

    /// Loads the KEK from a base64 value already in hand (a secrets manager's
    /// answer, for instance). Surrounding whitespace is ignored.
    pub fn from_base64(value: &str) -> Result<Self, KekError> {
        Self::decode(value, || "the given value".to_owned())
    }

    /// Draws a new random KEK, returned with its base64 text so that the
    /// caller can store it (in a secrets manager, or with [`Kek::create_file`]).
    pub fn generate() -> Result<(Self, Zeroizing<String>), KekError> {
        let raw = primitives::random_key()?;
        let text = Zeroizing::new(STANDARD.encode(raw.as_slice()));
        Ok((Self::from_raw(&raw)?, text))
    }

    /// Draws a new KEK and writes it to `path`, which must not exist yet. The
    /// file is created with mode 0600 from the start, so the key is never
    /// readable by others, not even for an instant.
    pub fn create_file(path: &Path) -> Result<Self, KekError> {
        use std::io::Write;

        let (kek, text) = Self::generate()?;
        let io_error = |source| KekError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = owner_only_new_file(path).map_err(io_error)?;
        file.write_all(text.as_bytes()).map_err(io_error)?;
        file.write_all(b"\n").map_err(io_error)?;
        file.sync_all().map_err(io_error)?;
        Ok(kek)
    }

    /// The KEK's public fingerprint.
    pub fn id(&self) -> &KekId {
        &self.id
    }

    pub(crate) fn wrapping_key(&self) -> &AeadKey {
        &self.wrapping_key
    }

    fn decode(text: &str, origin: impl Fn() -> String) -> Result<Self, KekError> {
        let encoding_error = || KekError::Encoding { origin: origin() };
        let bytes = Zeroizing::new(
            STANDARD
                .decode(text.trim().as_bytes())
                .map_err(|_| encoding_error())?,
        );
        let raw: Zeroizing<[u8; KEY_LEN]> =
            Zeroizing::new(bytes.as_slice().try_into().map_err(|_| encoding_error())?);
        Self::from_raw(&raw)
    }

    fn from_raw(raw: &[u8; KEY_LEN]) -> Result<Self, KekError> {
        let mut wrapping = Zeroizing::new([0u8; KEY_LEN]);
        let mut id = [0u8; 8];
        primitives::hkdf_sha256(HKDF_SALT, raw, WRAP_INFO, wrapping.as_mut())?;
        primitives::hkdf_sha256(HKDF_SALT, raw, ID_INFO, &mut id)?;
        Ok(Self {
            wrapping_key: AeadKey::from_bytes(&wrapping),
            id: KekId(crate::encoding::hex(&id)),
        })
    }
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kek")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

#[cfg(unix)]
fn check_owner_only(path: &Path, metadata: &std::fs::Metadata) -> Result<(), KekError> {
    use std::os::unix::fs::PermissionsExt;

    let mode = metadata.permissions().mode() & 0o7777;
    if mode & !0o600 != 0 {
        return Err(KekError::Permissions {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_owner_only(path: &Path, _metadata: &std::fs::Metadata) -> Result<(), KekError> {
    Err(KekError::PermissionsUnverifiable {
        path: path.to_owned(),
    })
}

#[cfg(unix)]
fn owner_only_new_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;

    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn owner_only_new_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}
