//! Field encryption at rest for Ironcart: customer data (emails, names,
//! addresses, phone numbers) is stored encrypted column by column, so a
//! leaked database or backup reveals nothing without the key-encryption key
//! that lives outside it.
//!
//! The pieces, from the outside in:
//!
//! - [`Kek`]: the key-encryption key, loaded from an owner-only file or an
//!   environment variable, never from the database.
//! - [`WrappedKey`] and the functions [`bootstrap_keys`], [`rotate_data_key`],
//!   [`rewrap_all`] and [`retire`]: the rows of the app's `data_keys` table
//!   (random 256-bit data keys wrapped by the KEK with AES-256-GCM), created
//!   and rotated by pure functions so the store layer owns the SQL.
//! - [`Keyring`]: the unwrapped keys in memory. It encrypts each field under
//!   the primary key into a versioned envelope bound to its table, column and
//!   row ([`FieldContext`]), decrypts under whichever key an envelope names,
//!   tells the re-encryption job which values are not under the primary key,
//!   and computes blind indexes for lookups by email.
//! - [`backup`]: encrypted backup files, a database snapshot streamed through
//!   AES-256-GCM (STREAM, `aead-stream`) under a per-backup key the KEK wraps.
//! - [`primitives`]: the one place RustCrypto is called (besides the STREAM
//!   construction of [`backup`]), public so that the Wycheproof conformance
//!   tests exercise the very functions the vault uses.
//!
//! # What it protects against, and what it does not
//!
//! A copy of the database (a dump, a backup, a read-only SQL injection)
//! yields envelopes and wrapped keys only; without the KEK they reveal
//! nothing but lengths. Moving ciphertexts between rows or columns, or
//! editing them, is detected. The app process itself holds the unwrapped
//! keys, so an attacker who controls it can decrypt: that is the price of
//! the app reading its own data. Blind indexes reveal which rows share an
//! email (equality), by design, and nothing more without the index key.
//! Plaintext returned by [`Keyring::decrypt_str`] is an ordinary `String`;
//! [`Keyring::decrypt`] returns a buffer wiped on drop for callers that can
//! keep it that way.
//!
//! Formats, AAD layout and key derivations are documented in the modules
//! [`envelope`], [`keys`], [`kek`], [`blind_index`] and [`backup`]. The crate
//! does no I/O except reading (or creating) the KEK file and the readers and
//! writers a caller hands to [`backup`], and never reads the clock: callers
//! pass `now` in Unix seconds.
#![forbid(unsafe_code)]

pub mod backup;
pub mod blind_index;
mod encoding;
pub mod envelope;
pub mod kek;
mod keyring;
pub mod keys;
pub mod primitives;

pub use blind_index::normalize_email;
pub use envelope::FieldContext;
pub use kek::{Kek, KekError, KekId};
pub use keyring::{BlindIndexError, FieldError, Keyring};
pub use keys::{
    DataKeyRotation, InvalidKeyId, KeyError, KeyId, KeyPurpose, KeyState, RetireRefused,
    WrappedKey, bootstrap_keys, retire, rewrap_all, rotate_data_key,
};
pub use primitives::RandomnessUnavailable;
