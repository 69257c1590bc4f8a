//! The administration commands, run as an operator would.

use std::io::Write;
use std::process::{Command, Stdio};

fn user_create(
    data_dir: &std::path::Path,
    email: &str,
    role: &str,
    password: &str,
) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ironcart"))
        .args([
            "user",
            "create",
            "--email",
            email,
            "--role",
            role,
            "--password-stdin",
            "--data-dir",
        ])
        .arg(data_dir)
        .env_remove("IRONCART_DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ironcart user create");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(password.as_bytes())
        .expect("write password");
    child.wait_with_output().expect("wait")
}

#[test]
fn user_create_reads_the_password_from_stdin_and_never_prints_it() {
    let dir = tempfile::tempdir().unwrap();
    let password = "an operator's long passphrase\n";
    let created = user_create(dir.path(), "Ops@Example.com", "order_manager", password);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(
        created
            .stdout
            .split(|b| *b == b'\n')
            .rfind(|l| l.starts_with(b"{\"email"))
            .expect("the JSON result line"),
    )
    .unwrap();
    assert_eq!(printed["email"], "ops@example.com");
    assert_eq!(printed["roles"], serde_json::json!(["order_manager"]));
    let everything = [created.stdout.as_slice(), created.stderr.as_slice()].concat();
    assert!(!String::from_utf8_lossy(&everything).contains("operator's long passphrase"));

    let again = user_create(dir.path(), "ops@example.com", "order_manager", password);
    assert!(!again.status.success(), "the same email twice is refused");
    let unknown_role = user_create(dir.path(), "x@example.com", "superuser", password);
    assert!(!unknown_role.status.success());
    assert!(String::from_utf8_lossy(&unknown_role.stderr).contains("unknown role"));
    let weak = user_create(dir.path(), "y@example.com", "support", "password\n");
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("password rejected"));
}
