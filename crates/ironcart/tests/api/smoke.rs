//! The shortest happy path, as a canary for the harness itself.

use reqwest::StatusCode;

use crate::common::TestApp;

#[tokio::test]
async fn health_is_served_over_tls_with_security_headers() {
    let app = TestApp::spawn().await;
    let response = app.get("/healthz", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers();
    assert_eq!(
        headers["strict-transport-security"],
        "max-age=63072000; includeSubDomains"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap_or("")
            .contains("default-src 'none'")
    );
    assert_eq!(headers["x-request-id"].len(), 36);
}
