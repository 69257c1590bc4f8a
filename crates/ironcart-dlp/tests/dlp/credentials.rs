//! Private keys, JWTs and API keys: found when real-shaped, left alone when
//! merely similar, and replaced whole when masked.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ironcart_dlp::{Kind, mask, scan};

use crate::found;

/// Bytes that look random but are the same on every run.
fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as u8
        })
        .collect()
}

/// A PEM block with `label` and a base64 body wrapped at 64 columns.
fn pem_block(label: &str, body: &[u8]) -> String {
    let encoded = STANDARD.encode(body);
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(64)
        .filter_map(|chunk| std::str::from_utf8(chunk).ok())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----",
        lines.join("\n")
    )
}

/// An Ed25519 PKCS#8 private key: the DER prefix of that structure followed
/// by 32 key bytes.
fn pkcs8_ed25519() -> Vec<u8> {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend(pseudo_random(32, 7));
    der
}

fn jwt(header: &str, payload: &str, signature_len: usize) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload),
        URL_SAFE_NO_PAD.encode(pseudo_random(signature_len, 3))
    )
}

#[test]
fn pem_private_key_blocks_are_found_whole() {
    let blocks = [
        pem_block("PRIVATE KEY", &pkcs8_ed25519()),
        pem_block("RSA PRIVATE KEY", &pseudo_random(1190, 1)),
        pem_block("EC PRIVATE KEY", &pseudo_random(121, 2)),
        pem_block("OPENSSH PRIVATE KEY", &pseudo_random(400, 4)),
        pem_block("ENCRYPTED PRIVATE KEY", &pseudo_random(200, 5)),
    ];
    assert!(blocks[0].starts_with("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI"));
    for block in &blocks {
        let text = format!("config dump:\n{block}\nend of dump");
        assert_eq!(
            found(&text, &scan(&text)),
            vec![(Kind::PrivateKey, block.as_str())]
        );
        assert_eq!(
            mask(&text, &scan(&text)),
            "config dump:\n[REDACTED:private_key]\nend of dump"
        );
    }
    // As it appears inside a JSON string in a log line, with escaped newlines.
    let escaped = blocks[0].replace('\n', "\\n");
    let text = format!("{{\"key\":\"{escaped}\"}}");
    assert_eq!(
        found(&text, &scan(&text)),
        vec![(Kind::PrivateKey, escaped.as_str())]
    );
}

#[test]
fn a_truncated_private_key_is_still_masked() {
    let block = pem_block("PRIVATE KEY", &pkcs8_ed25519());
    let cut = &block[..block.find("-----END").unwrap_or(block.len())];
    let text = format!("{cut}   ");
    let findings = scan(&text);
    assert_eq!(
        found(&text, &findings),
        vec![(Kind::PrivateKey, cut.trim_end())]
    );
    let after_key = &text[cut.trim_end().len()..];
    assert_eq!(after_key, "\n   ");
    assert_eq!(
        mask(&text, &findings),
        format!("[REDACTED:private_key]{after_key}")
    );
}

#[test]
fn public_keys_and_certificates_are_not_secrets() {
    for label in ["PUBLIC KEY", "CERTIFICATE", "RSA PUBLIC KEY"] {
        let block = pem_block(label, &pseudo_random(200, 9));
        assert!(scan(&block).is_empty(), "{label}");
    }
}

#[test]
fn a_real_shaped_jwt_is_found_and_replaced() {
    let token = jwt(
        r#"{"alg":"HS256","typ":"JWT"}"#,
        r#"{"sub":"1234567890","name":"Ann","iat":1516239022}"#,
        32,
    );
    assert!(token.starts_with("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIi"));
    for text in [
        token.clone(),
        format!("Authorization: Bearer {token}"),
        format!("{{\"id_token\":\"{token}\"}}"),
        format!("https://shop.example/cb?token={token}&state=x"),
    ] {
        assert_eq!(
            found(&text, &scan(&text)),
            vec![(Kind::Jwt, token.as_str())],
            "{text}"
        );
        assert_eq!(
            mask(&text, &scan(&text)),
            text.replace(&token, "[REDACTED:jwt]")
        );
    }
    let unsigned = jwt(r#"{"alg":"none"}"#, r#"{"sub":"x"}"#, 0);
    assert!(unsigned.ends_with('.'));
    assert_eq!(
        found(&unsigned, &scan(&unsigned)),
        vec![(Kind::Jwt, unsigned.as_str())]
    );
}

#[test]
fn dotted_strings_that_are_not_jwts_are_left_alone() {
    let no_alg = jwt(r#"{"typ":"JWT"}"#, r#"{"sub":"x"}"#, 32);
    let not_json = format!("eyJub3QganNvbg.{}.sig", URL_SAFE_NO_PAD.encode("{}"));
    for text in [
        no_alg.as_str(),
        not_json.as_str(),
        "eyJhbGciOiJIUzI1NiJ9",
        "eyJhbGciOiJIUzI1NiJ9.",
        "version 1.2.3",
        "www.example.com",
        "heyJude.a.b",
    ] {
        assert!(
            scan(text).is_empty(),
            "{text}: {:?}",
            found(text, &scan(text))
        );
    }
}

#[test]
fn vendor_api_keys_are_found_by_prefix() {
    let alnum = |len: usize, seed: u64| -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        pseudo_random(len, seed)
            .iter()
            .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
            .collect()
    };
    let keys = [
        format!("sk_live_{}", alnum(24, 1)),
        format!("sk_test_{}", alnum(99, 2)),
        format!("rk_live_{}", alnum(24, 3)),
        format!("whsec_{}", alnum(32, 4)),
        format!("ghp_{}", alnum(36, 5)),
        format!("gho_{}", alnum(36, 6)),
        format!("github_pat_{}_{}", alnum(22, 7), alnum(59, 8)),
        "AKIAIOSFODNN7EXAMPLE".to_owned(),
        format!(
            "xoxb-{}-{}-{}",
            1_234_567_890_123_u64,
            9_876_543_210_987_u64,
            alnum(24, 9)
        ),
        format!("xoxp-{}", alnum(40, 10)),
        format!("AIza{}", alnum(35, 11)),
    ];
    for key in &keys {
        for text in [
            key.clone(),
            format!("export KEY={key}"),
            format!("{{\"k\": \"{key}\"}}"),
        ] {
            assert_eq!(
                found(&text, &scan(&text)),
                vec![(Kind::ApiKey, key.as_str())],
                "{text}"
            );
            assert!(mask(&text, &scan(&text)).contains("[REDACTED:api_key]"));
            assert!(!mask(&text, &scan(&text)).contains(key.as_str()));
        }
    }
}

#[test]
fn generic_assignments_of_random_values_are_found() {
    for (text, value) in [
        (
            "api_key=9fK2xQ7vLm3ZpR8sT1wYbC4n",
            "9fK2xQ7vLm3ZpR8sT1wYbC4n",
        ),
        (
            "token: 'Zx81mQp4LrT7vN2kWc9YbH3d'",
            "Zx81mQp4LrT7vN2kWc9YbH3d",
        ),
        (
            r#"{"client_secret": "q8W3eR5tY7uI9oP1aS2dF4gH6jK"}"#,
            "q8W3eR5tY7uI9oP1aS2dF4gH6jK",
        ),
        (
            "SECRET = 3f9a7c2e1b8d4f6a0c5e9b7d2a4f6c8e",
            "3f9a7c2e1b8d4f6a0c5e9b7d2a4f6c8e",
        ),
        (
            "GET /hook?accessToken=Hq7Rm2Xv9Lp4Tn8Kd3Wb6Ys1&x=1",
            "Hq7Rm2Xv9Lp4Tn8Kd3Wb6Ys1",
        ),
    ] {
        assert_eq!(
            found(text, &scan(text)),
            vec![(Kind::ApiKey, value)],
            "{text}"
        );
    }
    assert_eq!(
        mask(
            "api_key=9fK2xQ7vLm3ZpR8sT1wYbC4n&lang=en",
            &scan("api_key=9fK2xQ7vLm3ZpR8sT1wYbC4n&lang=en")
        ),
        "api_key=[REDACTED:api_key]&lang=en"
    );
}

#[test]
fn near_misses_are_not_api_keys() {
    for text in [
        "sk_live_short",
        "pk_live_51H8bXyZ2eZvKYlo2C0aBcDeFgHiJkLmN",
        "mask_live_abcdefghijklmnopqrstuvwx",
        "AKIAIOSFODNN7EXAMPL",
        "AKIAIOSFODNN7EXAMPLEX",
        "ghp_tooShort123",
        "key=value",
        "token=abc123",
        "secret=YOUR_SECRET_HERE",
        "api_key=product_image_large_2024",
        "idempotency_key=550e8400-e29b-41d4-a716-446655440000",
        "cache_key: MyProductImage2024Large",
        "next_page_token=Q2F0YWxvZ1BhZ2UyMDI0MDUxNQ",
        "public_key=MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE4k7d2",
        "monkey=bananas",
        "keyboard: Model M 1391401",
    ] {
        assert!(
            scan(text).is_empty(),
            "{text}: {:?}",
            found(text, &scan(text))
        );
    }
}
