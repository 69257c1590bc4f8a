//! Project Wycheproof vectors run through the vault's own primitives (the
//! functions envelopes, key wrapping and blind indexes call), read at run
//! time from the shared test data and never copied into the repository. A
//! missing file fails the test.

use std::path::Path;

use ironcart_vault::primitives::{self, AeadKey, HkdfOutputTooLong, OpenFailed};
use serde_json::Value;

use crate::TestResult;

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/vectors/wycheproof"
);

fn load(file: &str) -> Result<Value, Box<dyn std::error::Error>> {
    let path = Path::new(VECTORS).join(file);
    let text = std::fs::read_to_string(&path).map_err(|error| {
        format!(
            "Wycheproof vectors not found at {} ({error}); these tests need the shared test data",
            path.display()
        )
    })?;
    Ok(serde_json::from_str(&text)?)
}

fn groups(vectors: &Value) -> Result<&Vec<Value>, String> {
    vectors["testGroups"]
        .as_array()
        .ok_or_else(|| "testGroups is not an array".to_owned())
}

fn tests(group: &Value) -> Result<&Vec<Value>, String> {
    group["tests"]
        .as_array()
        .ok_or_else(|| "tests is not an array".to_owned())
}

fn bytes(case: &Value, field: &str) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let text = case[field]
        .as_str()
        .ok_or_else(|| format!("{field} missing"))?;
    Ok(hex::decode(text)?)
}

fn number(value: &Value, field: &str) -> Result<u64, String> {
    value[field]
        .as_u64()
        .ok_or_else(|| format!("{field} missing"))
}

fn label(case: &Value) -> String {
    format!("tcId {} ({})", case["tcId"], case["comment"])
}

#[test]
fn aes_256_gcm_vectors_with_our_parameters_decrypt_exactly_when_valid() -> TestResult {
    let vectors = load("aes_gcm_test.json")?;
    let (mut valid, mut invalid, mut skipped) = (0, 0, 0);
    for group in groups(&vectors)? {
        let ours = number(group, "keySize")? == 256
            && number(group, "ivSize")? == 96
            && number(group, "tagSize")? == 128;
        if !ours {
            skipped += tests(group)?.len();
            continue;
        }
        for case in tests(group)? {
            let key: [u8; 32] = bytes(case, "key")?.as_slice().try_into()?;
            let nonce: [u8; 12] = bytes(case, "iv")?.as_slice().try_into()?;
            let (aad, msg) = (bytes(case, "aad")?, bytes(case, "msg")?);
            let sealed = [bytes(case, "ct")?, bytes(case, "tag")?].concat();
            let key = AeadKey::from_bytes(&key);
            let opened = primitives::open(&key, &nonce, &aad, &sealed);
            match case["result"].as_str() {
                Some("valid") => {
                    assert_eq!(
                        opened.as_ref().map(|p| p.as_slice()),
                        Ok(msg.as_slice()),
                        "{}",
                        label(case)
                    );
                    // And the encrypting direction produces the same bytes.
                    assert_eq!(
                        primitives::seal(&key, &nonce, &aad, &msg)?,
                        sealed,
                        "{}",
                        label(case)
                    );
                    valid += 1;
                }
                Some("invalid") => {
                    assert_eq!(
                        opened.err(),
                        Some(OpenFailed),
                        "{} was accepted",
                        label(case)
                    );
                    invalid += 1;
                }
                other => return Err(format!("{}: unexpected result {other:?}", label(case)).into()),
            }
        }
    }
    assert_eq!((valid, invalid), (39, 27));
    assert_eq!(
        valid + invalid + skipped,
        number(&vectors, "numberOfTests")? as usize
    );
    Ok(())
}

#[test]
fn hmac_sha256_vectors_match_exactly_when_valid() -> TestResult {
    let vectors = load("hmac_sha256_test.json")?;
    let (mut valid, mut invalid) = (0, 0);
    for group in groups(&vectors)? {
        let tag_len = usize::try_from(number(group, "tagSize")? / 8)?;
        for case in tests(group)? {
            let full = primitives::hmac_sha256(&bytes(case, "key")?, &bytes(case, "msg")?)?;
            let matches = full.get(..tag_len) == Some(bytes(case, "tag")?.as_slice());
            match case["result"].as_str() {
                Some("valid") => {
                    assert!(matches, "{}", label(case));
                    valid += 1;
                }
                Some("invalid") => {
                    assert!(!matches, "{} matched", label(case));
                    invalid += 1;
                }
                other => return Err(format!("{}: unexpected result {other:?}", label(case)).into()),
            }
        }
    }
    assert_eq!((valid, invalid), (66, 108));
    assert_eq!(valid + invalid, number(&vectors, "numberOfTests")? as usize);
    Ok(())
}

#[test]
fn hkdf_sha256_vectors_derive_exactly_when_valid() -> TestResult {
    let vectors = load("hkdf_sha256_test.json")?;
    let (mut valid, mut invalid) = (0, 0);
    for group in groups(&vectors)? {
        for case in tests(group)? {
            let mut output = vec![0u8; usize::try_from(number(case, "size")?)?];
            let derived = primitives::hkdf_sha256(
                &bytes(case, "salt")?,
                &bytes(case, "ikm")?,
                &bytes(case, "info")?,
                &mut output,
            );
            match case["result"].as_str() {
                Some("valid") => {
                    assert_eq!(derived, Ok(()), "{}", label(case));
                    assert_eq!(output, bytes(case, "okm")?, "{}", label(case));
                    valid += 1;
                }
                Some("invalid") => {
                    assert_eq!(derived, Err(HkdfOutputTooLong), "{}", label(case));
                    invalid += 1;
                }
                other => return Err(format!("{}: unexpected result {other:?}", label(case)).into()),
            }
        }
    }
    assert_eq!((valid, invalid), (83, 3));
    assert_eq!(valid + invalid, number(&vectors, "numberOfTests")? as usize);
    Ok(())
}
