//! Transport security: only TLS 1.3 is spoken.

use reqwest::StatusCode;
use reqwest::tls::Version;

use crate::common::TestApp;

fn client(min: Version, max: Version) -> reqwest::Client {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .min_tls_version(min)
        .max_tls_version(max)
        .build()
        .expect("client")
}

#[tokio::test]
async fn a_tls_1_2_handshake_is_refused_and_tls_1_3_succeeds() {
    let app = TestApp::spawn().await;
    let url = app.url("/healthz");

    let old = client(Version::TLS_1_2, Version::TLS_1_2)
        .get(&url)
        .send()
        .await;
    let err = old.expect_err("a TLS 1.2-only client must not get an answer");
    assert!(
        err.is_connect() || err.is_request(),
        "handshake failure expected, got {err:?}"
    );

    let modern = client(Version::TLS_1_3, Version::TLS_1_3)
        .get(&url)
        .send()
        .await
        .expect("TLS 1.3");
    assert_eq!(modern.status(), StatusCode::OK);
}

#[tokio::test]
async fn plain_http_to_the_tls_port_gets_no_api_response() {
    let app = TestApp::spawn().await;
    let plain = app.base.replacen("https://", "http://", 1);
    let result = reqwest::Client::new()
        .get(format!("{plain}/healthz"))
        .send()
        .await;
    if let Ok(response) = result {
        assert_ne!(
            response.status(),
            StatusCode::OK,
            "the API must not answer in clear text"
        );
    }
}
