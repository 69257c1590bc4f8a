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

fn client_trusting(pem: &[u8], app: &TestApp) -> reqwest::Client {
    let address: std::net::SocketAddr = app
        .base
        .trim_start_matches("https://")
        .parse()
        .expect("addr");
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(pem).expect("pem"))
        .resolve("localhost", address)
        .build()
        .expect("client")
}

#[tokio::test]
async fn a_new_certificate_is_served_after_reload_without_restart() {
    let app = TestApp::spawn().await;
    let port = app.base.rsplit(':').next().unwrap().to_owned();
    let url = format!("https://localhost:{port}/healthz");
    let files = ironcart::tls::CertificateFiles {
        cert: app.data_dir.path().join("tls/cert.pem"),
        key: app.data_dir.path().join("tls/key.pem"),
    };
    let old_pem = std::fs::read(&files.cert).unwrap();
    let trusts_old = client_trusting(&old_pem, &app);
    assert_eq!(
        trusts_old.get(&url).send().await.unwrap().status(),
        StatusCode::OK
    );

    let fresh = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(&files.cert, fresh.cert.pem()).unwrap();
    std::fs::write(&files.key, fresh.key_pair.serialize_pem()).unwrap();
    let live = app.live_tls().expect("TLS is on");
    ironcart::tls::reload(&live, &files).expect("reload");

    let trusts_new = client_trusting(fresh.cert.pem().as_bytes(), &app);
    assert_eq!(
        trusts_new.get(&url).send().await.unwrap().status(),
        StatusCode::OK
    );
    let fresh_client = client_trusting(&old_pem, &app);
    assert!(
        fresh_client.get(&url).send().await.is_err(),
        "the old certificate is no longer served"
    );

    std::fs::write(&files.key, b"not a key").unwrap();
    assert!(
        ironcart::tls::reload(&live, &files).is_err(),
        "a broken pair is refused"
    );
    let after_bad = client_trusting(fresh.cert.pem().as_bytes(), &app);
    assert_eq!(
        after_bad.get(&url).send().await.unwrap().status(),
        StatusCode::OK,
        "the good pair stays in service"
    );
}
