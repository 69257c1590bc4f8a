//! A pre-screen over the encoded bytes of a JSON document: `false` means that
//! [`crate::scan_json`] on the parsed document would find nothing, so the caller
//! may skip parsing it. Most responses are clean, and reading their bytes once is
//! far cheaper than parsing, copying and scanning every string.
//!
//! It reads every byte and answers `true` (a candidate: do the full scan) when the
//! bytes hold anything a detector could start from:
//!
//! - a digit run that the card or SSN detectors accept when no edge counts as
//!   glued ([`Edges::Loose`]): JSON escapes hold no digits, spaces or dashes, and
//!   quotes end runs, so a run of a decoded string is the same run in its encoded
//!   form, and an integer's digits are a run of their own;
//! - the literal start of a private key, a JWT, or a vendor or AWS key (none of
//!   them has a character JSON escapes);
//! - a name ending in `key`, `token` or `secret` (any case) followed, past
//!   quotes, backslashes and white space, by `=` or `:`: every assigned secret in
//!   a string and every secret-named member has one;
//! - a `\u` escape, behind which any character may hide, and bytes that are not
//!   UTF-8 (which the caller's parser would refuse anyway).

use std::sync::LazyLock;

use aho_corasick::AhoCorasick;

use crate::numbers::{self, Edges};
use crate::secrets;

/// Literals any finding of their kind contains.
static LITERALS: LazyLock<Option<AhoCorasick>> = LazyLock::new(|| {
    let fixed = ["\\u", "-----BEGIN ", "eyJ"];
    let vendors = secrets::PREFIXED.iter().map(|(prefix, _, _)| *prefix);
    let patterns: Vec<&str> = fixed
        .into_iter()
        .chain(vendors)
        .chain(secrets::AWS_PREFIXES)
        .collect();
    AhoCorasick::new(patterns).ok()
});

/// The endings of credential names, in any case.
static SECRET_NAMES: LazyLock<Option<AhoCorasick>> = LazyLock::new(|| {
    AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(secrets::SECRET_NAME_SUFFIXES)
        .ok()
});

/// Whether the encoded JSON document `raw` may hold a finding; see the module
/// documentation. Never `false` for a document in which [`crate::scan_json`]
/// finds something, whatever its policy.
pub fn json_may_contain_findings(raw: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(raw) else {
        return true;
    };
    let (Some(literals), Some(names)) = (&*LITERALS, &*SECRET_NAMES) else {
        return true;
    };
    literals.is_match(text)
        || names
            .find_iter(text)
            .any(|name| assigned_after(raw, name.end()))
        || !numbers::card_spans(text, Edges::Loose).is_empty()
        || !numbers::ssn_spans(text, Edges::Loose).is_empty()
}

/// Whether `=` or `:` follows `from`, past quotes, backslashes and white space.
fn assigned_after(raw: &[u8], from: usize) -> bool {
    raw.get(from..)
        .unwrap_or_default()
        .iter()
        .find(|byte| !matches!(byte, b' ' | b'\t' | b'\r' | b'\n' | b'"' | b'\'' | b'\\'))
        .is_some_and(|&byte| byte == b'=' || byte == b':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_catalog_json_is_not_a_candidate() {
        let page = br#"{"items":[{"id":"0193a2b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b","handle":"tee",
            "title":"Tee \"classic\"\n","price":{"amount":2999,"currency":"USD"},
            "created_at":"2026-12-04T19:00:00Z","tags":["cotton"]}],
            "page":1,"per_page":20,"total":42}"#;
        assert!(!json_may_contain_findings(page));
    }

    #[test]
    fn each_kind_of_start_is_a_candidate() {
        for raw in [
            r#"{"a":"4242 4242 4242 4242"}"#,
            r#"{"a":4242424242424242}"#,
            r#"{"a":"x\n4242424242424242"}"#,
            r#"{"a":"123-45-6789"}"#,
            r#"{"a":"-----BEGIN PRIVATE KEY-----"}"#,
            r#"{"a":"eyJhbGciOiJub25lIn0.e30."}"#,
            r#"{"a":"sk_live_abc"}"#,
            r#"{"a":"AKIA"}"#,
            r#"{"api_key":"x"}"#,
            r#"{"note":"TOKEN = x"}"#,
            r#"{"note":"my_secret\":x"}"#,
            r#"{"a":"\u0034"}"#,
        ] {
            assert!(json_may_contain_findings(raw.as_bytes()), "{raw}");
        }
        assert!(json_may_contain_findings(b"{\"a\":\"\xff\"}"));
    }
}
