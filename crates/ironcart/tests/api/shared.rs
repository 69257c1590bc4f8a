//! Several instances, one set of limits: counters live in a real Redis, and losing
//! Redis degrades to per-instance limits without failing requests.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ironcart::app::Settings;
use ironcart::security::ratelimit::{LimitClass, LimitQuota, RateLimitSettings};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestApp, test_settings};

/// A private redis-server on a free loopback port, stopped on drop.
pub struct Redis {
    child: Child,
    pub port: u16,
}

impl Redis {
    pub fn start_on(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed for the scale-out tests");
        let redis = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        redis
    }

    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self::start_on(port)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

fn shared_settings(redis: &Redis) -> Settings {
    let mut limits = RateLimitSettings::unlimited_for_tests();
    limits.quotas.insert(
        LimitClass::LoginAddress,
        LimitQuota {
            per_minute: 1,
            burst: 6,
        },
    );
    Settings {
        rate_limits: limits,
        redis_url: Some(redis.url()),
        ..test_settings()
    }
}

async fn failed_login(app: &TestApp) -> StatusCode {
    app.post(
        "/api/v1/auth/login",
        None,
        json!({ "email": "x@example.com", "password": "not the one" }),
    )
    .await
    .status()
}

pub async fn redis_status(app: &TestApp) -> String {
    let body: Value = app.get("/readyz", None).await.json().await.unwrap();
    body["redis"].as_str().unwrap_or_default().to_owned()
}

pub async fn wait_for_redis(app: &TestApp, wanted: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while redis_status(app).await != wanted {
        assert!(
            Instant::now() < deadline,
            "readyz never reported redis {wanted}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_rate_limit_holds_across_instances_through_redis() {
    let redis = Redis::start();
    let first = TestApp::spawn_with(shared_settings(&redis)).await;
    let second = TestApp::spawn_with(shared_settings(&redis)).await;
    wait_for_redis(&first, "ok").await;
    wait_for_redis(&second, "ok").await;

    for _ in 0..3 {
        assert_eq!(failed_login(&first).await, StatusCode::UNAUTHORIZED);
        assert_eq!(failed_login(&second).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        failed_login(&first).await,
        StatusCode::TOO_MANY_REQUESTS,
        "six attempts were spread over two instances"
    );
    assert_eq!(failed_login(&second).await, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn losing_redis_falls_back_to_local_limits_and_recovers() {
    let mut redis = Redis::start();
    let app = TestApp::spawn_with(shared_settings(&redis)).await;
    wait_for_redis(&app, "ok").await;
    assert_eq!(failed_login(&app).await, StatusCode::UNAUTHORIZED);

    redis.stop();
    assert_eq!(redis_status(&app).await, "unavailable");
    for _ in 0..6 {
        assert_eq!(
            failed_login(&app).await,
            StatusCode::UNAUTHORIZED,
            "requests keep being served"
        );
    }
    assert_eq!(
        failed_login(&app).await,
        StatusCode::TOO_MANY_REQUESTS,
        "local limits still hold: the door stays shut"
    );

    let _revived = Redis::start_on(redis.port);
    wait_for_redis(&app, "ok").await;
}

#[tokio::test]
async fn the_personal_data_quota_and_its_alert_hold_across_instances() {
    let redis = Redis::start();
    let mut settings = shared_settings(&redis);
    let quota = LimitQuota {
        per_minute: 1,
        burst: 10,
    };
    settings
        .rate_limits
        .quotas
        .insert(LimitClass::PiiRead, quota);
    let first = TestApp::spawn_with(settings.clone()).await;
    let second = TestApp::spawn_with(settings).await;
    wait_for_redis(&first, "ok").await;
    wait_for_redis(&second, "ok").await;

    // One staff principal whose requests land on either instance.
    let staff = uuid::Uuid::new_v4().to_string();
    let (one, two) = (&first.state.limits, &second.state.limits);
    let class = LimitClass::PiiRead;
    let remaining = one
        .check_shared_n(class, &staff, 6)
        .await
        .map(|a| a.map(|a| a.remaining));
    assert_eq!(remaining, Ok(Some(4)));
    assert!(
        two.check_shared_n(class, &staff, 5).await.is_err(),
        "4 left in all"
    );
    assert!(two.check_shared_n(class, &staff, 4).await.is_ok());
    assert!(one.check_shared_n(class, &staff, 1).await.is_err());
    assert!(
        two.first_refusal(class, &staff).await,
        "the first refusal alerts"
    );
    assert!(
        !one.first_refusal(class, &staff).await,
        "on any instance, once"
    );
}
