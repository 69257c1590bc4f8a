//! Locating the columns we read by their header names.
//!
//! Shopify has added, renamed and reordered columns over the years, and shops
//! edit files by hand, so columns are found by name (trimmed, any case) and
//! anything we do not know is ignored.

use std::collections::HashMap;
use std::fmt;

use csv::StringRecord;

use crate::error::{ParseError, Problems, excerpt};

/// A column this crate reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Col {
    Handle,
    Title,
    Body,
    Vendor,
    ProductType,
    Tags,
    Published,
    /// `OptionN Name`; numbers above 3 exist only to be rejected.
    OptionName(u8),
    /// `OptionN Value`.
    OptionValue(u8),
    Sku,
    Grams,
    InventoryQty,
    InventoryPolicy,
    Price,
    CompareAt,
    RequiresShipping,
    Taxable,
    Barcode,
    ImageSrc,
    ImagePosition,
    ImageAlt,
}

/// Highest option number a Shopify product can use.
pub(crate) const MAX_OPTIONS: u8 = 3;

/// Columns whose names do not carry a number.
const NAMED_COLUMNS: [Col; 19] = [
    Col::Handle,
    Col::Title,
    Col::Body,
    Col::Vendor,
    Col::ProductType,
    Col::Tags,
    Col::Published,
    Col::Sku,
    Col::Grams,
    Col::InventoryQty,
    Col::InventoryPolicy,
    Col::Price,
    Col::CompareAt,
    Col::RequiresShipping,
    Col::Taxable,
    Col::Barcode,
    Col::ImageSrc,
    Col::ImagePosition,
    Col::ImageAlt,
];

/// Columns the file must have: without them no product can be built.
const REQUIRED_COLUMNS: [Col; 3] = [Col::Handle, Col::Title, Col::Price];

impl fmt::Display for Col {
    /// The header name as Shopify writes it, also used in messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Col::OptionName(n) => return write!(f, "Option{n} Name"),
            Col::OptionValue(n) => return write!(f, "Option{n} Value"),
            Col::Handle => "Handle",
            Col::Title => "Title",
            Col::Body => "Body (HTML)",
            Col::Vendor => "Vendor",
            Col::ProductType => "Type",
            Col::Tags => "Tags",
            Col::Published => "Published",
            Col::Sku => "Variant SKU",
            Col::Grams => "Variant Grams",
            Col::InventoryQty => "Variant Inventory Qty",
            Col::InventoryPolicy => "Variant Inventory Policy",
            Col::Price => "Variant Price",
            Col::CompareAt => "Variant Compare At Price",
            Col::RequiresShipping => "Variant Requires Shipping",
            Col::Taxable => "Variant Taxable",
            Col::Barcode => "Variant Barcode",
            Col::ImageSrc => "Image Src",
            Col::ImagePosition => "Image Position",
            Col::ImageAlt => "Image Alt Text",
        };
        f.write_str(name)
    }
}

/// Recognises a header cell, or `None` for a column we ignore.
fn column_for_header(cell: &str) -> Option<Col> {
    let cell = cell.trim();
    NAMED_COLUMNS
        .into_iter()
        .find(|col| col.to_string().eq_ignore_ascii_case(cell))
        .or_else(|| option_column(cell))
}

/// `Option<N> Name` / `Option<N> Value`, any case, N from 1 to 255.
fn option_column(cell: &str) -> Option<Col> {
    let lower = cell.to_ascii_lowercase();
    let (number, kind) = lower.strip_prefix("option")?.split_once(' ')?;
    let number: u8 = number.parse().ok().filter(|n| *n > 0)?;
    match kind.trim() {
        "name" => Some(Col::OptionName(number)),
        "value" => Some(Col::OptionValue(number)),
        _ => None,
    }
}

/// Where each known column sits in a record.
#[derive(Debug)]
pub(crate) struct Columns {
    width: usize,
    index: HashMap<Col, usize>,
    /// Option columns above [`MAX_OPTIONS`], in header order.
    extra_options: Vec<Col>,
}

impl Columns {
    /// Reads the header record (found on `line`), rejecting missing or
    /// repeated known columns.
    pub(crate) fn from_header(header: &StringRecord, line: u64) -> Result<Self, ParseError> {
        let mut problems = Problems::default();
        let mut index = HashMap::new();
        for (position, cell) in header.iter().enumerate() {
            let Some(col) = column_for_header(cell) else {
                continue;
            };
            if index.insert(col, position).is_some() {
                problems.push(
                    Some(line),
                    format!(
                        "column {} appears more than once",
                        excerpt(&col.to_string())
                    ),
                );
            }
        }
        for col in REQUIRED_COLUMNS {
            if !index.contains_key(&col) {
                problems.push(
                    Some(line),
                    format!("required column \"{col}\" is missing from the header"),
                );
            }
        }
        if let Some(error) = problems.into_error() {
            return Err(error);
        }
        Ok(Self::new(header.len(), index))
    }

    fn new(width: usize, index: HashMap<Col, usize>) -> Self {
        let mut extra: Vec<(usize, Col)> = index
            .iter()
            .filter(|(col, _)| matches!(col, Col::OptionName(n) | Col::OptionValue(n) if *n > MAX_OPTIONS))
            .map(|(col, position)| (*position, *col))
            .collect();
        extra.sort_unstable_by_key(|(position, _)| *position);
        Self {
            width,
            index,
            extra_options: extra.into_iter().map(|(_, col)| col).collect(),
        }
    }

    /// Number of fields every record must have.
    pub(crate) fn width(&self) -> usize {
        self.width
    }

    /// Trimmed cell of `col`, or `""` when the file has no such column.
    pub(crate) fn cell<'r>(&self, record: &'r StringRecord, col: Col) -> &'r str {
        self.index
            .get(&col)
            .and_then(|&position| record.get(position))
            .map_or("", str::trim)
    }

    /// Whether every column we read is empty in `record`; like everywhere
    /// else, data in columns we do not know is ignored.
    pub(crate) fn is_blank(&self, record: &StringRecord) -> bool {
        self.index.values().all(|&position| {
            record
                .get(position)
                .is_none_or(|field| field.trim().is_empty())
        })
    }

    /// Option columns numbered above 3 present in the header.
    pub(crate) fn extra_options(&self) -> &[Col] {
        &self.extra_options
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(cells: &[&str]) -> StringRecord {
        StringRecord::from(cells.to_vec())
    }

    #[test]
    fn finds_columns_by_name_in_any_order_and_case() -> Result<(), ParseError> {
        let columns = Columns::from_header(
            &header(&[
                "extra",
                " variant PRICE ",
                "title",
                "HANDLE",
                "Option2 value",
            ]),
            1,
        )?;
        let record = header(&["x", " 9.99 ", "Shirt", "shirt", "Red"]);
        assert_eq!(columns.cell(&record, Col::Price), "9.99");
        assert_eq!(columns.cell(&record, Col::Handle), "shirt");
        assert_eq!(columns.cell(&record, Col::OptionValue(2)), "Red");
        assert_eq!(columns.cell(&record, Col::Vendor), "");
        assert_eq!(columns.width(), 5);
        Ok(())
    }

    #[test]
    fn missing_required_columns_are_all_reported() {
        let error = Columns::from_header(&header(&["Title", "Vendor"]), 1).map(|_| ());
        let reasons: Vec<String> = error
            .err()
            .map(|e| e.problems.into_iter().map(|p| p.to_string()).collect())
            .unwrap_or_default();
        assert_eq!(
            reasons,
            [
                "line 1: required column \"Handle\" is missing from the header",
                "line 1: required column \"Variant Price\" is missing from the header",
            ]
        );
    }

    #[test]
    fn repeated_known_column_is_rejected() {
        let error =
            Columns::from_header(&header(&["Handle", "Title", "Variant Price", "handle"]), 1);
        assert_eq!(
            error.err().map(|e| e.to_string()),
            Some(
                "the catalog file was rejected (1 problem):\nline 1: column \"Handle\" appears more than once"
                    .to_string()
            )
        );
    }

    #[test]
    fn option_columns_above_three_are_tracked() -> Result<(), ParseError> {
        let columns = Columns::from_header(
            &header(&[
                "Handle",
                "Title",
                "Variant Price",
                "Option4 Value",
                "Option4 Name",
                "Option0 Name",
            ]),
            1,
        )?;
        assert_eq!(
            columns.extra_options(),
            [Col::OptionValue(4), Col::OptionName(4)]
        );
        Ok(())
    }
}
