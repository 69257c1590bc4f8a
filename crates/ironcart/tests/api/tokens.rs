//! Access tokens under attack, at the HTTP layer: every classic JWT forgery
//! against `GET /api/v1/me`, each of which must end in a 401 problem with
//! `WWW-Authenticate: Bearer` and an `auth.token_rejected` security event.
//!
//! Most forgeries reuse the claims of a genuine, live token, so the only thing
//! wrong with them is the one property under test. Where a check sits behind the
//! signature (claims, `typ`, header members), the token is signed with the
//! server's real key, read back from its key file, so that check alone decides.
//! One test proves the forging helpers themselves produce tokens the server
//! accepts when nothing is wrong.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::pkcs8::DecodePrivateKey;
use ed25519_dalek::{Signer as _, SigningKey};
use hmac::{Hmac, Mac};
use ironcart_security::{SigningKeys, TokenConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::common::{PASSWORD, Session, TestApp, assert_problem, jwt_segment};

/// A signed-in customer whose genuine token the forgeries start from.
struct Victim {
    app: TestApp,
    user_id: String,
    session: Session,
    kid: String,
    claims: Value,
    server_key: SigningKey,
}

async fn victim() -> Victim {
    let app = TestApp::spawn().await;
    let email = format!("victim-{}@example.com", uuid::Uuid::new_v4().simple());
    let (user_id, session) = app.sign_up(&email, PASSWORD).await;
    let kid = jwt_segment(&session.access, 0)["kid"]
        .as_str()
        .expect("kid")
        .to_owned();
    let claims = jwt_segment(&session.access, 1);
    let server_key = server_signing_key(&app);
    Victim {
        app,
        user_id,
        session,
        kid,
        claims,
        server_key,
    }
}

impl Victim {
    /// The header the server issues.
    fn header(&self) -> Value {
        json!({ "alg": "EdDSA", "typ": "at+jwt", "kid": self.kid })
    }

    /// The genuine claims with some members replaced (or removed when `null`).
    fn claims_with(&self, changes: Value) -> Value {
        let mut claims = self.claims.clone();
        for (name, value) in changes.as_object().expect("object of changes") {
            if value.is_null() {
                claims.as_object_mut().expect("claims").remove(name);
            } else {
                claims[name] = value.clone();
            }
        }
        claims
    }

    /// Signs `header` and `claims` with the server's own key.
    fn signed_by_server(&self, header: &Value, claims: &Value) -> String {
        compact(header, claims, |input| {
            self.server_key.sign(input).to_bytes().to_vec()
        })
    }

    /// The `x` of the published signing key, decoded.
    async fn published_x(&self) -> (String, Vec<u8>) {
        let jwks: Value = self
            .app
            .get("/.well-known/jwks.json", None)
            .await
            .json()
            .await
            .expect("jwks");
        let x = jwks["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .find(|key| key["kid"] == self.kid.as_str())
            .and_then(|key| key["x"].as_str())
            .expect("signing key is published")
            .to_owned();
        let bytes = URL_SAFE_NO_PAD.decode(&x).expect("x");
        (x, bytes)
    }
}

/// The server's private signing key, as written in its data directory.
fn server_signing_key(app: &TestApp) -> SigningKey {
    let path = app.data_dir.path().join("keys/signing/signing-000001.pem");
    let pem = std::fs::read_to_string(&path).expect("server key file");
    SigningKey::from_pkcs8_pem(&pem).expect("PKCS#8 Ed25519 key")
}

fn attacker_key() -> SigningKey {
    SigningKey::from_bytes(&rand::random::<[u8; 32]>())
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn b64_json(value: &Value) -> String {
    b64(value.to_string().as_bytes())
}

/// A compact JWS of `header` and `claims`, signed by `sign` over the signing input.
fn compact(header: &Value, claims: &Value, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let input = format!("{}.{}", b64_json(header), b64_json(claims));
    let signature = sign(input.as_bytes());
    format!("{input}.{}", b64(&signature))
}

fn signed_by(key: &SigningKey) -> impl FnOnce(&[u8]) -> Vec<u8> + '_ {
    move |input| key.sign(input).to_bytes().to_vec()
}

/// The public JWK of `key` and its RFC 7638 thumbprint, as an attacker would
/// publish them.
fn attacker_jwk(key: &SigningKey) -> (Value, String) {
    let x = b64(key.verifying_key().as_bytes());
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    let thumbprint = b64(&Sha256::digest(canonical.as_bytes()));
    let jwk = json!({ "kty": "OKP", "crv": "Ed25519", "x": x, "kid": thumbprint });
    (jwk, thumbprint)
}

fn hmac_signature(algorithm: &str, key: &[u8], input: &[u8]) -> Vec<u8> {
    match algorithm {
        "HS256" => {
            let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("hmac key");
            mac.update(input);
            mac.finalize().into_bytes().to_vec()
        }
        "HS384" => {
            let mut mac = Hmac::<Sha384>::new_from_slice(key).expect("hmac key");
            mac.update(input);
            mac.finalize().into_bytes().to_vec()
        }
        _ => {
            let mut mac = Hmac::<Sha512>::new_from_slice(key).expect("hmac key");
            mac.update(input);
            mac.finalize().into_bytes().to_vec()
        }
    }
}

async fn rejections(app: &TestApp) -> Vec<Value> {
    app.audit_events("auth.token_rejected").await
}

/// Sends `GET /api/v1/me` with this raw `Authorization` value and asserts the
/// refusal: 401, `WWW-Authenticate: Bearer`, an unauthenticated problem that does
/// not echo the credential, and exactly one new `auth.token_rejected` event with
/// `reason`.
async fn assert_refused(app: &TestApp, label: &str, authorization: &str, reason: &str) {
    let with_reason = |events: &[Value]| {
        events
            .iter()
            .filter(|event| event["details"]["reason"] == reason)
            .count()
    };
    let before = rejections(app).await;
    let response = app
        .client
        .get(app.url("/api/v1/me"))
        .header("authorization", authorization)
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{label}");
    let header = |name: &str| response.headers().get(name).map(|v| v.as_bytes().to_vec());
    assert_eq!(
        header("www-authenticate"),
        Some(b"Bearer".to_vec()),
        "{label}"
    );
    assert_eq!(
        header("content-type"),
        Some(b"application/problem+json".to_vec()),
        "{label}"
    );
    let text = response.text().await.expect("body");
    let body: Value = serde_json::from_str(&text).expect("problem json");
    assert_eq!(body["type"], "/problems/unauthenticated", "{label}");
    let credential = authorization.split(' ').nth(1).unwrap_or_default();
    assert!(
        credential.len() < 8 || !text.contains(credential),
        "{label}: the refusal echoes the credential"
    );

    let after = rejections(app).await;
    assert_eq!(after.len(), before.len() + 1, "{label}: one security event");
    assert_eq!(
        with_reason(&after),
        with_reason(&before) + 1,
        "{label}: expected reason {reason}, events {after:?}"
    );
}

async fn assert_bearer_refused(app: &TestApp, label: &str, token: &str, reason: &str) {
    assert_refused(app, label, &format!("Bearer {token}"), reason).await;
}

// ---------------------------------------------------------------- the control

#[tokio::test]
async fn forged_tokens_with_the_real_key_and_true_claims_are_accepted() {
    let victim = victim().await;
    let app = &victim.app;
    assert_eq!(app.me_status(&victim.session.access).await, StatusCode::OK);

    // The forging helpers are sound: what they make from the genuine header and
    // claims with the server's key passes, so every refusal below is due to the
    // one thing each forgery changes.
    let fresh_jti = json!({ "jti": uuid::Uuid::new_v4().to_string() });
    let forged = victim.signed_by_server(&victim.header(), &victim.claims_with(fresh_jti));
    assert_ne!(forged, victim.session.access);
    assert_eq!(app.me_status(&forged).await, StatusCode::OK);

    // Likewise a token issued through the key ring with the server's own config.
    let keys = SigningKeys::load(&app.data_dir.path().join("keys/signing")).expect("key ring");
    let issued = keys
        .issue_access_token(
            &app.state.token_config,
            &victim.user_id,
            victim.claims["sid"].as_str().expect("sid"),
            app.state.now(),
        )
        .expect("issue");
    assert_eq!(
        app.me_status(issued.token.expose_secret()).await,
        StatusCode::OK
    );
    assert!(rejections(app).await.is_empty());
}

// ---------------------------------------------------------------- the credential's shape

#[tokio::test]
async fn requests_without_a_bearer_token_are_refused() {
    let victim = victim().await;
    let app = &victim.app;

    // No credential: anonymous, not an attack, so no security event.
    let response = app.get("/api/v1/me", None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert!(rejections(app).await.is_empty());

    let basic = format!("Basic {}", STANDARD.encode(format!("victim:{PASSWORD}")));
    let token = &victim.session.access;
    for (label, authorization) in [
        ("basic credentials", basic),
        ("bearer scheme without a token", "Bearer".to_owned()),
        ("bearer with blanks only", "Bearer    ".to_owned()),
        (
            "a valid token under another scheme",
            format!("Token {token}"),
        ),
        ("a valid token without a scheme", token.clone()),
    ] {
        assert_refused(app, label, &authorization, "malformed_authorization").await;
    }
    // None of the above disturbed the genuine token.
    assert_eq!(app.me_status(token).await, StatusCode::OK);
}

#[tokio::test]
async fn refresh_tokens_are_not_access_tokens_and_vice_versa() {
    let victim = victim().await;
    let app = &victim.app;

    let refresh = &victim.session.refresh;
    assert_bearer_refused(
        app,
        "refresh token as bearer",
        refresh,
        "invalid_access_token",
    )
    .await;
    assert_bearer_refused(app, "garbage", "not.a.token", "invalid_access_token").await;

    // An access token is no refresh token. It is refused as malformed (422)
    // before any lookup, being longer than any refresh token can be; a refresh
    // token of the right shape that the server never issued is a 401. Neither
    // answer issues anything or echoes the token.
    let response = app.refresh(&victim.session.access).await;
    let body = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["errors"][0]["field"], "refresh_token", "{body}");
    assert_eq!(body["errors"][0]["code"], "invalid", "{body}");
    assert!(!body.to_string().contains(&victim.session.access));
    let never_issued = format!("rt_{}", b64(&[7u8; 32]));
    assert_eq!(never_issued.len(), refresh.len());
    let response = app.refresh(&never_issued).await;
    let body = assert_problem(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!(body["type"], "/problems/invalid-credentials");

    // The session itself is unharmed by either attempt.
    assert_eq!(app.me_status(&victim.session.access).await, StatusCode::OK);
    assert_eq!(app.refresh(refresh).await.status(), StatusCode::OK);
}

// ---------------------------------------------------------------- algorithm attacks

#[tokio::test]
async fn alg_none_is_refused_in_every_spelling() {
    let victim = victim().await;
    let app = &victim.app;
    let genuine_signature = victim.session.access.rsplit('.').next().expect("signature");

    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = json!({ "alg": alg, "typ": "at+jwt", "kid": victim.kid });
        let unsigned = format!("{}.{}", b64_json(&header), b64_json(&victim.claims));
        for (how, signature) in [
            ("no signature", ""),
            ("the genuine signature", genuine_signature),
            ("a junk signature", "AAAA"),
        ] {
            let token = format!("{unsigned}.{signature}");
            assert_bearer_refused(
                app,
                &format!("alg {alg}, {how}"),
                &token,
                "invalid_access_token",
            )
            .await;
        }
    }
    let bare = format!(
        "{}.{}.",
        b64_json(&json!({ "alg": "none" })),
        b64_json(&victim.claims)
    );
    assert_bearer_refused(app, "alg none, bare header", &bare, "invalid_access_token").await;
}

#[tokio::test]
async fn stripped_or_altered_signatures_are_refused() {
    let victim = victim().await;
    let app = &victim.app;
    let token = &victim.session.access;
    let (signed_part, signature) = token.rsplit_once('.').expect("three segments");

    let mut flipped = URL_SAFE_NO_PAD.decode(signature).expect("signature");
    flipped[10] ^= 0x01;
    let header_part = signed_part.split('.').next().expect("header");

    // Claims an attacker would like to have, under the genuine signature.
    let other = victim.app.sign_up("other@example.com", PASSWORD).await.0;
    let as_other = b64_json(&victim.claims_with(json!({ "sub": other })));
    let forever = b64_json(&victim.claims_with(json!({ "exp": 4_102_444_800_i64 })));

    for (label, forged) in [
        ("signature stripped", format!("{signed_part}.")),
        ("signature segment removed", signed_part.to_owned()),
        (
            "one signature bit flipped",
            format!("{signed_part}.{}", b64(&flipped)),
        ),
        ("signature padded", format!("{token}==")),
        (
            "sub swapped under the genuine signature",
            format!("{header_part}.{as_other}.{signature}"),
        ),
        (
            "exp extended under the genuine signature",
            format!("{header_part}.{forever}.{signature}"),
        ),
        ("a fourth segment", format!("{token}.{signature}")),
    ] {
        assert_bearer_refused(app, label, &forged, "invalid_access_token").await;
    }
    assert_eq!(app.me_status(token).await, StatusCode::OK);
}

#[tokio::test]
async fn hmac_keyed_with_the_public_key_is_refused() {
    let victim = victim().await;
    let app = &victim.app;
    let (x_text, x_bytes) = victim.published_x().await;
    assert_eq!(x_bytes.len(), 32);

    for alg in ["HS256", "HS384", "HS512"] {
        let header = json!({ "alg": alg, "typ": "at+jwt", "kid": victim.kid });
        for (key_form, key) in [
            ("raw x", &x_bytes),
            ("x as text", &x_text.as_bytes().to_vec()),
        ] {
            let token = compact(&header, &victim.claims, |input| {
                hmac_signature(alg, key, input)
            });
            assert_bearer_refused(
                app,
                &format!("{alg} keyed with {key_form}"),
                &token,
                "invalid_access_token",
            )
            .await;
        }
    }
}

// ---------------------------------------------------------------- key selection

#[tokio::test]
async fn keys_named_by_the_token_itself_are_never_used() {
    let victim = victim().await;
    let app = &victim.app;
    let attacker = attacker_key();
    let (jwk, attacker_kid) = attacker_jwk(&attacker);
    let attacker_keys = "https://attacker.invalid/jwks.json";

    let embedded = |kid: &str| json!({ "alg": "EdDSA", "typ": "at+jwt", "kid": kid, "jwk": jwk });
    for (label, header) in [
        ("embedded jwk, attacker kid", embedded(&attacker_kid)),
        ("embedded jwk, server kid", embedded(&victim.kid)),
        (
            "jku to attacker keys",
            json!({ "alg": "EdDSA", "typ": "at+jwt", "kid": attacker_kid, "jku": attacker_keys }),
        ),
        (
            "x5u to attacker certificate",
            json!({ "alg": "EdDSA", "typ": "at+jwt", "kid": attacker_kid,
                    "x5u": "https://attacker.invalid/cert.pem" }),
        ),
        (
            "x5c with attacker certificate",
            json!({ "alg": "EdDSA", "typ": "at+jwt", "kid": attacker_kid, "x5c": ["MIIB"] }),
        ),
    ] {
        let token = compact(&header, &victim.claims, signed_by(&attacker));
        assert_bearer_refused(app, label, &token, "invalid_access_token").await;
    }

    // These members are refused for what they are, not only because the attacker's
    // signature fails: even signed by the server's key they are not accepted.
    for member in ["jwk", "jku", "x5u", "x5c", "crit", "b64", "cty"] {
        let mut header = victim.header();
        header[member] = if member == "jwk" {
            jwk.clone()
        } else {
            json!("x")
        };
        let token = victim.signed_by_server(&header, &victim.claims);
        assert_bearer_refused(
            app,
            &format!("{member} under the server key"),
            &token,
            "invalid_access_token",
        )
        .await;
    }
}

#[tokio::test]
async fn unknown_or_missing_key_ids_are_refused() {
    let victim = victim().await;
    let app = &victim.app;
    let attacker = attacker_key();
    let (_, attacker_kid) = attacker_jwk(&attacker);

    let with_kid = |kid: Value| json!({ "alg": "EdDSA", "typ": "at+jwt", "kid": kid });
    let cases = [
        (
            "attacker's own kid",
            compact(
                &with_kid(json!(attacker_kid)),
                &victim.claims,
                signed_by(&attacker),
            ),
        ),
        (
            "unknown kid, server key",
            victim.signed_by_server(&with_kid(json!("retired-2019")), &victim.claims),
        ),
        (
            "kid as a number",
            victim.signed_by_server(&with_kid(json!(1)), &victim.claims),
        ),
        (
            "kid missing",
            victim.signed_by_server(&json!({ "alg": "EdDSA", "typ": "at+jwt" }), &victim.claims),
        ),
        (
            "server kid, attacker signature",
            compact(&victim.header(), &victim.claims, signed_by(&attacker)),
        ),
    ];
    for (label, token) in cases {
        assert_bearer_refused(app, label, &token, "invalid_access_token").await;
    }
}

// ---------------------------------------------------------------- claims

#[tokio::test]
async fn access_tokens_expire_after_fifteen_minutes() {
    let victim = victim().await;
    let app = &victim.app;
    app.advance(14 * 60);
    assert_eq!(app.me_status(&victim.session.access).await, StatusCode::OK);
    app.advance(2 * 60);
    assert_bearer_refused(
        app,
        "16 minutes old",
        &victim.session.access,
        "invalid_access_token",
    )
    .await;
}

#[tokio::test]
async fn tokens_for_another_audience_issuer_or_type_are_refused() {
    let victim = victim().await;
    let app = &victim.app;
    let attacker = attacker_key();
    let now = app.state.now();

    // Forged with a key we control: refused (the signature alone would do that).
    for (label, changes) in [
        (
            "attacker-signed, wrong aud",
            json!({ "aud": "another-api" }),
        ),
        (
            "attacker-signed, wrong iss",
            json!({ "iss": "https://evil.invalid" }),
        ),
    ] {
        let token = compact(
            &victim.header(),
            &victim.claims_with(changes),
            signed_by(&attacker),
        );
        assert_bearer_refused(app, label, &token, "invalid_access_token").await;
    }
    let typ_jwt = json!({ "alg": "EdDSA", "typ": "JWT", "kid": victim.kid });
    let token = compact(&typ_jwt, &victim.claims, signed_by(&attacker));
    assert_bearer_refused(
        app,
        "attacker-signed, typ JWT",
        &token,
        "invalid_access_token",
    )
    .await;

    // Issued by the server's real key ring for another audience or issuer: the
    // signature is good, so only the claim checks can refuse these.
    let ring = SigningKeys::load(&app.data_dir.path().join("keys/signing")).expect("key ring");
    let ours = app.state.token_config.clone();
    let sid = victim.claims["sid"].as_str().expect("sid");
    for (label, config) in [
        (
            "real key, wrong aud",
            TokenConfig::new(ours.issuer.clone(), "another-api"),
        ),
        (
            "real key, wrong iss",
            TokenConfig::new("https://evil.invalid", ours.audience.clone()),
        ),
    ] {
        let issued = ring
            .issue_access_token(&config, &victim.user_id, sid, now)
            .expect("issue");
        assert_bearer_refused(
            app,
            label,
            issued.token.expose_secret(),
            "invalid_access_token",
        )
        .await;
    }

    // Everything else signed with the real key, one property wrong at a time.
    let header = victim.header();
    let cases = [
        (
            "typ JWT",
            json!({ "alg": "EdDSA", "typ": "JWT", "kid": victim.kid }),
            json!({}),
        ),
        (
            "typ of an ID token",
            json!({ "alg": "EdDSA", "typ": "id+jwt", "kid": victim.kid }),
            json!({}),
        ),
        (
            "typ missing",
            json!({ "alg": "EdDSA", "kid": victim.kid }),
            json!({}),
        ),
        (
            "aud list without us",
            header.clone(),
            json!({ "aud": ["another-api"] }),
        ),
        ("aud missing", header.clone(), json!({ "aud": null })),
        ("iss missing", header.clone(), json!({ "iss": null })),
        ("exp missing", header.clone(), json!({ "exp": null })),
        (
            "exp in the past",
            header.clone(),
            json!({ "exp": now - 3600 }),
        ),
        (
            "nbf in the future",
            header.clone(),
            json!({ "nbf": now + 3600, "exp": now + 7200 }),
        ),
        (
            "iat in the future",
            header.clone(),
            json!({ "iat": now + 3600 }),
        ),
        (
            "extra roles claim",
            header.clone(),
            json!({ "roles": ["admin"] }),
        ),
        ("empty sub", header.clone(), json!({ "sub": "" })),
    ];
    for (label, header, changes) in cases {
        let token = victim.signed_by_server(&header, &victim.claims_with(changes));
        assert_bearer_refused(
            app,
            &format!("real key, {label}"),
            &token,
            "invalid_access_token",
        )
        .await;
    }
}

#[tokio::test]
async fn a_genuine_signature_does_not_bind_a_session_to_another_account() {
    let victim = victim().await;
    let app = &victim.app;
    let (other_id, other) = app.sign_up("other@example.com", PASSWORD).await;
    let other_sid = jwt_segment(&other.access, 1)["sid"].clone();

    // Signed by the real key, but the session belongs to someone else, or does
    // not exist: the per-request session check refuses it.
    let crossed = victim.claims_with(json!({ "sid": other_sid }));
    let token = victim.signed_by_server(&victim.header(), &crossed);
    assert_bearer_refused(
        app,
        "victim sub, other's session",
        &token,
        "unknown_session",
    )
    .await;

    let invented =
        victim.claims_with(json!({ "sub": other_id, "sid": uuid::Uuid::now_v7().to_string() }));
    let token = victim.signed_by_server(&victim.header(), &invented);
    assert_bearer_refused(app, "invented session", &token, "unknown_session").await;
}
