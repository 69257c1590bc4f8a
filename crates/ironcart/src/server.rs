//! Putting the parts together: state from configuration, and the HTTP(S) server with
//! graceful shutdown.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use ironcart_security::password::PasswordHasher;
use ironcart_security::tokens::{SigningKeys, TokenConfig};
use tokio::sync::Semaphore;

use crate::app::{AppInner, AppState, PASSWORD_HASH_SLOTS, Settings};
use crate::clock::Clock;
use crate::domain::payments::PaymentProvider;
use crate::security::audit::SecurityEvents;
use crate::security::rbac::Policy;
use crate::store::Store;

pub const TOKEN_AUDIENCE: &str = "ironcart-api";
const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// What the state is built from.
pub struct StateParts {
    pub store: Store,
    pub data_dir: std::path::PathBuf,
    pub public_url: String,
    pub settings: Settings,
    pub payments: Arc<dyn PaymentProvider>,
    pub clock: Clock,
}

pub fn signing_key_dir(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("keys").join("signing")
}

pub async fn build_state(parts: StateParts) -> anyhow::Result<AppState> {
    crate::bootstrap::create_private_dir(&parts.data_dir)?;
    let keys = SigningKeys::load_or_create(&signing_key_dir(&parts.data_dir))
        .context("cannot load the token signing keys")?;
    let (policy, unknown) = Policy::from_pairs(&parts.store.role_permissions().await?);
    if !unknown.is_empty() {
        tracing::warn!(
            ?unknown,
            "stored role permissions name unknown permissions; they grant nothing"
        );
    }
    let hasher = Arc::new(PasswordHasher::default());
    warm_dummy_hash(&hasher).await;
    let token_config = TokenConfig::new(parts.public_url.clone(), TOKEN_AUDIENCE);
    Ok(AppState::new(AppInner {
        events: SecurityEvents::new(parts.store.clone()),
        store: parts.store,
        keys,
        token_config,
        hasher,
        policy,
        payments: parts.payments,
        clock: parts.clock,
        settings: parts.settings,
        hash_slots: Semaphore::new(PASSWORD_HASH_SLOTS),
        openapi: OnceLock::new(),
    }))
}

/// Computes the unknown-user dummy hash once now, so the first login for an unknown
/// email is not slower than the others (which would tell it apart).
async fn warm_dummy_hash(hasher: &Arc<PasswordHasher>) {
    let hasher = hasher.clone();
    let _ = tokio::task::spawn_blocking(move || {
        hasher.verify_unknown_user(&ironcart_security::SecretString::from("warm-up"))
    })
    .await;
}

/// A server running in the background.
pub struct Running {
    pub addr: SocketAddr,
    pub handle: Handle,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Serves the app on an already bound listener; TLS when a config is given.
pub async fn spawn(
    listener: std::net::TcpListener,
    state: AppState,
    tls: Option<rustls::ServerConfig>,
) -> anyhow::Result<Running> {
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let app = crate::edge::router::build(state);
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    let handle = Handle::new();
    let task = match tls {
        Some(config) => {
            let config = RustlsConfig::from_config(Arc::new(config));
            let server = axum_server::from_tcp_rustls(listener, config).handle(handle.clone());
            tokio::spawn(server.serve(service))
        }
        None => {
            let server = axum_server::from_tcp(listener).handle(handle.clone());
            tokio::spawn(server.serve(service))
        }
    };
    Ok(Running { addr, handle, task })
}

impl Running {
    /// Stops accepting connections and lets in-flight requests finish.
    pub async fn shutdown(self) {
        self.handle.graceful_shutdown(Some(DRAIN_TIMEOUT));
        let _ = self.task.await;
    }
}

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM).
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
