//! Reads a Shopify product CSV export into a validated, in-memory
//! [`CatalogPlan`] that the store layer can upsert in one transaction.
//!
//! The parse is all-or-nothing: it returns either a complete plan or a
//! [`ParseError`] listing every problem found, each with the 1-based line on
//! which its CSV record starts (the header is line 1). That lets the app
//! promise that a malformed file leaves the catalog untouched, while the
//! merchant gets the whole list of fixes at once. Harmless rows (blank rows,
//! image-only rows, adjusted values) are listed in [`CatalogPlan::notes`] for
//! the import report. No database or network work happens here.
//!
//! # Format rules
//!
//! - Columns are found by header name, trimmed, in any case; unknown columns
//!   are ignored. `Handle`, `Title` and `Variant Price` must be present.
//! - A handle's first row carries the product (it must have a `Title`) and
//!   its first variant. Later rows with the same handle and an empty (or
//!   identical) `Title` add a variant, an image, or both. A row for a handle
//!   that has not had its first row yet is an error.
//! - Handles are lower-cased and limited to `a-z`, `0-9` and `-`.
//! - Up to three options; a lone `Title` option valued `Default Title` means a
//!   product without options and a single variant. Option combinations are
//!   unique per product and SKUs unique per file, both ignoring case.
//! - Prices: see [`parse_money`] (`"19.99"` → `1999`, no thousands separators).
//!   An empty compare-at price means none.
//! - `Variant Inventory Qty`: a whole number, empty means 0; a negative count
//!   (an oversold item in the source shop) is imported as 0 with a note.
//! - `Variant Inventory Policy`: `deny` or `continue` in any case, empty means
//!   `deny`.
//! - `Published`, `Variant Requires Shipping`, `Variant Taxable`: `true` or
//!   `false` in any case. Empty means unpublished (nothing goes live by
//!   accident) and, for the two variant flags, `true` as in Shopify.
//! - `Tags`: comma-separated, trimmed, empties and case-insensitive
//!   duplicates dropped.
//! - `Body (HTML)` is passed through [`sanitize_html`].
//! - Text is trimmed, length-bounded (see [`limits`]) and may not contain
//!   control characters or bidirectional overrides (descriptions may contain
//!   line breaks and tabs).
//! - Image URLs must be absolute `http`/`https` URLs without credentials.
//! - Input is capped by [`Limits`] (32 MiB and 50,000 rows by default).
#![forbid(unsafe_code)]

mod catalog;
mod columns;
mod error;
mod fields;
mod html;
mod input;
pub mod limits;
mod model;
mod money;
mod product;
mod row;

use std::io::Read;

pub use error::{ParseError, Problem};
pub use html::sanitize_html;
pub use limits::Limits;
pub use model::{
    CatalogPlan, ImagePlan, InvalidInventoryPolicy, InventoryPolicy, NoteKind, ProductPlan,
    RowNote, VariantPlan,
};
pub use money::{MAX_AMOUNT_MINOR, MoneyError, parse_money};

/// Parses a whole Shopify product CSV with the default [`Limits`].
pub fn parse<R: Read>(input: R) -> Result<CatalogPlan, ParseError> {
    parse_with_limits(input, Limits::default())
}

/// Parses a whole Shopify product CSV, refusing input beyond `limits`.
pub fn parse_with_limits<R: Read>(input: R, limits: Limits) -> Result<CatalogPlan, ParseError> {
    let bytes = input::read_capped(input, limits.max_bytes)?;
    let bytes = input::strip_bom(&bytes);
    if let Some(line) = input::unclosed_quote_line(bytes) {
        return Err(ParseError::at(
            Some(line),
            "a quoted field starts here but its closing quote is missing",
        ));
    }
    let mut reader = input::csv_reader(bytes);
    let mut lines = input::LineCounter::new(bytes);
    let columns = input::read_header(&mut reader, &mut lines)?;
    let mut builder = catalog::CatalogBuilder::new(&columns);
    input::read_rows(&mut reader, &mut lines, &mut builder, limits.max_rows);
    builder.finish()
}
