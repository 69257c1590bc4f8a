//! Grouping rows by handle into products, and the checks that need the whole
//! file (duplicate SKUs and duplicate option combinations).

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use csv::StringRecord;

use crate::columns::{Col, Columns};
use crate::error::{ParseError, Problems, excerpt};
use crate::fields::normalize_handle;
use crate::model::{CatalogPlan, NoteKind, ProductPlan, VariantPlan};
use crate::product::{read_continuation, read_product};
use crate::row::{Report, Row};

/// Accumulates a file record by record; [`CatalogBuilder::finish`] yields the
/// plan only if no problem at all was found.
pub(crate) struct CatalogBuilder<'c> {
    columns: &'c Columns,
    catalog: Catalog,
    report: Report,
}

#[derive(Default)]
struct Catalog {
    products: Vec<ProductPlan>,
    by_handle: HashMap<String, usize>,
    /// Handles whose first row could not be used; their later rows are not
    /// reported again as orphans.
    unusable: HashSet<String>,
}

impl<'c> CatalogBuilder<'c> {
    pub(crate) fn new(columns: &'c Columns) -> Self {
        Self {
            columns,
            catalog: Catalog::default(),
            report: Report::default(),
        }
    }

    /// Reads one data record starting on `line`.
    pub(crate) fn add_record(&mut self, record: &StringRecord, line: u64) {
        if record.len() != self.columns.width() {
            self.reject_width(record, line);
            return;
        }
        let mut row = Row::new(line, record, self.columns, &mut self.report);
        if row.is_blank() {
            row.note(
                NoteKind::Skipped,
                "row is empty in every column we import".to_string(),
            );
            return;
        }
        reject_extra_options(&mut row);
        if let Some(handle) = read_handle(&mut row) {
            self.catalog.accept(&mut row, handle);
        }
    }

    /// Records a problem found outside any data row's content.
    pub(crate) fn problem(&mut self, line: Option<u64>, reason: String) {
        self.report.problems.push(line, reason);
    }

    pub(crate) fn finish(self) -> Result<CatalogPlan, ParseError> {
        let Report {
            mut problems,
            notes,
        } = self.report;
        let products = self.catalog.products;
        check_duplicate_skus(&products, &mut problems);
        check_duplicate_combinations(&products, &mut problems);
        match problems.into_error() {
            Some(error) => Err(error),
            None => Ok(CatalogPlan { products, notes }),
        }
    }

    /// A record with the wrong number of fields has shifted columns, so none
    /// of its cells can be trusted; only its handle is remembered to avoid
    /// follow-on orphan reports.
    fn reject_width(&mut self, record: &StringRecord, line: u64) {
        let reason = format!(
            "row has {} fields but the header has {} (check for unquoted commas or line breaks)",
            record.len(),
            self.columns.width()
        );
        self.problem(Some(line), reason);
        let handle = normalize_handle(self.columns.cell(record, Col::Handle)).ok();
        if let Some(handle) =
            handle.filter(|h| !h.is_empty() && !self.catalog.by_handle.contains_key(h))
        {
            self.catalog.unusable.insert(handle);
        }
    }
}

impl Catalog {
    /// Starts a product, continues one, or reports an orphan row.
    fn accept(&mut self, row: &mut Row<'_>, handle: String) {
        let title = row.raw(Col::Title);
        let known = self
            .by_handle
            .get(&handle)
            .and_then(|&i| self.products.get_mut(i));
        if let Some(product) = known {
            if title.is_empty() || title == product.title {
                read_continuation(row, product);
            } else {
                let reason = format!(
                    "differs from the title of product \"{handle}\" on line {}: a handle names one product",
                    product.line
                );
                row.reject(Col::Title, &reason);
            }
        } else if !title.is_empty() {
            self.start(row, handle);
        } else if !self.unusable.contains(&handle) {
            let reason =
                "has no earlier row with a Title (a product's first row must carry its Title)";
            row.reject(Col::Handle, reason);
        }
    }

    fn start(&mut self, row: &mut Row<'_>, handle: String) {
        match read_product(row, handle.clone()) {
            Some(product) => {
                self.by_handle.insert(handle, self.products.len());
                self.products.push(product);
            }
            None => {
                self.unusable.insert(handle);
            }
        }
    }
}

fn read_handle(row: &mut Row<'_>) -> Option<String> {
    let raw = row.raw(Col::Handle);
    if raw.is_empty() {
        row.fail(format!(
            "{} is empty but the row has other data",
            Col::Handle
        ));
        return None;
    }
    normalize_handle(raw)
        .map_err(|reason| row.reject(Col::Handle, &reason))
        .ok()
}

/// Shopify products have at most three options; a file using an Option4
/// column cannot be imported faithfully.
fn reject_extra_options(row: &mut Row<'_>) {
    let columns = row.columns();
    if let Some(&col) = columns.extra_options().iter().find(|col| row.has(**col)) {
        row.reject(col, "is set, but a product has at most 3 options");
    }
}

/// SKUs identify stock across the whole shop, so they are unique in the file,
/// ignoring case (`ab-1` and `AB-1` would be confused in a warehouse).
fn check_duplicate_skus(products: &[ProductPlan], problems: &mut Problems) {
    let mut first_use: HashMap<String, u64> = HashMap::new();
    for variant in products.iter().flat_map(|p| &p.variants) {
        let Some(sku) = &variant.sku else {
            continue;
        };
        match first_use.entry(sku.to_lowercase()) {
            Entry::Occupied(first) => {
                let reason = format!(
                    "{} {} is already used by the variant on line {}",
                    Col::Sku,
                    excerpt(sku),
                    first.get()
                );
                problems.push(Some(variant.line), reason);
            }
            Entry::Vacant(slot) => {
                slot.insert(variant.line);
            }
        }
    }
}

/// Two variants with the same option values could not be told apart by a
/// shopper.
fn check_duplicate_combinations(products: &[ProductPlan], problems: &mut Problems) {
    for product in products {
        let mut first_use: HashMap<Vec<String>, u64> = HashMap::new();
        for variant in &product.variants {
            let key = variant
                .option_values
                .iter()
                .map(|v| v.to_lowercase())
                .collect();
            match first_use.entry(key) {
                Entry::Occupied(first) => {
                    problems.push(
                        Some(variant.line),
                        duplicate_combination(product, variant, *first.get()),
                    );
                }
                Entry::Vacant(slot) => {
                    slot.insert(variant.line);
                }
            }
        }
    }
}

fn duplicate_combination(product: &ProductPlan, variant: &VariantPlan, first_line: u64) -> String {
    if product.option_names.is_empty() {
        return format!(
            "product {} has no options, so it can have only one variant (already defined on line {first_line})",
            excerpt(&product.handle)
        );
    }
    let combination: Vec<String> = product
        .option_names
        .iter()
        .zip(&variant.option_values)
        .map(|(name, value)| format!("{name}={}", excerpt(value)))
        .collect();
    format!(
        "option combination {} is already used by the variant on line {first_line}",
        combination.join(", ")
    )
}
