//! The rules of commerce: catalog, carts, checkout, orders, customers and payments.
//! No HTTP here; storage goes through [`crate::store::Store`].

pub mod cart;
pub mod catalog;
pub mod checkout;
pub mod customers;
pub mod import;
pub mod money;
pub mod orders;
pub mod payments;

use crate::store::StoreError;

/// Why a commerce operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum CommerceError {
    #[error("the variant does not exist or is not for sale")]
    UnknownVariant,
    #[error("not enough stock for variant {0}")]
    OutOfStock(String),
    #[error("at most {0} of one variant per order")]
    QuantityAboveMaximum(i64),
    #[error("the cart is empty")]
    EmptyCart,
    #[error("the amount is too large")]
    AmountOverflow,
    #[error("the payment was declined")]
    PaymentDeclined,
    #[error("the payment token is not accepted")]
    PaymentTokenRejected,
    #[error("the payment provider is unavailable")]
    PaymentUnavailable,
    #[error("this idempotency key was used for a different request")]
    IdempotencyMismatch,
    #[error("an order cannot move from {from} to {to}")]
    InvalidTransition { from: String, to: String },
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}
