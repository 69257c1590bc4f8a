//! JSON documents: findings reported by path, masked in the returned copy,
//! blocked on request, and left alone where the policy expects them.

use ironcart_dlp::{Action, FindingAt, Kind, Policy, blocked, scan_json};
use serde_json::{Value, json};

fn at(json_path: &str, kind: Kind, action: Action) -> FindingAt {
    FindingAt {
        json_path: json_path.to_owned(),
        kind,
        action,
    }
}

fn catalog_page() -> Value {
    json!({
        "products": [
            {
                "id": "0194f1c2-7d1e-7b2a-9c3d-4e5f60718293",
                "handle": "linen-shirt",
                "title": "Linen shirt, relaxed fit",
                "sku": "SHIRT-LIN-042-XL",
                "barcode": "5012345678900",
                "price": "49.90",
                "compare_at": 59.9,
                "inventory": 1200,
                "isbn": "978-0-306-40615-7",
                "updated_at": 1715000000123_u64,
                "vendor_phone": "+44 20 7946 0958",
            }
        ],
        "next_page_token": "Q2F0YWxvZ1BhZ2UyMDI0MDUxNQ",
        "total": 1
    })
}

#[test]
fn an_ordinary_catalog_page_passes_unchanged() {
    let page = catalog_page();
    let (masked, findings) = scan_json(&page, &Policy::mask_all());
    assert_eq!(findings, vec![]);
    assert_eq!(masked, page);
}

#[test]
fn findings_are_masked_in_place_and_reported_by_path() {
    let order = json!({
        "id": "ord_1",
        "items": [
            {"sku": "A-1", "note": "gift wrap"},
            {"sku": "B-2", "note": "use card 4242 4242 4242 4242 please"}
        ],
        "customer": {"ssn": "123-45-6789", "odd key": "sk_live_4eC39HqLyjWDarjtT1zdp7dc"},
        "card_number": 4111111111111111_u64
    });
    let (masked, findings) = scan_json(&order, &Policy::mask_all());
    assert_eq!(
        findings,
        vec![
            at("$.card_number", Kind::PaymentCard, Action::Mask),
            // Members come in serde_json's key order.
            at("$.customer[\"odd key\"]", Kind::ApiKey, Action::Mask),
            at("$.customer.ssn", Kind::Ssn, Action::Mask),
            at("$.items[1].note", Kind::PaymentCard, Action::Mask),
        ]
    );
    assert_eq!(
        masked["items"][1]["note"],
        "use card **** **** **** 4242 please"
    );
    assert_eq!(masked["items"][0], order["items"][0]);
    assert_eq!(masked["customer"]["ssn"], "***-**-6789");
    assert_eq!(masked["customer"]["odd key"], "[REDACTED:api_key]");
    assert_eq!(
        masked["card_number"], "************1111",
        "a numeric PAN becomes a masked string"
    );
    assert_eq!(masked["id"], "ord_1");
    assert!(!blocked(&findings));
}

#[test]
fn block_policies_report_blocking_findings_and_still_mask() {
    let body = json!({"delivery_note": "my card is 5555-5555-5555-4444", "name": "Ann"});
    let (masked, findings) = scan_json(&body, &Policy::block_all());
    assert_eq!(
        findings,
        vec![at("$.delivery_note", Kind::PaymentCard, Action::Block)]
    );
    assert!(blocked(&findings));
    assert_eq!(masked["delivery_note"], "my card is ****-****-****-4444");

    let mixed = Policy::mask_all().with_action(Kind::PaymentCard, Action::Block);
    assert_eq!(mixed.action(Kind::PaymentCard), Action::Block);
    assert_eq!(mixed.action(Kind::Ssn), Action::Mask);
    let (_, findings) = scan_json(&json!({"a": "123-45-6789"}), &mixed);
    assert!(!blocked(&findings));
}

#[test]
fn allowlisted_paths_keep_their_expected_kind_only() -> Result<(), Box<dyn std::error::Error>> {
    let token = "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIwMTk0ZjFjMiJ9.c2lnbmF0dXJlLWJ5dGVzLWhlcmUtMDEyMzQ1Njc4OWFiY2RlZg";
    let policy = Policy::mask_all()
        .allow("$.access_token", Kind::Jwt)?
        .allow("$.orders[*].payment.reference", Kind::PaymentCard)?;
    let login = json!({
        "access_token": token,
        "user": {"bio": format!("my token is {token}")},
        "orders": [
            {"payment": {"reference": "4000056655665556", "memo": "4000056655665556"}},
            {"payment": {"reference": "ref 4242424242424242 and 123-45-6789"}}
        ]
    });
    let (masked, findings) = scan_json(&login, &policy);
    assert_eq!(
        findings,
        vec![
            at("$.orders[0].payment.memo", Kind::PaymentCard, Action::Mask),
            at("$.orders[1].payment.reference", Kind::Ssn, Action::Mask),
            at("$.user.bio", Kind::Jwt, Action::Mask),
        ]
    );
    assert_eq!(masked["access_token"], token);
    assert_eq!(
        masked["orders"][0]["payment"]["reference"],
        "4000056655665556"
    );
    assert_eq!(
        masked["orders"][1]["payment"]["reference"],
        "ref 4242424242424242 and ***-**-6789"
    );
    assert_eq!(masked["user"]["bio"], "my token is [REDACTED:jwt]");
    Ok(())
}

#[test]
fn credential_named_members_with_random_values_are_reported() {
    let config = json!({
        "stripe": {"api_key": "Xk29dLq8Rv3Zt7Wm1Np5Bs4Y", "publishable_key": "Pk83hDq2Lm7Zx4Wn9Rt1Vb6C"},
        "webhook": {"signing_secret": "Ab12Cd34Ef56Gh78Ij90Kl12"},
        "label": {"sort_key": "Zz91Yy82Xx73Ww64Vv55Uu46"},
        "i18n": {"title_key": "product.title"}
    });
    let (masked, findings) = scan_json(&config, &Policy::mask_all());
    assert_eq!(
        findings,
        vec![
            at("$.stripe.api_key", Kind::ApiKey, Action::Mask),
            at("$.webhook.signing_secret", Kind::ApiKey, Action::Mask),
        ]
    );
    assert_eq!(masked["stripe"]["api_key"], "[REDACTED:api_key]");
    assert_eq!(
        masked["stripe"]["publishable_key"],
        config["stripe"]["publishable_key"]
    );
}

#[test]
fn invalid_allowlist_paths_are_refused() {
    for path in ["access_token", "$.", "$[x]", "$[\"unterminated"] {
        assert!(Policy::mask_all().allow(path, Kind::Jwt).is_err(), "{path}");
    }
}

#[test]
fn deeply_nested_documents_are_walked() {
    let mut document = json!("4242424242424242");
    for _ in 0..1_000 {
        document = json!([document]);
    }
    let (masked, findings) = scan_json(&document, &Policy::mask_all());
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].json_path, format!("${}", "[0]".repeat(1_000)));
    let mut inner = &masked;
    while let Value::Array(items) = inner {
        inner = &items[0];
    }
    assert_eq!(inner, "************4242");
}
