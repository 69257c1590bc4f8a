//! Personal data at rest: never on disk in plaintext, tampering detected and recorded,
//! keys rotated under load without losing a write, and the `keys` commands.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use ironcart::domain::catalog::{InventoryPolicy, ProductDraft, VariantDraft};
use ironcart::store::Backend;
use ironcart::store::keys::RETIRE_GRACE_SECS;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;

use crate::common::{PASSWORD, TestApp, assert_problem};

const NAME: &str = "Philippa Quenneville";
const LINE1: &str = "1187 Marrowbone Crescent";
const CITY: &str = "Wexcombe Parva";
const POSTAL: &str = "ZQ7-4411";

fn product(handle: &str) -> ProductDraft {
    ProductDraft {
        handle: handle.to_owned(),
        title: "Wool socks".to_owned(),
        body_html: "<p>Warm</p>".to_owned(),
        vendor: None,
        product_type: None,
        tags: vec![],
        published: true,
        option_names: vec![],
        variants: vec![VariantDraft {
            sku: None,
            option_values: vec![],
            price: 1200,
            compare_at_price: None,
            inventory_quantity: 10_000,
            inventory_policy: InventoryPolicy::Deny,
            grams: None,
            requires_shipping: true,
            taxable: true,
            barcode: None,
            source_line: None,
        }],
        images: vec![],
        source_line: None,
    }
}

/// A product in stock; returns its variant id.
async fn stocked_variant(app: &TestApp) -> String {
    app.state
        .store
        .create_product(&product("socks"), app.state.now())
        .await
        .unwrap();
    app.product("socks").await["variants"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn register(app: &TestApp, email: &str, name: &str) -> String {
    let response = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({ "email": email, "password": PASSWORD, "name": name }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    app.login(email, PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn address(line1: &str) -> Value {
    json!({ "name": NAME, "line1": line1, "city": CITY, "postal_code": POSTAL, "country": "GB" })
}

/// Puts one item in the cart and checks out; returns the order.
async fn checkout(app: &TestApp, token: &str, variant: &str, key: &str, line1: &str) -> Value {
    let response = app
        .post(
            "/api/v1/cart/items",
            Some(token),
            json!({ "variant_id": variant, "quantity": 1 }),
        )
        .await;
    assert!(response.status().is_success(), "{}", response.status());
    let response = app
        .client
        .post(app.url("/api/v1/checkout"))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(&json!({ "shipping_address": address(line1), "payment_token": "tok_visa" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED, "checkout {key}");
    response.json().await.unwrap()
}

async fn me(app: &TestApp, token: &str) -> Value {
    let response = app.get("/api/v1/me", Some(token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// Every byte the database holds: on SQLite every file of the data directory (the
/// database, its WAL and shared memory); on PostgreSQL every text column of every
/// table, found through information_schema.
async fn everything_stored(app: &TestApp) -> Vec<u8> {
    let mut all = Vec::new();
    match app.state.store.backend() {
        Backend::Sqlite => {
            let mut dirs = vec![app.data_dir.path().to_path_buf()];
            while let Some(dir) = dirs.pop() {
                for entry in std::fs::read_dir(&dir).unwrap() {
                    let path = entry.unwrap().path();
                    if path.is_dir() {
                        dirs.push(path);
                    } else {
                        all.extend(std::fs::read(&path).unwrap());
                    }
                }
            }
        }
        Backend::Postgres => {
            let db = app.raw_db().await;
            let columns = sqlx::query(
                "SELECT table_name::text AS t, column_name::text AS c \
                 FROM information_schema.columns WHERE table_schema = 'public' \
                 AND data_type IN ('text', 'character varying', 'json', 'jsonb')",
            )
            .fetch_all(&db)
            .await
            .unwrap();
            assert!(columns.len() > 20, "found only {} columns", columns.len());
            for column in &columns {
                let table: String = column.get("t");
                let name: String = column.get("c");
                // Test-only SQL built from information_schema names, quoted.
                let sql = format!("SELECT \"{name}\"::text AS v FROM \"{table}\"");
                for row in sqlx::query(&sql).fetch_all(&db).await.unwrap() {
                    let value: Option<String> = row.get("v");
                    all.extend(value.unwrap_or_default().into_bytes());
                    all.push(0);
                }
            }
        }
    }
    all
}

#[tokio::test]
async fn personal_data_is_never_stored_in_plaintext() {
    let app = TestApp::spawn().await;
    let variant = stocked_variant(&app).await;
    let email = format!(
        "philippa.{}@quenneville.example",
        uuid::Uuid::new_v4().simple()
    );
    let token = register(&app, &email, NAME).await;
    let order = checkout(&app, &token, &variant, "plain-1", LINE1).await;

    // The API still speaks plaintext: the store decrypts for the domain.
    let profile = me(&app, &token).await;
    assert_eq!(profile["email"], email.as_str());
    assert_eq!(profile["name"], NAME);
    let path = format!("/api/v1/orders/{}", order["id"].as_str().unwrap());
    let stored: Value = app.get(&path, Some(&token)).await.json().await.unwrap();
    assert_eq!(stored["shipping_address"]["line1"], LINE1);
    assert_eq!(stored["shipping_address"]["city"], CITY);
    let charge = stored["payments"][0]["reference"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(stored["payments"][0]["kind"], "charge");
    assert!(charge.len() >= 12, "{charge:?}");

    let bytes = everything_stored(&app).await;
    // The scan sees the data: the user and order ids are there in the clear.
    let user_id = profile["id"].as_str().unwrap();
    assert!(contains(&bytes, user_id), "the scan missed the users table");
    assert!(contains(&bytes, order["id"].as_str().unwrap()));
    for secret in [
        email.as_str(),
        NAME,
        LINE1,
        CITY,
        POSTAL,
        "quenneville",
        &charge,
    ] {
        assert!(
            !contains(&bytes, secret),
            "{secret:?} is stored in plaintext"
        );
    }
}

/// Replaces the character at `at` of an envelope's body with another base64 one.
fn flip(envelope: &str, at: usize) -> String {
    let mut chars: Vec<char> = envelope.chars().collect();
    chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

async fn user_column(db: &sqlx::AnyPool, id: &str, column: &str) -> String {
    let sql = match column {
        "email_enc" => "SELECT email_enc AS v FROM users WHERE id = $1",
        "name_enc" => "SELECT name_enc AS v FROM users WHERE id = $1",
        "email_index" => "SELECT email_index AS v FROM users WHERE id = $1",
        other => panic!("no query for users.{other}"),
    };
    sqlx::query(sql)
        .bind(id)
        .fetch_one(db)
        .await
        .unwrap()
        .get("v")
}

async fn set_user_column(db: &sqlx::AnyPool, id: &str, column: &str, value: &str) {
    let sql = match column {
        "email_enc" => "UPDATE users SET email_enc = $1 WHERE id = $2",
        "name_enc" => "UPDATE users SET name_enc = $1 WHERE id = $2",
        "email_index" => "UPDATE users SET email_index = $1 WHERE id = $2",
        other => panic!("no query for users.{other}"),
    };
    let done = sqlx::query(sql)
        .bind(value)
        .bind(id)
        .execute(db)
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1);
}

/// The `crypto.decrypt_failed` events recorded, as (column, row id, reason).
async fn decrypt_failures(app: &TestApp) -> Vec<(String, String, String)> {
    let events = app.state.store.recent_audit(200, 0).await.unwrap();
    events
        .iter()
        .filter(|e| e["action"] == "crypto.decrypt_failed")
        .map(|e| {
            let d = &e["details"];
            assert_eq!(e["outcome"], "failure");
            (
                format!(
                    "{}.{}",
                    d["table"].as_str().unwrap(),
                    d["column"].as_str().unwrap()
                ),
                d["row_id"].as_str().unwrap().to_owned(),
                d["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// A 500 problem that says nothing about what failed.
async fn assert_opaque_500(response: reqwest::Response, never: &[&str]) {
    let problem = assert_problem(response, StatusCode::INTERNAL_SERVER_ERROR).await;
    let text = problem.to_string();
    for word in [
        "decrypt",
        "users",
        "email_enc",
        "name_enc",
        "envelope",
        "v1.",
    ]
    .iter()
    .chain(never)
    {
        assert!(!text.contains(word), "the problem leaks {word:?}: {text}");
    }
}

#[tokio::test]
async fn a_flipped_byte_fails_the_read_with_a_recorded_event_never_wrong_data() {
    let app = TestApp::spawn().await;
    let email = format!("flip-{}@example.com", uuid::Uuid::new_v4().simple());
    let token = register(&app, &email, NAME).await;
    let (_, bystander) = app.customer().await;
    let id = me(&app, &token).await["id"].as_str().unwrap().to_owned();
    let db = app.raw_db().await;

    let sealed = user_column(&db, &id, "name_enc").await;
    assert!(sealed.starts_with("v1."), "{sealed}");
    set_user_column(&db, &id, "name_enc", &flip(&sealed, sealed.len() - 20)).await;

    let response = app.get("/api/v1/me", Some(&token)).await;
    assert_opaque_500(response, &[NAME, &email, &id]).await;
    assert_eq!(
        decrypt_failures(&app).await,
        vec![(
            "users.name_enc".to_owned(),
            id.clone(),
            "authentication_failed".to_owned()
        )]
    );
    // The event holds ids only: neither the value nor its ciphertext.
    let audit =
        serde_json::to_string(&app.state.store.recent_audit(200, 0).await.unwrap()).unwrap();
    assert!(!audit.contains(NAME) && !audit.contains(&sealed[10..40]));
    // Other accounts are unaffected; the original ciphertext reads again.
    assert_eq!(me(&app, &bystander).await["name"], "Shopper");
    set_user_column(&db, &id, "name_enc", &sealed).await;
    assert_eq!(me(&app, &token).await["name"], NAME);
}

#[tokio::test]
async fn swapped_ciphertexts_between_users_fail_login_and_profile_reads() {
    let app = TestApp::spawn().await;
    let ann = format!("ann-{}@example.com", uuid::Uuid::new_v4().simple());
    let bob = format!("bob-{}@example.com", uuid::Uuid::new_v4().simple());
    let ann_token = register(&app, &ann, "Ann Appleby").await;
    let bob_token = register(&app, &bob, "Bob Bellweather").await;
    let ann_id = me(&app, &ann_token).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bob_id = me(&app, &bob_token).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let db = app.raw_db().await;

    let ann_enc = user_column(&db, &ann_id, "email_enc").await;
    let bob_enc = user_column(&db, &bob_id, "email_enc").await;
    set_user_column(&db, &ann_id, "email_enc", &bob_enc).await;
    set_user_column(&db, &bob_id, "email_enc", &ann_enc).await;

    // Neither account's email comes back as the other's.
    assert_opaque_500(app.get("/api/v1/me", Some(&bob_token)).await, &[&ann, &bob]).await;
    let login = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({ "email": ann, "password": PASSWORD }),
        )
        .await;
    assert_opaque_500(login, &[&ann, &bob]).await;
    let failures = decrypt_failures(&app).await;
    assert!(failures.contains(&(
        "users.email_enc".to_owned(),
        bob_id.clone(),
        "authentication_failed".to_owned()
    )));
    assert!(failures.contains(&(
        "users.email_enc".to_owned(),
        ann_id.clone(),
        "authentication_failed".to_owned()
    )));

    // Swapping only the blind indexes sends a login to the other row: refused too.
    set_user_column(&db, &ann_id, "email_enc", &ann_enc).await;
    set_user_column(&db, &bob_id, "email_enc", &bob_enc).await;
    let ann_index = user_column(&db, &ann_id, "email_index").await;
    let bob_index = user_column(&db, &bob_id, "email_index").await;
    set_user_column(&db, &ann_id, "email_index", "swap-in-progress").await;
    set_user_column(&db, &bob_id, "email_index", &ann_index).await;
    set_user_column(&db, &ann_id, "email_index", &bob_index).await;
    let login = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({ "email": ann, "password": PASSWORD }),
        )
        .await;
    assert_opaque_500(login, &[&ann, &bob]).await;
    assert!(decrypt_failures(&app).await.contains(&(
        "users.email_index".to_owned(),
        bob_id.clone(),
        "index_mismatch".to_owned()
    )));
}

#[tokio::test]
async fn key_rotation_under_concurrent_writes_loses_nothing_and_the_old_key_retires() {
    let app = Arc::new(TestApp::spawn().await);
    let variant = stocked_variant(&app).await;
    let mut profiles = Vec::new();
    for n in 0..4 {
        let email = format!("rot{n}-{}@example.com", uuid::Uuid::new_v4().simple());
        profiles.push(register(&app, &email, &format!("Person {n}")).await);
    }
    let mut shoppers = Vec::new();
    for n in 0..2 {
        let email = format!("buy{n}-{}@example.com", uuid::Uuid::new_v4().simple());
        let token = register(&app, &email, "Buyer").await;
        checkout(
            &app,
            &token,
            &variant,
            &format!("pre-{n}"),
            "0 Before Street",
        )
        .await;
        shoppers.push(token);
    }
    let old_key = app.state.store.keyring().unwrap().primary_key_id().clone();
    let before = app.state.store.values_under_key(&old_key).await.unwrap();
    // Six accounts (email, name), two orders (address) and their two charges.
    assert_eq!(
        before,
        6 * 2 + 2 + 2,
        "every value starts under the first key"
    );

    let mut writers = Vec::new();
    for token in profiles.clone() {
        let app = app.clone();
        writers.push(tokio::spawn(async move {
            let mut last = None;
            for k in 0..25 {
                let name = format!("Name {k} {}", &token[token.len() - 6..]);
                let response = app
                    .call(
                        Method::PATCH,
                        "/api/v1/me",
                        Some(&token),
                        Some(json!({ "name": name })),
                    )
                    .await;
                assert_eq!(response.status(), StatusCode::OK);
                last = Some(name);
            }
            (token, last.unwrap())
        }));
    }
    let mut buyers = Vec::new();
    for (n, token) in shoppers.iter().cloned().enumerate() {
        let app = app.clone();
        let variant = variant.clone();
        buyers.push(tokio::spawn(async move {
            let mut placed = HashMap::new();
            for k in 0..6 {
                let line1 = format!("{k} Rotation Road {n}");
                let order = checkout(&app, &token, &variant, &format!("rot-{n}-{k}"), &line1).await;
                placed.insert(order["id"].as_str().unwrap().to_owned(), line1);
            }
            (token, placed)
        }));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let report = app.state.store.rotate_data_keys(&mut |_| {}).await.unwrap();
    assert!(report.new_key);
    assert!(report.reencrypted.rewritten > 0);
    assert_eq!(report.reencrypted.undecryptable, 0);
    let new_key = app.state.store.keyring().unwrap().primary_key_id().clone();
    assert_ne!(new_key, old_key);

    for writer in writers {
        let (token, last) = writer.await.unwrap();
        assert_eq!(me(&app, &token).await["name"], last.as_str());
    }
    let mut orders = 2;
    for buyer in buyers {
        let (token, placed) = buyer.await.unwrap();
        for (id, line1) in placed {
            let order: Value = app
                .get(&format!("/api/v1/orders/{id}"), Some(&token))
                .await
                .json()
                .await
                .unwrap();
            assert_eq!(order["shipping_address"]["line1"], line1.as_str());
            orders += 1;
        }
    }
    // A write sealed just before the switch may land after the last pass: the
    // resumable job (what a rerun of `keys rotate` does) picks it up.
    let rest = app.state.store.reencrypt_all(&mut |_| {}).await.unwrap();
    assert_eq!(rest.undecryptable, 0);
    assert_eq!(app.state.store.values_under_key(&old_key).await.unwrap(), 0);

    let status = app.state.store.key_status().await.unwrap();
    let old = status
        .keys
        .iter()
        .find(|k| k.id == old_key.as_str())
        .unwrap();
    assert_eq!((old.state, old.values), ("active", Some(0)));
    let total: u64 = status.keys.iter().filter_map(|k| k.values).sum();
    // Each account has an email and a name; each order an address and its charge.
    assert_eq!(total, 6 * 2 + 2 * orders);

    // Retirement waits until every server has reloaded the keys, then succeeds.
    let early = app.state.store.retire_data_key(old_key.as_str()).await;
    assert!(early.unwrap_err().to_string().contains("demoted less than"));
    app.advance(RETIRE_GRACE_SECS + 1);
    app.state
        .store
        .retire_data_key(old_key.as_str())
        .await
        .unwrap();
    let status = app.state.store.key_status().await.unwrap();
    let old = status
        .keys
        .iter()
        .find(|k| k.id == old_key.as_str())
        .unwrap();
    assert_eq!(old.state, "retired");
    assert!(
        !app.state
            .store
            .keyring()
            .unwrap()
            .key_ids()
            .any(|k| *k == old_key)
    );
    for token in &profiles {
        assert!(
            me(&app, token).await["name"]
                .as_str()
                .unwrap()
                .starts_with("Name 24")
        );
    }
}

#[tokio::test]
async fn an_interrupted_rotation_is_continued_by_the_next_run_and_a_used_key_cannot_retire() {
    let app = TestApp::spawn().await;
    let (_, token) = app.customer().await;
    let store = &app.state.store;
    let first = store.keyring().unwrap().primary_key_id().clone();
    // A run that stopped right after adding its key.
    let second = store.add_primary_data_key().await.unwrap();
    assert_eq!(store.values_under_key(&first).await.unwrap(), 2);
    app.advance(RETIRE_GRACE_SECS + 1);
    let refused = store.retire_data_key(first.as_str()).await.unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("still protects 2 stored values"),
        "{refused}"
    );

    let report = store.rotate_data_keys(&mut |_| {}).await.unwrap();
    assert!(
        !report.new_key,
        "the unfinished rotation is continued, not restarted"
    );
    assert_eq!(report.primary_key, second.as_str());
    assert_eq!(report.reencrypted.rewritten, 2);
    assert_eq!(store.values_under_key(&first).await.unwrap(), 0);
    assert_eq!(me(&app, &token).await["name"], "Shopper");
    let refused = store.retire_data_key(second.as_str()).await.unwrap_err();
    assert!(refused.to_string().contains("is primary"), "{refused}");
}

#[tokio::test]
async fn a_server_picks_up_a_key_added_by_another_process() {
    let app = TestApp::spawn().await;
    let (_, token) = app.customer().await;
    // Another process's view of the same database, with the same KEK.
    let other = ironcart::store::Store::connect(&app.database_url)
        .await
        .unwrap();
    other
        .unlock(
            &ironcart::store::KekSource::default_file(app.data_dir.path()),
            ironcart::clock::Clock::System,
        )
        .await
        .unwrap();
    other.rotate_data_keys(&mut |_| {}).await.unwrap();
    let new_key = other.keyring().unwrap().primary_key_id().clone();
    assert_ne!(
        app.state.store.keyring().unwrap().primary_key_id(),
        &new_key
    );
    // Meeting a value under a key it does not hold makes the server reload at once.
    assert_eq!(me(&app, &token).await["name"], "Shopper");
    assert_eq!(
        app.state.store.keyring().unwrap().primary_key_id(),
        &new_key
    );
}

fn ironcart(data_dir: &std::path::Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ironcart"));
    command
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("IRONCART_DATABASE_URL")
        .env_remove("IRONCART_KEK")
        .env_remove("IRONCART_KEK_FILE")
        .env_remove("IRONCART_CONFIG")
        .env("RUST_LOG", "warn");
    command
}

fn run(command: &mut Command) -> Output {
    command
        .stdin(Stdio::null())
        .output()
        .expect("run the ironcart binary")
}

fn stdout_json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

#[tokio::test]
async fn a_kek_file_readable_by_others_stops_the_server_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let kek = keys.join("kek");
    std::fs::write(&kek, "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n").unwrap();
    std::fs::set_permissions(&kek, std::fs::Permissions::from_mode(0o644)).unwrap();

    let mut server = ironcart(dir.path(), &["serve", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while server.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = server.kill();
            panic!("the server started with a KEK file of mode 0644");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let output = server.wait_with_output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("has mode 0644"), "{stderr}");
    assert!(stderr.contains("chmod 600"), "{stderr}");
    assert!(!stderr.contains("MDEyMzQ1"), "the KEK leaked: {stderr}");
    // Once restricted, the same file is accepted (the key commands start fine).
    std::fs::set_permissions(&kek, std::fs::Permissions::from_mode(0o600)).unwrap();
    let status = stdout_json(&run(&mut ironcart(dir.path(), &["keys", "status"])));
    assert_eq!(status["keys"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn keys_status_rotate_rotate_kek_and_retire_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut create = ironcart(
        dir.path(),
        &[
            "user",
            "create",
            "--email",
            "ops@example.com",
            "--role",
            "customer",
            "--password-stdin",
        ],
    );
    let mut child = create
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), PASSWORD.as_bytes()).unwrap();
    let created = child.wait_with_output().unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let kek_file = dir.path().join("keys").join("kek");
    let mode = std::fs::metadata(&kek_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the KEK file is created owner-only");

    let status = stdout_json(&run(&mut ironcart(dir.path(), &["keys", "status"])));
    let keys = status["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    let field: Vec<&Value> = keys.iter().filter(|k| k["purpose"] == "field").collect();
    assert_eq!(field.len(), 1);
    assert_eq!(field[0]["state"], "primary");
    assert_eq!(field[0]["values"], 2, "the user's email and name");
    let first = field[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(status["primary_key"], first.as_str());
    assert_eq!(field[0]["kek_id"], status["kek_id"]);

    let rotated = run(&mut ironcart(dir.path(), &["keys", "rotate"]));
    let report = stdout_json(&rotated);
    assert_eq!(report["new_key"], true);
    assert_eq!(report["reencrypted"]["rewritten"], 2);
    assert!(String::from_utf8_lossy(&rotated.stderr).contains("users.email_enc done"));
    let second = report["primary_key"].as_str().unwrap().to_owned();
    assert_ne!(second, first);

    let status = stdout_json(&run(&mut ironcart(dir.path(), &["keys", "status"])));
    let by_id = |id: &str| {
        status["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        (
            by_id(&first)["state"].clone(),
            by_id(&first)["values"].clone()
        ),
        (json!("active"), json!(0))
    );
    assert_eq!(
        (
            by_id(&second)["state"].clone(),
            by_id(&second)["values"].clone()
        ),
        (json!("primary"), json!(2))
    );

    // Too soon after the demotion, and the primary, are both refused.
    let early = run(&mut ironcart(dir.path(), &["keys", "retire", &first]));
    assert!(!early.status.success());
    assert!(String::from_utf8_lossy(&early.stderr).contains("demoted less than"));
    let primary = run(&mut ironcart(dir.path(), &["keys", "retire", &second]));
    assert!(String::from_utf8_lossy(&primary.stderr).contains("is primary"));

    // KEK rotation: the keys move to a new KEK; the old one no longer opens them.
    let new_kek = dir.path().join("kek-2");
    let moved = stdout_json(&run(&mut ironcart(
        dir.path(),
        &[
            "keys",
            "rotate-kek",
            "--new-kek-file",
            new_kek.to_str().unwrap(),
        ],
    )));
    assert_ne!(moved["kek_id"], status["kek_id"]);
    let with_new = stdout_json(&run(&mut ironcart(
        dir.path(),
        &["keys", "status", "--kek-file", new_kek.to_str().unwrap()],
    )));
    assert_eq!(with_new["kek_id"], moved["kek_id"]);
    assert!(
        with_new["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["kek_id"] == moved["kek_id"])
    );
    let with_old = run(&mut ironcart(dir.path(), &["keys", "status"]));
    assert!(!with_old.status.success());
    assert!(String::from_utf8_lossy(&with_old.stderr).contains("wrapped under KEK"));
}
