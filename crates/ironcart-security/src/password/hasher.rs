//! Argon2id password hashing with transparent parameter upgrades.
//!
//! Hashing is deliberately CPU- and memory-heavy (about 19 MiB and tens of
//! milliseconds per call with the default parameters). **The app must call
//! [`PasswordHasher::hash`], [`PasswordHasher::verify`] and
//! [`PasswordHasher::verify_unknown_user`] on a blocking thread**
//! (`tokio::task::spawn_blocking`), never directly on an async worker, and
//! should bound how many run at once.
//!
//! Each call needs its memory-cost buffer (19 MiB by default). The plain methods
//! allocate it per call; the `*_with` methods take a [`HashMemory`] the caller
//! keeps, so a fixed set of hashing threads reuses one buffer each instead of
//! leaving freed 19 MiB blocks in the allocator's per-thread arenas.

use std::fmt;
use std::sync::OnceLock;

use argon2::password_hash::{self, Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::with_nfc;
use crate::random::random_bytes;
use crate::secret::SecretString;

/// Bytes of fresh random salt per hash (the PHC string format's recommendation).
const SALT_BYTES: usize = 16;

/// Argon2id cost settings. The default is OWASP's recommended minimum
/// (m = 19456 KiB, t = 2, p = 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordHashParams {
    /// Memory per hash in KiB (`m`).
    pub memory_kib: u32,
    /// Passes over memory (`t`).
    pub iterations: u32,
    /// Lanes (`p`).
    pub parallelism: u32,
}

impl Default for PasswordHashParams {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// Outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// The password is right. When `needs_rehash` is true the stored hash was
    /// made with an older algorithm or other parameters: hash the password
    /// again now, while it is at hand, and store the new hash.
    Valid { needs_rehash: bool },
    /// The password is wrong.
    Invalid,
}

/// Why hashing or verification could not be carried out. Never includes the
/// password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordHashError {
    /// The cost parameters are outside what Argon2 accepts.
    #[error("invalid Argon2 parameters: {0}")]
    InvalidParams(argon2::Error),
    /// The stored hash is not a complete PHC string.
    #[error("stored password hash is not a valid PHC string")]
    MalformedHash,
    /// The stored hash is a PHC string for something other than Argon2.
    #[error("stored password hash uses an unsupported algorithm")]
    UnsupportedAlgorithm,
    /// The OS random number generator failed while making a salt.
    #[error(transparent)]
    Randomness(#[from] crate::random::RandomnessUnavailable),
    /// Argon2 itself failed (e.g. memory could not be allocated).
    #[error("password hashing failed")]
    Hashing,
}

/// Hashes and verifies passwords with Argon2id. Cheap to share: keep one in
/// the app state.
pub struct PasswordHasher {
    argon2: Argon2<'static>,
    params: Params,
    /// A hash of a random password made with the current parameters, used to
    /// spend the same time on logins for unknown accounts.
    unknown_user_hash: OnceLock<String>,
}

impl PasswordHasher {
    /// A hasher producing Argon2id v1.3 hashes with the given costs.
    pub fn new(params: PasswordHashParams) -> Result<Self, PasswordHashError> {
        let params = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(PasswordHashError::InvalidParams)?;
        Ok(Self {
            argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone()),
            params,
            unknown_user_hash: OnceLock::new(),
        })
    }

    /// Hashes `password` (its NFC form) with a fresh 16-byte salt and returns
    /// the PHC string to store, e.g. `$argon2id$v=19$m=19456,t=2,p=1$…$…`.
    pub fn hash(&self, password: &SecretString) -> Result<String, PasswordHashError> {
        self.hash_with(&mut HashMemory::new(), password)
    }

    /// As [`hash`](Self::hash), computing in `memory`.
    pub fn hash_with(
        &self,
        memory: &mut HashMemory,
        password: &SecretString,
    ) -> Result<String, PasswordHashError> {
        let salt_bytes = random_bytes::<SALT_BYTES>()?;
        let salt =
            SaltString::encode_b64(salt_bytes.as_ref()).map_err(|_| PasswordHashError::Hashing)?;
        let phc = with_nfc(password.expose_secret(), |normalized| {
            let output = compute(
                &self.argon2,
                &self.params,
                memory,
                normalized.as_bytes(),
                salt_bytes.as_ref(),
            )?;
            let hash = PasswordHash {
                algorithm: Algorithm::Argon2id.ident(),
                version: Some(Version::V0x13.into()),
                params: ParamsString::try_from(&self.params)?,
                salt: Some(salt.as_salt()),
                hash: Some(output),
            };
            Ok::<_, password_hash::Error>(hash.to_string())
        });
        phc.map_err(|_| PasswordHashError::Hashing)
    }

    /// Checks `password` against the stored PHC string `phc`, using the
    /// algorithm and costs recorded in `phc` (so old hashes keep working).
    /// The output comparison is constant-time.
    pub fn verify(
        &self,
        password: &SecretString,
        phc: &str,
    ) -> Result<Verification, PasswordHashError> {
        self.verify_with(&mut HashMemory::new(), password, phc)
    }

    /// As [`verify`](Self::verify), computing in `memory`.
    pub fn verify_with(
        &self,
        memory: &mut HashMemory,
        password: &SecretString,
        phc: &str,
    ) -> Result<Verification, PasswordHashError> {
        let stored = parse_stored_hash(phc)?;
        let outcome = with_nfc(password.expose_secret(), |normalized| {
            recompute(memory, normalized.as_bytes(), &stored)
        });
        match outcome {
            // `Output`'s equality is constant-time.
            Ok(output) if Some(output) == stored.hash => Ok(Verification::Valid {
                needs_rehash: self.needs_rehash(&stored),
            }),
            Ok(_) => Ok(Verification::Invalid),
            Err(_) => Err(PasswordHashError::MalformedHash),
        }
    }

    /// Spends the same work as [`verify`](Self::verify) on a login for an
    /// email that has no account, so response times do not reveal which
    /// emails are registered. Always answers [`Verification::Invalid`].
    ///
    /// The reference hash is made on first use; call this once at start-up to
    /// keep that one-off cost out of the first real request.
    pub fn verify_unknown_user(
        &self,
        password: &SecretString,
    ) -> Result<Verification, PasswordHashError> {
        self.verify_unknown_user_with(&mut HashMemory::new(), password)
    }

    /// As [`verify_unknown_user`](Self::verify_unknown_user), computing in `memory`.
    pub fn verify_unknown_user_with(
        &self,
        memory: &mut HashMemory,
        password: &SecretString,
    ) -> Result<Verification, PasswordHashError> {
        let reference = self.unknown_user_hash()?;
        let outcome = self.verify_with(memory, password, reference)?;
        // Keep the optimiser from treating the verification as dead code.
        std::hint::black_box(outcome);
        Ok(Verification::Invalid)
    }

    fn unknown_user_hash(&self) -> Result<&str, PasswordHashError> {
        if let Some(hash) = self.unknown_user_hash.get() {
            return Ok(hash);
        }
        let unguessable = random_bytes::<32>()?;
        let password = SecretString::new(URL_SAFE_NO_PAD.encode(unguessable.as_ref()));
        let hash = self.hash(&password)?;
        // If two threads race here both hashes are equally good.
        Ok(self.unknown_user_hash.get_or_init(|| hash))
    }

    /// A stored hash is outdated unless it is Argon2id v1.3 with exactly the
    /// current costs and output length.
    fn needs_rehash(&self, stored: &PasswordHash<'_>) -> bool {
        let same_algorithm = Algorithm::try_from(stored.algorithm) == Ok(Algorithm::Argon2id);
        let same_version = stored.version == Some(Version::V0x13.into());
        let same_costs = Params::try_from(stored).is_ok_and(|params| {
            params.m_cost() == self.params.m_cost()
                && params.t_cost() == self.params.t_cost()
                && params.p_cost() == self.params.p_cost()
        });
        let same_output_len = stored
            .hash
            .is_some_and(|output| output.len() == Params::DEFAULT_OUTPUT_LEN);
        !(same_algorithm && same_version && same_costs && same_output_len)
    }
}

impl Default for PasswordHasher {
    /// OWASP parameters ([`PasswordHashParams::default`]).
    fn default() -> Self {
        Self {
            argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::DEFAULT),
            params: Params::DEFAULT,
            unknown_user_hash: OnceLock::new(),
        }
    }
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("m_cost", &self.params.m_cost())
            .field("t_cost", &self.params.t_cost())
            .field("p_cost", &self.params.p_cost())
            .finish_non_exhaustive()
    }
}

/// The Argon2 working memory of one hash at a time, kept by a thread that hashes
/// repeatedly so that each hash reuses it. It holds data derived from the last
/// password until the next hash overwrites it (as freed heap memory would).
#[derive(Default)]
pub struct HashMemory {
    blocks: Vec<Block>,
}

impl HashMemory {
    /// An empty buffer; it grows to the cost of the first hash computed in it.
    pub fn new() -> Self {
        Self::default()
    }

    /// The first `count` blocks, growing the buffer if it is smaller.
    fn blocks(&mut self, count: usize) -> &mut [Block] {
        if self.blocks.len() < count {
            self.blocks.resize(count, Block::default());
        }
        &mut self.blocks[..count]
    }

    /// Bytes held.
    pub fn size(&self) -> usize {
        self.blocks.len() * Block::SIZE
    }
}

impl fmt::Debug for HashMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HashMemory")
            .field("bytes", &self.size())
            .finish()
    }
}

/// Argon2 output of `password` and raw `salt` under `params`, computed in `memory`.
fn compute(
    argon2: &Argon2<'_>,
    params: &Params,
    memory: &mut HashMemory,
    password: &[u8],
    salt: &[u8],
) -> Result<Output, password_hash::Error> {
    let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    Output::init_with(output_len, |out| {
        argon2
            .hash_password_into_with_memory(
                password,
                salt,
                out,
                memory.blocks(params.block_count()),
            )
            .map_err(password_hash::Error::from)
    })
}

/// The output `password` gives under the algorithm, version, costs and salt
/// recorded in `stored`.
fn recompute(
    memory: &mut HashMemory,
    password: &[u8],
    stored: &PasswordHash<'_>,
) -> Result<Output, password_hash::Error> {
    let algorithm = Algorithm::try_from(stored.algorithm)?;
    let version = stored
        .version
        .map(Version::try_from)
        .transpose()?
        .unwrap_or_default();
    let params = Params::try_from(stored)?;
    let mut salt_buffer = [0u8; 64];
    let salt = stored
        .salt
        .ok_or(password_hash::Error::SaltInvalid(
            password_hash::errors::InvalidValue::Malformed,
        ))?
        .decode_b64(&mut salt_buffer)?;
    let argon2 = Argon2::new(algorithm, version, params.clone());
    compute(&argon2, &params, memory, password, salt)
}

/// Parses a stored PHC string, insisting on an Argon2 variant, a salt and an
/// output: `verify_password` would otherwise report a hash without an output
/// as a wrong password instead of as corrupt data.
fn parse_stored_hash(phc: &str) -> Result<PasswordHash<'_>, PasswordHashError> {
    let stored = PasswordHash::new(phc).map_err(|_| PasswordHashError::MalformedHash)?;
    Algorithm::try_from(stored.algorithm).map_err(|_| PasswordHashError::UnsupportedAlgorithm)?;
    if stored.salt.is_none() || stored.hash.is_none() {
        return Err(PasswordHashError::MalformedHash);
    }
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_params_are_owasp_and_match_argon2_defaults() {
        let ours = PasswordHashParams::default();
        assert_eq!(
            (ours.memory_kib, ours.iterations, ours.parallelism),
            (19_456, 2, 1)
        );
        assert_eq!(Params::DEFAULT.m_cost(), ours.memory_kib);
        assert_eq!(Params::DEFAULT.t_cost(), ours.iterations);
        assert_eq!(Params::DEFAULT.p_cost(), ours.parallelism);
    }

    #[test]
    fn debug_shows_costs_only() {
        let shown = format!("{:?}", PasswordHasher::default());
        assert!(shown.contains("m_cost: 19456"), "{shown}");
    }
}
