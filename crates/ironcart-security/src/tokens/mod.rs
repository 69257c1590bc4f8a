//! Session credentials.
//!
//! - Access tokens are short-lived JWTs (RFC 9068 profile, `typ: at+jwt`)
//!   signed with Ed25519 (`alg: EdDSA`, RFC 8037) by the newest key of a
//!   [`SigningKeys`] ring. The verifier accepts exactly the shape we issue and
//!   refuses everything else before touching any key: the classic JWT attacks
//!   (`alg: none`, HMAC keyed with the public key, attacker-supplied `jwk`/`jku`
//!   keys) rely on verifiers that let the token choose how it is checked.
//! - Refresh tokens are opaque random strings; only their hash is stored.
//!   Rotation and reuse detection live in the app's session store.
//!
//! The JWS compact form is built and checked here directly on top of
//! `ed25519-dalek` rather than through a general JWT library: we need
//! `verify_strict`, a header allow-list, duplicate-member detection and the
//! `iat`-in-the-future rule, and signing this way keeps the only copy of the
//! private key inside dalek's zeroizing `SigningKey`.

mod access;
mod jws;
mod keys;
mod refresh;

pub use access::{AccessClaims, IssueError, IssuedToken, TokenConfig, TokenError};
pub use jws::{MAX_TOKEN_BYTES, ed25519_signature_is_valid};
pub use keys::{KeyError, SigningKeys};
pub use refresh::{REFRESH_TOKEN_PREFIX, hash_refresh_token, new_refresh_token};
