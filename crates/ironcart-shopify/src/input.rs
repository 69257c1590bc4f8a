//! Reading the raw file: size cap, byte-order mark, quote balance, header,
//! and the record loop with its row cap.

use std::io::Read;

use csv::{Position, Reader, ReaderBuilder, StringRecord};

use crate::catalog::CatalogBuilder;
use crate::columns::Columns;
use crate::error::ParseError;

/// Spreadsheet programs often prefix UTF-8 CSV files with this mark.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Reads at most `max_bytes`, failing (rather than truncating) when the input
/// is larger, so an oversized file is never half-imported.
pub(crate) fn read_capped<R: Read>(input: R, max_bytes: usize) -> Result<Vec<u8>, ParseError> {
    let allowance = u64::try_from(max_bytes)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let mut bytes = Vec::new();
    input
        .take(allowance)
        .read_to_end(&mut bytes)
        .map_err(|error| {
            ParseError::whole_file(format!("the file could not be read ({})", error.kind()))
        })?;
    if bytes.len() > max_bytes {
        return Err(ParseError::whole_file(format!(
            "the file is larger than the limit of {max_bytes} bytes"
        )));
    }
    Ok(bytes)
}

pub(crate) fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes)
}

/// Line on which a quoted field opens and never closes, if any.
///
/// The CSV reader silently treats an unclosed quote as running to the end of
/// the file, which would swallow every later row into one cell; this scan
/// follows the same quoting rules to catch that case.
pub(crate) fn unclosed_quote_line(bytes: &[u8]) -> Option<u64> {
    #[derive(Clone, Copy)]
    enum State {
        FieldStart,
        Unquoted,
        Quoted,
        QuoteInQuoted,
    }
    let mut state = State::FieldStart;
    let mut line = 1_u64;
    let mut opened_on = line;
    for &byte in bytes {
        state = match (state, byte) {
            (State::FieldStart, b'"') => {
                opened_on = line;
                State::Quoted
            }
            (State::Quoted, b'"') => State::QuoteInQuoted,
            (State::Quoted, _) | (State::QuoteInQuoted, b'"') => State::Quoted,
            (_, b',' | b'\n' | b'\r') => State::FieldStart,
            _ => State::Unquoted,
        };
        if byte == b'\n' {
            line += 1;
        }
    }
    matches!(state, State::Quoted).then_some(opened_on)
}

pub(crate) fn csv_reader(bytes: &[u8]) -> Reader<&[u8]> {
    // The header is read by hand and field counts are checked per row, so
    // that a bad row is reported and reading goes on to find the others.
    ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes)
}

/// Maps a record's starting byte to its physical line.
///
/// The CSV reader's own line numbers lag by one after a `\r\n` terminator
/// (it stops before the `\n`), and Shopify exports use `\r\n`, so lines are
/// counted here from the bytes instead.
pub(crate) struct LineCounter<'b> {
    bytes: &'b [u8],
    offset: usize,
    line: u64,
}

impl<'b> LineCounter<'b> {
    pub(crate) fn new(bytes: &'b [u8]) -> Self {
        Self {
            bytes,
            offset: 0,
            line: 1,
        }
    }

    /// Line of the first byte at or after `position` that is not a line
    /// terminator (records never start with one). Positions must not go
    /// backwards between calls.
    fn line_at(&mut self, position: Option<&Position>) -> Option<u64> {
        let byte = usize::try_from(position?.byte()).ok()?;
        let rest = self.bytes.get(byte..)?;
        let start = byte
            + rest
                .iter()
                .take_while(|b| matches!(b, b'\r' | b'\n'))
                .count();
        let passed = self.bytes.get(self.offset..start)?;
        self.line += passed.iter().filter(|b| **b == b'\n').count() as u64;
        self.offset = start;
        Some(self.line)
    }
}

pub(crate) fn read_header(
    reader: &mut Reader<&[u8]>,
    lines: &mut LineCounter<'_>,
) -> Result<Columns, ParseError> {
    let mut header = StringRecord::new();
    match reader.read_record(&mut header) {
        Ok(true) => {
            let line = lines.line_at(header.position()).unwrap_or(1);
            Columns::from_header(&header, line)
        }
        Ok(false) => Err(ParseError::whole_file(
            "the file is empty: a header row is required",
        )),
        Err(error) => Err(ParseError::at(
            lines.line_at(error.position()),
            csv_reason(&error),
        )),
    }
}

/// Feeds every data record to `builder`, stopping after `max_rows`.
pub(crate) fn read_rows(
    reader: &mut Reader<&[u8]>,
    lines: &mut LineCounter<'_>,
    builder: &mut CatalogBuilder<'_>,
    max_rows: usize,
) {
    let mut record = StringRecord::new();
    let mut rows = 0_usize;
    loop {
        let outcome = reader.read_record(&mut record);
        let line = match &outcome {
            Ok(false) => return,
            Ok(true) => lines.line_at(record.position()),
            Err(error) => lines.line_at(error.position()),
        };
        rows += 1;
        if rows > max_rows {
            builder.problem(
                line,
                format!("the file has more than {max_rows} rows, the most one import accepts"),
            );
            return;
        }
        match outcome {
            Ok(_) => builder.add_record(&record, line.unwrap_or_default()),
            Err(error) => {
                builder.problem(line, csv_reason(&error));
                if error.is_io_error() {
                    return;
                }
            }
        }
    }
}

fn csv_reason(error: &csv::Error) -> String {
    match error.kind() {
        csv::ErrorKind::Utf8 { .. } => {
            "row is not valid UTF-8 text (save the file as UTF-8)".to_string()
        }
        _ => format!("malformed CSV ({error})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_quotes_pass() {
        assert_eq!(unclosed_quote_line(b"a,\"b,\"\"c\"\"\nd\",e\nf,g"), None);
        assert_eq!(unclosed_quote_line(b"a,5\" screen,b\n"), None);
        assert_eq!(unclosed_quote_line(b""), None);
    }

    #[test]
    fn unclosed_quote_reports_its_opening_line() {
        assert_eq!(
            unclosed_quote_line(b"h1,h2\r\nx,y\r\nz,\"open\r\nmore\r\n"),
            Some(3)
        );
        assert_eq!(unclosed_quote_line(b"\"never closed"), Some(1));
        assert_eq!(unclosed_quote_line(b"a,\"ok\"\nb,\"x\"\"\n"), Some(2));
    }

    #[test]
    fn input_above_cap_is_refused() {
        assert_eq!(read_capped(&b"12345"[..], 5).map(|b| b.len()), Ok(5));
        assert_eq!(
            read_capped(&b"123456"[..], 5),
            Err(ParseError::whole_file(
                "the file is larger than the limit of 5 bytes"
            ))
        );
    }

    #[test]
    fn lines_are_counted_across_crlf_and_blank_lines() {
        let bytes = b"h1,h2\r\na,\"x\r\ny\"\r\n\r\n\r\nb,c\r\n";
        let mut reader = csv_reader(bytes);
        let mut lines = LineCounter::new(bytes);
        let mut record = StringRecord::new();
        let mut found = Vec::new();
        while let Ok(true) = reader.read_record(&mut record) {
            found.push((
                record.get(0).map(str::to_string),
                lines.line_at(record.position()),
            ));
        }
        let expected = [("h1", 1), ("a", 2), ("b", 6)].map(|(f, l)| (Some(f.to_string()), Some(l)));
        assert_eq!(found, expected);
    }

    #[test]
    fn byte_order_mark_is_removed() {
        assert_eq!(strip_bom(b"\xEF\xBB\xBFHandle"), b"Handle");
        assert_eq!(strip_bom(b"Handle"), b"Handle");
    }
}
