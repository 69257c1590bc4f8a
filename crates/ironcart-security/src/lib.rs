//! Ironcart's security primitives, kept apart from the HTTP and SQL layers so
//! that each rule can be tested (and attacked) on its own.
//!
//! - [`secret`]: a string type for passwords and tokens that never shows up in
//!   logs and is wiped from memory when dropped.
//! - [`password`]: Argon2id hashing with transparent re-hashing, and the
//!   password acceptance policy (length, common passwords, personal info).
//! - [`tokens`]: the Ed25519 signing-key ring, EdDSA access tokens (JWT) with a
//!   deliberately narrow verifier, and opaque refresh tokens.
//!
//! The crate does no I/O except reading and writing the signing-key directory,
//! and never reads the clock: callers pass `now` (Unix seconds) so that expiry
//! rules are testable without sleeping.
#![forbid(unsafe_code)]

pub mod password;
mod random;
pub mod secret;
pub mod tokens;

pub use password::{
    HashMemory, PasswordHashError, PasswordHashParams, PasswordHasher, PasswordPolicy,
    PasswordRejection, Verification,
};
pub use random::RandomnessUnavailable;
pub use secret::{SecretString, constant_time_eq};
pub use tokens::{
    AccessClaims, IssueError, IssuedToken, KeyError, SigningKeys, TokenConfig, TokenError,
    hash_refresh_token, new_refresh_token,
};
