//! The validated result of a parse: what the store layer should upsert.
//!
//! Everything here has passed validation; the store layer can write it without
//! re-checking formats, only business rules that need the database.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// A whole file, validated: products in the order of their first row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CatalogPlan {
    /// One entry per distinct handle.
    pub products: Vec<ProductPlan>,
    /// Rows that were skipped or adjusted, for the import report.
    pub notes: Vec<RowNote>,
}

impl CatalogPlan {
    /// Number of variants across all products.
    pub fn variant_count(&self) -> usize {
        self.products.iter().map(|p| p.variants.len()).sum()
    }

    /// Number of images across all products.
    pub fn image_count(&self) -> usize {
        self.products.iter().map(|p| p.images.len()).sum()
    }
}

/// One product, gathered from its first row and its continuation rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProductPlan {
    /// Lower-case URL key, `[a-z0-9-]`; the identity used to update a product.
    pub handle: String,
    /// Display name, trimmed, never empty.
    pub title: String,
    /// Description after [`crate::sanitize_html`]; may be empty.
    pub body_html: String,
    /// Brand or supplier.
    pub vendor: Option<String>,
    /// Shopify's free-text product type (`Type` column).
    pub product_type: Option<String>,
    /// Trimmed, non-empty, de-duplicated ignoring case (first spelling kept).
    pub tags: Vec<String>,
    /// Whether the product is visible in the shop; an empty `Published` cell
    /// means `false`, so nothing goes live by accident.
    pub published: bool,
    /// Up to three option names (`Size`, `Color`, …). Empty for a product
    /// with a single default variant (Shopify's `Title` / `Default Title`).
    pub option_names: Vec<String>,
    /// At least one variant; each has one value per option name.
    pub variants: Vec<VariantPlan>,
    /// Images in file order, without duplicate URLs.
    pub images: Vec<ImagePlan>,
    /// Line of the product's first row.
    pub line: u64,
}

/// One purchasable variant of a product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VariantPlan {
    /// Stock-keeping unit; unique in the file, ignoring case.
    pub sku: Option<String>,
    /// One value per [`ProductPlan::option_names`] entry, in the same order;
    /// the combination is unique within the product, ignoring case.
    pub option_values: Vec<String>,
    /// Price in minor units (cents).
    pub price_minor: i64,
    /// "Was" price in minor units, if any.
    pub compare_at_minor: Option<i64>,
    /// Stock on hand; never negative (negative exports are clamped to 0 with
    /// a note).
    pub inventory_quantity: i64,
    /// Whether the variant can be sold when out of stock.
    pub inventory_policy: InventoryPolicy,
    /// Shipping weight in grams, if given.
    pub grams: Option<i64>,
    /// `Variant Requires Shipping`; empty means `true`.
    pub requires_shipping: bool,
    /// `Variant Taxable`; empty means `true`.
    pub taxable: bool,
    /// UPC, EAN, ISBN or similar.
    pub barcode: Option<String>,
    /// Line of the row that defined this variant.
    pub line: u64,
}

/// What happens when a variant runs out of stock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InventoryPolicy {
    /// Stop selling at zero stock (Shopify's default).
    #[default]
    Deny,
    /// Keep selling (backorders).
    Continue,
}

impl InventoryPolicy {
    /// The spelling used in Shopify files and in our database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deny => "deny",
            Self::Continue => "continue",
        }
    }
}

impl fmt::Display for InventoryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was neither `deny` nor `continue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("inventory policy must be \"deny\" or \"continue\"")]
pub struct InvalidInventoryPolicy;

impl FromStr for InventoryPolicy {
    type Err = InvalidInventoryPolicy;

    /// Accepts `deny` or `continue` in any case, surrounding spaces ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("deny") {
            Ok(Self::Deny)
        } else if s.eq_ignore_ascii_case("continue") {
            Ok(Self::Continue)
        } else {
            Err(InvalidInventoryPolicy)
        }
    }
}

/// A product image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImagePlan {
    /// Absolute `http`/`https` URL without credentials, normalised.
    pub src: String,
    /// Display order given in the file (1 = first), if any.
    pub position: Option<i64>,
    /// Alternative text for screen readers.
    pub alt: Option<String>,
    /// Line of the row that listed the image.
    pub line: u64,
}

/// Something the import report should mention about a row that did not
/// prevent the import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowNote {
    /// 1-based line where the row starts.
    pub line: u64,
    /// What happened to the row.
    pub kind: NoteKind,
    /// Human-readable explanation.
    pub reason: String,
}

/// How a row was treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteKind {
    /// The row carried nothing to import (for example a blank row).
    Skipped,
    /// The row only added an image to its product.
    ImageRow,
    /// A value was changed to an accepted one (negative stock set to 0).
    Adjusted,
    /// Part of the row was ignored (for example product fields repeated on a
    /// variant row, or an image listed twice).
    Ignored,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inventory_policy_parses_any_case() {
        assert_eq!("deny".parse(), Ok(InventoryPolicy::Deny));
        assert_eq!(" CONTINUE ".parse(), Ok(InventoryPolicy::Continue));
        assert_eq!("Deny".parse(), Ok(InventoryPolicy::Deny));
        assert_eq!("".parse::<InventoryPolicy>(), Err(InvalidInventoryPolicy));
        assert_eq!(
            "backorder".parse::<InventoryPolicy>(),
            Err(InvalidInventoryPolicy)
        );
        assert_eq!(InventoryPolicy::Continue.as_str(), "continue");
        assert_eq!(InventoryPolicy::default(), InventoryPolicy::Deny);
    }

    #[test]
    fn serialises_enums_in_file_spelling() -> Result<(), serde_json::Error> {
        assert_eq!(
            serde_json::to_string(&InventoryPolicy::Continue)?,
            "\"continue\""
        );
        assert_eq!(serde_json::to_string(&NoteKind::ImageRow)?, "\"image_row\"");
        Ok(())
    }
}
