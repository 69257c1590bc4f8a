//! Scaled out for real: one PostgreSQL database, a private Redis, three `ironcart
//! serve` processes, and in front of them both nginx running `deploy/nginx.conf` and
//! HAProxy running `deploy/haproxy.cfg` (TLS 1.3 at the proxy, plain HTTP behind
//! it). One test walks through what running several instances must guarantee:
//! traffic reaches every instance, the client address cannot be forged through the
//! proxy, a revoked session is refused everywhere, an instance dying under load
//! loses no acknowledged order and fails no safe request, a rate limit and an IP ban
//! hold across instances; then the same through HAProxy, whose health checks take a
//! killed instance out and which retries a GET but never a POST.
//!
//! Needs `IRONCART_TEST_DATABASE=postgres://…` (several processes share one
//! database), nginx and HAProxy; `.ci/run` provides them. Without them the test says
//! loudly that it skipped, except under CI=true, where a missing proxy is a failure.

// A test reports failure by panicking: `expect`, `unwrap` and `panic!` are how it
// says what went wrong, so the workspace's production lints do not apply here.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod cluster;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use cluster::Cluster;

const PASSWORD: &str = "correct horse battery staple";
/// Failed logins one client address may make before the shared limit refuses it.
const LOGIN_BURST: usize = 8;
const WORKERS: usize = 4;
const CHECKOUTS_PER_WORKER: usize = 15;
/// The instance is killed once this many orders have been acknowledged.
const KILL_AFTER_ORDERS: usize = 15;

/// Quotas for the test: only the login limit per address is strict.
fn rate_limits_file() -> String {
    format!(
        "[rate_limits.login-address]\nper_minute = 1\nburst = {LOGIN_BURST}\n\n\
         [rate_limits.address]\nper_minute = 600000\nburst = 100000\n\n\
         [rate_limits.checkout]\nper_minute = 60000\nburst = 10000\n\n\
         [rate_limits.write]\nper_minute = 60000\nburst = 10000\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_behind_nginx_and_haproxy_share_sessions_limits_bans_and_survive_a_crash() {
    let Some(database_base) = cluster::requirements() else {
        return;
    };
    let started = std::time::Instant::now();
    let mut cluster = Cluster::start(&database_base, &rate_limits_file(), 3).await;
    let proxy = cluster.proxy_client(None);

    the_proxy_speaks_tls_1_3_only(&cluster).await;
    haproxy_retries_a_get_but_never_a_post(&cluster).await;
    let local = "127.0.0.1";
    every_instance_serves_and_the_client_address_is_not_forgeable(&cluster, &proxy, "", local)
        .await;
    let admin = cluster.admin_token(&proxy).await;
    let variant = create_stocked_variant(&cluster, &proxy, &admin).await;
    a_logout_through_one_instance_is_refused_by_all(&cluster, &proxy).await;
    killing_an_instance_under_load_loses_no_order(&mut cluster, &proxy, &variant).await;
    a_login_limit_holds_across_instances(&cluster).await;
    an_address_banned_through_one_instance_is_refused_by_all(&cluster, &admin).await;

    // The same instances behind HAProxy, from a client address of its own.
    let client = "127.0.0.4";
    let haproxy = cluster.proxy_client(Some(client.parse().expect("address")));
    let base = cluster.haproxy_url("");
    every_instance_serves_and_the_client_address_is_not_forgeable(
        &cluster, &haproxy, &base, client,
    )
    .await;
    haproxy_takes_a_killed_instance_out_and_fails_no_get(&mut cluster, &haproxy).await;
    eprintln!("scale: the whole walk took {:?}", started.elapsed());
}

/// deploy/haproxy.cfg is accepted by HAProxy itself (with a test certificate and a
/// loopback address in place of the production ones).
#[test]
fn the_haproxy_configuration_is_valid() {
    let Some(haproxy) = cluster::haproxy_binary() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, key) = ironcart::tls::ensure_self_signed(dir.path()).expect("certificate");
    let bundle = dir.path().join("haproxy.pem");
    let pem = [std::fs::read(cert).unwrap(), std::fs::read(key).unwrap()].concat();
    std::fs::write(&bundle, pem).expect("bundle");
    let template = include_str!("../../../../deploy/haproxy.cfg");
    let mut config = template.to_owned();
    for (from, to) in [
        (
            "/etc/ironcart/tls/haproxy.pem",
            bundle.display().to_string(),
        ),
        // `-c` only parses: nothing listens.
        ("bind :443", "bind 127.0.0.1:18443".to_owned()),
    ] {
        assert_eq!(
            config.matches(from).count(),
            1,
            "{from:?} once in haproxy.cfg"
        );
        config = config.replace(from, &to);
    }
    let path = dir.path().join("haproxy.cfg");
    std::fs::write(&path, config).expect("config");
    let checked = std::process::Command::new(haproxy)
        .arg("-c")
        .arg("-f")
        .arg(&path)
        .output()
        .expect("haproxy -c");
    assert!(
        checked.status.success(),
        "haproxy rejects deploy/haproxy.cfg: {}",
        String::from_utf8_lossy(&checked.stderr)
    );
}

async fn the_proxy_speaks_tls_1_3_only(cluster: &Cluster) {
    let old = Client::builder()
        .danger_accept_invalid_certs(true)
        .max_tls_version(reqwest::tls::Version::TLS_1_2)
        .build()
        .expect("client");
    let refused = old.get(cluster.proxy_url("/healthz")).send().await;
    assert!(refused.is_err(), "TLS 1.2 must be refused by the proxy");
}

/// Through the proxy at `base` (nginx when empty), as `client_ip`.
async fn every_instance_serves_and_the_client_address_is_not_forgeable(
    cluster: &Cluster,
    proxy: &Client,
    base: &str,
    client_ip: &str,
) {
    let url = match base {
        "" => cluster.proxy_url("/api/v1/products?per_page=1"),
        base => format!("{base}/api/v1/products?per_page=1"),
    };
    let mut request_ids = Vec::new();
    for _ in 0..30 {
        let response = proxy
            .get(&url)
            .header("x-forwarded-for", "203.0.113.66")
            .send()
            .await
            .expect("catalog through the proxy");
        assert_eq!(response.status(), StatusCode::OK);
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        request_ids.push(id);
    }
    let mut served = BTreeMap::new();
    for instance in &cluster.instances {
        let log = instance.log();
        for id in &request_ids {
            let lines: Vec<&str> = log
                .lines()
                .filter(|l| l.contains(id.as_str()) && l.contains("request completed"))
                .collect();
            if lines.is_empty() {
                continue;
            }
            *served.entry(instance.port).or_insert(0) += 1;
            for line in lines {
                let seen = format!("\"client.ip\":\"{client_ip}\"");
                assert!(
                    line.contains(&seen) && !line.contains("203.0.113.66"),
                    "the proxy overwrites X-Forwarded-For with {client_ip}: {line}"
                );
            }
        }
    }
    assert_eq!(
        served.values().sum::<usize>(),
        request_ids.len(),
        "each request was served by exactly one instance: {served:?}"
    );
    assert_eq!(
        served.len(),
        cluster.instances.len(),
        "every instance served traffic: {served:?}"
    );
}

async fn create_stocked_variant(cluster: &Cluster, proxy: &Client, admin: &str) -> String {
    let product = json!({
        "handle": "scale-out-mug",
        "title": "Scale-out mug",
        "published": true,
        "variants": [{ "sku": "MUG-1", "price": 1250, "inventory_quantity": 100000 }]
    });
    let response = proxy
        .post(cluster.proxy_url("/api/v1/admin/products"))
        .bearer_auth(admin)
        .json(&product)
        .send()
        .await
        .expect("create product");
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.expect("product");
    body["variants"][0]["id"]
        .as_str()
        .expect("variant id")
        .to_owned()
}

async fn a_logout_through_one_instance_is_refused_by_all(cluster: &Cluster, proxy: &Client) {
    let session = cluster.customer(proxy, "revoked").await;
    let direct = cluster.direct_client();
    for instance in &cluster.instances {
        let me = direct
            .get(instance.url("/api/v1/me"))
            .bearer_auth(&session.access)
            .send()
            .await
            .expect("me");
        assert_eq!(me.status(), StatusCode::OK, "live on {}", instance.port);
    }

    let logout = direct
        .post(cluster.instances[0].url("/api/v1/auth/logout"))
        .json(&json!({ "refresh_token": session.refresh }))
        .send()
        .await
        .expect("logout");
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);

    for instance in &cluster.instances {
        let me = direct
            .get(instance.url("/api/v1/me"))
            .bearer_auth(&session.access)
            .send()
            .await
            .expect("me");
        assert_eq!(
            me.status(),
            StatusCode::UNAUTHORIZED,
            "revoked access token on {}",
            instance.port
        );
        let refresh = direct
            .post(instance.url("/api/v1/auth/refresh"))
            .json(&json!({ "refresh_token": session.refresh }))
            .send()
            .await
            .expect("refresh");
        assert_eq!(
            refresh.status(),
            StatusCode::UNAUTHORIZED,
            "revoked refresh token on {}",
            instance.port
        );
    }
    let through_proxy = proxy
        .get(cluster.proxy_url("/api/v1/me"))
        .bearer_auth(&session.access)
        .send()
        .await
        .expect("me");
    assert_eq!(through_proxy.status(), StatusCode::UNAUTHORIZED);
}

/// What one shopper saw during the load: every answer to every checkout key, and
/// every safe request that did not succeed.
#[derive(Default)]
struct Observed {
    answers: BTreeMap<String, Vec<String>>,
    failed_gets: Vec<String>,
    /// Checkouts resent because the proxy could not get an answer.
    resent: usize,
}

async fn killing_an_instance_under_load_loses_no_order(
    cluster: &mut Cluster,
    proxy: &Client,
    variant: &str,
) {
    let mut shoppers = Vec::new();
    for worker in 0..WORKERS {
        shoppers.push(cluster.customer(proxy, &format!("load-{worker}")).await);
    }
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for (worker, shopper) in shoppers.iter().enumerate() {
        let (proxy, base) = (proxy.clone(), cluster.proxy_url(""));
        let (token, variant) = (shopper.access.clone(), variant.to_owned());
        let acknowledged = acknowledged.clone();
        tasks.push(tokio::spawn(async move {
            shop(worker, &proxy, &base, &token, &variant, &acknowledged).await
        }));
    }

    let victim = 1;
    tokio::time::timeout(Duration::from_secs(120), async {
        while acknowledged.load(Ordering::SeqCst) < KILL_AFTER_ORDERS {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the load made progress before the kill");
    cluster.instances[victim].kill();

    let mut observed = Vec::new();
    for task in tasks {
        observed.push(task.await.expect("shopper task"));
    }
    let victim_log = cluster.instances[victim].log();
    assert!(
        victim_log.contains("/api/v1/checkout"),
        "the killed instance was taking checkouts"
    );

    let mut acknowledged_ids = BTreeMap::new();
    for shopper in &observed {
        assert!(
            shopper.failed_gets.is_empty(),
            "safe requests failed: {:?}",
            shopper.failed_gets
        );
        for (key, ids) in &shopper.answers {
            let distinct: BTreeSet<&String> = ids.iter().collect();
            assert_eq!(
                distinct.len(),
                1,
                "every answer for {key} names the same order: {ids:?}"
            );
            acknowledged_ids.insert(key.clone(), ids[0].clone());
        }
    }
    assert_eq!(acknowledged_ids.len(), WORKERS * CHECKOUTS_PER_WORKER);
    let resent: usize = observed.iter().map(|o| o.resent).sum();
    let moved_on = cluster
        .proxy_log()
        .lines()
        .filter(|line| line.contains("upstream_status=") && line.contains(", "))
        .count();
    eprintln!(
        "scale: {} orders acknowledged; {resent} checkouts resent by their client; \
         {moved_on} requests moved to another instance by nginx",
        acknowledged_ids.len()
    );

    let stored = cluster.stored_orders().await;
    for (key, id) in &acknowledged_ids {
        assert_eq!(
            stored.get(key),
            Some(id),
            "acknowledged order {id} ({key}) is in the database"
        );
    }
    assert_eq!(
        stored.len(),
        acknowledged_ids.len(),
        "no order was placed twice or without an acknowledgement"
    );

    cluster.restart(victim).await;
}

/// One shopper's bounded loop: browse, fill the cart, check out with a fresh key
/// (resent with the same key until it is answered), read the order back.
async fn shop(
    worker: usize,
    proxy: &Client,
    base: &str,
    token: &str,
    variant: &str,
    acknowledged: &AtomicUsize,
) -> Observed {
    let mut observed = Observed::default();
    for round in 0..CHECKOUTS_PER_WORKER {
        let catalog = proxy
            .get(format!("{base}/api/v1/products?per_page=5"))
            .send()
            .await;
        if !catalog.as_ref().is_ok_and(|r| r.status() == StatusCode::OK) {
            observed
                .failed_gets
                .push(format!("catalog: {:?}", catalog.map(|r| r.status())));
        }

        let mut added = false;
        for _ in 0..20 {
            let add = proxy
                .post(format!("{base}/api/v1/cart/items"))
                .bearer_auth(token)
                .json(&json!({ "variant_id": variant, "quantity": 1 }))
                .send()
                .await;
            match add.map(|r| r.status()) {
                Ok(StatusCode::OK) => {
                    added = true;
                    break;
                }
                // The proxy could not get an answer: resend.
                Ok(StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE) | Err(_) => {}
                Ok(other) => panic!("adding to the cart answered {other}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(added, "the cart accepted the item");

        let key = format!("scale-{worker}-{round}");
        let mut answers = Vec::new();
        for _ in 0..20 {
            let response = proxy
                .post(format!("{base}/api/v1/checkout"))
                .bearer_auth(token)
                .header("idempotency-key", &key)
                .json(&json!({
                    "shipping_address": { "name": "Load Shopper", "line1": "1 Main St",
                        "city": "Springfield", "postal_code": "12345", "country": "US" },
                    "payment_token": "tok_visa"
                }))
                .send()
                .await;
            let Ok(response) = response else {
                observed.resent += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            match response.status() {
                StatusCode::CREATED | StatusCode::OK => {
                    let order: Value = response.json().await.expect("order");
                    answers.push(order["id"].as_str().expect("order id").to_owned());
                    // Every few orders, resend an answered key on purpose: a
                    // client that lost the answer would do this.
                    if answers.len() == 1 && round % 3 == 0 {
                        continue;
                    }
                    break;
                }
                StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE => {
                    observed.resent += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => panic!("checkout {key} answered {other}"),
            }
        }
        assert!(!answers.is_empty(), "checkout {key} was answered");
        acknowledged.fetch_add(1, Ordering::SeqCst);

        let order = proxy
            .get(format!("{base}/api/v1/orders/{}", answers[0]))
            .bearer_auth(token)
            .send()
            .await;
        if !order.as_ref().is_ok_and(|r| r.status() == StatusCode::OK) {
            observed.failed_gets.push(format!(
                "order {}: {:?}",
                answers[0],
                order.map(|r| r.status())
            ));
        }
        observed.answers.insert(key, answers);
    }
    observed
}

async fn failed_login(client: &Client, url: String, attempt: usize) -> StatusCode {
    client
        .post(url)
        .header("x-forwarded-for", format!("198.51.100.{attempt}"))
        .json(&json!({
            "email": format!("nobody-{attempt}@example.com"),
            "password": "not the right password"
        }))
        .send()
        .await
        .expect("login")
        .status()
}

async fn a_login_limit_holds_across_instances(cluster: &Cluster) {
    // A client of its own address, so the earlier logins do not count.
    let address = "127.0.0.2".parse().expect("address");
    let proxy = cluster.proxy_client(Some(address));
    let direct = cluster.direct_client_from(address);
    let login = "/api/v1/auth/login";
    let mut attempt = 0;
    let mut send = |client: &Client, url: String| {
        attempt += 1;
        let client = client.clone();
        let n = attempt;
        async move { failed_login(&client, url, n).await }
    };

    let instance_urls: Vec<String> = cluster.instances.iter().map(|i| i.url(login)).collect();
    for url in instance_urls.iter().cycle().take(LOGIN_BURST - 2) {
        assert_eq!(send(&direct, url.clone()).await, StatusCode::UNAUTHORIZED);
    }
    for _ in 0..2 {
        let status = send(&proxy, cluster.proxy_url(login)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    for url in &instance_urls {
        assert_eq!(
            send(&direct, url.clone()).await,
            StatusCode::TOO_MANY_REQUESTS,
            "{LOGIN_BURST} attempts spread over three instances exhaust the quota at {url}"
        );
    }
    for _ in 0..3 {
        assert_eq!(
            send(&proxy, cluster.proxy_url(login)).await,
            StatusCode::TOO_MANY_REQUESTS,
            "a forged X-Forwarded-For through the proxy does not reset the quota"
        );
    }
    // Another address is not affected.
    let other = cluster.direct_client();
    assert_eq!(
        failed_login(&other, instance_urls[0].clone(), 99).await,
        StatusCode::UNAUTHORIZED
    );
}

/// A catalog request to one instance, as a proxy forwarding `client` would send it.
async fn forwarded_from(
    direct: &Client,
    instance: &cluster::Instance,
    client: &str,
) -> reqwest::Response {
    direct
        .get(instance.url("/api/v1/products"))
        .header("x-forwarded-for", client)
        .send()
        .await
        .expect("direct request")
}

async fn is_blocked(response: reqwest::Response) -> bool {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or_default();
    status == StatusCode::FORBIDDEN && body["type"] == "/problems/address-blocked"
}

/// A ban set through one instance's admin API is enforced by every instance, and
/// through both proxies; lifting it through another instance frees it everywhere.
async fn an_address_banned_through_one_instance_is_refused_by_all(cluster: &Cluster, admin: &str) {
    let banned = "127.0.0.3";
    let direct = cluster.direct_client();
    let response = direct
        .post(cluster.instances[0].url("/api/v1/admin/bans"))
        .bearer_auth(admin)
        .json(&json!({ "address": banned, "reason": "scale test", "duration_secs": 600 }))
        .send()
        .await
        .expect("ban");
    assert_eq!(response.status(), StatusCode::CREATED);

    let banned_client = cluster.proxy_client(Some(banned.parse().expect("address")));
    for instance in &cluster.instances {
        let response = forwarded_from(&direct, instance, banned).await;
        assert!(is_blocked(response).await, "refused by {}", instance.port);
    }
    for _ in 0..6 {
        for url in [
            cluster.proxy_url("/api/v1/products"),
            cluster.haproxy_url("/api/v1/products"),
        ] {
            let response = banned_client.get(&url).send().await.expect("proxied");
            assert!(is_blocked(response).await, "refused through {url}");
        }
    }
    let others = cluster.proxy_client(None);
    let response = others.get(cluster.proxy_url("/healthz")).send().await;
    assert_eq!(response.expect("health").status(), StatusCode::OK);

    let lift = direct
        .delete(cluster.instances[2].url(&format!("/api/v1/admin/bans/{banned}")))
        .bearer_auth(admin)
        .send()
        .await
        .expect("lift");
    assert_eq!(lift.status(), StatusCode::NO_CONTENT);
    for instance in &cluster.instances {
        let response = forwarded_from(&direct, instance, banned).await;
        let port = instance.port;
        assert_eq!(response.status(), StatusCode::OK, "lifted on {port}");
    }
}

/// HAProxy also balances over a backend that drops every request it reads. A GET
/// it drops is retried on an instance; a POST it drops is answered 502 and never
/// sent again. Then the backend fails its health check and HAProxy takes it out.
async fn haproxy_retries_a_get_but_never_a_post(cluster: &Cluster) {
    let client = cluster.proxy_client(None);
    let dropped_with = |prefix: &str| -> Vec<String> {
        let dropped = cluster.flaky.dropped();
        dropped
            .into_iter()
            .filter(|r| r.starts_with(prefix))
            .collect()
    };

    // What each POST got: an instance's answer, or none (a 502, or the connection
    // closed: HAProxy may hand the client the close so that it decides).
    let mut post_outcomes = BTreeMap::new();
    for n in 0..12 {
        let probe = format!("/api/v1/auth/logout?probe=post-{n}");
        let response = client
            .post(cluster.haproxy_url(&probe))
            .json(&json!({ "refresh_token": "not-a-refresh-token" }))
            .send()
            .await;
        let answered = match response.map(|r| r.status()) {
            Ok(StatusCode::BAD_GATEWAY) | Err(_) => None,
            Ok(status) => Some(status),
        };
        post_outcomes.insert(probe, answered);
        if !dropped_with("POST").is_empty() {
            break;
        }
    }
    let dropped_posts = dropped_with("POST");
    assert_eq!(
        dropped_posts.len(),
        1,
        "one POST went to the broken backend"
    );
    for (probe, answered) in &post_outcomes {
        let line = format!("POST {probe}");
        let times = dropped_posts.iter().filter(|r| **r == line).count();
        if times == 1 {
            assert_eq!(*answered, None, "{probe} was not resent to an instance");
        } else {
            assert_eq!(times, 0);
            assert!(answered.is_some(), "{probe} reached an instance");
        }
    }

    for n in 0..12 {
        let probe = format!("/healthz?probe=get-{n}");
        let response = client
            .get(cluster.haproxy_url(&probe))
            .send()
            .await
            .expect("get through haproxy");
        assert_eq!(response.status(), StatusCode::OK, "{probe} was retried");
        if !dropped_with("GET").is_empty() {
            break;
        }
    }
    assert_eq!(
        dropped_with("GET").len(),
        1,
        "one GET went to the broken backend"
    );

    cluster.flaky.fail_health_checks();
    cluster.wait_for_haproxy("flaky", "DOWN").await;
}

/// A stream of GETs through HAProxy while an instance is killed: the requests it
/// would have taken go elsewhere, the health check takes it out of the pool, and no
/// GET fails. The instance then comes back and HAProxy puts it back.
async fn haproxy_takes_a_killed_instance_out_and_fails_no_get(
    cluster: &mut Cluster,
    client: &Client,
) {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let (client, url) = (
            client.clone(),
            cluster.haproxy_url("/api/v1/products?per_page=1"),
        );
        let (stop, served) = (stop.clone(), served.clone());
        tasks.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                match client.get(&url).send().await {
                    Ok(response) if response.status() == StatusCode::OK => {}
                    other => failures.push(format!("{:?}", other.map(|r| r.status()))),
                }
                served.fetch_add(1, Ordering::SeqCst);
            }
            failures
        }));
    }
    let wait_for_served = |count: usize| {
        let served = served.clone();
        async move {
            while served.load(Ordering::SeqCst) < count {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    wait_for_served(20).await;
    let victim = 2;
    cluster.instances[victim].kill();
    cluster.wait_for_haproxy("ironcart3", "DOWN").await;
    let after_down = served.load(Ordering::SeqCst) + 20;
    wait_for_served(after_down).await;
    stop.store(true, Ordering::SeqCst);
    let mut failures = Vec::new();
    for task in tasks {
        failures.extend(task.await.expect("load task"));
    }
    assert!(
        failures.is_empty(),
        "GETs failed through HAProxy: {failures:?}"
    );
    eprintln!(
        "scale: {} GETs through HAProxy while ironcart3 was killed, none failed",
        served.load(Ordering::SeqCst)
    );

    cluster.restart(victim).await;
    cluster.wait_for_haproxy("ironcart3", "UP").await;
}
