//! The main job on real input: the built binary, started as a user would, serves a
//! whole shopping flow over HTTPS on the real Shopify catalogs — and its logs never
//! carry a password or a token.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{fresh_database_url, shared_data};

struct Server {
    child: Child,
    base: String,
    log_path: std::path::PathBuf,
    client: reqwest::Client,
}

impl Server {
    async fn start(data_dir: &std::path::Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let log_path = data_dir.join("server.log");
        let log = std::fs::File::create(&log_path).expect("log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_ironcart"));
        command
            .arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(data_dir)
            .env_remove("IRONCART_DATABASE_URL")
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log));
        if std::env::var("IRONCART_TEST_DATABASE").is_ok() {
            command
                .arg("--database-url")
                .arg(fresh_database_url(data_dir).await);
        }
        let child = command.spawn().expect("start the ironcart binary");
        let client = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .expect("client");
        let server = Self {
            child,
            base: format!("https://127.0.0.1:{port}"),
            log_path,
            client,
        };
        server.wait_until_healthy().await;
        server
    }

    async fn wait_until_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let response = self
                .client
                .get(format!("{}/healthz", self.base))
                .send()
                .await;
            if response.is_ok_and(|r| r.status() == StatusCode::OK) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("server did not become healthy; log:\n{}", self.log());
    }

    fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(&self.log_path) {
            let _ = file.read_to_string(&mut text);
        }
        text
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    async fn login(&self, email: &str, password: &str) -> Value {
        let (status, body) = self
            .send(
                reqwest::Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login {email}: {body}");
        body
    }

    async fn import(&self, token: &str, file: &str) -> Value {
        let csv = std::fs::read(shared_data(&format!("catalogs/{file}"))).expect("catalog");
        let response = self
            .client
            .post(format!("{}/api/v1/admin/imports/shopify", self.base))
            .bearer_auth(token)
            .header("content-type", "text/csv")
            .body(csv)
            .send()
            .await
            .expect("import");
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("report")
    }

    fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return self.log();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("server did not stop on SIGTERM");
    }
}

fn token(body: &Value, field: &str) -> String {
    body[field].as_str().expect("token").to_owned()
}

#[tokio::test]
async fn the_binary_serves_a_whole_shopping_flow_on_the_real_catalogs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path()).await;
    let get = reqwest::Method::GET;
    let post = reqwest::Method::POST;

    let password_file = dir.path().join("initial-admin-password");
    let mode = std::fs::metadata(&password_file)
        .expect("admin password file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "admin password file must be 0600");
    let admin_password = std::fs::read_to_string(&password_file)
        .expect("read")
        .trim()
        .to_owned();
    let admin = server.login("admin@ironcart.local", &admin_password).await;
    let admin_token = token(&admin, "access_token");

    let apparel = server.import(&admin_token, "shopify-apparel.csv").await;
    let garden = server
        .import(&admin_token, "shopify-home-and-garden.csv")
        .await;
    assert_eq!(apparel["products_created"], 20);
    assert_eq!(garden["products_created"], 20);

    let customer_password = "an unguessable phrase for e2e";
    let (status, _) = server
        .send(post.clone(), "/api/v1/auth/register", None, Some(json!({"email": "carol@example.com", "password": customer_password, "name": "Carol O'Brien"})))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let carol = server.login("carol@example.com", customer_password).await;
    let carol_token = token(&carol, "access_token");

    let (status, found) = server
        .send(get.clone(), "/api/v1/products?q=jacket", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        found["total"], 5,
        "five jackets in the apparel catalog: {found}"
    );
    let jackets = found["items"].as_array().expect("items");
    let picks: Vec<(String, i64, i64, String)> = jackets[..2]
        .iter()
        .map(|p| {
            let v = &p["variants"][0];
            (
                v["id"].as_str().expect("id").to_owned(),
                v["price"]["amount"].as_i64().expect("price"),
                v["available"].as_i64().expect("stock"),
                p["handle"].as_str().expect("handle").to_owned(),
            )
        })
        .collect();
    assert_ne!(picks[0].0, picks[1].0);
    for (variant_id, _, _, _) in &picks {
        let (status, cart) = server
            .send(
                post.clone(),
                "/api/v1/cart/items",
                Some(&carol_token),
                Some(json!({"variant_id": variant_id, "quantity": 1})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{cart}");
    }

    let address = json!({"name": "Carol O'Brien", "line1": "12 Rue & Co #4", "city": "Springfield", "postal_code": "12345", "country": "US"});
    let response = server
        .client
        .post(format!("{}/api/v1/checkout", server.base))
        .bearer_auth(&carol_token)
        .header("idempotency-key", "e2e-order-1")
        .json(&json!({"shipping_address": address, "payment_token": "tok_visa"}))
        .send()
        .await
        .expect("checkout");
    assert_eq!(response.status(), StatusCode::CREATED);
    let order: Value = response.json().await.expect("order");
    let expected_total: i64 = picks.iter().map(|p| p.1).sum();
    assert_eq!(order["total"]["amount"], expected_total);
    assert_eq!(order["total"]["currency"], "USD");
    assert_eq!(order["status"], "paid");
    assert_eq!(order["lines"].as_array().map(Vec::len), Some(2));

    for (_, _, stock_before, handle) in &picks {
        let (_, product) = server
            .send(
                get.clone(),
                &format!("/api/v1/products/{handle}"),
                None,
                None,
            )
            .await;
        assert_eq!(
            product["variants"][0]["available"].as_i64(),
            Some(stock_before - 1),
            "stock of {handle}"
        );
    }

    let (status, orders) = server
        .send(get.clone(), "/api/v1/orders", Some(&carol_token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(orders["total"], 1);
    assert_eq!(orders["items"][0]["id"], order["id"]);

    let (status, _) = server
        .send(
            post.clone(),
            "/api/v1/auth/register",
            None,
            Some(
                json!({"email": "dave@example.com", "password": customer_password, "name": "Dave"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let dave = server.login("dave@example.com", customer_password).await;
    let dave_token = token(&dave, "access_token");
    let order_path = format!("/api/v1/orders/{}", order["id"].as_str().expect("order id"));
    let (status, _) = server
        .send(get.clone(), &order_path, Some(&dave_token), None)
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another customer's order is invisible"
    );
    let (status, _) = server
        .send(get.clone(), &order_path, Some(&carol_token), None)
        .await;
    assert_eq!(status, StatusCode::OK);

    let (_, armchair) = server
        .send(get.clone(), "/api/v1/products/pink-armchair", None, None)
        .await;
    assert_eq!(armchair["variants"][0]["available"], 0);
    let sold_out = armchair["variants"][0]["id"]
        .as_str()
        .expect("variant")
        .to_owned();
    let (status, _) = server
        .send(
            post.clone(),
            "/api/v1/cart/items",
            Some(&dave_token),
            Some(json!({"variant_id": sold_out, "quantity": 1})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a sold-out deny-policy variant cannot be bought"
    );

    let log = server.stop();
    assert!(
        log.contains("initial-admin-password"),
        "the admin password file path is logged"
    );
    let secrets = [
        admin_password.clone(),
        customer_password.to_owned(),
        admin_token.clone(),
        token(&admin, "refresh_token"),
        carol_token.clone(),
        token(&carol, "refresh_token"),
        dave_token.clone(),
    ];
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "a secret leaked into the logs"
        );
    }
    for line in log.lines().filter(|l| l.contains("request completed")) {
        assert!(
            line.contains("request.id"),
            "every request log line carries its request id: {line}"
        );
    }
}
