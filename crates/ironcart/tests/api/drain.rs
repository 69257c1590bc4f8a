//! Graceful shutdown of the real binary: on SIGTERM an instance stops accepting
//! connections at once (so a load balancer moves on) but finishes the request it is
//! in the middle of, then exits cleanly.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::fresh_database_url;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn wait_for_listener(port: u16, log: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "server did not listen; log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Reads one HTTP/1.1 response with a Content-Length body.
fn read_response(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&received).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_owned())
                })
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if received.len() >= end + 4 + length {
                return text;
            }
        }
        let n = stream.read(&mut buffer).expect("read response");
        assert!(n > 0, "connection closed mid-response: {text}");
        received.extend_from_slice(&buffer[..n]);
    }
}

#[tokio::test]
async fn sigterm_refuses_new_connections_but_finishes_the_request_in_flight() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut command = Command::new(env!("CARGO_BIN_EXE_ironcart"));
    command
        .args(["serve", "--insecure-plain-http", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(dir.path())
        .env_remove("IRONCART_DATABASE_URL")
        .stdout(Stdio::from(log.try_clone().expect("log")))
        .stderr(Stdio::from(log));
    if std::env::var("IRONCART_TEST_DATABASE").is_ok() {
        command
            .arg("--database-url")
            .arg(fresh_database_url(dir.path()).await);
    }
    let mut child = command.spawn().expect("start the ironcart binary");
    wait_for_listener(port, &log_path);

    // One full exchange proves the connection is being served; then a login whose
    // body is only half sent is in flight when the signal arrives.
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: shop\r\n\r\n")
        .expect("send");
    assert!(read_response(&mut stream).starts_with("HTTP/1.1 200"));
    let body = br#"{"email":"nobody@example.com","password":"not the right one"}"#;
    let (first, rest) = body.split_at(20);
    let head = format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nhost: shop\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("send head");
    stream.write_all(first).expect("send half the body");
    // Let the server read the head before the signal (ordering, not a measurement).
    std::thread::sleep(Duration::from_millis(500));

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(
            Instant::now() < deadline,
            "still accepting new connections after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        child.try_wait().expect("status"),
        None,
        "the process waits for the request in flight"
    );

    stream.write_all(rest).expect("send the rest of the body");
    let response = read_response(&mut stream);
    assert!(
        response.starts_with("HTTP/1.1 401"),
        "the in-flight login is answered: {response}"
    );
    assert!(
        response.to_ascii_lowercase().contains("connection: close"),
        "and the connection is closed after it: {response}"
    );

    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("status") {
            break status;
        }
        assert!(Instant::now() < deadline, "did not exit after draining");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "clean exit after draining: {status}");
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(log.contains("draining in-flight requests"), "{log}");
}
