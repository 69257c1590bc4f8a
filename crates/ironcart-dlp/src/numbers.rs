//! Card numbers (PANs) and US social security numbers: the detectors that
//! read digit runs.
//!
//! Both start from the same tokenisation: a *run* is a maximal sequence of
//! ASCII digit groups joined by single spaces or dashes (`4242 4242 4242
//! 4242`, `123-45-6789`, `4242424242424242`). A group is never split, so a
//! card number inside a longer digit string is not reported.
//!
//! A finding is a stretch of consecutive groups of a run with one separator
//! style. Its ends must be free: next to another group only through a space
//! (a dash links the two, as in `12-4242…` or a UUID's last group), and at
//! the run's edge not glued to an identifier. Outbound scanning treats an
//! edge touching a letter or `_`, or reaching a letter or digit through `-`
//! or `.`, as glued (`SKU-4242…`, `sku_4242…`, `0.4242…`, `4242….00`);
//! the ingress check counts only the links to digits, so `card4242…` typed
//! by a customer is still refused.
//!
//! A card is one to five groups laid out as cards are printed (one group of
//! 12–19 digits; groups of four with a shorter last group; or the Amex and
//! Diners 4-6-5 and 4-6-4), whose digits carry a known brand prefix and
//! length and pass the Luhn check. The longest such stretch from each group
//! wins, so `4242 4242 4242 4242 12 27` yields the card and leaves the
//! expiry. An SSN is three groups laid out 3-2-4 with one separator, not
//! continued by a fourth group with the same separator, outside the ranges
//! the SSA never issues.

use std::ops::Range;

/// The card scheme a number belongs to, from its prefix and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CardBrand {
    /// Visa: 4, 13/16/19 digits.
    Visa,
    /// Mastercard: 51–55 and 2221–2720, 16 digits.
    Mastercard,
    /// American Express: 34, 37, 15 digits.
    Amex,
    /// Discover: 6011, 622126–622925, 644–649, 65; 16–19 digits.
    Discover,
    /// JCB: 3528–3589, 16–19 digits.
    Jcb,
    /// Diners Club: 300–305, 3095, 36, 38, 39; 14–19 digits.
    DinersClub,
    /// UnionPay: 62, 8100–8171; 16–19 digits.
    UnionPay,
    /// Maestro: its named ranges (5018, 5020, 5038, 5893, 6304, 6759,
    /// 6761–6763) at 12–19 digits, and the rest of Mastercard's Maestro
    /// space (50, 56–69) at 16–19 digits only: short numbers in that wide
    /// space are too often order numbers.
    Maestro,
}

/// The brand of a number given as ASCII digits, if its prefix and length
/// match one. Does not check Luhn.
pub fn card_brand(digits: &str) -> Option<CardBrand> {
    let d = digits.as_bytes();
    if !(12..=19).contains(&d.len()) || !d.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let prefix = |n: usize| {
        d[..n]
            .iter()
            .fold(0u32, |acc, digit| acc * 10 + u32::from(digit - b'0'))
    };
    let (p1, p2, p3, p4, p6) = (prefix(1), prefix(2), prefix(3), prefix(4), prefix(6));
    let len = d.len();

    if (p2 == 34 || p2 == 37) && len == 15 {
        Some(CardBrand::Amex)
    } else if p1 == 4 && matches!(len, 13 | 16 | 19) {
        Some(CardBrand::Visa)
    } else if ((51..=55).contains(&p2) || (2221..=2720).contains(&p4)) && len == 16 {
        Some(CardBrand::Mastercard)
    } else if (p4 == 6011
        || (622_126..=622_925).contains(&p6)
        || (644..=649).contains(&p3)
        || p2 == 65)
        && len >= 16
    {
        Some(CardBrand::Discover)
    } else if (3528..=3589).contains(&p4) && len >= 16 {
        Some(CardBrand::Jcb)
    } else if ((300..=305).contains(&p3) || p4 == 3095 || matches!(p2, 36 | 38 | 39)) && len >= 14 {
        Some(CardBrand::DinersClub)
    } else if (p2 == 62 || (8100..=8171).contains(&p4)) && len >= 16 {
        Some(CardBrand::UnionPay)
    } else if matches!(p4, 5018 | 5020 | 5038 | 5893 | 6304 | 6759 | 6761..=6763)
        || ((p2 == 50 || (56..=69).contains(&p2)) && len >= 16)
    {
        Some(CardBrand::Maestro)
    } else {
        None
    }
}

/// The Luhn (mod 10) check every payment card number satisfies.
pub(crate) fn luhn_valid(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(position, digit)| {
            let value = u32::from(digit - b'0');
            match (position % 2 == 1, value * 2) {
                (false, _) => value,
                (true, doubled) if doubled > 9 => doubled - 9,
                (true, doubled) => doubled,
            }
        })
        .sum();
    sum % 10 == 0
}

/// How strictly the edges of a run are judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Edges {
    /// Outbound scanning: a run touching a letter is part of an identifier.
    Strict,
    /// Ingress checks: a customer typing `card4242…` still typed a card, so
    /// letters count as boundaries; only digits, decimals and `-`/`.` links
    /// to other digits disqualify.
    Ingress,
    /// Pre-screening a document's encoded form ([`crate::prescreen`]): nothing
    /// counts as glued, so every finding of the decoded text is found there too.
    Loose,
}

/// One maximal run of digit groups.
struct Run {
    /// Byte ranges of the groups, in order.
    groups: Vec<Range<usize>>,
    /// The separator after each group but the last.
    separators: Vec<u8>,
    /// The first group is glued to what precedes the run.
    glued_start: bool,
    /// The last group is glued to what follows the run.
    glued_end: bool,
}

impl Run {
    /// Whether groups `first..=last` may form a finding on their own: they
    /// use one separator, and each end is either a space away from the next
    /// group or, at the run's edge, not glued to an identifier. A dash to a
    /// neighbouring group links the two, as in `12-4242…` or a UUID.
    fn free(&self, first: usize, last: usize) -> bool {
        let inner = &self.separators[first..last];
        let left_free = match first.checked_sub(1) {
            None => !self.glued_start,
            Some(before) => self.separators[before] == b' ',
        };
        let right_free = match self.separators.get(last) {
            None => !self.glued_end,
            Some(&after) => after == b' ',
        };
        inner.windows(2).all(|pair| pair[0] == pair[1]) && left_free && right_free
    }

    fn span(&self, first: usize, last: usize) -> Range<usize> {
        self.groups[first].start..self.groups[last].end
    }

    fn lengths(&self, first: usize, last: usize) -> Vec<usize> {
        self.groups[first..=last]
            .iter()
            .map(ExactSizeIterator::len)
            .collect()
    }
}

fn is_word_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

/// Fewer digits than this can be neither a card (12) nor an SSN (9).
const MIN_DIGITS: usize = 9;

/// Splits `text` into runs, marking ends glued to their surroundings. Runs
/// too short to matter are dropped before anything is allocated for them:
/// most digit runs in a response are prices, counts and dates.
fn runs(text: &str, edges: Edges) -> Vec<Run> {
    let bytes = text.as_bytes();
    let mut runs = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        let mut digits = 0;
        loop {
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
                digits += 1;
            }
            let joined = matches!(bytes.get(i), Some(b' ' | b'-'))
                && bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
            if !joined {
                break;
            }
            i += 1;
        }
        if digits >= MIN_DIGITS {
            runs.push(split_run(bytes, start, i, edges));
        }
    }
    runs
}

/// The groups and separators of the run `start..end`.
fn split_run(bytes: &[u8], start: usize, end: usize, edges: Edges) -> Run {
    let mut groups = Vec::new();
    let mut separators = Vec::new();
    let mut group_start = start;
    for (offset, &byte) in bytes[start..end].iter().enumerate() {
        if !byte.is_ascii_digit() {
            groups.push(group_start..start + offset);
            separators.push(byte);
            group_start = start + offset + 1;
        }
    }
    groups.push(group_start..end);
    Run {
        groups,
        separators,
        glued_start: glued(bytes, start.checked_sub(1), start.checked_sub(2), edges),
        glued_end: glued(bytes, Some(end), Some(end + 1), edges),
    }
}

/// Whether the byte at `next` (just outside a run), reached possibly
/// through a `-` or `.` link to the byte at `beyond`, makes the run part of a
/// larger token.
fn glued(bytes: &[u8], next: Option<usize>, beyond: Option<usize>, edges: Edges) -> bool {
    let byte = |index: Option<usize>| index.and_then(|i| bytes.get(i)).copied();
    let (next, beyond) = (byte(next), byte(beyond));
    let touching = edges == Edges::Strict && next.is_some_and(is_word_byte);
    let linked = matches!(next, Some(b'-' | b'.'))
        && beyond.is_some_and(|b| match edges {
            Edges::Strict => b.is_ascii_alphanumeric(),
            Edges::Ingress => b.is_ascii_digit(),
            Edges::Loose => false,
        });
    touching || linked
}

/// Whether group lengths are laid out as a card is printed.
fn card_layout(lengths: &[usize]) -> bool {
    match lengths {
        [single] => (12..=19).contains(single),
        [4, 6, 4] | [4, 6, 5] => true,
        [init @ .., tail] => init.iter().all(|&len| len == 4) && (1..=4).contains(tail),
        [] => false,
    }
}

fn digits_of(text: &str, span: Range<usize>) -> Vec<u8> {
    text.as_bytes()[span]
        .iter()
        .copied()
        .filter(u8::is_ascii_digit)
        .collect()
}

/// Whether ASCII `digits` are a payment card number: brand and Luhn.
pub(crate) fn is_card_number(digits: &[u8]) -> bool {
    std::str::from_utf8(digits).is_ok_and(|text| card_brand(text).is_some()) && luhn_valid(digits)
}

/// Byte spans of the card numbers in `text`: within each run, the longest
/// qualifying stretch of groups starting at each group, left to right.
pub(crate) fn card_spans(text: &str, edges: Edges) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    for run in runs(text, edges) {
        let mut first = 0;
        while first < run.groups.len() {
            let found = (first..run.groups.len().min(first + 5))
                .rev()
                .find(|&last| {
                    run.free(first, last)
                        && card_layout(&run.lengths(first, last))
                        && is_card_number(&digits_of(text, run.span(first, last)))
                });
            match found {
                Some(last) => {
                    spans.push(run.span(first, last));
                    first = last + 1;
                }
                None => first += 1,
            }
        }
    }
    spans
}

/// Whether the three parts of an SSN lie outside the ranges the SSA never
/// assigns: area 000, 666 and 900–999, group 00, serial 0000.
pub fn ssn_valid(area: u16, group: u8, serial: u16) -> bool {
    area != 0
        && area != 666
        && area < 900
        && group != 0
        && serial != 0
        && group <= 99
        && serial <= 9999
}

/// Byte spans of the SSNs in `text`: three groups laid out `ddd-dd-dddd`
/// or `ddd dd dddd`, not continued by a fourth group with the same
/// separator (that is a longer number). Nine digits without separators are
/// not flagged: too many identifiers and amounts look like that.
pub(crate) fn ssn_spans(text: &str, edges: Edges) -> Vec<Range<usize>> {
    let number = |span: &Range<usize>| -> u16 {
        text.as_bytes()[span.clone()]
            .iter()
            .fold(0u16, |acc, digit| {
                acc.saturating_mul(10)
                    .saturating_add(u16::from(digit - b'0'))
            })
    };
    let mut spans = Vec::new();
    for run in runs(text, edges) {
        for first in 0..run.groups.len().saturating_sub(2) {
            let last = first + 2;
            let separator = run.separators[first];
            let continued = (first > 0 && run.separators[first - 1] == separator)
                || run.separators.get(last) == Some(&separator);
            if continued || !run.free(first, last) || run.lengths(first, last) != [3, 2, 4] {
                continue;
            }
            let group = u8::try_from(number(&run.groups[first + 1])).unwrap_or(0);
            if ssn_valid(number(&run.groups[first]), group, number(&run.groups[last])) {
                spans.push(run.span(first, last));
            }
        }
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_valid_and_rejects_single_digit_changes() {
        assert!(luhn_valid(b"4242424242424242"));
        assert!(luhn_valid(b"79927398713"));
        assert!(!luhn_valid(b"4242424242424241"));
        assert!(!luhn_valid(b"79927398710"));
    }

    #[test]
    fn brands_follow_prefix_and_length() {
        assert_eq!(card_brand("4242424242424242"), Some(CardBrand::Visa));
        assert_eq!(card_brand("4222222222222"), Some(CardBrand::Visa));
        assert_eq!(card_brand("424242424242424"), None, "15-digit 4 is no Visa");
        assert_eq!(card_brand("2223003122003222"), Some(CardBrand::Mastercard));
        assert_eq!(
            card_brand("2721003122003222"),
            None,
            "past the 2-series range"
        );
        assert_eq!(card_brand("378282246310005"), Some(CardBrand::Amex));
        assert_eq!(
            card_brand("3782822463100050"),
            None,
            "16-digit 37 is no Amex"
        );
        assert_eq!(card_brand("6011111111111117"), Some(CardBrand::Discover));
        assert_eq!(card_brand("6221260000000000"), Some(CardBrand::Discover));
        assert_eq!(card_brand("6200000000000005"), Some(CardBrand::UnionPay));
        assert_eq!(card_brand("3566002020360505"), Some(CardBrand::Jcb));
        assert_eq!(card_brand("36227206271667"), Some(CardBrand::DinersClub));
        assert_eq!(card_brand("6304000000000000"), Some(CardBrand::Maestro));
        assert_eq!(card_brand("501800000009"), Some(CardBrand::Maestro));
        assert_eq!(
            card_brand("600000000000"),
            None,
            "wide Maestro space needs 16+"
        );
        assert_eq!(card_brand("1234567890123456"), None);
        assert_eq!(card_brand("9780306406157"), None);
        assert_eq!(card_brand("42424242424"), None, "too short");
        assert_eq!(card_brand("4242x42424242424"), None);
    }

    #[test]
    fn ssn_ranges_follow_the_ssa_rules() {
        assert!(ssn_valid(123, 45, 6789));
        assert!(ssn_valid(899, 99, 9999));
        assert!(ssn_valid(665, 1, 1));
        for (area, group, serial) in [
            (0, 45, 6789),
            (666, 45, 6789),
            (900, 45, 6789),
            (999, 45, 6789),
            (123, 0, 6789),
            (123, 45, 0),
        ] {
            assert!(!ssn_valid(area, group, serial), "{area}-{group}-{serial}");
        }
    }

    #[test]
    fn runs_glued_to_identifiers_are_skipped_only_in_strict_mode() {
        let text = "ref card4242424242424242 SKU-4242424242424242 0.4242424242424242";
        assert!(card_spans(text, Edges::Strict).is_empty());
        assert_eq!(card_spans(text, Edges::Ingress), vec![8..24, 29..45]);
    }
}
