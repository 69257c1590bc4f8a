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

/// Settings for tests: rate limits and automatic bans out of the way (tests of
/// limits and bans set their own).
pub fn test_settings() -> Settings {
    Settings {
        max_line_quantity: 10,
        rate_limits: ironcart::security::ratelimit::RateLimitSettings::unlimited_for_tests(),
        bans: ironcart::security::bans::BanSettings::detectors_off(),
        ..Settings::default()
    }
}

/// Test settings with the WAF in detection-only mode, for tests that attack the
/// layers behind it.
pub fn waf_watching_settings() -> Settings {
    let mut settings = test_settings();
    settings.waf.mode = ironcart_waf::Mode::DetectionOnly;
    settings
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
        Self::spawn_full(settings, true, None).await
    }

    /// Serves plain HTTP (as behind a TLS-terminating proxy), for raw-socket tests.
    pub async fn spawn_plain(settings: Settings) -> Self {
        Self::spawn_full(settings, false, None).await
    }

    async fn spawn_full(
        settings: Settings,
        tls: bool,
        payments: Option<(Arc<dyn PaymentProvider>, Arc<SandboxProvider>)>,
    ) -> Self {
        Self::spawn_on(settings, tls, payments, false).await
    }

    /// As [`TestApp::spawn`], on SQLite whatever IRONCART_TEST_DATABASE says (for
    /// what only the embedded database has: `ironcart backup`).
    pub async fn spawn_sqlite() -> Self {
        Self::spawn_on(test_settings(), true, None, true).await
    }

    async fn spawn_on(
        settings: Settings,
        tls: bool,
        payments: Option<(Arc<dyn PaymentProvider>, Arc<SandboxProvider>)>,
        sqlite: bool,
    ) -> Self {
        let capturing = log_capture().is_some();
        let data_dir = tempfile::tempdir().expect("temp dir");
        let url = if sqlite {
            format!(
                "sqlite://{}?mode=rwc",
                data_dir.path().join("ironcart.db").display()
            )
        } else {
            fresh_database_url(data_dir.path()).await
        };
        let store = Store::connect(&url).await.expect("open store");
        let (payments, sandbox) = payments.unwrap_or_else(|| {
            let sandbox = Arc::new(SandboxProvider::default());
            (sandbox.clone() as Arc<dyn PaymentProvider>, sandbox)
        });
        let database_url = url.clone();
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
            payments,
            clock: Clock::Fixed(now.clone()),
            kek: ironcart::store::KekSource::default_file(data_dir.path()),
        })
        .await
        .expect("build state");
        if capturing {
            remember_key_material(data_dir.path());
        }
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

    /// The live TLS configuration of the running server.
    pub fn live_tls(&self) -> Option<axum_server::tls_rustls::RustlsConfig> {
        self.running.as_ref().and_then(|r| r.tls.clone())
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
        remember_public_path(path);
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            remember_secret("bearer token", token);
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            remember_secrets_in(&body);
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
        remember_secret("email", email);
        remember_secret("password", PASSWORD);
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
        let tokens: Value = response.json().await.expect("token json");
        remember_secrets_in(&tokens);
        tokens
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

// ------------------------------------------------ authentication helpers (tests-auth)

/// The access and refresh token of one session, as login or refresh returned them.
#[derive(Debug, Clone)]
pub struct Session {
    pub access: String,
    pub refresh: String,
}

impl Session {
    /// Reads a token response, checking the fields every token response must carry.
    pub fn from_token_response(body: &Value) -> Self {
        assert_eq!(body["token_type"], "Bearer", "{body}");
        assert_eq!(body["expires_in"], 900, "{body}");
        let field = |name: &str| {
            body[name]
                .as_str()
                .unwrap_or_else(|| panic!("token response without {name}: {body}"))
                .to_owned()
        };
        remember_secrets_in(body);
        Self {
            access: field("access_token"),
            refresh: field("refresh_token"),
        }
    }
}

/// Decodes one base64url segment of a compact JWS (0 header, 1 claims) as JSON.
pub fn jwt_segment(token: &str, index: usize) -> Value {
    use base64::Engine as _;
    let segment = token.split('.').nth(index).expect("token segment");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment)
        .expect("base64url segment");
    serde_json::from_slice(&bytes).expect("JSON segment")
}

impl TestApp {
    /// Registers through the API; the response is returned unchecked.
    pub async fn register(&self, email: &str, password: &str, name: &str) -> reqwest::Response {
        self.post(
            "/api/v1/auth/register",
            None,
            json!({ "email": email, "password": password, "name": name }),
        )
        .await
    }

    /// Registers through the API (asserting 201), logs in, and returns the new
    /// account's id with its first session.
    pub async fn sign_up(&self, email: &str, password: &str) -> (String, Session) {
        let response = self.register(email, password, "Test Shopper").await;
        assert_eq!(response.status(), StatusCode::CREATED, "register {email}");
        let user: Value = response.json().await.expect("user json");
        let id = user["id"].as_str().expect("user id").to_owned();
        (id, self.session(email, password).await)
    }

    /// Logs in (asserting 200) and returns the session.
    pub async fn session(&self, email: &str, password: &str) -> Session {
        Session::from_token_response(&self.login(email, password).await)
    }

    /// Presents a refresh token; the response is returned unchecked.
    pub async fn refresh(&self, refresh_token: &str) -> reqwest::Response {
        self.post(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": refresh_token }),
        )
        .await
    }

    /// The status `GET /api/v1/me` answers with this access token.
    pub async fn me_status(&self, access_token: &str) -> StatusCode {
        self.get("/api/v1/me", Some(access_token)).await.status()
    }

    /// Audit events with this action, newest first.
    pub async fn audit_events(&self, action: &str) -> Vec<Value> {
        let events = self
            .state
            .store
            .recent_audit(100_000, 0)
            .await
            .expect("audit trail");
        events
            .into_iter()
            .filter(|event| event["action"] == action)
            .collect()
    }
}

// ---------------------------------------------------------------- access control and
// input handling helpers (rbac.rs, validation.rs, openapi.rs)

/// A path with every `{param}` placeholder replaced by `value`.
pub fn fill_path_params(path: &str, value: &str) -> String {
    let mut filled = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        filled.push_str(&rest[..start]);
        filled.push_str(value);
        rest = &rest[start + end + 1..];
    }
    filled.push_str(rest);
    filled
}

/// A response header as text ("" when absent or not visible ASCII).
pub fn header_text(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

impl TestApp {
    /// Sends a raw body with the given content type (none when `None`).
    pub async fn call_raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> reqwest::Response {
        remember_public_path(path);
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            remember_secret("bearer token", token);
            request = request.bearer_auth(token);
        }
        if let Ok(json) = serde_json::from_slice::<Value>(&body) {
            remember_secrets_in(&json);
        }
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request.body(body).send().await.expect("request sent")
    }

    /// The caller's own profile (`GET /api/v1/me`), asserting 200.
    pub async fn me(&self, token: &str) -> Value {
        let response = self.get("/api/v1/me", Some(token)).await;
        assert_eq!(response.status(), StatusCode::OK, "GET /api/v1/me");
        response.json().await.expect("profile json")
    }

    /// Puts `quantity` of a variant in the caller's cart, asserting 200.
    pub async fn add_to_cart_ok(&self, token: &str, variant_id: &str, quantity: i64) -> Value {
        let response = self
            .post(
                "/api/v1/cart/items",
                Some(token),
                json!({ "variant_id": variant_id, "quantity": quantity }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK, "add to cart");
        response.json().await.expect("cart json")
    }

    /// Checks out the caller's cart with the sandbox's always-approved token.
    pub async fn checkout_ok(&self, token: &str) -> Value {
        let response = self
            .client
            .post(self.url("/api/v1/checkout"))
            .bearer_auth(token)
            .header("idempotency-key", uuid::Uuid::new_v4().to_string())
            .json(&json!({
                "shipping_address": {
                    "name": "Ada Lovelace",
                    "line1": "12 Analytical Row",
                    "city": "Springfield",
                    "postal_code": "12345",
                    "country": "US"
                },
                "payment_token": "tok_visa"
            }))
            .send()
            .await
            .expect("checkout sent");
        assert_eq!(response.status(), StatusCode::CREATED, "checkout");
        response.json().await.expect("order json")
    }
}

// ================================================================ commerce helpers
// Catalog, cart, checkout and order tests (catalog.rs, checkout.rs, orders.rs).

use ironcart::domain::payments::{Charge, ChargeRequest, PaymentError, PaymentProvider};

/// The text of a shared catalog, for tests that import modified copies.
pub fn catalog_csv(file: &str) -> String {
    std::fs::read_to_string(shared_data(&format!("catalogs/{file}"))).expect("catalog text")
}

/// A checkout body with a valid address and the given payment token.
pub fn checkout_body(payment_token: &str) -> Value {
    json!({
        "shipping_address": {
            "name": "Ada Shopper",
            "line1": "1 Market Street",
            "city": "Springfield",
            "postal_code": "12345",
            "country": "US"
        },
        "payment_token": payment_token
    })
}

/// The id of a product's variant number `index` (API order).
pub fn variant_id(product: &Value, index: usize) -> String {
    product["variants"][index]["id"]
        .as_str()
        .expect("variant id")
        .to_owned()
}

/// The price in minor units of a product's variant number `index`.
pub fn variant_price(product: &Value, index: usize) -> i64 {
    assert_eq!(product["variants"][index]["price"]["currency"], "USD");
    product["variants"][index]["price"]["amount"]
        .as_i64()
        .expect("price amount")
}

/// The handles of a page of products, in the order given.
pub fn handles(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["handle"].as_str().expect("handle").to_owned())
        .collect()
}

impl TestApp {
    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> reqwest::Response {
        self.call(Method::PATCH, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        self.call(Method::DELETE, path, token, None).await
    }

    /// Posts a CSV body to the import endpoint with the given content type (none when
    /// `None`) and returns the response as it came.
    pub async fn send_import(
        &self,
        csv: impl Into<Vec<u8>>,
        content_type: Option<&str>,
        token: &str,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.url("/api/v1/admin/imports/shopify"))
            .bearer_auth(token)
            .body(csv.into());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request.send().await.expect("import sent")
    }

    /// Imports a CSV text that must succeed; returns the report.
    pub async fn import_text(&self, csv: &str, admin_token: &str) -> Value {
        let response = self
            .send_import(csv.to_owned(), Some("text/csv"), admin_token)
            .await;
        assert_eq!(response.status(), StatusCode::OK, "import of a CSV text");
        response.json().await.expect("import report")
    }

    /// One page of the public catalog for a raw query string (`q=jacket&page=2`).
    pub async fn search(&self, query: &str) -> Value {
        let response = self.get(&format!("/api/v1/products?{query}"), None).await;
        assert_eq!(response.status(), StatusCode::OK, "search {query}");
        response.json().await.expect("search json")
    }

    /// Every product the public can see, following the pages to the end.
    pub async fn all_products(&self) -> Vec<Value> {
        let mut products = Vec::new();
        for page in 1.. {
            let body = self.search(&format!("per_page=100&page={page}")).await;
            let items = body["items"].as_array().expect("items").clone();
            if items.is_empty() {
                assert_eq!(body["total"].as_u64(), Some(products.len() as u64));
                return products;
            }
            products.extend(items);
        }
        unreachable!("pages are unbounded")
    }

    /// Adds a variant to the caller's cart and returns the response.
    pub async fn add_to_cart(
        &self,
        token: &str,
        variant_id: &str,
        quantity: i64,
    ) -> reqwest::Response {
        self.post(
            "/api/v1/cart/items",
            Some(token),
            json!({ "variant_id": variant_id, "quantity": quantity }),
        )
        .await
    }

    /// The caller's cart document.
    pub async fn cart(&self, token: &str) -> Value {
        let response = self.get("/api/v1/cart", Some(token)).await;
        assert_eq!(response.status(), StatusCode::OK, "cart");
        response.json().await.expect("cart json")
    }

    /// Posts a checkout, with an `Idempotency-Key` header when `key` is given.
    pub async fn checkout(&self, token: &str, key: Option<&str>, body: Value) -> reqwest::Response {
        remember_secret("bearer token", token);
        remember_secrets_in(&body);
        let mut request = self
            .client
            .post(self.url("/api/v1/checkout"))
            .bearer_auth(token)
            .json(&body);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        request.send().await.expect("checkout sent")
    }

    /// Changes one variant through the admin API; the patch must be accepted.
    pub async fn patch_variant(
        &self,
        admin_token: &str,
        product: &Value,
        index: usize,
        patch: Value,
    ) {
        let path = format!(
            "/api/v1/admin/products/{}/variants/{}",
            product["id"].as_str().expect("product id"),
            variant_id(product, index)
        );
        let response = self.patch(&path, Some(admin_token), patch).await;
        assert_eq!(response.status(), StatusCode::OK, "variant patch");
    }

    /// A variant's stock as stored: the API shows `available` floored at 0, the
    /// store shows what really happened.
    pub async fn stored_stock(&self, variant_id: &str) -> i64 {
        self.state
            .store
            .variant_by_id(variant_id)
            .await
            .expect("variant read")
            .expect("variant exists")
            .inventory_quantity
    }

    /// As [`TestApp::spawn`], with a payment provider chosen by the test; `sandbox`
    /// is the ledger the test reads through [`TestApp::sandbox`].
    pub async fn spawn_with_payments(
        payments: Arc<dyn PaymentProvider>,
        sandbox: Arc<SandboxProvider>,
    ) -> Self {
        Self::spawn_full(test_settings(), true, Some((payments, sandbox))).await
    }

    /// An app whose sandbox payments can be held at a gate (see [`GatedSandbox`]).
    pub async fn spawn_gated() -> (Self, Arc<GatedSandbox>) {
        let gated = Arc::new(GatedSandbox::default());
        let app = Self::spawn_with_payments(gated.clone(), gated.sandbox.clone()).await;
        (app, gated)
    }
}

/// A point where payment calls wait until the test opens it. The test learns how
/// many calls are waiting, so it can line up concurrent requests at the exact
/// step where a race happens, without sleeping.
pub struct Gate {
    arrived: tokio::sync::watch::Sender<usize>,
    release: tokio::sync::Semaphore,
}

impl Default for Gate {
    fn default() -> Self {
        Self {
            arrived: tokio::sync::watch::channel(0).0,
            release: tokio::sync::Semaphore::new(0),
        }
    }
}

impl Gate {
    async fn pass(&self) {
        self.arrived.send_modify(|n| *n += 1);
        // A closed semaphore is an open gate.
        let _ = self.release.acquire().await;
    }

    /// Waits until `count` calls have reached the gate; fails the test rather than
    /// hanging if they never do.
    pub async fn wait_for(&self, count: usize) {
        let mut arrivals = self.arrived.subscribe();
        let reached = tokio::time::timeout(
            std::time::Duration::from_secs(60),
            arrivals.wait_for(|n| *n >= count),
        )
        .await;
        assert!(
            matches!(reached, Ok(Ok(_))),
            "{count} payment calls never reached the gate"
        );
    }

    /// Lets every waiting and future call through.
    pub fn open(&self) {
        self.release.close();
    }
}

/// The sandbox provider with optional gates in front of charges and refunds.
#[derive(Default)]
pub struct GatedSandbox {
    pub sandbox: Arc<SandboxProvider>,
    charge_gate: std::sync::Mutex<Option<Arc<Gate>>>,
    refund_gate: std::sync::Mutex<Option<Arc<Gate>>>,
}

impl GatedSandbox {
    /// From now on, charges wait at the returned gate until it is opened.
    pub fn hold_charges(&self) -> Arc<Gate> {
        let gate = Arc::new(Gate::default());
        *self.charge_gate.lock().expect("gate lock") = Some(gate.clone());
        gate
    }

    /// From now on, refunds wait at the returned gate until it is opened.
    pub fn hold_refunds(&self) -> Arc<Gate> {
        let gate = Arc::new(Gate::default());
        *self.refund_gate.lock().expect("gate lock") = Some(gate.clone());
        gate
    }

    fn gate(slot: &std::sync::Mutex<Option<Arc<Gate>>>) -> Option<Arc<Gate>> {
        slot.lock().expect("gate lock").clone()
    }
}

#[async_trait::async_trait]
impl PaymentProvider for GatedSandbox {
    fn name(&self) -> &'static str {
        self.sandbox.name()
    }

    async fn charge(&self, request: ChargeRequest) -> Result<Charge, PaymentError> {
        if let Some(gate) = Self::gate(&self.charge_gate) {
            gate.pass().await;
        }
        self.sandbox.charge(request).await
    }

    async fn refund(
        &self,
        charge_reference: &str,
        amount: i64,
        idempotency_key: &str,
    ) -> Result<Charge, PaymentError> {
        if let Some(gate) = Self::gate(&self.refund_gate) {
            gate.pass().await;
        }
        self.sandbox
            .refund(charge_reference, amount, idempotency_key)
            .await
    }
}

// ================================================================ log capture
// For logs::attack_suites_leak_no_secrets: with IRONCART_TEST_LOG_DIR set, the suite
// logs through the product's own telemetry (JSON lines, redacted) to `ironcart.log`
// there, and the harness notes every secret it handles in `secrets.jsonl`, with the
// values it sent where nothing is secret (paths, names, search terms), kind "public":
// an attack string a test uses both as a password and as a search term may be logged
// as the search term.

pub const LOG_DIR_VARIABLE: &str = "IRONCART_TEST_LOG_DIR";
pub const CAPTURED_LOG: &str = "ironcart.log";
pub const CAPTURED_SECRETS: &str = "secrets.jsonl";

static LOG_CAPTURE: std::sync::OnceLock<Option<std::sync::Mutex<std::fs::File>>> =
    std::sync::OnceLock::new();

/// The secrets file, once the product's subscriber is installed; `None` when the
/// logs are not captured.
fn log_capture() -> Option<&'static std::sync::Mutex<std::fs::File>> {
    LOG_CAPTURE
        .get_or_init(|| {
            let dir = PathBuf::from(std::env::var_os(LOG_DIR_VARIABLE)?);
            let log = std::fs::File::create(dir.join(CAPTURED_LOG)).expect("log file");
            ironcart::telemetry::init_with(std::sync::Mutex::new(log));
            let secrets = std::fs::File::create(dir.join(CAPTURED_SECRETS)).expect("secrets");
            Some(std::sync::Mutex::new(secrets))
        })
        .as_ref()
}

/// Notes one secret of the given kind, when logs are captured.
pub fn remember_secret(kind: &str, value: &str) {
    use std::io::Write as _;
    let Some(file) = log_capture() else { return };
    let line = json!({ "kind": kind, "value": value }).to_string();
    let mut file = file.lock().expect("secrets lock");
    writeln!(file, "{line}").expect("secret noted");
}

/// Notes the secrets in a request or token document: passwords, emails, tokens, and
/// card numbers wherever they are.
// Known gap: requests a test builds on `app.client` itself, and non-JSON raw bodies,
// are not noted; the log test's search for token shapes covers their tokens.
pub fn remember_secrets_in(document: &Value) {
    if log_capture().is_none() {
        return;
    }
    let mut stack = vec![(String::new(), document)];
    while let Some((key, value)) = stack.pop() {
        match value {
            Value::Object(map) => stack.extend(map.iter().map(|(k, v)| (k.to_lowercase(), v))),
            Value::Array(items) => stack.extend(items.iter().map(|v| (key.clone(), v))),
            Value::String(text) => {
                let kind = if key.contains("password") {
                    "password"
                } else if key.contains("email") && Email::parse(text).is_ok() {
                    "email"
                } else if key.contains("token") {
                    "token"
                } else {
                    "public"
                };
                remember_secret(kind, text);
                for card in card_numbers(text) {
                    remember_secret("card number", &card);
                }
            }
            _ => {}
        }
    }
}

/// Notes a request path and query, as sent and percent-decoded, as public values.
fn remember_public_path(path: &str) {
    if log_capture().is_none() {
        return;
    }
    remember_secret("public", path);
    let bytes = path.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let hex = path
            .get(at + 1..at + 3)
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[at], hex) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                at += 3;
            }
            (b'+', _) => {
                decoded.push(b' ');
                at += 1;
            }
            (byte, _) => {
                decoded.push(byte);
                at += 1;
            }
        }
    }
    remember_secret("public", &String::from_utf8_lossy(&decoded));
}

/// Luhn-valid runs of 13 to 19 digits, single spaces or dashes allowed between them,
/// as they appear in `text`.
pub fn card_numbers(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut found = Vec::new();
    let mut start = 0;
    while start < chars.len() {
        if !chars[start].is_ascii_digit() {
            start += 1;
            continue;
        }
        let mut end = start;
        while end + 1 < chars.len()
            && (chars[end + 1].is_ascii_digit()
                || (matches!(chars[end + 1], ' ' | '-')
                    && chars.get(end + 2).is_some_and(char::is_ascii_digit)))
        {
            end += 1;
        }
        let run: String = chars[start..=end].iter().collect();
        let digits: Vec<u32> = run.chars().filter_map(|c| c.to_digit(10)).collect();
        if (13..=19).contains(&digits.len()) && luhn_valid(&digits) {
            found.push(run);
        }
        start = end + 1;
    }
    found
}

fn luhn_valid(digits: &[u32]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| match (i % 2, d * 2) {
            (0, _) => *d,
            (_, doubled) if doubled > 9 => doubled - 9,
            (_, doubled) => doubled,
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Notes the KEK and the token signing key a freshly spawned app created.
fn remember_key_material(data_dir: &std::path::Path) {
    let keys = data_dir.join("keys");
    if let Ok(kek) = std::fs::read_to_string(keys.join("kek")) {
        remember_secret("KEK", kek.trim());
    }
    let signing = std::fs::read_dir(keys.join("signing")).expect("signing key directory");
    for entry in signing.flatten() {
        let pem = std::fs::read_to_string(entry.path()).expect("signing key");
        for line in pem.lines().filter(|l| !l.starts_with("-----")) {
            remember_secret("signing key", line);
        }
    }
}
