//! Issuing and verifying access tokens: the claims we put in, and the rules a
//! presented token's claims must meet after its signature has been checked.

use serde::{Deserialize, Serialize};
use uuid::Builder;

use super::jws::{MAX_TOKEN_BYTES, sign_compact, verify_compact};
use super::keys::SigningKeys;
use crate::random::{RandomnessUnavailable, random_bytes};
use crate::secret::SecretString;

/// Who issues tokens for whom, and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenConfig {
    /// `iss` claim: this service's identifier (usually its public URL).
    pub issuer: String,
    /// `aud` claim: the API the tokens are for.
    pub audience: String,
    /// Access token lifetime in seconds.
    pub access_ttl_secs: i64,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
    pub leeway_secs: i64,
}

impl TokenConfig {
    /// Fifteen minutes: short enough that a stolen access token is soon
    /// useless, since access tokens cannot be revoked one by one.
    pub const DEFAULT_ACCESS_TTL_SECS: i64 = 900;
    /// Covers ordinary clock drift between the app instances.
    pub const DEFAULT_LEEWAY_SECS: i64 = 30;

    /// A configuration with the default lifetime and leeway.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            access_ttl_secs: Self::DEFAULT_ACCESS_TTL_SECS,
            leeway_secs: Self::DEFAULT_LEEWAY_SECS,
        }
    }
}

/// The claims of an access token (RFC 9068 profile plus `sid`).
///
/// Unknown members are refused on verification: we are the only issuer, so a
/// claim we do not know means a token we did not make. Adding a claim means
/// deploying the verifier change before the issuer change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The customer (account id).
    pub sub: String,
    /// The session, i.e. the refresh-token family this token was minted from,
    /// so that revoking the session can be checked against it.
    pub sid: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    /// Unique token id (UUID v4), for audit logs and deny lists.
    pub jti: String,
}

/// A freshly signed access token, ready for the token endpoint response.
#[derive(Debug)]
pub struct IssuedToken {
    /// The bearer token; a [`SecretString`] so it stays out of logs.
    pub token: SecretString,
    /// Seconds until it expires (the OAuth `expires_in` field).
    pub expires_in: i64,
    pub jti: String,
}

/// Why an access token could not be issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssueError {
    #[error("cannot issue access token: {0}")]
    InvalidInput(&'static str),
    #[error(transparent)]
    Randomness(#[from] RandomnessUnavailable),
}

/// Why an access token was refused. The variants let tests and logs tell the
/// reasons apart; clients should get one generic 401 whatever the variant.
/// Display never includes the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a well-formed compact JWS of acceptable size.
    #[error("malformed access token: {0}")]
    Malformed(&'static str),
    /// `alg` is missing or anything but `EdDSA`.
    #[error("access token algorithm refused: {0}")]
    Algorithm(&'static str),
    /// Wrong `typ`, missing `kid`, or a header member we never issue.
    #[error("access token header refused: {0}")]
    Header(&'static str),
    /// `kid` names no key in our ring.
    #[error("access token signed with an unknown key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("access token signature is invalid")]
    Signature,
    #[error("access token has expired")]
    Expired,
    #[error("access token is not valid yet")]
    NotYetValid,
    /// A claim is missing, of the wrong type, or does not match our config.
    #[error("access token claims refused: {0}")]
    Claims(&'static str),
}

impl SigningKeys {
    /// Issues an access token for customer `sub` in session `sid`, valid from
    /// `now` (Unix seconds) for `cfg.access_ttl_secs`.
    pub fn issue_access_token(
        &self,
        cfg: &TokenConfig,
        sub: &str,
        sid: &str,
        now: i64,
    ) -> Result<IssuedToken, IssueError> {
        check_issue_input(cfg, sub, sid)?;
        let exp = now
            .checked_add(cfg.access_ttl_secs)
            .ok_or(IssueError::InvalidInput("expiry time overflows"))?;
        let jti = Builder::from_random_bytes(*random_bytes::<16>()?)
            .into_uuid()
            .to_string();
        let claims = AccessClaims {
            iss: cfg.issuer.clone(),
            aud: cfg.audience.clone(),
            sub: sub.to_owned(),
            sid: sid.to_owned(),
            iat: now,
            nbf: now,
            exp,
            jti: jti.clone(),
        };
        let payload = serde_json::to_vec(&claims)
            .map_err(|_| IssueError::InvalidInput("claims cannot be encoded"))?;
        let token = sign_compact(self.signer(), self.signing_kid(), &payload)
            .map_err(|_| IssueError::InvalidInput("header cannot be encoded"))?;
        if token.len() > MAX_TOKEN_BYTES {
            return Err(IssueError::InvalidInput(
                "token would exceed the size limit",
            ));
        }
        Ok(IssuedToken {
            token: SecretString::new(token),
            expires_in: cfg.access_ttl_secs,
            jti,
        })
    }

    /// Verifies a presented access token at time `now` (Unix seconds) and
    /// returns its claims. See [`TokenError`] for the reasons for refusal.
    pub fn verify_access_token(
        &self,
        cfg: &TokenConfig,
        token: &str,
        now: i64,
    ) -> Result<AccessClaims, TokenError> {
        let payload = verify_compact(self, token)?;
        let received: ReceivedClaims = serde_json::from_slice(&payload)
            .map_err(|_| TokenError::Claims("claims are not the expected JSON object"))?;
        received.validate(cfg, now)
    }
}

fn check_issue_input(cfg: &TokenConfig, sub: &str, sid: &str) -> Result<(), IssueError> {
    let problem = if cfg.access_ttl_secs <= 0 {
        "access_ttl_secs must be positive"
    } else if cfg.leeway_secs < 0 {
        "leeway_secs must not be negative"
    } else if cfg.issuer.is_empty() || cfg.audience.is_empty() {
        "issuer and audience must be set"
    } else if sub.is_empty() || sid.is_empty() {
        "sub and sid must not be empty"
    } else {
        return Ok(());
    };
    Err(IssueError::InvalidInput(problem))
}

/// `aud` may be one string or an array of strings (RFC 7519 section 4.1.3).
#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn includes(&self, audience: &str) -> bool {
        match self {
            Self::One(one) => one == audience,
            Self::Many(many) => many.iter().any(|one| one == audience),
        }
    }
}

/// Claims as received, before validation: everything optional so a missing
/// claim is reported as such; duplicate and unknown members are refused by
/// serde.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceivedClaims {
    iss: Option<String>,
    aud: Option<Audience>,
    sub: Option<String>,
    sid: Option<String>,
    iat: Option<i64>,
    nbf: Option<i64>,
    exp: Option<i64>,
    jti: Option<String>,
}

impl ReceivedClaims {
    fn validate(self, cfg: &TokenConfig, now: i64) -> Result<AccessClaims, TokenError> {
        let iss = self.iss.ok_or(TokenError::Claims("iss is missing"))?;
        if iss != cfg.issuer {
            return Err(TokenError::Claims("iss is not our issuer"));
        }
        let aud = self.aud.ok_or(TokenError::Claims("aud is missing"))?;
        if !aud.includes(&cfg.audience) {
            return Err(TokenError::Claims("aud does not include our audience"));
        }
        let sub = required_text(self.sub, "sub is missing or empty")?;
        let sid = required_text(self.sid, "sid is missing or empty")?;
        let jti = required_text(self.jti, "jti is missing or empty")?;
        let exp = self.exp.ok_or(TokenError::Claims("exp is missing"))?;
        let nbf = self.nbf.ok_or(TokenError::Claims("nbf is missing"))?;
        let iat = self.iat.ok_or(TokenError::Claims("iat is missing"))?;
        check_time_window(cfg, now, exp, nbf, iat)?;
        Ok(AccessClaims {
            iss,
            aud: cfg.audience.clone(),
            sub,
            sid,
            iat,
            nbf,
            exp,
            jti,
        })
    }
}

fn required_text(value: Option<String>, problem: &'static str) -> Result<String, TokenError> {
    value
        .filter(|text| !text.is_empty())
        .ok_or(TokenError::Claims(problem))
}

/// Valid while `nbf - leeway <= now < exp + leeway`, and `iat` may be at most
/// `leeway` ahead of `now`. Saturating arithmetic keeps extreme values from
/// wrapping around into the valid window.
fn check_time_window(
    cfg: &TokenConfig,
    now: i64,
    exp: i64,
    nbf: i64,
    iat: i64,
) -> Result<(), TokenError> {
    let leeway = cfg.leeway_secs.max(0);
    if now >= exp.saturating_add(leeway) {
        return Err(TokenError::Expired);
    }
    if nbf > now.saturating_add(leeway) {
        return Err(TokenError::NotYetValid);
    }
    if iat > now.saturating_add(leeway) {
        return Err(TokenError::Claims("iat is in the future"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> TokenConfig {
        TokenConfig::new("https://shop.example", "ironcart-api")
    }

    #[test]
    fn time_window_edges_honour_leeway() {
        let cfg = cfg();
        // exp = 1000, leeway 30: valid up to and including 1029.
        assert_eq!(check_time_window(&cfg, 1029, 1000, 0, 0), Ok(()));
        assert_eq!(
            check_time_window(&cfg, 1030, 1000, 0, 0),
            Err(TokenError::Expired)
        );
        // nbf = 1000: valid from 970 on.
        assert_eq!(check_time_window(&cfg, 970, 2000, 1000, 0), Ok(()));
        assert_eq!(
            check_time_window(&cfg, 969, 2000, 1000, 0),
            Err(TokenError::NotYetValid)
        );
        assert_eq!(
            check_time_window(&cfg, 969, 2000, 0, 1000),
            Err(TokenError::Claims("iat is in the future"))
        );
    }

    #[test]
    fn extreme_times_do_not_wrap_around() {
        let cfg = cfg();
        assert_eq!(
            check_time_window(&cfg, i64::MAX, i64::MAX, 0, 0),
            Err(TokenError::Expired)
        );
        assert_eq!(
            check_time_window(&cfg, i64::MIN, i64::MAX, i64::MIN, i64::MIN),
            Ok(())
        );
        assert_eq!(
            check_time_window(&cfg, 0, i64::MIN, 0, 0),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn audience_may_be_a_string_or_an_array() -> Result<(), serde_json::Error> {
        let one: Audience = serde_json::from_str(r#""ironcart-api""#)?;
        let many: Audience = serde_json::from_str(r#"["other","ironcart-api"]"#)?;
        let none: Audience = serde_json::from_str(r#"["other"]"#)?;
        assert!(one.includes("ironcart-api"));
        assert!(many.includes("ironcart-api"));
        assert!(!none.includes("ironcart-api"));
        assert!(!one.includes("ironcart"));
        Ok(())
    }

    #[test]
    fn duplicate_and_unknown_claims_are_refused() {
        let duplicate = br#"{"sub":"a","sub":"b"}"#;
        assert!(serde_json::from_slice::<ReceivedClaims>(duplicate).is_err());
        let unknown = br#"{"sub":"a","admin":true}"#;
        assert!(serde_json::from_slice::<ReceivedClaims>(unknown).is_err());
        let fractional = br#"{"exp":1.5}"#;
        assert!(serde_json::from_slice::<ReceivedClaims>(fractional).is_err());
        assert!(serde_json::from_slice::<ReceivedClaims>(br#"{"sub":"a"}"#).is_ok());
    }

    #[test]
    fn issue_refuses_bad_configuration() {
        let mut bad = cfg();
        bad.access_ttl_secs = 0;
        assert_eq!(
            check_issue_input(&bad, "u", "s"),
            Err(IssueError::InvalidInput("access_ttl_secs must be positive"))
        );
        assert_eq!(
            check_issue_input(&cfg(), "", "s"),
            Err(IssueError::InvalidInput("sub and sid must not be empty"))
        );
        assert_eq!(check_issue_input(&cfg(), "u", "s"), Ok(()));
    }
}
