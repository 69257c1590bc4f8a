//! Runtime configuration: command-line flags, `IRONCART_*` environment variables and an
//! optional TOML file, merged in that order of precedence over built-in defaults.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use ipnet::IpNet;
use serde::Deserialize;

use crate::store::KekSource;
use crate::store::crypto::KEK_VARIABLE;

use crate::security::bans::{BanSettings, Signal};
use crate::security::ratelimit::{LimitClass, LimitQuota, RateLimitSettings};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8443";
pub const DEFAULT_DATA_DIR: &str = "./data";

/// Options shared by every subcommand that opens the store.
#[derive(Args, Debug, Clone, Default)]
pub struct StoreArgs {
    /// Directory for the embedded database, generated keys and certificates.
    #[arg(long, env = "IRONCART_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL (`sqlite://…` or `postgres://…`); default: SQLite in the data directory.
    #[arg(long, env = "IRONCART_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// TOML configuration file; flags and environment variables override it.
    #[arg(long, env = "IRONCART_CONFIG")]
    pub config: Option<PathBuf>,
    /// File holding the key-encryption key (mode 0600); default: <data-dir>/keys/kek.
    /// The KEK may instead be given, base64, in the IRONCART_KEK environment variable.
    #[arg(long, env = "IRONCART_KEK_FILE")]
    pub kek_file: Option<PathBuf>,
}

/// Options of `ironcart serve`.
#[derive(Args, Debug, Clone, Default)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address to listen on.
    #[arg(long, env = "IRONCART_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// PEM certificate chain; with --tls-key replaces the generated self-signed one.
    #[arg(long, env = "IRONCART_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "IRONCART_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP. Only for running behind a TLS-terminating load balancer.
    #[arg(long, env = "IRONCART_INSECURE_PLAIN_HTTP")]
    pub insecure_plain_http: bool,
    /// Largest quantity of one variant in a cart line or order line.
    #[arg(long, env = "IRONCART_MAX_LINE_QUANTITY")]
    pub max_line_quantity: Option<i64>,
    /// Public base URL, used as the token issuer (`iss`).
    #[arg(long, env = "IRONCART_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// A load balancer address or network whose X-Forwarded-For is trusted (repeatable).
    #[arg(
        long = "trusted-proxy",
        env = "IRONCART_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_parser = parse_trusted_proxy
    )]
    pub trusted_proxies: Vec<IpNet>,
    /// Requests served at once before new ones are shed with 503.
    #[arg(long, env = "IRONCART_MAX_IN_FLIGHT")]
    pub max_in_flight: Option<usize>,
    /// Redis URL for rate limits shared by several instances.
    #[arg(long, env = "IRONCART_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// An OWASP CRS 4 directory to load into the WAF besides the embedded rules.
    #[arg(long, env = "IRONCART_WAF_RULES")]
    pub waf_rules: Option<PathBuf>,
    /// WAF paranoia level, 1 (fewest false positives) to 4.
    #[arg(long, env = "IRONCART_WAF_PARANOIA")]
    pub waf_paranoia: Option<u8>,
    /// Only report what the WAF would block.
    #[arg(long, env = "IRONCART_WAF_DETECTION_ONLY")]
    pub waf_detection_only: bool,
    /// An address or network never banned, e.g. monitoring (repeatable).
    #[arg(
        long = "ban-allow",
        env = "IRONCART_BAN_ALLOW",
        value_delimiter = ',',
        value_parser = parse_trusted_proxy
    )]
    pub ban_allow: Vec<IpNet>,
}

/// The same options as a configuration file spells them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    insecure_plain_http: Option<bool>,
    max_line_quantity: Option<i64>,
    public_url: Option<String>,
    trusted_proxies: Option<Vec<String>>,
    max_in_flight: Option<usize>,
    redis_url: Option<String>,
    waf_rules: Option<PathBuf>,
    waf_paranoia: Option<u8>,
    waf_detection_only: Option<bool>,
    kek_file: Option<PathBuf>,

    /// Quotas by limit class name (`[rate_limits.login-address]`); unnamed classes
    /// keep their defaults.
    rate_limits: Option<BTreeMap<String, QuotaFile>>,
    /// Intrusion prevention (`[bans]`).
    bans: Option<BansFile>,
}

/// `[bans]`: detector window and thresholds (`[bans.thresholds]`, by signal name;
/// 0 turns a detector off), ban length, and addresses never banned.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BansFile {
    window_secs: Option<i64>,
    ban_secs: Option<i64>,
    allow: Option<Vec<String>>,
    thresholds: Option<BTreeMap<String, u32>>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuotaFile {
    per_minute: u32,
    burst: u32,
}

impl FileConfig {
    fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read configuration file {}", path.display()))?;
        toml::from_str(&text)
            .with_context(|| format!("invalid configuration file {}", path.display()))
    }
}

/// Where the data lives, fully resolved.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub data_dir: PathBuf,
    pub database_url: String,
    /// Where the key-encryption key comes from (never the database).
    pub kek: KekSource,
}

/// Everything `serve` needs, fully resolved.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub store: StoreConfig,
    pub listen: SocketAddr,
    pub tls: TlsSource,
    pub max_line_quantity: i64,
    pub public_url: String,
    pub trusted_proxies: Vec<IpNet>,
    pub max_in_flight: usize,
    pub redis_url: Option<String>,
    pub waf: crate::edge::waf::WafSettings,

    pub rate_limits: RateLimitSettings,
    pub bans: BanSettings,
}

#[derive(Debug, Clone)]
pub enum TlsSource {
    /// Generate (once) and use a self-signed certificate in the data directory.
    SelfSigned,
    Files {
        cert: PathBuf,
        key: PathBuf,
    },
    /// Plain HTTP behind a TLS-terminating proxy; chosen explicitly only.
    Disabled,
}

impl StoreArgs {
    pub fn resolve(&self) -> anyhow::Result<StoreConfig> {
        let file = FileConfig::load(self.config.as_deref())?;
        resolve_store(self, &file)
    }
}

fn resolve_store(args: &StoreArgs, file: &FileConfig) -> anyhow::Result<StoreConfig> {
    let data_dir = args
        .data_dir
        .clone()
        .or_else(|| file.data_dir.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
    let database_url = args
        .database_url
        .clone()
        .or_else(|| file.database_url.clone())
        .unwrap_or_else(|| sqlite_url(&data_dir));
    let kek_file = args.kek_file.clone().or_else(|| file.kek_file.clone());
    let kek_variable = std::env::var_os(KEK_VARIABLE).is_some();
    let kek = match (kek_file, kek_variable) {
        (Some(_), true) => anyhow::bail!(
            "the KEK is given twice: set either {KEK_VARIABLE} or a KEK file, not both"
        ),
        (Some(path), false) => KekSource::File(path),
        (None, true) => KekSource::Variable,
        (None, false) => KekSource::default_file(&data_dir),
    };
    Ok(StoreConfig {
        data_dir,
        database_url,
        kek,
    })
}

fn sqlite_url(data_dir: &Path) -> String {
    format!(
        "sqlite://{}?mode=rwc",
        data_dir.join("ironcart.db").display()
    )
}

impl ServeArgs {
    pub fn resolve(&self) -> anyhow::Result<ServeConfig> {
        let file = FileConfig::load(self.store.config.as_deref())?;
        let store = resolve_store(&self.store, &file)?;
        let listen = match self.listen.or(file.listen) {
            Some(addr) => addr,
            None => DEFAULT_LISTEN.parse()?,
        };
        let plain = self.insecure_plain_http || file.insecure_plain_http.unwrap_or(false);
        let cert = self.tls_cert.clone().or(file.tls_cert);
        let key = self.tls_key.clone().or(file.tls_key);
        let tls = match (plain, cert, key) {
            (true, _, _) => TlsSource::Disabled,
            (false, Some(cert), Some(key)) => TlsSource::Files { cert, key },
            (false, None, None) => TlsSource::SelfSigned,
            _ => anyhow::bail!("tls_cert and tls_key must be given together"),
        };
        let max_line_quantity = self
            .max_line_quantity
            .or(file.max_line_quantity)
            .unwrap_or(crate::domain::cart::DEFAULT_MAX_LINE_QUANTITY);
        anyhow::ensure!(
            (1..=10_000).contains(&max_line_quantity),
            "max_line_quantity must be between 1 and 10000"
        );
        let scheme = if plain { "http" } else { "https" };
        let public_url = self
            .public_url
            .clone()
            .or(file.public_url)
            .unwrap_or_else(|| format!("{scheme}://{listen}"));
        let trusted_proxies = if self.trusted_proxies.is_empty() {
            file.trusted_proxies
                .unwrap_or_default()
                .iter()
                .map(|entry| parse_trusted_proxy(entry))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| anyhow::anyhow!("trusted_proxies: {e}"))?
        } else {
            self.trusted_proxies.clone()
        };
        let max_in_flight = self
            .max_in_flight
            .or(file.max_in_flight)
            .unwrap_or(crate::app::DEFAULT_MAX_IN_FLIGHT);
        anyhow::ensure!(max_in_flight >= 1, "max_in_flight must be at least 1");
        let rate_limits = rate_limit_settings(file.rate_limits.unwrap_or_default())?;
        let bans = ban_settings(file.bans.unwrap_or_default(), &self.ban_allow)?;
        Ok(ServeConfig {
            store,
            listen,
            tls,
            max_line_quantity,
            public_url,
            trusted_proxies,
            max_in_flight,
            redis_url: self.redis_url.clone().or(file.redis_url),
            waf: crate::edge::waf::WafSettings {
                mode: if self.waf_detection_only || file.waf_detection_only.unwrap_or(false) {
                    ironcart_waf::Mode::DetectionOnly
                } else {
                    ironcart_waf::Mode::Blocking
                },
                paranoia: self.waf_paranoia.or(file.waf_paranoia).unwrap_or(1),
                crs_dir: self.waf_rules.clone().or(file.waf_rules),
            },

            rate_limits,
            bans,
        })
    }
}

/// A trusted proxy: a network (`10.0.0.0/24`) or one address (`10.0.0.5`).
fn parse_trusted_proxy(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{text:?} is neither an IP address nor a network"))
}

/// The default quotas with the file's overrides; an unknown class name or a zero
/// quota is an error, not silently ignored.
fn rate_limit_settings(
    overrides: BTreeMap<String, QuotaFile>,
) -> anyhow::Result<RateLimitSettings> {
    let mut settings = RateLimitSettings::default();
    for (name, quota) in overrides {
        let Some(class) = LimitClass::ALL.into_iter().find(|c| c.name() == name) else {
            let known: Vec<&str> = LimitClass::ALL.iter().map(|c| c.name()).collect();
            anyhow::bail!(
                "unknown rate limit class {name:?} in rate_limits; classes: {}",
                known.join(", ")
            );
        };
        anyhow::ensure!(
            quota.per_minute >= 1 && quota.burst >= 1,
            "rate_limits.{name}: per_minute and burst must be at least 1"
        );
        let page = crate::edge::dto::MAX_PER_PAGE;
        anyhow::ensure!(
            class != LimitClass::PiiRead || i64::from(quota.burst) >= page,
            "rate_limits.{name}: burst must be at least {page}, the largest page"
        );
        settings.quotas.insert(
            class,
            LimitQuota {
                per_minute: quota.per_minute,
                burst: quota.burst,
            },
        );
    }
    Ok(settings)
}

/// The default ban settings with the file's overrides; flags replace the file's
/// allow-list. An unknown signal name or a window or ban under a minute is refused.
fn ban_settings(file: BansFile, allow_flags: &[IpNet]) -> anyhow::Result<BanSettings> {
    let defaults = BanSettings::default();
    let mut settings = BanSettings {
        window_secs: file.window_secs.unwrap_or(defaults.window_secs),
        ban_secs: file.ban_secs.unwrap_or(defaults.ban_secs),
        ..defaults
    };
    anyhow::ensure!(
        settings.window_secs >= 1 && settings.ban_secs >= 60,
        "bans: window_secs must be at least 1 and ban_secs at least 60"
    );
    for (name, threshold) in file.thresholds.unwrap_or_default() {
        let Some(signal) = Signal::ALL.into_iter().find(|s| s.name() == name) else {
            let known: Vec<&str> = Signal::ALL.iter().map(|s| s.name()).collect();
            anyhow::bail!(
                "unknown signal {name:?} in bans.thresholds; signals: {}",
                known.join(", ")
            );
        };
        if threshold == 0 {
            settings.thresholds.remove(&signal);
        } else {
            settings.thresholds.insert(signal, threshold);
        }
    }
    settings.allow = if allow_flags.is_empty() {
        file.allow
            .unwrap_or_default()
            .iter()
            .map(|entry| parse_trusted_proxy(entry))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!("bans.allow: {e}"))?
    } else {
        allow_flags.to_vec()
    };
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve_file(text: &str) -> anyhow::Result<ServeConfig> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("ironcart.toml");
        std::fs::write(&path, text)?;
        let args = ServeArgs {
            store: StoreArgs {
                config: Some(path),
                ..StoreArgs::default()
            },
            ..ServeArgs::default()
        };
        args.resolve()
    }

    #[test]
    fn rate_limit_quotas_come_from_the_file_and_others_keep_their_defaults() {
        let config = resolve_file(
            "[rate_limits.login-address]\nper_minute = 2\nburst = 7\n\n\
             [rate_limits.address]\nper_minute = 6000\nburst = 900\n\n\
             [rate_limits.pii-read]\nper_minute = 3\nburst = 150\n",
        )
        .expect("valid file");
        let quotas = &config.rate_limits.quotas;
        assert_eq!(
            quotas[&LimitClass::LoginAddress],
            LimitQuota {
                per_minute: 2,
                burst: 7
            }
        );
        assert_eq!(
            quotas[&LimitClass::Address],
            LimitQuota {
                per_minute: 6000,
                burst: 900
            }
        );
        assert_eq!(
            quotas[&LimitClass::PiiRead],
            LimitQuota {
                per_minute: 3,
                burst: 150
            }
        );
        assert_eq!(
            quotas[&LimitClass::LoginAccount],
            RateLimitSettings::default().quotas[&LimitClass::LoginAccount]
        );
    }

    #[test]
    fn a_trusted_proxy_is_an_address_or_a_network() {
        let net = |s: &str| s.parse::<IpNet>().expect("net");
        assert_eq!(parse_trusted_proxy("127.0.0.1"), Ok(net("127.0.0.1/32")));
        assert_eq!(parse_trusted_proxy("::1"), Ok(net("::1/128")));
        assert_eq!(parse_trusted_proxy("10.0.0.0/8"), Ok(net("10.0.0.0/8")));
        assert!(parse_trusted_proxy("10.0.0.0/33").is_err());
        assert!(parse_trusted_proxy("proxy.internal").is_err());
        let config = resolve_file("trusted_proxies = [\"10.0.0.5\", \"192.168.0.0/16\"]\n")
            .expect("valid file");
        assert_eq!(
            config.trusted_proxies,
            vec![net("10.0.0.5/32"), net("192.168.0.0/16")]
        );
        assert!(resolve_file("trusted_proxies = [\"nope\"]\n").is_err());
    }

    #[test]
    fn an_unknown_class_or_a_zero_quota_is_refused() {
        let unknown = resolve_file("[rate_limits.logins]\nper_minute = 1\nburst = 1\n")
            .expect_err("unknown class");
        assert!(format!("{unknown:#}").contains("unknown rate limit class \"logins\""));
        let zero = resolve_file("[rate_limits.checkout]\nper_minute = 0\nburst = 1\n")
            .expect_err("zero quota");
        assert!(format!("{zero:#}").contains("at least 1"));
        let small = resolve_file("[rate_limits.pii-read]\nper_minute = 5\nburst = 99\n")
            .expect_err("a page must fit the burst");
        assert!(format!("{small:#}").contains("burst must be at least 100"));
        let typo = resolve_file("[rate_limits.checkout]\nper_minut = 5\nburst = 1\n")
            .expect_err("unknown field");
        assert!(format!("{typo:#}").contains("invalid configuration file"));
    }

    #[test]
    fn ban_settings_come_from_the_file() {
        let config = resolve_file(
            "[bans]\nban_secs = 7200\nallow = [\"192.0.2.10\", \"198.51.100.0/24\"]\n\n\
             [bans.thresholds]\nwaf-blocked = 3\nrate-limited = 0\n",
        )
        .expect("valid file");
        let bans = &config.bans;
        assert_eq!(bans.ban_secs, 7200);
        assert_eq!(bans.window_secs, BanSettings::default().window_secs);
        assert_eq!(bans.thresholds.get(&Signal::WafBlocked), Some(&3));
        assert_eq!(bans.thresholds.get(&Signal::RateLimited), None);
        assert_eq!(
            bans.thresholds.get(&Signal::FailedLogin),
            BanSettings::default().thresholds.get(&Signal::FailedLogin)
        );
        let net = |s: &str| s.parse::<IpNet>().expect("net");
        assert_eq!(
            bans.allow,
            vec![net("192.0.2.10/32"), net("198.51.100.0/24")]
        );
        let unknown = resolve_file("[bans.thresholds]\nwaf = 3\n").expect_err("unknown signal");
        assert!(format!("{unknown:#}").contains("unknown signal \"waf\""));
        assert!(resolve_file("[bans]\nban_secs = 5\n").is_err());
    }
}
