//! Benchmark baseline, not part of the product: an axum server with no middleware
//! that answers every request with the same captured bytes (a catalog page saved
//! from a real Ironcart), on the same runtime settings as `ironcart serve`.
//!
//! `cargo run --release --example bare -- 127.0.0.1:9001 body.json`

#![allow(clippy::expect_used)]

use axum::Router;
use axum::http::header;
use axum::routing::get;
use bytes::Bytes;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:9001".to_owned());
    let body_path = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: bare ADDR BODY_FILE"))?;
    let body = Bytes::from(std::fs::read(&body_path)?);
    let app = Router::new().fallback(get(move || {
        let body = body.clone();
        async move { ([(header::CONTENT_TYPE, "application/json")], body) }
    }));
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
