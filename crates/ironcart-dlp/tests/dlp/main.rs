//! The detectors against the data a shop really handles: providers' test
//! card numbers in every common layout must be found, the numbers that fill
//! a catalog (ids, SKUs, prices, phone numbers, ISBNs) must not, and masked
//! output must never carry what was found.

mod cards;
mod credentials;
mod json_documents;
mod prescreen;
mod properties;
mod ssns;

use ironcart_dlp::{Finding, Kind};

/// Public test card numbers of Stripe, Braintree and Adyen, one or more per
/// brand.
pub const TEST_CARDS: &[(&str, &str)] = &[
    ("Stripe Visa", "4242424242424242"),
    ("Stripe Visa debit", "4000056655665556"),
    ("Braintree Visa", "4111111111111111"),
    ("Braintree Visa", "4012888888881881"),
    ("Visa 13-digit", "4222222222222"),
    ("Adyen Visa", "4151500000000008"),
    ("Stripe Mastercard", "5555555555554444"),
    ("Stripe Mastercard 2-series", "2223003122003222"),
    ("Stripe Mastercard debit", "5200828282828210"),
    ("Stripe Mastercard prepaid", "5105105105105100"),
    ("Braintree Mastercard 2-series", "2223000048400011"),
    ("Adyen Mastercard", "5413330089099999"),
    ("Adyen Mastercard 2-series", "2308880000000000"),
    ("Stripe Amex", "378282246310005"),
    ("Stripe Amex", "371449635398431"),
    ("Stripe Discover", "6011111111111117"),
    ("Stripe Discover", "6011000990139424"),
    ("Stripe Diners 16-digit", "3056930009020004"),
    ("Stripe Diners 14-digit", "36227206271667"),
    ("Braintree Diners", "38520000023237"),
    ("Adyen Diners", "36006666333344"),
    ("Stripe JCB", "3566002020360505"),
    ("Braintree JCB", "3530111333300000"),
    ("Stripe UnionPay", "6200000000000005"),
    ("Stripe UnionPay 19-digit", "6205500000000000004"),
    ("Braintree UnionPay", "6212345678901232"),
    ("Braintree Maestro", "6304000000000000"),
    ("Adyen Maestro 19-digit", "6799998900000099990"),
    ("Adyen Maestro 19-digit", "6000070736169237003"),
    ("Maestro 12-digit", "501800000009"),
];

/// The layouts people write a card number in: plain, in fours with spaces
/// or dashes, and the Amex/Diners 4-6-5 and 4-6-4 print layouts.
pub fn layouts(digits: &str) -> Vec<String> {
    let fours = |separator: &str| {
        digits
            .as_bytes()
            .chunks(4)
            .filter_map(|chunk| std::str::from_utf8(chunk).ok())
            .collect::<Vec<_>>()
            .join(separator)
    };
    let mut layouts = vec![digits.to_owned(), fours(" "), fours("-")];
    if matches!(digits.len(), 14 | 15) {
        let (a, rest) = digits.split_at(4);
        let (b, c) = rest.split_at(6);
        layouts.push(format!("{a} {b} {c}"));
        layouts.push(format!("{a}-{b}-{c}"));
    }
    layouts
}

/// The kinds and texts of the findings, for compact assertions.
pub fn found<'a>(text: &'a str, findings: &[Finding]) -> Vec<(Kind, &'a str)> {
    findings
        .iter()
        .map(|finding| {
            (
                finding.kind,
                text.get(finding.span.clone()).unwrap_or("<bad span>"),
            )
        })
        .collect()
}
