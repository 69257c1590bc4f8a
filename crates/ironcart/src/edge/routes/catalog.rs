//! The public catalog: search and product pages.

use axum::Json;
use axum::extract::State;

use crate::app::AppState;
use crate::edge::dto::{Page, ProductQuery, ProductView};
use crate::edge::error::{ApiError, ApiResult};
use crate::edge::extract::{ValidPath, ValidQuery};
use crate::store::CatalogQuery;

pub async fn list_products(
    State(app): State<AppState>,
    ValidQuery(query): ValidQuery<ProductQuery>,
) -> ApiResult<Json<Page<ProductView>>> {
    let page = query.page.unwrap_or(1);
    let per_page = query.per_page.unwrap_or(20);
    let (products, total) = app
        .store
        .list_products(&CatalogQuery {
            q: query.q,
            vendor: query.vendor,
            product_type: query.product_type,
            tag: query.tag,
            limit: per_page,
            offset: (page - 1) * per_page,
            include_unpublished: false,
        })
        .await?;
    Ok(Json(Page {
        items: products.iter().map(ProductView::from).collect(),
        page,
        per_page,
        total,
    }))
}

/// A published product by id or handle; unpublished ones do not exist publicly.
pub async fn show_product(
    State(app): State<AppState>,
    ValidPath(key): ValidPath<String>,
) -> ApiResult<Json<ProductView>> {
    if key.len() > 255 {
        return Err(ApiError::NotFound);
    }
    let product = app
        .store
        .product_by_key(&key)
        .await?
        .filter(|p| p.published)
        .ok_or(ApiError::NotFound)?;
    Ok(Json(ProductView::from(&product)))
}
