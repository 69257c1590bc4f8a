//! Holding secrets (passwords, bearer tokens) so they cannot leak by accident.
//!
//! A [`SecretString`] prints as `[REDACTED]` in `Debug`, has no `Display`, no
//! `Serialize` and no `PartialEq` (a naive `==` would compare in variable time),
//! and overwrites its buffer when dropped. Reading it takes an explicit
//! [`SecretString::expose_secret`] call, which is easy to spot in review.
//!
//! Wiping on drop is best effort: copies made before the value reached us (the
//! request body buffer, serde_json's scratch buffer for escaped strings) are
//! outside our control.

use std::fmt;

use serde::{Deserialize, Deserializer};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// A password or token whose text is only reachable through
/// [`expose_secret`](Self::expose_secret).
#[derive(Clone)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    /// Wraps `secret`, taking ownership so no un-wiped copy is left behind.
    pub fn new(secret: String) -> Self {
        Self(Zeroizing::new(secret))
    }

    /// The secret text. Call sites are deliberately greppable.
    pub fn expose_secret(&self) -> &str {
        self.0.as_str()
    }
}

impl From<String> for SecretString {
    fn from(secret: String) -> Self {
        Self::new(secret)
    }
}

impl From<&str> for SecretString {
    fn from(secret: &str) -> Self {
        Self::new(secret.to_owned())
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// Login and sign-up bodies are deserialised straight into `SecretString`, so
/// the password never sits in a plain `String` field of the request type.
impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::new)
    }
}

/// Compares two byte strings in time that depends only on their lengths, for
/// comparing secrets (token hashes, MACs) where an early exit would tell an
/// attacker how many leading bytes they guessed right.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_secret() {
        let secret = SecretString::from("hunter2-is-my-password");
        assert_eq!(format!("{secret:?}"), "[REDACTED]");
        assert_eq!(format!("{:?}", Some(&secret)), "Some([REDACTED])");
        assert_eq!(format!("{secret:#?}"), "[REDACTED]");
    }

    #[test]
    fn expose_secret_returns_the_original_text() {
        let secret = SecretString::new("p\u{e4}ssw\u{f6}rd".to_owned());
        assert_eq!(secret.expose_secret(), "p\u{e4}ssw\u{f6}rd");
    }

    #[test]
    fn deserialises_from_a_json_string_inside_a_body() -> Result<(), serde_json::Error> {
        #[derive(Deserialize, Debug)]
        struct LoginBody {
            email: String,
            password: SecretString,
        }
        let body: LoginBody =
            serde_json::from_str(r#"{"email":"a@example.com","password":"s3cr\"et\u00e9"}"#)?;
        assert_eq!(body.email, "a@example.com");
        assert_eq!(body.password.expose_secret(), "s3cr\"et\u{e9}");
        let shown = format!("{body:?}");
        assert!(!shown.contains("s3cr"), "debug output leaked: {shown}");
        assert!(shown.contains("[REDACTED]"));
        Ok(())
    }

    #[test]
    fn refuses_non_string_json() {
        assert!(serde_json::from_str::<SecretString>("12345678").is_err());
        assert!(serde_json::from_str::<SecretString>("null").is_err());
    }

    #[test]
    fn constant_time_eq_compares_content_and_length() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
    }
}
