//! What a new password must satisfy, following NIST SP 800-63B and OWASP:
//! a length window, no composition rules ("one digit, one symbol"), and a
//! refusal of passwords that attackers try first — common or breached ones and
//! ones built from the account holder's own name or email.
//!
//! Guessability is judged by zxcvbn, whose embedded frequency lists include
//! the most common leaked passwords, English words, names and keyboard
//! patterns.

use zxcvbn::feedback::Warning;
use zxcvbn::matching::Match;
use zxcvbn::matching::patterns::MatchPattern;
use zxcvbn::{Entropy, Score, zxcvbn};

use super::with_nfc;

/// Context words shorter than this are not treated as personal information:
/// two-letter fragments ("li", "jo") occur in too many good passphrases.
const MIN_PERSONAL_WORD_CHARS: usize = 3;

/// The password acceptance rules. Lengths are counted in Unicode scalar values
/// of the NFC form, so "é" is one character however it was typed.
#[derive(Debug, Clone, Copy, Default)]
pub struct PasswordPolicy;

/// Why a password was refused. [`code`](Self::code) is a stable machine code
/// for API clients; `Display` is a message for people. Neither ever contains
/// the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRejection {
    #[error("password must be at least {min} characters long")]
    TooShort { min: usize },
    #[error("password must be at most {max} characters long")]
    TooLong { max: usize },
    #[error("password is too common or too easy to guess; a few unrelated words make a strong one")]
    TooCommon,
    #[error("password must not contain your name or email address")]
    ContainsPersonalInfo,
}

impl PasswordRejection {
    /// Stable identifier for API error bodies and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooShort { .. } => "too_short",
            Self::TooLong { .. } => "too_long",
            Self::TooCommon => "too_common",
            Self::ContainsPersonalInfo => "contains_personal_info",
        }
    }
}

impl PasswordPolicy {
    /// Fewest characters accepted (NIST SP 800-63B's minimum).
    pub const MIN_CHARS: usize = 8;
    /// Most characters accepted. Longer passwords are refused, never
    /// truncated: silently cutting them would make the tail meaningless.
    pub const MAX_CHARS: usize = 128;

    /// Checks a new password. `context` holds the account holder's details
    /// (email, name, …); a password built on any of them is refused.
    pub fn check(password: &str, context: &[&str]) -> Result<(), PasswordRejection> {
        with_nfc(password, |normalized| check_normalized(normalized, context))
    }
}

fn check_normalized(password: &str, context: &[&str]) -> Result<(), PasswordRejection> {
    let chars = password.chars().count();
    if chars < PasswordPolicy::MIN_CHARS {
        return Err(PasswordRejection::TooShort {
            min: PasswordPolicy::MIN_CHARS,
        });
    }
    if chars > PasswordPolicy::MAX_CHARS {
        return Err(PasswordRejection::TooLong {
            max: PasswordPolicy::MAX_CHARS,
        });
    }
    let personal_words = personal_words(context);
    let personal_refs: Vec<&str> = personal_words.iter().map(String::as_str).collect();
    let estimate = zxcvbn(password, &personal_refs);
    if leans_on_personal_words(&estimate, &personal_words) {
        return Err(PasswordRejection::ContainsPersonalInfo);
    }
    if is_easy_to_guess(&estimate) {
        return Err(PasswordRejection::TooCommon);
    }
    Ok(())
}

/// The words an attacker targeting this account would try: each context value
/// whole, and its alphanumeric pieces. For an email only the local part is
/// split up; the domain ("gmail", "com") says nothing about the person.
fn personal_words(context: &[&str]) -> Vec<String> {
    let mut words = Vec::new();
    for value in context {
        let value = value.trim().to_lowercase();
        let personal_part = value.split('@').next().unwrap_or_default();
        let pieces = personal_part.split(|c: char| !c.is_alphanumeric());
        for word in std::iter::once(value.as_str())
            .chain(std::iter::once(personal_part))
            .chain(pieces)
        {
            if word.chars().count() >= MIN_PERSONAL_WORD_CHARS && !words.iter().any(|w| w == word) {
                words.push(word.to_owned());
            }
        }
    }
    words
}

/// zxcvbn explains the password as its cheapest sequence of patterns; a
/// personal word in that explanation means the password leans on it. (Merely
/// containing the letters, as "tomato" contains "tom", does not count when a
/// cheaper explanation exists.)
fn leans_on_personal_words(estimate: &Entropy, personal_words: &[String]) -> bool {
    estimate.sequence().iter().any(|part: &Match| {
        matches!(&part.pattern, MatchPattern::Dictionary(word)
            if personal_words.contains(&word.matched_word))
    })
}

/// Refuses passwords crackable in fewer than about 10^6 guesses (zxcvbn score
/// 0 or 1), and "fair" (score 2) ones whose main part is an entry of the
/// leaked-password list, plain or disguised (l33t, reversed, a digit added):
/// attackers try that list first, whatever the estimate says.
fn is_easy_to_guess(estimate: &Entropy) -> bool {
    if estimate.score() < Score::Two {
        return true;
    }
    let warning = estimate.feedback().and_then(|feedback| feedback.warning());
    estimate.score() == Score::Two
        && matches!(
            warning,
            Some(
                Warning::ThisIsATop10Password
                    | Warning::ThisIsATop100Password
                    | Warning::ThisIsACommonPassword
                    | Warning::ThisIsSimilarToACommonlyUsedPassword
            )
        )
}
