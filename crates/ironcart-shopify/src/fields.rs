//! Validation of individual cell values, independent of rows and columns.
//!
//! Each function returns the accepted value or a reason phrased as a
//! predicate ("is longer than 255 characters") that the caller prefixes with
//! the column name and an excerpt of the value.

use std::collections::HashSet;

use url::Url;

use crate::error::is_forbidden_char;
use crate::limits::{MAX_HANDLE_CHARS, MAX_IMAGE_URL_CHARS, MAX_NAME_CHARS, MAX_TAGS};

/// Checks the length and characters of one-line text.
pub(crate) fn check_line_text(value: &str, max_chars: usize) -> Result<(), String> {
    if value.chars().count() > max_chars {
        return Err(format!("is longer than {max_chars} characters"));
    }
    if value.chars().any(is_forbidden_char) {
        return Err("contains a control character".to_string());
    }
    Ok(())
}

/// Checks a multi-line description: line breaks and tabs are fine there.
pub(crate) fn check_body_text(value: &str, max_bytes: usize) -> Result<(), String> {
    if value.len() > max_bytes {
        return Err(format!("is larger than {max_bytes} bytes"));
    }
    let forbidden = |c: char| is_forbidden_char(c) && !matches!(c, '\n' | '\r' | '\t');
    if value.chars().any(forbidden) {
        return Err("contains a control character".to_string());
    }
    Ok(())
}

/// Lower-cases a handle and checks it is a plain URL key. Shopify handles
/// are case-insensitive, so `Blue-Shirt` and `blue-shirt` are one product.
pub(crate) fn normalize_handle(raw: &str) -> Result<String, String> {
    let handle = raw.to_lowercase();
    if handle.chars().count() > MAX_HANDLE_CHARS {
        return Err(format!("is longer than {MAX_HANDLE_CHARS} characters"));
    }
    let is_key_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    if !handle.chars().all(is_key_char) {
        return Err("may only contain letters a-z, digits and hyphens".to_string());
    }
    Ok(handle)
}

/// Splits a comma-separated tag list: trimmed, empties dropped, duplicates
/// (ignoring case) dropped keeping the first spelling.
pub(crate) fn split_tags(raw: &str) -> Result<Vec<String>, String> {
    let mut seen = HashSet::new();
    let mut tags = Vec::new();
    for tag in raw.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        check_line_text(tag, MAX_NAME_CHARS)
            .map_err(|reason| format!("has a tag that {reason}"))?;
        if seen.insert(tag.to_lowercase()) {
            tags.push(tag.to_string());
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(format!("has more than {MAX_TAGS} tags"));
    }
    Ok(tags)
}

/// `true`/`false` in any case.
pub(crate) fn parse_flag(raw: &str) -> Option<bool> {
    if raw.eq_ignore_ascii_case("true") {
        Some(true)
    } else if raw.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Accepts an absolute http(s) image URL without embedded credentials and
/// returns it normalised (so equal URLs compare equal).
pub(crate) fn image_url(raw: &str) -> Result<String, String> {
    check_line_text(raw, MAX_IMAGE_URL_CHARS)?;
    let url = Url::parse(raw).map_err(|_| "is not a valid absolute URL".to_string())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http or https URL".to_string());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain a user name or password".to_string());
    }
    Ok(url.into())
}

/// Case-insensitive equality for option names and values, which Shopify
/// treats as the same option when only the case differs.
pub(crate) fn same_text(a: &str, b: &str) -> bool {
    a == b || a.to_lowercase() == b.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_text_rejects_length_and_controls() {
        assert_eq!(check_line_text("Ocean Blue Shirt", 255), Ok(()));
        assert_eq!(check_line_text("wide\u{a0}sleeves", 255), Ok(()));
        assert_eq!(check_line_text(&"é".repeat(255), 255), Ok(()));
        assert_eq!(
            check_line_text(&"é".repeat(256), 255),
            Err("is longer than 255 characters".to_string())
        );
        for bad in [
            "a\nb",
            "a\tb",
            "a\u{0}b",
            "a\u{7f}",
            "a\u{85}",
            "evil\u{202E}txt",
        ] {
            assert_eq!(
                check_line_text(bad, 255),
                Err("contains a control character".to_string()),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn body_text_allows_line_breaks_only() {
        assert_eq!(check_body_text("<p>a</p>\r\n\t<p>b</p>", 100), Ok(()));
        assert_eq!(
            check_body_text("a\u{1b}[2J", 100),
            Err("contains a control character".to_string())
        );
        assert_eq!(
            check_body_text("abcd", 3),
            Err("is larger than 3 bytes".to_string())
        );
    }

    #[test]
    fn handles_are_lower_cased_url_keys() {
        assert_eq!(
            normalize_handle("Ocean-Blue-Shirt"),
            Ok("ocean-blue-shirt".to_string())
        );
        assert_eq!(
            normalize_handle("led-high-tops2"),
            Ok("led-high-tops2".to_string())
        );
        for bad in ["a b", "a/b", "../x", "a_b", "café", "<x>"] {
            assert_eq!(
                normalize_handle(bad),
                Err("may only contain letters a-z, digits and hyphens".to_string()),
                "{bad:?}"
            );
        }
        assert!(normalize_handle(&"a".repeat(256)).is_err());
        assert!(normalize_handle(&"a".repeat(255)).is_ok());
    }

    #[test]
    fn tags_are_trimmed_deduplicated_and_bounded() {
        assert_eq!(
            split_tags(" Pot, Plants,,pot , PLANTS, Garden ,"),
            Ok(vec![
                "Pot".to_string(),
                "Plants".to_string(),
                "Garden".to_string()
            ])
        );
        assert_eq!(split_tags(""), Ok(vec![]));
        let many: Vec<String> = (0..=MAX_TAGS).map(|n| format!("t{n}")).collect();
        assert_eq!(
            split_tags(&many.join(",")),
            Err("has more than 250 tags".to_string())
        );
        assert_eq!(
            split_tags("ok,bad\u{7}tag"),
            Err("has a tag that contains a control character".to_string())
        );
    }

    #[test]
    fn flags_accept_true_and_false_only() {
        assert_eq!(parse_flag("TRUE"), Some(true));
        assert_eq!(parse_flag("false"), Some(false));
        assert_eq!(parse_flag("yes"), None);
        assert_eq!(parse_flag("1"), None);
    }

    #[test]
    fn image_urls_must_be_plain_web_urls() {
        assert_eq!(
            image_url("https://burst.shopifycdn.com/photos/city-woman-fashion_925x@2x.jpg"),
            Ok("https://burst.shopifycdn.com/photos/city-woman-fashion_925x@2x.jpg".to_string())
        );
        assert_eq!(
            image_url("HTTPS://CDN.Example.com/a b.jpg"),
            Ok("https://cdn.example.com/a%20b.jpg".to_string())
        );
        assert_eq!(
            image_url("javascript:alert(1)"),
            Err("must be an http or https URL".to_string())
        );
        assert_eq!(
            image_url("file:///etc/passwd"),
            Err("must be an http or https URL".to_string())
        );
        assert_eq!(
            image_url("/photos/a.jpg"),
            Err("is not a valid absolute URL".to_string())
        );
        assert_eq!(
            image_url("https://user:pw@cdn.example.com/a.jpg"),
            Err("must not contain a user name or password".to_string())
        );
    }

    #[test]
    fn option_text_compares_ignoring_case() {
        assert!(same_text("Size", "size"));
        assert!(same_text("ÉTÉ", "été"));
        assert!(!same_text("Small", "Medium"));
    }
}
