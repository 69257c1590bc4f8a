//! `ironcart backup` and `ironcart restore`, run with the built binary as an operator
//! would: a backup of a populated store taken while the server serves and writes,
//! restored into a new place and served again by the binary with the same KEK, every
//! value compared; and the refusals (a flipped byte, a cut file, the wrong KEK) that
//! must leave the restore target untouched.
//!
//! The backup covers the embedded SQLite database, so these tests run on SQLite even
//! when IRONCART_TEST_DATABASE points at PostgreSQL.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{PASSWORD, TestApp, shared_data, variant_id};

/// The binary with a clean environment: only what the test passes counts.
fn ironcart(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ironcart"));
    command
        .args(args)
        .env_remove("IRONCART_DATABASE_URL")
        .env_remove("IRONCART_DATA_DIR")
        .env_remove("IRONCART_KEK")
        .env_remove("IRONCART_KEK_FILE")
        .env_remove("IRONCART_CONFIG")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    command
}

fn path_arg(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// Runs the binary off the async runtime (the test's server keeps serving).
async fn run(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().expect("run the ironcart binary"))
        .await
        .expect("join")
}

/// The JSON result: the last line of standard output.
fn result_json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "the command failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    if let Ok(whole) = serde_json::from_str(&stdout) {
        return whole;
    }
    let line = stdout
        .lines()
        .rfind(|l| l.starts_with('{'))
        .expect("a JSON line");
    serde_json::from_str(line).expect("JSON result")
}

/// A refusal: non-zero exit and one clear line on standard error, which is returned.
fn refusal(output: &Output) -> String {
    assert!(!output.status.success(), "the command was expected to fail");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line of error: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    lines[0].to_owned()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|read| {
            read.map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// A KEK file of its own (mode 0600), for the wrong-key case.
fn other_kek(dir: &Path) -> PathBuf {
    use base64::Engine;
    let path = dir.join("other.kek");
    let key: [u8; 32] = rand::random();
    let text = base64::engine::general_purpose::STANDARD.encode(key);
    std::fs::write(&path, format!("{text}\n")).expect("write KEK");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    path
}

struct Customer {
    email: String,
    name: String,
    token: String,
}

/// Everything a client can see of the store, through the API.
#[derive(Debug, PartialEq)]
struct Views {
    users: Vec<Value>,
    orders: Vec<Value>,
    products: Vec<Value>,
    /// Per customer: profile, cart and own orders.
    customers: Vec<(Value, Value, Value)>,
}

/// The binary serving a restored data directory.
struct Served {
    child: Child,
    base: String,
    client: reqwest::Client,
    log: PathBuf,
}

impl Served {
    async fn start(data_dir: &Path, kek_file: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let log = data_dir.with_extension("log");
        let out = std::fs::File::create(&log).expect("log file");
        let child = ironcart(&[
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
            path_arg(data_dir),
            "--kek-file",
            path_arg(kek_file),
        ])
        .env("RUST_LOG", "info")
        .stdout(Stdio::from(out.try_clone().expect("log")))
        .stderr(Stdio::from(out))
        .spawn()
        .expect("start ironcart serve");
        let served = Self {
            child,
            base: format!("https://127.0.0.1:{port}"),
            client: reqwest::Client::builder()
                .danger_accept_invalid_certs(true)
                .build()
                .expect("client"),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let health = served
                .client
                .get(format!("{}/readyz", served.base))
                .send()
                .await;
            if health.is_ok_and(|r| r.status() == StatusCode::OK) {
                return served;
            }
            assert!(
                Instant::now() < deadline,
                "the restored server did not start: {}",
                std::fs::read_to_string(&served.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Value {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        response.json().await.expect("JSON")
    }

    async fn login(&self, email: &str) -> String {
        let body = self
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({ "email": email, "password": PASSWORD })),
            )
            .await;
        body["access_token"].as_str().expect("token").to_owned()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every page of an admin list.
async fn all_pages(fetch: impl AsyncFn(String) -> Value, path: &str) -> Vec<Value> {
    let mut items = Vec::new();
    for page in 1.. {
        let body = fetch(format!("{path}?per_page=100&page={page}")).await;
        let batch = body["items"].as_array().expect("items").clone();
        if batch.is_empty() {
            return items;
        }
        items.extend(batch);
    }
    unreachable!()
}

fn sorted_by_id(mut items: Vec<Value>) -> Vec<Value> {
    items.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    items
}

async fn live_views(app: &TestApp, admin: &str, customers: &[Customer]) -> Views {
    let get = |path: String| async move {
        let response = app.get(&path, Some(admin)).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        response.json::<Value>().await.expect("JSON")
    };
    let users = sorted_by_id(all_pages(&get, "/api/v1/admin/users").await);
    let orders = sorted_by_id(all_pages(&get, "/api/v1/admin/orders").await);
    let products = sorted_by_id(app.all_products().await);
    let mut views = Vec::new();
    for customer in customers {
        let me = app.me(&customer.token).await;
        let cart = app.cart(&customer.token).await;
        let response = app.get("/api/v1/orders", Some(&customer.token)).await;
        let orders: Value = response.json().await.expect("orders");
        views.push((me, cart, orders));
    }
    Views {
        users,
        orders,
        products,
        customers: views,
    }
}

async fn served_views(served: &Served, admin_email: &str, customers: &[Customer]) -> Views {
    let admin = served.login(admin_email).await;
    let get = |path: String| {
        let admin = admin.clone();
        async move { served.call(Method::GET, &path, Some(&admin), None).await }
    };
    let users = sorted_by_id(all_pages(&get, "/api/v1/admin/users").await);
    let orders = sorted_by_id(all_pages(&get, "/api/v1/admin/orders").await);
    let mut products = Vec::new();
    for page in 1.. {
        let body = served
            .call(
                Method::GET,
                &format!("/api/v1/products?per_page=100&page={page}"),
                None,
                None,
            )
            .await;
        let batch = body["items"].as_array().expect("items").clone();
        if batch.is_empty() {
            break;
        }
        products.extend(batch);
    }
    let mut views = Vec::new();
    for customer in customers {
        let token = served.login(&customer.email).await;
        let me = served
            .call(Method::GET, "/api/v1/me", Some(&token), None)
            .await;
        let cart = served
            .call(Method::GET, "/api/v1/cart", Some(&token), None)
            .await;
        let orders = served
            .call(Method::GET, "/api/v1/orders", Some(&token), None)
            .await;
        views.push((me, cart, orders));
    }
    Views {
        users,
        orders,
        products: sorted_by_id(products),
        customers: views,
    }
}

/// Writes through the API until told to stop: new customers and cart changes.
fn keep_writing(
    app: Arc<TestApp>,
    token: String,
    variant: String,
    stop: Arc<AtomicBool>,
    writes: Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<Vec<String>> {
    tokio::spawn(async move {
        let mut registered = Vec::new();
        let mut round = 0;
        let response = app.add_to_cart(&token, &variant, 1).await;
        assert_eq!(response.status(), StatusCode::OK, "first cart write");
        let line = format!("/api/v1/cart/items/{variant}");
        while !stop.load(Ordering::SeqCst) {
            round += 1;
            let response = app
                .patch(&line, Some(&token), json!({ "quantity": 1 + round % 5 }))
                .await;
            assert_eq!(response.status(), StatusCode::OK, "cart write under load");
            writes.fetch_add(1, Ordering::SeqCst);
            if round % 4 == 0 {
                let email = format!("during-backup-{round}@example.test");
                let response = app
                    .post(
                        "/api/v1/auth/register",
                        None,
                        json!({ "email": email, "password": PASSWORD, "name": format!("Writer {round}") }),
                    )
                    .await;
                assert_eq!(response.status(), StatusCode::CREATED);
                registered.push(email);
                writes.fetch_add(1, Ordering::SeqCst);
            }
        }
        registered
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_serving_restores_every_value_and_tampering_is_refused() {
    let app = Arc::new(TestApp::spawn_sqlite().await);
    let data_dir = app.data_dir.path().to_path_buf();
    let kek_file = data_dir.join("keys").join("kek");
    let work = tempfile::tempdir().expect("temp dir");

    // --- A populated store: two catalogs (one through the API, one with the CLI while
    // the server runs), customers with encrypted names and emails, carts and orders.
    let admin_email = "backup-admin@example.test";
    app.create_user(admin_email, "admin").await;
    let admin = app.login(admin_email, PASSWORD).await["access_token"]
        .as_str()
        .expect("admin token")
        .to_owned();
    app.import_catalog("shopify-apparel.csv", &admin).await;
    let imported = run({
        let mut c = ironcart(&["import", "shopify"]);
        c.arg(shared_data("catalogs/shopify-home-and-garden.csv"))
            .args(["--data-dir", path_arg(&data_dir)]);
        c
    })
    .await;
    assert_eq!(result_json(&imported)["products_created"], 20);

    // Stock for the carts and orders, set through the admin API.
    let mut stocked = Vec::new();
    for product in app.all_products().await.iter().step_by(5).take(8) {
        app.patch_variant(&admin, product, 0, json!({ "inventory_quantity": 40 }))
            .await;
        stocked.push(variant_id(product, 0));
    }

    let mut customers = Vec::new();
    for i in 0..5 {
        let email = format!("backup-customer-{i}@example.test");
        let name = format!("Zebulon Quartermaine {i}");
        let response = app
            .post(
                "/api/v1/auth/register",
                None,
                json!({ "email": email, "password": PASSWORD, "name": name }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let token = app.login(&email, PASSWORD).await["access_token"]
            .as_str()
            .expect("token")
            .to_owned();
        app.add_to_cart_ok(&token, &stocked[i], 1 + i as i64).await;
        app.add_to_cart_ok(&token, &stocked[i + 1], 1).await;
        if i < 3 {
            let response = app
                .checkout(
                    &token,
                    Some(&format!("backup-order-{i}")),
                    json!({
                        "shipping_address": {
                            "name": format!("Philomena Backhouse {i}"),
                            "line1": format!("{i} Marigold Crescent"),
                            "city": "Oxbridge",
                            "postal_code": "12345",
                            "country": "US"
                        },
                        "payment_token": "tok_visa"
                    }),
                )
                .await;
            assert_eq!(response.status(), StatusCode::CREATED, "checkout {i}");
            // A cart after the order, too.
            app.add_to_cart_ok(&token, &stocked[i + 2], 2).await;
        }
        customers.push(Customer { email, name, token });
    }
    let before = live_views(&app, &admin, &customers).await;
    assert_eq!(before.orders.len(), 3);
    assert_eq!(before.products.len(), 40);
    assert!(
        before
            .orders
            .iter()
            .any(|o| o["shipping_address"]["line1"] == "0 Marigold Crescent")
    );

    // --- The backup, with the binary, while another customer keeps writing.
    let (writer_email, writer_token) = app.customer().await;
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicUsize::new(0));
    let writer = keep_writing(
        app.clone(),
        writer_token,
        stocked[5].clone(),
        stop.clone(),
        writes.clone(),
    );
    while writes.load(Ordering::SeqCst) < 3 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let backups = work.path().join("backups");
    std::fs::create_dir(&backups).expect("backups dir");
    let file = backups.join("store.ibk");
    // On a loaded machine a short backup may see no write land while it runs; take
    // it again then (the assertion below still demands one that did).
    let mut attempts = 0;
    let (made, writes_during) = loop {
        attempts += 1;
        let _ = std::fs::remove_file(&file);
        let writes_at_start = writes.load(Ordering::SeqCst);
        let made = run({
            let mut c = ironcart(&["backup", path_arg(&file), "--data-dir", path_arg(&data_dir)]);
            c.env("USER", "backup-operator");
            c
        })
        .await;
        let writes_during = writes.load(Ordering::SeqCst) - writes_at_start;
        if writes_during > 0 || attempts == 5 {
            break (made, writes_during);
        }
    };
    stop.store(true, Ordering::SeqCst);
    let registered_during = writer.await.expect("writer");
    let made = result_json(&made);
    eprintln!(
        "backup: {} bytes, {writes_during} API writes while it ran, {} accounts registered by the writer",
        made["bytes"],
        registered_during.len()
    );
    assert!(
        writes_during > 0,
        "the server kept writing while the backup ran"
    );

    let bytes = std::fs::read(&file).expect("backup file");
    assert_eq!(made["bytes"], bytes.len() as u64);
    assert_eq!(mode(&file), 0o600, "the backup file is private");
    assert_eq!(entries(&backups), ["store.ibk"], "no partial file left");
    assert!(
        !entries(&data_dir)
            .iter()
            .any(|n| n.starts_with(".ironcart-backup")),
        "the plaintext snapshot was removed: {:?}",
        entries(&data_dir)
    );
    assert!(bytes.starts_with(b"ironcart-backup\n"));
    // Neither personal data nor anything else of the database is readable in it.
    let mut plaintext: Vec<String> = vec![
        admin_email.to_owned(),
        writer_email.clone(),
        "Philomena Backhouse".into(),
        "Marigold Crescent".into(),
        "Oxbridge".into(),
        "SQLite format 3".into(),
        "CREATE TABLE".into(),
    ];
    for customer in &customers {
        plaintext.push(customer.email.clone());
        plaintext.push(customer.name.clone());
    }
    for product in &before.products {
        plaintext.push(product["title"].as_str().expect("title").to_owned());
    }
    for needle in &plaintext {
        assert!(
            !contains(&bytes, needle),
            "{needle:?} is readable in the backup"
        );
    }
    use sha2::Digest;
    assert_eq!(made["sha256"], hex::encode(sha2::Sha256::digest(&bytes)));

    // Recorded in the audit trail: who, which file, how big.
    let events = app.audit_events("backup.created").await;
    assert_eq!(
        events.len(),
        attempts,
        "one event per backup taken: {events:?}"
    );
    let event = events
        .iter()
        .find(|e| e["details"]["sha256"] == made["sha256"])
        .expect("the kept backup's event");
    assert_eq!(event["outcome"], "success");
    assert_eq!(event["target"], path_arg(&file));
    assert_eq!(event["details"]["bytes"], bytes.len() as u64);
    assert_eq!(event["details"]["operator"]["kind"], "local");
    assert_eq!(event["details"]["operator"]["user"], "backup-operator");
    assert_eq!(event["details"]["kek_id"], made["kek_id"]);

    // --- Refusals: each one leaves the target as it was and no plaintext behind.
    let restore = |backup: &Path, dir: &Path, kek: &Path, extra: &[&str]| {
        let mut c = ironcart(&["restore", path_arg(backup), "--data-dir", path_arg(dir)]);
        c.args(["--kek-file", path_arg(kek)]).args(extra);
        run(c)
    };
    let target = work.path().join("restored");
    let flipped = work.path().join("flipped.ibk");
    for position in [bytes.len() / 2, 40, bytes.len() - 1] {
        let mut tampered = bytes.clone();
        tampered[position] ^= 0x01;
        std::fs::write(&flipped, &tampered).expect("write");
        let line = refusal(&restore(&flipped, &target, &kek_file, &[]).await);
        assert!(line.contains("failed authentication"), "{line}");
        assert!(!target.exists(), "nothing at the target after {line}");
    }
    let cut = work.path().join("cut.ibk");
    // Cut inside the last chunk, exactly before it, inside the first, in the header.
    let last_chunk = (bytes.len() - 114) % (64 * 1024 + 16);
    for len in [bytes.len() - 10, bytes.len() - last_chunk, 200, 50] {
        std::fs::write(&cut, &bytes[..len]).expect("write");
        let line = refusal(&restore(&cut, &target, &kek_file, &[]).await);
        assert!(line.contains("truncated"), "{line}");
        assert!(!target.exists());
    }
    let wrong = other_kek(work.path());
    let line = refusal(&restore(&file, &target, &wrong, &[]).await);
    assert!(line.contains("the KEK given is"), "{line}");
    assert!(!target.exists());
    let wrong_text = std::fs::read_to_string(&wrong).expect("KEK");
    assert!(!line.contains(wrong_text.trim()), "key material in {line}");
    // An existing database is not touched by a refused --force restore either.
    let occupied = work.path().join("occupied");
    std::fs::create_dir(&occupied).expect("dir");
    std::fs::write(occupied.join("ironcart.db"), b"the database that was here").expect("write");
    refusal(&restore(&flipped, &occupied, &kek_file, &["--force"]).await);
    refusal(&restore(&file, &occupied, &wrong, &["--force"]).await);
    assert_eq!(
        std::fs::read(occupied.join("ironcart.db")).expect("read"),
        b"the database that was here"
    );
    assert_eq!(entries(&occupied), ["ironcart.db"]);
    let line = refusal(&restore(&file, &occupied, &kek_file, &[]).await);
    assert!(line.contains("--force"), "{line}");
    assert_eq!(
        entries(work.path())
            .iter()
            .filter(|n| n.starts_with(".ironcart"))
            .count(),
        0
    );

    // --- The good backup: verified, then restored into a new place.
    let verified = result_json(&restore(&file, &target, &kek_file, &["--verify-only"]).await);
    assert_eq!(
        verified["verified"]["contents"]["users"],
        made["contents"]["users"]
    );
    assert!(!target.exists(), "--verify-only writes nothing");
    let restored = result_json(&restore(&file, &target, &kek_file, &[]).await);
    assert_eq!(restored["from"]["contents"], made["contents"]);
    let database = target.join("ironcart.db");
    assert_eq!(mode(&database), 0o600);
    assert_eq!(mode(&target), 0o700);
    assert!(
        !entries(&target).iter().any(|n| n.starts_with(".ironcart")),
        "{:?}",
        entries(&target)
    );
    let again = refusal(&restore(&file, &target, &kek_file, &[]).await);
    assert!(again.contains("already exists"), "{again}");

    // --- Served again by the binary with the same KEK: every value is there.
    let served = Served::start(&target, &kek_file).await;
    let after = served_views(&served, admin_email, &customers).await;
    assert_eq!(after.products, before.products, "the catalog");
    assert_eq!(
        after.orders, before.orders,
        "the orders, shipping addresses included"
    );
    assert_eq!(
        after.customers, before.customers,
        "profiles, carts and orders"
    );
    for user in &before.users {
        assert!(
            after.users.contains(user),
            "user {} is missing or changed",
            user["email"]
        );
    }
    // What the writer did meanwhile is there up to the snapshot's moment: whole
    // accounts, as many as the backup counted.
    assert_eq!(
        after.users.len() as u64,
        made["contents"]["users"].as_u64().expect("count")
    );
    for user in after.users.iter().filter(|u| !before.users.contains(u)) {
        let email = user["email"].as_str().expect("email");
        assert!(
            email == writer_email || registered_during.iter().any(|e| e == email),
            "{email}"
        );
        served.login(email).await;
    }
    // The restored database records its own restore.
    let audit = served
        .call(
            Method::GET,
            "/api/v1/admin/audit?per_page=100",
            Some(&served.login(admin_email).await),
            None,
        )
        .await;
    assert!(
        audit["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|e| e["action"] == "backup.restored"),
        "{audit}"
    );

    // While it serves, a --force restore over it is refused.
    let busy = refusal(&restore(&file, &target, &kek_file, &["--force"]).await);
    assert!(busy.contains("in use"), "{busy}");
    drop(served);
}

#[tokio::test]
async fn backup_and_restore_refuse_postgresql_and_point_to_its_tools() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("pg.ibk");
    for command in ["backup", "restore"] {
        let output = run({
            let mut c = ironcart(&[command, path_arg(&file)]);
            c.args(["--database-url", "postgres://ironcart@127.0.0.1:1/ironcart"])
                .args(["--data-dir", path_arg(dir.path())]);
            c
        })
        .await;
        let line = refusal(&output);
        assert!(line.contains("pg_dump"), "{line}");
        assert!(!file.exists());
    }
}
