//! Opaque refresh tokens: 256 random bits, handed to the client once and
//! stored only as a hash.
//!
//! A plain SHA-256 is the right hash here, unlike for passwords: the input is
//! 256 bits of fresh randomness, so there is nothing to guess or look up in a
//! dictionary, and a slow hash would only slow down every refresh. The stored
//! hash lets the app find the token by equality lookup while a leaked
//! database reveals no usable token.

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::random::{RandomnessUnavailable, random_bytes};
use crate::secret::SecretString;

/// Marks refresh tokens so they are recognisable in bug reports and by
/// secret scanners, and can never be mistaken for a JWT (which has dots).
pub const REFRESH_TOKEN_PREFIX: &str = "rt_";

/// A new refresh token (`rt_` + 43 base64url characters) and the hex SHA-256
/// hash to store for it.
pub fn new_refresh_token() -> Result<(SecretString, String), RandomnessUnavailable> {
    let random = random_bytes::<32>()?;
    let mut token = String::with_capacity(REFRESH_TOKEN_PREFIX.len() + 43);
    token.push_str(REFRESH_TOKEN_PREFIX);
    URL_SAFE_NO_PAD.encode_string(random.as_ref(), &mut token);
    let hash = hash_refresh_token(&token);
    Ok((SecretString::new(token), hash))
}

/// The storage form of a presented refresh token: lowercase hex SHA-256 of
/// the whole token string, prefix included.
pub fn hash_refresh_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    let mut hex = String::with_capacity(digest.len() * 2);
    for byte in digest {
        // Writing to a String cannot fail.
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_sha256_hex_of_the_whole_token() {
        // SHA-256("abc") from FIPS 180-2, appendix B.1.
        assert_eq!(
            hash_refresh_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn new_tokens_are_prefixed_random_and_hashed() -> Result<(), RandomnessUnavailable> {
        let (token, hash) = new_refresh_token()?;
        let text = token.expose_secret();
        let body = text.strip_prefix(REFRESH_TOKEN_PREFIX).unwrap_or_default();
        assert_eq!(body.len(), 43);
        assert_eq!(URL_SAFE_NO_PAD.decode(body).map(|b| b.len()).ok(), Some(32));
        assert_eq!(hash, hash_refresh_token(text));
        assert_eq!(hash.len(), 64);
        let (other, other_hash) = new_refresh_token()?;
        assert_ne!(other.expose_secret(), text);
        assert_ne!(other_hash, hash);
        Ok(())
    }
}
