//! Cost of encrypting and decrypting one field, against copying the same
//! plaintext (what storing it unencrypted costs the app), measured in the
//! same run. Prints figures; asserts nothing.
//!
//! Run with `cargo bench -p ironcart-vault`.

use std::hint::black_box;
use std::time::Instant;

use ironcart_vault::primitives::{self, AeadKey};
use ironcart_vault::{FieldContext, Kek, Keyring, bootstrap_keys};

const EMAIL: &str = "ann.example@example.com";
const ADDRESS: &str = "Flat 4B, Marylebone Court, 221 Baker Street, London NW1 6XE, \
                       United Kingdom (deliver to the concierge, weekdays 9-17)";
const ROUNDS: usize = 7;
const ITERATIONS: u32 = 20_000;

/// Median nanoseconds per call of `op` over [`ROUNDS`] rounds.
fn median_ns(mut op: impl FnMut()) -> f64 {
    let mut per_call: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..ITERATIONS {
                op();
            }
            start.elapsed().as_nanos() as f64 / f64::from(ITERATIONS)
        })
        .collect();
    per_call.sort_by(f64::total_cmp);
    per_call[ROUNDS / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (kek, _) = Kek::generate()?;
    let ring = Keyring::unlock(&kek, &bootstrap_keys(&kek, 0)?)?;
    let ctx = FieldContext::new(
        "customers",
        "email_enc",
        "0194f1c2-7d1e-7b2a-9c3d-4e5f60718293",
    );

    println!(
        "field encryption, AES-256-GCM envelope (median of {ROUNDS} rounds x {ITERATIONS} calls)"
    );
    println!(
        "{:<9} {:>6} {:>11} {:>11} {:>11} {:>9} {:>9}",
        "value", "bytes", "copy ns", "encrypt ns", "decrypt ns", "enc/copy", "dec/copy"
    );
    for (name, value) in [("email", EMAIL), ("address", ADDRESS)] {
        let envelope = ring.encrypt_str(&ctx, value)?;
        let copy = median_ns(|| {
            black_box(black_box(value).to_owned());
        });
        let encrypt = median_ns(|| {
            black_box(ring.encrypt_str(black_box(&ctx), black_box(value)).ok());
        });
        let decrypt = median_ns(|| {
            black_box(ring.decrypt_str(black_box(&ctx), black_box(&envelope)).ok());
        });
        println!(
            "{name:<9} {:>6} {copy:>11.1} {encrypt:>11.1} {decrypt:>11.1} {:>8.1}x {:>8.1}x",
            value.len(),
            encrypt / copy,
            decrypt / copy
        );
        println!("          envelope length {} chars", envelope.len());
    }

    // Where the time goes: the bare AEAD calls and the nonce draw, without
    // the envelope's encoding, AAD building and allocation.
    let key = AeadKey::from_bytes(&[7u8; 32]);
    let nonce = [1u8; 12];
    let sealed = primitives::seal(&key, &nonce, b"aad", EMAIL.as_bytes())?;
    let seal = median_ns(|| {
        black_box(primitives::seal(&key, &nonce, b"aad", black_box(EMAIL.as_bytes())).ok());
    });
    let open = median_ns(|| {
        black_box(primitives::open(&key, &nonce, b"aad", black_box(&sealed)).ok());
    });
    let draw = median_ns(|| {
        black_box(primitives::random_nonce().ok());
    });
    println!(
        "primitives on the email: seal {seal:.1} ns, open {open:.1} ns, nonce draw {draw:.1} ns"
    );
    Ok(())
}
