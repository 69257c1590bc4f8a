//! The text stored in an encrypted column, and the context it is bound to.
//!
//! An envelope is `v1.<key id>.<base64url(nonce(12) || ciphertext || tag(16))>`
//! (unpadded base64url, so it fits a TEXT column and never needs quoting).
//! The version prefix lets a later format coexist with this one; the key id
//! says which data key to decrypt with.
//!
//! The associated data authenticated with each value is
//!
//! ```text
//! "ironcart-vault v1 field" || lp(key id) || lp(table) || lp(column) || lp(row id)
//! ```
//!
//! where `lp(x)` is the 8-byte big-endian length of `x` followed by `x`. A
//! ciphertext pasted into another row, another column or another table, or
//! relabelled with another key id, therefore fails authentication.

use crate::encoding::{associated_data, decode_sealed};
use crate::keys::KeyId;
use crate::primitives::NONCE_LEN;

/// Format version written at the start of every envelope.
pub(crate) const VERSION: &str = "v1";
const FIELD_AAD_LABEL: &[u8] = b"ironcart-vault v1 field";

/// Where a value lives: its table, column and row. Encrypting binds the
/// value to this place, and decrypting must name the same place.
///
/// The row id must be known before the row is written (the app's ids are
/// UUIDs chosen by the app, not database sequences) and must never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldContext<'a> {
    /// Table name, e.g. `customers`.
    pub table: &'a str,
    /// Column name, e.g. `email_enc`.
    pub column: &'a str,
    /// The row's primary key as text.
    pub row_id: &'a str,
}

impl<'a> FieldContext<'a> {
    /// The place of one value.
    pub fn new(table: &'a str, column: &'a str, row_id: &'a str) -> Self {
        Self {
            table,
            column,
            row_id,
        }
    }

    /// An empty part would let values of different rows (or columns) share a
    /// context, which is exactly what the binding exists to prevent.
    pub(crate) fn is_complete(&self) -> bool {
        !self.table.is_empty() && !self.column.is_empty() && !self.row_id.is_empty()
    }

    pub(crate) fn associated_data(&self, key_id: &KeyId) -> Vec<u8> {
        associated_data(
            FIELD_AAD_LABEL,
            &[
                key_id.as_str().as_bytes(),
                self.table.as_bytes(),
                self.column.as_bytes(),
                self.row_id.as_bytes(),
            ],
        )
    }
}

/// An envelope split into its parts, not yet authenticated.
pub(crate) struct ParsedEnvelope {
    pub(crate) key_id: KeyId,
    pub(crate) nonce: [u8; NONCE_LEN],
    pub(crate) ciphertext_and_tag: Vec<u8>,
}

/// The key id an envelope names, without decoding the rest.
pub(crate) fn envelope_key_id(envelope: &str) -> Option<KeyId> {
    let mut parts = envelope.splitn(3, '.');
    if parts.next()? != VERSION {
        return None;
    }
    let key_id = KeyId::parse(parts.next()?).ok()?;
    parts.next()?;
    Some(key_id)
}

/// Splits and decodes an envelope; `None` if it is not a well-formed `v1`
/// envelope.
pub(crate) fn parse(envelope: &str) -> Option<ParsedEnvelope> {
    let mut parts = envelope.splitn(3, '.');
    if parts.next()? != VERSION {
        return None;
    }
    let key_id = KeyId::parse(parts.next()?).ok()?;
    let (nonce, ciphertext_and_tag) = decode_sealed(parts.next()?)?;
    Some(ParsedEnvelope {
        key_id,
        nonce,
        ciphertext_and_tag,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_parts_are_length_prefixed_so_shifting_a_boundary_changes_the_aad()
    -> Result<(), crate::keys::InvalidKeyId> {
        let key = KeyId::parse("k1")?;
        let a = FieldContext::new("customers", "email", "12").associated_data(&key);
        let b = FieldContext::new("customers", "email1", "2").associated_data(&key);
        let c = FieldContext::new("customersemail", "", "12").associated_data(&key);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert!(a.starts_with(FIELD_AAD_LABEL));
        Ok(())
    }

    #[test]
    fn incomplete_contexts_are_detected() {
        assert!(FieldContext::new("t", "c", "r").is_complete());
        assert!(!FieldContext::new("", "c", "r").is_complete());
        assert!(!FieldContext::new("t", "", "r").is_complete());
        assert!(!FieldContext::new("t", "c", "").is_complete());
    }

    #[test]
    fn parse_refuses_other_versions_and_bad_ids() {
        let body = "A".repeat(40);
        assert!(parse(&format!("v1.k1.{body}")).is_some());
        assert!(parse(&format!("v2.k1.{body}")).is_none());
        assert!(parse(&format!("v1.K1.{body}")).is_none());
        assert!(parse(&format!("v1..{body}")).is_none());
        assert!(parse("v1.k1").is_none());
        assert!(parse(&format!("v1.k1.{body}.x")).is_none());
        assert!(envelope_key_id("v1.k1").is_none());
        assert_eq!(
            envelope_key_id("v1.k1.anything").map(|id| id.to_string()),
            Some("k1".to_owned())
        );
    }
}
