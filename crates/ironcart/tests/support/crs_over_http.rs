//! Replays go-ftw CRS regression stages over real HTTPS against a running
//! `ironcart serve` with OWASP CRS loaded, and judges each stage by the rule
//! ids the server reported in its security events (JSON log, correlated by the
//! `x-request-id` it returned), not by the status code.
//!
//! The server runs as the suite expects CRS to be configured (detection-only,
//! paranoia 4, the suite's rule 900005 appended to `crs-setup.conf` in a
//! scratch CRS directory that links the shared `rules/`), with the per-address
//! rate limit raised so one client can send the whole sample. Each stage goes
//! on its own TLS connection exactly as go-ftw would write it, malformed
//! requests included. Shared by the `crs_http` example and the API test.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;

use crate::ftw::{self, CaseResult, Stage, Tally};

/// How long one stage may take to be answered (requests whose declared body
/// never arrives wait for the server's timeout otherwise).
const REPLY_TIMEOUT: Duration = Duration::from_secs(3);

/// A private `ironcart serve` on a loopback port, stopped when dropped.
pub struct Server {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    tls: Arc<rustls::ClientConfig>,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts `binary` on 127.0.0.1 with a fresh data directory and, unless
    /// `database_url` names one, a fresh SQLite database.
    pub fn start(binary: &Path, database_url: Option<&str>) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let crs = scratch_crs(dir.path());
        // The replay is one address sending thousands of attacks: allow-listed, or
        // the IP-ban detectors would ban it part way through.
        let config = dir.path().join("ironcart.toml");
        std::fs::write(
            &config,
            "[rate_limits.address]\nper_minute = 100000000\nburst = 10000000\n\n\
             [bans]\nallow = [\"127.0.0.1\"]\n",
        )
        .expect("write config");
        let data = dir.path().join("data");
        let log = dir.path().join("server.log");
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--waf-paranoia", "4"])
            .arg("--waf-detection-only")
            .arg("--data-dir")
            .arg(&data)
            .arg("--waf-rules")
            .arg(&crs)
            .arg("--config")
            .arg(&config);
        if let Some(url) = database_url {
            command.args(["--database-url", url]);
        }
        for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("IRONCART_")) {
            command.env_remove(name);
        }
        let child = command
            .env("RUST_LOG", "info,sqlx=warn")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).expect("log file"))
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start ironcart serve");
        let mut server = Server {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log,
            tls: Arc::new(client_config(&[])),
            _dir: dir,
        };
        server.addr = server.wait_for_listening();
        server.tls = Arc::new(client_config(
            &std::fs::read(data.join("tls/cert.pem")).expect("server certificate"),
        ));
        server
    }

    fn wait_for_listening(&mut self) -> SocketAddr {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(120) {
            if let Some(status) = self.child.try_wait().expect("server status") {
                panic!("ironcart serve exited with {status}");
            }
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            let listening = text
                .lines()
                .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                .find(|line| line["fields"]["message"] == "ironcart is listening");
            if let Some(line) = listening {
                let address = line["fields"]["address"].as_str().expect("address");
                return address.parse().expect("socket address");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("ironcart serve did not start listening within 120 s");
    }

    /// Writes `wire` on a new TLS connection and reads the response head.
    pub fn send(&self, wire: &[u8]) -> Reply {
        Reply::from(self.exchange(wire))
    }

    fn exchange(&self, wire: &[u8]) -> std::io::Result<Vec<u8>> {
        let socket = connect(self.addr)?;
        let name = ServerName::try_from("localhost").map_err(std::io::Error::other)?;
        let session =
            rustls::ClientConnection::new(self.tls.clone(), name).map_err(std::io::Error::other)?;
        exchange(rustls::StreamOwned::new(session, socket), wire)
    }

    /// Rule ids of the WAF security events in the log, by request id.
    pub fn fired_by_request(&self) -> HashMap<String, Vec<u32>> {
        let text = std::fs::read_to_string(&self.log).expect("server log");
        let mut fired: HashMap<String, Vec<u32>> = HashMap::new();
        for line in text.lines() {
            let Ok(event) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let is_waf = event["fields"]["action"]
                .as_str()
                .is_some_and(|action| action.starts_with("waf."));
            let Some(request_id) = event["span"]["request.id"].as_str() else {
                continue;
            };
            if event["target"] != "security" || !is_waf {
                continue;
            }
            let details: Value = event["fields"]["details"]
                .as_str()
                .and_then(|text| serde_json::from_str(text).ok())
                .unwrap_or_default();
            let ids = details["rule_ids"].as_array().into_iter().flatten();
            fired.entry(request_id.to_owned()).or_default().extend(
                ids.filter_map(Value::as_u64)
                    .filter_map(|id| u32::try_from(id).ok()),
            );
        }
        fired
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpStream::connect(addr)?;
    socket.set_read_timeout(Some(REPLY_TIMEOUT))?;
    socket.set_write_timeout(Some(REPLY_TIMEOUT))?;
    Ok(socket)
}

/// Writes `wire` and reads the response head (status line and headers).
fn exchange(mut stream: impl Read + Write, wire: &[u8]) -> std::io::Result<Vec<u8>> {
    // The server may answer and close before taking the whole request.
    let written = stream.write_all(wire).and_then(|()| stream.flush());
    let mut head = Vec::new();
    let mut chunk = [0_u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
            Err(error) if head.is_empty() => return Err(written.err().unwrap_or(error)),
            Err(_) => break,
        }
    }
    Ok(head)
}

/// A CRS directory as an operator would set it up: the shared rules, and a
/// `crs-setup.conf` made of the shipped example plus the suite's settings.
fn scratch_crs(dir: &Path) -> PathBuf {
    let crs = dir.join("crs");
    std::fs::create_dir_all(&crs).expect("scratch CRS dir");
    let shared = Path::new(ftw::CRS_DIR);
    std::os::unix::fs::symlink(shared.join("rules"), crs.join("rules")).expect("link CRS rules");
    let example =
        std::fs::read_to_string(shared.join("crs-setup.conf.example")).expect("CRS setup example");
    std::fs::write(
        crs.join("crs-setup.conf"),
        format!("{example}\n{}\n", ftw::SUITE_SETUP),
    )
    .expect("write crs-setup.conf");
    crs
}

/// Trusts only the server's own certificate (none before it exists).
fn client_config(certificate_pem: &[u8]) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(certificate_pem) {
        roots
            .add(certificate.expect("PEM certificate"))
            .expect("trusted certificate");
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// What came back for one stage.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: Option<u16>,
    pub request_id: Option<String>,
    pub error: Option<String>,
}

impl From<std::io::Result<Vec<u8>>> for Reply {
    fn from(head: std::io::Result<Vec<u8>>) -> Reply {
        match head {
            Ok(head) => Reply::from_head(&head),
            Err(error) => Reply {
                status: None,
                request_id: None,
                error: Some(error.to_string()),
            },
        }
    }
}

impl Reply {
    fn from_head(head: &[u8]) -> Reply {
        let text = String::from_utf8_lossy(head);
        let mut lines = text.split("\r\n");
        let status = lines
            .next()
            .and_then(|line| line.split(' ').nth(1))
            .and_then(|code| code.parse().ok());
        let request_id = lines
            .filter_map(|line| line.split_once(':'))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("x-request-id"))
            .map(|(_, value)| value.trim().to_owned());
        Reply {
            status,
            request_id,
            error: status.is_none().then(|| "no HTTP response".to_owned()),
        }
    }
}

/// Up to `per_family` stages of each family, evenly spread over its files
/// (all of them if it has fewer): the same sample on every run.
pub fn sample(stages: Vec<Stage>, per_family: usize) -> Vec<Stage> {
    let mut by_family: BTreeMap<String, Vec<Stage>> = BTreeMap::new();
    for stage in stages {
        by_family
            .entry(stage.family.clone())
            .or_default()
            .push(stage);
    }
    let mut picked = Vec::new();
    for family in by_family.into_values() {
        let step = family.len().div_ceil(per_family.max(1)).max(1);
        picked.extend(family.into_iter().step_by(step));
    }
    picked
}

/// One stage replayed over HTTP, beside the in-process verdict.
#[derive(Debug, Clone)]
pub struct HttpCase {
    pub result: CaseResult,
    pub reply: Reply,
    pub in_process: Vec<u32>,
}

impl HttpCase {
    pub fn failed(&self) -> bool {
        !self.result.missing.is_empty() || !self.result.unexpected.is_empty()
    }

    /// Why it failed, as far as the harness can tell.
    pub fn reason(&self) -> String {
        let mut what = Vec::new();
        if !self.result.missing.is_empty() {
            what.push(format!("expected {:?} did not fire", self.result.missing));
        }
        if !self.result.unexpected.is_empty() {
            what.push(format!("{:?} fired but must not", self.result.unexpected));
        }
        let why = match (self.reply.status, &self.reply.request_id) {
            (None, _) => format!(
                "no answer within {} s ({}): the server still waits for the request",
                REPLY_TIMEOUT.as_secs(),
                self.reply.error.as_deref().unwrap_or("?")
            ),
            (Some(status), None) => {
                format!("refused with {status} by the HTTP parser before the app (no request id)")
            }
            (Some(401), Some(_)) if self.result.got.is_empty() => {
                "401: authentication refused it before the WAF ran".to_owned()
            }
            (Some(413), Some(_)) if self.result.got.is_empty() => {
                "413: the body is over the route's limit, refused before inspection".to_owned()
            }
            (Some(status), Some(_)) if self.in_process == self.result.got => {
                format!(
                    "{status}; the same ids fire in process: {:?}",
                    self.in_process
                )
            }
            (Some(status), Some(_)) => format!(
                "{status}; over HTTP fired {:?}, in process {:?}",
                self.result.got, self.in_process
            ),
        };
        format!("{}: {why}", what.join("; "))
    }
}

/// Sends every stage, then reads what fired from the server's log.
pub fn replay(server: &Server, stages: &[Stage], waf: &ironcart_waf::Waf) -> Vec<HttpCase> {
    let replies: Vec<Reply> = stages
        .iter()
        .map(|stage| server.send(&stage.request.wire))
        .collect();
    let fired = server.fired_by_request();
    stages
        .iter()
        .zip(replies)
        .map(|(stage, reply)| {
            let got = reply
                .request_id
                .as_ref()
                .and_then(|id| fired.get(id))
                .cloned()
                .unwrap_or_default();
            judge(stage, reply, got, waf)
        })
        .collect()
}

fn judge(stage: &Stage, reply: Reply, mut got: Vec<u32>, waf: &ironcart_waf::Waf) -> HttpCase {
    got.sort_unstable();
    got.dedup();
    let request = stage.request.to_request();
    let mut in_process = waf
        .inspect(&request, &ironcart_waf::Context::anonymous())
        .rule_ids();
    in_process.sort_unstable();
    in_process.dedup();
    HttpCase {
        result: stage.result(got),
        reply,
        in_process,
    }
}

/// nginx with libmodsecurity 3 and CRS in front of a trivial upstream, as
/// `bench/waf_nginx.sh` runs it: stages go over plain HTTP one at a time, and
/// the ids fired are the `[id "…"]` of the lines its error log gained
/// meanwhile, request rules (911xxx–944xxx) only, since the logging phase of
/// the previous request may write after its response.
pub struct ModSecurity {
    pub addr: SocketAddr,
    pub error_log: PathBuf,
}

impl ModSecurity {
    pub fn replay(&self, stages: &[Stage], waf: &ironcart_waf::Waf) -> Vec<HttpCase> {
        stages
            .iter()
            .map(|stage| {
                let before = std::fs::metadata(&self.error_log).map_or(0, |m| m.len());
                let reply = Reply::from(
                    connect(self.addr).and_then(|socket| exchange(socket, &stage.request.wire)),
                );
                let log = std::fs::read(&self.error_log).unwrap_or_default();
                let added = log
                    .get(usize::try_from(before).unwrap_or(0)..)
                    .unwrap_or(&[]);
                // nginx has no request id: the stage's own lines identify it.
                let reply = Reply {
                    request_id: reply.status.map(|_| "nginx".to_owned()),
                    ..reply
                };
                judge(stage, reply, logged_rule_ids(added), waf)
            })
            .collect()
    }
}

fn logged_rule_ids(log: &[u8]) -> Vec<u32> {
    let text = String::from_utf8_lossy(log);
    text.split("[id \"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter_map(|id| id.parse().ok())
        .filter(|id| (911_000..945_000).contains(id))
        .collect()
}

/// Per family, each engine's pass counts and on how many stages they agree.
pub fn compare(ironcart: &[HttpCase], modsecurity: &[HttpCase]) {
    println!(
        "\nfamily  Ironcart expect   no_expect   ModSecurity expect   no_expect   same verdict"
    );
    let mut families: BTreeMap<&str, [usize; 9]> = BTreeMap::new();
    for (ours, theirs) in ironcart.iter().zip(modsecurity) {
        let row = families.entry(ours.result.family.as_str()).or_default();
        let expects = !ours.result.expect.is_empty();
        let forbids = !ours.result.no_expect.is_empty();
        for (offset, case) in [(0, ours), (4, theirs)] {
            row[offset] += usize::from(expects && case.result.missing.is_empty());
            row[offset + 1] += usize::from(expects);
            row[offset + 2] += usize::from(forbids && case.result.unexpected.is_empty());
            row[offset + 3] += usize::from(forbids);
        }
        row[8] += usize::from(ours.failed() == theirs.failed());
    }
    let mut total = [0_usize; 9];
    for (family, row) in &families {
        print_comparison(
            family,
            row,
            ironcart
                .iter()
                .filter(|c| c.result.family == *family)
                .count(),
        );
        for (sum, value) in total.iter_mut().zip(row) {
            *sum += value;
        }
    }
    print_comparison("all", &total, ironcart.len());
}

fn print_comparison(label: &str, row: &[usize; 9], stages: usize) {
    println!(
        "{label:<7} {:>6}/{:<6} {:>5}/{:<5}      {:>6}/{:<6} {:>5}/{:<5} {:>6}/{:<6}",
        row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8], stages
    );
}

/// Prints every failure with its reason and the per-family pass counts;
/// returns the totals.
pub fn report(cases: &[HttpCase]) -> Tally {
    println!("failures over HTTP:");
    for case in cases.iter().filter(|case| case.failed()) {
        println!(
            "  {} [{}]: {}",
            case.result.test,
            case.result.family,
            case.reason()
        );
    }
    let results: Vec<CaseResult> = cases.iter().map(|case| case.result.clone()).collect();
    println!("\nfamily  expect_ids pass/total      no_expect_ids pass/total   (over HTTPS)");
    let mut total = Tally::default();
    for (family, tally) in ftw::tallies(&results) {
        tally.print_row(&family);
        total.merge(&tally);
    }
    total.print_row("all");
    total
}
