//! Accounts and sessions, attacked through HTTPS: registration and login, the
//! password policy, Argon2id storage, refresh-token rotation and reuse detection,
//! logout, password change and disabled accounts.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ironcart_security::{PasswordHashParams, PasswordHasher, SecretString};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::common::{PASSWORD, Session, TestApp, assert_problem, jwt_segment};

/// The PHC prefix of a hash made with OWASP's Argon2id parameters.
const OWASP_ARGON2ID: &str = "$argon2id$v=19$m=19456,t=2,p=1$";
const REFRESH_TTL_SECS: i64 = 14 * 24 * 3600;

fn unique_email(label: &str) -> String {
    format!("{label}-{}@example.com", uuid::Uuid::new_v4().simple())
}

/// A problem body with its request id blanked, so two answers can be compared byte
/// for byte; the id itself must be present.
async fn problem_without_request_id(response: reqwest::Response) -> String {
    let text = response.text().await.expect("body");
    let body: Value = serde_json::from_str(&text).expect("problem json");
    let request_id = body["request_id"].as_str().expect("request_id").to_owned();
    assert_eq!(request_id.len(), 36, "{text}");
    text.replace(&request_id, "<request-id>")
}

async fn login_response(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    app.post(
        "/api/v1/auth/login",
        None,
        json!({ "email": email, "password": password }),
    )
    .await
}

async fn login_status(app: &TestApp, email: &str, password: &str) -> StatusCode {
    login_response(app, email, password).await.status()
}

async fn stored_hash(app: &TestApp, email: &str) -> String {
    app.state
        .store
        .user_by_email(email)
        .await
        .expect("store")
        .expect("user exists")
        .password_hash
}

/// Asserts a refusal of a new password: 422 on `field` with `code`, and the
/// password appears nowhere in the answer. Returns the `errors` member. (A
/// password that is itself a word of the policy's message, like "password", is
/// checked by the caller comparing the answers for different passwords.)
async fn assert_password_refused(
    response: reqwest::Response,
    field: &str,
    code: &str,
    password: &str,
) -> Value {
    let body = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["errors"][0]["field"], field, "{body}");
    assert_eq!(body["errors"][0]["code"], code, "{body}");
    assert_eq!(body["errors"].as_array().map(Vec::len), Some(1), "{body}");
    let message = body["errors"][0]["message"].as_str().expect("message");
    if !message.contains(password) {
        let text = body.to_string();
        let escaped = serde_json::to_string(password).expect("json string");
        assert!(
            !text.contains(password) && !text.contains(&escaped[1..escaped.len() - 1]),
            "the refusal echoes the password: {text}"
        );
    }
    body["errors"].clone()
}

async fn refresh_session(app: &TestApp, refresh_token: &str) -> Session {
    let response = app.refresh(refresh_token).await;
    assert_eq!(response.status(), StatusCode::OK, "refresh");
    Session::from_token_response(&response.json().await.expect("token json"))
}

// ---------------------------------------------------------------- the happy path

#[tokio::test]
async fn register_login_me_issues_bearer_tokens_for_a_normalised_customer() {
    let app = TestApp::spawn().await;

    let response = app
        .register("  Ada.Lovelace@Example.COM ", PASSWORD, "Ada Lovelace")
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.expect("user json");
    assert_eq!(created["email"], "ada.lovelace@example.com");
    assert_eq!(created["roles"], json!(["customer"]));
    assert_eq!(created["status"], "active");
    let mut members: Vec<&String> = created.as_object().expect("object").keys().collect();
    members.sort();
    assert_eq!(
        members,
        ["created_at", "email", "id", "name", "roles", "status"],
        "the account view must not carry the password hash"
    );

    // Any letter case of the address reaches the same account.
    let body = app.login("ADA.lovelace@EXAMPLE.com", PASSWORD).await;
    let session = Session::from_token_response(&body);
    assert!(session.refresh.starts_with("rt_"), "{body}");

    let header = jwt_segment(&session.access, 0);
    let kid = header["kid"].as_str().expect("kid").to_owned();
    assert_eq!(
        header,
        json!({ "alg": "EdDSA", "typ": "at+jwt", "kid": kid }),
        "exactly these header members"
    );
    let claims = jwt_segment(&session.access, 1);
    assert_eq!(claims["sub"], created["id"]);
    assert_eq!(claims["aud"], "ironcart-api");
    assert_eq!(claims["iss"], app.base.as_str());
    assert_eq!(
        claims["exp"].as_i64(),
        claims["iat"].as_i64().map(|t| t + 900)
    );

    let me = app.get("/api/v1/me", Some(&session.access)).await;
    assert_eq!(me.status(), StatusCode::OK);
    let me: Value = me.json().await.expect("me json");
    assert_eq!(me["email"], "ada.lovelace@example.com");
    assert_eq!(me["name"], "Ada Lovelace");
    assert_eq!(me["roles"], json!(["customer"]));
    assert_eq!(me["id"], created["id"]);
}

#[tokio::test]
async fn jwks_publishes_the_signing_key_and_no_private_part() {
    let app = TestApp::spawn().await;
    let (_, session) = app.sign_up(&unique_email("jwks"), PASSWORD).await;
    let kid = jwt_segment(&session.access, 0)["kid"].clone();

    let response = app.get("/.well-known/jwks.json", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let jwks: Value = response.json().await.expect("jwks json");
    let keys = jwks["keys"].as_array().expect("keys array");
    assert!(!keys.is_empty());
    for key in keys {
        let mut members: Vec<&String> = key.as_object().expect("jwk object").keys().collect();
        members.sort();
        assert_eq!(
            members,
            ["alg", "crv", "kid", "kty", "use", "x"],
            "public members only (no \"d\"): {key}"
        );
        assert_eq!(key["kty"], "OKP");
        assert_eq!(key["crv"], "Ed25519");
        assert_eq!(key["alg"], "EdDSA");
        assert_eq!(key["use"], "sig");
    }
    let signing = keys
        .iter()
        .find(|key| key["kid"] == kid)
        .expect("the access token's kid is published");

    // The published key really verifies the token: the JWKS is not decoration.
    let x = URL_SAFE_NO_PAD
        .decode(signing["x"].as_str().expect("x"))
        .expect("x is base64url");
    let public = ed25519_dalek::VerifyingKey::from_bytes(
        &<[u8; 32]>::try_from(x.as_slice()).expect("32-byte key"),
    )
    .expect("valid public key");
    let (signed, signature) = session.access.rsplit_once('.').expect("three segments");
    let signature = URL_SAFE_NO_PAD.decode(signature).expect("signature");
    let signature = ed25519_dalek::Signature::from_slice(&signature).expect("64-byte signature");
    assert!(public.verify_strict(signed.as_bytes(), &signature).is_ok());
}

#[tokio::test]
async fn auth_responses_are_never_cached() {
    let app = TestApp::spawn().await;
    let email = unique_email("cache");
    let no_store = |response: &reqwest::Response, what: &str| {
        assert_eq!(
            response
                .headers()
                .get("cache-control")
                .map(|v| v.as_bytes()),
            Some(&b"no-store"[..]),
            "{what}"
        );
    };

    let registered = app.register(&email, PASSWORD, "Cache Test").await;
    assert_eq!(registered.status(), StatusCode::CREATED);
    no_store(&registered, "register");
    let refused = app.register("not-an-email", PASSWORD, "Cache Test").await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    no_store(&refused, "register refused");

    let login = login_response(&app, &email, PASSWORD).await;
    assert_eq!(login.status(), StatusCode::OK);
    no_store(&login, "login");
    let session = Session::from_token_response(&login.json().await.expect("tokens"));
    let failed = login_response(&app, &email, "not the password at all").await;
    assert_eq!(failed.status(), StatusCode::UNAUTHORIZED);
    no_store(&failed, "failed login");

    let refreshed = app.refresh(&session.refresh).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    no_store(&refreshed, "refresh");
    let session = Session::from_token_response(&refreshed.json().await.expect("tokens"));

    let me = app.get("/api/v1/me", Some(&session.access)).await;
    assert_eq!(me.status(), StatusCode::OK);
    no_store(&me, "me");

    let logout = app
        .post(
            "/api/v1/auth/logout",
            None,
            json!({ "refresh_token": session.refresh }),
        )
        .await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    no_store(&logout, "logout");
    let stale = app.refresh(&session.refresh).await;
    assert_eq!(stale.status(), StatusCode::UNAUTHORIZED);
    no_store(&stale, "refused refresh");
}

// ---------------------------------------------------------------- login reveals nothing

#[tokio::test]
async fn login_failures_are_indistinguishable() {
    let app = TestApp::spawn().await;
    let email = unique_email("known");
    app.sign_up(&email, PASSWORD).await;

    let wrong_password = login_response(&app, &email, "correct horse battery stapler").await;
    assert_eq!(wrong_password.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong_password.headers().get("www-authenticate").is_none());
    let wrong_password = problem_without_request_id(wrong_password).await;

    let body: Value = serde_json::from_str(&wrong_password).expect("json");
    assert_eq!(body["type"], "/problems/invalid-credentials");
    assert_eq!(body["status"], 401);

    // An unknown address, a malformed one (401, not 422: validating it would tell
    // a probe which shapes could be accounts), and the right password for an
    // address that differs only in a letter all answer exactly the same.
    for (label, email, password) in [
        ("unknown email", unique_email("nobody"), PASSWORD.to_owned()),
        (
            "malformed email",
            "not-an-email".to_owned(),
            PASSWORD.to_owned(),
        ),
        ("empty password", email.clone(), String::new()),
        (
            "near-miss email",
            email.replacen("known", "knawn", 1),
            PASSWORD.to_owned(),
        ),
    ] {
        let response = login_response(&app, &email, &password).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{label}");
        assert!(
            response.headers().get("www-authenticate").is_none(),
            "{label}"
        );
        assert_eq!(
            problem_without_request_id(response).await,
            wrong_password,
            "{label}"
        );
    }

    // Failures are recorded, without naming the account that was tried.
    let failures = app.audit_events("auth.login").await;
    let failures: Vec<&Value> = failures
        .iter()
        .filter(|event| event["outcome"] == "failure")
        .collect();
    assert_eq!(failures.len(), 5);
    assert!(failures.iter().all(|event| event["actor_id"].is_null()));
}

/// Registration does tell whether an address has an account (409). That is
/// accepted here: answering "check your inbox" for both cases needs outgoing
/// email, which Ironcart does not have, and an address that silently fails to
/// register would confuse genuine customers. The cost is that registration is an
/// enumeration oracle; rate limiting (not implemented yet) is the mitigation.
/// What must hold regardless: the existing account is untouched.
#[tokio::test]
async fn duplicate_registration_is_a_conflict_that_takes_nothing_over() {
    let app = TestApp::spawn().await;
    let email = unique_email("taken");
    let (owner_id, _) = app.sign_up(&email, PASSWORD).await;

    let intruder_password = "an entirely different passphrase 42";
    for variant in [email.clone(), email.to_uppercase(), format!("  {email}  ")] {
        let response = app.register(&variant, intruder_password, "Intruder").await;
        let body = assert_problem(response, StatusCode::CONFLICT).await;
        assert_eq!(body["type"], "/problems/conflict");
        assert!(!body.to_string().contains(intruder_password));
    }

    let account = app
        .state
        .store
        .user_by_email(&email)
        .await
        .expect("store")
        .expect("account");
    assert_eq!(account.id, owner_id);
    assert_eq!(account.name, "Test Shopper");
    assert_eq!(app.state.store.count_users().await.expect("count"), 1);
    assert_eq!(login_status(&app, &email, PASSWORD).await, StatusCode::OK);
    assert_eq!(
        login_status(&app, &email, intruder_password).await,
        StatusCode::UNAUTHORIZED
    );
}

// ---------------------------------------------------------------- password policy

/// A 128-character password with no guessable pattern: hex digests of a label.
fn long_password(label: &str, chars: usize) -> String {
    let mut password = String::new();
    let mut round = 0u32;
    while password.len() < chars {
        let digest = Sha256::digest(format!("{label}/{round}").as_bytes());
        password.extend(digest.iter().map(|byte| format!("{byte:02x}")));
        round += 1;
    }
    password.truncate(chars);
    password
}

#[tokio::test]
async fn passwords_from_8_to_128_characters_are_accepted_and_never_truncated() {
    let app = TestApp::spawn().await;

    let seven = "Tq7#vL2";
    let response = app.register(&unique_email("seven"), seven, "Pat").await;
    assert_password_refused(response, "password", "too_short", seven).await;

    let eight = "Tq7#vL2x";
    let email = unique_email("eight");
    app.sign_up(&email, eight).await;
    assert_eq!(
        login_status(&app, &email, seven).await,
        StatusCode::UNAUTHORIZED
    );

    let prefix = long_password("ironcart", 127);
    let max = format!("{prefix}A");
    let sibling = format!("{prefix}B");
    assert_eq!((max.chars().count(), sibling.chars().count()), (128, 128));
    let email = unique_email("max");
    app.sign_up(&email, &max).await;
    for (label, other) in [
        ("same first 127 characters", sibling.clone()),
        ("the first 127 characters alone", prefix.clone()),
        ("one character appended", format!("{max}C")),
    ] {
        assert_eq!(
            login_status(&app, &email, &other).await,
            StatusCode::UNAUTHORIZED,
            "{label}"
        );
    }
    assert_eq!(login_status(&app, &email, &max).await, StatusCode::OK);

    // 129 characters are refused, not cut down to 128 (which would be acceptable).
    let too_long = format!("{max}C");
    let email = unique_email("too-long");
    let response = app.register(&email, &too_long, "Pat").await;
    assert_password_refused(response, "password", "too_long", &too_long).await;
    assert!(
        app.state
            .store
            .user_by_email(&email)
            .await
            .expect("store")
            .is_none()
    );
}

#[tokio::test]
async fn common_passwords_are_refused_as_too_common() {
    let app = TestApp::spawn().await;
    let mut answers = Vec::new();
    for common in ["password", "12345678", "Password1", "qwertyuiop"] {
        let response = app.register(&unique_email("common"), common, "Pat").await;
        answers.push(assert_password_refused(response, "password", "too_common", common).await);
    }
    // One answer for all: none of them is echoed back.
    assert!(
        answers.iter().all(|errors| *errors == answers[0]),
        "{answers:?}"
    );
    assert_eq!(app.state.store.count_users().await.expect("count"), 0);
}

#[tokio::test]
async fn passwords_built_on_the_email_are_refused() {
    let app = TestApp::spawn().await;
    let email = "quillon.vantrask@example.com";
    for password in [
        "quillon.vantrask!!",
        "Vantrask-7431-quillon",
        "quillon.vantrask",
    ] {
        let response = app.register(email, password, "Q. Vantrask").await;
        assert_password_refused(response, "password", "contains_personal_info", password).await;
    }
    // The same passwords are fine for somebody else.
    let response = app
        .register(
            "mira.holt@example.com",
            "Vantrask-7431-quillon",
            "Mira Holt",
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn symbol_and_unicode_passwords_work_end_to_end() {
    let app = TestApp::spawn().await;
    for password in [
        "Ünïcødé-pässwörd-✓",
        r#"p@$$w0rd!#%&*()[]{}<>?/\|~^"'"#,
        "日本語のパスワードです十分に長い",
        "emoji 🐙🦀🔐 are characters too",
    ] {
        let email = unique_email("charset");
        app.sign_up(&email, password).await;
        assert_eq!(
            login_status(&app, &email, password).await,
            StatusCode::OK,
            "{password}"
        );
        let almost: String = password.chars().skip(1).collect();
        assert_eq!(
            login_status(&app, &email, &almost).await,
            StatusCode::UNAUTHORIZED,
            "{password}"
        );
    }

    // The same visible password typed in decomposed form (e + combining accent)
    // logs in: both sides work on the NFC form.
    let composed = "Caf\u{e9}-cr\u{e8}me-br\u{fb}l\u{e9}e-42";
    let decomposed = "Cafe\u{301}-cre\u{300}me-bru\u{302}le\u{301}e-42";
    assert_ne!(composed, decomposed);
    let email = unique_email("nfc");
    app.sign_up(&email, composed).await;
    assert_eq!(login_status(&app, &email, decomposed).await, StatusCode::OK);
}

// ---------------------------------------------------------------- Argon2id storage

#[tokio::test]
async fn passwords_are_stored_as_salted_argon2id_with_owasp_parameters() {
    let app = TestApp::spawn().await;
    let (first, second) = (unique_email("first"), unique_email("second"));
    app.sign_up(&first, PASSWORD).await;
    app.sign_up(&second, PASSWORD).await;

    let (first_hash, second_hash) = (
        stored_hash(&app, &first).await,
        stored_hash(&app, &second).await,
    );
    for hash in [&first_hash, &second_hash] {
        assert!(hash.starts_with(OWASP_ARGON2ID), "{hash}");
        assert!(!hash.contains(PASSWORD));
        // $argon2id$v=19$m=…$salt$output: a 16-byte salt, a 32-byte output.
        let parts: Vec<&str> = hash.split('$').collect();
        assert_eq!(parts.len(), 6, "{hash}");
        assert_eq!(parts[4].len(), 22, "salt of {hash}");
        assert_eq!(parts[5].len(), 43, "output of {hash}");
    }
    assert_ne!(first_hash, second_hash, "same password, same hash: no salt");
    assert_ne!(first_hash.split('$').nth(4), second_hash.split('$').nth(4));
}

#[tokio::test]
async fn weaker_hashes_are_upgraded_at_the_next_login() {
    let app = TestApp::spawn().await;
    let email = unique_email("legacy");
    app.sign_up(&email, PASSWORD).await;
    let user = app
        .state
        .store
        .user_by_email(&email)
        .await
        .expect("store")
        .expect("user");

    let weak = PasswordHasher::new(PasswordHashParams {
        memory_kib: 8192,
        iterations: 1,
        parallelism: 1,
    })
    .expect("weak hasher")
    .hash(&SecretString::from(PASSWORD))
    .expect("weak hash");
    assert!(weak.starts_with("$argon2id$v=19$m=8192,t=1,p=1$"), "{weak}");
    app.state
        .store
        .update_password_hash(&user.id, &weak, app.state.now())
        .await
        .expect("store weak hash");

    // A failed login must not touch the stored hash.
    assert_eq!(
        login_status(&app, &email, "wrong password, no upgrade").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(stored_hash(&app, &email).await, weak);

    assert_eq!(login_status(&app, &email, PASSWORD).await, StatusCode::OK);
    let upgraded = stored_hash(&app, &email).await;
    assert!(upgraded.starts_with(OWASP_ARGON2ID), "{upgraded}");
    assert_eq!(login_status(&app, &email, PASSWORD).await, StatusCode::OK);
    assert_eq!(
        stored_hash(&app, &email).await,
        upgraded,
        "no rehash when current"
    );
}

// ---------------------------------------------------------------- refresh tokens

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_whole_family() {
    let app = TestApp::spawn().await;
    let email = unique_email("rotate");
    let (user_id, first) = app.sign_up(&email, PASSWORD).await;
    let bystander = app.session(&email, PASSWORD).await;

    let second = refresh_session(&app, &first.refresh).await;
    assert_ne!(second.refresh, first.refresh);
    assert_ne!(second.access, first.access);
    assert_eq!(
        jwt_segment(&second.access, 1)["sid"],
        jwt_segment(&first.access, 1)["sid"],
        "rotation stays in the session"
    );
    assert_eq!(app.me_status(&second.access).await, StatusCode::OK);
    let third = refresh_session(&app, &second.refresh).await;
    assert_eq!(app.me_status(&third.access).await, StatusCode::OK);
    assert!(app.audit_events("auth.refresh_reuse").await.is_empty());

    // A thief replays the first, already spent token.
    let replay = app.refresh(&first.refresh).await;
    let body = assert_problem(replay, StatusCode::UNAUTHORIZED).await;
    assert_eq!(body["type"], "/problems/invalid-credentials");

    // The whole family is gone: the newest refresh token and every access token.
    assert_eq!(
        app.refresh(&third.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    for access in [&first.access, &second.access, &third.access] {
        assert_eq!(app.me_status(access).await, StatusCode::UNAUTHORIZED);
    }
    let reuse = app.audit_events("auth.refresh_reuse").await;
    assert_eq!(reuse.len(), 1);
    assert_eq!(reuse[0]["actor_id"], user_id.as_str());
    assert_eq!(reuse[0]["outcome"], "denied");
    assert_eq!(reuse[0]["target"], jwt_segment(&first.access, 1)["sid"]);

    // Another session of the same account is a different family and lives on.
    assert_eq!(app.me_status(&bystander.access).await, StatusCode::OK);
    refresh_session(&app, &bystander.refresh).await;
}

#[tokio::test]
async fn refresh_tokens_are_stored_only_as_hashes() {
    let app = TestApp::spawn().await;
    let email = unique_email("hashed");
    let (_, first) = app.sign_up(&email, PASSWORD).await;
    let second = refresh_session(&app, &first.refresh).await;

    for token in [&first.refresh, &second.refresh] {
        let hash = hex_sha256(token);
        assert!(
            app.state
                .store
                .session_of_refresh(&hash)
                .await
                .expect("store")
                .is_some(),
            "the session is found by the SHA-256 of the token"
        );
        assert!(
            app.state
                .store
                .session_of_refresh(token)
                .await
                .expect("store")
                .is_none(),
            "the plaintext token is not a stored key"
        );
    }

    // On SQLite, read every byte of the database: no token in plaintext anywhere
    // (refresh_tokens, sessions, audit details), though its hash is there.
    if std::env::var("IRONCART_TEST_DATABASE").is_err() {
        let mut bytes = Vec::new();
        for file in ["ironcart.db", "ironcart.db-wal"] {
            if let Ok(content) = std::fs::read(app.data_dir.path().join(file)) {
                bytes.extend(content);
            }
        }
        let contains = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
        assert!(
            contains(&hex_sha256(&second.refresh)),
            "the scan sees the table"
        );
        for token in [
            &first.refresh,
            &second.refresh,
            &first.access,
            &second.access,
        ] {
            assert!(!contains(token), "a token is stored in plaintext");
        }
    }
}

fn hex_sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[tokio::test]
async fn refresh_tokens_expire_after_fourteen_days_unused() {
    let app = TestApp::spawn().await;
    let (_, first) = app.sign_up(&unique_email("expiry"), PASSWORD).await;

    // Just before its expiry the token still works, and its successor gets a
    // full lifetime of its own.
    app.advance(REFRESH_TTL_SECS - 60);
    let second = refresh_session(&app, &first.refresh).await;
    assert_eq!(app.me_status(&second.access).await, StatusCode::OK);

    app.advance(REFRESH_TTL_SECS);
    assert_eq!(
        app.refresh(&second.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn an_expired_refresh_token_is_refused() {
    let app = TestApp::spawn().await;
    let (_, session) = app.sign_up(&unique_email("stale"), PASSWORD).await;
    app.advance(REFRESH_TTL_SECS + 1);
    let body = assert_problem(
        app.refresh(&session.refresh).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(body["type"], "/problems/invalid-credentials");
}

// ---------------------------------------------------------------- logout

#[tokio::test]
async fn logout_revokes_the_session_and_reveals_nothing() {
    let app = TestApp::spawn().await;
    let email = unique_email("logout");
    let (_, leaving) = app.sign_up(&email, PASSWORD).await;
    let staying = app.session(&email, PASSWORD).await;

    let logout = |token: String| {
        app.post(
            "/api/v1/auth/logout",
            None,
            json!({ "refresh_token": token }),
        )
    };
    assert_eq!(
        logout(leaving.refresh.clone()).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.refresh(&leaving.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.me_status(&leaving.access).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.audit_events("auth.logout").await.len(), 1);

    // Other sessions are untouched.
    assert_eq!(app.me_status(&staying.access).await, StatusCode::OK);

    // Logging out twice, or with a token that never existed, answers the same.
    for token in [
        leaving.refresh.clone(),
        "rt_never-issued-by-this-server".to_owned(),
    ] {
        let response = logout(token).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert!(response.bytes().await.expect("body").is_empty());
    }
    assert_eq!(app.audit_events("auth.logout").await.len(), 1);
    assert_eq!(app.me_status(&staying.access).await, StatusCode::OK);
}

// ---------------------------------------------------------------- password change

async fn change_password(
    app: &TestApp,
    access: &str,
    current: &str,
    new: &str,
) -> reqwest::Response {
    app.call(
        Method::POST,
        "/api/v1/me/password",
        Some(access),
        Some(json!({ "current_password": current, "new_password": new })),
    )
    .await
}

#[tokio::test]
async fn password_change_requires_the_current_password_and_a_good_new_one() {
    let app = TestApp::spawn().await;
    let email = unique_email("change");
    let (_, session) = app.sign_up(&email, PASSWORD).await;
    let new_password = "plum orchard under winter light";

    let wrong = "correct horse battery stapler";
    let response = change_password(&app, &session.access, wrong, new_password).await;
    let body = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["errors"][0]["field"], "current_password", "{body}");
    assert_eq!(body["errors"][0]["code"], "incorrect", "{body}");
    assert!(!body.to_string().contains(wrong) && !body.to_string().contains(new_password));

    let response = change_password(&app, &session.access, PASSWORD, "qwertyuiop").await;
    assert_password_refused(response, "new_password", "too_common", "qwertyuiop").await;

    // Nothing changed: the old password and the session still work.
    assert_eq!(app.me_status(&session.access).await, StatusCode::OK);
    assert_eq!(login_status(&app, &email, PASSWORD).await, StatusCode::OK);
    assert_eq!(
        login_status(&app, &email, new_password).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn password_change_ends_every_session() {
    let app = TestApp::spawn().await;
    let email = unique_email("rotate-pw");
    let (_, here) = app.sign_up(&email, PASSWORD).await;
    let elsewhere = app.session(&email, PASSWORD).await;
    let new_password = "plum orchard under winter light";

    let response = change_password(&app, &here.access, PASSWORD, new_password).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    for session in [&here, &elsewhere] {
        assert_eq!(
            app.me_status(&session.access).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            app.refresh(&session.refresh).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login_status(&app, &email, PASSWORD).await,
        StatusCode::UNAUTHORIZED
    );
    let fresh = app.session(&email, new_password).await;
    assert_eq!(app.me_status(&fresh.access).await, StatusCode::OK);
    assert!(stored_hash(&app, &email).await.starts_with(OWASP_ARGON2ID));

    let events = app.audit_events("account.password_change").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["details"]["sessions_revoked"], 2);
}

// ---------------------------------------------------------------- disabled accounts

#[tokio::test]
async fn disabled_accounts_cannot_log_in_and_their_tokens_stop_working() {
    let app = TestApp::spawn().await;
    let email = unique_email("disabled");
    let (user_id, session) = app.sign_up(&email, PASSWORD).await;
    assert_eq!(app.me_status(&session.access).await, StatusCode::OK);

    app.state
        .store
        .set_user_status(&user_id, "disabled", app.state.now())
        .await
        .expect("disable");

    assert_eq!(
        app.me_status(&session.access).await,
        StatusCode::UNAUTHORIZED
    );
    let refresh = app.refresh(&session.refresh).await;
    assert_eq!(
        refresh.status(),
        StatusCode::UNAUTHORIZED,
        "refresh of a disabled account"
    );

    // The right password answers exactly like a wrong one: a disabled account is
    // not confirmed to exist.
    let right = problem_without_request_id(login_response(&app, &email, PASSWORD).await).await;
    let unknown =
        problem_without_request_id(login_response(&app, &unique_email("nobody"), PASSWORD).await)
            .await;
    assert_eq!(right, unknown);

    let rejected = app.audit_events("auth.token_rejected").await;
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["details"]["reason"], "account_disabled");
}
