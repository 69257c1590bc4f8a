//! The rejection of a file: every problem found, each with its line number.
//!
//! A file is either imported completely or not at all, so the merchant needs
//! the whole list at once to fix a file in one go rather than one error per
//! upload.

use std::fmt;

use serde::Serialize;

use crate::limits::MAX_LISTED_PROBLEMS;

/// One reason a file was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// 1-based physical line where the offending CSV record starts (the
    /// header is line 1); `None` for whole-file problems such as its size.
    pub line: Option<u64>,
    /// Human-readable reason. Quotes at most a short excerpt of the offending
    /// value, with control characters replaced.
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

/// The file was rejected; nothing in it may be imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParseError {
    /// All problems found, in line order (whole-file problems first). When
    /// there are more than [`MAX_LISTED_PROBLEMS`], the last entry says how
    /// many more were found but not listed.
    pub problems: Vec<Problem>,
}

impl ParseError {
    pub(crate) fn whole_file(reason: impl Into<String>) -> Self {
        Self::at(None, reason)
    }

    pub(crate) fn at(line: Option<u64>, reason: impl Into<String>) -> Self {
        Self {
            problems: vec![Problem {
                line,
                reason: reason.into(),
            }],
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.problems.len();
        let plural = if count == 1 { "" } else { "s" };
        write!(
            f,
            "the catalog file was rejected ({count} problem{plural}):"
        )?;
        for problem in &self.problems {
            write!(f, "\n{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseError {}

/// Collects problems while a file is read, bounding how many are kept.
#[derive(Debug, Default)]
pub(crate) struct Problems {
    listed: Vec<Problem>,
    unlisted: usize,
}

impl Problems {
    pub(crate) fn push(&mut self, line: Option<u64>, reason: String) {
        if self.listed.len() < MAX_LISTED_PROBLEMS {
            self.listed.push(Problem { line, reason });
        } else {
            self.unlisted += 1;
        }
    }

    /// Total found so far, listed or not; callers compare counts to learn
    /// whether reading a field failed.
    pub(crate) fn count(&self) -> usize {
        self.listed.len() + self.unlisted
    }

    /// `None` when the file was clean.
    pub(crate) fn into_error(self) -> Option<ParseError> {
        if self.count() == 0 {
            return None;
        }
        let mut problems = self.listed;
        problems.sort_by_key(|problem| problem.line);
        if self.unlisted > 0 {
            problems.push(Problem {
                line: None,
                reason: format!(
                    "{} further problems were found but not listed",
                    self.unlisted
                ),
            });
        }
        Some(ParseError { problems })
    }
}

/// Characters never accepted in catalog text: control characters (which can
/// forge log lines or break the admin UI) and the bidirectional embedding,
/// override and isolate controls (which make text display differently from
/// what it contains).
pub(crate) fn is_forbidden_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A quoted, bounded, printable excerpt of a rejected value for messages, so
/// that a hostile value cannot flood or forge the report.
pub(crate) fn excerpt(value: &str) -> String {
    const MAX_CHARS: usize = 40;
    let mut out = String::from("\"");
    for (index, c) in value.chars().enumerate() {
        if index == MAX_CHARS {
            out.push('…');
            break;
        }
        out.push(if is_forbidden_char(c) { '\u{FFFD}' } else { c });
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_bounds_length_and_hides_control_characters() {
        assert_eq!(excerpt("abc"), "\"abc\"");
        assert_eq!(
            excerpt("a\nb\u{1b}[31m\u{202E}"),
            "\"a\u{FFFD}b\u{FFFD}[31m\u{FFFD}\""
        );
        let long = "x".repeat(500);
        assert_eq!(excerpt(&long), format!("\"{}…\"", "x".repeat(40)));
        assert_eq!(excerpt(&"y".repeat(40)), format!("\"{}\"", "y".repeat(40)));
    }

    #[test]
    fn problems_are_sorted_and_capped() {
        let mut problems = Problems::default();
        problems.push(Some(9), "late".into());
        problems.push(None, "whole".into());
        problems.push(Some(2), "early".into());
        let error = problems.into_error();
        let lines: Vec<_> = error
            .iter()
            .flat_map(|e| e.problems.iter().map(|p| p.line))
            .collect();
        assert_eq!(lines, [None, Some(2), Some(9)]);

        let mut flood = Problems::default();
        for line in 0..(MAX_LISTED_PROBLEMS as u64 + 5) {
            flood.push(Some(line + 2), "bad".into());
        }
        assert_eq!(flood.count(), MAX_LISTED_PROBLEMS + 5);
        let listed = flood.into_error().map(|e| e.problems).unwrap_or_default();
        assert_eq!(listed.len(), MAX_LISTED_PROBLEMS + 1);
        assert_eq!(
            listed.last().map(|p| p.reason.as_str()),
            Some("5 further problems were found but not listed")
        );
    }

    #[test]
    fn display_lists_every_problem() {
        let error = ParseError {
            problems: vec![
                Problem {
                    line: None,
                    reason: "too big".into(),
                },
                Problem {
                    line: Some(7),
                    reason: "bad price".into(),
                },
            ],
        };
        assert_eq!(
            error.to_string(),
            "the catalog file was rejected (2 problems):\ntoo big\nline 7: bad price"
        );
    }

    #[test]
    fn clean_file_has_no_error() {
        assert_eq!(Problems::default().into_error(), None);
    }
}
