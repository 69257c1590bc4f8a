//! PostgreSQL over TLS with certificate verification (`sslmode=verify-full`), against
//! a real server: a private, throwaway PostgreSQL cluster on a free loopback port with
//! `ssl=on`, a server certificate signed by a CA this test makes, and a `pg_hba.conf`
//! that accepts TLS connections only (`hostssl`).
//!
//! - verify-full with the right CA: Ironcart migrates, and the binary serves, on
//!   connections the server reports as TLS;
//! - verify-full with another CA: refused;
//! - verify-full against a certificate for another host name: refused (while the
//!   same certificate is accepted for the address it does name);
//! - a connection without TLS: refused by the server.
//!
//! It needs the PostgreSQL server binaries (initdb, pg_ctl; Debian's
//! postgresql package puts them in /usr/lib/postgresql/<version>/bin). Without them
//! the test says so and skips, except under CI (`CI` set), where it fails.

// A test reports failure by panicking.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ironcart::store::Store;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use reqwest::StatusCode;
use serde_json::json;

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// The directory of the newest installed PostgreSQL server binaries.
fn postgres_bin_dir() -> Option<PathBuf> {
    let usable = |bin: &Path| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os("IRONCART_PG_BIN_DIR") {
        let dir = PathBuf::from(dir);
        return usable(&dir).then_some(dir);
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()).then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// A user id and group id by name, from `id`.
fn ids_of(user: &str) -> (u32, u32) {
    let id = |flag: &str| {
        let out = Command::new("id")
            .args([flag, user])
            .output()
            .expect("run id");
        assert!(out.status.success(), "no user {user}");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<u32>()
            .expect("numeric id")
    };
    (id("-u"), id("-g"))
}

/// A certificate authority of the test's own.
struct Authority {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Authority {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("CA certificate");
        Self { cert, key }
    }

    /// A server certificate for `names` (host names or IP addresses): (cert, key) PEM.
    fn issue(&self, names: &[&str]) -> (String, String) {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names.clone()).expect("server params");
        params
            .distinguished_name
            .push(DnType::CommonName, &names[0]);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        let key = KeyPair::generate().expect("server key");
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("server certificate");
        (cert.pem(), key.serialize_pem())
    }

    fn write_pem(&self, path: &Path) {
        std::fs::write(path, self.cert.pem()).expect("write CA");
    }
}

/// A private PostgreSQL cluster, stopped and removed on drop.
struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    /// The server's owner when the test runs as root (PostgreSQL refuses root).
    run_as: Option<(u32, u32)>,
}

impl Cluster {
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn tool(&self, name: &str) -> Command {
        let program = self.bin.join(name);
        match self.run_as {
            Some(_) => {
                let mut command = Command::new("runuser");
                command.args(["-u", "postgres", "--"]).arg(program);
                command
            }
            None => Command::new(program),
        }
    }

    fn give(&self, path: &Path) {
        if let Some((uid, gid)) = self.run_as {
            std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown");
        }
    }

    fn write_private(&self, name: &str, contents: &str) {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        self.give(&path);
    }

    fn run(&self, mut command: Command, what: &str) {
        let out = command
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(
            out.status.success(),
            "{what} failed: {}{}\nserver log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
        );
    }

    /// initdb, the TLS configuration, and a start on a free loopback port.
    fn start(bin: PathBuf, cert: &(String, String)) -> Self {
        let run_as = running_as_root().then(|| ids_of("postgres"));
        let dir = tempfile::Builder::new()
            .prefix("ironcart-pg-tls-")
            .tempdir()
            .expect("temp dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let cluster = Self {
            bin,
            dir,
            port,
            run_as,
        };
        cluster.give(cluster.dir.path());
        let sockets = cluster.dir.path().join("sockets");
        std::fs::create_dir(&sockets).expect("socket dir");
        cluster.give(&sockets);
        let mut initdb = cluster.tool("initdb");
        initdb.arg("-D").arg(cluster.data()).args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
        ]);
        cluster.run(initdb, "initdb");
        cluster.install_certificate(cert);
        let settings = format!(
            "\n# ironcart TLS test\n\
             listen_addresses = '127.0.0.1'\n\
             port = {port}\n\
             unix_socket_directories = '{sockets}'\n\
             ssl = on\n\
             ssl_cert_file = '{dir}/server.crt'\n\
             ssl_key_file = '{dir}/server.key'\n\
             ssl_min_protocol_version = 'TLSv1.2'\n\
             fsync = off\n\
             max_connections = 50\n",
            sockets = sockets.display(),
            dir = cluster.dir.path().display(),
        );
        let conf = cluster.data().join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).expect("postgresql.conf");
        text.push_str(&settings);
        std::fs::write(&conf, text).expect("write postgresql.conf");
        // TCP only over TLS; no `host` line, so a plain connection finds no entry.
        std::fs::write(
            cluster.data().join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
        )
        .expect("pg_hba.conf");
        let mut start = cluster.tool("pg_ctl");
        start
            .arg("-D")
            .arg(cluster.data())
            .arg("-l")
            .arg(cluster.dir.path().join("server.log"))
            .args(["-w", "-t", "60", "start"]);
        cluster.run(start, "pg_ctl start");
        cluster
    }

    fn install_certificate(&self, (cert, key): &(String, String)) {
        self.write_private("server.crt", cert);
        self.write_private("server.key", key);
    }

    /// Swaps in another server certificate and has the server reload it.
    fn replace_certificate(&self, cert: &(String, String)) {
        self.install_certificate(cert);
        let mut reload = self.tool("pg_ctl");
        reload.arg("-D").arg(self.data()).arg("reload");
        self.run(reload, "pg_ctl reload");
        // The postmaster applies a reload asynchronously.
        std::thread::sleep(Duration::from_secs(2));
    }

    fn url(&self, host: &str, database: &str, params: &str) -> String {
        format!(
            "postgres://postgres@{host}:{}/{database}?{params}",
            self.port
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let mut stop = self.tool("pg_ctl");
        stop.arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = stop.status();
    }
}

fn verify(mode: &str, ca: &Path) -> String {
    format!("sslmode={mode}&sslrootcert={}", ca.display())
}

async fn connect_error(url: &str) -> String {
    match Store::connect(url).await {
        Ok(store) => {
            store.close().await;
            panic!("connected, but should have been refused: {url}")
        }
        Err(err) => {
            let mut text = err.to_string();
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                text.push_str(": ");
                text.push_str(&cause.to_string());
                source = cause.source();
            }
            text
        }
    }
}

/// The binary serving on the database behind `url`, until dropped.
struct Served {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Served {
    async fn start(url: &str, data_dir: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        std::fs::create_dir_all(data_dir).expect("data dir");
        std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let log = data_dir.join("serve.log");
        let out = std::fs::File::create(&log).expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_ironcart"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--database-url", url])
            .env_remove("IRONCART_KEK")
            .env_remove("IRONCART_KEK_FILE")
            .env_remove("IRONCART_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone().expect("log")))
            .stderr(Stdio::from(out))
            .spawn()
            .expect("start ironcart serve");
        Self {
            child,
            base: format!("https://127.0.0.1:{port}"),
            log,
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn postgresql_connections_verify_the_server_certificate_and_its_name() {
    let Some(bin) = postgres_bin_dir() else {
        assert!(
            !under_ci(),
            "the PostgreSQL server binaries (initdb, pg_ctl) are required under CI"
        );
        eprintln!(
            "\n*** SKIPPED the PostgreSQL TLS test: no PostgreSQL server binaries in \
             /usr/lib/postgresql/<version>/bin (set IRONCART_PG_BIN_DIR) ***\n"
        );
        return;
    };
    let authority = Authority::new("Ironcart test CA");
    let rogue = Authority::new("Some other CA");
    let cluster = Cluster::start(bin, &authority.issue(&["localhost", "127.0.0.1"]));
    let files = tempfile::tempdir().expect("temp dir");
    let ca = files.path().join("ca.pem");
    authority.write_pem(&ca);
    let rogue_ca = files.path().join("rogue-ca.pem");
    rogue.write_pem(&rogue_ca);

    // The right CA: connects (by name and by address, both in the certificate) and
    // the server sees TLS.
    let admin_url = cluster.url("localhost", "postgres", &verify("verify-full", &ca));
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url)
        .await
        .expect("verify-full with the right CA connects");
    sqlx::Executor::execute(&mut admin, "CREATE DATABASE ironcart")
        .await
        .expect("create database");
    let url = cluster.url("localhost", "ironcart", &verify("verify-full", &ca));
    let store = Store::connect(&url)
        .await
        .expect("Ironcart connects with verify-full and migrates");
    store.ping().await.expect("ping");
    store.close().await;
    let by_address = cluster.url("127.0.0.1", "ironcart", &verify("verify-full", &ca));
    Store::connect(&by_address)
        .await
        .expect("the certificate names 127.0.0.1 too")
        .close()
        .await;

    // The binary serves on it: an account registered and logged in.
    let data_dir = files.path().join("data");
    let served = Served::start(&url, &data_dir).await;
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .expect("client");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = client.get(format!("{}/readyz", served.base)).send().await;
        if ready.is_ok_and(|r| r.status() == StatusCode::OK) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "ironcart serve did not become ready: {}",
            std::fs::read_to_string(&served.log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let credentials = json!({
        "email": "tls-shopper@example.com",
        "password": "correct horse battery staple",
        "name": "TLS Shopper"
    });
    let registered = client
        .post(format!("{}/api/v1/auth/register", served.base))
        .json(&credentials)
        .send()
        .await
        .expect("register");
    assert_eq!(registered.status(), StatusCode::CREATED);
    let login = client
        .post(format!("{}/api/v1/auth/login", served.base))
        .json(&json!({ "email": credentials["email"], "password": credentials["password"] }))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), StatusCode::OK);
    let (tls, total): (bool, i64) = sqlx::query_as(
        "SELECT COALESCE(bool_and(s.ssl), false), COUNT(*) FROM pg_stat_ssl s \
         JOIN pg_stat_activity a USING (pid) WHERE a.datname = 'ironcart'",
    )
    .fetch_one(&mut admin)
    .await
    .expect("pg_stat_ssl");
    assert!(
        total > 0,
        "the server has connections to the ironcart database"
    );
    assert!(tls, "every connection of the server is TLS");
    drop(served);

    // Another CA: refused, by the library and by the binary with a clear message.
    let rogue_url = cluster.url("localhost", "ironcart", &verify("verify-full", &rogue_ca));
    let error = connect_error(&rogue_url).await;
    assert!(error.to_lowercase().contains("certificate"), "{error}");
    let refused = Command::new(env!("CARGO_BIN_EXE_ironcart"))
        .args(["keys", "status", "--database-url", &rogue_url])
        .arg("--data-dir")
        .arg(files.path().join("rogue"))
        .env("RUST_LOG", "off")
        .stdin(Stdio::null())
        .output()
        .expect("run ironcart");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("cannot open the database"), "{stderr}");
    assert!(stderr.contains("UnknownIssuer"), "{stderr}");

    // No TLS at all: the server has no entry for it.
    let error = connect_error(&cluster.url("127.0.0.1", "ironcart", "sslmode=disable")).await;
    assert!(error.contains("no encryption"), "{error}");

    // A certificate from the right CA, but for another host name (and the address):
    // verify-full by the name `localhost` is refused, while by the address the same
    // server and chain are accepted, so it is the name check that refused.
    cluster.replace_certificate(&authority.issue(&["db.elsewhere.test", "127.0.0.1"]));
    let error =
        connect_error(&cluster.url("localhost", "ironcart", &verify("verify-full", &ca))).await;
    assert!(
        error.contains("not valid for name \"localhost\""),
        "{error}"
    );
    Store::connect(&cluster.url("127.0.0.1", "ironcart", &verify("verify-full", &ca)))
        .await
        .expect("the new certificate is valid for 127.0.0.1")
        .close()
        .await;
    drop(admin);
    drop(cluster);
}
