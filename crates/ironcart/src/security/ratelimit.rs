//! Rate limits (GCRA) at several layers: every request per client address, and
//! stricter classes for credential endpoints (per address and per account) and for
//! writes (per principal). Each class has its own quota; over it, the caller gets a
//! 429 problem with `Retry-After` and the IETF draft `RateLimit` headers.
//!
//! With Redis configured, counters are shared by every instance
//! ([`super::shared::SharedLimiter`]); without it, or while Redis is unreachable,
//! each instance counts on its own.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

/// The kinds of limits; each is keyed by what its name says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitClass {
    /// Every request, by client address.
    Address,
    /// Login attempts by client address.
    LoginAddress,
    /// Login attempts by account (normalised email), whatever the address.
    LoginAccount,
    /// Registrations by client address.
    RegisterAddress,
    /// Token refreshes by client address.
    RefreshAddress,
    /// Password changes by account.
    PasswordChange,
    /// Checkouts by principal.
    Checkout,
    /// Other writes by principal.
    Write,
    /// Records of other people's personal data read by a staff principal; one
    /// response costs as many units as it carries such records.
    PiiRead,
    /// Bulk exports of customer data by principal.
    CustomerExport,
}

impl LimitClass {
    pub const ALL: [LimitClass; 10] = [
        LimitClass::Address,
        LimitClass::LoginAddress,
        LimitClass::LoginAccount,
        LimitClass::RegisterAddress,
        LimitClass::RefreshAddress,
        LimitClass::PasswordChange,
        LimitClass::Checkout,
        LimitClass::Write,
        LimitClass::PiiRead,
        LimitClass::CustomerExport,
    ];

    /// Whether a signed-in caller is counted by account rather than by address.
    pub fn keyed_by_principal(self) -> bool {
        matches!(
            self,
            LimitClass::PasswordChange
                | LimitClass::Checkout
                | LimitClass::Write
                | LimitClass::PiiRead
                | LimitClass::CustomerExport
        )
    }

    /// The policy name shown in the RateLimit headers.
    pub fn name(self) -> &'static str {
        match self {
            LimitClass::Address => "address",
            LimitClass::LoginAddress => "login-address",
            LimitClass::LoginAccount => "login-account",
            LimitClass::RegisterAddress => "register-address",
            LimitClass::RefreshAddress => "refresh-address",
            LimitClass::PasswordChange => "password-change",
            LimitClass::Checkout => "checkout",
            LimitClass::Write => "write",
            LimitClass::PiiRead => "pii-read",
            LimitClass::CustomerExport => "customer-export",
        }
    }
}

/// `per_minute` requests a minute on average, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitQuota {
    pub per_minute: u32,
    pub burst: u32,
}

/// The quota of every class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitSettings {
    pub quotas: HashMap<LimitClass, LimitQuota>,
}

impl Default for RateLimitSettings {
    /// Strict on credentials (5 logins a minute per account, 20 per address), generous
    /// enough on browsing that a real shopper never meets the limit.
    fn default() -> Self {
        let quota = |per_minute, burst| LimitQuota { per_minute, burst };
        let quotas = HashMap::from([
            (LimitClass::Address, quota(1200, 200)),
            (LimitClass::LoginAddress, quota(20, 20)),
            (LimitClass::LoginAccount, quota(5, 5)),
            (LimitClass::RegisterAddress, quota(10, 10)),
            (LimitClass::RefreshAddress, quota(60, 30)),
            (LimitClass::PasswordChange, quota(5, 5)),
            (LimitClass::Checkout, quota(10, 5)),
            (LimitClass::Write, quota(120, 60)),
            // 600 records of other people an hour, 500 at once: a support shift, not
            // a scrape. Exports are rare, deliberate and audited: 3 at once, then 1/min.
            (LimitClass::PiiRead, quota(10, 500)),
            (LimitClass::CustomerExport, quota(1, 3)),
        ]);
        Self { quotas }
    }
}

impl RateLimitSettings {
    /// Quotas so high that tests unrelated to rate limiting never meet them.
    pub fn unlimited_for_tests() -> Self {
        let quotas = LimitClass::ALL
            .into_iter()
            .map(|class| {
                (
                    class,
                    LimitQuota {
                        per_minute: 1_000_000,
                        burst: 100_000,
                    },
                )
            })
            .collect();
        Self { quotas }
    }
}

/// A request admitted under a class: what is left of its quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted {
    pub class: LimitClass,
    pub quota: LimitQuota,
    pub remaining: u32,
}

/// A request refused under a class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub class: LimitClass,
    pub quota: LimitQuota,
    pub retry_after: Duration,
}

type Keyed =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// The limiters of every class.
pub struct RateLimits {
    limiters: HashMap<LimitClass, (LimitQuota, Keyed)>,
    clock: DefaultClock,
    shared: Option<super::shared::SharedLimiter>,
    /// One alert per class and key per [`REFUSAL_ALERT_WINDOW`] (local fallback).
    alerts: Keyed,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("classes", &self.limiters.len())
            .finish()
    }
}

/// The units a request of `cost` is charged: at least one, and at most the burst, so
/// that a response larger than the burst is not refused forever (the configuration
/// refuses a `pii-read` burst smaller than a page).
fn charged(cost: u32, quota: LimitQuota) -> u32 {
    cost.clamp(1, quota.burst.max(1))
}

/// After a principal is first refused under a class, further refusals within this
/// window are the same episode and raise no new alert.
pub const REFUSAL_ALERT_WINDOW: Duration = Duration::from_secs(15 * 60);

fn governor_quota(quota: LimitQuota) -> Quota {
    let per_minute = NonZeroU32::new(quota.per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(quota.burst.max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::per_minute(per_minute).allow_burst(burst)
}

impl RateLimits {
    pub fn new(settings: &RateLimitSettings) -> Self {
        let limiters = settings
            .quotas
            .iter()
            .map(|(class, quota)| {
                let limiter = RateLimiter::keyed(governor_quota(*quota))
                    .with_middleware::<StateInformationMiddleware>();
                (*class, (*quota, limiter))
            })
            .collect();
        Self {
            limiters,
            clock: DefaultClock::default(),
            shared: None,
            alerts: RateLimiter::keyed(
                Quota::with_period(REFUSAL_ALERT_WINDOW)
                    .unwrap_or(Quota::per_hour(NonZeroU32::MIN)),
            )
            .with_middleware::<StateInformationMiddleware>(),
        }
    }

    /// Shares the counters through Redis, falling back to local ones.
    pub fn with_shared(mut self, shared: super::shared::SharedLimiter) -> Self {
        self.shared = Some(shared);
        self
    }

    pub fn shared(&self) -> Option<&super::shared::SharedLimiter> {
        self.shared.as_ref()
    }

    /// Counts one request, in Redis when it is configured and answering, else here.
    pub async fn check_shared(
        &self,
        class: LimitClass,
        key: &str,
    ) -> Result<Option<Admitted>, Limited> {
        self.check_shared_n(class, key, 1).await
    }

    /// As [`Self::check_shared`], for `cost` units at once (a response carrying that
    /// many records). Refused requests consume nothing.
    pub async fn check_shared_n(
        &self,
        class: LimitClass,
        key: &str,
        cost: u32,
    ) -> Result<Option<Admitted>, Limited> {
        use super::shared::SharedDecision;
        let (Some(shared), Some((quota, _))) = (&self.shared, self.limiters.get(&class)) else {
            return self.check_n(class, key, cost);
        };
        match shared
            .check(class, key, *quota, charged(cost, *quota))
            .await
        {
            Some(SharedDecision::Allowed { remaining }) => Ok(Some(Admitted {
                class,
                quota: *quota,
                remaining,
            })),
            Some(SharedDecision::Limited { retry_after }) => Err(Limited {
                class,
                quota: *quota,
                retry_after,
            }),
            None => self.check_n(class, key, cost),
        }
    }

    /// Counts one request of `class` for `key`. A class without a quota admits all.
    pub fn check(&self, class: LimitClass, key: &str) -> Result<Option<Admitted>, Limited> {
        self.check_n(class, key, 1)
    }

    /// As [`Self::check`], for `cost` units at once.
    pub fn check_n(
        &self,
        class: LimitClass,
        key: &str,
        cost: u32,
    ) -> Result<Option<Admitted>, Limited> {
        let Some((quota, limiter)) = self.limiters.get(&class) else {
            return Ok(None);
        };
        let cost = NonZeroU32::new(charged(cost, *quota)).unwrap_or(NonZeroU32::MIN);
        let limited = |retry_after| Limited {
            class,
            quota: *quota,
            retry_after,
        };
        match limiter.check_key_n(&key.to_owned(), cost) {
            Ok(Ok(snapshot)) => Ok(Some(Admitted {
                class,
                quota: *quota,
                remaining: snapshot.remaining_burst_capacity(),
            })),
            Ok(Err(not_until)) => Err(limited(not_until.wait_time_from(self.clock.now()))),
            // Unreachable: `charged` never asks for more than the burst.
            Err(_) => Err(limited(Duration::from_secs(60))),
        }
    }

    /// Whether this refusal under `class` is the first for `key` within
    /// [`REFUSAL_ALERT_WINDOW`] (across instances when Redis is shared), so an alert
    /// is raised once per episode and a flood of refused requests writes nothing more.
    pub async fn first_refusal(&self, class: LimitClass, key: &str) -> bool {
        let key = format!("{}:{key}", class.name());
        if let Some(shared) = &self.shared
            && let Some(first) = shared
                .first_in_window("alert", &key, REFUSAL_ALERT_WINDOW)
                .await
        {
            return first;
        }
        self.alerts.check_key(&key).is_ok()
    }

    /// Forgets keys whose limits have fully replenished, bounding memory.
    pub fn forget_idle_keys(&self) {
        for limiter in self.limiters.values().map(|(_, l)| l).chain([&self.alerts]) {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict() -> RateLimits {
        let mut settings = RateLimitSettings::default();
        settings.quotas.insert(
            LimitClass::LoginAccount,
            LimitQuota {
                per_minute: 5,
                burst: 5,
            },
        );
        RateLimits::new(&settings)
    }

    #[test]
    fn a_burst_is_admitted_then_limited_per_key() {
        let limits = strict();
        for expected_remaining in (0..5).rev() {
            let admitted = limits.check(LimitClass::LoginAccount, "ann@example.com");
            assert_eq!(
                admitted.map(|a| a.map(|a| a.remaining)),
                Ok(Some(expected_remaining))
            );
        }
        let limited = limits
            .check(LimitClass::LoginAccount, "ann@example.com")
            .expect_err("sixth attempt in a minute is limited");
        assert!(limited.retry_after > Duration::from_secs(1));
        assert!(limited.retry_after <= Duration::from_secs(12));
        assert!(
            limits
                .check(LimitClass::LoginAccount, "bob@example.com")
                .is_ok(),
            "keys are independent"
        );
    }

    #[test]
    fn classes_are_independent() {
        let limits = strict();
        for _ in 0..5 {
            let _ = limits.check(LimitClass::LoginAccount, "k");
        }
        assert!(limits.check(LimitClass::LoginAccount, "k").is_err());
        assert!(limits.check(LimitClass::Write, "k").is_ok());
    }

    #[test]
    fn a_weighted_check_charges_its_cost_and_a_refusal_charges_nothing() {
        let mut settings = RateLimitSettings::default();
        settings.quotas.insert(
            LimitClass::PiiRead,
            LimitQuota {
                per_minute: 1,
                burst: 10,
            },
        );
        let limits = RateLimits::new(&settings);
        let remaining = |cost| {
            limits
                .check_n(LimitClass::PiiRead, "staff", cost)
                .map(|a| a.map(|a| a.remaining))
        };
        assert_eq!(remaining(6), Ok(Some(4)));
        assert!(remaining(5).is_err(), "5 more than the 4 left");
        assert_eq!(remaining(4), Ok(Some(0)), "the refusal cost nothing");
        assert!(remaining(1).is_err());
        assert!(limits.check_n(LimitClass::PiiRead, "other", 10).is_ok());
    }

    #[tokio::test]
    async fn only_the_first_refusal_of_an_episode_alerts() {
        let limits = RateLimits::new(&RateLimitSettings::default());
        assert!(limits.first_refusal(LimitClass::PiiRead, "staff").await);
        assert!(!limits.first_refusal(LimitClass::PiiRead, "staff").await);
        assert!(limits.first_refusal(LimitClass::PiiRead, "other").await);
        assert!(limits.first_refusal(LimitClass::Write, "staff").await);
    }
}
