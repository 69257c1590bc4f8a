//! Access tokens: the happy path, then one test per known attack on JWT
//! verifiers. Every refusal is checked for its kind, and for not echoing the
//! token in its message.

use std::mem::discriminant;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use ed25519_dalek::pkcs8::EncodePublicKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::{Signer as _, SigningKey};
use hmac::{Hmac, Mac};
use ironcart_security::tokens::MAX_TOKEN_BYTES;
use ironcart_security::{SigningKeys, TokenConfig, TokenError, new_refresh_token};
use serde_json::{Value, json};
use sha2::Sha256;
use tempfile::TempDir;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const NOW: i64 = 1_700_000_000;
const ISSUER: &str = "https://shop.example";
const AUDIENCE: &str = "ironcart-api";

/// A key ring in a temporary directory, plus our own private key read back
/// from disk so tests can sign tokens whose claims the issuer never would.
struct Fixture {
    _dir: TempDir,
    keys: SigningKeys,
    our_key: SigningKey,
    cfg: TokenConfig,
}

impl Fixture {
    fn new() -> Result<Self, Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let keys = SigningKeys::load_or_create(dir.path())?;
        let pem = std::fs::read_to_string(dir.path().join("signing-000001.pem"))?;
        Ok(Self {
            our_key: SigningKey::from_pkcs8_pem(&pem)?,
            keys,
            _dir: dir,
            cfg: TokenConfig::new(ISSUER, AUDIENCE),
        })
    }

    fn kid(&self) -> String {
        self.keys.signing_kid().to_owned()
    }

    fn header(&self) -> Value {
        json!({"alg": "EdDSA", "typ": "at+jwt", "kid": self.kid()})
    }

    fn verify(&self, token: &str) -> Result<ironcart_security::AccessClaims, TokenError> {
        self.keys.verify_access_token(&self.cfg, token, NOW)
    }

    /// Asserts `token` is refused with an error of `expected`'s kind (the
    /// detail text of `expected` is ignored), and that the error's message
    /// does not echo the token.
    fn assert_refused(&self, token: &str, expected: TokenError, case: &str) {
        let result = self.verify(token);
        assert!(
            matches!(&result, Err(error) if discriminant(error) == discriminant(&expected)),
            "{case}: got {result:?}, expected {expected:?}"
        );
        if let Err(error) = result {
            let message = error.to_string();
            assert!(
                token.len() < 8 || !message.contains(token),
                "{case}: message echoes the token"
            );
        }
    }
}

fn claims(now: i64) -> Value {
    json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "customer-42", "sid": "session-7",
        "iat": now, "nbf": now, "exp": now + 900,
        "jti": "0b6f3b59-8d1e-4a39-9a53-6a3c2f0b3b11",
    })
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn signing_input(header: &str, payload: &str) -> String {
    format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()))
}

/// A compact JWS over raw header and payload text, signed with `key`.
fn signed_raw(header: &str, payload: &str, key: &SigningKey) -> String {
    let input = signing_input(header, payload);
    let signature = key.sign(input.as_bytes());
    format!("{input}.{}", b64(&signature.to_bytes()))
}

fn signed(header: &Value, payload: &Value, key: &SigningKey) -> String {
    signed_raw(&header.to_string(), &payload.to_string(), key)
}

fn hs256(
    header: &Value,
    payload: &Value,
    secret: &[u8],
) -> Result<String, hmac::digest::InvalidLength> {
    let input = signing_input(&header.to_string(), &payload.to_string());
    let mut mac = Hmac::<Sha256>::new_from_slice(secret)?;
    mac.update(input.as_bytes());
    Ok(format!("{input}.{}", b64(&mac.finalize().into_bytes())))
}

fn attacker_key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

// ------------------------------------------------------------ happy path ----

#[test]
fn issued_token_verifies_with_all_claims() -> TestResult {
    let fx = Fixture::new()?;
    let issued = fx
        .keys
        .issue_access_token(&fx.cfg, "customer-42", "session-7", NOW)?;
    assert_eq!(issued.expires_in, 900);
    let token = issued.token.expose_secret();

    let claims = fx.verify(token)?;
    assert_eq!(claims.iss, ISSUER);
    assert_eq!(claims.aud, AUDIENCE);
    assert_eq!(claims.sub, "customer-42");
    assert_eq!(claims.sid, "session-7");
    assert_eq!(claims.iat, NOW);
    assert_eq!(claims.nbf, NOW);
    assert_eq!(claims.exp, NOW + 900);
    assert_eq!(claims.jti, issued.jti);
    let jti = uuid::Uuid::parse_str(&claims.jti)?;
    assert_eq!(jti.get_version(), Some(uuid::Version::Random));

    let header_segment = token.split('.').next().unwrap_or_default();
    let header = String::from_utf8(URL_SAFE_NO_PAD.decode(header_segment)?)?;
    assert_eq!(
        header,
        format!(r#"{{"alg":"EdDSA","typ":"at+jwt","kid":"{}"}}"#, fx.kid())
    );
    Ok(())
}

#[test]
fn every_token_gets_a_fresh_jti() -> TestResult {
    let fx = Fixture::new()?;
    let first = fx.keys.issue_access_token(&fx.cfg, "c", "s", NOW)?;
    let second = fx.keys.issue_access_token(&fx.cfg, "c", "s", NOW)?;
    assert_ne!(first.jti, second.jti);
    Ok(())
}

#[test]
fn issued_token_debug_hides_the_token() -> TestResult {
    let fx = Fixture::new()?;
    let issued = fx.keys.issue_access_token(&fx.cfg, "c", "s", NOW)?;
    let shown = format!("{issued:?}");
    let signature = issued
        .token
        .expose_secret()
        .rsplit('.')
        .next()
        .unwrap_or("?");
    assert!(!shown.contains(signature), "{shown}");
    assert!(shown.contains("[REDACTED]"), "{shown}");
    Ok(())
}

#[test]
fn an_independent_jose_library_accepts_our_tokens() -> TestResult {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
    let fx = Fixture::new()?;
    let issued = fx
        .keys
        .issue_access_token(&fx.cfg, "customer-42", "session-7", NOW)?;
    let jwks = fx.keys.jwks();
    let x = jwks["keys"][0]["x"].as_str().unwrap_or_default();

    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    validation.validate_exp = false; // NOW is in the past for its clock
    let decoded = decode::<Value>(
        issued.token.expose_secret(),
        &DecodingKey::from_ed_components(x)?,
        &validation,
    )?;
    assert_eq!(decoded.header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(decoded.header.kid.as_deref(), Some(fx.kid().as_str()));
    assert_eq!(decoded.claims["sub"], "customer-42");
    assert_eq!(decoded.claims["exp"], NOW + 900);
    Ok(())
}

#[test]
fn audience_array_containing_ours_is_accepted() -> TestResult {
    let fx = Fixture::new()?;
    let mut payload = claims(NOW);
    payload["aud"] = json!(["billing", AUDIENCE]);
    let claims = fx.verify(&signed(&fx.header(), &payload, &fx.our_key))?;
    assert_eq!(claims.aud, AUDIENCE);
    Ok(())
}

#[test]
fn leeway_applies_at_the_edges() -> TestResult {
    let fx = Fixture::new()?;
    let issued = fx.keys.issue_access_token(&fx.cfg, "c", "s", NOW)?;
    let token = issued.token.expose_secret();
    let verify_at = |now| fx.keys.verify_access_token(&fx.cfg, token, now);
    assert!(verify_at(NOW + 900 + 29).is_ok());
    assert_eq!(verify_at(NOW + 900 + 30), Err(TokenError::Expired));
    assert!(verify_at(NOW - 30).is_ok());
    assert_eq!(verify_at(NOW - 31), Err(TokenError::NotYetValid));
    Ok(())
}

// --------------------------------------------------------------- attacks ----

#[test]
fn alg_none_in_any_case_is_refused_with_or_without_signature() -> TestResult {
    let fx = Fixture::new()?;
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = json!({"alg": alg, "typ": "at+jwt", "kid": fx.kid()}).to_string();
        let input = signing_input(&header, &claims(NOW).to_string());
        let real_signature = b64(&fx.our_key.sign(input.as_bytes()).to_bytes());
        for signature in ["", "AAAA", real_signature.as_str()] {
            fx.assert_refused(
                &format!("{input}.{signature}"),
                TokenError::Algorithm(""),
                &format!("alg {alg} with signature {signature:?}"),
            );
        }
        fx.assert_refused(&input, TokenError::Malformed(""), "alg none, two segments");
    }
    Ok(())
}

#[test]
fn stripped_signatures_are_refused() -> TestResult {
    let fx = Fixture::new()?;
    let issued = fx.keys.issue_access_token(&fx.cfg, "c", "s", NOW)?;
    let token = issued.token.expose_secret();
    let input = &token[..token.rfind('.').unwrap_or(0)];
    fx.assert_refused(input, TokenError::Malformed(""), "two segments");
    fx.assert_refused(
        &format!("{input}."),
        TokenError::Signature,
        "empty third segment",
    );
    Ok(())
}

#[test]
fn hmac_keyed_with_our_public_key_is_refused() -> TestResult {
    let fx = Fixture::new()?;
    let public = fx.our_key.verifying_key();
    let x = b64(public.as_bytes());
    let jwks = fx.keys.jwks().to_string();
    let pem = public.to_public_key_pem(LineEnding::LF)?;
    let secrets: [(&str, &[u8]); 4] = [
        ("raw public key", public.as_bytes()),
        ("base64url x", x.as_bytes()),
        ("JWKS JSON", jwks.as_bytes()),
        ("SPKI PEM", pem.as_bytes()),
    ];
    for alg in ["HS256", "hs256"] {
        let header = json!({"alg": alg, "typ": "at+jwt", "kid": fx.kid()});
        for (name, secret) in secrets {
            let token = hs256(&header, &claims(NOW), secret)?;
            fx.assert_refused(
                &token,
                TokenError::Algorithm(""),
                &format!("{alg} keyed with {name}"),
            );
        }
    }
    Ok(())
}

#[test]
fn other_algorithms_are_refused_before_the_signature_is_read() -> TestResult {
    let fx = Fixture::new()?;
    for alg in [
        "HS384", "HS512", "RS256", "RS512", "ES256", "ES256K", "PS256", "EdDSA ", "eddsa",
        "Ed25519", "Ed448", "",
    ] {
        let header = json!({"alg": alg, "typ": "at+jwt", "kid": fx.kid()});
        let token = signed(&header, &claims(NOW), &fx.our_key);
        fx.assert_refused(&token, TokenError::Algorithm(""), alg);
    }
    let no_alg = json!({"typ": "at+jwt", "kid": fx.kid()});
    fx.assert_refused(
        &signed(&no_alg, &claims(NOW), &fx.our_key),
        TokenError::Algorithm(""),
        "no alg",
    );
    let array_alg = json!({"alg": ["EdDSA"], "typ": "at+jwt", "kid": fx.kid()});
    fx.assert_refused(
        &signed(&array_alg, &claims(NOW), &fx.our_key),
        TokenError::Algorithm(""),
        "alg array",
    );
    Ok(())
}

#[test]
fn embedded_jwk_signed_by_the_attacker_is_refused() -> TestResult {
    let fx = Fixture::new()?;
    let attacker = attacker_key();
    let attacker_jwk = json!({
        "kty": "OKP", "crv": "Ed25519", "x": b64(attacker.verifying_key().as_bytes()),
    });
    for kid in [json!(fx.kid()), json!("attacker"), Value::Null] {
        let mut header = json!({"alg": "EdDSA", "typ": "at+jwt", "jwk": attacker_jwk});
        if !kid.is_null() {
            header["kid"] = kid.clone();
        }
        let token = signed(&header, &claims(NOW), &attacker);
        fx.assert_refused(
            &token,
            TokenError::Header(""),
            &format!("jwk with kid {kid}"),
        );
    }
    Ok(())
}

#[test]
fn key_location_and_extension_headers_are_refused_even_when_validly_signed() -> TestResult {
    let fx = Fixture::new()?;
    let extras = [
        ("jku", json!("https://attacker.example/jwks.json")),
        ("x5u", json!("https://attacker.example/cert.pem")),
        ("x5c", json!(["MIIBszCCAVmgAwIBAgIUU"])),
        ("x5t", json!("dGh1bWJwcmludA")),
        ("x5t#S256", json!("dGh1bWJwcmludA")),
        ("crit", json!(["exp"])),
        ("b64", json!(false)),
        ("cty", json!("JWT")),
        ("zip", json!("DEF")),
        ("enc", json!("A128GCM")),
        ("nonce", json!("x")),
    ];
    for (name, value) in extras {
        let mut header = fx.header();
        header[name] = value;
        let token = signed(&header, &claims(NOW), &fx.our_key);
        fx.assert_refused(&token, TokenError::Header(""), name);
    }
    Ok(())
}

#[test]
fn unknown_missing_or_odd_kids_are_refused() -> TestResult {
    let fx = Fixture::new()?;
    let attacker = attacker_key();
    let unknown = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "attacker-key-1"});
    fx.assert_refused(
        &signed(&unknown, &claims(NOW), &attacker),
        TokenError::UnknownKey,
        "unknown kid",
    );
    let empty = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": ""});
    fx.assert_refused(
        &signed(&empty, &claims(NOW), &fx.our_key),
        TokenError::UnknownKey,
        "empty kid",
    );
    let missing = json!({"alg": "EdDSA", "typ": "at+jwt"});
    fx.assert_refused(
        &signed(&missing, &claims(NOW), &fx.our_key),
        TokenError::Header(""),
        "no kid",
    );
    let number = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": 1});
    fx.assert_refused(
        &signed(&number, &claims(NOW), &fx.our_key),
        TokenError::Header(""),
        "kid number",
    );
    let path = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "../../signing-000001.pem"});
    fx.assert_refused(
        &signed(&path, &claims(NOW), &fx.our_key),
        TokenError::UnknownKey,
        "kid path",
    );
    Ok(())
}

#[test]
fn another_key_claiming_our_kid_is_refused() -> TestResult {
    let fx = Fixture::new()?;
    let token = signed(&fx.header(), &claims(NOW), &attacker_key());
    fx.assert_refused(&token, TokenError::Signature, "foreign key, our kid");
    Ok(())
}

#[test]
fn every_flipped_signature_bit_is_refused() -> TestResult {
    let fx = Fixture::new()?;
    let input = signing_input(&fx.header().to_string(), &claims(NOW).to_string());
    let signature = fx.our_key.sign(input.as_bytes()).to_bytes();
    fx.verify(&format!("{input}.{}", b64(&signature)))?;
    for byte in 0..signature.len() {
        for bit in 0..8 {
            let mut tampered = signature;
            tampered[byte] ^= 1 << bit;
            fx.assert_refused(
                &format!("{input}.{}", b64(&tampered)),
                TokenError::Signature,
                &format!("byte {byte} bit {bit}"),
            );
        }
    }
    Ok(())
}

#[test]
fn signatures_of_the_wrong_length_are_refused() -> TestResult {
    let fx = Fixture::new()?;
    let input = signing_input(&fx.header().to_string(), &claims(NOW).to_string());
    let signature = fx.our_key.sign(input.as_bytes()).to_bytes();
    let mut longer = signature.to_vec();
    longer.push(0);
    for wrong in [
        &signature[..63],
        &longer[..],
        &[0u8; 32][..],
        &[0u8; 64][..],
    ] {
        let token = format!("{input}.{}", b64(wrong));
        fx.assert_refused(
            &token,
            TokenError::Signature,
            &format!("{} bytes", wrong.len()),
        );
    }
    Ok(())
}

#[test]
fn any_single_character_change_is_refused() -> TestResult {
    let fx = Fixture::new()?;
    let issued = fx
        .keys
        .issue_access_token(&fx.cfg, "customer-42", "session-7", NOW)?;
    let token = issued.token.expose_secret().to_owned();
    let mut checked = 0;
    for (index, original) in token.char_indices() {
        for replacement in ['A', 'B', '_', '-', '.', '='] {
            if replacement == original {
                continue;
            }
            let mut mutated = token.clone();
            mutated.replace_range(index..index + 1, &replacement.to_string());
            let result = fx.verify(&mutated);
            assert!(
                result.is_err(),
                "position {index}: {original} -> {replacement} accepted"
            );
            checked += 1;
        }
    }
    assert!(checked >= 5 * token.len(), "{checked}");
    Ok(())
}

#[test]
fn claims_modified_after_signing_are_refused() -> TestResult {
    let fx = Fixture::new()?;
    let issued = fx
        .keys
        .issue_access_token(&fx.cfg, "customer-42", "session-7", NOW)?;
    let token = issued.token.expose_secret();
    let segments: Vec<&str> = token.split('.').collect();
    let mut payload: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segments[1])?)?;
    for (claim, value) in [
        ("sub", json!("customer-1")),
        ("exp", json!(NOW + 86_400)),
        ("sid", json!("session-8")),
    ] {
        let original = payload[claim].clone();
        payload[claim] = value;
        let forged = format!(
            "{}.{}.{}",
            segments[0],
            b64(payload.to_string().as_bytes()),
            segments[2]
        );
        fx.assert_refused(&forged, TokenError::Signature, claim);
        payload[claim] = original;
    }
    Ok(())
}

#[test]
fn expired_tokens_are_refused() -> TestResult {
    let fx = Fixture::new()?;
    let old = fx.keys.issue_access_token(&fx.cfg, "c", "s", NOW - 1_000)?;
    fx.assert_refused(old.token.expose_secret(), TokenError::Expired, "expired");
    Ok(())
}

#[test]
fn tokens_not_yet_valid_are_refused() -> TestResult {
    let fx = Fixture::new()?;
    let future = fx.keys.issue_access_token(&fx.cfg, "c", "s", NOW + 1_000)?;
    fx.assert_refused(
        future.token.expose_secret(),
        TokenError::NotYetValid,
        "issued in the future",
    );
    let mut payload = claims(NOW);
    payload["nbf"] = json!(NOW + 60);
    fx.assert_refused(
        &signed(&fx.header(), &payload, &fx.our_key),
        TokenError::NotYetValid,
        "nbf ahead",
    );
    Ok(())
}

#[test]
fn iat_in_the_future_is_refused() -> TestResult {
    let fx = Fixture::new()?;
    let mut payload = claims(NOW);
    payload["iat"] = json!(NOW + 31);
    fx.assert_refused(
        &signed(&fx.header(), &payload, &fx.our_key),
        TokenError::Claims(""),
        "iat ahead",
    );
    payload["iat"] = json!(NOW + 30);
    fx.verify(&signed(&fx.header(), &payload, &fx.our_key))?;
    Ok(())
}

#[test]
fn wrong_audience_or_issuer_is_refused() -> TestResult {
    let fx = Fixture::new()?;
    let other_audience = TokenConfig::new(ISSUER, "admin-api");
    let token = fx.keys.issue_access_token(&other_audience, "c", "s", NOW)?;
    fx.assert_refused(
        token.token.expose_secret(),
        TokenError::Claims(""),
        "aud admin-api",
    );

    let other_issuer = TokenConfig::new("https://evil.example", AUDIENCE);
    let token = fx.keys.issue_access_token(&other_issuer, "c", "s", NOW)?;
    fx.assert_refused(
        token.token.expose_secret(),
        TokenError::Claims(""),
        "iss evil",
    );

    for aud in [
        json!(["billing"]),
        json!([]),
        json!("ironcart-api "),
        json!(null),
        json!(7),
    ] {
        let mut payload = claims(NOW);
        payload["aud"] = aud.clone();
        fx.assert_refused(
            &signed(&fx.header(), &payload, &fx.our_key),
            TokenError::Claims(""),
            &aud.to_string(),
        );
    }
    Ok(())
}

#[test]
fn wrong_token_types_are_refused() -> TestResult {
    let fx = Fixture::new()?;
    for typ in [
        json!("JWT"),
        json!("jwt"),
        json!("rt+jwt"),
        json!("at+jwt; v=2"),
        json!(null),
    ] {
        let mut header = fx.header();
        header["typ"] = typ.clone();
        fx.assert_refused(
            &signed(&header, &claims(NOW), &fx.our_key),
            TokenError::Header(""),
            &typ.to_string(),
        );
    }
    let untyped = json!({"alg": "EdDSA", "kid": fx.kid()});
    fx.assert_refused(
        &signed(&untyped, &claims(NOW), &fx.our_key),
        TokenError::Header(""),
        "no typ",
    );

    let (refresh, _hash) = new_refresh_token()?;
    fx.assert_refused(
        refresh.expose_secret(),
        TokenError::Malformed(""),
        "refresh token",
    );
    Ok(())
}

#[test]
fn missing_empty_unknown_or_duplicate_claims_are_refused() -> TestResult {
    let fx = Fixture::new()?;
    for claim in ["iss", "aud", "sub", "sid", "iat", "nbf", "exp", "jti"] {
        let mut payload = claims(NOW);
        if let Some(members) = payload.as_object_mut() {
            members.remove(claim);
        }
        fx.assert_refused(
            &signed(&fx.header(), &payload, &fx.our_key),
            TokenError::Claims(""),
            claim,
        );
    }
    for claim in ["sub", "sid", "jti"] {
        let mut payload = claims(NOW);
        payload[claim] = json!("");
        fx.assert_refused(
            &signed(&fx.header(), &payload, &fx.our_key),
            TokenError::Claims(""),
            claim,
        );
    }
    let mut payload = claims(NOW);
    payload["role"] = json!("admin");
    fx.assert_refused(
        &signed(&fx.header(), &payload, &fx.our_key),
        TokenError::Claims(""),
        "extra claim",
    );
    let mut payload = claims(NOW);
    payload["exp"] = json!("9999999999");
    fx.assert_refused(
        &signed(&fx.header(), &payload, &fx.our_key),
        TokenError::Claims(""),
        "exp string",
    );

    let body = claims(NOW).to_string();
    let duplicated = body.replacen(
        "\"sub\":\"customer-42\"",
        "\"sub\":\"customer-42\",\"sub\":\"customer-1\"",
        1,
    );
    assert_ne!(body, duplicated);
    let header = fx.header().to_string();
    fx.assert_refused(
        &signed_raw(&header, &duplicated, &fx.our_key),
        TokenError::Claims(""),
        "duplicate sub",
    );
    fx.assert_refused(
        &signed_raw(&header, "[1,2]", &fx.our_key),
        TokenError::Claims(""),
        "array payload",
    );
    fx.assert_refused(
        &signed_raw(&header, "", &fx.our_key),
        TokenError::Claims(""),
        "empty payload",
    );
    Ok(())
}

#[test]
fn duplicate_header_members_are_refused() -> TestResult {
    let fx = Fixture::new()?;
    let kid = fx.kid();
    let payload = claims(NOW).to_string();
    for header in [
        format!(r#"{{"alg":"none","alg":"EdDSA","typ":"at+jwt","kid":"{kid}"}}"#),
        format!(r#"{{"alg":"EdDSA","alg":"EdDSA","typ":"at+jwt","kid":"{kid}"}}"#),
        format!(r#"{{"alg":"EdDSA","typ":"at+jwt","kid":"{kid}","kid":"{kid}"}}"#),
    ] {
        fx.assert_refused(
            &signed_raw(&header, &payload, &fx.our_key),
            TokenError::Malformed(""),
            &header,
        );
    }
    Ok(())
}

#[test]
fn oversized_tokens_are_refused_before_parsing() -> TestResult {
    let fx = Fixture::new()?;
    let mut payload = claims(NOW);
    payload["sub"] = json!("x".repeat(MAX_TOKEN_BYTES));
    let token = signed(&fx.header(), &payload, &fx.our_key);
    assert!(token.len() > MAX_TOKEN_BYTES);
    fx.assert_refused(&token, TokenError::Malformed(""), "validly signed but huge");
    fx.assert_refused(
        &"a".repeat(1 << 20),
        TokenError::Malformed(""),
        "1 MiB of a",
    );

    let long_sub = "x".repeat(MAX_TOKEN_BYTES);
    assert!(
        fx.keys
            .issue_access_token(&fx.cfg, &long_sub, "s", NOW)
            .is_err()
    );
    Ok(())
}

#[test]
fn garbage_is_refused_as_malformed() -> TestResult {
    let fx = Fixture::new()?;
    let kid = fx.kid();
    let good_header = b64(fx.header().to_string().as_bytes());
    let garbage = [
        String::new(),
        ".".into(),
        "..".into(),
        "...".into(),
        "a.b.c".into(),
        "Bearer x.y.z".into(),
        "\u{1f980}.\u{1f980}.\u{1f980}".into(),
        "\0.\0.\0".into(),
        format!("{good_header}=.e30.AAAA"),
        format!("{}.e30.AAAA", b64(b"not json")),
        format!("{}.e30.AAAA", b64(b"[\"EdDSA\"]")),
        format!("{}.e30.AAAA", b64(&[0xff, 0xfe, 0x7b, 0x7d])),
        format!(
            "{}.e30.AAAA",
            b64(format!(r#"{{"alg":"EdDSA","typ":"at+jwt","kid":"{kid}""#).as_bytes())
        ),
        format!("{good_header}.e30.!!!!"),
        format!("{good_header}.e3=.AAAA"),
        format!("{good_header}.e30.AAAA.AAAA"),
        format!(" {good_header}.e30.AAAA"),
        format!(
            "{}.e30.AAAA",
            URL_SAFE_NO_PAD
                .encode(b"{\"alg\":\"EdDSA\"}")
                .replace('e', "+")
        ),
    ];
    for token in garbage {
        fx.assert_refused(&token, TokenError::Malformed(""), &format!("{token:?}"));
    }
    Ok(())
}
