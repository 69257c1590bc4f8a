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
}

impl LimitClass {
    pub const ALL: [LimitClass; 8] = [
        LimitClass::Address,
        LimitClass::LoginAddress,
        LimitClass::LoginAccount,
        LimitClass::RegisterAddress,
        LimitClass::RefreshAddress,
        LimitClass::PasswordChange,
        LimitClass::Checkout,
        LimitClass::Write,
    ];

    /// Whether a signed-in caller is counted by account rather than by address.
    pub fn keyed_by_principal(self) -> bool {
        matches!(
            self,
            LimitClass::PasswordChange | LimitClass::Checkout | LimitClass::Write
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
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("classes", &self.limiters.len())
            .finish()
    }
}

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
        use super::shared::SharedDecision;
        let (Some(shared), Some((quota, _))) = (&self.shared, self.limiters.get(&class)) else {
            return self.check(class, key);
        };
        match shared.check(class, key, *quota).await {
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
            None => self.check(class, key),
        }
    }

    /// Counts one request of `class` for `key`. A class without a quota admits all.
    pub fn check(&self, class: LimitClass, key: &str) -> Result<Option<Admitted>, Limited> {
        let Some((quota, limiter)) = self.limiters.get(&class) else {
            return Ok(None);
        };
        match limiter.check_key(&key.to_owned()) {
            Ok(snapshot) => Ok(Some(Admitted {
                class,
                quota: *quota,
                remaining: snapshot.remaining_burst_capacity(),
            })),
            Err(not_until) => Err(Limited {
                class,
                quota: *quota,
                retry_after: not_until.wait_time_from(self.clock.now()),
            }),
        }
    }

    /// Forgets keys whose limits have fully replenished, bounding memory.
    pub fn forget_idle_keys(&self) {
        for (_, limiter) in self.limiters.values() {
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
}
