//! Byte encodings shared by envelopes and wrapped keys: the canonical
//! associated-data layout, hex, and the sealed-payload text form.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::primitives::{NONCE_LEN, TAG_LEN};

/// Associated data as a domain label followed by each part with an 8-byte
/// big-endian length prefix.
///
/// The prefixes make the encoding injective: `("ab", "c")` and `("a", "bc")`
/// give different bytes, which a plain separator (`ab|c`) would only
/// guarantee if no part could contain the separator. The label keeps data of
/// one kind (a field) from ever being accepted as another (a wrapped key).
pub(crate) fn associated_data(label: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let total = label.len() + parts.iter().map(|part| 8 + part.len()).sum::<usize>();
    let mut aad = Vec::with_capacity(total);
    aad.extend_from_slice(label);
    for part in parts {
        aad.extend_from_slice(&(part.len() as u64).to_be_bytes());
        aad.extend_from_slice(part);
    }
    aad
}

/// Lowercase hex, for identifiers and blind indexes (hex sorts and compares
/// the same under every database collation, unlike base64's mixed case).
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

/// `nonce || ciphertext || tag` as unpadded base64url, safe in a TEXT column
/// and in a dotted envelope.
pub(crate) fn encode_sealed(nonce: &[u8; NONCE_LEN], ciphertext_and_tag: &[u8]) -> String {
    let mut bytes = Vec::with_capacity(NONCE_LEN + ciphertext_and_tag.len());
    bytes.extend_from_slice(nonce);
    bytes.extend_from_slice(ciphertext_and_tag);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The inverse of [`encode_sealed`]: `None` unless the text is canonical
/// base64url (no padding, no stray trailing bits) and long enough to hold a
/// nonce and a tag. Canonical decoding means two different texts never
/// decode to the same bytes.
pub(crate) fn decode_sealed(text: &str) -> Option<([u8; NONCE_LEN], Vec<u8>)> {
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    if bytes.len() < NONCE_LEN + TAG_LEN {
        return None;
    }
    let (nonce, rest) = bytes.split_at(NONCE_LEN);
    Some((nonce.try_into().ok()?, rest.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn associated_data_is_unambiguous() {
        let a = associated_data(b"L", &[b"ab", b"c"]);
        let b = associated_data(b"L", &[b"a", b"bc"]);
        assert_ne!(a, b);
        assert_eq!(
            a,
            [
                b"L".as_slice(),
                &[0, 0, 0, 0, 0, 0, 0, 2],
                b"ab",
                &[0, 0, 0, 0, 0, 0, 0, 1],
                b"c"
            ]
            .concat()
        );
        assert_ne!(
            associated_data(b"L", &[b"", b"x"]),
            associated_data(b"L", &[b"x", b""])
        );
    }

    #[test]
    fn hex_encodes_every_nibble() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn sealed_text_round_trips_and_rejects_short_or_padded_input() {
        let nonce = [9u8; NONCE_LEN];
        let body = [1u8; TAG_LEN + 3];
        let text = encode_sealed(&nonce, &body);
        assert_eq!(decode_sealed(&text), Some((nonce, body.to_vec())));
        assert_eq!(
            decode_sealed(&encode_sealed(&nonce, &[0u8; TAG_LEN - 1])),
            None
        );
        assert_eq!(decode_sealed(&format!("{text}=")), None);
        assert_eq!(decode_sealed("not base64!"), None);
    }
}
