//! Customer passwords: Argon2id hashing ([`PasswordHasher`]) and the rules a
//! new password must pass ([`PasswordPolicy`]).
//!
//! Both sides work on the Unicode NFC form of the password (RFC 8265's
//! OpaqueString profile uses NFC too). The same visible password can arrive
//! composed ("é" as U+00E9) or decomposed ("e" + U+0301) depending on the
//! keyboard and operating system; normalising means it always hashes to the
//! same value and always counts as the same length. NFC never merges visually
//! different characters, unlike NFKC, so no entropy is given away.

mod hasher;
mod policy;

pub use hasher::{HashMemory, PasswordHashError, PasswordHashParams, PasswordHasher, Verification};
pub use policy::{PasswordPolicy, PasswordRejection};

use unicode_normalization::{UnicodeNormalization, is_nfc};
use zeroize::Zeroizing;

/// Runs `use_password` on the NFC form of `password`. Already-normalised input
/// (all ASCII passwords, for one) is passed through without a copy; otherwise
/// the normalised copy is wiped afterwards.
fn with_nfc<R>(password: &str, use_password: impl FnOnce(&str) -> R) -> R {
    if is_nfc(password) {
        return use_password(password);
    }
    // Reserving generously avoids reallocations that would leave un-wiped
    // fragments of the password on the heap.
    let mut normalized = Zeroizing::new(String::with_capacity(password.len() * 3));
    normalized.extend(password.nfc());
    use_password(&normalized)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decomposed_input_is_composed() {
        let composed = with_nfc("cafe\u{301}", str::to_owned);
        assert_eq!(composed, "caf\u{e9}");
        assert_eq!(composed.chars().count(), 4);
    }

    #[test]
    fn normalised_input_is_unchanged() {
        assert_eq!(with_nfc("caf\u{e9}", str::to_owned), "caf\u{e9}");
        assert_eq!(with_nfc("plain ascii", str::to_owned), "plain ascii");
    }
}
