//! Intrusion prevention: a ban list keyed by client address, filled by detectors
//! that count security signals from one address in a window (WAF blocks, failed
//! logins across accounts, rejected tokens, rate-limit refusals), and by staff.
//!
//! The list is checked right after the client address is resolved, before anything
//! else runs, so a banned address costs a lookup. Counters and bans are kept here in
//! memory and, with Redis, shared by every instance; while Redis is unreachable the
//! local copy decides, and a ban made meanwhile is shared once Redis answers again.
//! Addresses on the allow-list and the trusted proxies themselves are never banned.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::shared::SharedLimiter;

/// What a detector counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// A request blocked by the WAF.
    WafBlocked,
    /// A failed login; distinct accounts are counted (credential stuffing).
    FailedLogin,
    /// A bearer token that did not verify or named a dead session.
    TokenRejected,
    /// A request refused by a rate limit.
    RateLimited,
}

impl Signal {
    pub const ALL: [Signal; 4] = [
        Signal::WafBlocked,
        Signal::FailedLogin,
        Signal::TokenRejected,
        Signal::RateLimited,
    ];

    /// The name used in configuration, events and Redis keys.
    pub fn name(self) -> &'static str {
        match self {
            Signal::WafBlocked => "waf-blocked",
            Signal::FailedLogin => "failed-login",
            Signal::TokenRejected => "token-rejected",
            Signal::RateLimited => "rate-limited",
        }
    }

    /// The signal a security event carries, if any.
    pub fn of_event(action: &str, outcome: super::audit::Outcome) -> Option<Self> {
        use super::audit::Outcome::Failure;
        match (action, outcome) {
            ("waf.blocked", _) => Some(Signal::WafBlocked),
            ("auth.login", Failure) => Some(Signal::FailedLogin),
            ("auth.token_rejected", _) => Some(Signal::TokenRejected),
            _ => None,
        }
    }
}

/// Detector thresholds (signals per window; a class absent is not detected), ban
/// length and the addresses never banned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BanSettings {
    pub window_secs: i64,
    pub ban_secs: i64,
    pub thresholds: HashMap<Signal, u32>,
    /// Monitoring and other addresses that must never be banned.
    pub allow: Vec<IpNet>,
}

impl Default for BanSettings {
    /// A client that keeps attacking for ten minutes is shut out for an hour. The
    /// thresholds sit well above what a real shopper or a misconfigured app does.
    fn default() -> Self {
        Self {
            window_secs: 600,
            ban_secs: 3600,
            thresholds: HashMap::from([
                (Signal::WafBlocked, 10),
                (Signal::FailedLogin, 20),
                (Signal::TokenRejected, 30),
                (Signal::RateLimited, 300),
            ]),
            allow: Vec::new(),
        }
    }
}

impl BanSettings {
    /// No automatic bans: for tests unrelated to intrusion prevention.
    pub fn detectors_off() -> Self {
        Self {
            thresholds: HashMap::new(),
            ..Self::default()
        }
    }
}

/// One banned address (an IPv6 client's whole /64).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ban {
    pub address: String,
    pub reason: String,
    /// `manual`, or the signal whose detector set it.
    pub source: String,
    pub since: i64,
    pub until: i64,
    /// The staff member who set it by hand.
    pub actor_id: Option<String>,
}

/// What a detector saw when it set a ban, for the security event.
#[derive(Debug, Clone)]
pub struct Detection {
    pub ban: Ban,
    pub signal: Signal,
    pub count: u32,
    pub threshold: u32,
    pub window_secs: i64,
}

/// The key of an address in the ban list: IPv4 as is, IPv6 by its /64, which one
/// client usually holds whole.
pub fn ban_address(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => IpNet::new(IpAddr::V6(v6), 64)
                .map(|net| net.trunc().to_string())
                .unwrap_or_else(|_| v6.to_string()),
        },
    }
}

/// A counter of one signal from one address, in a window that starts with it.
#[derive(Debug)]
struct Counter {
    since: i64,
    count: u32,
    members: HashSet<String>,
}

#[derive(Debug)]
struct LocalBan {
    ban: Ban,
    /// Whether Redis holds it too; a ban made during an outage is pushed later.
    shared: bool,
}

#[derive(Debug, Default)]
struct Local {
    bans: HashMap<String, LocalBan>,
    counters: HashMap<(Signal, String), Counter>,
    /// When a refused request from an address was last reported, and how many were
    /// refused since.
    reported: HashMap<String, (i64, u64)>,
}

/// How often, at most, refused requests from one banned address become an event.
pub const REFUSAL_REPORT_SECS: i64 = 60;

/// The ban list and its detectors.
pub struct Bans {
    settings: BanSettings,
    never: Vec<IpNet>,
    local: Mutex<Local>,
    shared: Option<SharedLimiter>,
}

impl std::fmt::Debug for Bans {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bans")
            .field("shared", &self.shared.is_some())
            .finish()
    }
}

/// Why an address cannot be banned by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeverBanned;

impl Bans {
    /// `trusted_proxies` are never banned: their own address is every client's
    /// address when the header is missing, and their health checks must pass.
    pub fn new(settings: BanSettings, trusted_proxies: &[IpNet]) -> Self {
        let never = settings
            .allow
            .iter()
            .chain(trusted_proxies)
            .copied()
            .collect();
        Self {
            settings,
            never,
            local: Mutex::new(Local::default()),
            shared: None,
        }
    }

    /// Shares counters and bans through Redis, falling back to local ones.
    pub fn with_shared(mut self, shared: SharedLimiter) -> Self {
        self.shared = Some(shared);
        self
    }

    fn local(&self) -> MutexGuard<'_, Local> {
        self.local.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn is_exempt(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.never.iter().any(|net| net.contains(&ip))
    }

    /// The ban in force on `ip` at `now`, if any.
    pub async fn check(&self, ip: IpAddr, now: i64) -> Option<Ban> {
        if self.is_exempt(ip) {
            return None;
        }
        let address = ban_address(ip);
        if let Some(shared) = &self.shared
            && let Some(found) = shared.ban(&address).await
        {
            return self.reconcile(shared, &address, found, now).await;
        }
        let local = self.local();
        local
            .bans
            .get(&address)
            .filter(|entry| entry.ban.until > now)
            .map(|entry| entry.ban.clone())
    }

    /// Redis answered: it is the authority for bans it knows of, and learns the ones
    /// this instance made while it was away.
    // Shortcoming: such a ban reaches Redis only when its address next comes to this
    // instance; other instances do not enforce it before that.
    async fn reconcile(
        &self,
        shared: &SharedLimiter,
        address: &str,
        found: Option<Ban>,
        now: i64,
    ) -> Option<Ban> {
        if let Some(ban) = found.filter(|ban| ban.until > now) {
            self.local().bans.insert(
                address.to_owned(),
                LocalBan {
                    ban: ban.clone(),
                    shared: true,
                },
            );
            return Some(ban);
        }
        let unshared = {
            let mut local = self.local();
            match local.bans.get(address) {
                Some(entry) if !entry.shared && entry.ban.until > now => Some(entry.ban.clone()),
                _ => {
                    local.bans.remove(address);
                    None
                }
            }
        };
        let ban = unshared?;
        if shared.set_ban(&ban, remaining(&ban, now)).await.is_some()
            && let Some(entry) = self.local().bans.get_mut(address)
        {
            entry.shared = true;
        }
        Some(ban)
    }

    /// Counts one signal from `client_ip`; the ban it triggers, if it crossed its
    /// detector's threshold. `member` (a [`fingerprint`]) makes the detector count
    /// distinct values.
    pub async fn observe(
        &self,
        signal: Signal,
        client_ip: &str,
        member: Option<&str>,
        now: i64,
    ) -> Option<Detection> {
        let threshold = *self.settings.thresholds.get(&signal)?;
        let ip: IpAddr = client_ip.parse().ok()?;
        if threshold == 0 || self.is_exempt(ip) {
            return None;
        }
        let address = ban_address(ip);
        let member = member.map(str::to_owned);
        let window = self.settings.window_secs.max(1);
        let shared_count = match &self.shared {
            Some(shared) => {
                let window = Duration::from_secs(u64::try_from(window).unwrap_or(1));
                shared
                    .count_signal(signal.name(), &address, member.as_deref(), window)
                    .await
            }
            None => None,
        };
        let count = match shared_count {
            Some(count) => count,
            None => self.count_locally(signal, &address, member, now, threshold),
        };
        if count < threshold || self.banned_locally(&address, now) {
            return None;
        }
        let ban = Ban {
            reason: format!("{count} {} signals within {window} seconds", signal.name()),
            source: signal.name().to_owned(),
            since: now,
            until: now + self.settings.ban_secs.max(1),
            actor_id: None,
            address,
        };
        self.impose(ban.clone(), now).await;
        Some(Detection {
            ban,
            signal,
            count,
            threshold,
            window_secs: window,
        })
    }

    fn count_locally(
        &self,
        signal: Signal,
        address: &str,
        member: Option<String>,
        now: i64,
        threshold: u32,
    ) -> u32 {
        let mut local = self.local();
        let counter = local
            .counters
            .entry((signal, address.to_owned()))
            .or_insert_with(|| Counter {
                since: now,
                count: 0,
                members: HashSet::new(),
            });
        if now - counter.since >= self.settings.window_secs {
            *counter = Counter {
                since: now,
                count: 0,
                members: HashSet::new(),
            };
        }
        match member {
            // Bounded: past the threshold more members change nothing.
            Some(member) if counter.members.len() < threshold as usize => {
                counter.members.insert(member);
                u32::try_from(counter.members.len()).unwrap_or(u32::MAX)
            }
            Some(_) => u32::try_from(counter.members.len()).unwrap_or(u32::MAX),
            None => {
                counter.count = counter.count.saturating_add(1);
                counter.count
            }
        }
    }

    fn banned_locally(&self, address: &str, now: i64) -> bool {
        self.local()
            .bans
            .get(address)
            .is_some_and(|entry| entry.ban.until > now)
    }

    /// Puts a ban in force here and, when Redis answers, everywhere.
    async fn impose(&self, ban: Ban, now: i64) {
        let shared = match &self.shared {
            Some(shared) => shared.set_ban(&ban, remaining(&ban, now)).await.is_some(),
            None => false,
        };
        let address = ban.address.clone();
        self.local().bans.insert(address, LocalBan { ban, shared });
    }

    /// A ban set by staff; refused for addresses that are never banned.
    pub async fn ban_by_hand(
        &self,
        ip: IpAddr,
        reason: String,
        duration_secs: i64,
        actor_id: String,
        now: i64,
    ) -> Result<Ban, NeverBanned> {
        if self.is_exempt(ip) {
            return Err(NeverBanned);
        }
        let ban = Ban {
            address: ban_address(ip),
            reason,
            source: "manual".to_owned(),
            since: now,
            until: now + duration_secs.max(1),
            actor_id: Some(actor_id),
        };
        self.impose(ban.clone(), now).await;
        Ok(ban)
    }

    /// Lifts the ban on `ip`'s address; the ban that was lifted, if one was in force.
    pub async fn lift(&self, ip: IpAddr, now: i64) -> Option<Ban> {
        let address = ban_address(ip);
        let existing = self.check(ip, now).await;
        let removed = self.local().bans.remove(&address);
        if let Some(shared) = &self.shared {
            let _ = shared.lift_ban(&address).await;
        }
        existing.or(removed.map(|entry| entry.ban).filter(|ban| ban.until > now))
    }

    /// Every ban in force, soonest to end first.
    pub async fn list(&self, now: i64) -> Vec<Ban> {
        let from_redis = match &self.shared {
            Some(shared) => shared.bans(now).await,
            None => None,
        };
        let redis_answered = from_redis.is_some();
        let mut bans: HashMap<String, Ban> = from_redis
            .unwrap_or_default()
            .into_iter()
            .map(|ban| (ban.address.clone(), ban))
            .collect();
        for entry in self.local().bans.values() {
            let keep = entry.ban.until > now && (!entry.shared || !redis_answered);
            if keep {
                bans.entry(entry.ban.address.clone())
                    .or_insert_with(|| entry.ban.clone());
            }
        }
        let mut bans: Vec<Ban> = bans.into_values().collect();
        bans.sort_by(|a, b| (a.until, &a.address).cmp(&(b.until, &b.address)));
        bans
    }

    /// Counts a refused request from a banned address; `Some(refused since the last
    /// report)` when it is time to report again (at most once a minute per address
    /// and instance), so a flood of refusals does not become a flood of events.
    pub fn refusal_to_report(&self, address: &str, now: i64) -> Option<u64> {
        let mut local = self.local();
        let (last, refused) = local
            .reported
            .entry(address.to_owned())
            .or_insert((i64::MIN, 0));
        *refused += 1;
        if now.saturating_sub(*last) < REFUSAL_REPORT_SECS {
            return None;
        }
        let count = *refused;
        *last = now;
        *refused = 0;
        Some(count)
    }

    /// Forgets expired bans, counters whose window has passed and old refusal
    /// reports, bounding memory.
    pub fn forget_expired(&self, now: i64) {
        let window = self.settings.window_secs;
        let mut local = self.local();
        local.bans.retain(|_, entry| entry.ban.until > now);
        local
            .counters
            .retain(|_, counter| now - counter.since < window);
        local
            .reported
            .retain(|_, (last, _)| now.saturating_sub(*last) < REFUSAL_REPORT_SECS);
    }
}

fn remaining(ban: &Ban, now: i64) -> Duration {
    Duration::from_secs(u64::try_from(ban.until - now).unwrap_or(0).max(1))
}

/// A short hash of a value a detector tells apart (an email address), so neither
/// memory, Redis nor a `Debug` print holds the value itself.
pub fn fingerprint(value: &str) -> String {
    let digest = Sha256::digest(value.trim().to_lowercase().as_bytes());
    hex::encode(&digest[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bans(thresholds: &[(Signal, u32)]) -> Bans {
        let settings = BanSettings {
            window_secs: 60,
            ban_secs: 300,
            thresholds: thresholds.iter().copied().collect(),
            allow: vec!["192.0.2.0/24".parse().expect("net")],
        };
        Bans::new(settings, &["10.0.0.5/32".parse().expect("net")])
    }

    #[test]
    fn ipv6_clients_are_banned_by_their_64() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        assert_eq!(ban_address(ip("198.51.100.7")), "198.51.100.7");
        assert_eq!(
            ban_address(ip("2001:db8:1:2:aaaa::9")),
            ban_address(ip("2001:db8:1:2::1"))
        );
        assert_eq!(ban_address(ip("2001:db8:1:2::1")), "2001:db8:1:2::/64");
        assert_eq!(ban_address(ip("::ffff:198.51.100.7")), "198.51.100.7");
    }

    #[tokio::test]
    async fn a_detector_bans_at_its_threshold_within_the_window_only() {
        let bans = bans(&[(Signal::WafBlocked, 3)]);
        let at = 1_000;
        assert!(
            bans.observe(Signal::WafBlocked, "198.51.100.7", None, at)
                .await
                .is_none()
        );
        assert!(
            bans.observe(Signal::WafBlocked, "198.51.100.7", None, at + 61)
                .await
                .is_none()
        );
        assert!(
            bans.observe(Signal::WafBlocked, "198.51.100.7", None, at + 62)
                .await
                .is_none()
        );
        let detection = bans
            .observe(Signal::WafBlocked, "198.51.100.7", None, at + 63)
            .await
            .expect("third signal in the window bans");
        assert_eq!(detection.ban.until, at + 63 + 300);
        assert_eq!(detection.count, 3);
        let ip: IpAddr = "198.51.100.7".parse().expect("ip");
        assert!(bans.check(ip, at + 63 + 299).await.is_some());
        assert!(bans.check(ip, at + 63 + 300).await.is_none());
        assert!(
            bans.observe(Signal::TokenRejected, "198.51.100.8", None, at)
                .await
                .is_none()
        );
    }

    #[tokio::test]
    async fn failed_logins_count_distinct_accounts_and_exempt_addresses_never_count() {
        let bans = bans(&[(Signal::FailedLogin, 3)]);
        for _ in 0..10 {
            let seen = bans
                .observe(
                    Signal::FailedLogin,
                    "198.51.100.7",
                    Some("Ann@example.com"),
                    5,
                )
                .await;
            assert!(seen.is_none(), "one account retried is not stuffing");
        }
        let _ = bans
            .observe(
                Signal::FailedLogin,
                "198.51.100.7",
                Some("bob@example.com"),
                5,
            )
            .await;
        let third = bans
            .observe(
                Signal::FailedLogin,
                "198.51.100.7",
                Some("cy@example.com"),
                5,
            )
            .await;
        assert!(third.is_some());
        for exempt in ["10.0.0.5", "192.0.2.44"] {
            for n in 0..10 {
                let member = format!("user{n}@example.com");
                let seen = bans
                    .observe(Signal::FailedLogin, exempt, Some(&member), 5)
                    .await;
                assert!(seen.is_none(), "{exempt} is never banned");
            }
        }
        let proxy: IpAddr = "10.0.0.5".parse().expect("ip");
        assert_eq!(
            bans.ban_by_hand(proxy, "x".into(), 60, "staff".into(), 5)
                .await,
            Err(NeverBanned)
        );
    }

    #[test]
    fn refusals_are_reported_once_a_minute_with_their_count() {
        let bans = bans(&[]);
        assert_eq!(bans.refusal_to_report("198.51.100.7", 100), Some(1));
        for _ in 0..500 {
            assert_eq!(bans.refusal_to_report("198.51.100.7", 130), None);
        }
        assert_eq!(bans.refusal_to_report("198.51.100.7", 160), Some(501));
    }
}
