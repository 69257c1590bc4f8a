//! Fallible access to the operating system's random number generator.
//!
//! The convenience constructors in our dependencies (`SigningKey::generate`,
//! `SaltString::generate`, `Uuid::new_v4`) panic if the OS generator fails.
//! Everything here draws its randomness through [`random_bytes`] instead, so
//! such a failure becomes an error the caller can report.

use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

/// The operating system's random number generator could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the operating system's random number generator failed")]
pub struct RandomnessUnavailable;

/// `N` bytes from the OS generator, wiped when dropped because they often
/// become key material.
pub(crate) fn random_bytes<const N: usize>() -> Result<Zeroizing<[u8; N]>, RandomnessUnavailable> {
    let mut bytes = Zeroizing::new([0u8; N]);
    OsRng
        .try_fill_bytes(bytes.as_mut())
        .map_err(|_| RandomnessUnavailable)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn successive_draws_differ() -> Result<(), RandomnessUnavailable> {
        let first = random_bytes::<32>()?;
        let second = random_bytes::<32>()?;
        assert_ne!(*first, *second);
        assert_ne!(*first, [0u8; 32]);
        Ok(())
    }
}
