//! The pre-screen over encoded JSON never clears a document in which the full
//! scan finds something: checked on the edge cases of encoding (string
//! boundaries, escapes, numbers, member names) and on generated documents.

use ironcart_dlp::{Policy, json_may_contain_findings, scan_json};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::{TEST_CARDS, layouts};

/// The findings of the full scan, and whether the pre-screen let the document
/// through to it, for the compact and the pretty encoding.
fn screened(document: &Value) -> (usize, bool, bool) {
    let (_, findings) = scan_json(document, &Policy::mask_all());
    let compact = serde_json::to_vec(document).unwrap_or_default();
    let pretty = serde_json::to_vec_pretty(document).unwrap_or_default();
    (
        findings.len(),
        json_may_contain_findings(&compact),
        json_may_contain_findings(&pretty),
    )
}

fn assert_screened_in(document: Value) {
    let (found, compact, pretty) = screened(&document);
    assert!(
        found > 0,
        "the full scan should find something in {document}"
    );
    assert!(compact && pretty, "pre-screen cleared {document}");
}

#[test]
fn cards_at_string_boundaries_and_after_escapes_are_screened_in() {
    for (_, digits) in TEST_CARDS {
        for layout in layouts(digits) {
            assert_screened_in(json!({ "note": layout }));
            assert_screened_in(json!({ "note": format!("line\n{layout}") }));
            assert_screened_in(json!({ "note": format!("{layout}\t") }));
            assert_screened_in(json!({ "note": format!("say \"{layout}\"") }));
            assert_screened_in(json!([format!("a\\{layout}")]));
        }
    }
}

#[test]
fn a_card_stored_as_a_number_is_screened_in() {
    for (_, digits) in TEST_CARDS {
        let number: u64 = digits.parse().unwrap_or(0);
        assert_screened_in(json!({ "card": number }));
        assert_screened_in(json!([1, number, 2]));
    }
}

#[test]
fn a_card_split_across_two_strings_is_found_by_neither_path() {
    let document = json!(["4242 4242", "4242 4242"]);
    assert_eq!(screened(&document), (0, false, false));
    let document = json!({ "a": "4242424242", "b": "424242" });
    assert_eq!(screened(&document).0, 0);
}

#[test]
fn ssns_keys_and_secret_members_are_screened_in() {
    assert_screened_in(json!({ "note": "ssn\n123-45-6789" }));
    assert_screened_in(
        json!({ "note": "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----" }),
    );
    assert_screened_in(json!({ "api_key": "9fK2xQ7vLm3ZpR8sT1wYbC4n" }));
    assert_screened_in(json!({ "x": { "clientSecret": "9fK2xQ7vLm3ZpR8sT1wYbC4n" } }));
    assert_screened_in(json!({ "note": "config: api_key=\"9fK2xQ7vLm3ZpR8sT1wYbC4n\"" }));
    assert_screened_in(json!({ "note": "ghp_0123456789abcdefghijABCDEFGHIJ0123" }));
    assert_screened_in(json!({ "note": "key AKIAIOSFODNN7EXAMPLE" }));
    assert_screened_in(json!({ "t": "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0." }));
}

#[test]
fn a_clean_catalog_page_is_cleared() {
    let page = json!({
        "items": [{
            "id": "0193a2b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b",
            "handle": "classic-tee",
            "body_html": "<p>Soft \"ring-spun\" cotton.</p>\n<ul><li>Size 2-4</li></ul>",
            "variants": [{ "sku": "TEE-001-S", "price": { "amount": 2999, "currency": "USD" } }],
        }],
        "page": 1, "per_page": 20, "total": 312,
    });
    assert_eq!(screened(&page), (0, false, false));
}

/// Pieces that detectors start from, and pieces that merely look close.
fn fragment() -> impl Strategy<Value = String> {
    let card = (0..TEST_CARDS.len(), 0..5usize).prop_map(|(card, layout)| {
        let options = layouts(TEST_CARDS[card].1);
        options[layout % options.len()].clone()
    });
    prop_oneof![
        card,
        Just("123-45-6789".to_owned()),
        Just("api_key=9fK2xQ7vLm3ZpR8sT1wYbC4n".to_owned()),
        Just("token: \"AbCdEfGh1234IjKlMnOp5678\"".to_owned()),
        Just("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln".to_owned()),
        Just("sk_live_0123456789abcdefXYZ".to_owned()),
        Just("-----BEGIN RSA PRIVATE KEY-----\nMIIB".to_owned()),
        "[0-9 \\-.]{0,24}",
        "\\PC{0,12}",
        "[\\n\\t\"\\\\/\\u{1}-\\u{1f}]{0,4}",
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(fragment(), 0..4).prop_map(|parts| parts.concat())
}

fn document() -> impl Strategy<Value = Value> {
    let name = prop_oneof![
        text(),
        Just("api_key".to_owned()),
        Just("refreshToken".to_owned()),
        Just("note".to_owned()),
    ];
    let leaf = prop_oneof![
        text().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (0..TEST_CARDS.len())
            .prop_map(|card| json!(TEST_CARDS[card].1.parse::<u64>().unwrap_or(0))),
    ];
    leaf.prop_recursive(3, 24, 4, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::vec((name.clone(), inner), 0..4)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn the_prescreen_never_clears_a_document_with_findings(document in document()) {
        let (found, compact, pretty) = screened(&document);
        prop_assert!(found == 0 || (compact && pretty), "cleared {document}");
    }
}
