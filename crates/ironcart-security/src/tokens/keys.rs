//! The Ed25519 key ring that signs and verifies access tokens.
//!
//! Keys live as PKCS#8 PEM files named `signing-<sequence>.pem` in a directory
//! of their own (mode 0700, files 0600). The highest sequence number signs;
//! every key verifies and is published in the JWKS, so rotating in a new key
//! leaves tokens signed by the previous one valid until they expire. Delete an
//! old key file once `access_ttl_secs` has passed since the rotation.
//!
//! Key files readable by group or others are refused rather than fixed: a
//! private key that was exposed must be replaced, not quietly re-protected.
//!
//! Creation is safe against a concurrent creator: a new key is written to a
//! temporary file and hard-linked to its final name, which fails if that name
//! already exists. Running several app instances still calls for the keys to
//! be provisioned ahead (or the directory shared), so that every instance
//! knows every signing key.

use std::fmt;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde_json::json;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::random::{RandomnessUnavailable, random_bytes};

const KEY_FILE_PREFIX: &str = "signing-";
const KEY_FILE_SUFFIX: &str = ".pem";
/// A PKCS#8 PEM Ed25519 key is about 120 bytes; anything much larger is not one.
const MAX_KEY_FILE_BYTES: u64 = 16 * 1024;
/// Permission bits for group and others.
const GROUP_OTHER_BITS: u32 = 0o077;

/// Why the key ring could not be loaded or extended. Messages name the file
/// but never include key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot use signing key path {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "signing key file {path} has mode {mode:03o}, which lets group or others access it; \
         it must be 0600 (replace the key if it may have been read)"
    )]
    InsecurePermissions { path: PathBuf, mode: u32 },
    #[error("signing key file {path} is not an Ed25519 private key in PKCS#8 PEM form")]
    InvalidKey { path: PathBuf },
    #[error("file {path} looks like a signing key but is not named signing-<number>.pem")]
    UnexpectedFileName { path: PathBuf },
    #[error("no signing keys in {path}")]
    NoKeys { path: PathBuf },
    #[error(transparent)]
    Randomness(#[from] RandomnessUnavailable),
}

/// A public key with its id, as used for verification and publication.
struct PublishedKey {
    kid: String,
    key: VerifyingKey,
}

impl PublishedKey {
    fn new(key: VerifyingKey) -> Self {
        Self {
            kid: jwk_thumbprint(&key),
            key,
        }
    }
}

/// The signing key ring. Only the newest private key is kept in memory (and
/// wiped on drop); older keys are kept as public keys for verification.
pub struct SigningKeys {
    signer: SigningKey,
    signer_kid: String,
    /// Every key, newest first; the first one belongs to `signer`.
    published: Vec<PublishedKey>,
}

impl SigningKeys {
    /// Loads the ring from `dir`, first creating the directory (mode 0700)
    /// and a key (mode 0600) if there is none yet.
    pub fn load_or_create(dir: &Path) -> Result<Self, KeyError> {
        ensure_key_dir(dir)?;
        if key_files(dir)?.is_empty() {
            write_new_key(dir, 1)?;
        }
        Self::load(dir)
    }

    /// Adds a new newest key to `dir` and returns the reloaded ring, which
    /// signs with the new key and still verifies with the older ones.
    pub fn rotate(dir: &Path) -> Result<Self, KeyError> {
        ensure_key_dir(dir)?;
        let next = key_files(dir)?.last().map_or(1, |file| file.sequence + 1);
        write_new_key(dir, next)?;
        Self::load(dir)
    }

    /// Loads the ring from `dir` without creating anything.
    pub fn load(dir: &Path) -> Result<Self, KeyError> {
        let files = key_files(dir)?;
        let mut newest_first = files.iter().rev();
        let Some(newest) = newest_first.next() else {
            return Err(KeyError::NoKeys {
                path: dir.to_owned(),
            });
        };
        let signer = read_key_file(&newest.path)?;
        let newest_public = PublishedKey::new(signer.verifying_key());
        let signer_kid = newest_public.kid.clone();
        let mut published = vec![newest_public];
        for file in newest_first {
            let older = PublishedKey::new(read_key_file(&file.path)?.verifying_key());
            // A key copied under a second name is published once.
            if !published.iter().any(|known| known.kid == older.kid) {
                published.push(older);
            }
        }
        Ok(Self {
            signer,
            signer_kid,
            published,
        })
    }

    /// The key id (`kid`) that new tokens are signed under.
    pub fn signing_kid(&self) -> &str {
        &self.signer_kid
    }

    /// The JSON Web Key Set to publish: public parts only, newest first.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self
            .published
            .iter()
            .map(|published| {
                json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": URL_SAFE_NO_PAD.encode(published.key.as_bytes()),
                    "kid": published.kid,
                    "alg": "EdDSA",
                    "use": "sig",
                })
            })
            .collect();
        json!({ "keys": keys })
    }

    pub(crate) fn signer(&self) -> &SigningKey {
        &self.signer
    }

    /// The public key registered under `kid`, if any.
    pub(crate) fn verifying_key(&self, kid: &str) -> Option<&VerifyingKey> {
        self.published
            .iter()
            .find(|published| published.kid == kid)
            .map(|published| &published.key)
    }
}

impl fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<&str> = self.published.iter().map(|p| p.kid.as_str()).collect();
        f.debug_struct("SigningKeys")
            .field("signing_kid", &self.signer_kid)
            .field("kids", &kids)
            .finish_non_exhaustive()
    }
}

/// RFC 7638 JWK thumbprint: base64url(SHA-256) of the JWK's required members
/// in lexicographic order with no whitespace; for an OKP key (RFC 8037) those
/// are `crv`, `kty` and `x`.
fn jwk_thumbprint(key: &VerifyingKey) -> String {
    let x = URL_SAFE_NO_PAD.encode(key.as_bytes());
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_owned(),
        source,
    }
}

fn ensure_key_dir(dir: &Path) -> Result<(), KeyError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_error(dir))
}

/// A `signing-<sequence>.pem` file in the key directory.
struct KeyFile {
    sequence: u64,
    path: PathBuf,
}

/// The key files in `dir`, oldest first. Other files (including our own
/// dot-prefixed temporary files) are ignored; a file that starts like a key
/// file but is not named like one is an error, so a typo cannot silently
/// drop a key from the ring.
fn key_files(dir: &Path) -> Result<Vec<KeyFile>, KeyError> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error(dir))? {
        let path = entry.map_err(io_error(dir))?.path();
        let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
            continue;
        };
        if !name.starts_with(KEY_FILE_PREFIX) {
            continue;
        }
        match parse_sequence(name) {
            Some(sequence) => files.push(KeyFile { sequence, path }),
            None => return Err(KeyError::UnexpectedFileName { path }),
        }
    }
    files.sort_by_key(|file| file.sequence);
    Ok(files)
}

fn parse_sequence(file_name: &str) -> Option<u64> {
    let digits = file_name
        .strip_prefix(KEY_FILE_PREFIX)?
        .strip_suffix(KEY_FILE_SUFFIX)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn key_file_name(sequence: u64) -> String {
    format!("{KEY_FILE_PREFIX}{sequence:06}{KEY_FILE_SUFFIX}")
}

/// Reads and parses a private key file after checking, on the opened file
/// itself (no race with a rename), that only its owner can access it.
fn read_key_file(path: &Path) -> Result<SigningKey, KeyError> {
    let file = File::open(path).map_err(io_error(path))?;
    let mode = file
        .metadata()
        .map_err(io_error(path))?
        .permissions()
        .mode();
    if mode & GROUP_OTHER_BITS != 0 {
        return Err(KeyError::InsecurePermissions {
            path: path.to_owned(),
            mode: mode & 0o777,
        });
    }
    let mut pem = Zeroizing::new(String::with_capacity(256));
    file.take(MAX_KEY_FILE_BYTES)
        .read_to_string(&mut pem)
        .map_err(io_error(path))?;
    SigningKey::from_pkcs8_pem(&pem).map_err(|_| KeyError::InvalidKey {
        path: path.to_owned(),
    })
}

/// Writes a fresh key as `signing-<sequence>.pem`. If another process created
/// that name first, its key is kept and this one discarded.
fn write_new_key(dir: &Path, sequence: u64) -> Result<(), KeyError> {
    let path = dir.join(key_file_name(sequence));
    let secret = random_bytes::<32>()?;
    let key = SigningKey::from_bytes(&secret);
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|_| KeyError::InvalidKey { path: path.clone() })?;
    let suffix = URL_SAFE_NO_PAD.encode(random_bytes::<8>()?.as_ref());
    let temp = dir.join(format!(".{}.{suffix}.tmp", key_file_name(sequence)));
    let written = write_private_file(&temp, pem.as_bytes()).and_then(|()| {
        match fs::hard_link(&temp, &path) {
            Err(error) if error.kind() != io::ErrorKind::AlreadyExists => Err(error),
            _ => Ok(()),
        }
    });
    let removed = fs::remove_file(&temp);
    written.and(removed).map_err(io_error(&temp))?;
    File::open(dir)
        .and_then(|directory| directory.sync_all())
        .map_err(io_error(dir))
}

fn write_private_file(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8037 appendix A.1 public key and its A.3 thumbprint.
    #[test]
    fn thumbprint_matches_rfc_8037_example() -> Result<(), Box<dyn std::error::Error>> {
        let x = URL_SAFE_NO_PAD.decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")?;
        let bytes: [u8; 32] = x.as_slice().try_into()?;
        let key = VerifyingKey::from_bytes(&bytes)?;
        assert_eq!(
            jwk_thumbprint(&key),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
        Ok(())
    }

    #[test]
    fn key_file_names_round_trip() {
        assert_eq!(key_file_name(7), "signing-000007.pem");
        assert_eq!(parse_sequence("signing-000007.pem"), Some(7));
        assert_eq!(parse_sequence("signing-12345678.pem"), Some(12_345_678));
        assert_eq!(parse_sequence("signing-.pem"), None);
        assert_eq!(parse_sequence("signing-+1.pem"), None);
        assert_eq!(parse_sequence("signing-1.pem.bak"), None);
        assert_eq!(parse_sequence("signing-abc.pem"), None);
    }
}
