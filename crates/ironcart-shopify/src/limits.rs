//! Size bounds applied while parsing.
//!
//! They are public so that the admin API can hold hand-entered products to the
//! same bounds as imported ones, and so the import report can quote them.

/// Largest accepted file: a generous ceiling for a catalog export that still
/// keeps one import from exhausting memory.
pub const MAX_INPUT_BYTES: usize = 32 * 1024 * 1024;

/// Most data rows (header excluded) accepted in one file.
pub const MAX_ROWS: usize = 50_000;

/// Longest product title, in characters.
pub const MAX_TITLE_CHARS: usize = 255;

/// Longest handle, in characters.
pub const MAX_HANDLE_CHARS: usize = 255;

/// Longest vendor, product type, tag, option name or option value.
pub const MAX_NAME_CHARS: usize = 255;

/// Longest SKU, in characters.
pub const MAX_SKU_CHARS: usize = 64;

/// Longest barcode (UPC, EAN, ISBN or a shop's own code).
pub const MAX_BARCODE_CHARS: usize = 255;

/// Largest product description before sanitising, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Most tags on one product (Shopify's own limit).
pub const MAX_TAGS: usize = 250;

/// Longest image URL, in characters.
pub const MAX_IMAGE_URL_CHARS: usize = 2048;

/// Longest image alt text (Shopify's own limit).
pub const MAX_ALT_CHARS: usize = 512;

/// Highest accepted image position.
pub const MAX_IMAGE_POSITION: i64 = 1_000;

/// Largest accepted stock count (and its negative, before clamping).
pub const MAX_INVENTORY: i64 = 1_000_000_000;

/// Heaviest accepted variant, in grams (a thousand tonnes).
pub const MAX_GRAMS: i64 = 1_000_000_000;

/// How many problems a [`crate::ParseError`] lists before summarising the
/// rest as a count, so a hostile file cannot produce an unbounded report.
pub const MAX_LISTED_PROBLEMS: usize = 1_000;

/// The input caps of one parse; [`Limits::default`] uses [`MAX_INPUT_BYTES`]
/// and [`MAX_ROWS`]. Callers may tighten them (for example for an upload form).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Limits {
    /// Largest accepted input, in bytes.
    pub max_bytes: usize,
    /// Most data rows accepted, header excluded.
    pub max_rows: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: MAX_INPUT_BYTES,
            max_rows: MAX_ROWS,
        }
    }
}
