//! Checkout: turns the cart into a paid order. Every price comes from the catalog,
//! stock is taken atomically, and an idempotency key makes retries safe.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::CommerceError;
use super::catalog::InventoryPolicy;
use super::money::{self, CURRENCY};
use super::payments::{ChargeRequest, PaymentError, PaymentProvider};
use crate::store::{OrderLineRecord, OrderRecord, PaymentRecord, PlaceOrderError, Store};

/// Where the order ships; validated at the edge.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShippingAddress {
    pub name: String,
    pub line1: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: String,
    pub country: String,
}

#[derive(Debug, Clone)]
pub struct CheckoutRequest {
    pub user_id: String,
    pub idempotency_key: String,
    pub shipping_address: ShippingAddress,
    pub payment_token: String,
    pub max_line_quantity: i64,
    pub now: i64,
}

/// The order, and whether it was placed by an earlier request with the same key.
#[derive(Debug)]
pub struct CheckoutOutcome {
    pub order: OrderRecord,
    pub replayed: bool,
}

impl CheckoutRequest {
    /// Fingerprint of what was asked, to tell a retry from a reused key.
    fn fingerprint(&self) -> String {
        let canonical = serde_json::json!({
            "shipping_address": self.shipping_address,
            "payment_token": self.payment_token,
        });
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
    }
}

pub async fn place_order(
    store: &Store,
    payments: &dyn PaymentProvider,
    request: CheckoutRequest,
) -> Result<CheckoutOutcome, CommerceError> {
    let fingerprint = request.fingerprint();
    if let Some(order) = replay(store, &request, &fingerprint).await? {
        return Ok(order);
    }
    let lines = match priced_lines(store, &request).await {
        Ok(lines) => lines,
        // A concurrent retry with this key may have placed the order (and emptied
        // the cart) since the lookup above: the caller gets that order, not an error.
        Err(err) => {
            return replay(store, &request, &fingerprint).await?.ok_or(err);
        }
    };
    let subtotal =
        money::sum(lines.iter().map(|l| l.line_total)).ok_or(CommerceError::AmountOverflow)?;
    // One provider key per attempt, named after the order it pays for. A key per
    // Idempotency-Key would let a retry after a refunded attempt (lost stock race)
    // be handed back that refunded charge and get its order for free; retries of a
    // placed order never get here, `replay` answers them.
    let order_id = uuid::Uuid::now_v7().to_string();
    let charge_key = format!("{}:{}:{order_id}", request.user_id, request.idempotency_key);
    let charge = payments
        .charge(ChargeRequest {
            amount: subtotal,
            currency: CURRENCY,
            payment_token: request.payment_token.clone(),
            idempotency_key: charge_key.clone(),
        })
        .await
        .map_err(payment_error)?;
    let order = OrderRecord {
        id: order_id,
        user_id: request.user_id.clone(),
        status: "paid".to_owned(),
        currency: CURRENCY.to_owned(),
        subtotal,
        total: subtotal,
        shipping_address: serde_json::to_string(&request.shipping_address)
            .map_err(|e| CommerceError::Store(crate::store::StoreError::Corrupt(e.to_string())))?,
        idempotency_key: request.idempotency_key.clone(),
        request_hash: fingerprint.clone(),
        created_at: request.now,
        updated_at: request.now,
        lines,
        payments: vec![PaymentRecord {
            id: uuid::Uuid::now_v7().to_string(),
            provider: payments.name().to_owned(),
            provider_ref: charge.reference.clone(),
            kind: "charge".to_owned(),
            amount: charge.amount,
            created_at: request.now,
        }],
    };
    match store.place_order(&order).await {
        Ok(()) => Ok(CheckoutOutcome {
            order,
            replayed: false,
        }),
        Err(PlaceOrderError::DuplicateKey) => {
            // A concurrent request with this key placed the order and paid for it.
            refund_unplaced(payments, &charge.reference, charge.amount, &charge_key).await;
            replay(store, &request, &fingerprint)
                .await?
                .ok_or(CommerceError::IdempotencyMismatch)
        }
        Err(PlaceOrderError::OutOfStock(variant)) => {
            refund_unplaced(payments, &charge.reference, charge.amount, &charge_key).await;
            Err(CommerceError::OutOfStock(variant))
        }
        Err(PlaceOrderError::Store(err)) => {
            refund_unplaced(payments, &charge.reference, charge.amount, &charge_key).await;
            Err(CommerceError::Store(err))
        }
    }
}

/// An order already placed with this key: the same order if the request is the
/// same, an error if the key is being reused for something else.
async fn replay(
    store: &Store,
    request: &CheckoutRequest,
    fingerprint: &str,
) -> Result<Option<CheckoutOutcome>, CommerceError> {
    let Some(order) = store
        .order_by_idempotency_key(&request.user_id, &request.idempotency_key)
        .await?
    else {
        return Ok(None);
    };
    if order.request_hash != fingerprint {
        return Err(CommerceError::IdempotencyMismatch);
    }
    Ok(Some(CheckoutOutcome {
        order,
        replayed: true,
    }))
}

/// Order lines priced from the catalog; refuses empty carts, over-maximum lines and
/// lines the stock cannot cover (the atomic check happens again when writing).
async fn priced_lines(
    store: &Store,
    request: &CheckoutRequest,
) -> Result<Vec<OrderLineRecord>, CommerceError> {
    let cart = store.cart_lines(&request.user_id).await?;
    if cart.is_empty() {
        return Err(CommerceError::EmptyCart);
    }
    let mut lines = Vec::with_capacity(cart.len());
    for line in cart {
        if !line.published {
            return Err(CommerceError::UnknownVariant);
        }
        if line.quantity < 1 || line.quantity > request.max_line_quantity {
            return Err(CommerceError::QuantityAboveMaximum(
                request.max_line_quantity,
            ));
        }
        let deny =
            InventoryPolicy::parse(&line.inventory_policy) != Some(InventoryPolicy::Continue);
        if deny && line.inventory_quantity < line.quantity {
            return Err(CommerceError::OutOfStock(line.variant_id));
        }
        let line_total = money::line_total(line.unit_price, line.quantity)
            .ok_or(CommerceError::AmountOverflow)?;
        lines.push(OrderLineRecord {
            variant_id: line.variant_id,
            sku: line.sku,
            title: line.title,
            quantity: line.quantity,
            unit_price: line.unit_price,
            line_total,
        });
    }
    Ok(lines)
}

fn payment_error(err: PaymentError) -> CommerceError {
    match err {
        PaymentError::Declined => CommerceError::PaymentDeclined,
        PaymentError::UnknownToken => CommerceError::PaymentTokenRejected,
        PaymentError::Unavailable => CommerceError::PaymentUnavailable,
    }
}

/// Gives the money back when the order could not be written after charging.
async fn refund_unplaced(payments: &dyn PaymentProvider, reference: &str, amount: i64, key: &str) {
    let refund_key = format!("{key}:unplaced");
    if let Err(err) = payments.refund(reference, amount, &refund_key).await {
        tracing::error!(error = %err, payment.reference = reference, "refund of an unplaced order failed");
    }
}
