//! Project Wycheproof vectors, read at run time from the shared test data
//! (never copied into the repository). A missing file fails the test.

use std::collections::BTreeMap;
use std::path::Path;

use ironcart_security::tokens::ed25519_signature_is_valid;
use ironcart_security::{SigningKeys, TokenConfig, TokenError};
use serde_json::Value;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/vectors/wycheproof"
);

fn load_vectors(file: &str) -> Result<Value, Box<dyn std::error::Error>> {
    let path = Path::new(VECTORS).join(file);
    let text = std::fs::read_to_string(&path).map_err(|error| {
        format!(
            "Wycheproof vectors not found at {} ({error}); these tests need the shared test data",
            path.display()
        )
    })?;
    Ok(serde_json::from_str(&text)?)
}

/// Every test case in the file with its group, checking that the groups hold
/// as many tests as the file's header announces.
fn all_cases(vectors: &Value) -> Result<Vec<(&Value, &Value)>, String> {
    let groups = vectors["testGroups"]
        .as_array()
        .ok_or("testGroups is not an array")?;
    let mut cases = Vec::new();
    for group in groups {
        for case in group["tests"].as_array().ok_or("tests is not an array")? {
            cases.push((group, case));
        }
    }
    let announced = vectors["numberOfTests"]
        .as_u64()
        .ok_or("numberOfTests missing")?;
    if u64::try_from(cases.len()).ok() != Some(announced) {
        return Err(format!(
            "read {} cases, file announces {announced}",
            cases.len()
        ));
    }
    Ok(cases)
}

fn kind(error: TokenError) -> &'static str {
    match error {
        TokenError::Malformed(_) => "Malformed",
        TokenError::Algorithm(_) => "Algorithm",
        TokenError::Header(_) => "Header",
        TokenError::UnknownKey => "UnknownKey",
        TokenError::Signature => "Signature",
        TokenError::Expired => "Expired",
        TokenError::NotYetValid => "NotYetValid",
        TokenError::Claims(_) => "Claims",
    }
}

#[test]
fn every_invalid_json_web_signature_is_refused() -> TestResult {
    let vectors = load_vectors("json_web_signature_test.json")?;
    let cases = all_cases(&vectors)?;
    let invalid_in_file = cases
        .iter()
        .filter(|(_, case)| case["result"] == "invalid")
        .count();

    let dir = tempfile::tempdir()?;
    let keys = SigningKeys::load_or_create(dir.path())?;
    let cfg = TokenConfig::new("https://shop.example", "ironcart-api");
    let mut checked = 0;
    let mut refusals: BTreeMap<&str, usize> = BTreeMap::new();
    let mut accepted = Vec::new();
    for (_, case) in cases.iter().filter(|(_, case)| case["result"] == "invalid") {
        // Most are compact strings; JSON-serialised ones are passed as their
        // JSON text, which a compact-only verifier must refuse too.
        let jws = match &case["jws"] {
            Value::String(compact) => compact.clone(),
            other => other.to_string(),
        };
        match keys.verify_access_token(&cfg, &jws, 1_700_000_000) {
            Ok(_) => accepted.push(case["tcId"].clone()),
            Err(error) => *refusals.entry(kind(error)).or_default() += 1,
        }
        checked += 1;
    }
    println!("Wycheproof JWS: {checked} invalid cases checked, refused as {refusals:?}");
    assert!(accepted.is_empty(), "accepted invalid cases: {accepted:?}");
    assert_eq!(checked, invalid_in_file);
    assert!(checked >= 300, "suspiciously few invalid cases: {checked}");
    Ok(())
}

#[test]
fn valid_json_web_signatures_of_other_algorithms_are_refused_too() -> TestResult {
    let vectors = load_vectors("json_web_signature_test.json")?;
    let dir = tempfile::tempdir()?;
    let keys = SigningKeys::load_or_create(dir.path())?;
    let cfg = TokenConfig::new("https://shop.example", "ironcart-api");
    let mut checked = 0;
    for (_, case) in all_cases(&vectors)?
        .into_iter()
        .filter(|(_, case)| case["result"] == "valid")
    {
        let jws = case["jws"]
            .as_str()
            .map_or_else(|| case["jws"].to_string(), str::to_owned);
        let result = keys.verify_access_token(&cfg, &jws, 1_700_000_000);
        assert!(result.is_err(), "tcId {} accepted", case["tcId"]);
        checked += 1;
    }
    println!("Wycheproof JWS: {checked} valid foreign-key cases refused");
    assert!(checked > 0);
    Ok(())
}

fn hex(text: &str) -> Result<Vec<u8>, String> {
    text.as_bytes()
        .chunks(2)
        .map(|pair| {
            let digits = std::str::from_utf8(pair).map_err(|e| e.to_string())?;
            if digits.len() != 2 {
                return Err(format!("odd-length hex: {text}"));
            }
            u8::from_str_radix(digits, 16).map_err(|e| format!("{text}: {e}"))
        })
        .collect()
}

fn hex_field(value: &Value) -> Result<Vec<u8>, String> {
    hex(value.as_str().ok_or("hex field is not a string")?)
}

#[test]
fn ed25519_vectors_agree_with_the_strict_verifier() -> TestResult {
    let vectors = load_vectors("ed25519_test.json")?;
    let mut disagreements = Vec::new();
    let (mut valid, mut invalid) = (0, 0);
    for (group, case) in all_cases(&vectors)? {
        let public_key = hex_field(&group["publicKey"]["pk"])?;
        let message = hex_field(&case["msg"])?;
        let signature = hex_field(&case["sig"])?;
        let accepted = ed25519_signature_is_valid(&public_key, &message, &signature);
        let expected = match case["result"].as_str() {
            Some("valid") => {
                valid += 1;
                true
            }
            Some("invalid") => {
                invalid += 1;
                false
            }
            other => return Err(format!("unexpected result {other:?}").into()),
        };
        if accepted != expected {
            disagreements.push((case["tcId"].clone(), case["comment"].clone()));
        }
    }
    println!("Wycheproof Ed25519: {valid} valid and {invalid} invalid cases checked");
    assert!(disagreements.is_empty(), "disagreements: {disagreements:?}");
    assert!(valid > 0 && invalid > 0);
    Ok(())
}
