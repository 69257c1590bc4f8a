//! The signing key ring on disk: creation, permissions, reload, rotation and
//! the published JWKS.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use ironcart_security::{KeyError, SigningKeys, TokenConfig, TokenError};
use sha2::{Digest, Sha256};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const NOW: i64 = 1_700_000_000;

fn mode_of(path: &Path) -> Result<u32, std::io::Error> {
    Ok(fs::metadata(path)?.permissions().mode() & 0o777)
}

fn jwks_keys(keys: &SigningKeys) -> Vec<serde_json::Value> {
    keys.jwks()["keys"].as_array().cloned().unwrap_or_default()
}

/// RFC 7638 computed independently of the crate: a sorted map serialised
/// compactly by serde_json, hashed, base64url-encoded.
fn rfc7638_thumbprint(x: &str) -> String {
    let members = BTreeMap::from([("crv", "Ed25519"), ("kty", "OKP"), ("x", x)]);
    let canonical = serde_json::to_string(&members).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

fn token_kid(token: &str) -> Option<String> {
    let header = URL_SAFE_NO_PAD.decode(token.split('.').next()?).ok()?;
    let header: serde_json::Value = serde_json::from_slice(&header).ok()?;
    header["kid"].as_str().map(str::to_owned)
}

#[test]
fn first_use_creates_a_private_directory_and_key_file() -> TestResult {
    let root = tempfile::tempdir()?;
    let dir = root.path().join("keys").join("jwt");
    let keys = SigningKeys::load_or_create(&dir)?;

    assert_eq!(mode_of(&dir)?, 0o700);
    let key_file = dir.join("signing-000001.pem");
    assert_eq!(mode_of(&key_file)?, 0o600);
    let names: Vec<_> = fs::read_dir(&dir)?
        .map(|entry| entry.map(|e| e.file_name()))
        .collect::<Result<_, _>>()?;
    assert_eq!(names, ["signing-000001.pem"], "no temporary files left");

    let pem = fs::read_to_string(&key_file)?;
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{pem}");
    let on_disk = SigningKey::from_pkcs8_pem(&pem)?;
    let jwks = jwks_keys(&keys);
    assert_eq!(jwks.len(), 1);
    assert_eq!(
        jwks[0]["x"].as_str(),
        Some(
            URL_SAFE_NO_PAD
                .encode(on_disk.verifying_key().as_bytes())
                .as_str()
        )
    );
    Ok(())
}

#[test]
fn jwks_has_exactly_the_public_members() -> TestResult {
    let dir = tempfile::tempdir()?;
    let keys = SigningKeys::load_or_create(dir.path())?;
    let jwks = keys.jwks();
    let members: Vec<&str> = jwks
        .as_object()
        .map_or(Vec::new(), |o| o.keys().map(String::as_str).collect());
    assert_eq!(members, ["keys"]);

    let key = &jwks_keys(&keys)[0];
    let mut names: Vec<&str> = key
        .as_object()
        .map_or(Vec::new(), |o| o.keys().map(String::as_str).collect());
    names.sort_unstable();
    assert_eq!(names, ["alg", "crv", "kid", "kty", "use", "x"]);
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["alg"], "EdDSA");
    assert_eq!(key["use"], "sig");
    let x = key["x"].as_str().unwrap_or_default();
    assert_eq!(URL_SAFE_NO_PAD.decode(x)?.len(), 32);
    Ok(())
}

#[test]
fn kid_is_the_rfc7638_thumbprint() -> TestResult {
    let dir = tempfile::tempdir()?;
    let keys = SigningKeys::load_or_create(dir.path())?;
    let key = &jwks_keys(&keys)[0];
    let x = key["x"].as_str().unwrap_or_default();
    let kid = key["kid"].as_str().unwrap_or_default();
    assert_eq!(kid, rfc7638_thumbprint(x));
    assert_eq!(kid.len(), 43);
    assert_eq!(keys.signing_kid(), kid);
    Ok(())
}

#[test]
fn reloading_gives_the_same_key_and_creates_nothing_new() -> TestResult {
    let dir = tempfile::tempdir()?;
    let first = SigningKeys::load_or_create(dir.path())?;
    let again = SigningKeys::load_or_create(dir.path())?;
    let loaded = SigningKeys::load(dir.path())?;
    assert_eq!(again.signing_kid(), first.signing_kid());
    assert_eq!(loaded.jwks(), first.jwks());
    assert_eq!(fs::read_dir(dir.path())?.count(), 1);

    let cfg = TokenConfig::new("https://shop.example", "ironcart-api");
    let issued = first.issue_access_token(&cfg, "customer-1", "session-1", NOW)?;
    let claims = loaded.verify_access_token(&cfg, issued.token.expose_secret(), NOW)?;
    assert_eq!(claims.sub, "customer-1");
    Ok(())
}

#[test]
fn key_files_open_to_group_or_others_are_refused() -> TestResult {
    for loose_mode in [0o640, 0o604, 0o602, 0o660, 0o644, 0o777] {
        let dir = tempfile::tempdir()?;
        SigningKeys::load_or_create(dir.path())?;
        let key_file = dir.path().join("signing-000001.pem");
        fs::set_permissions(&key_file, fs::Permissions::from_mode(loose_mode))?;

        let error = SigningKeys::load_or_create(dir.path()).err();
        match &error {
            Some(KeyError::InsecurePermissions { path, mode }) => {
                assert_eq!(path, &key_file);
                assert_eq!(*mode, loose_mode);
            }
            other => return Err(format!("mode {loose_mode:o}: got {other:?}").into()),
        }
        let message = error.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.contains(&key_file.display().to_string()),
            "{message}"
        );
        assert!(message.contains(&format!("{loose_mode:03o}")), "{message}");
    }
    Ok(())
}

#[test]
fn owner_only_modes_stricter_than_0600_are_fine() -> TestResult {
    let dir = tempfile::tempdir()?;
    let created = SigningKeys::load_or_create(dir.path())?;
    let key_file = dir.path().join("signing-000001.pem");
    fs::set_permissions(&key_file, fs::Permissions::from_mode(0o400))?;
    assert_eq!(
        SigningKeys::load(dir.path())?.signing_kid(),
        created.signing_kid()
    );
    Ok(())
}

#[test]
fn rotation_signs_with_the_new_key_and_still_verifies_old_tokens() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cfg = TokenConfig::new("https://shop.example", "ironcart-api");
    let before = SigningKeys::load_or_create(dir.path())?;
    let old_token = before.issue_access_token(&cfg, "customer-1", "session-1", NOW)?;

    let after = SigningKeys::rotate(dir.path())?;
    assert_ne!(after.signing_kid(), before.signing_kid());
    assert!(dir.path().join("signing-000002.pem").exists());
    assert_eq!(mode_of(&dir.path().join("signing-000002.pem"))?, 0o600);

    let published: Vec<String> = jwks_keys(&after)
        .iter()
        .filter_map(|k| k["kid"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        published,
        [after.signing_kid(), before.signing_kid()],
        "newest first"
    );

    let old_claims = after.verify_access_token(&cfg, old_token.token.expose_secret(), NOW)?;
    assert_eq!(old_claims.jti, old_token.jti);

    let new_token = after.issue_access_token(&cfg, "customer-1", "session-1", NOW)?;
    assert_eq!(
        token_kid(new_token.token.expose_secret()).as_deref(),
        Some(after.signing_kid())
    );
    after.verify_access_token(&cfg, new_token.token.expose_secret(), NOW)?;
    // An instance that has not reloaded yet does not know the new key.
    assert_eq!(
        before.verify_access_token(&cfg, new_token.token.expose_secret(), NOW),
        Err(TokenError::UnknownKey)
    );

    // Rotating again, and reloading, keeps the order by sequence.
    let third = SigningKeys::rotate(dir.path())?;
    let reloaded = SigningKeys::load(dir.path())?;
    assert_eq!(reloaded.signing_kid(), third.signing_kid());
    assert_eq!(jwks_keys(&reloaded).len(), 3);
    reloaded.verify_access_token(&cfg, old_token.token.expose_secret(), NOW)?;
    Ok(())
}

#[test]
fn removing_an_old_key_file_retires_it() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cfg = TokenConfig::new("https://shop.example", "ironcart-api");
    let old_token = SigningKeys::load_or_create(dir.path())?.issue_access_token(
        &cfg,
        "customer-1",
        "session-1",
        NOW,
    )?;
    SigningKeys::rotate(dir.path())?;
    fs::remove_file(dir.path().join("signing-000001.pem"))?;
    let keys = SigningKeys::load(dir.path())?;
    assert_eq!(
        keys.verify_access_token(&cfg, old_token.token.expose_secret(), NOW),
        Err(TokenError::UnknownKey)
    );
    Ok(())
}

#[test]
fn stray_files_are_ignored_but_misnamed_key_files_are_errors() -> TestResult {
    let dir = tempfile::tempdir()?;
    SigningKeys::load_or_create(dir.path())?;
    fs::write(dir.path().join("README"), "operator notes")?;
    fs::write(dir.path().join(".signing-000009.pem.abc.tmp"), "partial")?;
    assert_eq!(jwks_keys(&SigningKeys::load(dir.path())?).len(), 1);

    let misnamed = dir.path().join("signing-old.pem");
    fs::copy(dir.path().join("signing-000001.pem"), &misnamed)?;
    match SigningKeys::load(dir.path()) {
        Err(KeyError::UnexpectedFileName { path }) => assert_eq!(path, misnamed),
        other => return Err(format!("expected UnexpectedFileName, got {other:?}").into()),
    }
    Ok(())
}

#[test]
fn garbage_key_files_are_refused_without_echoing_them() -> TestResult {
    let dir = tempfile::tempdir()?;
    let key_file = dir.path().join("signing-000001.pem");
    let garbage = "-----BEGIN PRIVATE KEY-----\nTk9UIEEgS0VZ\n-----END PRIVATE KEY-----\n";
    fs::write(&key_file, garbage)?;
    fs::set_permissions(&key_file, fs::Permissions::from_mode(0o600))?;
    let error = SigningKeys::load_or_create(dir.path()).err();
    assert!(
        matches!(&error, Some(KeyError::InvalidKey { path }) if path == &key_file),
        "{error:?}"
    );
    let message = error.map(|e| e.to_string()).unwrap_or_default();
    assert!(!message.contains("Tk9UIEEgS0VZ"), "{message}");
    Ok(())
}

#[test]
fn an_empty_directory_has_no_keys_to_load() -> TestResult {
    let dir = tempfile::tempdir()?;
    assert!(matches!(
        SigningKeys::load(dir.path()),
        Err(KeyError::NoKeys { .. })
    ));
    assert!(matches!(
        SigningKeys::load(&dir.path().join("missing")),
        Err(KeyError::Io { .. })
    ));
    Ok(())
}

#[test]
fn debug_output_and_jwks_carry_no_private_key_material() -> TestResult {
    let dir = tempfile::tempdir()?;
    let keys = SigningKeys::load_or_create(dir.path())?;
    let pem = fs::read_to_string(dir.path().join("signing-000001.pem"))?;
    let private = SigningKey::from_pkcs8_pem(&pem)?;
    let d = URL_SAFE_NO_PAD.encode(private.to_bytes());
    let pem_body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();

    let debug = format!("{keys:?}");
    let jwks = keys.jwks().to_string();
    for shown in [&debug, &jwks] {
        assert!(!shown.contains(&d), "{shown}");
        assert!(!shown.contains(&pem_body), "{shown}");
        assert!(!shown.contains("\"d\""), "{shown}");
    }
    assert!(debug.contains(keys.signing_kid()), "{debug}");
    Ok(())
}

#[test]
fn a_key_copied_under_a_second_name_is_published_once() -> TestResult {
    let dir = tempfile::tempdir()?;
    let first = SigningKeys::load_or_create(dir.path())?;
    let copy = dir.path().join("signing-000002.pem");
    fs::copy(dir.path().join("signing-000001.pem"), &copy)?;
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o600))?;
    let keys = SigningKeys::load(dir.path())?;
    assert_eq!(keys.signing_kid(), first.signing_kid());
    assert_eq!(jwks_keys(&keys).len(), 1);
    Ok(())
}
