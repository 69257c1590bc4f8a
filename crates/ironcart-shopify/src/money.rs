//! Exact conversion of decimal price strings to integer minor units.
//!
//! Accepted shape: ASCII digits, optionally followed by `.` and one or two
//! digits (`"50"`, `"19.99"`, `"0.5"`), with surrounding whitespace ignored.
//! Thousands separators (`"1,000.00"`) are rejected rather than guessed at,
//! because `"1,000"` means one thousand in one locale and one in another. No
//! sign, exponent, or bare `"."`/`".5"`/`"5."` forms. Every amount is assumed to
//! have two decimal places, as Shopify's export currencies do.

use serde::Serialize;

/// Largest accepted amount in minor units: one billion in major units. Far
/// above any real price, far below `i64::MAX`, so sums of many prices cannot
/// overflow either.
pub const MAX_AMOUNT_MINOR: i64 = 100_000_000_000;

/// Why a price string was rejected. The messages read as a predicate about
/// the value, so callers can write `Variant Price "abc" is not a decimal amount`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, thiserror::Error)]
pub enum MoneyError {
    /// The string was empty or only whitespace.
    #[error("is empty")]
    Empty,
    /// Not of the form `digits[.digits]`.
    #[error("is not a decimal amount")]
    NotDecimal,
    /// A well-formed amount with a leading minus sign.
    #[error("is negative")]
    Negative,
    /// Three or more digits after the decimal point.
    #[error("has more than 2 decimal places")]
    TooManyDecimals,
    /// Above [`MAX_AMOUNT_MINOR`].
    #[error("is larger than the maximum of 1000000000.00")]
    TooLarge,
}

/// Parses a decimal amount such as `"19.99"` into minor units (`1999`).
pub fn parse_money(s: &str) -> Result<i64, MoneyError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(MoneyError::Empty);
    }
    if let Some(unsigned) = s.strip_prefix('-') {
        return Err(match parse_unsigned(unsigned) {
            Err(MoneyError::NotDecimal) => MoneyError::NotDecimal,
            _ => MoneyError::Negative,
        });
    }
    parse_unsigned(s)
}

fn parse_unsigned(s: &str) -> Result<i64, MoneyError> {
    let (whole, fraction) = s.split_once('.').unwrap_or((s, "00"));
    if !is_digits(whole) || !is_digits(fraction) {
        return Err(MoneyError::NotDecimal);
    }
    if fraction.len() > 2 {
        return Err(MoneyError::TooManyDecimals);
    }
    let cents = digits_value(fraction)? * if fraction.len() == 1 { 10 } else { 1 };
    let minor = digits_value(whole)?
        .checked_mul(100)
        .and_then(|units| units.checked_add(cents))
        .ok_or(MoneyError::TooLarge)?;
    if minor > MAX_AMOUNT_MINOR {
        return Err(MoneyError::TooLarge);
    }
    Ok(minor)
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Value of a string already known to be ASCII digits, refusing overflow.
fn digits_value(digits: &str) -> Result<i64, MoneyError> {
    digits.bytes().try_fold(0_i64, |acc, b| {
        acc.checked_mul(10)
            .and_then(|shifted| shifted.checked_add(i64::from(b - b'0')))
            .ok_or(MoneyError::TooLarge)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn converts_exact_amounts() {
        let cases = [
            ("50", 5000),
            ("19.99", 1999),
            ("0.5", 50),
            ("0.05", 5),
            ("9.99", 999),
            ("25.99", 2599),
            ("0", 0),
            ("0.00", 0),
            ("007.10", 710),
            (" 15.99 ", 1599),
            ("1000000000", MAX_AMOUNT_MINOR),
            ("1000000000.00", MAX_AMOUNT_MINOR),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_money(input), Ok(expected), "input {input:?}");
        }
    }

    #[test]
    fn rejects_each_malformed_shape() {
        let cases = [
            ("", MoneyError::Empty),
            ("   ", MoneyError::Empty),
            ("abc", MoneyError::NotDecimal),
            ("1,000.00", MoneyError::NotDecimal),
            ("1,5", MoneyError::NotDecimal),
            (".5", MoneyError::NotDecimal),
            ("5.", MoneyError::NotDecimal),
            (".", MoneyError::NotDecimal),
            ("+5", MoneyError::NotDecimal),
            ("1e3", MoneyError::NotDecimal),
            ("1.2.3", MoneyError::NotDecimal),
            ("$5", MoneyError::NotDecimal),
            ("5 00", MoneyError::NotDecimal),
            ("NaN", MoneyError::NotDecimal),
            ("١٢", MoneyError::NotDecimal),
            ("-abc", MoneyError::NotDecimal),
            ("--5", MoneyError::NotDecimal),
            ("-5", MoneyError::Negative),
            ("-0.01", MoneyError::Negative),
            ("1.999", MoneyError::TooManyDecimals),
            ("1.000", MoneyError::TooManyDecimals),
            ("1000000000.01", MoneyError::TooLarge),
            ("92233720368547758.07", MoneyError::TooLarge),
            ("99999999999999999999999999", MoneyError::TooLarge),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_money(input), Err(expected), "input {input:?}");
        }
    }

    #[test]
    fn error_messages_read_as_predicates() {
        assert_eq!(
            MoneyError::NotDecimal.to_string(),
            "is not a decimal amount"
        );
        assert_eq!(
            MoneyError::TooManyDecimals.to_string(),
            "has more than 2 decimal places"
        );
    }

    proptest! {
        #[test]
        fn two_decimal_rendering_round_trips(cents in 0..=MAX_AMOUNT_MINOR) {
            let text = format!("{}.{:02}", cents / 100, cents % 100);
            prop_assert_eq!(parse_money(&text), Ok(cents));
        }

        #[test]
        fn whole_units_scale_by_hundred(units in 0..=MAX_AMOUNT_MINOR / 100) {
            prop_assert_eq!(parse_money(&units.to_string()), Ok(units * 100));
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,30}") {
            let _ = parse_money(&text);
        }
    }
}
