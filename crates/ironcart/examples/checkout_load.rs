//! Benchmark client, not part of the product: registers shoppers through the API,
//! then each shopper, on its own connection, repeats "add to cart, check out with a
//! new Idempotency-Key" for a fixed time. Prints placed orders per second and the
//! checkout latency. Loopback only; bounded by `SECONDS`.
//!
//! `cargo run --release --example checkout_load -- http://127.0.0.1:9002 VARIANT_ID 32 10`

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::time::{Duration, Instant};

use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base, variant, shoppers, seconds] = args.as_slice() else {
        anyhow::bail!("usage: checkout_load BASE_URL VARIANT_ID SHOPPERS SECONDS");
    };
    anyhow::ensure!(
        base.starts_with("http://127.") || base.starts_with("https://127."),
        "loopback targets only"
    );
    let shoppers: usize = shoppers.parse()?;
    let seconds: u64 = seconds.parse::<u64>()?.min(60);

    let mut tokens = Vec::new();
    for n in 0..shoppers {
        tokens.push(shopper_token(base, n).await?);
    }
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (n, token) in tokens.into_iter().enumerate() {
        let (base, variant) = (base.clone(), variant.clone());
        tasks.push(tokio::spawn(async move {
            shop_until(&base, &variant, &token, n, deadline).await
        }));
    }
    let mut latencies = Vec::new();
    let mut failures = 0;
    for task in tasks {
        let (mut done, failed) = task.await?;
        latencies.append(&mut done);
        failures += failed;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let percentile = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "checkout: {} orders in {elapsed:.1} s = {:.1} orders/s; checkout p50 {:.1} ms, p99 {:.1} ms; {failures} failed",
        latencies.len(),
        latencies.len() as f64 / elapsed,
        percentile(0.50),
        percentile(0.99),
    );
    Ok(())
}

async fn shopper_token(base: &str, n: usize) -> anyhow::Result<String> {
    let client = reqwest::Client::new();
    let email = format!("bench-{n}-{}@example.com", uuid::Uuid::new_v4().simple());
    let registered = client
        .post(format!("{base}/api/v1/auth/register"))
        .json(&json!({ "email": email, "password": PASSWORD, "name": "Bench Shopper" }))
        .send()
        .await?;
    anyhow::ensure!(
        registered.status() == 201,
        "register: {}",
        registered.status()
    );
    let login: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await?
        .json()
        .await?;
    login["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("login failed: {login}"))
}

/// Returns the latency of every placed order and the number of failed requests.
async fn shop_until(
    base: &str,
    variant: &str,
    token: &str,
    n: usize,
    deadline: Instant,
) -> (Vec<Duration>, usize) {
    let client = reqwest::Client::new();
    let (mut placed, mut failed) = (Vec::new(), 0);
    let mut round = 0;
    while Instant::now() < deadline {
        round += 1;
        let added = client
            .post(format!("{base}/api/v1/cart/items"))
            .bearer_auth(token)
            .json(&json!({ "variant_id": variant, "quantity": 1 }))
            .send()
            .await;
        if !added.is_ok_and(|r| r.status() == 200) {
            failed += 1;
            continue;
        }
        let started = Instant::now();
        let order = client
            .post(format!("{base}/api/v1/checkout"))
            .bearer_auth(token)
            .header("idempotency-key", format!("bench-{n}-{round}"))
            .json(&json!({
                "shipping_address": { "name": "Bench Shopper", "line1": "1 Main St",
                    "city": "Springfield", "postal_code": "12345", "country": "US" },
                "payment_token": "tok_visa"
            }))
            .send()
            .await;
        match order {
            Ok(r) if r.status() == 201 => placed.push(started.elapsed()),
            _ => failed += 1,
        }
    }
    (placed, failed)
}
