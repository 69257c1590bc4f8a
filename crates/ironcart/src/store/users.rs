//! Accounts, roles and sessions (refresh-token families).

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, StoreResult, new_id};

/// An account as stored. `password_hash` is a PHC string, never a password.
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub id: String,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub status: String,
    pub created_at: i64,
    pub roles: Vec<String>,
}

/// What authentication re-checks on every request carrying an access token.
#[derive(Debug, Clone)]
pub struct AccountState {
    pub active: bool,
    pub session_revoked: bool,
    pub roles: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub session_id: String,
    pub user_id: String,
}

/// The result of presenting a refresh token.
#[derive(Debug)]
pub enum RefreshOutcome {
    Rotated(SessionRecord),
    /// An already-rotated token came back: the whole family was revoked.
    ReuseDetected(SessionRecord),
    Invalid,
}

/// The columns every user query reads; email and name are envelopes.
macro_rules! user_columns {
    () => {
        "id, email_enc, name_enc, password_hash, status, created_at"
    };
}

impl Store {
    /// A user row with its email and name decrypted (or a recorded failure).
    async fn user_from_row(&self, row: &AnyRow) -> StoreResult<UserRecord> {
        let id: String = row.try_get("id")?;
        let email_enc: String = row.try_get("email_enc")?;
        let name_enc: String = row.try_get("name_enc")?;
        Ok(UserRecord {
            email: self.open("users", "email_enc", &id, &email_enc).await?,
            name: self.open("users", "name_enc", &id, &name_enc).await?,
            password_hash: row.try_get("password_hash")?,
            status: row.try_get("status")?,
            created_at: row.try_get("created_at")?,
            roles: Vec::new(),
            id,
        })
    }

    /// Creates an account with the given roles. `Conflict` if the email is taken.
    pub async fn create_user(
        &self,
        email: &str,
        name: &str,
        password_hash: &str,
        roles: &[&str],
        now: i64,
    ) -> StoreResult<UserRecord> {
        let id = new_id();
        let email_index = self.email_index(email)?;
        let email_enc = self.seal("users", "email_enc", &id, email)?;
        let name_enc = self.seal("users", "name_enc", &id, name)?;
        let mut tx = self.begin_write().await?;
        // The legacy `email` and `name` columns get the id and '' (see 0003).
        sqlx::query(
            "INSERT INTO users (id, email, name, email_index, email_enc, name_enc, \
             password_hash, status, created_at, updated_at) \
             VALUES ($1, $1, '', $2, $3, $4, $5, 'active', $6, $6)",
        )
        .bind(&id)
        .bind(email_index)
        .bind(email_enc)
        .bind(name_enc)
        .bind(password_hash)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_write)?;
        for role in roles {
            sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2)")
                .bind(&id)
                .bind(*role)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_write)?;
        }
        tx.commit().await?;
        Ok(UserRecord {
            id,
            email: email.to_owned(),
            name: name.to_owned(),
            password_hash: password_hash.to_owned(),
            status: "active".to_owned(),
            created_at: now,
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        })
    }

    pub async fn count_users(&self) -> StoreResult<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM users")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// Finds an account through the email's blind index. The decrypted email must be
    /// the one asked for: an index value moved to another row is tampering.
    pub async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE email_index = $1"
        ))
        .bind(self.email_index(email)?)
        .fetch_optional(&self.pool)
        .await?;
        let user = self.with_roles(row).await?;
        if let Some(user) = &user
            && ironcart_vault::normalize_email(&user.email)
                != ironcart_vault::normalize_email(email)
        {
            return Err(self
                .decrypt_failed("users", "email_index", &user.id, "index_mismatch")
                .await);
        }
        Ok(user)
    }

    pub async fn user_by_id(&self, id: &str) -> StoreResult<Option<UserRecord>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        self.with_roles(row).await
    }

    async fn with_roles(&self, row: Option<AnyRow>) -> StoreResult<Option<UserRecord>> {
        let Some(row) = row else { return Ok(None) };
        let mut user = self.user_from_row(&row).await?;
        user.roles = self.roles_of(&user.id).await?;
        Ok(Some(user))
    }

    pub async fn roles_of(&self, user_id: &str) -> StoreResult<Vec<String>> {
        let rows = sqlx::query("SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role")
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| r.try_get("role").map_err(StoreError::from))
            .collect()
    }

    /// Users, newest first, with their roles.
    pub async fn list_users(&self, limit: i64, offset: i64) -> StoreResult<(Vec<UserRecord>, i64)> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2"
        ))
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let mut users = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut user = self.user_from_row(row).await?;
            user.roles = self.roles_of(&user.id).await?;
            users.push(user);
        }
        let total: i64 = sqlx::query("SELECT COUNT(*) AS n FROM users")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        Ok((users, total))
    }

    /// Accounts holding `role`, oldest first, at most `limit`, with how many hold it.
    pub async fn users_with_role(
        &self,
        role: &str,
        limit: i64,
    ) -> StoreResult<(Vec<UserRecord>, i64)> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id IN (SELECT user_id FROM user_roles WHERE role = $1) \
             ORDER BY created_at, id LIMIT $2"
        ))
        .bind(role)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut users = Vec::with_capacity(rows.len());
        for row in &rows {
            users.push(self.user_from_row(row).await?);
        }
        let total: i64 = sqlx::query("SELECT COUNT(*) AS n FROM user_roles WHERE role = $1")
            .bind(role)
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        Ok((users, total))
    }

    pub async fn update_password_hash(
        &self,
        user_id: &str,
        password_hash: &str,
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(password_hash)
            .bind(now)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn update_name(&self, user_id: &str, name: &str, now: i64) -> StoreResult<()> {
        let name_enc = self.seal("users", "name_enc", user_id, name)?;
        sqlx::query("UPDATE users SET name_enc = $1, updated_at = $2 WHERE id = $3")
            .bind(name_enc)
            .bind(now)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Sets an account's status (`active` or `disabled`). A disabled account cannot
    /// log in, and its live tokens stop working at their next use. Any other status
    /// is a `Conflict` (the column's CHECK); a missing user is `NotFound`.
    pub async fn set_user_status(&self, user_id: &str, status: &str, now: i64) -> StoreResult<()> {
        let done = sqlx::query("UPDATE users SET status = $1, updated_at = $2 WHERE id = $3")
            .bind(status)
            .bind(now)
            .bind(user_id)
            .execute(&self.pool)
            .await
            .map_err(StoreError::from_write)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Replaces a user's roles. Unknown role names are a `Conflict`; a missing user
    /// is `NotFound`.
    pub async fn set_roles(&self, user_id: &str, roles: &[String]) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let exists = sqlx::query("SELECT id FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        sqlx::query("DELETE FROM user_roles WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        for role in roles {
            sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2)")
                .bind(user_id)
                .bind(role)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_write)?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every (role, permission) pair: the RBAC policy as data.
    pub async fn role_permissions(&self) -> StoreResult<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT role, permission FROM role_permissions ORDER BY role")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("role")?, r.try_get("permission")?)))
            .collect()
    }

    /// Account status, session revocation and roles in one round trip, so that
    /// logout, password change, role change and disabling take effect immediately.
    pub async fn account_state(
        &self,
        user_id: &str,
        session_id: &str,
    ) -> StoreResult<Option<AccountState>> {
        let row = sqlx::query(
            "SELECT u.status AS status, s.revoked_at AS revoked_at FROM sessions s \
             JOIN users u ON u.id = s.user_id WHERE s.id = $1 AND u.id = $2",
        )
        .bind(session_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let status: String = row.try_get("status")?;
        let revoked_at: Option<i64> = row.try_get("revoked_at")?;
        Ok(Some(AccountState {
            active: status == "active",
            session_revoked: revoked_at.is_some(),
            roles: self.roles_of(user_id).await?,
        }))
    }

    /// Opens a session (a refresh-token family) with its first refresh token.
    pub async fn create_session(
        &self,
        user_id: &str,
        refresh_hash: &str,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<String> {
        let session_id = new_id();
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO sessions (id, user_id, created_at) VALUES ($1, $2, $3)")
            .bind(&session_id)
            .bind(user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        insert_refresh(&mut tx, refresh_hash, &session_id, now, expires_at).await?;
        tx.commit().await?;
        Ok(session_id)
    }

    /// Spends a refresh token and records its successor in the same family.
    /// Presenting a token that was already spent revokes the family. A disabled
    /// account's tokens are refused without being spent.
    pub async fn rotate_refresh_token(
        &self,
        presented_hash: &str,
        successor_hash: &str,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<RefreshOutcome> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "SELECT rt.session_id AS session_id, rt.expires_at AS expires_at, \
             rt.used_at AS used_at, s.revoked_at AS revoked_at, s.user_id AS user_id, \
             u.status AS status \
             FROM refresh_tokens rt JOIN sessions s ON s.id = rt.session_id \
             JOIN users u ON u.id = s.user_id \
             WHERE rt.token_hash = $1",
        )
        .bind(presented_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(RefreshOutcome::Invalid);
        };
        let session = SessionRecord {
            session_id: row.try_get("session_id")?,
            user_id: row.try_get("user_id")?,
        };
        let revoked_at: Option<i64> = row.try_get("revoked_at")?;
        let used_at: Option<i64> = row.try_get("used_at")?;
        let token_expires: i64 = row.try_get("expires_at")?;
        let status: String = row.try_get("status")?;
        if revoked_at.is_some() {
            return Ok(RefreshOutcome::Invalid);
        }
        if used_at.is_some() {
            revoke_session_in(&mut tx, &session.session_id, "refresh_token_reuse", now).await?;
            tx.commit().await?;
            return Ok(RefreshOutcome::ReuseDetected(session));
        }
        if token_expires <= now || status != "active" {
            return Ok(RefreshOutcome::Invalid);
        }
        let spent = sqlx::query(
            "UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
        )
        .bind(now)
        .bind(presented_hash)
        .execute(&mut *tx)
        .await?;
        if spent.rows_affected() != 1 {
            return Ok(RefreshOutcome::Invalid);
        }
        insert_refresh(
            &mut tx,
            successor_hash,
            &session.session_id,
            now,
            expires_at,
        )
        .await?;
        tx.commit().await?;
        Ok(RefreshOutcome::Rotated(session))
    }

    /// The live session a refresh token belongs to, if any.
    pub async fn session_of_refresh(
        &self,
        presented_hash: &str,
    ) -> StoreResult<Option<SessionRecord>> {
        let row = sqlx::query(
            "SELECT s.id AS session_id, s.user_id AS user_id FROM refresh_tokens rt \
             JOIN sessions s ON s.id = rt.session_id \
             WHERE rt.token_hash = $1 AND s.revoked_at IS NULL",
        )
        .bind(presented_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(SessionRecord {
                session_id: r.try_get("session_id")?,
                user_id: r.try_get("user_id")?,
            })
        })
        .transpose()
    }

    pub async fn revoke_session(
        &self,
        session_id: &str,
        reason: &str,
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        revoke_session_in(&mut tx, session_id, reason, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Revokes every live session of a user (password change, role change).
    pub async fn revoke_user_sessions(
        &self,
        user_id: &str,
        reason: &str,
        now: i64,
    ) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 \
             WHERE user_id = $3 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(reason)
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}

async fn insert_refresh(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    token_hash: &str,
    session_id: &str,
    now: i64,
    expires_at: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, session_id, issued_at, expires_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash)
    .bind(session_id)
    .bind(now)
    .bind(expires_at)
    .execute(&mut **tx)
    .await
    .map_err(StoreError::from_write)?;
    Ok(())
}

async fn revoke_session_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    session_id: &str,
    reason: &str,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 \
         WHERE id = $3 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(reason)
    .bind(session_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
