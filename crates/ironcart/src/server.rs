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

use crate::app::{AppInner, AppState, Settings};
use crate::clock::Clock;
use crate::domain::payments::PaymentProvider;
use crate::security::audit::SecurityEvents;
use crate::security::bans::Bans;
use crate::security::hashing::HashingPool;
use crate::security::ratelimit::RateLimits;
use crate::security::rbac::Policy;
use crate::store::{KEY_RELOAD_INTERVAL, KekSource, Store};

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
    /// Where the key-encryption key comes from.
    pub kek: KekSource,
}

pub fn signing_key_dir(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("keys").join("signing")
}

pub async fn build_state(parts: StateParts) -> anyhow::Result<AppState> {
    let waf = crate::edge::waf::build(&parts.settings.waf).context("cannot load the WAF rules")?;
    build_state_with_waf(parts, waf).await
}

/// As [`build_state`], with a firewall the caller built (the WAF benchmark compares
/// rule sets, and no rules at all, in one process).
pub async fn build_state_with_waf(
    parts: StateParts,
    waf: ironcart_waf::Waf,
) -> anyhow::Result<AppState> {
    crate::bootstrap::create_private_dir(&parts.data_dir)?;
    parts
        .store
        .unlock(&parts.kek, parts.clock.clone())
        .await
        .context("cannot load the field encryption keys")?;
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
    let hashing = HashingPool::start(parts.settings.password_hashing)
        .context("cannot start the password hashing threads")?;
    warm_dummy_hash(&hashing, &hasher).await;
    let token_config = TokenConfig::new(parts.public_url.clone(), TOKEN_AUDIENCE);
    let mut limits = RateLimits::new(&parts.settings.rate_limits);
    let mut bans = Bans::new(parts.settings.bans.clone(), &parts.settings.trusted_proxies);
    if let Some(url) = &parts.settings.redis_url {
        let shared =
            crate::security::shared::SharedLimiter::connect(url).context("invalid Redis URL")?;
        limits = limits.with_shared(shared.clone());
        bans = bans.with_shared(shared);
    }
    let bans = Arc::new(bans);
    Ok(AppState::new(AppInner {
        limits,
        bans: bans.clone(),
        egress_policy: crate::edge::dlp::egress_policy(),
        waf,
        events: SecurityEvents::new(parts.store.clone()).with_detectors(bans),
        store: parts.store,
        keys,
        token_config,
        hasher,
        policy,
        payments: parts.payments,
        clock: parts.clock,
        settings: parts.settings,
        hashing,
        openapi: OnceLock::new(),
    }))
}

/// Computes the unknown-user dummy hash once now, so the first login for an unknown
/// email is not slower than the others (which would tell it apart).
async fn warm_dummy_hash(hashing: &HashingPool, hasher: &Arc<PasswordHasher>) {
    let hasher = hasher.clone();
    let _ = hashing
        .run(move |memory| {
            hasher
                .verify_unknown_user_with(memory, &ironcart_security::SecretString::from("warm-up"))
        })
        .await;
}

/// Re-reads the data keys periodically, so a key added by `ironcart keys rotate` in
/// another process becomes this server's primary within `KEY_RELOAD_INTERVAL`.
fn spawn_key_reloader(state: AppState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(KEY_RELOAD_INTERVAL);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(err) = state.store.reload_keys().await {
                tracing::warn!(
                    target: "security",
                    error = %err,
                    "cannot reload the data keys; still using the ones loaded"
                );
            }
        }
    });
}

/// A server running in the background.
pub struct Running {
    pub addr: SocketAddr,
    /// The live TLS configuration, for reloading the certificate.
    pub tls: Option<RustlsConfig>,
    pub handle: Handle,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Bytes of request line and headers buffered per HTTP/1 connection.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Concurrent streams per HTTP/2 connection.
pub const MAX_H2_STREAMS: u32 = 64;

/// Connection-level limits of the HTTP/1.1 and HTTP/2 servers.
fn protocol_limits(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    header_read_timeout: Duration,
) {
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .max_buf_size(MAX_HEADER_BYTES.max(8192));
    builder
        .http2()
        .timer(hyper_util::rt::TokioTimer::new())
        .max_concurrent_streams(MAX_H2_STREAMS)
        .max_header_list_size(MAX_HEADER_BYTES as u32)
        .keep_alive_interval(Some(Duration::from_secs(30)));
}

/// Serves the app on an already bound listener; TLS when a config is given.
pub async fn spawn(
    listener: std::net::TcpListener,
    state: AppState,
    tls: Option<rustls::ServerConfig>,
) -> anyhow::Result<Running> {
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let header_read_timeout = state.settings.header_read_timeout;
    let limits_state = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            limits_state.limits.forget_idle_keys();
            limits_state.bans.forget_expired(limits_state.now());
        }
    });
    spawn_key_reloader(state.clone());
    let app = crate::edge::router::build(state);
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    let handle = Handle::new();
    let live_tls = tls.map(|config| RustlsConfig::from_config(Arc::new(config)));
    let task = match live_tls.clone() {
        Some(config) => {
            let mut server = axum_server::from_tcp_rustls(listener, config).handle(handle.clone());
            protocol_limits(server.http_builder(), header_read_timeout);
            tokio::spawn(server.serve(service))
        }
        None => {
            let mut server = axum_server::from_tcp(listener).handle(handle.clone());
            protocol_limits(server.http_builder(), header_read_timeout);
            tokio::spawn(server.serve(service))
        }
    };
    Ok(Running {
        addr,
        tls: live_tls,
        handle,
        task,
    })
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
