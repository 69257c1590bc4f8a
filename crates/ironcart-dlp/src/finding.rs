//! What a detector reports, how findings are combined, and how they are
//! masked.

use std::fmt;
use std::ops::Range;

use crate::numbers::{self, Edges};
use crate::secrets;

/// The kinds of sensitive data the detectors know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A payment card number (PAN).
    PaymentCard,
    /// A US social security number.
    Ssn,
    /// A PEM-encoded private key block.
    PrivateKey,
    /// A JSON Web Token.
    Jwt,
    /// An API key, access token or other credential.
    ApiKey,
}

impl Kind {
    /// The name used in `[REDACTED:<name>]` and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PaymentCard => "payment_card",
            Self::Ssn => "ssn",
            Self::PrivateKey => "private_key",
            Self::Jwt => "jwt",
            Self::ApiKey => "api_key",
        }
    }

    /// When two findings overlap, the more specific one wins (a JWT assigned
    /// to `token=` is reported as a JWT, not as a generic key).
    fn specificity(self) -> u8 {
        match self {
            Self::PrivateKey => 0,
            Self::Jwt => 1,
            Self::PaymentCard => 2,
            Self::Ssn => 3,
            Self::ApiKey => 4,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One piece of sensitive data in a text. Holds no copy of it: `preview` is
/// the masked form, safe to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What was found.
    pub kind: Kind,
    /// Where, as a byte range of the scanned text (always on character
    /// boundaries).
    pub span: Range<usize>,
    /// The text [`mask`] puts in its place, e.g. `**** **** **** 4242`.
    pub preview: String,
}

/// The shortest text any detector can match: an SSN with its separators
/// (`123-45-6789`). Most strings in a response are shorter and are skipped.
const MIN_FINDING_LEN: usize = 11;

/// Every sensitive item in `text`, in order, without overlaps.
pub fn scan(text: &str) -> Vec<Finding> {
    if text.len() < MIN_FINDING_LEN {
        return Vec::new();
    }
    let mut candidates: Vec<(Kind, Range<usize>)> = Vec::new();
    let mut add = |kind: Kind, spans: Vec<Range<usize>>| {
        candidates.extend(spans.into_iter().map(|span| (kind, span)));
    };
    add(Kind::PrivateKey, secrets::private_key_spans(text));
    add(Kind::Jwt, secrets::jwt_spans(text));
    add(Kind::ApiKey, secrets::prefixed_key_spans(text));
    add(Kind::ApiKey, secrets::assigned_secret_spans(text));
    add(Kind::PaymentCard, numbers::card_spans(text, Edges::Strict));
    add(Kind::Ssn, numbers::ssn_spans(text, Edges::Strict));
    resolve_overlaps(text, candidates)
}

/// Whether `text` contains a payment card number, for ingress checks on
/// free-text fields (delivery notes, gift messages, reviews). Stricter about
/// refusing than [`scan`]: a number glued to letters (`card4242…`) counts.
pub fn contains_card_number(text: &str) -> bool {
    !numbers::card_spans(text, Edges::Ingress).is_empty()
}

/// Sorts candidates by position, keeps the widest (then most specific) of
/// overlapping ones, and attaches previews.
pub(crate) fn resolve_overlaps(
    text: &str,
    mut candidates: Vec<(Kind, Range<usize>)>,
) -> Vec<Finding> {
    candidates
        .sort_by_key(|(kind, span)| (span.start, std::cmp::Reverse(span.end), kind.specificity()));
    let mut findings: Vec<Finding> = Vec::with_capacity(candidates.len());
    for (kind, span) in candidates {
        if findings
            .last()
            .is_some_and(|last| span.start < last.span.end)
        {
            continue;
        }
        let preview = replacement(kind, &text[span.clone()]);
        findings.push(Finding {
            kind,
            span,
            preview,
        });
    }
    findings
}

/// What replaces a finding's text: card numbers and SSNs keep their last
/// four digits and their layout, everything else becomes `[REDACTED:kind]`.
fn replacement(kind: Kind, original: &str) -> String {
    match kind {
        Kind::PaymentCard | Kind::Ssn => {
            let digits = original.bytes().filter(u8::is_ascii_digit).count();
            let mut seen = 0;
            original
                .chars()
                .map(|c| {
                    if !c.is_ascii_digit() {
                        return c;
                    }
                    seen += 1;
                    if seen + 4 > digits { c } else { '*' }
                })
                .collect()
        }
        Kind::PrivateKey | Kind::Jwt | Kind::ApiKey => format!("[REDACTED:{}]", kind.as_str()),
    }
}

/// `text` with every finding replaced by its masked form.
///
/// Findings that do not fit `text` (out of range, off a character boundary,
/// overlapping an earlier one) are skipped rather than trusted, so a stale
/// list cannot make this panic; pass the findings of [`scan`] on the same
/// text. The replacement is computed from `text` itself, so card digits
/// are masked even if a caller edited `preview`.
pub fn mask(text: &str, findings: &[Finding]) -> String {
    let mut ordered: Vec<&Finding> = findings.iter().collect();
    ordered.sort_by_key(|finding| (finding.span.start, finding.span.end));

    let mut masked = String::with_capacity(text.len());
    let mut copied_to = 0;
    for finding in ordered {
        let span = finding.span.clone();
        if span.start < copied_to || span.start > span.end {
            continue;
        }
        let Some(original) = text.get(span.clone()) else {
            continue;
        };
        masked.push_str(&text[copied_to..span.start]);
        masked.push_str(&replacement(finding.kind, original));
        copied_to = span.end;
    }
    masked.push_str(&text[copied_to..]);
    masked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacements_keep_only_the_last_four_digits() {
        assert_eq!(
            replacement(Kind::PaymentCard, "4242 4242 4242 4242"),
            "**** **** **** 4242"
        );
        assert_eq!(
            replacement(Kind::PaymentCard, "378282246310005"),
            "***********0005"
        );
        assert_eq!(replacement(Kind::Ssn, "123-45-6789"), "***-**-6789");
        assert_eq!(replacement(Kind::Jwt, "eyJ.x.y"), "[REDACTED:jwt]");
    }

    #[test]
    fn overlapping_candidates_keep_the_widest_then_most_specific() {
        let text = "0123456789";
        let findings = resolve_overlaps(
            text,
            vec![
                (Kind::ApiKey, 2..6),
                (Kind::Jwt, 2..6),
                (Kind::PrivateKey, 0..4),
                (Kind::Ssn, 6..9),
            ],
        );
        let kept: Vec<(Kind, Range<usize>)> =
            findings.into_iter().map(|f| (f.kind, f.span)).collect();
        assert_eq!(kept, vec![(Kind::PrivateKey, 0..4), (Kind::Ssn, 6..9)]);
        let findings = resolve_overlaps(text, vec![(Kind::ApiKey, 2..6), (Kind::Jwt, 2..6)]);
        assert_eq!(findings.first().map(|f| f.kind), Some(Kind::Jwt));
    }

    #[test]
    fn mask_skips_findings_that_do_not_fit_the_text() {
        let bogus = |span: Range<usize>| Finding {
            kind: Kind::ApiKey,
            span,
            preview: String::new(),
        };
        let text = "héllo world";
        assert_eq!(
            mask(text, &[bogus(1..2)]),
            text,
            "inside a two-byte character"
        );
        assert_eq!(mask(text, &[bogus(5..50)]), text, "past the end");
        assert_eq!(
            mask(text, &[bogus(7..12), bogus(8..10)]),
            "héllo [REDACTED:api_key]"
        );
    }
}
