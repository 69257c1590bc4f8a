//! Data loss prevention: card numbers cannot come in through free text, and nothing
//! sensitive leaves in a response even when it got into the database some other way.

use ironcart::domain::catalog::{InventoryPolicy, ProductDraft, VariantDraft};
use reqwest::StatusCode;
use serde_json::json;

use crate::common::{PASSWORD, TestApp, assert_problem};

fn draft(handle: &str, title: &str, body_html: &str) -> ProductDraft {
    ProductDraft {
        handle: handle.to_owned(),
        title: title.to_owned(),
        body_html: body_html.to_owned(),
        vendor: None,
        product_type: None,
        tags: vec![],
        published: true,
        option_names: vec![],
        variants: vec![VariantDraft {
            sku: None,
            option_values: vec![],
            price: 1000,
            compare_at_price: None,
            inventory_quantity: 5,
            inventory_policy: InventoryPolicy::Deny,
            grams: None,
            requires_shipping: true,
            taxable: true,
            barcode: None,
            source_line: None,
        }],
        images: vec![],
        source_line: None,
    }
}

#[tokio::test]
async fn a_card_number_in_a_free_text_field_is_refused_and_never_stored() {
    let app = TestApp::spawn().await;
    for pan in [
        "4242 4242 4242 4242",
        "5555-5555-5555-4444",
        "378282246310005",
    ] {
        let response = app
            .post(
                "/api/v1/auth/register",
                None,
                json!({ "email": "pan@example.com", "password": PASSWORD, "name": format!("Ann {pan}") }),
            )
            .await;
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(problem["errors"][0]["field"], "name");
        assert_eq!(problem["errors"][0]["code"], "card_number");
        assert!(
            !problem
                .to_string()
                .contains(&pan.replace([' ', '-'], "")[..12])
        );
    }
    assert!(
        app.state
            .store
            .user_by_email("pan@example.com")
            .await
            .unwrap()
            .is_none()
    );

    let (_, token) = app.customer().await;
    let response = app
        .client
        .post(app.url("/api/v1/checkout"))
        .bearer_auth(&token)
        .header("idempotency-key", "pan-1")
        .json(&json!({
            "shipping_address": { "name": "Bo", "line1": "card 4111 1111 1111 1111", "city": "X", "postal_code": "1", "country": "US" },
            "payment_token": "tok_visa"
        }))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["errors"][0]["field"], "shipping_address.line1");
}

#[tokio::test]
async fn card_numbers_that_reached_the_database_leave_masked_with_a_security_event() {
    let app = TestApp::spawn().await;
    let title = "Gift 4111 1111 1111 1111 wrap";
    app.state
        .store
        .create_product(&draft("leaky", title, "<p>ssn 123-45-6789</p>"), 0)
        .await
        .unwrap();

    let response = app.get("/api/v1/products/leaky", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(
        !text.contains("4111 1111 1111 1111"),
        "full PAN left the system: {text}"
    );
    assert!(!text.contains("123-45-6789"), "full SSN left the system");
    assert!(
        text.contains("**** **** **** 1111"),
        "masked PAN keeps its last four: {text}"
    );
    assert!(text.contains("***-**-6789"));

    let events = app.state.store.recent_audit(50, 0).await.unwrap();
    let event = events
        .iter()
        .find(|e| e["action"] == "dlp.egress")
        .expect("dlp event");
    assert_eq!(event["details"]["action"], "masked");
    assert!(
        !event.to_string().contains("4111 1111"),
        "the event never carries the value"
    );
}

#[tokio::test]
async fn a_catalog_page_is_screened_whole_and_a_card_after_an_escape_is_still_masked() {
    let app = TestApp::spawn().await;
    app.state
        .store
        .create_product(
            &draft(
                "plain",
                "Plain mug",
                "<p>Holds 350 ml.</p>\n<p>Size 2-4</p>",
            ),
            0,
        )
        .await
        .unwrap();
    let clean = app.get("/api/v1/products", None).await;
    assert_eq!(clean.status(), StatusCode::OK);
    assert!(clean.text().await.unwrap().contains("Holds 350 ml."));
    let events = app.state.store.recent_audit(50, 0).await.unwrap();
    assert!(!events.iter().any(|e| e["action"] == "dlp.egress"));

    // Encoded, the newline is `\n`: the card number follows a letter there, but not
    // in the text the detectors read.
    app.state
        .store
        .create_product(&draft("escaped", "Escaped", "call\n4111111111111111"), 0)
        .await
        .unwrap();
    let response = app.get("/api/v1/products", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(!text.contains("4111111111111111"), "{text}");
    assert!(text.contains("call\\n************1111"), "{text}");
    assert!(
        text.contains("Holds 350 ml."),
        "the clean product is untouched"
    );
    let events = app.state.store.recent_audit(50, 0).await.unwrap();
    assert!(events.iter().any(|e| e["action"] == "dlp.egress"));
}

#[tokio::test]
async fn private_key_material_blocks_the_response() {
    let app = TestApp::spawn().await;
    let key = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIGm7Y4m7ZbqD0S8cQq1rBv7oW2Ylnq2n5gqf0l3hK9xQ\n-----END PRIVATE KEY-----";
    app.state
        .store
        .create_product(&draft("keyed", "Keyed", key), 0)
        .await
        .unwrap();
    let response = app.get("/api/v1/products/keyed", None).await;
    let problem = assert_problem(response, StatusCode::INTERNAL_SERVER_ERROR).await;
    assert!(!problem.to_string().contains("PRIVATE KEY"));
    let events = app.state.store.recent_audit(50, 0).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "dlp.egress" && e["details"]["action"] == "blocked")
    );
}

#[tokio::test]
async fn expected_tokens_and_public_keys_pass_untouched() {
    let app = TestApp::spawn().await;
    let (email, _) = app.customer().await;
    let tokens = app.login(&email, PASSWORD).await;
    assert_eq!(
        tokens["access_token"].as_str().unwrap().split('.').count(),
        3
    );
    assert!(tokens["refresh_token"].as_str().unwrap().starts_with("rt_"));
    let refreshed = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": tokens["refresh_token"] }),
        )
        .await;
    assert_eq!(refreshed.status(), StatusCode::OK);

    let jwks: serde_json::Value = app
        .get("/.well-known/jwks.json", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["x"].as_str().unwrap().len(), 43);
    let events = app.state.store.recent_audit(50, 0).await.unwrap();
    assert!(
        !events.iter().any(|e| e["action"] == "dlp.egress"),
        "no false alarm: {events:?}"
    );
}
