//! Makes matched request data safe to put in a security event: short,
//! printable, and with anything that looks like a card number, a token or a
//! credential replaced by a marker.
//!
//! A WAF match quotes attacker input, but the same rules also fire on
//! customers' own data (a password full of symbols, a card number pasted in
//! the wrong field), and security logs are read by more people than payment
//! data may be. So redaction errs on the side of hiding.

/// Longest quoted data, in characters, before the ellipsis.
pub const MAX_DATA_CHARS: usize = 64;

const SECRET_NAMES: [&str; 13] = [
    "pass",
    "pwd",
    "secret",
    "token",
    "auth",
    "apikey",
    "api_key",
    "private_key",
    "session",
    "card",
    "cvv",
    "cvc",
    "otp",
];

/// Whether a variable's name says it carries a secret (`ARGS:json.password`).
pub fn is_secret_name(variable: &str) -> bool {
    let key = variable
        .rsplit([':', '.'])
        .next()
        .unwrap_or(variable)
        .to_ascii_lowercase();
    SECRET_NAMES.iter().any(|secret| key.contains(secret))
}

/// The printable, redacted, truncated form of matched data.
pub fn redact(variable: &str, data: &[u8]) -> String {
    if is_secret_name(variable) {
        return "[redacted]".to_owned();
    }
    let text: String = String::from_utf8_lossy(data)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let text = redact_card_numbers(&text);
    let text = redact_tokens(&text);
    truncate(&text)
}

fn truncate(text: &str) -> String {
    match text.char_indices().nth(MAX_DATA_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Replaces runs of 13–19 digits (spaces and dashes allowed between them)
/// that pass the Luhn check.
fn redact_card_numbers(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() {
            let (end, digits) = digit_run(&chars, i);
            if (13..=19).contains(&digits.len()) && luhn_valid(&digits) {
                out.push_str("[card]");
            } else {
                out.extend(&chars[i..end]);
            }
            i = end;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// The end of a digit run starting at `start` and its digits.
fn digit_run(chars: &[char], start: usize) -> (usize, Vec<u32>) {
    let mut digits = Vec::new();
    let mut end = start;
    let mut i = start;
    while i < chars.len() {
        if let Some(d) = chars[i].to_digit(10) {
            digits.push(d);
            i += 1;
            end = i;
        } else if matches!(chars[i], ' ' | '-')
            && chars.get(i + 1).is_some_and(char::is_ascii_digit)
        {
            i += 1;
        } else {
            break;
        }
    }
    (end, digits)
}

fn luhn_valid(digits: &[u32]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Replaces long runs of token characters that mix letters and digits
/// (API keys, JWTs, session ids).
fn redact_tokens(text: &str) -> String {
    let is_token_char =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+' | '/' | '=');
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let letters = word.chars().filter(char::is_ascii_alphabetic).count();
        let digits = word.chars().filter(char::is_ascii_digit).count();
        if word.len() >= 24 && letters >= 4 && digits >= 4 {
            out.push_str("[token]");
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if is_token_char(c) {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_values_of_secret_fields() {
        assert_eq!(redact("ARGS:json.password", b"' or 1=1--"), "[redacted]");
        assert_eq!(redact("REQUEST_HEADERS:Authorization", b"x"), "[redacted]");
        assert_eq!(redact("ARGS:q", b"' or 1=1--"), "' or 1=1--");
    }

    #[test]
    fn hides_card_numbers_but_not_other_numbers() {
        assert_eq!(
            redact("ARGS:note", b"pay 4111 1111 1111 1111 now"),
            "pay [card] now"
        );
        assert_eq!(
            redact("ARGS:note", b"order 1234567890123"),
            "order 1234567890123"
        );
    }

    #[test]
    fn hides_tokens() {
        let jwt = b"Bearer eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl";
        assert_eq!(redact("ARGS:x", jwt), "Bearer [token]");
    }

    #[test]
    fn truncates_and_removes_control_characters() {
        let long = "a\n".repeat(100);
        let out = redact("ARGS:x", long.as_bytes());
        assert_eq!(out.chars().count(), MAX_DATA_CHARS + 1);
        assert!(out.ends_with('…'));
        assert!(!out.contains('\n'));
    }
}
