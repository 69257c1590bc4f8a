//! Benchmark, not part of the product: what field encryption costs on the checkout
//! path. Runs the real checkout (`domain::checkout::place_order` on the `Store`, with
//! the sandbox payment provider) and reads each order back, `ORDERS` times, on a
//! SQLite file and, when `IRONCART_BENCH_POSTGRES` names a server, on a new
//! PostgreSQL database there. Each order encrypts its shipping address once when
//! written and decrypts it once when read.
//!
//! The plaintext baseline is measured in the same run by this benchmark's own code:
//! the same path minus the encryption calls, i.e. the path's time less the time of
//! exactly those calls (the store's own keyring sealing and opening each order's
//! address under its own context, timed on their own). No switch in the product
//! turns encryption off. Prints figures; asserts nothing.
//!
//! `cargo run --release --example checkout_encryption -- 300`

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use ironcart::clock::Clock;
use ironcart::domain::checkout::{CheckoutRequest, ShippingAddress, place_order};
use ironcart::domain::import::import_shopify;
use ironcart::domain::payments::SandboxProvider;
use ironcart::store::{KekSource, Store};
use ironcart_vault::FieldContext;

fn address() -> ShippingAddress {
    ShippingAddress {
        name: "Ann Lee".to_owned(),
        line1: "Flat 4B, Marylebone Court, 221 Baker Street".to_owned(),
        line2: Some("deliver to the concierge".to_owned()),
        city: "London".to_owned(),
        postal_code: "NW1 6XE".to_owned(),
        country: "GB".to_owned(),
    }
}

/// One product with plenty of stock, in the import format.
const MUG_CSV: &str = "\
Handle,Title,Published,Variant SKU,Variant Inventory Qty,Variant Inventory Policy,Variant Price
bench-mug,Bench mug,true,BENCH-1,10000000,deny,12.50
";

/// Times of one back end: the whole path per order, and the encryption calls of
/// that path per order.
struct Figures {
    path: Duration,
    crypto: Duration,
}

async fn open_store(url: &str, dir: &std::path::Path) -> anyhow::Result<Store> {
    let store = Store::connect(url).await?;
    store
        .unlock(&KekSource::File(dir.join("kek")), Clock::System)
        .await?;
    Ok(store)
}

/// `orders` checkouts and reads through the product's code, then the same
/// orders' encryption calls alone.
async fn measure(store: &Store, orders: u32) -> anyhow::Result<Figures> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    import_shopify(store, MUG_CSV.as_bytes(), now)
        .await
        .map_err(|problems| anyhow::anyhow!("import failed: {problems:?}"))?;
    let variant = store.product_by_key("bench-mug").await?.unwrap().variants[0]
        .id
        .clone();
    let user = store
        .create_user(
            "bench@example.com",
            "Bench",
            "$argon2id$unused",
            &["customer"],
            now,
        )
        .await?;
    let payments = SandboxProvider::default();

    let checkout = |n: u32| CheckoutRequest {
        user_id: user.id.clone(),
        idempotency_key: format!("bench-{n}"),
        shipping_address: address(),
        payment_token: "tok_visa".to_owned(),
        max_line_quantity: 10,
        now,
    };
    // Warm-up: connections, statement caches, keyring.
    for n in 0..10 {
        store.set_cart_quantity(&user.id, &variant, 1, now).await?;
        place_order(store, &payments, checkout(orders + n)).await?;
    }

    let mut placed = Vec::with_capacity(orders as usize);
    let started = Instant::now();
    for n in 0..orders {
        store.set_cart_quantity(&user.id, &variant, 1, now).await?;
        let order = place_order(store, &payments, checkout(n)).await?.order;
        let read = store.order_by_id(&order.id).await?.unwrap();
        placed.push((read.id, read.shipping_address));
    }
    let path = started.elapsed() / orders;

    let ring = store.keyring()?;
    let started = Instant::now();
    for (id, plaintext) in &placed {
        let context = FieldContext::new("orders", "shipping_address", id);
        let sealed = ring.encrypt_str(&context, plaintext)?;
        black_box(ring.decrypt_str(&context, black_box(&sealed))?);
    }
    let crypto = started.elapsed() / orders;
    Ok(Figures { path, crypto })
}

fn report(name: &str, figures: &Figures) {
    let path = figures.path.as_secs_f64() * 1e6;
    let crypto = figures.crypto.as_secs_f64() * 1e6;
    let baseline = path - crypto;
    println!(
        "{name:<22} {path:>12.1} {baseline:>14.1} {crypto:>12.2} {:>9.4}x",
        path / baseline
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let orders: u32 = std::env::args()
        .nth(1)
        .map_or(Ok(300), |n| n.parse())?
        .clamp(10, 100_000);
    println!(
        "checkout path: add to cart, place the order, read it back ({orders} orders, one thread)"
    );
    println!(
        "{:<22} {:>12} {:>14} {:>12} {:>10}",
        "back end", "µs/order", "plaintext µs", "crypto µs", "ratio"
    );

    let dir = tempfile::tempdir()?;
    let sqlite = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    let store = open_store(&sqlite, dir.path()).await?;
    report("SQLite file", &measure(&store, orders).await?);
    store.close().await;

    if let Ok(server) = std::env::var("IRONCART_BENCH_POSTGRES") {
        let server = server.trim_end_matches('/');
        anyhow::ensure!(
            server.contains("@127.") || server.contains("@localhost"),
            "loopback PostgreSQL only"
        );
        let name = format!("ironcart_encbench_{}", uuid::Uuid::new_v4().simple());
        let mut conn =
            <sqlx::PgConnection as sqlx::Connection>::connect(&format!("{server}/postgres"))
                .await?;
        sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str()).await?;
        let store = open_store(&format!("{server}/{name}"), dir.path()).await?;
        let figures = measure(&store, orders).await;
        store.close().await;
        sqlx::Executor::execute(&mut conn, format!("DROP DATABASE {name}").as_str()).await?;
        report("PostgreSQL", &figures?);
    }
    println!(
        "plaintext = the same path less its encryption calls, timed alone in this run \
         (one encrypt and one decrypt of the address per order)"
    );
    Ok(())
}
