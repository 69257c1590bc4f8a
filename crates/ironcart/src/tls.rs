//! TLS 1.3 termination with rustls. Only TLS 1.3 is offered; a self-signed
//! certificate for localhost is generated on first start when none is configured.
//! The certificate and key are reloaded without a restart on SIGHUP and when the
//! files change; a bad pair is refused and the old one stays in service.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::bootstrap::write_secret_file;

/// Creates `tls/cert.pem` and `tls/key.pem` in the data directory unless present.
pub fn ensure_self_signed(data_dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let dir = data_dir.join("tls");
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    if cert_path.exists() && key_path.exists() {
        return Ok((cert_path, key_path));
    }
    crate::bootstrap::create_private_dir(&dir)?;
    let names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let certified =
        rcgen::generate_simple_self_signed(names).context("certificate generation failed")?;
    write_secret_file(&key_path, certified.key_pair.serialize_pem().as_bytes())?;
    std::fs::write(&cert_path, certified.cert.pem())
        .with_context(|| format!("cannot write {}", cert_path.display()))?;
    tracing::info!(path = %cert_path.display(), "generated a self-signed TLS certificate");
    Ok((cert_path, key_path))
}

/// A server configuration that speaks TLS 1.3 only, with HTTP/2 and HTTP/1.1.
pub fn server_config(cert_path: &Path, key_path: &Path) -> anyhow::Result<ServerConfig> {
    let certs = CertificateDer::pem_file_iter(cert_path)
        .with_context(|| format!("cannot read certificate {}", cert_path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("invalid certificate {}", cert_path.display()))?;
    let key = PrivateKeyDer::from_pem_file(key_path)
        .with_context(|| format!("cannot read private key {}", key_path.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .context("TLS 1.3 is not available")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("certificate and key do not match")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Where the certificate chain and its key live.
#[derive(Debug, Clone)]
pub struct CertificateFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// How often the files are checked for changes.
const CERTIFICATE_POLL: std::time::Duration = std::time::Duration::from_secs(10);

/// Loads the files again into the live configuration. On error the configuration
/// in service is left as it was.
pub fn reload(
    live: &axum_server::tls_rustls::RustlsConfig,
    files: &CertificateFiles,
) -> anyhow::Result<()> {
    let config = server_config(&files.cert, &files.key)?;
    live.reload_from_config(Arc::new(config));
    tracing::info!(path = %files.cert.display(), "reloaded the TLS certificate");
    Ok(())
}

fn modified(files: &CertificateFiles) -> Option<(std::time::SystemTime, std::time::SystemTime)> {
    let cert = std::fs::metadata(&files.cert)
        .and_then(|m| m.modified())
        .ok()?;
    let key = std::fs::metadata(&files.key)
        .and_then(|m| m.modified())
        .ok()?;
    Some((cert, key))
}

/// Reloads on SIGHUP and whenever the files' modification times change.
pub fn watch_for_new_certificate(
    live: axum_server::tls_rustls::RustlsConfig,
    files: CertificateFiles,
) {
    tokio::spawn(async move {
        let mut hangup =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut seen = modified(&files);
        let mut tick = tokio::time::interval(CERTIFICATE_POLL);
        loop {
            let signalled = match hangup.as_mut() {
                Some(hangup) => tokio::select! {
                    _ = hangup.recv() => true,
                    _ = tick.tick() => false,
                },
                None => {
                    tick.tick().await;
                    false
                }
            };
            let now = modified(&files);
            if signalled || now != seen {
                seen = now;
                if let Err(err) = reload(&live, &files) {
                    tracing::error!(
                        error = format!("{err:#}"),
                        "TLS certificate reload failed; keeping the current one"
                    );
                }
            }
        }
    });
}
