//! Catalog import from the Shopify product CSV format: parse everything first, then
//! write everything in one transaction, so a bad file changes nothing.

use serde::Serialize;

use super::catalog::ProductDraft;
use crate::store::{ImportOutcome, Store, StoreError};

/// What an import did: per-row outcomes and the rows it skipped, with reasons.
#[derive(Debug, Serialize)]
pub struct ImportReport {
    #[serde(flatten)]
    pub outcome: ImportOutcome,
    pub skipped: Vec<SkippedRow>,
}

#[derive(Debug, Serialize)]
pub struct SkippedRow {
    pub line: u64,
    pub reason: String,
}

/// One reason the file was refused.
#[derive(Debug, Clone)]
pub struct ImportProblem {
    pub line: Option<u64>,
    pub reason: String,
}

impl ImportProblem {
    pub fn location(&self) -> String {
        self.line
            .map_or_else(|| "file".to_owned(), |l| format!("line {l}"))
    }
}

pub async fn import_shopify(
    store: &Store,
    csv: &[u8],
    now: i64,
) -> Result<ImportReport, Vec<ImportProblem>> {
    let plan = ironcart_shopify::parse(csv).map_err(|err| {
        err.problems
            .into_iter()
            .map(|p| ImportProblem {
                line: p.line,
                reason: p.reason,
            })
            .collect::<Vec<_>>()
    })?;
    let skipped = plan
        .notes
        .iter()
        .map(|n| SkippedRow {
            line: n.line,
            reason: n.reason.clone(),
        })
        .collect();
    let drafts: Vec<ProductDraft> = plan.products.into_iter().map(ProductDraft::from).collect();
    let outcome = store.upsert_products(&drafts, now).await.map_err(|err| {
        let reason = match err {
            StoreError::Conflict => {
                "a SKU or handle in the file belongs to another product; nothing was imported"
            }
            _ => "the catalog could not be written; nothing was imported",
        };
        if !matches!(err, StoreError::Conflict) {
            tracing::error!(error = %err, "catalog import failed");
        }
        vec![ImportProblem {
            line: None,
            reason: reason.to_owned(),
        }]
    })?;
    Ok(ImportReport { outcome, skipped })
}
