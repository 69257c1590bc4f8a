//! The order lifecycle: which status may follow which, and what each move does.
//!
//! ```text
//! paid ──▶ fulfilled ──▶ refunded
//!  │ └──────────────────▶ refunded  (restocked)
//!  └──▶ cancelled                   (restocked, refunded)
//! ```

use super::CommerceError;
use super::payments::PaymentProvider;
use crate::store::{OrderRecord, OrderTransition, PaymentRecord, Store};

pub const STATUSES: [&str; 4] = ["paid", "fulfilled", "cancelled", "refunded"];

/// Side effects of a move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Effects {
    pub restock: bool,
    pub refund: bool,
}

/// The lifecycle table; `None` means the move is not allowed.
pub fn effects(from: &str, to: &str) -> Option<Effects> {
    match (from, to) {
        ("paid", "fulfilled") => Some(Effects {
            restock: false,
            refund: false,
        }),
        ("paid", "cancelled") | ("paid", "refunded") => Some(Effects {
            restock: true,
            refund: true,
        }),
        ("fulfilled", "refunded") => Some(Effects {
            restock: false,
            refund: true,
        }),
        _ => None,
    }
}

/// Moves an order to `to`, refunding through the provider and releasing stock as
/// the lifecycle says.
pub async fn change_status(
    store: &Store,
    payments: &dyn PaymentProvider,
    order_id: &str,
    to: &str,
    actor_id: &str,
    now: i64,
) -> Result<OrderRecord, CommerceError> {
    let order = store
        .order_by_id(order_id)
        .await?
        .ok_or(CommerceError::NotFound)?;
    let invalid = || CommerceError::InvalidTransition {
        from: order.status.clone(),
        to: to.to_owned(),
    };
    if order.status == to && owes_refund(&order) {
        return settle_refund(store, payments, &order, now).await;
    }
    let effects = effects(&order.status, to).ok_or_else(invalid)?;
    // The status moves first, as a compare-and-set: of two concurrent moves only
    // one wins, and money goes back only for the move that won (a cancellation
    // that lost to a fulfilment refunds nothing).
    store
        .transition_order(&OrderTransition {
            order_id,
            from: &order.status,
            to,
            actor_id,
            restock: effects.restock,
            refund: None,
            now,
        })
        .await
        .map_err(|err| match err {
            crate::store::StoreError::Conflict => invalid(),
            other => CommerceError::Store(other),
        })?;
    let moved = store
        .order_by_id(order_id)
        .await?
        .ok_or(CommerceError::NotFound)?;
    if effects.refund {
        return settle_refund(store, payments, &moved, now).await;
    }
    Ok(moved)
}

/// Whether a cancelled or refunded order has not had its money back yet (the
/// provider failed after the status moved); repeating the move retries the refund.
fn owes_refund(order: &OrderRecord) -> bool {
    matches!(order.status.as_str(), "cancelled" | "refunded")
        && !order.payments.iter().any(|p| p.kind == "refund")
}

async fn settle_refund(
    store: &Store,
    payments: &dyn PaymentProvider,
    order: &OrderRecord,
    now: i64,
) -> Result<OrderRecord, CommerceError> {
    let refund = match refund_order(payments, order, now).await {
        Ok(refund) => refund,
        Err(err) => {
            tracing::error!(
                target: "security",
                action = "payment.refund_failed",
                order_id = order.id.as_str(),
                "refund failed after the order moved; repeat the status change to retry"
            );
            return Err(err);
        }
    };
    store.record_payment(&order.id, &refund).await?;
    store
        .order_by_id(&order.id)
        .await?
        .ok_or(CommerceError::NotFound)
}

async fn refund_order(
    payments: &dyn PaymentProvider,
    order: &OrderRecord,
    now: i64,
) -> Result<PaymentRecord, CommerceError> {
    let charge = order
        .payments
        .iter()
        .find(|p| p.kind == "charge")
        .ok_or(CommerceError::PaymentUnavailable)?;
    let refund = payments
        .refund(
            &charge.provider_ref,
            charge.amount,
            &format!("refund:{}", order.id),
        )
        .await
        .map_err(|_| CommerceError::PaymentUnavailable)?;
    Ok(PaymentRecord {
        id: uuid::Uuid::now_v7().to_string(),
        provider: payments.name().to_owned(),
        provider_ref: refund.reference,
        kind: "refund".to_owned(),
        amount: refund.amount,
        created_at: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_table() {
        assert_eq!(effects("paid", "fulfilled").map(|e| e.restock), Some(false));
        assert_eq!(
            effects("paid", "cancelled"),
            Some(Effects {
                restock: true,
                refund: true
            })
        );
        assert_eq!(
            effects("fulfilled", "refunded").map(|e| e.restock),
            Some(false)
        );
        for from in STATUSES {
            assert_eq!(effects(from, "paid"), None, "nothing returns to paid");
            assert_eq!(effects(from, from), None, "no self moves");
        }
        assert_eq!(effects("cancelled", "fulfilled"), None);
        assert_eq!(effects("refunded", "cancelled"), None);
        assert_eq!(effects("fulfilled", "cancelled"), None);
    }
}
