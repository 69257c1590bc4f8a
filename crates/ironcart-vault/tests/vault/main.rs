//! Attacks on the vault: tampering, moving ciphertexts, wrong keys, loose
//! KEK files, key rotation, and the Wycheproof conformance vectors. One test
//! binary, one module per subject.

mod blind_index;
mod envelopes;
mod kek_loading;
mod key_lifecycle;
mod wycheproof;

use ironcart_vault::{Kek, Keyring, WrappedKey, bootstrap_keys};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A fixed "now" (2025-01-01T00:00:00Z): the crate never reads the clock.
pub const NOW: i64 = 1_735_689_600;

/// A fresh KEK and a keyring bootstrapped under it, with the rows the app
/// would have stored.
pub fn fresh_ring() -> Result<(Kek, Vec<WrappedKey>, Keyring), Box<dyn std::error::Error>> {
    let (kek, _) = Kek::generate()?;
    let rows = bootstrap_keys(&kek, NOW)?;
    let ring = Keyring::unlock(&kek, &rows)?;
    Ok((kek, rows, ring))
}
