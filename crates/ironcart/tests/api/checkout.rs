//! The cart and checkout: prices and stock come from the catalog only, payment is
//! taken once per idempotency key, and concurrent buyers can never oversell.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestApp, assert_problem, checkout_body, variant_id, variant_price};

const HOME: &str = "shopify-home-and-garden.csv";

/// An app with the home and garden catalog; returns it with an admin token.
async fn shop() -> (TestApp, String) {
    let app = TestApp::spawn().await;
    let admin = app.token_for_role("admin").await;
    app.import_catalog(HOME, &admin).await;
    (app, admin)
}

async fn ok_json(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.expect("json body");
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// `available` of a product's variant through the public API.
async fn available(app: &TestApp, handle: &str, index: usize) -> i64 {
    app.product(handle).await["variants"][index]["available"]
        .as_i64()
        .unwrap_or(-1)
}

async fn order_count(app: &TestApp, token: &str) -> i64 {
    let response = app.get("/api/v1/orders", Some(token)).await;
    ok_json(response).await["total"].as_i64().unwrap_or(-1)
}

/// (variant id, quantity, unit price, line total) of each cart or order line.
fn lines(document: &Value) -> Vec<(String, i64, i64, i64)> {
    let key = if document.get("items").is_some() {
        "items"
    } else {
        "lines"
    };
    document[key]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| {
            assert_eq!(l["unit_price"]["currency"], "USD");
            assert_eq!(l["line_total"]["currency"], "USD");
            (
                l["variant_id"].as_str().unwrap_or_default().to_owned(),
                l["quantity"].as_i64().unwrap_or(-1),
                l["unit_price"]["amount"].as_i64().unwrap_or(-1),
                l["line_total"]["amount"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

fn money(amount: i64) -> Value {
    json!({ "amount": amount, "currency": "USD" })
}

// ---------------------------------------------------------------- cart

#[tokio::test]
async fn cart_lines_are_priced_from_the_catalog() {
    let (app, _) = shop().await;
    let (_, shopper) = app.customer().await;
    let pot = app.product("clay-plant-pot").await;
    let light = app.product("copper-light").await;
    let (large, lamp) = (variant_id(&pot, 1), variant_id(&light, 0));

    let cart = ok_json(app.add_to_cart(&shopper, &large, 2).await).await;
    assert_eq!(lines(&cart), [(large.clone(), 2, 1599, 3198)]);
    assert_eq!(cart["items"][0]["title"], "Clay Plant Pot - Large");
    assert_eq!(cart["subtotal"], money(3198));

    let cart = ok_json(app.add_to_cart(&shopper, &lamp, 1).await).await;
    assert_eq!(cart["items"][1]["title"], "Copper Light");
    assert_eq!(cart["subtotal"], money(3198 + 5999));

    let cart = ok_json(app.add_to_cart(&shopper, &large, 1).await).await;
    assert_eq!(
        lines(&cart),
        [
            (large.clone(), 3, 1599, 4797),
            (lamp.clone(), 1, 5999, 5999)
        ]
    );
    assert_eq!(cart["subtotal"], money(10796));

    let path = format!("/api/v1/cart/items/{large}");
    let cart = ok_json(
        app.patch(&path, Some(&shopper), json!({ "quantity": 1 }))
            .await,
    )
    .await;
    assert_eq!(cart["subtotal"], money(1599 + 5999));

    let lamp_path = format!("/api/v1/cart/items/{lamp}");
    let cart = ok_json(app.delete(&lamp_path, Some(&shopper)).await).await;
    assert_eq!(lines(&cart), [(large.clone(), 1, 1599, 1599)]);
    let again = app.delete(&lamp_path, Some(&shopper)).await;
    assert_problem(again, StatusCode::NOT_FOUND).await;
    assert_eq!(app.cart(&shopper).await["subtotal"], money(1599));

    let (_, other) = app.customer().await;
    let theirs = app.cart(&other).await;
    assert_eq!(theirs["items"], json!([]));
    assert_eq!(theirs["subtotal"], money(0));
    let foreign = app.delete(&path, Some(&other)).await;
    assert_problem(foreign, StatusCode::NOT_FOUND).await;
    assert_eq!(app.cart(&shopper).await["subtotal"], money(1599));
}

#[tokio::test]
async fn cart_quantities_must_be_between_one_and_the_maximum() {
    let (app, admin) = shop().await;
    let (_, shopper) = app.customer().await;
    let pots = app.product("biodegradable-cardboard-pots").await;
    app.patch_variant(&admin, &pots, 0, json!({ "inventory_quantity": 50 }))
        .await;
    let pot = variant_id(&pots, 0);
    let path = format!("/api/v1/cart/items/{pot}");

    for quantity in [
        json!(0),
        json!(-1),
        json!(11),
        json!("1"),
        json!(1.5),
        json!(null),
    ] {
        let response = app
            .post(
                "/api/v1/cart/items",
                Some(&shopper),
                json!({ "variant_id": pot, "quantity": quantity }),
            )
            .await;
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(problem["errors"][0]["field"], "quantity", "{quantity}");
    }
    let above = assert_problem(
        app.add_to_cart(&shopper, &pot, 11).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(above["errors"][0]["code"], "above_maximum");
    assert_eq!(app.cart(&shopper).await["items"], json!([]));

    ok_json(app.add_to_cart(&shopper, &pot, 10).await).await;
    let over = app.add_to_cart(&shopper, &pot, 1).await;
    assert_problem(over, StatusCode::UNPROCESSABLE_ENTITY).await;
    for quantity in [0, -3, 11] {
        let response = app
            .patch(&path, Some(&shopper), json!({ "quantity": quantity }))
            .await;
        assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let cart = app.cart(&shopper).await;
    assert_eq!(lines(&cart), [(pot, 10, 1000, 10000)]);
}

#[tokio::test]
async fn unknown_and_unpublished_variants_cannot_be_carted() {
    let (app, admin) = shop().await;
    let (_, shopper) = app.customer().await;
    let hidden_csv = "\
Handle,Title,Published,Option1 Name,Option1 Value,Variant Inventory Qty,Variant Price
hidden-lamp,Hidden Lamp,false,Title,Default Title,5,30.00
";
    app.import_text(hidden_csv, &admin).await;
    let hidden = app
        .state
        .store
        .product_by_key("hidden-lamp")
        .await
        .expect("read")
        .expect("imported");
    let hidden_variant = hidden.variants[0].id.clone();

    let unknown = uuid::Uuid::now_v7().to_string();
    for variant in [unknown.as_str(), hidden_variant.as_str()] {
        let added = app.add_to_cart(&shopper, variant, 1).await;
        let problem = assert_problem(added, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(problem["errors"][0]["code"], "unknown_variant");
        let path = format!("/api/v1/cart/items/{variant}");
        let set = app
            .patch(&path, Some(&shopper), json!({ "quantity": 1 }))
            .await;
        assert_problem(set, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let too_long = app.add_to_cart(&shopper, &"x".repeat(65), 1).await;
    assert_problem(too_long, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(app.cart(&shopper).await["items"], json!([]));

    // A product withdrawn after it was carted can no longer be bought.
    let sofa = app.product("grey-sofa").await;
    ok_json(app.add_to_cart(&shopper, &variant_id(&sofa, 0), 1).await).await;
    let withdraw = app
        .patch(
            &format!(
                "/api/v1/admin/products/{}",
                sofa["id"].as_str().unwrap_or_default()
            ),
            Some(&admin),
            json!({ "published": false }),
        )
        .await;
    assert_eq!(withdraw.status(), StatusCode::OK);
    let refused = app
        .checkout(&shopper, Some("withdrawn-1"), checkout_body("tok_visa"))
        .await;
    assert_problem(refused, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(app.sandbox.totals().charges, 0);
    assert_eq!(app.stored_stock(&variant_id(&sofa, 0)).await, 6);
    assert_eq!(order_count(&app, &shopper).await, 0);
}

#[tokio::test]
async fn sold_out_variants_cannot_be_carted_or_bought() {
    let (app, admin) = shop().await;
    let (_, shopper) = app.customer().await;
    let armchair = app.product("pink-armchair").await;
    let sold_out = app
        .add_to_cart(&shopper, &variant_id(&armchair, 0), 1)
        .await;
    assert_problem(sold_out, StatusCode::CONFLICT).await;

    let light = app.product("copper-light").await;
    let lamp = variant_id(&light, 0);
    let too_many = app.add_to_cart(&shopper, &lamp, 3).await;
    assert_problem(too_many, StatusCode::CONFLICT).await;
    assert_eq!(app.cart(&shopper).await["items"], json!([]));
    ok_json(app.add_to_cart(&shopper, &lamp, 2).await).await;

    // Stock falls after the lamp was carted: checkout must notice.
    app.patch_variant(&admin, &light, 0, json!({ "inventory_quantity": 1 }))
        .await;
    let cart_before = app.cart(&shopper).await;
    let refused = app
        .checkout(&shopper, Some("sold-out-1"), checkout_body("tok_visa"))
        .await;
    assert_problem(refused, StatusCode::CONFLICT).await;
    assert_eq!(app.sandbox.totals().charges, 0);
    assert_eq!(app.stored_stock(&lamp).await, 1);
    assert_eq!(app.cart(&shopper).await, cart_before);
    assert_eq!(order_count(&app, &shopper).await, 0);
}

#[tokio::test]
async fn the_cart_accepts_no_price_from_the_client() {
    let (app, _) = shop().await;
    let (_, shopper) = app.customer().await;
    let light = app.product("copper-light").await;
    let lamp = variant_id(&light, 0);

    for (field, value) in [
        ("unit_price", json!(1)),
        ("price", json!({ "amount": 1, "currency": "USD" })),
        ("line_total", json!(1)),
    ] {
        let mut body = json!({ "variant_id": lamp, "quantity": 1 });
        body[field] = value;
        let response = app.post("/api/v1/cart/items", Some(&shopper), body).await;
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(problem["errors"][0]["field"], field);
        assert_eq!(problem["errors"][0]["code"], "unknown_field");
    }
    assert_eq!(app.cart(&shopper).await["items"], json!([]));

    ok_json(app.add_to_cart(&shopper, &lamp, 1).await).await;
    let path = format!("/api/v1/cart/items/{lamp}");
    let response = app
        .patch(
            &path,
            Some(&shopper),
            json!({ "quantity": 1, "unit_price": 1 }),
        )
        .await;
    assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(app.cart(&shopper).await["subtotal"], money(5999));
}

// ---------------------------------------------------------------- checkout

#[tokio::test]
async fn checkout_charges_catalog_prices_and_takes_exact_stock() {
    let (app, _) = shop().await;
    let (_, shopper) = app.customer().await;
    let basket = [
        ("clay-plant-pot", 1, 2),
        ("copper-light", 0, 1),
        ("grey-sofa", 0, 3),
    ];
    let mut expected_total = 0;
    let mut expected_lines = Vec::new();
    for (handle, index, quantity) in basket {
        let product = app.product(handle).await;
        let price = variant_price(&product, index);
        expected_total += price * quantity;
        expected_lines.push((
            variant_id(&product, index),
            quantity,
            price,
            price * quantity,
        ));
        ok_json(
            app.add_to_cart(&shopper, &variant_id(&product, index), quantity)
                .await,
        )
        .await;
    }
    assert_eq!(expected_total, 2 * 1599 + 5999 + 3 * 2999);

    let response = app
        .checkout(&shopper, Some("order-1"), checkout_body("tok_visa"))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(response.headers().get("idempotent-replayed").is_none());
    let order: Value = response.json().await.expect("order");
    assert_eq!(order["status"], "paid");
    assert_eq!(order["total"], money(expected_total));
    assert_eq!(order["subtotal"], money(expected_total));
    assert_eq!(lines(&order), expected_lines);
    assert_eq!(
        order["shipping_address"],
        checkout_body("tok_visa")["shipping_address"]
    );
    let payments = order["payments"].as_array().expect("payments");
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0]["kind"], "charge");
    assert_eq!(payments[0]["provider"], "sandbox");
    assert_eq!(payments[0]["amount"], money(expected_total));

    assert_eq!(
        available(&app, "clay-plant-pot", 0).await,
        1,
        "other size untouched"
    );
    assert_eq!(available(&app, "clay-plant-pot", 1).await, 3 - 2);
    assert_eq!(available(&app, "copper-light", 0).await, 2 - 1);
    assert_eq!(available(&app, "grey-sofa", 0).await, 6 - 3);

    let cart = app.cart(&shopper).await;
    assert_eq!(cart["items"], json!([]));
    assert_eq!(cart["subtotal"], money(0));

    let totals = app.sandbox.totals();
    assert_eq!((totals.charges, totals.charged_amount), (1, expected_total));
    assert_eq!((totals.refunds, totals.refunded_amount), (0, 0));

    let id = order["id"].as_str().expect("order id");
    let listed = ok_json(app.get("/api/v1/orders", Some(&shopper)).await).await;
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["items"][0]["id"], id);
    let shown = ok_json(
        app.get(&format!("/api/v1/orders/{id}"), Some(&shopper))
            .await,
    )
    .await;
    assert_eq!(shown["total"], money(expected_total));

    let (_, stranger) = app.customer().await;
    let foreign = app
        .get(&format!("/api/v1/orders/{id}"), Some(&stranger))
        .await;
    assert_problem(foreign, StatusCode::NOT_FOUND).await;
    assert_eq!(order_count(&app, &stranger).await, 0);
}

#[tokio::test]
async fn checkout_needs_a_well_formed_idempotency_key() {
    let (app, _) = shop().await;
    let (_, shopper) = app.customer().await;
    let light = app.product("copper-light").await;
    ok_json(app.add_to_cart(&shopper, &variant_id(&light, 0), 1).await).await;
    let cart = app.cart(&shopper).await;

    let long = "k".repeat(256);
    for key in [
        None,
        Some(""),
        Some("   "),
        Some(long.as_str()),
        Some("two words"),
    ] {
        let response = app.checkout(&shopper, key, checkout_body("tok_visa")).await;
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(problem["errors"][0]["field"], "Idempotency-Key", "{key:?}");
    }
    assert_eq!(app.sandbox.totals().charges, 0);
    assert_eq!(app.cart(&shopper).await, cart);
    assert_eq!(order_count(&app, &shopper).await, 0);
    assert_eq!(available(&app, "copper-light", 0).await, 2);
}

#[tokio::test]
async fn checkout_of_an_empty_cart_is_a_conflict() {
    let (app, _) = shop().await;
    let (_, shopper) = app.customer().await;
    let response = app
        .checkout(&shopper, Some("empty-1"), checkout_body("tok_visa"))
        .await;
    assert_problem(response, StatusCode::CONFLICT).await;
    assert_eq!(app.sandbox.totals().charges, 0);
}

#[tokio::test]
async fn a_retried_checkout_returns_the_same_order_and_charges_once() {
    let (app, _) = shop().await;
    let (_, shopper) = app.customer().await;
    let sofa = app.product("cream-sofa").await;
    let seat = variant_id(&sofa, 0);
    ok_json(app.add_to_cart(&shopper, &seat, 2).await).await;

    let first = app
        .checkout(&shopper, Some("retry-1"), checkout_body("tok_visa"))
        .await;
    assert_eq!(first.status(), StatusCode::CREATED);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.expect("order");

    // The retry comes after the shopper started a new cart: it must not buy that.
    let candle = app.product("vanilla-candle").await;
    ok_json(app.add_to_cart(&shopper, &variant_id(&candle, 0), 1).await).await;
    let second = app
        .checkout(&shopper, Some("retry-1"), checkout_body("tok_visa"))
        .await;
    assert_eq!(second.status(), StatusCode::CREATED);
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    let second: Value = second.json().await.expect("order");
    assert_eq!(second["id"], first["id"]);
    assert_eq!(second["total"], money(2 * 50000));

    let totals = app.sandbox.totals();
    assert_eq!((totals.charges, totals.charged_amount), (1, 100000));
    assert_eq!(app.stored_stock(&seat).await, 4 - 2);
    assert_eq!(app.stored_stock(&variant_id(&candle, 0)).await, 5);
    assert_eq!(app.cart(&shopper).await["subtotal"], money(1599));
    assert_eq!(order_count(&app, &shopper).await, 1);

    let mut changed = checkout_body("tok_visa");
    changed["shipping_address"]["name"] = json!("Somebody Else");
    let reused = app.checkout(&shopper, Some("retry-1"), changed).await;
    let problem = assert_problem(reused, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["errors"][0]["code"], "idempotency_key_reused");
    assert_eq!(app.sandbox.totals().charges, 1);
    assert_eq!(order_count(&app, &shopper).await, 1);

    // Keys belong to one customer: another one's "retry-1" is a new order.
    let (_, neighbour) = app.customer().await;
    ok_json(app.add_to_cart(&neighbour, &seat, 1).await).await;
    let theirs = app
        .checkout(&neighbour, Some("retry-1"), checkout_body("tok_visa"))
        .await;
    assert_eq!(theirs.status(), StatusCode::CREATED);
    assert!(theirs.headers().get("idempotent-replayed").is_none());
    let theirs: Value = theirs.json().await.expect("order");
    assert_ne!(theirs["id"], first["id"]);
    assert_eq!(app.sandbox.totals().charged_amount, 150000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_retries_place_one_order_and_keep_one_payment() {
    let (app, _) = shop().await;
    let app = Arc::new(app);
    let (_, shopper) = app.customer().await;
    let bag = app.product("black-bean-bag").await;
    let seat = variant_id(&bag, 0);
    ok_json(app.add_to_cart(&shopper, &seat, 2).await).await;

    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let (app, shopper) = (app.clone(), shopper.clone());
        tasks.spawn(async move {
            let response = app
                .checkout(&shopper, Some("double-click"), checkout_body("tok_visa"))
                .await;
            let status = response.status();
            let replayed = response.headers().get("idempotent-replayed").is_some();
            let body: Value = response.json().await.expect("json");
            (status, replayed, body["id"].clone())
        });
    }
    let results = tasks.join_all().await;
    assert!(
        results.iter().all(|(s, _, _)| *s == StatusCode::CREATED),
        "{results:?}"
    );
    assert_eq!(
        results.iter().filter(|(_, replayed, _)| !replayed).count(),
        1
    );
    assert!(results.iter().all(|(_, _, id)| *id == results[0].2));

    assert_eq!(order_count(&app, &shopper).await, 1);
    assert_eq!(app.stored_stock(&seat).await, 6 - 2);
    let totals = app.sandbox.totals();
    assert_eq!(totals.charges - totals.refunds, 1, "{totals:?}");
    assert_eq!(totals.charged_amount - totals.refunded_amount, 2 * 6999);
}

#[tokio::test]
async fn a_declined_payment_changes_nothing() {
    let (app, _) = shop().await;
    let (_, shopper) = app.customer().await;
    let drawers = app.product("antique-drawers").await;
    let chest = variant_id(&drawers, 0);
    ok_json(app.add_to_cart(&shopper, &chest, 2).await).await;
    let cart = app.cart(&shopper).await;

    let response = app
        .checkout(
            &shopper,
            Some("declined-1"),
            checkout_body("tok_chargeDeclined"),
        )
        .await;
    let problem = assert_problem(response, StatusCode::PAYMENT_REQUIRED).await;
    assert_eq!(problem["type"], "/problems/payment-declined");

    assert_eq!(order_count(&app, &shopper).await, 0);
    assert_eq!(app.stored_stock(&chest).await, 2);
    assert_eq!(app.cart(&shopper).await, cart);
    assert_eq!(app.sandbox.totals().charges, 0);

    let paid = app
        .checkout(&shopper, Some("declined-2"), checkout_body("tok_visa"))
        .await;
    assert_eq!(paid.status(), StatusCode::CREATED);
    assert_eq!(app.stored_stock(&chest).await, 0);
    assert_eq!(app.sandbox.totals().charged_amount, 2 * 25000);
}

#[tokio::test]
async fn card_numbers_are_refused_and_never_echoed_or_recorded() {
    let (app, admin) = shop().await;
    let (_, shopper) = app.customer().await;
    let light = app.product("copper-light").await;
    ok_json(app.add_to_cart(&shopper, &variant_id(&light, 0), 1).await).await;
    let cart = app.cart(&shopper).await;

    for (n, token) in [
        "4242424242424242",
        "4242 4242 4242 4242",
        "tok_4242424242424242",
        "4000056655665556",
    ]
    .into_iter()
    .enumerate()
    {
        let response = app
            .checkout(&shopper, Some(&format!("card-{n}")), checkout_body(token))
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{token}"
        );
        let text = response.text().await.expect("body");
        let problem: Value = serde_json::from_str(&text).expect("problem");
        assert_eq!(problem["errors"][0]["field"], "payment_token");
        for digits in ["4242424242424242", "4242 4242", "5665556"] {
            assert!(!text.contains(digits), "card digits echoed: {text}");
        }
    }
    assert_eq!(app.sandbox.totals().charges, 0);
    assert_eq!(order_count(&app, &shopper).await, 0);
    assert_eq!(app.cart(&shopper).await, cart);

    let audit = app
        .get("/api/v1/admin/audit?per_page=100", Some(&admin))
        .await;
    assert_eq!(audit.status(), StatusCode::OK);
    let trail = audit.text().await.expect("audit");
    assert!(trail.contains("order.checkout"), "the refusal is audited");
    for digits in ["4242424242424242", "5665556"] {
        assert!(!trail.contains(digits), "card digits in the audit trail");
    }
}

#[tokio::test]
async fn checkout_charges_the_price_in_force_at_checkout() {
    let (app, admin) = shop().await;
    let (_, shopper) = app.customer().await;
    let light = app.product("copper-light").await;
    let sofa = app.product("grey-sofa").await;
    ok_json(app.add_to_cart(&shopper, &variant_id(&light, 0), 2).await).await;
    ok_json(app.add_to_cart(&shopper, &variant_id(&sofa, 0), 1).await).await;
    assert_eq!(app.cart(&shopper).await["subtotal"], money(2 * 5999 + 2999));

    app.patch_variant(&admin, &light, 0, json!({ "price": 4500 }))
        .await;
    app.patch_variant(&admin, &sofa, 0, json!({ "price": 3999 }))
        .await;
    assert_eq!(app.cart(&shopper).await["subtotal"], money(2 * 4500 + 3999));

    let response = app
        .checkout(&shopper, Some("repriced-1"), checkout_body("tok_visa"))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let order: Value = response.json().await.expect("order");
    assert_eq!(order["total"], money(12999));
    let units: Vec<i64> = lines(&order).iter().map(|l| l.2).collect();
    assert_eq!(units, [4500, 3999]);
    assert_eq!(app.sandbox.totals().charged_amount, 12999);
}

// ---------------------------------------------------------------- races

/// Registers `count` customers who each cart one unit of `variant`.
async fn shoppers_with_one_in_cart(app: &TestApp, variant: &str, count: usize) -> Vec<String> {
    let mut tokens = Vec::with_capacity(count);
    for _ in 0..count {
        let (_, token) = app.customer().await;
        ok_json(app.add_to_cart(&token, variant, 1).await).await;
        tokens.push(token);
    }
    tokens
}

/// Fires one checkout per token at once; returns each token with its status.
async fn checkout_all(app: &Arc<TestApp>, tokens: &[String]) -> Vec<(String, StatusCode)> {
    let mut tasks = tokio::task::JoinSet::new();
    for token in tokens {
        let (app, token) = (app.clone(), token.clone());
        tasks.spawn(async move {
            let response = app
                .checkout(&token, Some("race-1"), checkout_body("tok_visa"))
                .await;
            let status = response.status();
            if status != StatusCode::CREATED {
                assert_problem(response, status).await;
            }
            (token, status)
        });
    }
    tasks.join_all().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_shoppers_racing_for_three_units_never_oversell() {
    const STOCK: i64 = 3;
    let (app, admin) = shop().await;
    let app = Arc::new(app);
    let light = app.product("copper-light").await;
    let lamp = variant_id(&light, 0);
    let price = variant_price(&light, 0);
    app.patch_variant(&admin, &light, 0, json!({ "inventory_quantity": STOCK }))
        .await;
    let tokens = shoppers_with_one_in_cart(&app, &lamp, 50).await;

    let results = checkout_all(&app, &tokens).await;
    let won = results
        .iter()
        .filter(|(_, s)| *s == StatusCode::CREATED)
        .count();
    let lost = results
        .iter()
        .filter(|(_, s)| *s == StatusCode::CONFLICT)
        .count();
    assert_eq!(
        (won, lost),
        (STOCK as usize, 50 - STOCK as usize),
        "{results:?}"
    );

    assert_eq!(app.stored_stock(&lamp).await, 0);
    assert_eq!(available(&app, "copper-light", 0).await, 0);
    let totals = app.sandbox.totals();
    assert_eq!(
        totals.charges - totals.refunds,
        STOCK as usize,
        "{totals:?}"
    );
    assert_eq!(
        totals.charged_amount - totals.refunded_amount,
        STOCK * price,
        "{totals:?}"
    );
    let manager = app.token_for_role("order_manager").await;
    let orders = ok_json(
        app.get("/api/v1/admin/orders?per_page=100", Some(&manager))
            .await,
    )
    .await;
    assert_eq!(orders["total"], STOCK);
    assert_eq!(
        orders["items"].as_array().map(Vec::len),
        Some(STOCK as usize)
    );
    for (token, status) in &results {
        let expected = if *status == StatusCode::CREATED { 0 } else { 1 };
        let cart = app.cart(token).await;
        assert_eq!(cart["items"].as_array().map(Vec::len), Some(expected));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retry_after_losing_the_race_pays_for_its_order() {
    let (app, gated) = TestApp::spawn_gated().await;
    let admin = app.token_for_role("admin").await;
    app.import_catalog(HOME, &admin).await;
    let app = Arc::new(app);
    let light = app.product("copper-light").await;
    let lamp = variant_id(&light, 0);
    app.patch_variant(&admin, &light, 0, json!({ "inventory_quantity": 1 }))
        .await;
    let tokens = shoppers_with_one_in_cart(&app, &lamp, 2).await;

    // Both pass the stock check and reach the payment; only one can have the lamp.
    let gate = gated.hold_charges();
    let race = {
        let (app, tokens) = (app.clone(), tokens.clone());
        tokio::spawn(async move { checkout_all(&app, &tokens).await })
    };
    gate.wait_for(2).await;
    gate.open();
    let results = race.await.expect("race task");
    let loser = results
        .iter()
        .find(|(_, s)| *s == StatusCode::CONFLICT)
        .map(|(t, _)| t.clone())
        .expect("one shopper lost");
    let totals = app.sandbox.totals();
    assert_eq!(
        (totals.charges, totals.refunds),
        (2, 1),
        "the loser was refunded"
    );

    // Restocked, the loser's client retries the very same request.
    app.patch_variant(&admin, &light, 0, json!({ "inventory_quantity": 1 }))
        .await;
    let retry = app
        .checkout(&loser, Some("race-1"), checkout_body("tok_visa"))
        .await;
    assert_eq!(retry.status(), StatusCode::CREATED);
    let manager = app.token_for_role("order_manager").await;
    let orders = ok_json(app.get("/api/v1/admin/orders", Some(&manager)).await).await;
    assert_eq!(orders["total"], 2);
    let totals = app.sandbox.totals();
    assert_eq!(
        totals.charged_amount - totals.refunded_amount,
        2 * 5999,
        "two paid orders must have been paid for: {totals:?}"
    );
}

#[tokio::test]
async fn a_continue_policy_variant_may_be_oversold() {
    let (app, admin) = shop().await;
    let light = app.product("copper-light").await;
    let lamp = variant_id(&light, 0);
    app.patch_variant(
        &admin,
        &light,
        0,
        json!({ "inventory_policy": "continue", "inventory_quantity": 1 }),
    )
    .await;

    let (_, first) = app.customer().await;
    ok_json(app.add_to_cart(&first, &lamp, 3).await).await;
    let response = app
        .checkout(&first, Some("backorder-1"), checkout_body("tok_visa"))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let order: Value = response.json().await.expect("order");
    assert_eq!(order["total"], money(3 * 5999));
    assert_eq!(app.stored_stock(&lamp).await, -2);

    let (_, second) = app.customer().await;
    ok_json(app.add_to_cart(&second, &lamp, 2).await).await;
    let response = app
        .checkout(&second, Some("backorder-2"), checkout_body("tok_visa"))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(app.stored_stock(&lamp).await, -4);

    let shown = app.product("copper-light").await;
    assert_eq!(shown["variants"][0]["available"], 0);
    assert_eq!(shown["variants"][0]["in_stock"], true);
    assert_eq!(shown["variants"][0]["inventory_policy"], "continue");
}
