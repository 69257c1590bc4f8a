//! Cost of scanning typical API responses, per KB, plus inputs built to be
//! slow (dense digits, repeated markers) to show the cost stays linear.
//! Prints figures; asserts nothing.
//!
//! Run with `cargo bench -p ironcart-dlp`.

use std::hint::black_box;
use std::time::Instant;

use ironcart_dlp::{Policy, contains_card_number, scan, scan_json};
use serde_json::{Value, json};

const ROUNDS: usize = 7;

/// A catalog page as the storefront returns it: products with ids, SKUs,
/// barcodes, prices, timestamps and descriptions, about 4 KB serialised.
fn catalog_page() -> Value {
    let products: Vec<Value> = (0..9)
        .map(|i| {
            json!({
                "id": format!("0194f1c2-7d1e-7b2a-9c3d-4e5f6071829{i}"),
                "handle": format!("linen-shirt-{i}"),
                "title": format!("Linen shirt no. {i}, relaxed fit"),
                "body_html": "<p>Breathable European linen, garment-washed for softness. \
                              Machine wash at 30 degrees.</p>",
                "vendor": "Atelier Nord",
                "sku": format!("SHIRT-LIN-04{i}-XL"),
                "barcode": format!("501234567890{i}"),
                "price": format!("{}.90", 40 + i),
                "inventory": 1200 + i,
                "tags": ["linen", "summer", "shirts"],
                "updated_at": 1_715_000_000_123_u64 + i,
            })
        })
        .collect();
    json!({"products": products, "next_page_token": "Q2F0YWxvZ1BhZ2UyMDI0MDUxNQ", "total": 9})
}

/// Median nanoseconds per call of `op` over [`ROUNDS`] rounds of `iterations`.
fn median_ns(iterations: u32, mut op: impl FnMut()) -> f64 {
    let mut per_call: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iterations {
                op();
            }
            start.elapsed().as_nanos() as f64 / f64::from(iterations)
        })
        .collect();
    per_call.sort_by(f64::total_cmp);
    per_call[ROUNDS / 2]
}

fn report(name: &str, bytes: usize, ns: f64) {
    let kb = bytes as f64 / 1024.0;
    println!(
        "{name:<38} {bytes:>8} {:>12.1} {:>10.1} {:>9.1}",
        ns / 1000.0,
        ns / kb / 1000.0,
        bytes as f64 / ns * 1000.0
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let page = catalog_page();
    let page_text = serde_json::to_string(&page)?;
    let policy = Policy::mask_all();

    let digit_dense: String = (0..400)
        .map(|i| {
            format!(
                "{:04} {:04}-{:03} ",
                i * 37 % 10_000,
                i * 91 % 10_000,
                i % 1000
            )
        })
        .collect();
    let markers = "key=key=-----BEGIN eyJ.eyJ.AKIA ".repeat(32 * 1024 / 32);
    let free_text = "Please leave the parcel with the neighbour at no. 12 if nobody answers; \
                     call 415-555-0132 before 6 pm. Gift message: happy 40th birthday!"
        .repeat(3);

    println!(
        "DLP scan cost (median of {ROUNDS} rounds); findings on the catalog page: {}",
        scan_json(&page, &policy).1.len()
    );
    println!(
        "{:<38} {:>8} {:>12} {:>10} {:>9}",
        "input", "bytes", "us/call", "us/KB", "MB/s"
    );
    let ns = median_ns(2_000, || {
        black_box(scan(black_box(&page_text)));
    });
    report("scan: catalog page JSON text", page_text.len(), ns);
    let ns = median_ns(2_000, || {
        black_box(scan_json(black_box(&page), &policy));
    });
    report("scan_json: catalog page", page_text.len(), ns);
    let ns = median_ns(500, || {
        black_box(scan(black_box(&digit_dense)));
    });
    report("scan: digit-dense text", digit_dense.len(), ns);
    let ns = median_ns(20, || {
        black_box(scan(black_box(&markers)));
    });
    report("scan: 32 KB of repeated markers", markers.len(), ns);
    let ns = median_ns(20_000, || {
        black_box(contains_card_number(black_box(&free_text)));
    });
    report("contains_card_number: delivery note", free_text.len(), ns);
    Ok(())
}
