//! Money as integer minor units in the shop's single currency: never a float.

use serde::Serialize;

pub const CURRENCY: &str = "USD";

/// `{"amount": 1999, "currency": "USD"}` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Money {
    pub amount: i64,
    pub currency: &'static str,
}

impl Money {
    pub fn minor(amount: i64) -> Self {
        Self {
            amount,
            currency: CURRENCY,
        }
    }
}

/// `unit × quantity`, or `None` on overflow.
pub fn line_total(unit_price: i64, quantity: i64) -> Option<i64> {
    unit_price.checked_mul(quantity)
}

/// The sum of line totals, or `None` on overflow.
pub fn sum(amounts: impl IntoIterator<Item = i64>) -> Option<i64> {
    amounts.into_iter().try_fold(0i64, i64::checked_add)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_are_exact_and_overflow_is_refused() {
        assert_eq!(line_total(1999, 3), Some(5997));
        assert_eq!(sum([5997, 50, 1]), Some(6048));
        assert_eq!(line_total(i64::MAX, 2), None);
        assert_eq!(sum([i64::MAX, 1]), None);
    }
}
