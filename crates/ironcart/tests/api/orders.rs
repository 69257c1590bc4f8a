//! The order lifecycle as staff drive it: paid → fulfilled → refunded, paid →
//! cancelled, paid → refunded; what each move does to stock and money; and every
//! move that must be refused.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestApp, assert_problem, checkout_body, variant_id};

const HOME: &str = "shopify-home-and-garden.csv";

/// A bought order with what the tests need to check it.
struct Bought {
    id: String,
    variant: String,
    total: i64,
    shopper: String,
}

async fn shop(app: &TestApp) -> String {
    let admin = app.token_for_role("admin").await;
    app.import_catalog(HOME, &admin).await;
    admin
}

/// A new customer buys `quantity` of a product's first variant.
async fn buy(app: &TestApp, handle: &str, quantity: i64) -> Bought {
    let (_, shopper) = app.customer().await;
    let product = app.product(handle).await;
    let variant = variant_id(&product, 0);
    let added = app.add_to_cart(&shopper, &variant, quantity).await;
    assert_eq!(added.status(), StatusCode::OK);
    let response = app
        .checkout(&shopper, Some("buy-1"), checkout_body("tok_visa"))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let order: Value = response.json().await.expect("order");
    Bought {
        id: order["id"].as_str().expect("id").to_owned(),
        variant,
        total: order["total"]["amount"].as_i64().expect("total"),
        shopper,
    }
}

async fn move_order(app: &TestApp, token: &str, id: &str, status: &str) -> reqwest::Response {
    app.patch(
        &format!("/api/v1/admin/orders/{id}"),
        Some(token),
        json!({ "status": status }),
    )
    .await
}

/// Moves an order and returns its new document; the move must succeed.
async fn moved(app: &TestApp, token: &str, id: &str, status: &str) -> Value {
    let response = move_order(app, token, id, status).await;
    let code = response.status();
    let order: Value = response.json().await.expect("order");
    assert_eq!(code, StatusCode::OK, "to {status}: {order}");
    assert_eq!(order["status"], status);
    order
}

/// (kind, amount) of each payment on an order.
fn payments(order: &Value) -> Vec<(String, i64)> {
    order["payments"]
        .as_array()
        .expect("payments")
        .iter()
        .map(|p| {
            assert_eq!(p["amount"]["currency"], "USD");
            (
                p["kind"].as_str().unwrap_or_default().to_owned(),
                p["amount"]["amount"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

fn kinds(total: i64, refunded: bool) -> Vec<(String, i64)> {
    let mut expected = vec![("charge".to_owned(), total)];
    if refunded {
        expected.push(("refund".to_owned(), total));
    }
    expected
}

/// The order as its owner sees it.
async fn own_order(app: &TestApp, bought: &Bought) -> Value {
    let response = app
        .get(
            &format!("/api/v1/orders/{}", bought.id),
            Some(&bought.shopper),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("order")
}

async fn all_orders(app: &TestApp, token: &str) -> Value {
    let response = app
        .get("/api/v1/admin/orders?per_page=100", Some(token))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("orders")
}

#[tokio::test]
async fn fulfil_then_refund_returns_the_money_but_not_the_stock() {
    let app = TestApp::spawn().await;
    shop(&app).await;
    let manager = app.token_for_role("order_manager").await;
    let bought = buy(&app, "copper-light", 2).await;
    assert_eq!(bought.total, 2 * 5999);
    assert_eq!(app.stored_stock(&bought.variant).await, 0);

    let fulfilled = moved(&app, &manager, &bought.id, "fulfilled").await;
    assert_eq!(payments(&fulfilled), kinds(bought.total, false));
    assert_eq!(app.stored_stock(&bought.variant).await, 0);
    assert_eq!(app.sandbox.totals().refunds, 0);

    let refunded = moved(&app, &manager, &bought.id, "refunded").await;
    assert_eq!(payments(&refunded), kinds(bought.total, true));
    assert_eq!(
        app.stored_stock(&bought.variant).await,
        0,
        "shipped goods are not restocked"
    );
    let totals = app.sandbox.totals();
    assert_eq!((totals.refunds, totals.refunded_amount), (1, bought.total));
    assert_eq!(own_order(&app, &bought).await["status"], "refunded");
}

#[tokio::test]
async fn cancelling_a_paid_order_restocks_and_refunds() {
    let app = TestApp::spawn().await;
    shop(&app).await;
    let manager = app.token_for_role("order_manager").await;
    let bought = buy(&app, "grey-sofa", 3).await;
    assert_eq!(app.stored_stock(&bought.variant).await, 6 - 3);

    let cancelled = moved(&app, &manager, &bought.id, "cancelled").await;
    assert_eq!(payments(&cancelled), kinds(3 * 2999, true));
    assert_eq!(app.stored_stock(&bought.variant).await, 6);
    let totals = app.sandbox.totals();
    assert_eq!((totals.charges, totals.charged_amount), (1, 3 * 2999));
    assert_eq!((totals.refunds, totals.refunded_amount), (1, 3 * 2999));
    assert_eq!(own_order(&app, &bought).await["status"], "cancelled");
}

#[tokio::test]
async fn refunding_an_unshipped_order_restocks_it() {
    let app = TestApp::spawn().await;
    shop(&app).await;
    let manager = app.token_for_role("order_manager").await;
    let bought = buy(&app, "vanilla-candle", 4).await;
    assert_eq!(app.stored_stock(&bought.variant).await, 1);

    let refunded = moved(&app, &manager, &bought.id, "refunded").await;
    assert_eq!(payments(&refunded), kinds(4 * 1599, true));
    assert_eq!(app.stored_stock(&bought.variant).await, 5);
    assert_eq!(app.sandbox.totals().refunded_amount, 4 * 1599);
}

#[tokio::test]
async fn invalid_moves_are_conflicts_that_change_nothing() {
    let app = TestApp::spawn().await;
    shop(&app).await;
    let manager = app.token_for_role("order_manager").await;
    let paid = buy(&app, "black-bean-bag", 1).await;
    let fulfilled = buy(&app, "black-bean-bag", 1).await;
    let cancelled = buy(&app, "black-bean-bag", 1).await;
    let refunded = buy(&app, "black-bean-bag", 1).await;
    moved(&app, &manager, &fulfilled.id, "fulfilled").await;
    moved(&app, &manager, &cancelled.id, "cancelled").await;
    moved(&app, &manager, &refunded.id, "fulfilled").await;
    moved(&app, &manager, &refunded.id, "refunded").await;

    let before = all_orders(&app, &manager).await;
    let stock = app.stored_stock(&paid.variant).await;
    assert_eq!(stock, 6 - 4 + 1, "one cancelled order was restocked");
    let ledger = app.sandbox.totals();

    let refused = [
        (&paid, "paid"),
        (&fulfilled, "cancelled"),
        (&fulfilled, "paid"),
        (&fulfilled, "fulfilled"),
        (&cancelled, "fulfilled"),
        (&cancelled, "refunded"),
        (&cancelled, "paid"),
        (&cancelled, "cancelled"),
        (&refunded, "cancelled"),
        (&refunded, "fulfilled"),
        (&refunded, "paid"),
        (&refunded, "refunded"),
    ];
    for (order, to) in refused {
        let response = move_order(&app, &manager, &order.id, to).await;
        let problem = assert_problem(response, StatusCode::CONFLICT).await;
        assert!(
            problem["detail"].as_str().is_some_and(|d| d.contains(to)),
            "{problem}"
        );
    }

    assert_eq!(all_orders(&app, &manager).await, before);
    assert_eq!(app.stored_stock(&paid.variant).await, stock);
    assert_eq!(app.sandbox.totals(), ledger);
}

#[tokio::test]
async fn malformed_status_changes_are_refused() {
    let app = TestApp::spawn().await;
    shop(&app).await;
    let manager = app.token_for_role("order_manager").await;
    let bought = buy(&app, "wooden-fence", 1).await;
    let path = format!("/api/v1/admin/orders/{}", bought.id);

    for body in [
        json!({ "status": "shipped" }),
        json!({ "status": "PAID" }),
        json!({ "status": "" }),
        json!({ "status": 1 }),
        json!({}),
        json!({ "status": "cancelled", "restock": false }),
    ] {
        let response = app.patch(&path, Some(&manager), body.clone()).await;
        assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let unknown = uuid::Uuid::now_v7();
    let missing = move_order(&app, &manager, &unknown.to_string(), "cancelled").await;
    assert_problem(missing, StatusCode::NOT_FOUND).await;

    assert_eq!(own_order(&app, &bought).await["status"], "paid");
    assert_eq!(app.stored_stock(&bought.variant).await, 4);
    assert_eq!(app.sandbox.totals().refunds, 0);
}

#[tokio::test]
async fn a_fulfilment_racing_a_cancellation_never_ships_a_refunded_order() {
    // The cancellation takes the order first (a compare-and-set on its status) and
    // is then held at the provider's refund: a fulfilment arriving meanwhile must
    // lose, and the money goes back exactly once.
    let (app, gated) = TestApp::spawn_gated().await;
    shop(&app).await;
    let app = Arc::new(app);
    let manager = app.token_for_role("order_manager").await;
    let bought = buy(&app, "wooden-fence", 1).await;

    let gate = gated.hold_refunds();
    let cancel = {
        let (app, manager, id) = (app.clone(), manager.clone(), bought.id.clone());
        tokio::spawn(async move { move_order(&app, &manager, &id, "cancelled").await.status() })
    };
    gate.wait_for(1).await;
    let fulfil = move_order(&app, &manager, &bought.id, "fulfilled").await;
    assert_eq!(
        fulfil.status(),
        StatusCode::CONFLICT,
        "a cancelled order cannot ship"
    );
    gate.open();
    assert_eq!(cancel.await.expect("cancel task"), StatusCode::OK);

    let order = own_order(&app, &bought).await;
    assert_eq!(order["status"], "cancelled");
    assert_eq!(payments(&order), kinds(20000, true));
    assert_eq!(
        app.stored_stock(&bought.variant).await,
        5,
        "stock released once"
    );
    assert_eq!(app.sandbox.totals().refunds, 1, "refunded exactly once");
}
