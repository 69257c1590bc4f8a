//! App-side security services: the RBAC policy, the audit trail, rate limits and
//! intrusion prevention (bans). Cryptographic primitives (passwords, tokens, secrets) live in the `ironcart-security` crate.

pub mod audit;
pub mod bans;
pub mod hashing;
pub mod ratelimit;
pub mod rbac;
pub mod shared;
