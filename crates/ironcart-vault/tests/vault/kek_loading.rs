//! Loading the KEK: file permissions, encodings, and messages that name the
//! source but never the secret.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use ironcart_vault::{Kek, KekError};

use crate::TestResult;

/// The bytes 0, 1, …, 31 in standard base64.
const SEQUENTIAL_KEK: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
/// HKDF-SHA256(salt "ironcart-vault v1", ikm 0..31, info "ironcart-vault v1
/// kek: identifier"), first 8 bytes, computed outside Rust.
const SEQUENTIAL_KEK_ID: &str = "7c4c2b7a3d073afd";

fn write_kek(path: &Path, content: &str, mode: u32) -> std::io::Result<()> {
    std::fs::write(path, content)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[test]
fn an_owner_only_file_loads_and_gives_the_documented_id() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("kek");
    for mode in [0o600, 0o400] {
        write_kek(&path, &format!("{SEQUENTIAL_KEK}\n"), mode)?;
        let kek = Kek::from_file(&path)?;
        assert_eq!(kek.id().as_str(), SEQUENTIAL_KEK_ID, "mode {mode:o}");
    }
    assert_eq!(
        Kek::from_base64(SEQUENTIAL_KEK)?.id().as_str(),
        SEQUENTIAL_KEK_ID
    );
    Ok(())
}

#[test]
fn a_file_others_can_read_or_write_is_refused_with_its_path() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("kek");
    for mode in [0o644, 0o640, 0o660, 0o604, 0o602, 0o700, 0o4600, 0o777] {
        write_kek(&path, SEQUENTIAL_KEK, mode)?;
        match Kek::from_file(&path) {
            Err(error @ KekError::Permissions { .. }) => {
                let message = error.to_string();
                assert!(message.contains(&path.display().to_string()), "{message}");
                assert!(message.contains(&format!("{mode:04o}")), "{message}");
                assert!(message.contains("chmod 600"), "{message}");
                assert!(!message.contains(SEQUENTIAL_KEK));
            }
            other => return Err(format!("mode {mode:o} was not refused: {other:?}").into()),
        }
    }
    Ok(())
}

#[test]
fn a_missing_file_or_a_directory_is_an_io_error_naming_the_path() -> TestResult {
    let dir = tempfile::tempdir()?;
    let missing = dir.path().join("absent");
    match Kek::from_file(&missing) {
        Err(error @ KekError::Io { .. }) => {
            assert!(error.to_string().contains(&missing.display().to_string()));
        }
        other => return Err(format!("expected Io, got {other:?}").into()),
    }
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;
    assert!(matches!(
        Kek::from_file(dir.path()),
        Err(KekError::Io { .. })
    ));
    Ok(())
}

#[test]
fn wrong_content_is_refused_without_quoting_it() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("kek");
    let too_short = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==";
    let bad_character = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdH!8=";
    for content in [too_short, bad_character, "", "hunter2"] {
        write_kek(&path, content, 0o600)?;
        match Kek::from_file(&path) {
            Err(error @ KekError::Encoding { .. }) => {
                let message = error.to_string();
                assert!(message.contains(&path.display().to_string()));
                assert!(
                    content.is_empty() || !message.contains(content),
                    "{message}"
                );
                assert!(
                    !message.contains('!'),
                    "the offending character leaked: {message}"
                );
            }
            other => return Err(format!("{content:?} was not refused: {other:?}").into()),
        }
    }
    Ok(())
}

#[test]
fn environment_variables_are_named_but_their_values_never_shown() -> TestResult {
    let unset = "IRONCART_VAULT_TEST_SURELY_UNSET_KEK";
    match Kek::from_env(unset) {
        Err(error @ KekError::MissingVariable { .. }) => assert!(error.to_string().contains(unset)),
        other => return Err(format!("expected MissingVariable, got {other:?}").into()),
    }
    // PATH is set in every test environment and is not a KEK.
    let path_value = std::env::var("PATH")?;
    match Kek::from_env("PATH") {
        Err(error @ KekError::Encoding { .. }) => {
            let message = error.to_string();
            assert_eq!(
                message,
                "the KEK from environment variable PATH is not the base64 encoding of 32 bytes"
            );
            assert!(!message.contains(&path_value));
        }
        other => return Err(format!("expected Encoding, got {other:?}").into()),
    }
    Ok(())
}

#[test]
fn create_file_writes_an_owner_only_key_that_loads_back() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("new-kek");
    let created = Kek::create_file(&path)?;
    let mode = std::fs::metadata(&path)?.permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(Kek::from_file(&path)?.id(), created.id());
    // Never overwrites an existing key.
    assert!(matches!(Kek::create_file(&path), Err(KekError::Io { .. })));
    assert_eq!(Kek::from_file(&path)?.id(), created.id());
    Ok(())
}

#[test]
fn generated_keks_differ_and_their_text_loads_back() -> TestResult {
    let (first, text) = Kek::generate()?;
    let (second, _) = Kek::generate()?;
    assert_ne!(first.id(), second.id());
    assert_eq!(Kek::from_base64(&text)?.id(), first.id());
    assert_eq!(
        Kek::from_base64(&format!("  {}\n", text.as_str()))?.id(),
        first.id()
    );
    Ok(())
}
