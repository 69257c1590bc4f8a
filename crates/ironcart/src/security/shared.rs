//! State shared by every instance, in Redis: today the rate-limit counters (GCRA,
//! computed atomically by a Lua script on Redis's clock). When Redis is unreachable
//! the caller falls back to its local limiter, logs a warning, and keeps serving;
//! the connection manager reconnects when Redis returns.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use sha2::{Digest, Sha256};
use tokio::sync::RwLock;

use super::ratelimit::{LimitClass, LimitQuota};

/// GCRA on Redis time. KEYS[1]: the counter. ARGV[1]: emission interval (ms),
/// ARGV[2]: burst, ARGV[3]: cost in units (at most the burst). Returns {allowed
/// (0/1), retry_after_ms, remaining}; a refusal consumes nothing.
const GCRA: &str = r"
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3]) or 1
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local next_tat = tat + interval * cost
local allowed_from = next_tat - burst * interval
if now < allowed_from then
  return {0, allowed_from - now, 0}
end
redis.call('SET', KEYS[1], next_tat, 'PX', math.max(1, next_tat - now))
return {1, 0, math.floor((now + burst * interval - next_tat) / interval)}
";

/// Time allowed for one Redis round trip before falling back to local limits.
const REDIS_DEADLINE: Duration = Duration::from_millis(250);

/// A decision made by the shared limiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedDecision {
    Allowed { remaining: u32 },
    Limited { retry_after: Duration },
}

#[derive(Clone)]
pub struct SharedLimiter {
    client: redis::Client,
    connection: Arc<RwLock<Option<ConnectionManager>>>,
    connecting: Arc<AtomicBool>,
    script: Arc<redis::Script>,
    last_warning: Arc<AtomicI64>,
}

impl std::fmt::Debug for SharedLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedLimiter")
    }
}

impl SharedLimiter {
    /// Starts connecting in the background; usable (falling back) at once.
    pub fn connect(url: &str) -> Result<Self, redis::RedisError> {
        let limiter = Self {
            client: redis::Client::open(url)?,
            connection: Arc::new(RwLock::new(None)),
            connecting: Arc::new(AtomicBool::new(false)),
            script: Arc::new(redis::Script::new(GCRA)),
            last_warning: Arc::new(AtomicI64::new(0)),
        };
        limiter.reconnect_in_background();
        Ok(limiter)
    }

    /// Drops the current connection and keeps trying to open a new one, once at a
    /// time, until Redis answers.
    fn reconnect_in_background(&self) {
        if self.connecting.swap(true, Ordering::AcqRel) {
            return;
        }
        let (client, slot, connecting) = (
            self.client.clone(),
            self.connection.clone(),
            self.connecting.clone(),
        );
        tokio::spawn(async move {
            *slot.write().await = None;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Duration::from_secs(2))
                .set_response_timeout(REDIS_DEADLINE)
                .set_number_of_retries(1);
            loop {
                match ConnectionManager::new_with_config(client.clone(), config.clone()).await {
                    Ok(manager) => {
                        *slot.write().await = Some(manager);
                        connecting.store(false, Ordering::Release);
                        tracing::info!("connected to Redis for shared rate limits");
                        return;
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "Redis unreachable; using local rate limits until it answers");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
        });
    }

    /// Counts `cost` units of `class` for `key`; `None` when Redis could not decide
    /// (the caller falls back).
    pub async fn check(
        &self,
        class: LimitClass,
        key: &str,
        quota: LimitQuota,
        cost: u32,
    ) -> Option<SharedDecision> {
        let interval_ms = 60_000 / u64::from(quota.per_minute.max(1));
        self.gcra(class.name(), key, interval_ms, quota.burst, cost)
            .await
    }

    /// Whether this is the first call for `key` within `window`, across every
    /// instance; `None` when Redis could not decide.
    pub async fn first_in_window(&self, kind: &str, key: &str, window: Duration) -> Option<bool> {
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        let decision = self.gcra(kind, key, window_ms, 1, 1).await?;
        Some(matches!(decision, SharedDecision::Allowed { .. }))
    }

    async fn gcra(
        &self,
        kind: &str,
        key: &str,
        interval_ms: u64,
        burst: u32,
        cost: u32,
    ) -> Option<SharedDecision> {
        let mut connection = self.connection.read().await.clone()?;
        let burst = burst.max(1);
        let mut invocation = self.script.key(redis_key(kind, key));
        invocation
            .arg(interval_ms.max(1))
            .arg(burst)
            .arg(cost.clamp(1, burst));
        let outcome = tokio::time::timeout(
            REDIS_DEADLINE,
            invocation.invoke_async::<(i64, i64, i64)>(&mut connection),
        )
        .await;
        match outcome {
            Ok(Ok((1, _, remaining))) => Some(SharedDecision::Allowed {
                remaining: u32::try_from(remaining).unwrap_or(0),
            }),
            Ok(Ok((_, retry_ms, _))) => Some(SharedDecision::Limited {
                retry_after: Duration::from_millis(u64::try_from(retry_ms).unwrap_or(0)),
            }),
            Ok(Err(err)) => {
                self.warn_falling_back(&err.to_string());
                if err.is_io_error() || err.is_connection_dropped() || err.is_connection_refusal() {
                    self.reconnect_in_background();
                }
                None
            }
            Err(_) => {
                self.warn_falling_back("timed out");
                None
            }
        }
    }

    /// Whether Redis answers a PING, for readiness.
    pub async fn ping(&self) -> bool {
        let Some(mut connection) = self.connection.read().await.clone() else {
            return false;
        };
        let pong = tokio::time::timeout(
            REDIS_DEADLINE,
            redis::cmd("PING").query_async::<String>(&mut connection),
        )
        .await;
        matches!(pong, Ok(Ok(ref reply)) if reply == "PONG")
    }

    /// One warning every ten seconds at most: a Redis outage must not flood the log.
    fn warn_falling_back(&self, reason: &str) {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let last = self.last_warning.load(Ordering::Relaxed);
        if now - last >= 10
            && self
                .last_warning
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                reason,
                "Redis rate limiting failed; falling back to local limits"
            );
        }
    }
}

/// Keys are hashed: the limited values include email addresses.
fn redis_key(kind: &str, key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    format!("ironcart:rl:{kind}:{}", hex::encode(&digest[..16]))
}
