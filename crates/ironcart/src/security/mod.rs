//! App-side security services: the RBAC policy and the audit trail. Cryptographic
//! primitives (passwords, tokens, secrets) live in the `ironcart-security` crate.

pub mod audit;
pub mod hashing;
pub mod ratelimit;
pub mod rbac;
pub mod shared;
