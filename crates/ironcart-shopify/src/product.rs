//! Turning rows into products: the first row of a handle, and the variant or
//! image rows that follow it.

use crate::columns::{Col, MAX_OPTIONS};
use crate::error::excerpt;
use crate::fields::{check_body_text, image_url, same_text, split_tags};
use crate::html::sanitize_html;
use crate::limits::{
    MAX_ALT_CHARS, MAX_BARCODE_CHARS, MAX_BODY_BYTES, MAX_GRAMS, MAX_IMAGE_POSITION, MAX_INVENTORY,
    MAX_NAME_CHARS, MAX_SKU_CHARS, MAX_TITLE_CHARS,
};
use crate::model::{ImagePlan, InventoryPolicy, NoteKind, ProductPlan, VariantPlan};
use crate::row::Row;

/// Shopify's placeholder for a product without options.
const DEFAULT_OPTION_NAME: &str = "Title";
const DEFAULT_OPTION_VALUE: &str = "Default Title";

/// Product columns that only the first row of a handle may set.
const PRODUCT_ONLY_COLUMNS: [Col; 5] = [
    Col::Body,
    Col::Vendor,
    Col::ProductType,
    Col::Tags,
    Col::Published,
];

/// Columns that make a continuation row a variant row rather than an image row.
const VARIANT_COLUMNS: [Col; 10] = [
    Col::Sku,
    Col::Grams,
    Col::InventoryQty,
    Col::InventoryPolicy,
    Col::Price,
    Col::CompareAt,
    Col::RequiresShipping,
    Col::Taxable,
    Col::Barcode,
    Col::OptionValue(1),
];

/// Builds a product from the first row of its handle. Returns `None` when the
/// title is unusable; other problems are recorded but the product is still
/// returned, so that its continuation rows are checked rather than reported
/// as orphans.
pub(crate) fn read_product(row: &mut Row<'_>, handle: String) -> Option<ProductPlan> {
    let title = row.text(Col::Title, MAX_TITLE_CHARS);
    let body_html = read_body(row);
    let vendor = row.text(Col::Vendor, MAX_NAME_CHARS);
    let product_type = row.text(Col::ProductType, MAX_NAME_CHARS);
    let tags = read_tags(row);
    let published = row.flag(Col::Published, false);
    let option_names = read_option_names(row);
    let variants = read_variant(row, &option_names).into_iter().collect();
    let images = read_image(row).into_iter().collect();
    Some(ProductPlan {
        handle,
        title: title?,
        body_html,
        vendor,
        product_type,
        tags,
        published,
        option_names,
        variants,
        images,
        line: row.line,
    })
}

/// Adds a following row of the same handle: a variant, an image, or both.
pub(crate) fn read_continuation(row: &mut Row<'_>, product: &mut ProductPlan) {
    check_repeated_option_names(row, product);
    note_ignored_product_fields(row, product.line);
    let is_variant_row = VARIANT_COLUMNS.iter().any(|col| row.has(*col))
        || (2..=MAX_OPTIONS).any(|n| row.has(Col::OptionValue(n)));
    if is_variant_row {
        product
            .variants
            .extend(read_variant(row, &product.option_names));
    }
    let image_added = add_image(row, product);
    if !is_variant_row && image_added {
        row.note(
            NoteKind::ImageRow,
            format!("image added to product \"{}\"", product.handle),
        );
    } else if !is_variant_row && !row.has(Col::ImageSrc) {
        row.note(
            NoteKind::Skipped,
            format!(
                "row for \"{}\" has no variant or image data",
                product.handle
            ),
        );
    }
}

fn read_body(row: &mut Row<'_>) -> String {
    let raw = row.raw(Col::Body);
    match check_body_text(raw, MAX_BODY_BYTES) {
        Ok(()) => sanitize_html(raw),
        Err(reason) => {
            row.reject(Col::Body, &reason);
            String::new()
        }
    }
}

fn read_tags(row: &mut Row<'_>) -> Vec<String> {
    split_tags(row.raw(Col::Tags)).unwrap_or_else(|reason| {
        row.reject(Col::Tags, &reason);
        Vec::new()
    })
}

/// Option names of the first row: contiguous from Option1, unique ignoring
/// case. A lone `Title` option whose value is `Default Title` means "no
/// options" and yields an empty list.
fn read_option_names(row: &mut Row<'_>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for n in 1..=MAX_OPTIONS {
        let col = Col::OptionName(n);
        let raw = row.raw(col);
        if raw.is_empty() {
            continue;
        }
        let position = usize::from(n) - 1;
        if names.len() < position {
            row.fail(format!(
                "{col} is set but Option{} Name is empty",
                names.len() + 1
            ));
            // Empty placeholders keep names positional, so the row's values
            // are matched to the right option and the gap is reported once.
            names.resize(position, String::new());
        } else if names.iter().any(|name| same_text(name, raw)) {
            row.reject(col, "repeats an earlier option name");
        }
        // An invalid name is still counted (its problem is already recorded)
        // so that this row's values are not also reported as nameless.
        names.push(
            row.text(col, MAX_NAME_CHARS)
                .unwrap_or_else(|| raw.to_string()),
        );
    }
    let value = row.raw(Col::OptionValue(1));
    let is_default = names.len() == 1
        && same_text(&names[0], DEFAULT_OPTION_NAME)
        && (value.is_empty() || same_text(value, DEFAULT_OPTION_VALUE));
    if is_default {
        names.clear();
    }
    names
}

/// On a continuation row, option names may be left empty or repeated, but
/// must not differ from the first row's.
fn check_repeated_option_names(row: &mut Row<'_>, product: &ProductPlan) {
    for n in 1..=MAX_OPTIONS {
        let col = Col::OptionName(n);
        let raw = row.raw(col);
        let expected = product.option_names.get(usize::from(n) - 1);
        let matches = match expected {
            Some(name) => same_text(name, raw),
            None => {
                n == 1 && product.option_names.is_empty() && same_text(raw, DEFAULT_OPTION_NAME)
            }
        };
        if !raw.is_empty() && !matches {
            let reason = format!(
                "differs from the option names on the product's first row (line {})",
                product.line
            );
            row.reject(col, &reason);
        }
    }
}

fn note_ignored_product_fields(row: &mut Row<'_>, first_line: u64) {
    let ignored: Vec<String> = PRODUCT_ONLY_COLUMNS
        .iter()
        .filter(|col| row.has(**col))
        .map(ToString::to_string)
        .collect();
    if !ignored.is_empty() {
        let reason = format!(
            "{} ignored: product details come from the product's first row (line {first_line})",
            ignored.join(", ")
        );
        row.note(NoteKind::Ignored, reason);
    }
}

/// Reads the variant of a row. `None` when any of its cells was invalid (the
/// problems are recorded), so later duplicate checks see only real variants.
fn read_variant(row: &mut Row<'_>, option_names: &[String]) -> Option<VariantPlan> {
    let before = row.problem_count();
    let option_values = read_option_values(row, option_names);
    let variant = VariantPlan {
        sku: row.text(Col::Sku, MAX_SKU_CHARS),
        option_values,
        price_minor: row.required_money(Col::Price).unwrap_or_default(),
        compare_at_minor: row.money(Col::CompareAt),
        inventory_quantity: read_inventory(row),
        inventory_policy: read_policy(row),
        grams: row.whole_number(Col::Grams, 0..=MAX_GRAMS),
        requires_shipping: row.flag(Col::RequiresShipping, true),
        taxable: row.flag(Col::Taxable, true),
        barcode: row.text(Col::Barcode, MAX_BARCODE_CHARS),
        line: row.line,
    };
    (row.problem_count() == before).then_some(variant)
}

/// One value per option name, and no value where the product has no such
/// option (except Shopify's `Default Title` placeholder).
fn read_option_values(row: &mut Row<'_>, option_names: &[String]) -> Vec<String> {
    let mut values = Vec::with_capacity(option_names.len());
    for n in 1..=MAX_OPTIONS {
        let col = Col::OptionValue(n);
        let raw = row.raw(col);
        if let Some(name) = option_names.get(usize::from(n) - 1) {
            if name.is_empty() {
                continue; // a missing option name, already reported
            }
            if raw.is_empty() {
                let name = excerpt(name);
                row.fail(format!(
                    "{col} is empty but the product has the option {name}"
                ));
            }
            values.extend(row.text(col, MAX_NAME_CHARS));
        } else if !raw.is_empty() && !is_default_value(n, raw) {
            row.reject(
                col,
                &format!("is set but the product has no Option{n} Name"),
            );
        }
    }
    values
}

fn is_default_value(option_number: u8, value: &str) -> bool {
    option_number == 1 && same_text(value, DEFAULT_OPTION_VALUE)
}

/// Empty means 0. Negative stock (oversold) is stored as 0 with a note: we do
/// not model backorder counts, and a negative count would read as "in stock"
/// to naive `> 0` checks only by accident.
fn read_inventory(row: &mut Row<'_>) -> i64 {
    let quantity = row
        .whole_number(Col::InventoryQty, -MAX_INVENTORY..=MAX_INVENTORY)
        .unwrap_or(0);
    if quantity < 0 {
        row.note(
            NoteKind::Adjusted,
            format!(
                "{} {quantity} is negative; imported as 0",
                Col::InventoryQty
            ),
        );
        return 0;
    }
    quantity
}

fn read_policy(row: &mut Row<'_>) -> InventoryPolicy {
    let raw = row.raw(Col::InventoryPolicy);
    if raw.is_empty() {
        return InventoryPolicy::Deny;
    }
    raw.parse().unwrap_or_else(|_| {
        row.reject(Col::InventoryPolicy, "must be \"deny\" or \"continue\"");
        InventoryPolicy::Deny
    })
}

/// Adds the row's image unless the product already lists that URL. Returns
/// whether an image was added.
fn add_image(row: &mut Row<'_>, product: &mut ProductPlan) -> bool {
    let Some(image) = read_image(row) else {
        return false;
    };
    if let Some(first) = product.images.iter().find(|known| known.src == image.src) {
        let reason = format!(
            "{} already listed for this product on line {}",
            Col::ImageSrc,
            first.line
        );
        row.note(NoteKind::Ignored, reason);
        return false;
    }
    product.images.push(image);
    true
}

fn read_image(row: &mut Row<'_>) -> Option<ImagePlan> {
    let raw = row.raw(Col::ImageSrc);
    if raw.is_empty() {
        if row.has(Col::ImageAlt) || row.has(Col::ImagePosition) {
            let reason = format!(
                "{} and {} ignored: {} is empty",
                Col::ImagePosition,
                Col::ImageAlt,
                Col::ImageSrc
            );
            row.note(NoteKind::Ignored, reason);
        }
        return None;
    }
    let src = image_url(raw)
        .map_err(|reason| row.reject(Col::ImageSrc, &reason))
        .ok();
    let position = row.whole_number(Col::ImagePosition, 1..=MAX_IMAGE_POSITION);
    let alt = row.text(Col::ImageAlt, MAX_ALT_CHARS);
    Some(ImagePlan {
        src: src?,
        position,
        alt,
        line: row.line,
    })
}
