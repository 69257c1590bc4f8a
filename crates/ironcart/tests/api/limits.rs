//! Abuse resistance: rate limits per address and per account, trusted-proxy client
//! addresses, load shedding, and protocol-level resource limits.

use std::time::Duration;

use ironcart::app::Settings;
use ironcart::security::hashing::HashingSettings;
use ironcart::security::ratelimit::{LimitClass, LimitQuota, RateLimitSettings};
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{TestApp, assert_problem, test_settings};

fn with_quota(class: LimitClass, per_minute: u32, burst: u32) -> Settings {
    let mut limits = RateLimitSettings::unlimited_for_tests();
    limits
        .quotas
        .insert(class, LimitQuota { per_minute, burst });
    Settings {
        rate_limits: limits,
        ..test_settings()
    }
}

async fn login_status(
    app: &TestApp,
    email: &str,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "email": email, "password": "wrong password here" }));
    if let Some(forwarded) = forwarded_for {
        request = request.header("x-forwarded-for", forwarded);
    }
    request.send().await.expect("login sent")
}

#[tokio::test]
async fn logins_are_limited_per_account_with_retry_after_and_ratelimit_headers() {
    let app = TestApp::spawn_with(with_quota(LimitClass::LoginAccount, 1, 5)).await;
    for attempt in 1..=5 {
        let response = login_status(&app, "victim@example.com", None).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
    }
    let limited = login_status(&app, "Victim@Example.com", None).await;
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=61).contains(&retry_after), "retry-after {retry_after}");
    assert_eq!(
        limited.headers()["ratelimit-policy"],
        "\"login-account\";q=5;w=300"
    );
    assert!(
        limited.headers()["ratelimit"]
            .to_str()
            .unwrap()
            .starts_with("\"login-account\";r=0;t=")
    );
    let problem = assert_problem(limited, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(problem["type"], "/problems/rate-limited");

    let other = login_status(&app, "someone-else@example.com", None).await;
    assert_eq!(
        other.status(),
        StatusCode::UNAUTHORIZED,
        "other accounts are not locked out"
    );
}

#[tokio::test]
async fn a_forged_forwarded_for_from_an_untrusted_peer_changes_nothing() {
    let app = TestApp::spawn_with(with_quota(LimitClass::LoginAddress, 1, 20)).await;
    for attempt in 0..20 {
        let forged = format!("198.51.100.{attempt}");
        let response = login_status(&app, &format!("u{attempt}@example.com"), Some(&forged)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = login_status(&app, "u99@example.com", Some("203.0.113.200")).await;
    assert_eq!(
        response.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the socket address is what counts"
    );
}

#[tokio::test]
async fn forwarded_for_from_a_trusted_proxy_is_honoured() {
    let mut settings = with_quota(LimitClass::LoginAddress, 1, 20);
    settings.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let app = TestApp::spawn_with(settings).await;
    for attempt in 0..30 {
        let client = format!("198.51.100.{attempt}");
        let response = login_status(&app, &format!("u{attempt}@example.com"), Some(&client)).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "each forwarded client has its own quota"
        );
    }
    for _ in 0..20 {
        let _ = login_status(&app, "same@example.com", Some("203.0.113.7")).await;
    }
    let response = login_status(&app, "same@example.com", Some("203.0.113.7")).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let audit = app.state.store.recent_audit(200, 0).await.unwrap();
    assert!(
        audit.iter().any(|e| e["client_ip"] == "198.51.100.3"),
        "security events carry the forwarded client address"
    );
}

#[tokio::test]
async fn logins_beyond_the_hashing_threads_wait_briefly_then_get_503_with_retry_after() {
    let mut settings = test_settings();
    settings.password_hashing = HashingSettings {
        threads: 1,
        wait: Duration::from_millis(5),
    };
    let app = TestApp::spawn_with(settings).await;
    let attempts = (0..12).map(|n| {
        let (client, url) = (app.client.clone(), app.url("/api/v1/auth/login"));
        let body =
            json!({ "email": format!("flood{n}@example.com"), "password": "wrong password" });
        async move {
            client
                .post(url)
                .json(&body)
                .send()
                .await
                .expect("login sent")
        }
    });
    let responses = futures_join_all(attempts).await;
    let mut busy = 0;
    for response in responses {
        match response.status() {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                busy += 1;
                assert_eq!(response.headers()["retry-after"], "1");
                assert_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(busy > 0, "twelve logins at once on one hashing thread");
    let after = login_status(&app, "later@example.com", None).await;
    assert_eq!(
        after.status(),
        StatusCode::UNAUTHORIZED,
        "served again once free"
    );
}

#[tokio::test]
async fn every_request_is_limited_per_address() {
    let app = TestApp::spawn_with(with_quota(LimitClass::Address, 1, 10)).await;
    for _ in 0..10 {
        let response = app.get("/api/v1/products", None).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.headers()["ratelimit"]
                .to_str()
                .unwrap()
                .starts_with("\"address\";r=")
        );
    }
    let limited = app.get("/api/v1/products", None).await;
    assert_problem(limited, StatusCode::TOO_MANY_REQUESTS).await;
}

#[tokio::test]
async fn checkout_is_limited_per_principal() {
    let app = TestApp::spawn_with(with_quota(LimitClass::Checkout, 1, 2)).await;
    let (_, token) = app.customer().await;
    for _ in 0..2 {
        let response = app
            .client
            .post(app.url("/api/v1/checkout"))
            .bearer_auth(&token)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let response = app
        .client
        .post(app.url("/api/v1/checkout"))
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn requests_beyond_the_concurrency_cap_are_shed_with_503() {
    let settings = Settings {
        max_in_flight: 1,
        ..test_settings()
    };
    let app = TestApp::spawn_with(settings).await;
    let attempts = (0..24).map(|i| {
        let client = app.client.clone();
        let url = app.url("/api/v1/auth/login");
        async move {
            client
                .post(url)
                .json(
                    &json!({ "email": format!("n{i}@example.com"), "password": "whatever it is" }),
                )
                .send()
                .await
        }
    });
    let responses = futures_join_all(attempts).await;
    let shed: Vec<_> = responses
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .filter(|r| r.status() == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert!(
        !shed.is_empty(),
        "with one slot, concurrent logins must be shed"
    );
    for response in shed {
        assert_eq!(response.headers()["retry-after"], "1");
    }
}

async fn futures_join_all<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut outputs = Vec::new();
    for handle in handles {
        outputs.push(handle.await.expect("task"));
    }
    outputs
}

#[tokio::test]
async fn a_slow_client_is_cut_off_after_the_header_timeout() {
    let settings = Settings {
        header_read_timeout: Duration::from_millis(500),
        ..test_settings()
    };
    let app = TestApp::spawn_plain(settings).await;
    let address = app.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buffer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut buffer)).await;
    assert!(
        read.is_ok(),
        "the server must close a connection that never finishes its headers"
    );
    let text = String::from_utf8_lossy(&buffer);
    assert!(
        !text.contains("200 OK"),
        "an unfinished request is never served"
    );
}

#[tokio::test]
async fn oversized_and_deeply_nested_bodies_are_refused() {
    let app = TestApp::spawn().await;
    let huge = "x".repeat(200 * 1024);
    let response = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(format!("{{\"email\":\"{huge}\",\"password\":\"p\"}}"))
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;

    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let response = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(deep)
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, StatusCode::BAD_REQUEST).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("nested deeper")
    );
}

#[tokio::test]
async fn oversized_headers_are_refused() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-padding", "a".repeat(64 * 1024))
        .send()
        .await;
    match response {
        Ok(response) => assert!(
            response.status().is_client_error(),
            "got {}",
            response.status()
        ),
        Err(err) => assert!(err.is_request() || err.is_connect(), "{err:?}"),
    }
}
