//! Blind indexes: a keyed hash of a normalised value, stored in an indexed
//! column next to the encrypted one, so the app can find a customer by email
//! (login, "does this account exist") without decrypting every row.
//!
//! The index is `hex(HMAC-SHA256(k_email, normalize_email(email)))`: 64
//! lowercase hex digits. Equal normalised inputs give equal indexes; anyone
//! without `k_email` cannot compute an index for a guessed email, so the
//! column links nothing to anything by itself.
//!
//! `k_email` is derived, never stored:
//!
//! ```text
//! k_email = HKDF-SHA256(salt = "ironcart-vault v1",
//!                       ikm  = blind-index root key (32 random bytes, KEK-wrapped row),
//!                       info = "ironcart-vault v1 blind-index: email")
//! ```
//!
//! A later index over another kind of value (a phone number) gets its own
//! `info` label and so its own key: the same text indexed for two purposes
//! gives unrelated outputs. The root key is separate from the field keys so
//! that rotating a field key does not invalidate every index.

use std::fmt;

use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

use crate::kek::HKDF_SALT;
use crate::primitives::{self, HkdfOutputTooLong, HmacKeyRejected, KEY_LEN};

/// HKDF `info` for the email index key.
pub(crate) const EMAIL_INFO: &[u8] = b"ironcart-vault v1 blind-index: email";

/// The canonical form of an email address for indexing: surrounding
/// whitespace removed, Unicode NFC, lowercase, then NFC again (lowercasing
/// can leave a decomposed sequence, and the second pass makes the function
/// idempotent).
///
/// Lowercasing the local part is a deliberate choice: mailbox names are
/// case-sensitive in theory and never in practice, and a shop that treats
/// `Ann@x.com` and `ann@x.com` as two accounts invites takeover by lookalike
/// sign-up.
pub fn normalize_email(raw: &str) -> String {
    let composed: String = raw.trim().nfc().collect();
    composed.to_lowercase().nfc().collect()
}

/// An HMAC key for one index purpose, wiped on drop.
pub(crate) struct BlindIndexKey(Zeroizing<[u8; KEY_LEN]>);

impl BlindIndexKey {
    pub(crate) fn derive(root: &[u8; KEY_LEN], info: &[u8]) -> Result<Self, HkdfOutputTooLong> {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        primitives::hkdf_sha256(HKDF_SALT, root, info, key.as_mut())?;
        Ok(Self(key))
    }

    /// The index of an already normalised value.
    pub(crate) fn index(&self, normalized: &str) -> Result<String, HmacKeyRejected> {
        let tag = primitives::hmac_sha256(self.0.as_slice(), normalized.as_bytes())?;
        Ok(crate::encoding::hex(&tag))
    }
}

impl fmt::Debug for BlindIndexKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BlindIndexKey([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_trims_composes_and_lowercases() {
        assert_eq!(normalize_email("  Ann@Example.COM \n"), "ann@example.com");
        // "é" written as e + combining acute, and as the precomposed letter.
        assert_eq!(normalize_email("Ren\u{65}\u{301}@x.fr"), "ren\u{e9}@x.fr");
        assert_eq!(normalize_email("REN\u{c9}@X.FR"), "ren\u{e9}@x.fr");
        assert_eq!(normalize_email(""), "");
    }

    /// The expected value was computed outside Rust (Python's `hmac` and
    /// `hashlib`, HKDF written out per RFC 5869), so this pins the documented
    /// derivation, not just self-consistency.
    #[test]
    fn index_matches_the_documented_derivation() -> Result<(), Box<dyn std::error::Error>> {
        let key = BlindIndexKey::derive(&[1u8; KEY_LEN], EMAIL_INFO)?;
        assert_eq!(
            key.index("ann@example.com")?,
            "04ab3888d6fab9382d3bcf7294d7a1227e7179dacec714494584ee4cb6312011"
        );
        Ok(())
    }

    #[test]
    fn index_is_64_hex_digits_and_depends_on_the_key() -> Result<(), Box<dyn std::error::Error>> {
        let a = BlindIndexKey::derive(&[1u8; KEY_LEN], EMAIL_INFO)?;
        let b = BlindIndexKey::derive(&[2u8; KEY_LEN], EMAIL_INFO)?;
        let other_purpose = BlindIndexKey::derive(&[1u8; KEY_LEN], b"another purpose")?;
        let index = a.index("ann@example.com")?;
        assert_eq!(index.len(), 64);
        assert!(
            index
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(index, b.index("ann@example.com")?);
        assert_ne!(index, other_purpose.index("ann@example.com")?);
        assert_eq!(format!("{a:?}"), "BlindIndexKey([REDACTED])");
        Ok(())
    }
}
