//! The WAF in front of every route: attacks blocked with a bare 403 problem and a
//! security event, real customers never blocked, exclusions by role and field.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{
    PASSWORD, TestApp, assert_problem, fresh_database_url, shared_data, test_settings,
};
use crate::{crs_over_http, ftw};

async fn waf_events(app: &TestApp, action: &str) -> Vec<Value> {
    app.state
        .store
        .recent_audit(500, 0)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e["action"] == action)
        .collect()
}

#[tokio::test]
async fn injection_attempts_are_blocked_with_a_bare_problem_and_an_event() {
    let app = TestApp::spawn().await;
    let (_, token) = app.customer().await;
    let attacks = [
        app.get("/api/v1/products?q=%27%20OR%201%3D1%20--", None).await,
        app.get("/api/v1/products?q=1%27%20UNION%20SELECT%20password%20FROM%20users--", None).await,
        app.get("/api/v1/products?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E", None).await,
        app.get("/api/v1/products?q=..%2F..%2F..%2Fetc%2Fpasswd", None).await,
        app.get("/api/v1/products?q=%3Bcat%20%2Fetc%2Fpasswd", None).await,
        app.post(
            "/api/v1/auth/register",
            None,
            json!({ "email": "x@example.com", "password": PASSWORD, "name": "Robert'); DROP TABLE users; --" }),
        )
        .await,
        app.call(
            reqwest::Method::PATCH,
            "/api/v1/me",
            Some(&token),
            Some(json!({ "name": "<img src=x onerror=alert(document.cookie)>" })),
        )
        .await,
    ];
    for response in attacks {
        let request_id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let problem = assert_problem(response, StatusCode::FORBIDDEN).await;
        assert_eq!(problem["request_id"], request_id);
        let text = problem.to_string();
        assert!(
            !text.contains("rule") && !text.contains("score") && !text.contains("1010"),
            "{text}"
        );
    }
    let blocked = waf_events(&app, "waf.blocked").await;
    assert_eq!(blocked.len(), 7);
    let event = &blocked[0];
    assert!(event["details"]["anomaly_score"].as_i64().unwrap() >= 5);
    assert!(!event["details"]["rule_ids"].as_array().unwrap().is_empty());
    assert_eq!(event["client_ip"], "127.0.0.1");
    assert!(
        app.state
            .store
            .user_by_email("x@example.com")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn real_customers_are_never_blocked() {
    let app = TestApp::spawn().await;
    let admin = app.token_for_role("admin").await;
    app.import_catalog("shopify-apparel.csv", &admin).await;
    app.import_catalog("shopify-home-and-garden.csv", &admin)
        .await;
    for q in [
        "select",
        "drop earrings",
        "union jack",
        "1=1 mug",
        "O'Brien",
        "rock & roll",
        "#1 tee",
        "50% off",
    ] {
        let response = app
            .client
            .get(app.url("/api/v1/products"))
            .query(&[("q", q)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "search {q:?}");
    }
    for (email, name, password, handle) in [
        (
            "obrien@example.com",
            "Siobhán O'Brien",
            "p@$$w0rd!#%&*()[]{}<>?/\\|~^\"' long",
            "ocean-blue-shirt",
        ),
        (
            "smith@example.com",
            "Anne-Marie Smith & Sons",
            "select * from my heart; drop it",
            "zipped-jacket",
        ),
        (
            "union@example.com",
            "Union Jack",
            "' OR 1=1 -- is my passphrase",
            "navy-sport-jacket",
        ),
    ] {
        let response = app
            .post(
                "/api/v1/auth/register",
                None,
                json!({ "email": email, "password": password, "name": name }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED, "register {name:?}");
        let token = app.login(email, password).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let product = app.product(handle).await;
        let variant = product["variants"][0]["id"].as_str().unwrap().to_owned();
        let added = app
            .post(
                "/api/v1/cart/items",
                Some(&token),
                json!({ "variant_id": variant, "quantity": 1 }),
            )
            .await;
        assert_eq!(added.status(), StatusCode::OK);
        let response = app
            .client
            .post(app.url("/api/v1/checkout"))
            .bearer_auth(&token)
            .header("idempotency-key", format!("waf-{email}"))
            .json(&json!({
                "shipping_address": { "name": name, "line1": "Flat #3, 12 Rose & Crown Yard", "line2": "c/o O'Neill", "city": "St. Ives", "postal_code": "TR26 1AB", "country": "GB" },
                "payment_token": "tok_visa"
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "checkout for {name:?}"
        );
    }
    assert!(waf_events(&app, "waf.blocked").await.is_empty());
}

#[tokio::test]
async fn only_catalog_staff_may_send_html_and_only_in_the_description() {
    let app = TestApp::spawn().await;
    let manager = app.token_for_role("catalog_manager").await;
    let html = "<p>Soft <strong>cotton</strong> tee</p><ul><li>Machine wash</li></ul><a href=\"https://example.com\">care</a>";
    let product = json!({
        "handle": "html-tee", "title": "HTML Tee", "body_html": html, "published": true,
        "variants": [{ "price": 1500, "inventory_quantity": 3 }]
    });
    let created = app
        .post("/api/v1/admin/products", Some(&manager), product)
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);

    let sneaky = json!({
        "handle": "sneaky", "title": "<script>alert(1)</script>", "body_html": "",
        "variants": [{ "price": 1500 }]
    });
    let response = app
        .post("/api/v1/admin/products", Some(&manager), sneaky)
        .await;
    assert_problem(response, StatusCode::FORBIDDEN).await;

    // Active markup in the description passes the WAF for catalog staff (the field
    // is excluded for their role) and is then sanitised; anywhere else it is blocked.
    let active = "<p>Tee</p><img src=x onerror=alert(document.cookie)>";
    let product = json!({
        "handle": "active-tee", "title": "Active Tee", "body_html": active, "published": true,
        "variants": [{ "price": 1500, "inventory_quantity": 3 }]
    });
    let created = app
        .post("/api/v1/admin/products", Some(&manager), product)
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let stored: Value = created.json().await.unwrap();
    assert!(!stored["body_html"].as_str().unwrap().contains("onerror"));

    let support = app.token_for_role("support").await;
    let response = app
        .call(
            reqwest::Method::PATCH,
            "/api/v1/me",
            Some(&support),
            Some(json!({ "name": active })),
        )
        .await;
    assert_problem(response, StatusCode::FORBIDDEN).await;
}

#[tokio::test]
async fn detection_only_mode_reports_without_blocking() {
    let mut settings = test_settings();
    settings.waf.mode = ironcart_waf::Mode::DetectionOnly;
    let app = TestApp::spawn_with(settings).await;
    let response = app
        .get("/api/v1/products?q=%27%20OR%201%3D1%20--", None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let detected = waf_events(&app, "waf.detected").await;
    assert_eq!(detected.len(), 1);
    assert_eq!(detected[0]["details"]["would_block"], true);
}

#[tokio::test]
async fn the_owasp_crs_loads_and_blocks_without_hurting_customers() {
    let mut settings = test_settings();
    settings.waf.crs_dir = Some(shared_data("waf/crs"));
    let app = TestApp::spawn_with(settings).await;
    let attack = app
        .get(
            "/api/v1/products?q=1%27%20UNION%20SELECT%20password%20FROM%20users--",
            None,
        )
        .await;
    assert_problem(attack, StatusCode::FORBIDDEN).await;
    let rule_ids: Vec<i64> = waf_events(&app, "waf.blocked").await[0]["details"]["rule_ids"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_i64)
        .collect();
    assert!(
        rule_ids.iter().any(|id| *id >= 900_000),
        "CRS rules take part in the verdict: {rule_ids:?}"
    );

    let admin = app.token_for_role("admin").await;
    app.import_catalog("shopify-apparel.csv", &admin).await;
    let (_, token) = app.customer().await;
    for q in ["select", "drop earrings", "union jack", "1=1 mug"] {
        let response = app
            .client
            .get(app.url("/api/v1/products"))
            .query(&[("q", q)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "search {q:?} under CRS");
    }
    assert_eq!(
        app.get("/api/v1/cart", Some(&token)).await.status(),
        StatusCode::OK
    );
}

/// Stages per rule family in the CI sample (13 families, 122 requests).
const CRS_SAMPLE_PER_FAMILY: usize = 10;

/// The CRS regression tests over real HTTPS: a fixed sample of go-ftw stages sent,
/// malformed ones included, to the `ironcart serve` binary running CRS as the suite
/// expects it, each judged by the rule ids of its security events in the server's
/// JSON log (found by the request id it answered with). The aims: at least
/// 95% of expect_ids cases and 99% of no_expect_ids cases pass.
/// `examples/crs_http.rs` runs a bigger sample and prints every failure.
#[tokio::test]
async fn crs_regression_sample_over_https_meets_the_aims() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database_url(dir.path()).await;
    let cases = tokio::task::spawn_blocking(move || {
        let binary = std::path::Path::new(env!("CARGO_BIN_EXE_ironcart"));
        let server = crs_over_http::Server::start(binary, Some(&database_url));
        let stages = crs_over_http::sample(ftw::stages(&["REQUEST-9"]), CRS_SAMPLE_PER_FAMILY);
        crs_over_http::replay(&server, &stages, &ftw::crs_waf())
    })
    .await
    .unwrap();
    let total = crs_over_http::report(&cases);
    let families: std::collections::BTreeSet<&str> =
        cases.iter().map(|c| c.result.family.as_str()).collect();
    assert_eq!(families.len(), 13, "{families:?}");
    assert!(
        total.expect_total >= 60,
        "{} expect cases",
        total.expect_total
    );
    assert!(
        total.no_expect_total >= 15,
        "{} no_expect cases",
        total.no_expect_total
    );
    assert!(
        total.expect_rate() >= 95.0,
        "expect_ids over HTTPS: {:.1}%",
        total.expect_rate()
    );
    assert!(
        total.no_expect_rate() >= 99.0,
        "no_expect_ids over HTTPS: {:.1}%",
        total.no_expect_rate()
    );
}
