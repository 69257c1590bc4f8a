//! The thin layer between the vault and RustCrypto: AES-256-GCM seal/open,
//! HMAC-SHA256, HKDF-SHA256 and the OS random generator.
//!
//! Every cryptographic operation of the crate goes through one of these
//! functions, and they are public for one reason: the conformance tests run
//! Project Wycheproof vectors through exactly the code path that envelopes,
//! key wrapping and blind indexes use. Application code should use
//! [`Keyring`](crate::Keyring) instead.

use std::fmt;

use aes_gcm::aead::AeadInOut;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand_core::{OsRng, RngCore};
use sha2::Sha256;
use zeroize::Zeroizing;

/// Length of an AES-256 key, of every key in this crate, and of an HMAC-SHA256 output.
pub const KEY_LEN: usize = 32;
/// Length of the AES-GCM nonce: 96 bits, the size GCM handles without hashing it.
pub const NONCE_LEN: usize = 12;
/// Length of the AES-GCM authentication tag: the full 128 bits, never truncated.
pub const TAG_LEN: usize = 16;

/// An AES-256-GCM key, expanded once so that each field operation does not
/// redo the key schedule. The round keys are wiped on drop (the `zeroize`
/// feature of `aes-gcm`) and `Debug` shows nothing.
#[derive(Clone)]
pub struct AeadKey(Aes256Gcm);

impl AeadKey {
    /// Expands a raw 256-bit key.
    pub fn from_bytes(key: &[u8; KEY_LEN]) -> Self {
        Self(Aes256Gcm::new(&(*key).into()))
    }
}

impl fmt::Debug for AeadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AeadKey([REDACTED])")
    }
}

/// Authenticated decryption failed. Deliberately carries no detail: the
/// caller learns neither which byte nor which input (key, nonce, data,
/// associated data) was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("authenticated decryption failed")]
pub struct OpenFailed;

/// The operating system's random number generator could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the operating system's random number generator failed")]
pub struct RandomnessUnavailable;

/// The plaintext or associated data is beyond what AES-GCM can encrypt under
/// one nonce (about 64 GiB); no database field comes near it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the value is too long to encrypt")]
pub struct SealFailed;

/// Encrypts `plaintext` and returns `ciphertext || tag`.
///
/// The caller supplies the nonce so that the envelope and key-wrap formats
/// decide where it comes from (always [`random_nonce`] in this crate).
pub fn seal(
    key: &AeadKey,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, SealFailed> {
    let mut buffer = Vec::with_capacity(plaintext.len() + TAG_LEN);
    buffer.extend_from_slice(plaintext);
    key.0
        .encrypt_in_place(&Nonce::from(*nonce), aad, &mut buffer)
        .map_err(|_| SealFailed)?;
    Ok(buffer)
}

/// Verifies the tag at the end of `ciphertext_and_tag` and, only if it is
/// right, returns the plaintext (wiped when dropped, since it may be a key).
///
/// Input shorter than a tag is rejected like any forgery.
pub fn open(
    key: &AeadKey,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    ciphertext_and_tag: &[u8],
) -> Result<Zeroizing<Vec<u8>>, OpenFailed> {
    if ciphertext_and_tag.len() < TAG_LEN {
        return Err(OpenFailed);
    }
    let mut buffer = Zeroizing::new(ciphertext_and_tag.to_vec());
    key.0
        .decrypt_in_place(&Nonce::from(*nonce), aad, &mut *buffer)
        .map_err(|_| OpenFailed)?;
    Ok(buffer)
}

/// The HMAC implementation refused a key. HMAC accepts keys of any length,
/// so this is not expected; it is an error rather than a silent fallback
/// because a constant MAC would make every blind index collide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("HMAC-SHA256 refused the key")]
pub struct HmacKeyRejected;

/// HMAC-SHA256 of `message` under `key` (any length; keys longer than the
/// 64-byte block are hashed first, as RFC 2104 says).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> Result<[u8; KEY_LEN], HmacKeyRejected> {
    let mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| HmacKeyRejected)?;
    Ok(mac.chain_update(message).finalize().into_bytes().into())
}

/// HKDF-SHA256 asked for more than 255 × 32 bytes of output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("HKDF-SHA256 cannot produce that much output")]
pub struct HkdfOutputTooLong;

/// HKDF-SHA256 (RFC 5869): extract with `salt`, expand with `info` into `output`.
pub fn hkdf_sha256(
    salt: &[u8],
    ikm: &[u8],
    info: &[u8],
    output: &mut [u8],
) -> Result<(), HkdfOutputTooLong> {
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, output)
        .map_err(|_| HkdfOutputTooLong)
}

/// A fresh 96-bit nonce from the OS generator. Random nonces are safe for
/// about 2^32 encryptions under one key (NIST SP 800-38D); a data key is
/// rotated long before a shop gets there.
pub fn random_nonce() -> Result<[u8; NONCE_LEN], RandomnessUnavailable> {
    let mut nonce = [0u8; NONCE_LEN];
    OsRng
        .try_fill_bytes(&mut nonce)
        .map_err(|_| RandomnessUnavailable)?;
    Ok(nonce)
}

/// A fresh 256-bit key from the OS generator, wiped when dropped.
pub fn random_key() -> Result<Zeroizing<[u8; KEY_LEN]>, RandomnessUnavailable> {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    OsRng
        .try_fill_bytes(key.as_mut())
        .map_err(|_| RandomnessUnavailable)?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_then_open_returns_the_plaintext() -> Result<(), Box<dyn std::error::Error>> {
        let key = AeadKey::from_bytes(&[7u8; KEY_LEN]);
        let nonce = [1u8; NONCE_LEN];
        let sealed = seal(&key, &nonce, b"aad", b"hello")?;
        assert_eq!(sealed.len(), 5 + TAG_LEN);
        assert_ne!(&sealed[..5], b"hello");
        assert_eq!(open(&key, &nonce, b"aad", &sealed)?.as_slice(), b"hello");
        assert_eq!(open(&key, &nonce, b"aaD", &sealed), Err(OpenFailed));
        Ok(())
    }

    #[test]
    fn open_rejects_input_shorter_than_a_tag() {
        let key = AeadKey::from_bytes(&[7u8; KEY_LEN]);
        for len in 0..TAG_LEN {
            assert_eq!(
                open(&key, &[0u8; NONCE_LEN], b"", &vec![0u8; len]),
                Err(OpenFailed)
            );
        }
    }

    #[test]
    fn debug_hides_the_key() {
        let key = AeadKey::from_bytes(&[0xAB; KEY_LEN]);
        let shown = format!("{key:?}");
        assert_eq!(shown, "AeadKey([REDACTED])");
    }

    #[test]
    fn random_draws_differ() -> Result<(), RandomnessUnavailable> {
        assert_ne!(random_nonce()?, random_nonce()?);
        assert_ne!(*random_key()?, *random_key()?);
        Ok(())
    }
}
