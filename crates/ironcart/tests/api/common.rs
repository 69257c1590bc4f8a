//! The test harness: spawns the app in-process on a random loopback port with TLS,
//! on a fresh database, and offers helpers to act as users of each role.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use ironcart::app::{AppState, Settings};
use ironcart::clock::Clock;
use ironcart::domain::customers::{self, Email};
use ironcart::domain::payments::SandboxProvider;
use ironcart::server::{self, Running, StateParts};
use ironcart::store::Store;
use ironcart_security::SecretString;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub const PASSWORD: &str = "correct horse battery staple";
pub const ROLES: [&str; 6] = [
    "customer",
    "support",
    "catalog_manager",
    "order_manager",
    "security_officer",
    "admin",
];

/// Settings for tests: rate limits out of the way (tests of limits set their own).
pub fn test_settings() -> Settings {
    Settings {
        max_line_quantity: 10,
        rate_limits: ironcart::security::ratelimit::RateLimitSettings::unlimited_for_tests(),
        ..Settings::default()
    }
}

/// Path of a file in the shared test data (never copied into the repository).
pub fn shared_data(relative: &str) -> PathBuf {
    let path =
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data")).join(relative);
    assert!(
        path.exists(),
        "shared test data missing: {}",
        path.display()
    );
    path
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub sandbox: Arc<SandboxProvider>,
    /// Settable "now" (unix seconds) seen by the app.
    pub now: Arc<AtomicI64>,
    pub data_dir: tempfile::TempDir,
    /// The test's own database, for tests that inspect or tamper with it directly.
    pub database_url: String,
    running: Option<Running>,
}

/// A database URL for one test: a new PostgreSQL database when
/// IRONCART_TEST_DATABASE is set, else a SQLite file in `dir`.
pub async fn fresh_database_url(dir: &std::path::Path) -> String {
    match std::env::var("IRONCART_TEST_DATABASE") {
        Ok(base) if base.starts_with("postgres") => {
            let base = base.trim_end_matches('/');
            let name = format!("ironcart_test_{}", uuid::Uuid::new_v4().simple());
            let admin = format!("{base}/postgres");
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
                .await
                .expect("connect to the test PostgreSQL server");
            sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
                .await
                .expect("create test database");
            format!("{base}/{name}")
        }
        _ => format!("sqlite://{}?mode=rwc", dir.join("ironcart.db").display()),
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(test_settings()).await
    }

    pub async fn spawn_with(settings: Settings) -> Self {
        Self::spawn_full(settings, true).await
    }

    /// Serves plain HTTP (as behind a TLS-terminating proxy), for raw-socket tests.
    pub async fn spawn_plain(settings: Settings) -> Self {
        Self::spawn_full(settings, false).await
    }

    async fn spawn_full(settings: Settings, tls: bool) -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let url = fresh_database_url(data_dir.path()).await;
        let store = Store::connect(&url).await.expect("open store");
        let database_url = url.clone();
        let sandbox = Arc::new(SandboxProvider::default());
        let now = Arc::new(AtomicI64::new(
            time::OffsetDateTime::now_utc().unix_timestamp(),
        ));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let scheme = if tls { "https" } else { "http" };
        let base = format!("{scheme}://{}", listener.local_addr().expect("addr"));
        let state = server::build_state(StateParts {
            store,
            data_dir: data_dir.path().to_path_buf(),
            public_url: base.clone(),
            settings,
            payments: sandbox.clone(),
            clock: Clock::Fixed(now.clone()),
            kek: ironcart::store::KekSource::default_file(data_dir.path()),
        })
        .await
        .expect("build state");
        let (cert, key) = ironcart::tls::ensure_self_signed(data_dir.path()).expect("certificate");
        let tls_config = ironcart::tls::server_config(&cert, &key).expect("tls config");
        let running = server::spawn(listener, state.clone(), tls.then_some(tls_config))
            .await
            .expect("spawn");
        let client = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .expect("client");
        Self {
            base,
            client,
            state,
            sandbox,
            now,
            data_dir,
            database_url,
            running: Some(running),
        }
    }

    /// A second connection pool on the test's database, bypassing the app (and its
    /// encryption): what an attacker with database access would hold.
    pub async fn raw_db(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect(&self.database_url)
            .await
            .expect("raw database connection")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Moves the app's clock forward.
    pub fn advance(&self, seconds: i64) {
        self.now
            .fetch_add(seconds, std::sync::atomic::Ordering::SeqCst);
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("request sent")
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> reqwest::Response {
        self.call(Method::POST, path, token, Some(body)).await
    }

    /// Creates an account with the given role directly in the store.
    pub async fn create_user(&self, email: &str, role: &str) {
        let email = Email::parse(email).expect("email");
        customers::create_with_roles(
            &self.state,
            &email,
            "Test User",
            &SecretString::from(PASSWORD),
            &[role],
        )
        .await
        .expect("create user");
    }

    /// Logs in and returns the whole token response.
    pub async fn login(&self, email: &str, password: &str) -> Value {
        let response = self
            .post(
                "/api/v1/auth/login",
                None,
                json!({ "email": email, "password": password }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK, "login of {email}");
        response.json().await.expect("token json")
    }

    /// A fresh account of `role`, logged in; returns its access token.
    pub async fn token_for_role(&self, role: &str) -> String {
        let email = format!(
            "{}-{}@example.com",
            role.replace('_', "-"),
            uuid::Uuid::new_v4().simple()
        );
        self.create_user(&email, role).await;
        self.login(&email, PASSWORD).await["access_token"]
            .as_str()
            .expect("access token")
            .to_owned()
    }

    /// Registers a customer through the API and returns (email, access token).
    pub async fn customer(&self) -> (String, String) {
        let email = format!("shopper-{}@example.com", uuid::Uuid::new_v4().simple());
        let response = self
            .post(
                "/api/v1/auth/register",
                None,
                json!({ "email": email, "password": PASSWORD, "name": "Shopper" }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let token = self.login(&email, PASSWORD).await["access_token"]
            .as_str()
            .expect("access token")
            .to_owned();
        (email, token)
    }

    /// Imports one of the shared Shopify catalogs through the admin API.
    pub async fn import_catalog(&self, file: &str, admin_token: &str) -> Value {
        let csv = std::fs::read(shared_data(&format!("catalogs/{file}"))).expect("catalog");
        let response = self
            .client
            .post(self.url("/api/v1/admin/imports/shopify"))
            .bearer_auth(admin_token)
            .header("content-type", "text/csv")
            .body(csv)
            .send()
            .await
            .expect("import sent");
        assert_eq!(response.status(), StatusCode::OK, "import of {file}");
        response.json().await.expect("import report")
    }

    /// A product by handle through the public API.
    pub async fn product(&self, handle: &str) -> Value {
        let response = self.get(&format!("/api/v1/products/{handle}"), None).await;
        assert_eq!(response.status(), StatusCode::OK, "product {handle}");
        response.json().await.expect("product json")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            running.handle.shutdown();
        }
    }
}

/// Asserts a response is an RFC 9457 problem with the given status; returns it.
pub async fn assert_problem(response: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status, "unexpected status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("problem json");
    assert_eq!(body["status"], status.as_u16());
    assert!(
        body["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("/problems/"))
    );
    assert!(body["title"].is_string());
    body
}
