//! The parts of a scaled-out deployment, started as an operator would start them:
//! a database on the PostgreSQL server, a private redis-server, `ironcart serve`
//! processes sharing one signing key, nginx with `deploy/nginx.conf` and HAProxy
//! with `deploy/haproxy.cfg` in front of the same instances (HAProxy also balances
//! over a deliberately broken backend, [`FlakyBackend`]). Every server listens on
//! 127.0.0.1 only and is stopped when the cluster is dropped.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::IpAddr;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use super::PASSWORD;

const NGINX_TEMPLATE: &str = include_str!("../../../../deploy/nginx.conf");
const HAPROXY_TEMPLATE: &str = include_str!("../../../../deploy/haproxy.cfg");

/// The PostgreSQL base URL when the test can run; `None` (after saying so loudly)
/// when it cannot. Under CI a missing nginx fails the test instead.
pub fn requirements() -> Option<String> {
    let ci = under_ci();
    let database = std::env::var("IRONCART_TEST_DATABASE")
        .ok()
        .filter(|url| url.starts_with("postgres"));
    let Some(database) = database else {
        eprintln!(
            "\n*** SKIPPED the scale-out test: it needs IRONCART_TEST_DATABASE=postgres://… \
             (several instances share one database); .ci/run sets it ***\n"
        );
        return None;
    };
    if nginx_binary().is_none() || haproxy_binary().is_none() {
        assert!(
            !ci,
            "nginx and haproxy are required for the scale-out test under CI"
        );
        eprintln!("\n*** SKIPPED the scale-out test: nginx or haproxy is not installed ***\n");
        return None;
    }
    Some(database.trim_end_matches('/').to_owned())
}

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// The first of `names` that runs with `-v`.
fn installed(names: [&str; 2]) -> Option<PathBuf> {
    names.into_iter().map(PathBuf::from).find(|path| {
        Command::new(path)
            .arg("-v")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

fn nginx_binary() -> Option<PathBuf> {
    installed(["nginx", "/usr/sbin/nginx"])
}

/// HAProxy, if installed; under CI its absence fails the test.
pub fn haproxy_binary() -> Option<PathBuf> {
    let found = installed(["haproxy", "/usr/sbin/haproxy"]);
    if found.is_none() {
        assert!(!under_ci(), "haproxy is required under CI");
        eprintln!("\n*** SKIPPED the HAProxy configuration check: haproxy is not installed ***\n");
    }
    found
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start listening");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn private_dir(path: &Path) -> PathBuf {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .expect("create directory");
    path.to_owned()
}

/// A process stopped with SIGTERM (then SIGKILL) when dropped.
struct Process(Option<Child>);

impl Process {
    fn terminate(&mut self) {
        let Some(mut child) = self.0.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// One `ironcart serve` process.
pub struct Instance {
    pub port: u16,
    process: Process,
    args: Vec<OsString>,
    data_dir: PathBuf,
    log_path: PathBuf,
}

/// The cluster's key-encryption key (32 bytes, base64); a test-only value.
const CLUSTER_KEK: &str = "c2NhbGUtdGVzdC1rZWstMzItYnl0ZXMtZXhhY3RseSE=";

impl Instance {
    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_ironcart"))
            .args(&self.args)
            .env_remove("IRONCART_DATABASE_URL")
            .env_remove("IRONCART_CONFIG")
            .env_remove("IRONCART_KEK_FILE")
            // Every instance must hold the same key-encryption key: the data keys
            // in the shared database are wrapped under it.
            .env("IRONCART_KEK", CLUSTER_KEK)
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start ironcart serve");
        self.process = Process(Some(child));
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// SIGKILL: the instance dies mid-request, as in a crash.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Waits until /readyz says the database and Redis both answer.
    async fn wait_until_ready(&self) {
        let client = Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = client.get(self.url("/readyz")).send().await;
            if let Ok(response) = ready
                && response.status() == StatusCode::OK
            {
                let body: Value = response.json().await.unwrap_or_default();
                if body["database"] == "ok" && body["redis"] == "ok" {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "instance {} never became ready; log:\n{}",
                self.port,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

pub struct Session {
    pub access: String,
    pub refresh: String,
}

pub struct Cluster {
    pub instances: Vec<Instance>,
    nginx: Process,
    proxy_dir: PathBuf,
    redis: Process,
    proxy_port: u16,
    haproxy: Process,
    haproxy_port: u16,
    pub flaky: FlakyBackend,
    database_url: String,
    admin_password: String,
    _dir: tempfile::TempDir,
}

impl Cluster {
    pub async fn start(database_base: &str, config: &str, count: usize) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let database_url = create_database(database_base).await;
        let (redis, redis_port) = start_redis();
        let proxy_port = free_port();
        let config_path = dir.path().join("ironcart.toml");
        std::fs::write(&config_path, config).expect("config file");

        // One signing key for all: made once, then installed in each instance's
        // data directory as an operator would distribute it.
        let keys = dir.path().join("keys-origin");
        let made = Command::new(env!("CARGO_BIN_EXE_ironcart"))
            .args(["keys", "rotate-signing", "--data-dir"])
            .arg(&keys)
            .stdout(Stdio::null())
            .status()
            .expect("ironcart keys rotate-signing");
        assert!(made.success());

        let mut instances = Vec::new();
        for index in 0..count {
            let port = free_port();
            let data_dir = private_dir(&dir.path().join(format!("instance-{index}")));
            let signing = private_dir(&data_dir.join("keys/signing"));
            for entry in std::fs::read_dir(keys.join("keys/signing")).expect("keys") {
                let from = entry.expect("key").path();
                std::fs::copy(&from, signing.join(from.file_name().expect("name")))
                    .expect("copy key");
            }
            let args: Vec<OsString> = [
                "serve",
                "--insecure-plain-http",
                "--trusted-proxy",
                "127.0.0.1",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--public-url",
                &format!("https://127.0.0.1:{proxy_port}"),
                "--database-url",
                &database_url,
                "--redis-url",
                &format!("redis://127.0.0.1:{redis_port}"),
            ]
            .into_iter()
            .map(OsString::from)
            .chain(["--data-dir".into(), data_dir.clone().into_os_string()])
            .chain(["--config".into(), config_path.clone().into_os_string()])
            .collect();
            instances.push(Instance {
                port,
                process: Process(None),
                args,
                log_path: data_dir.join("server.log"),
                data_dir,
            });
        }
        // All at once on the empty database: they race to migrate it and to
        // create the first administrator.
        for instance in &mut instances {
            instance.spawn();
        }
        for instance in &instances {
            instance.wait_until_ready().await;
        }
        let admin_password = single_admin_password(&instances);

        let ports: Vec<u16> = instances.iter().map(|i| i.port).collect();
        let proxy_dir = private_dir(&dir.path().join("proxy"));
        let nginx = start_nginx(&proxy_dir, proxy_port, &ports);
        let flaky = FlakyBackend::start().await;
        let haproxy_port = free_port();
        let haproxy = start_haproxy(&proxy_dir, haproxy_port, &ports, flaky.port);
        Self {
            instances,
            nginx,
            proxy_dir,
            redis,
            proxy_port,
            haproxy,
            haproxy_port,
            flaky,
            database_url,
            admin_password,
            _dir: dir,
        }
    }

    /// nginx's access log: one line per request, naming every instance it tried.
    pub fn proxy_log(&self) -> String {
        std::fs::read_to_string(self.proxy_dir.join("access.log")).unwrap_or_default()
    }

    pub fn proxy_url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.proxy_port)
    }

    pub fn haproxy_url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.haproxy_port)
    }

    /// HAProxy's output: its request log and its server state changes.
    pub fn haproxy_log(&self) -> String {
        std::fs::read_to_string(self.proxy_dir.join("haproxy.out")).unwrap_or_default()
    }

    /// Waits until HAProxy has logged that `server` (as named in its backend:
    /// `ironcart1`… for the instances, `flaky`) went `state` (`DOWN` or `UP`).
    pub async fn wait_for_haproxy(&self, server: &str, state: &str) {
        let wanted = format!("ironcart/{server} is {state}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.haproxy_log().contains(&wanted) {
            assert!(
                Instant::now() < deadline,
                "HAProxy never logged {wanted:?}:\n{}",
                self.haproxy_log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A client of the proxy (self-signed certificate), from `address` if given.
    pub fn proxy_client(&self, address: Option<IpAddr>) -> Client {
        Client::builder()
            .danger_accept_invalid_certs(true)
            .local_address(address)
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client")
    }

    /// A client of the instances themselves (plain HTTP).
    pub fn direct_client(&self) -> Client {
        self.direct_client_from("127.0.0.1".parse().expect("address"))
    }

    pub fn direct_client_from(&self, address: IpAddr) -> Client {
        Client::builder()
            .local_address(address)
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client")
    }

    pub async fn admin_token(&self, proxy: &Client) -> String {
        self.login(proxy, "admin@ironcart.local", &self.admin_password)
            .await
            .access
    }

    async fn login(&self, proxy: &Client, email: &str, password: &str) -> Session {
        let response = proxy
            .post(self.proxy_url("/api/v1/auth/login"))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .expect("login");
        assert_eq!(response.status(), StatusCode::OK, "login of {email}");
        let body: Value = response.json().await.expect("tokens");
        Session {
            access: body["access_token"].as_str().expect("access").to_owned(),
            refresh: body["refresh_token"].as_str().expect("refresh").to_owned(),
        }
    }

    /// Registers and logs in a customer through the proxy.
    pub async fn customer(&self, proxy: &Client, label: &str) -> Session {
        let email = format!("{label}-{}@example.com", uuid::Uuid::new_v4().simple());
        let response = proxy
            .post(self.proxy_url("/api/v1/auth/register"))
            .json(&json!({ "email": email, "password": PASSWORD, "name": "Scale Shopper" }))
            .send()
            .await
            .expect("register");
        assert_eq!(response.status(), StatusCode::CREATED);
        self.login(proxy, &email, PASSWORD).await
    }

    /// Every order in the database, by idempotency key.
    pub async fn stored_orders(&self) -> BTreeMap<String, String> {
        let mut connection = <sqlx::PgConnection as sqlx::Connection>::connect(&self.database_url)
            .await
            .expect("connect to the test database");
        let rows: Vec<(String, String)> = sqlx::query_as("SELECT idempotency_key, id FROM orders")
            .fetch_all(&mut connection)
            .await
            .expect("orders");
        rows.into_iter().collect()
    }

    /// Starts a replacement process for a dead instance, on the same address.
    pub async fn restart(&mut self, index: usize) {
        let instance = &mut self.instances[index];
        instance.spawn();
        instance.wait_until_ready().await;
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.haproxy.terminate();
        self.nginx.terminate();
        for instance in &mut self.instances {
            instance.process.terminate();
        }
        self.redis.terminate();
    }
}

async fn create_database(base: &str) -> String {
    let name = format!("ironcart_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&format!("{base}/postgres"))
        .await
        .expect("connect to the test PostgreSQL server");
    sqlx::Executor::execute(&mut admin, format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create test database");
    format!("{base}/{name}")
}

fn start_redis() -> (Process, u16) {
    let port = free_port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server must be installed");
    let process = Process(Some(child));
    wait_for_port(port, "redis-server");
    (process, port)
}

/// Exactly one instance created the first admin, and no half-written password
/// file was left by the ones that lost the race.
fn single_admin_password(instances: &[Instance]) -> String {
    let mut passwords = Vec::new();
    for instance in instances {
        for entry in std::fs::read_dir(&instance.data_dir).expect("data dir") {
            let name = entry.expect("entry").file_name();
            let name = name.to_string_lossy();
            assert!(!name.ends_with(".pending"), "left behind: {name}");
        }
        let file = instance.data_dir.join("initial-admin-password");
        if let Ok(text) = std::fs::read_to_string(file) {
            passwords.push(text.trim().to_owned());
        }
    }
    assert_eq!(
        passwords.len(),
        1,
        "one instance created the first admin and wrote its password"
    );
    passwords.remove(0)
}

/// Replaces `from` with `to` in the template, insisting it is there exactly once so
/// the test notices when a file of deploy/ changes shape.
fn substitute(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "the deploy/ configuration should contain {from:?} once"
    );
    text.replace(from, to)
}

/// The template with its backend block (from the `# backends: begin` line to the
/// `# backends: end` marker) replaced by `servers`.
fn with_backends(template: &str, servers: &str) -> String {
    let marker = template.find("# backends: begin").expect("backend block");
    let line_start = template[..marker].rfind('\n').map_or(0, |i| i + 1);
    let indent = &template[line_start..marker];
    let end = template.find("# backends: end").expect("backend block end");
    format!(
        "{}{servers}{indent}{}",
        &template[..line_start],
        &template[end..]
    )
}

fn start_nginx(dir: &Path, port: u16, backends: &[u16]) -> Process {
    let (cert, key) = ironcart::tls::ensure_self_signed(dir).expect("proxy certificate");
    let servers: String = backends
        .iter()
        .map(|port| format!("        server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;\n"))
        .collect();
    let mut config = with_backends(NGINX_TEMPLATE, &servers);
    let path = |name: &str| dir.join(name).display().to_string();
    for (from, to) in [
        ("/run/ironcart-nginx.pid", path("nginx.pid")),
        ("/var/log/nginx/ironcart-error.log", path("error.log")),
        ("/var/log/nginx/ironcart-access.log", path("access.log")),
        ("listen 443 ssl", format!("listen 127.0.0.1:{port} ssl")),
        (
            "/etc/ironcart/tls/fullchain.pem",
            cert.display().to_string(),
        ),
        ("/etc/ironcart/tls/privkey.pem", key.display().to_string()),
    ] {
        config = substitute(&config, from, &to);
    }
    let config_path = dir.join("nginx.conf");
    std::fs::write(&config_path, config).expect("nginx config");
    let log = std::fs::File::create(dir.join("nginx.out")).expect("nginx log");
    let child = Command::new(nginx_binary().expect("nginx"))
        .arg("-e")
        .arg(path("error.log"))
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&config_path)
        .args(["-g", "daemon off;"])
        .stdout(Stdio::from(log.try_clone().expect("log")))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("start nginx");
    let process = Process(Some(child));
    wait_for_port(port, "nginx");
    process
}

/// HAProxy with deploy/haproxy.cfg: its TLS bundle, listening address and backends
/// (the instances `ironcart1`…, then `flaky`) replaced; everything else as shipped.
fn start_haproxy(dir: &Path, port: u16, backends: &[u16], flaky: u16) -> Process {
    let (cert, key) = ironcart::tls::ensure_self_signed(dir).expect("proxy certificate");
    let bundle = dir.join("haproxy.pem");
    let pem = [std::fs::read(cert).unwrap(), std::fs::read(key).unwrap()].concat();
    std::fs::write(&bundle, pem).expect("bundle");
    let mut servers: String = backends
        .iter()
        .enumerate()
        .map(|(i, port)| format!("    server ironcart{} 127.0.0.1:{port}\n", i + 1))
        .collect();
    servers.push_str(&format!("    server flaky 127.0.0.1:{flaky}\n"));
    let mut config = with_backends(HAPROXY_TEMPLATE, &servers);
    for (from, to) in [
        (
            "/etc/ironcart/tls/haproxy.pem",
            bundle.display().to_string(),
        ),
        ("bind :443", format!("bind 127.0.0.1:{port}")),
    ] {
        config = substitute(&config, from, &to);
    }
    let config_path = dir.join("haproxy.cfg");
    std::fs::write(&config_path, config).expect("haproxy config");
    let log = std::fs::File::create(dir.join("haproxy.out")).expect("haproxy log");
    let child = Command::new(haproxy_binary().expect("haproxy"))
        .arg("-db")
        .arg("-f")
        .arg(&config_path)
        .stdout(Stdio::from(log.try_clone().expect("log")))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("start haproxy");
    let process = Process(Some(child));
    wait_for_port(port, "haproxy");
    process
}

/// A backend that passes HAProxy's health check but closes the connection, without
/// answering, on every other request, after reading it whole: what an instance
/// dying mid-request looks like to the proxy. It records each request line it got.
pub struct FlakyBackend {
    pub port: u16,
    received: Arc<Mutex<Vec<String>>>,
    healthy: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl FlakyBackend {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind flaky backend");
        let port = listener.local_addr().expect("addr").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let healthy = Arc::new(AtomicBool::new(true));
        let (log, health) = (received.clone(), healthy.clone());
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (log, health) = (log.clone(), health.clone());
                tokio::spawn(async move { flaky_exchange(socket, &log, &health).await });
            }
        });
        Self {
            port,
            received,
            healthy,
            task,
        }
    }

    /// The request lines (method and target) of every request it dropped.
    pub fn dropped(&self) -> Vec<String> {
        self.received.lock().expect("lock").clone()
    }

    /// From now on its health check fails, so HAProxy takes it out.
    pub fn fail_health_checks(&self) {
        self.healthy.store(false, Ordering::SeqCst);
    }
}

impl Drop for FlakyBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn flaky_exchange(
    mut socket: tokio::net::TcpStream,
    dropped: &Mutex<Vec<String>>,
    healthy: &AtomicBool,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let request_line = head.lines().next().unwrap_or_default().to_owned();
    let body_length: usize = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + body_length {
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
    if request_line.starts_with("GET /readyz ") {
        let status = if healthy.load(Ordering::SeqCst) {
            "200 OK"
        } else {
            "503 Service Unavailable"
        };
        let answer = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        let _ = socket.write_all(answer.as_bytes()).await;
        return;
    }
    let mut pieces = request_line.split(' ');
    let (method, target) = (pieces.next().unwrap_or(""), pieces.next().unwrap_or(""));
    dropped
        .lock()
        .expect("lock")
        .push(format!("{method} {target}"));
    let _ = socket.shutdown().await;
}
