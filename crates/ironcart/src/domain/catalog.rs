//! Products and variants: what the catalog holds and the rules for changing it.

use serde::{Deserialize, Serialize};

/// Whether a variant may be sold when its stock runs out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InventoryPolicy {
    Deny,
    Continue,
}

impl InventoryPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            InventoryPolicy::Deny => "deny",
            InventoryPolicy::Continue => "continue",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "deny" => Some(InventoryPolicy::Deny),
            "continue" => Some(InventoryPolicy::Continue),
            _ => None,
        }
    }
}

/// A product as it is to be written: from an import row group or the admin API.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductDraft {
    pub handle: String,
    pub title: String,
    pub body_html: String,
    pub vendor: Option<String>,
    pub product_type: Option<String>,
    pub tags: Vec<String>,
    pub published: bool,
    pub option_names: Vec<String>,
    pub variants: Vec<VariantDraft>,
    pub images: Vec<ImageDraft>,
    /// Where the product came from in an import file, for the report.
    pub source_line: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VariantDraft {
    pub sku: Option<String>,
    pub option_values: Vec<String>,
    pub price: i64,
    pub compare_at_price: Option<i64>,
    pub inventory_quantity: i64,
    pub inventory_policy: InventoryPolicy,
    pub grams: Option<i64>,
    pub requires_shipping: bool,
    pub taxable: bool,
    pub barcode: Option<String>,
    pub source_line: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ImageDraft {
    pub src: String,
    pub position: i64,
    pub alt: Option<String>,
}

/// Text every catalog search matches against: lower-cased title, vendor, type and tags.
pub fn search_text(draft: &ProductDraft) -> String {
    let mut parts = vec![draft.title.to_lowercase()];
    parts.extend(draft.vendor.iter().map(|v| v.to_lowercase()));
    parts.extend(draft.product_type.iter().map(|t| t.to_lowercase()));
    parts.extend(draft.tags.iter().map(|t| t.to_lowercase()));
    parts.join(" ")
}

impl From<ironcart_shopify::ProductPlan> for ProductDraft {
    fn from(plan: ironcart_shopify::ProductPlan) -> Self {
        let images = plan
            .images
            .into_iter()
            .enumerate()
            .map(|(i, image)| ImageDraft {
                src: image.src,
                position: image.position.unwrap_or(i as i64 + 1),
                alt: image.alt,
            })
            .collect();
        ProductDraft {
            handle: plan.handle,
            title: plan.title,
            body_html: plan.body_html,
            vendor: plan.vendor,
            product_type: plan.product_type,
            tags: plan.tags,
            published: plan.published,
            option_names: plan.option_names,
            variants: plan.variants.into_iter().map(VariantDraft::from).collect(),
            images,
            source_line: Some(plan.line),
        }
    }
}

impl From<ironcart_shopify::VariantPlan> for VariantDraft {
    fn from(plan: ironcart_shopify::VariantPlan) -> Self {
        VariantDraft {
            sku: plan.sku,
            option_values: plan.option_values,
            price: plan.price_minor,
            compare_at_price: plan.compare_at_minor,
            inventory_quantity: plan.inventory_quantity,
            inventory_policy: match plan.inventory_policy {
                ironcart_shopify::InventoryPolicy::Deny => InventoryPolicy::Deny,
                ironcart_shopify::InventoryPolicy::Continue => InventoryPolicy::Continue,
            },
            grams: plan.grams,
            requires_shipping: plan.requires_shipping,
            taxable: plan.taxable,
            barcode: plan.barcode,
            source_line: Some(plan.line),
        }
    }
}
