//! Application state shared by every request, and the authentication steps that
//! need several of its parts at once.

use std::sync::Arc;
use std::time::Duration;

use ironcart_security::password::PasswordHasher;
use ironcart_security::tokens::{SigningKeys, TokenConfig};

use crate::clock::Clock;
use crate::domain::payments::PaymentProvider;
use crate::edge::auth::Principal;
use crate::security::audit::SecurityEvents;
use crate::security::hashing::{HashingPool, HashingSettings};
use crate::security::ratelimit::{LimitClass, Limited, RateLimitSettings, RateLimits};
use crate::security::rbac::Policy;
use crate::store::Store;
use ipnet::IpNet;

/// Lifetime of a refresh token (and so of an idle session).
pub const REFRESH_TTL_SECS: i64 = 14 * 24 * 3600;

#[derive(Debug, Clone)]
pub struct Settings {
    pub max_line_quantity: i64,
    pub rate_limits: RateLimitSettings,
    /// Peers whose `X-Forwarded-For` is believed (the load balancers).
    pub trusted_proxies: Vec<IpNet>,
    /// Requests served at once; more are shed with 503.
    pub max_in_flight: usize,
    /// How long a client may take to send its request headers (slowloris).
    pub header_read_timeout: Duration,
    /// Redis for state shared by several instances; `None` when running alone.
    pub redis_url: Option<String>,
    pub waf: crate::edge::waf::WafSettings,
    /// Intrusion prevention: detector thresholds, ban length, never-banned addresses.
    pub bans: crate::security::bans::BanSettings,
    /// Threads that hash passwords, and how long a login waits for one (then 503).
    pub password_hashing: HashingSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_line_quantity: crate::domain::cart::DEFAULT_MAX_LINE_QUANTITY,
            rate_limits: RateLimitSettings::default(),
            trusted_proxies: Vec::new(),
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            header_read_timeout: Duration::from_secs(10),
            redis_url: None,
            waf: crate::edge::waf::WafSettings::default(),
            bans: crate::security::bans::BanSettings::default(),
            password_hashing: HashingSettings::default(),
        }
    }
}

pub const DEFAULT_MAX_IN_FLIGHT: usize = 1024;

/// Logs a refusal under the `security` target.
pub fn log_rate_limited(limited: &Limited) {
    tracing::warn!(
        target: "security",
        action = "ratelimit.exceeded",
        policy = limited.class.name(),
        retry_after_secs = limited.retry_after.as_secs(),
        "rate limit exceeded"
    );
}

/// Cheap to clone: everything lives behind one `Arc`.
#[derive(Clone)]
pub struct AppState(Arc<AppInner>);

pub struct AppInner {
    pub store: Store,
    pub keys: SigningKeys,
    pub token_config: TokenConfig,
    pub hasher: Arc<PasswordHasher>,
    pub policy: Policy,
    pub events: SecurityEvents,
    pub payments: Arc<dyn PaymentProvider>,
    pub clock: Clock,
    pub settings: Settings,
    pub hashing: HashingPool,
    pub limits: RateLimits,
    pub bans: Arc<crate::security::bans::Bans>,
    pub egress_policy: ironcart_dlp::Policy,
    pub waf: ironcart_waf::Waf,
    /// Set once the router is built: it is derived from the route declarations.
    pub openapi: std::sync::OnceLock<serde_json::Value>,
}

impl std::ops::Deref for AppState {
    type Target = AppInner;

    fn deref(&self) -> &AppInner {
        &self.0
    }
}

impl AppState {
    pub fn new(inner: AppInner) -> Self {
        Self(Arc::new(inner))
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Counts a request against a rate-limit class; refusals are logged (not
    /// persisted: a flood must not turn into a flood of database writes).
    pub async fn rate_limit(&self, class: LimitClass, key: &str) -> Result<(), Limited> {
        match self.limits.check_shared(class, key).await {
            Ok(_) => Ok(()),
            Err(limited) => {
                self.rate_limited(&limited).await;
                Err(limited)
            }
        }
    }

    /// Logs a rate-limit refusal and counts it for the intrusion detectors.
    pub async fn rate_limited(&self, limited: &Limited) {
        log_rate_limited(limited);
        self.events
            .detect(crate::security::bans::Signal::RateLimited, self.now(), None)
            .await;
    }

    /// Verifies an access token and re-checks, in one query, that its session is
    /// live and its account active; permissions come from the account's current
    /// roles, so revocations and role changes apply at once. The error is a short
    /// reason code for the security event, never the token.
    pub async fn principal_for_token(&self, token: &str) -> Result<Principal, &'static str> {
        let claims = self
            .keys
            .verify_access_token(&self.token_config, token, self.now())
            .map_err(|_| "invalid_access_token")?;
        let state = self
            .store
            .account_state(&claims.sub, &claims.sid)
            .await
            .map_err(|_| "account_lookup_failed")?
            .ok_or("unknown_session")?;
        if !state.active {
            return Err("account_disabled");
        }
        if state.session_revoked {
            return Err("session_revoked");
        }
        Ok(Principal {
            permissions: self.policy.permissions_of(&state.roles),
            user_id: claims.sub,
            session_id: claims.sid,
            roles: state.roles,
        })
    }
}
