//! Exfiltration controls: staff reads of other people's personal data are paid for
//! from a per-principal quota, past which they are throttled and one alert is raised;
//! bulk exports need their own permission and a reason, and are audited.

use ironcart::app::Settings;
use ironcart::security::ratelimit::{LimitClass, LimitQuota, RateLimitSettings};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestApp, assert_problem, header_text, test_settings, variant_id};

const USERS: &str = "/api/v1/admin/users";
const ORDERS: &str = "/api/v1/admin/orders";
const EXPORT: &str = "/api/v1/admin/customers/export";
const REASON: &str = "Quarterly GDPR access request, ticket SUP-2291";

fn with_quotas(quotas: &[(LimitClass, u32)]) -> Settings {
    let mut limits = RateLimitSettings::unlimited_for_tests();
    for (class, burst) in quotas {
        let quota = LimitQuota {
            per_minute: 1,
            burst: *burst,
        };
        limits.quotas.insert(*class, quota);
    }
    Settings {
        rate_limits: limits,
        ..test_settings()
    }
}

/// Customers written straight to the store (no password hashing), each a second
/// newer than the last and than every account before them: (id, email, name).
async fn seed_customers(app: &TestApp, count: i64) -> Vec<(String, String, String)> {
    let mut seeded = Vec::new();
    for n in 0..count {
        let email = format!("seeded-{n}-{}@example.com", uuid::Uuid::new_v4().simple());
        let name = format!("Seeded Customer {n}");
        let user = app
            .state
            .store
            .create_user(
                &email,
                &name,
                "not-a-hash",
                &["customer"],
                app.state.now() + 1 + n,
            )
            .await
            .expect("seeded customer");
        seeded.push((user.id, email, name));
    }
    seeded
}

async fn user_id(app: &TestApp, token: &str) -> String {
    app.me(token).await["id"].as_str().expect("id").to_owned()
}

async fn assert_throttled(response: reqwest::Response) {
    let retry_after: u64 = header_text(&response, "retry-after")
        .parse()
        .expect("Retry-After");
    assert!(retry_after >= 1, "Retry-After {retry_after}");
    assert!(header_text(&response, "ratelimit-policy").starts_with("\"pii-read\";"));
    let problem = assert_problem(response, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(problem["type"], "/problems/rate-limited");
    assert!(
        problem.get("items").is_none(),
        "nothing is released: {problem}"
    );
}

#[tokio::test]
async fn a_support_user_past_the_quota_is_throttled_and_alerted_once_and_alone() {
    let app = TestApp::spawn_with(with_quotas(&[(LimitClass::PiiRead, 10)])).await;
    let support = app.token_for_role("support").await;
    let colleague = app.token_for_role("support").await;
    let support_id = user_id(&app, &support).await;
    let seeded = seed_customers(&app, 12).await;

    for page in [1, 2] {
        let response = app
            .get(&format!("{USERS}?per_page=5&page={page}"), Some(&support))
            .await;
        assert_eq!(response.status(), StatusCode::OK, "page {page}");
        let body: Value = response.json().await.expect("users");
        assert_eq!(body["items"].as_array().map(Vec::len), Some(5));
    }
    // Ten records of other people read: the burst is spent.
    for _ in 0..6 {
        assert_throttled(
            app.get(&format!("{USERS}?per_page=5"), Some(&support))
                .await,
        )
        .await;
    }
    let orders = app.get(ORDERS, Some(&support)).await;
    assert_eq!(
        orders.status(),
        StatusCode::OK,
        "no orders: nothing to pay for"
    );

    let alerts = app.audit_events("pii.read_quota_exceeded").await;
    assert_eq!(
        alerts.len(),
        1,
        "one alert per episode, not per request: {alerts:#?}"
    );
    assert_eq!(alerts[0]["actor_id"], support_id.as_str());
    assert_eq!(alerts[0]["target"], USERS);
    assert_eq!(alerts[0]["outcome"], "denied");
    assert_eq!(alerts[0]["details"]["count"], 5);
    assert_eq!(alerts[0]["details"]["quota"]["burst"], 10);
    let listings = app.audit_events("pii.users_listed").await;
    assert_eq!(listings.len(), 2, "refused reads are not listings");

    let response = app
        .get(&format!("{USERS}?per_page=5"), Some(&colleague))
        .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the quota is per principal"
    );
    let body: Value = response.json().await.expect("users");
    let newest = &seeded[seeded.len() - 1];
    assert_eq!(body["items"][0]["email"], newest.1.as_str(), "decrypted");
    for _ in 0..5 {
        let me = app.me(&support).await;
        assert_eq!(
            me["id"],
            support_id.as_str(),
            "one's own profile is never throttled"
        );
    }
}

#[tokio::test]
async fn own_records_are_free_and_orders_of_others_are_paid_for_before_a_change() {
    let app = TestApp::spawn_with(with_quotas(&[(LimitClass::PiiRead, 2)])).await;
    let admin = app.token_for_role("admin").await;
    app.import_catalog("shopify-home-and-garden.csv", &admin)
        .await;
    let candle = variant_id(&app.product("vanilla-candle").await, 0);
    app.add_to_cart_ok(&admin, &candle, 1).await;
    app.checkout_ok(&admin).await;
    for _ in 0..5 {
        let response = app.get(ORDERS, Some(&admin)).await;
        assert_eq!(response.status(), StatusCode::OK, "one's own order is free");
    }
    let users = app.get(USERS, Some(&admin)).await;
    assert_eq!(users.status(), StatusCode::OK, "a list of oneself is free");

    let (_, shopper) = app.customer().await;
    app.add_to_cart_ok(&shopper, &candle, 1).await;
    let order = app.checkout_ok(&shopper).await;
    let order_path = format!("{ORDERS}/{}", order["id"].as_str().expect("id"));
    let response = app.get(ORDERS, Some(&admin)).await;
    assert_eq!(response.status(), StatusCode::OK, "1 of 2");
    let moved = app
        .patch(&order_path, Some(&admin), json!({ "status": "fulfilled" }))
        .await;
    assert_eq!(moved.status(), StatusCode::OK, "2 of 2");

    assert_throttled(app.get(ORDERS, Some(&admin)).await).await;
    let refused = app
        .patch(&order_path, Some(&admin), json!({ "status": "refunded" }))
        .await;
    assert_throttled(refused).await;
    let mine: Value = app
        .get("/api/v1/orders", Some(&shopper))
        .await
        .json()
        .await
        .expect("orders");
    assert_eq!(
        mine["items"][0]["status"], "fulfilled",
        "a refused change changes nothing"
    );
    let alerts = app.audit_events("pii.read_quota_exceeded").await;
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0]["target"], ORDERS);
    assert_eq!(alerts[0]["details"]["count"], 1);
}

#[tokio::test]
async fn only_an_admin_with_a_reason_exports_and_the_export_is_audited() {
    let app = TestApp::spawn().await;
    let admin = app.token_for_role("admin").await;
    let admin_id = user_id(&app, &admin).await;
    let seeded = seed_customers(&app, 3).await;

    let body = json!({ "reason": REASON, "fields": ["email", "name"] });
    let response = app.post(EXPORT, Some(&admin), body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let export: Value = response.json().await.expect("export");
    let expected: Vec<Value> = seeded
        .iter()
        .map(|(_, email, name)| json!({ "email": email, "name": name }))
        .collect();
    assert_eq!(
        export["records"],
        json!(expected),
        "decrypted, oldest first, fields only"
    );
    assert_eq!(export["count"], 3);
    assert_eq!(export["total"], 3);
    assert_eq!(export["role"], "customer");

    let audit = app.audit_events("pii.customers_exported").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["actor_id"], admin_id.as_str(), "who");
    assert_eq!(audit[0]["at"], app.state.now(), "when");
    assert_eq!(audit[0]["details"]["count"], 3, "what");
    assert_eq!(audit[0]["details"]["fields"], json!(["email", "name"]));
    assert_eq!(audit[0]["details"]["filter"], json!({ "role": "customer" }));
    assert_eq!(audit[0]["details"]["reason"], REASON, "why");
    assert!(
        !audit[0].to_string().contains(&seeded[0].1),
        "no personal data in the trail"
    );

    let everything = app
        .post(EXPORT, Some(&admin), json!({ "reason": REASON }))
        .await;
    let everything: Value = everything.json().await.expect("export");
    assert_eq!(
        everything["fields"],
        json!(["id", "email", "name", "status", "created_at"])
    );
    assert_eq!(everything["records"][0]["id"], seeded[0].0.as_str());
    assert_eq!(everything["records"][0]["status"], "active");

    for role in ["customer", "support", "order_manager", "security_officer"] {
        let token = app.token_for_role(role).await;
        let response = app
            .post(EXPORT, Some(&token), json!({ "reason": REASON }))
            .await;
        assert_problem(response, StatusCode::FORBIDDEN).await;
    }
    let response = app.post(EXPORT, None, json!({ "reason": REASON })).await;
    assert_problem(response, StatusCode::UNAUTHORIZED).await;
    let refusals = [
        (json!({}), "reason", "required"),
        (json!({ "reason": "because" }), "reason", "too_short"),
        (json!({ "reason": "x".repeat(501) }), "reason", "too_long"),
        (
            json!({ "reason": format!("{REASON} 4111 1111 1111 1111") }),
            "reason",
            "card_number",
        ),
        (
            json!({ "reason": REASON, "fields": ["password_hash"] }),
            "fields",
            "invalid",
        ),
        (
            json!({ "reason": REASON, "fields": ["email", "email"] }),
            "fields",
            "invalid",
        ),
        (
            json!({ "reason": REASON, "role": "ghost" }),
            "role",
            "unknown_role",
        ),
    ];
    for (body, field, code) in refusals {
        let response = app.post(EXPORT, Some(&admin), body.clone()).await;
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(problem["errors"][0]["field"], field, "{body}");
        assert_eq!(problem["errors"][0]["code"], code, "{body}");
        assert!(!problem.to_string().contains("4111"), "never echoed");
    }
    assert_eq!(app.audit_events("pii.customers_exported").await.len(), 2);
    assert_eq!(app.audit_events("authz.denied").await.len(), 4);
}

#[tokio::test]
async fn exports_have_their_own_strict_limit() {
    let app = TestApp::spawn_with(with_quotas(&[(LimitClass::CustomerExport, 2)])).await;
    let admin = app.token_for_role("admin").await;
    for _ in 0..2 {
        let response = app
            .post(EXPORT, Some(&admin), json!({ "reason": REASON }))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let refused = app
        .post(EXPORT, Some(&admin), json!({ "reason": REASON }))
        .await;
    assert!(header_text(&refused, "ratelimit-policy").starts_with("\"customer-export\";"));
    assert_problem(refused, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(app.audit_events("pii.customers_exported").await.len(), 2);
    let users = app.get(USERS, Some(&admin)).await;
    assert_eq!(
        users.status(),
        StatusCode::OK,
        "other reads are not affected"
    );
}
