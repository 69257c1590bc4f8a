//! Intrusion prevention: detectors ban an address after repeated WAF blocks or a
//! credential-stuffing burst, bans expire, staff ban and lift by hand, a forged
//! X-Forwarded-For cannot move a ban, and several instances share bans through
//! Redis, falling back to local bans when it is unreachable.
//!
//! The test client plays the load balancer: its address (127.0.0.1) is a trusted
//! proxy, so the X-Forwarded-For it sends is the client address the app sees.

use std::collections::HashMap;
use std::net::IpAddr;

use ironcart::app::Settings;
use ironcart::security::bans::{BanSettings, Signal};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{PASSWORD, TestApp, assert_problem, test_settings};
use crate::shared::{Redis, wait_for_redis};

const ATTACK: &str = "/api/v1/products?q=%27%20OR%201%3D1%20--";
const BAN_SECS: i64 = 900;
const MONITORING: &str = "192.0.2.10";

fn ban_settings(thresholds: &[(Signal, u32)]) -> Settings {
    let mut settings = test_settings();
    settings.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    settings.bans = BanSettings {
        window_secs: 600,
        ban_secs: BAN_SECS,
        thresholds: thresholds.iter().copied().collect::<HashMap<_, _>>(),
        allow: vec![format!("{MONITORING}/32").parse().unwrap()],
    };
    settings
}

/// A request from `client` as the load balancer forwards it.
async fn from(
    app: &TestApp,
    client: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app
        .client
        .request(method, app.url(path))
        .header("x-forwarded-for", client);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn get_from(app: &TestApp, client: &str, path: &str) -> StatusCode {
    from(app, client, Method::GET, path, None).await.status()
}

/// Asserts the bare "address blocked" problem, with the request id and nothing else.
async fn assert_blocked(response: reqwest::Response) {
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    // Refused before everything else, yet dressed like every other response.
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert_eq!(response.headers()["x-frame-options"], "DENY");
    let problem = assert_problem(response, StatusCode::FORBIDDEN).await;
    assert_eq!(problem["type"], "/problems/address-blocked");
    assert_eq!(problem["title"], "Address blocked");
    assert_eq!(problem["request_id"], request_id);
    assert!(problem.get("detail").is_none(), "{problem}");
}

async fn blocked_from(app: &TestApp, client: &str, path: &str) {
    assert_blocked(from(app, client, Method::GET, path, None).await).await;
}

/// A client whose socket address is `address` (an untrusted peer on loopback).
fn client_from(address: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .local_address(address.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn waf_attack(app: &TestApp, client: &str) {
    let response = from(app, client, Method::GET, ATTACK, None).await;
    let problem = assert_problem(response, StatusCode::FORBIDDEN).await;
    assert_eq!(problem["type"], "/problems/forbidden", "the WAF blocked it");
}

#[tokio::test]
async fn repeated_waf_blocks_ban_that_address_from_everything_and_no_other() {
    let app = TestApp::spawn_with(ban_settings(&[(Signal::WafBlocked, 3)])).await;
    let attacker = "198.51.100.7";
    for _ in 0..3 {
        waf_attack(&app, attacker).await;
    }

    blocked_from(&app, attacker, "/api/v1/products").await;
    // Health endpoints too: a banned client asking for them is still that client.
    blocked_from(&app, attacker, "/healthz").await;
    let login = json!({ "email": "x@example.com", "password": PASSWORD });
    assert_blocked(
        from(
            &app,
            attacker,
            Method::POST,
            "/api/v1/auth/login",
            Some(login),
        )
        .await,
    )
    .await;

    let other = "198.51.100.8";
    assert_eq!(
        get_from(&app, other, "/api/v1/products").await,
        StatusCode::OK
    );
    assert_eq!(get_from(&app, other, "/healthz").await, StatusCode::OK);
    // The load balancer's own health check (its address, no forwarded header).
    let health = app.get("/healthz", None).await;
    assert_eq!(health.status(), StatusCode::OK);

    let bans = app.audit_events("security.ip_banned").await;
    assert_eq!(bans.len(), 1, "{bans:#?}");
    let ban = &bans[0];
    assert_eq!(ban["client_ip"], attacker);
    assert_eq!(ban["target"], attacker);
    assert!(ban["actor_id"].is_null());
    let details = &ban["details"];
    assert_eq!(details["address"], attacker);
    assert_eq!(details["signal"], "waf-blocked");
    assert_eq!(details["count"], 3);
    assert_eq!(details["threshold"], 3);
    assert_eq!(details["duration_secs"], BAN_SECS);
    assert_eq!(details["until"], app.state.now() + BAN_SECS);
    assert_eq!(
        app.audit_events("waf.blocked").await.len(),
        3,
        "banned requests never reach the WAF"
    );
}

#[tokio::test]
async fn a_flood_from_a_banned_address_is_reported_once_a_minute() {
    let app = TestApp::spawn_with(ban_settings(&[(Signal::WafBlocked, 1)])).await;
    let attacker = "198.51.100.9";
    waf_attack(&app, attacker).await;
    for _ in 0..40 {
        blocked_from(&app, attacker, "/api/v1/products").await;
    }
    let refused = app.audit_events("security.ban_refused").await;
    assert_eq!(refused.len(), 1, "one event, not one per refused request");
    assert_eq!(refused[0]["details"]["refused_since_last_report"], 1);
    assert_eq!(refused[0]["client_ip"], attacker);

    app.advance(60);
    blocked_from(&app, attacker, "/api/v1/products").await;
    let refused = app.audit_events("security.ban_refused").await;
    assert_eq!(refused.len(), 2);
    assert_eq!(refused[0]["details"]["refused_since_last_report"], 40);
}

async fn login_from(app: &TestApp, client: &str, email: &str, password: &str) -> reqwest::Response {
    let body = json!({ "email": email, "password": password });
    from(app, client, Method::POST, "/api/v1/auth/login", Some(body)).await
}

async fn failed_login(app: &TestApp, client: &str, email: &str) -> reqwest::Response {
    login_from(app, client, email, "not the password at all").await
}

#[tokio::test]
async fn a_credential_stuffing_burst_bans_but_a_forgetful_customer_is_not_banned() {
    let app = TestApp::spawn_with(ban_settings(&[(Signal::FailedLogin, 5)])).await;
    app.create_user("forgetful@example.com", "customer").await;
    app.create_user("victim@example.com", "customer").await;

    let forgetful = "198.51.100.20";
    for _ in 0..8 {
        let response = failed_login(&app, forgetful, "forgetful@example.com").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = login_from(&app, forgetful, "forgetful@example.com", PASSWORD).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "one account retried is no attack"
    );

    let stuffer = "198.51.100.21";
    for n in 0..5 {
        let response = failed_login(&app, stuffer, &format!("leaked-{n}@example.com")).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = login_from(&app, stuffer, "victim@example.com", PASSWORD).await;
    assert_blocked(response).await;

    let bans = app.audit_events("security.ip_banned").await;
    assert_eq!(bans.len(), 1);
    assert_eq!(bans[0]["details"]["address"], stuffer);
    assert_eq!(bans[0]["details"]["signal"], "failed-login");
    assert_eq!(bans[0]["details"]["count"], 5);
    assert!(
        !bans[0].to_string().contains("@example.com"),
        "the ban names no account: {}",
        bans[0]
    );
}

#[tokio::test]
async fn forged_tokens_and_rate_limit_refusals_ban_too() {
    let mut settings = ban_settings(&[(Signal::TokenRejected, 4), (Signal::RateLimited, 3)]);
    settings.rate_limits.quotas.insert(
        ironcart::security::ratelimit::LimitClass::RegisterAddress,
        ironcart::security::ratelimit::LimitQuota {
            per_minute: 1,
            burst: 1,
        },
    );
    let app = TestApp::spawn_with(settings).await;

    let forger = "198.51.100.40";
    for n in 0..4 {
        let response = app
            .client
            .get(app.url("/api/v1/me"))
            .header("x-forwarded-for", forger)
            .bearer_auth(format!("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.{n}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    blocked_from(&app, forger, "/api/v1/products").await;

    let hammer = "198.51.100.41";
    let register = |n: usize| json!({ "email": format!("r{n}@example.com"), "password": PASSWORD, "name": "R" });
    let first = from(
        &app,
        hammer,
        Method::POST,
        "/api/v1/auth/register",
        Some(register(0)),
    );
    assert_eq!(first.await.status(), StatusCode::CREATED);
    for n in 1..4 {
        let response = from(
            &app,
            hammer,
            Method::POST,
            "/api/v1/auth/register",
            Some(register(n)),
        );
        assert_eq!(response.await.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    blocked_from(&app, hammer, "/api/v1/products").await;

    let mut bans: Vec<(String, String)> = app
        .audit_events("security.ip_banned")
        .await
        .into_iter()
        .map(|event| {
            let details = &event["details"];
            (
                details["address"].to_string(),
                details["signal"].to_string(),
            )
        })
        .collect();
    bans.sort();
    assert_eq!(
        bans,
        vec![
            (
                json!(forger).to_string(),
                json!("token-rejected").to_string()
            ),
            (json!(hammer).to_string(), json!("rate-limited").to_string()),
        ]
    );
}

#[tokio::test]
async fn a_ban_expires_after_its_duration() {
    let app = TestApp::spawn_with(ban_settings(&[(Signal::WafBlocked, 2)])).await;
    let attacker = "198.51.100.10";
    waf_attack(&app, attacker).await;
    waf_attack(&app, attacker).await;
    blocked_from(&app, attacker, "/api/v1/products").await;

    app.advance(BAN_SECS - 1);
    blocked_from(&app, attacker, "/api/v1/products").await;
    app.advance(1);
    assert_eq!(
        get_from(&app, attacker, "/api/v1/products").await,
        StatusCode::OK
    );
}

async fn ban_by_hand(
    app: &TestApp,
    token: &str,
    address: &str,
    duration: i64,
) -> reqwest::Response {
    app.post(
        "/api/v1/admin/bans",
        Some(token),
        json!({ "address": address, "reason": "card testing from this host", "duration_secs": duration }),
    )
    .await
}

async fn listed_bans(app: &TestApp, token: &str) -> Vec<Value> {
    let response = app.get("/api/v1/admin/bans", Some(token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn staff_ban_and_lift_an_address_by_hand_and_each_change_is_audited() {
    let app = TestApp::spawn_with(ban_settings(&[])).await;
    let officer = app.token_for_role("security_officer").await;
    let officer_id = app.me(&officer).await["id"].clone();
    let customer = app.token_for_role("customer").await;
    let suspect = "203.0.113.50";

    let response = ban_by_hand(&app, &customer, suspect, 3600).await;
    assert_problem(response, StatusCode::FORBIDDEN).await;
    assert_eq!(
        get_from(&app, suspect, "/api/v1/products").await,
        StatusCode::OK
    );

    let response = ban_by_hand(&app, &officer, suspect, 3600).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let ban: Value = response.json().await.unwrap();
    assert_eq!(ban["address"], suspect);
    assert_eq!(ban["source"], "manual");
    assert_eq!(ban["reason"], "card testing from this host");
    assert_eq!(ban["actor_id"], officer_id);
    blocked_from(&app, suspect, "/api/v1/products").await;

    let listed = listed_bans(&app, &officer).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0], ban);

    let lift = app
        .delete(&format!("/api/v1/admin/bans/{suspect}"), Some(&officer))
        .await;
    assert_eq!(lift.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        get_from(&app, suspect, "/api/v1/products").await,
        StatusCode::OK
    );
    let again = app
        .delete(&format!("/api/v1/admin/bans/{suspect}"), Some(&officer))
        .await;
    assert_problem(again, StatusCode::NOT_FOUND).await;
    assert!(listed_bans(&app, &officer).await.is_empty());

    let banned = app.audit_events("security.ip_banned").await;
    assert_eq!(banned.len(), 1);
    assert_eq!(banned[0]["actor_id"], officer_id);
    assert_eq!(banned[0]["target"], suspect);
    assert_eq!(
        banned[0]["details"]["reason"],
        "card testing from this host"
    );
    assert_eq!(banned[0]["details"]["duration_secs"], 3600);
    let lifted = app.audit_events("security.ip_unbanned").await;
    assert_eq!(lifted.len(), 1);
    assert_eq!(lifted[0]["actor_id"], officer_id);
    assert_eq!(lifted[0]["target"], suspect);
}

#[tokio::test]
async fn ipv6_clients_are_banned_by_their_64_and_protected_addresses_never() {
    let app = TestApp::spawn_with(ban_settings(&[])).await;
    let admin = app.token_for_role("admin").await;

    let response = ban_by_hand(&app, &admin, "2001:db8:1:2::1", 600).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let ban: Value = response.json().await.unwrap();
    assert_eq!(ban["address"], "2001:db8:1:2::/64");
    blocked_from(&app, "2001:db8:1:2:ffff::9", "/api/v1/products").await;
    assert_eq!(
        get_from(&app, "2001:db8:1:3::1", "/api/v1/products").await,
        StatusCode::OK
    );
    let lift = app
        .delete("/api/v1/admin/bans/2001:db8:1:2::77", Some(&admin))
        .await;
    assert_eq!(lift.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        get_from(&app, "2001:db8:1:2::1", "/api/v1/products").await,
        StatusCode::OK
    );

    for (address, duration, field, code) in [
        ("127.0.0.1", 600, "address", "never_banned"),
        (MONITORING, 600, "address", "never_banned"),
        ("not-an-address", 600, "address", "invalid_address"),
        ("198.51.100.0/24", 600, "address", "invalid_address"),
        ("198.51.100.1", 5, "duration_secs", "out_of_range"),
    ] {
        let response = ban_by_hand(&app, &admin, address, duration).await;
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(problem["errors"][0]["field"], field, "{address}");
        assert_eq!(problem["errors"][0]["code"], code, "{address}");
    }
    let malformed = app
        .delete("/api/v1/admin/bans/not-an-address", Some(&admin))
        .await;
    assert_problem(malformed, StatusCode::BAD_REQUEST).await;
    assert!(listed_bans(&app, &admin).await.is_empty());
}

#[tokio::test]
async fn a_forged_forwarded_for_from_an_untrusted_peer_cannot_move_a_ban() {
    let app = TestApp::spawn_with(ban_settings(&[(Signal::WafBlocked, 2)])).await;
    let untrusted = client_from("127.0.0.2");
    let innocent = "198.51.100.30";
    for _ in 0..2 {
        let response = untrusted
            .get(app.url(ATTACK))
            .header("x-forwarded-for", innocent)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }
    let bans = app.audit_events("security.ip_banned").await;
    assert_eq!(bans.len(), 1);
    assert_eq!(
        bans[0]["details"]["address"], "127.0.0.2",
        "the peer, not the header"
    );
    assert_eq!(
        get_from(&app, innocent, "/api/v1/products").await,
        StatusCode::OK
    );

    // Claiming another address does not get the banned peer out.
    for claimed in [innocent, "127.0.0.1", MONITORING] {
        let response = untrusted
            .get(app.url("/api/v1/products"))
            .header("x-forwarded-for", claimed)
            .send()
            .await
            .unwrap();
        assert_blocked(response).await;
    }
}

fn redis_settings(url: String) -> Settings {
    Settings {
        redis_url: Some(url),
        ..ban_settings(&[(Signal::WafBlocked, 2)])
    }
}

#[tokio::test]
async fn a_ban_set_through_one_instance_is_enforced_by_another_sharing_redis() {
    let redis = Redis::start();
    let first = TestApp::spawn_with(redis_settings(redis.url())).await;
    let second = TestApp::spawn_with(redis_settings(redis.url())).await;
    wait_for_redis(&first, "ok").await;
    wait_for_redis(&second, "ok").await;

    let attacker = "198.51.100.60";
    waf_attack(&first, attacker).await;
    waf_attack(&second, attacker).await;
    blocked_from(&first, attacker, "/api/v1/products").await;
    blocked_from(&second, attacker, "/api/v1/products").await;
    assert_eq!(
        get_from(&second, "198.51.100.61", "/api/v1/products").await,
        StatusCode::OK
    );

    let officer = second.token_for_role("security_officer").await;
    let listed = listed_bans(&second, &officer).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["address"], attacker);
    assert_eq!(listed[0]["source"], "waf-blocked");

    let lift = second
        .delete(&format!("/api/v1/admin/bans/{attacker}"), Some(&officer))
        .await;
    assert_eq!(lift.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        get_from(&first, attacker, "/api/v1/products").await,
        StatusCode::OK
    );

    let manual = ban_by_hand(&second, &officer, "198.51.100.62", 600).await;
    assert_eq!(manual.status(), StatusCode::CREATED);
    blocked_from(&first, "198.51.100.62", "/api/v1/products").await;
}

#[tokio::test]
async fn with_redis_unreachable_bans_hold_locally_and_are_shared_when_it_returns() {
    let mut redis = Redis::start();
    let first = TestApp::spawn_with(redis_settings(redis.url())).await;
    let second = TestApp::spawn_with(redis_settings(redis.url())).await;
    wait_for_redis(&first, "ok").await;
    wait_for_redis(&second, "ok").await;

    redis.stop();
    let attacker = "198.51.100.70";
    waf_attack(&first, attacker).await;
    waf_attack(&first, attacker).await;
    blocked_from(&first, attacker, "/api/v1/products").await;
    assert_eq!(
        get_from(&first, "198.51.100.71", "/api/v1/products").await,
        StatusCode::OK,
        "other clients are served"
    );
    let officer = first.token_for_role("security_officer").await;
    let listed = listed_bans(&first, &officer).await;
    assert_eq!(listed.len(), 1);

    let _revived = Redis::start_on(redis.port);
    wait_for_redis(&first, "ok").await;
    wait_for_redis(&second, "ok").await;
    // The first instance's next look at the address shares what it decided alone.
    blocked_from(&first, attacker, "/api/v1/products").await;
    blocked_from(&second, attacker, "/api/v1/products").await;
}

#[tokio::test]
async fn with_redis_never_reachable_bans_work_locally() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = TestApp::spawn_with(redis_settings(format!("redis://127.0.0.1:{closed}"))).await;
    let attacker = "198.51.100.80";
    waf_attack(&app, attacker).await;
    waf_attack(&app, attacker).await;
    blocked_from(&app, attacker, "/api/v1/products").await;
    assert_eq!(
        get_from(&app, "198.51.100.81", "/api/v1/products").await,
        StatusCode::OK
    );
    let admin = app.token_for_role("admin").await;
    assert_eq!(listed_bans(&app, &admin).await.len(), 1);
    let lift = app
        .delete(&format!("/api/v1/admin/bans/{attacker}"), Some(&admin))
        .await;
    assert_eq!(lift.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        get_from(&app, attacker, "/api/v1/products").await,
        StatusCode::OK
    );
    let ready: Value = app.get("/readyz", None).await.json().await.unwrap();
    assert_eq!(ready["redis"], "unavailable");
}
