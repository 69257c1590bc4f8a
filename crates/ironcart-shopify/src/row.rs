//! Reading typed cells from one CSV record, recording every problem against
//! the record's line instead of stopping at the first.

use std::ops::RangeInclusive;

use csv::StringRecord;

use crate::columns::{Col, Columns};
use crate::error::{Problems, excerpt};
use crate::fields::{check_line_text, parse_flag};
use crate::model::{NoteKind, RowNote};
use crate::money::{MoneyError, parse_money};

/// What a parse has found so far besides products.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub(crate) problems: Problems,
    pub(crate) notes: Vec<RowNote>,
}

/// One record being read. Cell readers return `None` both for empty cells and
/// for invalid ones; invalid ones are recorded as problems, so callers learn
/// about failure through [`Row::problem_count`].
pub(crate) struct Row<'a> {
    pub(crate) line: u64,
    record: &'a StringRecord,
    columns: &'a Columns,
    report: &'a mut Report,
}

impl<'a> Row<'a> {
    pub(crate) fn new(
        line: u64,
        record: &'a StringRecord,
        columns: &'a Columns,
        report: &'a mut Report,
    ) -> Self {
        Self {
            line,
            record,
            columns,
            report,
        }
    }

    /// The trimmed cell, `""` if empty or absent.
    pub(crate) fn raw(&self, col: Col) -> &'a str {
        self.columns.cell(self.record, col)
    }

    pub(crate) fn has(&self, col: Col) -> bool {
        !self.raw(col).is_empty()
    }

    /// Whether every column we read is empty in this record.
    pub(crate) fn is_blank(&self) -> bool {
        self.columns.is_blank(self.record)
    }

    pub(crate) fn columns(&self) -> &'a Columns {
        self.columns
    }

    pub(crate) fn fail(&mut self, reason: String) {
        self.report.problems.push(Some(self.line), reason);
    }

    pub(crate) fn note(&mut self, kind: NoteKind, reason: String) {
        self.report.notes.push(RowNote {
            line: self.line,
            kind,
            reason,
        });
    }

    pub(crate) fn problem_count(&self) -> usize {
        self.report.problems.count()
    }

    /// Records `reason` about the value of `col`, quoting an excerpt of it.
    pub(crate) fn reject(&mut self, col: Col, reason: &str) {
        let value = excerpt(self.raw(col));
        self.fail(format!("{col} {value} {reason}"));
    }

    /// Optional one-line text bounded to `max_chars`.
    pub(crate) fn text(&mut self, col: Col, max_chars: usize) -> Option<String> {
        let raw = self.raw(col);
        if raw.is_empty() {
            return None;
        }
        match check_line_text(raw, max_chars) {
            Ok(()) => Some(raw.to_string()),
            Err(reason) => {
                self.reject(col, &reason);
                None
            }
        }
    }

    /// Optional amount in minor units.
    pub(crate) fn money(&mut self, col: Col) -> Option<i64> {
        let raw = self.raw(col);
        if raw.is_empty() {
            return None;
        }
        self.parse_amount(col, raw)
    }

    /// Amount that must be present.
    pub(crate) fn required_money(&mut self, col: Col) -> Option<i64> {
        let raw = self.raw(col);
        self.parse_amount(col, raw)
    }

    fn parse_amount(&mut self, col: Col, raw: &str) -> Option<i64> {
        match parse_money(raw) {
            Ok(minor) => Some(minor),
            Err(MoneyError::Empty) => {
                self.fail(format!("{col} is empty"));
                None
            }
            Err(error) => {
                self.reject(col, &error.to_string());
                None
            }
        }
    }

    /// `true`/`false`, or `default` when empty.
    pub(crate) fn flag(&mut self, col: Col, default: bool) -> bool {
        let raw = self.raw(col);
        if raw.is_empty() {
            return default;
        }
        parse_flag(raw).unwrap_or_else(|| {
            self.reject(col, "must be \"true\" or \"false\"");
            default
        })
    }

    /// Optional whole number within `range`.
    pub(crate) fn whole_number(&mut self, col: Col, range: RangeInclusive<i64>) -> Option<i64> {
        let raw = self.raw(col);
        if raw.is_empty() {
            return None;
        }
        let Ok(number) = raw.parse::<i64>() else {
            self.reject(col, "is not a whole number");
            return None;
        };
        if !range.contains(&number) {
            let reason = format!(
                "is outside the accepted range {} to {}",
                range.start(),
                range.end()
            );
            self.reject(col, &reason);
            return None;
        }
        Some(number)
    }
}
