//! First start: the data directory, secret files with safe modes, and the first
//! administrator account.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::Context;
use base64::Engine;
use rand::RngCore;

use crate::app::AppState;
use crate::domain::customers::{self, Email};

pub const INITIAL_ADMIN_EMAIL: &str = "admin@ironcart.local";
pub const INITIAL_ADMIN_PASSWORD_FILE: &str = "initial-admin-password";

/// Creates a directory readable by its owner only.
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot restrict {}", dir.display()))?;
    Ok(())
}

/// Writes a new file with mode 0600; refuses to overwrite an existing one.
pub fn write_secret_file(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(contents)
        .and_then(|_| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// On an empty database, creates the first admin with a random password written to
/// a 0600 file. The file's path is logged; the password never is.
///
/// Several instances may start at once on one empty database: the password is
/// written to a file of this process's own first, and moved into place only once
/// this process's account creation has won. A loser removes its file and carries on.
pub async fn ensure_first_admin(app: &AppState, data_dir: &Path) -> anyhow::Result<()> {
    if app.store.count_users().await? > 0 {
        return Ok(());
    }
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    let password = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let path = data_dir.join(INITIAL_ADMIN_PASSWORD_FILE);
    let pending = data_dir.join(format!(
        "{INITIAL_ADMIN_PASSWORD_FILE}.{}.pending",
        uuid::Uuid::new_v4().simple()
    ));
    write_secret_file(&pending, format!("{password}\n").as_bytes())?;
    let email = Email::parse(INITIAL_ADMIN_EMAIL).map_err(|e| anyhow::anyhow!(e))?;
    let secret = ironcart_security::secret::SecretString::from(password);
    let created =
        customers::create_with_roles(app, &email, "Administrator", &secret, &["admin"]).await;
    match created {
        Ok(_) => {
            std::fs::rename(&pending, &path)
                .with_context(|| format!("cannot move the password file to {}", path.display()))?;
            tracing::warn!(
                email = INITIAL_ADMIN_EMAIL,
                password_file = %path.display(),
                "created the first admin account; its password is in the file (mode 0600): change it"
            );
            Ok(())
        }
        Err(customers::AccountError::EmailTaken) => {
            let _ = std::fs::remove_file(&pending);
            tracing::info!("another instance created the first admin account");
            Ok(())
        }
        Err(err) => {
            let _ = std::fs::remove_file(&pending);
            Err(anyhow::anyhow!("cannot create the first admin: {err}"))
        }
    }
}
