//! Accounts: registration, login, token refresh and revocation, password change.
//!
//! Login reveals nothing: an unknown email is checked against a dummy hash, so the
//! answer and its timing match a wrong password. Hashing runs on blocking threads,
//! a bounded number at a time.

use serde::Serialize;
use unicode_normalization::UnicodeNormalization;

use ironcart_security::password::{HashMemory, PasswordPolicy, Verification};
use ironcart_security::secret::SecretString;
use ironcart_security::tokens::{hash_refresh_token, new_refresh_token};

use crate::app::{AppState, REFRESH_TTL_SECS};
use crate::security::audit::{AuditEvent, Outcome};
use crate::store::{RefreshOutcome, StoreError, UserRecord};

/// A normalised email address: trimmed, NFC, lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let email: String = raw.trim().nfc().collect::<String>().to_lowercase();
        if email.len() > 254 {
            return Err("must be at most 254 characters");
        }
        let Some((local, domain)) = email.rsplit_once('@') else {
            return Err("must be an email address");
        };
        let bad_char = |c: char| {
            c.is_whitespace()
                || c.is_control()
                || matches!(c, '<' | '>' | '"' | '\\' | ',' | ';' | '@')
        };
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..");
        if local.is_empty()
            || local.len() > 64
            || !domain_ok
            || email.chars().filter(|c| *c == '@').count() != 1
            || local.chars().any(bad_char)
            || domain.chars().any(bad_char)
        {
            return Err("must be an email address");
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why an account operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("the email address is already registered")]
    EmailTaken,
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("password rejected")]
    WeakPassword { code: &'static str, message: String },
    #[error("the refresh token is not valid")]
    InvalidRefreshToken,
    #[error("password hashing is saturated")]
    Busy,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<StoreError> for AccountError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict => AccountError::EmailTaken,
            other => AccountError::Internal(other.into()),
        }
    }
}

/// Access and refresh token as the API returns them.
#[derive(Debug, Serialize)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
}

/// Runs one password hash or verification on a hashing thread, waiting briefly for
/// a free one so a login flood cannot starve other requests.
async fn with_hash_slot<T, F>(app: &AppState, work: F) -> Result<T, AccountError>
where
    F: FnOnce(&mut HashMemory) -> T + Send + 'static,
    T: Send + 'static,
{
    app.hashing.run(work).await.map_err(|_| AccountError::Busy)
}

async fn hash_password(app: &AppState, password: &SecretString) -> Result<String, AccountError> {
    let hasher = app.hasher.clone();
    let password = password.clone();
    with_hash_slot(app, move |memory| hasher.hash_with(memory, &password))
        .await?
        .map_err(|e| AccountError::Internal(anyhow::anyhow!("password hashing failed: {e}")))
}

fn check_policy(password: &SecretString, context: &[&str]) -> Result<(), AccountError> {
    PasswordPolicy::check(password.expose_secret(), context).map_err(|rejection| {
        AccountError::WeakPassword {
            code: rejection.code(),
            message: rejection.to_string(),
        }
    })
}

/// Creates a customer account. The role is always `customer`: nothing a client
/// sends can choose another.
pub async fn register(
    app: &AppState,
    email: &Email,
    name: &str,
    password: &SecretString,
) -> Result<UserRecord, AccountError> {
    check_policy(password, &[email.as_str(), name])?;
    let hash = hash_password(app, password).await?;
    let user = app
        .store
        .create_user(email.as_str(), name, &hash, &["customer"], app.now())
        .await?;
    let event = AuditEvent::new(app.now(), "account.registered", Outcome::Success)
        .actor(user.id.clone())
        .target(user.id.clone());
    app.events.record(event).await;
    Ok(user)
}

/// Creates an account with the given roles, for the administration CLI.
pub async fn create_with_roles(
    app: &AppState,
    email: &Email,
    name: &str,
    password: &SecretString,
    roles: &[&str],
) -> Result<UserRecord, AccountError> {
    check_policy(password, &[email.as_str(), name])?;
    let hash = hash_password(app, password).await?;
    Ok(app
        .store
        .create_user(email.as_str(), name, &hash, roles, app.now())
        .await?)
}

/// Checks credentials and opens a session.
pub async fn login(
    app: &AppState,
    email: &str,
    password: &SecretString,
) -> Result<TokenPair, AccountError> {
    let user = match Email::parse(email) {
        Ok(email) => app.store.user_by_email(email.as_str()).await?,
        Err(_) => None,
    };
    let verified = verify(app, user.as_ref(), password).await?;
    let Some((user, needs_rehash)) = verified else {
        let event = AuditEvent::new(app.now(), "auth.login", Outcome::Failure)
            .details(serde_json::json!({ "reason": "invalid_credentials" }))
            .correlate(email);
        app.events.record(event).await;
        return Err(AccountError::InvalidCredentials);
    };
    if needs_rehash {
        let hash = hash_password(app, password).await?;
        app.store
            .update_password_hash(&user.id, &hash, app.now())
            .await?;
    }
    let pair = open_session(app, &user.id).await?;
    let event = AuditEvent::new(app.now(), "auth.login", Outcome::Success).actor(user.id.clone());
    app.events.record(event).await;
    Ok(pair)
}

/// Verifies the password, always spending one hash's time. `None` for unknown
/// accounts, disabled accounts and wrong passwords alike.
async fn verify(
    app: &AppState,
    user: Option<&UserRecord>,
    password: &SecretString,
) -> Result<Option<(UserRecord, bool)>, AccountError> {
    let hasher = app.hasher.clone();
    let secret = password.clone();
    let Some(user) = user else {
        // The outcome is always Invalid; only the time spent matters here.
        let _ = with_hash_slot(app, move |memory| {
            hasher.verify_unknown_user_with(memory, &secret)
        })
        .await?;
        return Ok(None);
    };
    let stored = user.password_hash.clone();
    let outcome = with_hash_slot(app, move |memory| {
        hasher.verify_with(memory, &secret, &stored)
    })
    .await?;
    match outcome {
        Ok(Verification::Valid { needs_rehash }) if user.status == "active" => {
            Ok(Some((user.clone(), needs_rehash)))
        }
        Ok(_) => Ok(None),
        Err(e) => Err(AccountError::Internal(anyhow::anyhow!(
            "stored password hash unreadable: {e}"
        ))),
    }
}

fn fresh_refresh_token() -> Result<(SecretString, String), AccountError> {
    new_refresh_token().map_err(|e| AccountError::Internal(anyhow::anyhow!("{e}")))
}

async fn open_session(app: &AppState, user_id: &str) -> Result<TokenPair, AccountError> {
    let now = app.now();
    let (refresh, refresh_hash) = fresh_refresh_token()?;
    let session_id = app
        .store
        .create_session(user_id, &refresh_hash, now, now + REFRESH_TTL_SECS)
        .await?;
    token_pair(app, user_id, &session_id, refresh)
}

fn token_pair(
    app: &AppState,
    user_id: &str,
    session_id: &str,
    refresh: SecretString,
) -> Result<TokenPair, AccountError> {
    let issued = app
        .keys
        .issue_access_token(&app.token_config, user_id, session_id, app.now())
        .map_err(|e| AccountError::Internal(anyhow::anyhow!("token signing failed: {e}")))?;
    Ok(TokenPair {
        access_token: issued.token.expose_secret().to_owned(),
        refresh_token: refresh.expose_secret().to_owned(),
        token_type: "Bearer",
        expires_in: issued.expires_in,
    })
}

/// Rotates a refresh token. Replaying a spent one revokes its whole family.
pub async fn refresh(app: &AppState, presented: &SecretString) -> Result<TokenPair, AccountError> {
    let now = app.now();
    let (successor, successor_hash) = fresh_refresh_token()?;
    let outcome = app
        .store
        .rotate_refresh_token(
            &hash_refresh_token(presented.expose_secret()),
            &successor_hash,
            now,
            now + REFRESH_TTL_SECS,
        )
        .await?;
    match outcome {
        RefreshOutcome::Rotated(session) => {
            token_pair(app, &session.user_id, &session.session_id, successor)
        }
        RefreshOutcome::ReuseDetected(session) => {
            let event = AuditEvent::new(now, "auth.refresh_reuse", Outcome::Denied)
                .actor(session.user_id.clone())
                .target(session.session_id.clone())
                .details(serde_json::json!({ "action_taken": "session_family_revoked" }));
            app.events.record(event).await;
            Err(AccountError::InvalidRefreshToken)
        }
        RefreshOutcome::Invalid => Err(AccountError::InvalidRefreshToken),
    }
}

/// Ends the session a refresh token belongs to. Unknown tokens are ignored, so the
/// answer reveals nothing.
pub async fn logout(app: &AppState, presented: &SecretString) -> Result<(), AccountError> {
    let hash = hash_refresh_token(presented.expose_secret());
    if let Some(session) = app.store.session_of_refresh(&hash).await? {
        app.store
            .revoke_session(&session.session_id, "logout", app.now())
            .await?;
        let event = AuditEvent::new(app.now(), "auth.logout", Outcome::Success)
            .actor(session.user_id.clone())
            .target(session.session_id);
        app.events.record(event).await;
    }
    Ok(())
}

/// Changes the password after checking the current one; every session ends.
pub async fn change_password(
    app: &AppState,
    user_id: &str,
    current: &SecretString,
    new: &SecretString,
) -> Result<(), AccountError> {
    let user = app.store.user_by_id(user_id).await?;
    let Some((user, _)) = verify(app, user.as_ref(), current).await? else {
        let event = AuditEvent::new(app.now(), "account.password_change", Outcome::Failure)
            .actor(user_id.to_owned());
        app.events.record(event).await;
        return Err(AccountError::InvalidCredentials);
    };
    check_policy(new, &[user.email.as_str(), user.name.as_str()])?;
    let hash = hash_password(app, new).await?;
    app.store
        .update_password_hash(&user.id, &hash, app.now())
        .await?;
    let revoked = app
        .store
        .revoke_user_sessions(&user.id, "password_change", app.now())
        .await?;
    let event = AuditEvent::new(app.now(), "account.password_change", Outcome::Success)
        .actor(user.id.clone())
        .details(serde_json::json!({ "sessions_revoked": revoked }));
    app.events.record(event).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Email;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse("  Ann.Lee@Example.COM ").map(|e| e.0),
            Ok("ann.lee@example.com".to_owned())
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "a b@example.com",
            "ann@@example.com",
            "ann@example..com",
            "ann@.example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert!(Email::parse(&long_local).is_err());
    }
}
