//! Handlers, one module per part of the API. Each handler parses, calls the domain,
//! and shapes the response; rules live in the domain.

pub mod accounts;
pub mod admin;
pub mod bans;
pub mod cart;
pub mod catalog;
pub mod exports;
pub mod meta;
pub mod orders;

use super::error::{ApiError, FieldError};
use crate::domain::CommerceError;
use crate::domain::customers::AccountError;

impl From<CommerceError> for ApiError {
    fn from(err: CommerceError) -> Self {
        match err {
            CommerceError::UnknownVariant => ApiError::field(
                "variant_id",
                "unknown_variant",
                "does not exist or is not for sale",
            ),
            CommerceError::OutOfStock(variant) => {
                ApiError::Conflict(format!("not enough stock for variant {variant}"))
            }
            CommerceError::QuantityAboveMaximum(max) => ApiError::field(
                "quantity",
                "above_maximum",
                format!("at most {max} of one variant per order"),
            ),
            CommerceError::EmptyCart => ApiError::Conflict("the cart is empty".into()),
            CommerceError::AmountOverflow => {
                ApiError::field("quantity", "amount_overflow", "the amount is too large")
            }
            CommerceError::PaymentDeclined => ApiError::PaymentDeclined,
            CommerceError::PaymentTokenRejected => ApiError::field(
                "payment_token",
                "payment_token_rejected",
                "the payment provider does not accept this token",
            ),
            CommerceError::PaymentUnavailable => ApiError::Unavailable {
                retry_after_secs: 5,
            },
            CommerceError::IdempotencyMismatch => ApiError::Validation(vec![FieldError::new(
                "Idempotency-Key",
                "idempotency_key_reused",
                "this key was already used for a different request",
            )]),
            CommerceError::InvalidTransition { from, to } => {
                ApiError::Conflict(format!("an order cannot move from {from} to {to}"))
            }
            CommerceError::NotFound => ApiError::NotFound,
            CommerceError::Store(err) => err.into(),
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(err: AccountError) -> Self {
        match err {
            AccountError::EmailTaken => {
                ApiError::Conflict("the email address is already registered".into())
            }
            AccountError::InvalidCredentials => ApiError::InvalidCredentials,
            AccountError::WeakPassword { code, message } => {
                ApiError::Validation(vec![FieldError::new("password", code, message)])
            }
            AccountError::InvalidRefreshToken => ApiError::InvalidCredentials,
            AccountError::Busy => ApiError::Unavailable {
                retry_after_secs: 1,
            },
            AccountError::Internal(err) => ApiError::Internal(err),
        }
    }
}
