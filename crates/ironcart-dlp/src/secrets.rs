//! Credentials: PEM private keys, JWTs, and API keys (by their vendor
//! prefixes, or as high-entropy values assigned to a key/token/secret name).
//!
//! Each detector is a hand-written scan over the text (no regular
//! expressions), linear in its length, so a hostile input cannot make the
//! scan slow.

use std::ops::Range;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Characters of a base64url segment (JWT parts, most vendor tokens).
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-'
}

/// Length of the run of bytes from `start` satisfying `accept`.
fn run_length(bytes: &[u8], start: usize, accept: impl Fn(u8) -> bool) -> usize {
    bytes.get(start..).map_or(0, |rest| {
        rest.iter().take_while(|&&byte| accept(byte)).count()
    })
}

/// The longest value [`assigned_secret_spans`] considers.
const MAX_ASSIGNED_VALUE_LEN: usize = 512;

/// The label of a PEM boundary line starting at `label_start` (the text up
/// to the closing `-----`), if it closes within 40 bytes.
fn pem_label(text: &str, label_start: usize) -> Option<&str> {
    let window = text.as_bytes().get(label_start..)?;
    let len = window
        .windows(5)
        .take(41)
        .position(|five| five == b"-----")?;
    text.get(label_start..label_start + len)
}

/// Byte spans of PEM private-key blocks: from `-----BEGIN … PRIVATE KEY…-----`
/// to the matching `-----END …-----`. A block cut short (no END line) extends
/// over the base64 and whitespace that follow, since half a key is still a
/// leak.
///
/// END lines are indexed once up front, so text full of unmatched BEGIN
/// lines costs linear time, not a search to the end per BEGIN.
pub(crate) fn private_key_spans(text: &str) -> Vec<Range<usize>> {
    const BEGIN: &str = "-----BEGIN ";
    const END: &str = "-----END ";
    let bytes = text.as_bytes();
    if !text.contains(BEGIN) {
        return Vec::new();
    }

    let mut ends: std::collections::HashMap<&str, Vec<usize>> = std::collections::HashMap::new();
    for (position, _) in text.match_indices(END) {
        if let Some(label) = pem_label(text, position + END.len()) {
            ends.entry(label).or_default().push(position);
        }
    }

    let mut spans = Vec::new();
    let mut from = 0;
    for (start, _) in text.match_indices(BEGIN) {
        if start < from {
            continue;
        }
        let label_start = start + BEGIN.len();
        let Some(label) = pem_label(text, label_start) else {
            continue;
        };
        if !label.contains("PRIVATE KEY") {
            continue;
        }
        let header_end = label_start + label.len() + 5;
        let matching_end = ends.get(label).and_then(|positions| {
            let index = positions.partition_point(|&position| position < header_end);
            positions.get(index)
        });
        let end = match matching_end {
            Some(&position) => position + END.len() + label.len() + 5,
            None => {
                let body = |byte: u8| {
                    byte.is_ascii_alphanumeric()
                        || matches!(byte, b'+' | b'/' | b'=' | b'\\')
                        || byte.is_ascii_whitespace()
                };
                let len = run_length(bytes, header_end, body);
                // Trailing whitespace is not part of the key.
                header_end + text[header_end..header_end + len].trim_end().len()
            }
        };
        spans.push(start..end);
        from = end;
    }
    spans
}

/// Byte spans of JWTs (JWS compact form): three base64url segments joined
/// by dots, the first decoding to a JSON object with a string `alg`. The
/// signature segment may be empty (`alg: none`), which is still a token.
pub(crate) fn jwt_spans(text: &str) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(offset) = text.get(from..).and_then(|rest| rest.find("eyJ")) {
        let start = from + offset;
        from = start + 3;
        if start > 0 && is_token_byte(bytes[start - 1]) {
            continue;
        }
        let header_len = run_length(bytes, start, is_token_byte);
        let payload_start = start + header_len + 1;
        if bytes.get(payload_start - 1) != Some(&b'.') {
            continue;
        }
        let payload_len = run_length(bytes, payload_start, is_token_byte);
        let signature_start = payload_start + payload_len + 1;
        if payload_len == 0 || bytes.get(signature_start - 1) != Some(&b'.') {
            continue;
        }
        let end = signature_start + run_length(bytes, signature_start, is_token_byte);
        if header_has_alg(&text[start..start + header_len]) {
            spans.push(start..end);
            from = end;
        }
    }
    spans
}

fn header_has_alg(segment: &str) -> bool {
    URL_SAFE_NO_PAD
        .decode(segment)
        .ok()
        .and_then(|json| serde_json::from_slice::<serde_json::Value>(&json).ok())
        .is_some_and(|header| header.get("alg").is_some_and(serde_json::Value::is_string))
}

/// A vendor token format: its prefix, the alphabet of what follows, and the
/// shortest that part can be.
type VendorFormat = (&'static str, fn(u8) -> bool, usize);

/// Vendor token formats. They are documented by their vendors and rarely
/// collide with anything else.
pub(crate) const PREFIXED: &[VendorFormat] = &[
    // Stripe secret and restricted keys, and webhook signing secrets.
    ("sk_live_", alphanumeric, 16),
    ("sk_test_", alphanumeric, 16),
    ("rk_live_", alphanumeric, 16),
    ("rk_test_", alphanumeric, 16),
    ("whsec_", alphanumeric, 24),
    // GitHub personal, OAuth, user-to-server, server-to-server and refresh tokens.
    ("ghp_", alphanumeric, 30),
    ("gho_", alphanumeric, 30),
    ("ghu_", alphanumeric, 30),
    ("ghs_", alphanumeric, 30),
    ("ghr_", alphanumeric, 30),
    ("github_pat_", is_token_byte, 40),
    // Slack bot and user tokens.
    ("xoxb-", is_token_byte, 10),
    ("xoxp-", is_token_byte, 10),
    // Google API keys.
    ("AIza", is_token_byte, 35),
];

/// Prefixes of AWS access key ids.
pub(crate) const AWS_PREFIXES: [&str; 2] = ["AKIA", "ASIA"];

fn alphanumeric(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
}

fn upper_alphanumeric(byte: u8) -> bool {
    byte.is_ascii_uppercase() || byte.is_ascii_digit()
}

/// Byte spans of API keys recognised by their vendor prefix.
pub(crate) fn prefixed_key_spans(text: &str) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    for &(prefix, accept, min_len) in PREFIXED {
        for (start, _) in text.match_indices(prefix) {
            if start > 0 && is_token_byte(bytes[start - 1]) {
                continue;
            }
            let len = run_length(bytes, start + prefix.len(), accept);
            if len >= min_len {
                spans.push(start..start + prefix.len() + len);
            }
        }
    }
    // AWS access key ids: exactly AKIA/ASIA + 16 of [A-Z0-9], standing alone.
    for prefix in AWS_PREFIXES {
        for (start, _) in text.match_indices(prefix) {
            let end = start + 20;
            let alone = (start == 0 || !is_token_byte(bytes[start - 1]))
                && bytes.get(end).is_none_or(|&byte| !is_token_byte(byte));
            if alone && run_length(bytes, start + 4, upper_alphanumeric) == 16 {
                spans.push(start..end);
            }
        }
    }
    spans
}

/// Names whose value is a credential: any identifier ending in one of these
/// (case-insensitive), such as `api_key`, `apiKey`, `access_token`,
/// `client_secret`.
pub(crate) const SECRET_NAME_SUFFIXES: &[&str] = &["key", "token", "secret"];

/// Name fragments that mark a key-like name as public or as a mere handle
/// (`public_key`, `publishable_key`, `idempotency_key`, `next_page_token`,
/// `cache_key`, `sort_key`, `cursor_token`): random-looking, not secret.
const NOT_SECRET_FRAGMENTS: &[&str] = &[
    "public",
    "publishable",
    "idempotency",
    "page",
    "cache",
    "sort",
    "cursor",
];

/// Whether a field or parameter name announces a credential. Called for
/// every `=` and `:` in a text, so the common "no" costs no allocation.
pub(crate) fn is_secret_name(name: &str) -> bool {
    let ends_with = |suffix: &str| {
        name.len() >= suffix.len()
            && name.as_bytes()[name.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
    };
    if !SECRET_NAME_SUFFIXES.iter().any(|suffix| ends_with(suffix)) {
        return false;
    }
    let lower = name.to_ascii_lowercase();
    !NOT_SECRET_FRAGMENTS
        .iter()
        .any(|fragment| lower.contains(fragment))
}

fn is_value_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'+' | b'/' | b'=' | b'.' | b'~')
}

/// Shannon entropy of `value` in bits per character.
fn entropy(value: &[u8]) -> f64 {
    let mut counts = [0u32; 256];
    for &byte in value {
        counts[usize::from(byte)] += 1;
    }
    let total = value.len() as f64;
    counts
        .iter()
        .filter(|&&count| count > 0)
        .map(|&count| {
            let p = f64::from(count) / total;
            -p * p.log2()
        })
        .sum()
}

/// Whether a value assigned to a secret-sounding name looks like a real
/// credential rather than a placeholder, a word, a date or an id. It must be
/// 20 to 512 characters of a token alphabet and either
///
/// - long hex (32 or more hex digits, at least 3.0 bits of entropy per
///   character), or
/// - mixed: upper case, lower case and digits, with the digits in at least
///   two separate places, and at least 3.5 bits of entropy per character.
///
/// Words fail the mixed test (`YOUR_API_KEY_HERE` has no digits,
/// `product_image_large_2024` no capitals, `MyProductImage2024` one digit
/// cluster), as do dates and order numbers. The price is recall on short
/// random keys that happen to hold a single digit cluster (about one in ten
/// 24-character base62 keys); vendor formats are caught by their prefix
/// regardless.
pub(crate) fn looks_random(value: &str) -> bool {
    let bytes = value.as_bytes();
    if !(20..=MAX_ASSIGNED_VALUE_LEN).contains(&bytes.len())
        || !bytes.iter().all(|&byte| is_value_byte(byte))
    {
        return false;
    }
    let has_digit = bytes.iter().any(u8::is_ascii_digit);
    if bytes.len() >= 32 && has_digit && bytes.iter().all(u8::is_ascii_hexdigit) {
        let single_case =
            !(bytes.iter().any(u8::is_ascii_lowercase) && bytes.iter().any(u8::is_ascii_uppercase));
        return single_case && entropy(bytes) >= 3.0;
    }
    let digit_clusters = bytes
        .iter()
        .enumerate()
        .filter(|&(i, byte)| byte.is_ascii_digit() && (i == 0 || !bytes[i - 1].is_ascii_digit()))
        .count();
    bytes.iter().any(u8::is_ascii_uppercase)
        && bytes.iter().any(u8::is_ascii_lowercase)
        && digit_clusters >= 2
        && entropy(bytes) >= 3.5
}

/// Byte spans of values in `name=value` / `name: value` / `"name": "value"`
/// assignments whose name announces a credential and whose value
/// [`looks_random`]. The span covers the value only, so masking keeps the
/// name readable: `api_key=[REDACTED:api_key]`.
pub(crate) fn assigned_secret_spans(text: &str) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    for (position, &byte) in bytes.iter().enumerate() {
        if byte != b'=' && byte != b':' {
            continue;
        }
        // Walk back over spaces and a closing quote to the name.
        let mut name_end = position;
        while name_end > 0 && bytes[name_end - 1] == b' ' {
            name_end -= 1;
        }
        if name_end > 0 && matches!(bytes[name_end - 1], b'"' | b'\'') {
            name_end -= 1;
        }
        let name_start = bytes[..name_end]
            .iter()
            .rposition(|&b| !(b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
            .map_or(0, |i| i + 1);
        if name_start == name_end || !is_secret_name(&text[name_start..name_end]) {
            continue;
        }
        // Walk forward over spaces and an opening quote to the value.
        let mut value_start = position + 1;
        value_start += run_length(bytes, value_start, |b| b == b' ');
        if matches!(bytes.get(value_start), Some(b'"' | b'\'')) {
            value_start += 1;
        }
        let value_len = run_length(bytes, value_start, is_value_byte);
        // Longer than any credential: a blob, not a key. The cap also keeps
        // `key=key=key=…` from costing quadratic time.
        if value_len > MAX_ASSIGNED_VALUE_LEN {
            continue;
        }
        let value_end = value_start + value_len;
        if looks_random(&text[value_start..value_end]) {
            spans.push(value_start..value_end);
        }
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_of_uniform_and_constant_strings() {
        assert!((entropy(b"aaaa") - 0.0).abs() < 1e-9);
        assert!((entropy(b"abcd") - 2.0).abs() < 1e-9);
        assert!((entropy(b"0123456789abcdef") - 4.0).abs() < 1e-9);
    }

    #[test]
    fn random_looking_values_are_told_from_words_and_ids() {
        for credential in [
            "9fK2xQ7vLm3ZpR8sT1wYbC4n",
            "3f9a7c2e1b8d4f6a0c5e9b7d2a4f6c8e",
            "AbCdEfGh1234IjKlMnOp5678",
        ] {
            assert!(looks_random(credential), "{credential}");
        }
        for ordinary in [
            "YOUR_API_KEY_HERE",
            "order-2024-05-01-0001",
            "product_image_large_2024",
            "short1",
            "aaaaaaaaaaaaaaaaaaaaaaaa1",
            "0000000000000000000000000000000000000001",
            "created_at_desc_sort_order",
            "MyProductImage2024Large",
            "550e8400-e29b-41d4-a716-446655440000",
        ] {
            assert!(!looks_random(ordinary), "{ordinary}");
        }
    }

    #[test]
    fn secret_names_are_matched_by_suffix() {
        for name in [
            "key",
            "api_key",
            "apiKey",
            "X-API-KEY",
            "access_token",
            "client_secret",
            "Token",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in [
            "keyboard",
            "tokens",
            "secretary",
            "id",
            "",
            "public_key",
            "publishableKey",
            "idempotency_key",
            "next_page_token",
            "cache_key",
        ] {
            assert!(!is_secret_name(name), "{name}");
        }
    }
}
