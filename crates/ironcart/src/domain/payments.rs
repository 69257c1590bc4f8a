//! Payments go through a provider; Ironcart keeps only the provider's references.
//! Clients send a provider token (`tok_…`), never card data.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

#[derive(Debug, Clone)]
pub struct ChargeRequest {
    pub amount: i64,
    pub currency: &'static str,
    pub payment_token: String,
    /// The provider charges once per key, however often it is asked.
    pub idempotency_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    pub reference: String,
    pub amount: i64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PaymentError {
    #[error("the payment was declined")]
    Declined,
    #[error("the payment token is not known to the provider")]
    UnknownToken,
    #[error("the payment provider is unavailable")]
    Unavailable,
}

#[async_trait]
pub trait PaymentProvider: Send + Sync {
    fn name(&self) -> &'static str;
    async fn charge(&self, request: ChargeRequest) -> Result<Charge, PaymentError>;
    async fn refund(
        &self,
        charge_reference: &str,
        amount: i64,
        idempotency_key: &str,
    ) -> Result<Charge, PaymentError>;
}

/// The built-in test provider: `tok_visa` is approved, `tok_chargeDeclined`
/// declined, anything else unknown. It remembers charges by idempotency key.
#[derive(Debug, Default)]
pub struct SandboxProvider {
    ledger: Mutex<Ledger>,
}

#[derive(Debug, Default)]
struct Ledger {
    charges: HashMap<String, Charge>,
    refunds: HashMap<String, Charge>,
}

/// What the sandbox has done, for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerTotals {
    pub charges: usize,
    pub refunds: usize,
    pub charged_amount: i64,
    pub refunded_amount: i64,
}

impl SandboxProvider {
    pub fn totals(&self) -> LedgerTotals {
        let ledger = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        LedgerTotals {
            charges: ledger.charges.len(),
            refunds: ledger.refunds.len(),
            charged_amount: ledger.charges.values().map(|c| c.amount).sum(),
            refunded_amount: ledger.refunds.values().map(|c| c.amount).sum(),
        }
    }
}

#[async_trait]
impl PaymentProvider for SandboxProvider {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    async fn charge(&self, request: ChargeRequest) -> Result<Charge, PaymentError> {
        match request.payment_token.as_str() {
            "tok_visa" => {}
            "tok_chargeDeclined" => return Err(PaymentError::Declined),
            _ => return Err(PaymentError::UnknownToken),
        }
        let mut ledger = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        let charge = ledger
            .charges
            .entry(request.idempotency_key)
            .or_insert_with(|| Charge {
                reference: format!("ch_{}", uuid::Uuid::new_v4().simple()),
                amount: request.amount,
            });
        Ok(charge.clone())
    }

    async fn refund(
        &self,
        charge_reference: &str,
        amount: i64,
        idempotency_key: &str,
    ) -> Result<Charge, PaymentError> {
        let mut ledger = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        let known = ledger
            .charges
            .values()
            .any(|c| c.reference == charge_reference && c.amount >= amount);
        if !known {
            return Err(PaymentError::UnknownToken);
        }
        let refund = ledger
            .refunds
            .entry(idempotency_key.to_owned())
            .or_insert_with(|| Charge {
                reference: format!("re_{}", uuid::Uuid::new_v4().simple()),
                amount,
            });
        Ok(refund.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(token: &str, key: &str) -> ChargeRequest {
        ChargeRequest {
            amount: 1500,
            currency: "USD",
            payment_token: token.to_owned(),
            idempotency_key: key.to_owned(),
        }
    }

    #[tokio::test]
    async fn sandbox_charges_once_per_key_and_declines_the_decline_token() {
        let sandbox = SandboxProvider::default();
        let first = sandbox.charge(request("tok_visa", "k1")).await;
        let again = sandbox.charge(request("tok_visa", "k1")).await;
        assert_eq!(first, again);
        assert_eq!(
            sandbox.charge(request("tok_chargeDeclined", "k2")).await,
            Err(PaymentError::Declined)
        );
        assert_eq!(
            sandbox.charge(request("4242424242424242", "k3")).await,
            Err(PaymentError::UnknownToken)
        );
        assert_eq!(sandbox.totals().charges, 1);
        assert_eq!(sandbox.totals().charged_amount, 1500);
    }
}
