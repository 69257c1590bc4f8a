//! The shopper's cart: lines priced from the catalog at read time.

use serde::Serialize;

use super::CommerceError;
use super::money::{self, Money};
use crate::store::{CartLine, Store};

pub const DEFAULT_MAX_LINE_QUANTITY: i64 = 10;

#[derive(Debug, Clone, Serialize)]
pub struct CartView {
    pub items: Vec<CartItemView>,
    pub subtotal: Money,
}

#[derive(Debug, Clone, Serialize)]
pub struct CartItemView {
    pub variant_id: String,
    pub sku: Option<String>,
    pub title: String,
    pub quantity: i64,
    pub unit_price: Money,
    pub line_total: Money,
}

/// Prices the cart from the catalog's current prices.
pub fn price(lines: &[CartLine]) -> Result<CartView, CommerceError> {
    let mut items = Vec::with_capacity(lines.len());
    for line in lines {
        let total = money::line_total(line.unit_price, line.quantity)
            .ok_or(CommerceError::AmountOverflow)?;
        items.push(CartItemView {
            variant_id: line.variant_id.clone(),
            sku: line.sku.clone(),
            title: line.title.clone(),
            quantity: line.quantity,
            unit_price: Money::minor(line.unit_price),
            line_total: Money::minor(total),
        });
    }
    let subtotal = money::sum(items.iter().map(|i| i.line_total.amount))
        .ok_or(CommerceError::AmountOverflow)?;
    Ok(CartView {
        items,
        subtotal: Money::minor(subtotal),
    })
}

pub async fn view(store: &Store, user_id: &str) -> Result<CartView, CommerceError> {
    price(&store.cart_lines(user_id).await?)
}

/// Adds `quantity` of a variant to the cart (on top of what is there), refusing
/// unknown or unpublished variants and lines above the per-line maximum.
pub async fn add(
    store: &Store,
    user_id: &str,
    variant_id: &str,
    quantity: i64,
    max_line_quantity: i64,
    now: i64,
) -> Result<CartView, CommerceError> {
    let product_published = sellable(store, variant_id).await?;
    if !product_published {
        return Err(CommerceError::UnknownVariant);
    }
    let current = store
        .cart_lines(user_id)
        .await?
        .into_iter()
        .find(|l| l.variant_id == variant_id)
        .map_or(0, |l| l.quantity);
    let wanted = current.saturating_add(quantity);
    set(store, user_id, variant_id, wanted, max_line_quantity, now).await
}

/// Sets a line's quantity.
pub async fn set(
    store: &Store,
    user_id: &str,
    variant_id: &str,
    quantity: i64,
    max_line_quantity: i64,
    now: i64,
) -> Result<CartView, CommerceError> {
    if quantity > max_line_quantity {
        return Err(CommerceError::QuantityAboveMaximum(max_line_quantity));
    }
    if !sellable(store, variant_id).await? {
        return Err(CommerceError::UnknownVariant);
    }
    let variant = store
        .variant_by_id(variant_id)
        .await?
        .ok_or(CommerceError::UnknownVariant)?;
    if variant.inventory_policy == super::catalog::InventoryPolicy::Deny
        && variant.inventory_quantity < quantity
    {
        return Err(CommerceError::OutOfStock(variant_id.to_owned()));
    }
    store
        .set_cart_quantity(user_id, variant_id, quantity, now)
        .await?;
    view(store, user_id).await
}

/// Whether the variant exists and belongs to a published product.
async fn sellable(store: &Store, variant_id: &str) -> Result<bool, CommerceError> {
    let Some(variant) = store.variant_by_id(variant_id).await? else {
        return Ok(false);
    };
    let product = store.product_by_id(&variant.product_id).await?;
    Ok(product.is_some_and(|p| p.published))
}
