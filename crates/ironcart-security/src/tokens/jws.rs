//! JWS compact serialisation (RFC 7515) restricted to the one shape we issue:
//! header `{"alg":"EdDSA","typ":"at+jwt","kid":…}` and a 64-byte Ed25519
//! signature.
//!
//! Verification checks, in order and before any key is looked up: size,
//! segment count, base64url, header JSON (one object, no duplicate members),
//! `alg` (exactly `EdDSA`), no header members beyond `alg`/`typ`/`kid`, then
//! `typ`. Only then is `kid` resolved against our ring — never against keys the
//! token itself names — and the signature checked with `verify_strict`. The
//! payload is parsed only after the signature is known to be good.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::Serialize;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use super::access::TokenError;
use super::keys::SigningKeys;

/// Longest token accepted, in bytes; ours are well under 1 KiB. Checked before
/// any decoding so oversized input costs nothing.
pub const MAX_TOKEN_BYTES: usize = 4096;

const ALGORITHM: &str = "EdDSA";
const TOKEN_TYPE: &str = "at+jwt";
/// RFC 9068 section 4 lets the media type carry its `application/` prefix.
const TOKEN_MEDIA_TYPE: &str = "application/at+jwt";
const ALLOWED_HEADER_MEMBERS: [&str; 3] = ["alg", "typ", "kid"];
const SIGNATURE_BYTES: usize = 64;

#[derive(Serialize)]
struct IssuedHeader<'a> {
    alg: &'static str,
    typ: &'static str,
    kid: &'a str,
}

/// Signs `payload` (JSON) as a compact JWS under `kid`.
pub(crate) fn sign_compact(
    key: &SigningKey,
    kid: &str,
    payload: &[u8],
) -> Result<String, serde_json::Error> {
    let header = serde_json::to_vec(&IssuedHeader {
        alg: ALGORITHM,
        typ: TOKEN_TYPE,
        kid,
    })?;
    let mut token = URL_SAFE_NO_PAD.encode(header);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(payload, &mut token);
    let signature = key.sign(token.as_bytes());
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut token);
    Ok(token)
}

/// Checks everything but the claims and returns the verified payload bytes.
pub(crate) fn verify_compact(keys: &SigningKeys, token: &str) -> Result<Vec<u8>, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::Malformed("token is too long"));
    }
    let [header_b64, payload_b64, signature_b64] = split_segments(token)?;
    let header = parse_header(&decode_segment(header_b64, "header is not base64url")?)?;
    check_algorithm(&header)?;
    check_header_members(&header)?;
    check_token_type(&header)?;
    let key = resolve_key(keys, &header)?;
    let signature = decode_segment(signature_b64, "signature is not base64url")?;
    let payload = decode_segment(payload_b64, "payload is not base64url")?;
    let signing_input_len = header_b64.len() + 1 + payload_b64.len();
    let signing_input = &token.as_bytes()[..signing_input_len];
    if !signature_matches(key, signing_input, &signature) {
        return Err(TokenError::Signature);
    }
    Ok(payload)
}

/// Verifies an Ed25519 signature exactly as the access-token verifier does
/// (`verify_strict`: canonical `S`, no small-order `R` or public key). Public
/// so the check can be run against external test vectors.
#[must_use]
pub fn ed25519_signature_is_valid(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let Ok(public_key) = <[u8; 32]>::try_from(public_key) else {
        return false;
    };
    VerifyingKey::from_bytes(&public_key)
        .is_ok_and(|key| signature_matches(&key, message, signature))
}

fn signature_matches(key: &VerifyingKey, message: &[u8], signature: &[u8]) -> bool {
    let Ok(signature) = <[u8; SIGNATURE_BYTES]>::try_from(signature) else {
        return false;
    };
    key.verify_strict(message, &Signature::from_bytes(&signature))
        .is_ok()
}

fn split_segments(token: &str) -> Result<[&str; 3], TokenError> {
    let mut segments = token.split('.');
    match (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) {
        (Some(header), Some(payload), Some(signature), None) => Ok([header, payload, signature]),
        _ => Err(TokenError::Malformed(
            "expected three dot-separated segments",
        )),
    }
}

/// Strict base64url: the URL-safe alphabet, no padding, no stray trailing bits.
fn decode_segment(segment: &str, problem: &'static str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| TokenError::Malformed(problem))
}

fn parse_header(bytes: &[u8]) -> Result<HeaderMembers, TokenError> {
    serde_json::from_slice(bytes).map_err(|_| {
        TokenError::Malformed("header is not a JSON object with distinct member names")
    })
}

/// `alg` is checked first and on its own: a token that names any algorithm
/// but ours (including `none` in any letter case, and the HMAC algorithms
/// used in key-confusion attacks) is refused without further reading.
fn check_algorithm(header: &HeaderMembers) -> Result<(), TokenError> {
    match header.0.get("alg") {
        Some(Value::String(alg)) if alg == ALGORITHM => Ok(()),
        Some(_) => Err(TokenError::Algorithm("only EdDSA is accepted")),
        None => Err(TokenError::Algorithm("alg is missing")),
    }
}

/// Any member we do not issue is refused, notably `jwk`, `jku`, `x5u`, `x5c`
/// (keys the token supplies for its own verification), `crit` and `b64`.
fn check_header_members(header: &HeaderMembers) -> Result<(), TokenError> {
    if header
        .0
        .keys()
        .all(|name| ALLOWED_HEADER_MEMBERS.contains(&name.as_str()))
    {
        Ok(())
    } else {
        Err(TokenError::Header("unexpected header member"))
    }
}

/// Explicit typing (RFC 8725 section 3.11, RFC 9068 section 4) keeps other
/// JWTs signed by the same keys from passing as access tokens. Media types are
/// compared case-insensitively (RFC 7515 section 4.1.9).
fn check_token_type(header: &HeaderMembers) -> Result<(), TokenError> {
    match header.0.get("typ") {
        Some(Value::String(typ))
            if typ.eq_ignore_ascii_case(TOKEN_TYPE)
                || typ.eq_ignore_ascii_case(TOKEN_MEDIA_TYPE) =>
        {
            Ok(())
        }
        Some(_) => Err(TokenError::Header("typ must be at+jwt")),
        None => Err(TokenError::Header("typ is missing")),
    }
}

fn resolve_key<'k>(
    keys: &'k SigningKeys,
    header: &HeaderMembers,
) -> Result<&'k VerifyingKey, TokenError> {
    match header.0.get("kid") {
        Some(Value::String(kid)) => keys.verifying_key(kid).ok_or(TokenError::UnknownKey),
        Some(_) => Err(TokenError::Header("kid must be a string")),
        None => Err(TokenError::Header("kid is missing")),
    }
}

/// A JOSE header's members. Deserialising refuses a repeated member name
/// instead of keeping the last one, so a header cannot say one thing to us
/// and another to a different parser.
struct HeaderMembers(BTreeMap<String, Value>);

impl<'de> Deserialize<'de> for HeaderMembers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(HeaderVisitor)
    }
}

struct HeaderVisitor;

impl<'de> Visitor<'de> for HeaderVisitor {
    type Value = HeaderMembers;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON object with distinct member names")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut members = BTreeMap::new();
        while let Some((name, value)) = access.next_entry::<String, Value>()? {
            if members.contains_key(&name) {
                return Err(serde::de::Error::custom("duplicate header member"));
            }
            members.insert(name, value);
        }
        Ok(HeaderMembers(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(json: &str) -> Result<HeaderMembers, TokenError> {
        parse_header(json.as_bytes())
    }

    #[test]
    fn duplicate_header_members_are_refused() {
        assert!(header(r#"{"alg":"EdDSA","typ":"at+jwt","kid":"a"}"#).is_ok());
        assert_eq!(
            header(r#"{"alg":"EdDSA","alg":"none"}"#).err(),
            Some(TokenError::Malformed(
                "header is not a JSON object with distinct member names"
            ))
        );
    }

    #[test]
    fn non_object_headers_are_refused() {
        for json in ["[]", "\"EdDSA\"", "null", "{", r#"{"alg":"EdDSA"} x"#, ""] {
            assert!(
                matches!(header(json), Err(TokenError::Malformed(_))),
                "{json}"
            );
        }
    }

    #[test]
    fn algorithm_must_be_exactly_eddsa() -> Result<(), TokenError> {
        check_algorithm(&header(r#"{"alg":"EdDSA"}"#)?)?;
        for json in [
            r#"{"alg":"eddsa"}"#,
            r#"{"alg":"Ed25519"}"#,
            r#"{"alg":"none"}"#,
            r#"{"alg":["EdDSA"]}"#,
            r#"{"alg":null}"#,
            r#"{"typ":"at+jwt"}"#,
        ] {
            assert!(
                matches!(
                    check_algorithm(&header(json)?),
                    Err(TokenError::Algorithm(_))
                ),
                "{json}"
            );
        }
        Ok(())
    }

    #[test]
    fn media_type_forms_of_typ_are_accepted() -> Result<(), TokenError> {
        for typ in [
            "at+jwt",
            "AT+JWT",
            "application/at+jwt",
            "Application/AT+JWT",
        ] {
            check_token_type(&header(&format!(r#"{{"typ":"{typ}"}}"#))?)?;
        }
        for typ in ["JWT", "at+jwt ", "application/jwt", "rt+jwt"] {
            let result = check_token_type(&header(&format!(r#"{{"typ":"{typ}"}}"#))?);
            assert!(matches!(result, Err(TokenError::Header(_))), "{typ}");
        }
        Ok(())
    }

    /// With the identity point as public key and as `R`, and `S = 0`, the
    /// cofactorless equation `[S]B = R + [k]A` holds for every message, so a
    /// lax verifier accepts this "signature" on anything. `verify_strict`
    /// refuses small-order keys.
    #[test]
    fn weak_key_universal_forgery_is_refused() {
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(&identity);
        for message in [&b""[..], b"any message", b"{\"sub\":\"admin\"}"] {
            assert!(!ed25519_signature_is_valid(&identity, message, &signature));
        }
    }

    #[test]
    fn malformed_key_or_signature_lengths_are_refused() {
        let key = SigningKey::from_bytes(&[9u8; 32]);
        let public = key.verifying_key().to_bytes();
        let signature = key.sign(b"message").to_bytes();
        assert!(ed25519_signature_is_valid(&public, b"message", &signature));
        assert!(!ed25519_signature_is_valid(&public, b"messagE", &signature));
        assert!(!ed25519_signature_is_valid(
            &public[..31],
            b"message",
            &signature
        ));
        assert!(!ed25519_signature_is_valid(
            &public,
            b"message",
            &signature[..63]
        ));
        assert!(!ed25519_signature_is_valid(&public, b"message", &[]));
    }

    #[test]
    fn segments_must_number_exactly_three() {
        assert_eq!(split_segments("a.b.c").ok(), Some(["a", "b", "c"]));
        assert_eq!(split_segments("a.b..").ok(), None);
        assert_eq!(split_segments("a.b").ok(), None);
        assert_eq!(split_segments("abc").ok(), None);
        assert_eq!(split_segments("..").ok(), Some(["", "", ""]));
    }

    #[test]
    fn padded_or_standard_base64_is_refused() {
        assert_eq!(decode_segment("e30", "bad").ok(), Some(b"{}".to_vec()));
        assert!(decode_segment("e30=", "bad").is_err());
        assert!(decode_segment("ab+/", "bad").is_err());
        // "e31" would decode to the same "{}" as "e30" but sets a bit past the
        // last whole byte: a second spelling of the same token.
        assert_eq!(
            decode_segment("e31", "bad"),
            Err(TokenError::Malformed("bad"))
        );
    }
}
