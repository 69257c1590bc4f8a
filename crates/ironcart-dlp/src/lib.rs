//! Data loss prevention for Ironcart: finds payment card numbers, US social
//! security numbers, private keys, JWTs and API keys in text and JSON, and
//! masks them, so that they do not leave the shop in responses or logs, and
//! do not enter it through free-text fields.
//!
//! - [`scan`] and [`mask`]: findings in a text (kind, byte span, a masked
//!   preview) and the text with them replaced. Card numbers and SSNs keep
//!   their last four digits (`**** **** **** 4242`, `***-**-6789`); keys and
//!   tokens become `[REDACTED:<kind>]`.
//! - [`scan_json`]: the same over a JSON document, reported by JSON path,
//!   with a [`Policy`] that masks or blocks per kind and allowlists the
//!   paths where a kind is expected.
//! - [`contains_card_number`]: the ingress check for free-text fields.
//! - [`json_may_contain_findings`]: a pre-screen over a JSON document's
//!   bytes that tells clean documents apart without parsing them.
//!
//! Detection favours precision on the kinds of text a shop produces (order
//! ids, SKUs, UUIDs, prices, timestamps, phone numbers) while catching the
//! card layouts people actually type; the module docs of [`numbers`] and
//! [`secrets`] give the exact rules. Every detector is a linear scan without
//! regular expressions, and nothing here panics on any input.
//!
//! Known limits: nine digits without separators are not taken for an SSN;
//! JSON object keys are not scanned; a generic `key=value` secret must look
//! random (mixed case, digits in two places), so some short random keys
//! with a single digit cluster pass; and detection is by shape, so a
//! processor reference or order number that is shaped like a card (brand
//! prefix, length, Luhn) is reported unless its JSON path is allowlisted.
#![forbid(unsafe_code)]

mod finding;
mod json;
pub mod numbers;
mod prescreen;
pub mod secrets;

pub use finding::{Finding, Kind, contains_card_number, mask, scan};
pub use json::{Action, FindingAt, JsonPath, JsonPathError, Policy, blocked, scan_json};
pub use numbers::{CardBrand, card_brand, ssn_valid};
pub use prescreen::json_may_contain_findings;
