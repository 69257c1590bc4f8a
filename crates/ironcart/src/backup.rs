//! `ironcart backup FILE` and `ironcart restore FILE`: encrypted, integrity-checked
//! backups of the embedded SQLite database.
//!
//! **Backup** runs while servers keep serving. It opens the database like every other
//! command, proves that the KEK it was given is the one the data keys are wrapped
//! under, and takes a transactionally consistent snapshot with `VACUUM INTO` (one read
//! transaction: in WAL mode writers are not blocked). The snapshot goes to a file of
//! mode 0600 in a fresh directory of mode 0700 beside the database, is checked
//! (`integrity_check`, `foreign_key_check`), then encrypted into FILE with
//! [`ironcart_vault::backup`]: AES-256-GCM in STREAM chunks under a fresh key that the
//! KEK wraps, behind an authenticated, versioned header. The encrypted file is
//! written under a temporary name (0600) and renamed into place once complete and
//! synced; the plaintext snapshot is removed whatever happens (also on Ctrl-C or
//! SIGTERM). The backup is recorded in the audit trail (`backup.created`).
//!
//! **Restore** needs the servers stopped. It decrypts and verifies the whole file
//! into a private temporary directory beside the target (so that a tampered, cut or
//! wrong-key file never gets near it), runs SQLite's integrity checks on the result,
//! checks that it is an Ironcart database whose data keys the KEK opens, and only then
//! renames it over the target, atomically. An existing database is replaced only
//! with `--force`, and only when no other process has it open.
//!
//! PostgreSQL deployments use the server's own tools (`pg_dump`, or base backups with
//! WAL archiving for point-in-time recovery): both commands refuse a PostgreSQL URL.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use ironcart_vault::Kek;
use ironcart_vault::backup::BackupHeader;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::clock::Clock;
use crate::config::{StoreArgs, StoreConfig};
use crate::security::audit::{AuditEvent, Outcome, SecurityEvents};
use crate::store::backup::{
    SnapshotCheck, check_sqlite_file, sqlite_path, take_over_idle_sqlite_file,
};
use crate::store::{KekSource, Store};

/// `ironcart backup FILE`.
pub async fn backup(file: PathBuf, force: bool, args: StoreArgs) -> anyhow::Result<()> {
    let config = args.resolve()?;
    let database = sqlite_database(&config, "backup")?;
    anyhow::ensure!(
        database.is_file(),
        "there is no database at {} to back up",
        database.display()
    );
    let file = absolute(&file)?;
    if !force && file.exists() {
        anyhow::bail!(
            "{} already exists; give another name, or --force to replace it",
            file.display()
        );
    }
    let out_dir = parent_dir(&file);
    anyhow::ensure!(
        out_dir.is_dir(),
        "the directory {} does not exist",
        out_dir.display()
    );

    let store = Store::connect(&config.database_url)
        .await
        .context("cannot open the database")?;
    store
        .unlock(&config.kek, Clock::System)
        .await
        .context("cannot load the field encryption keys with the KEK given")?;
    let interrupt = Interrupt::watch();
    let result = tokio::select! {
        result = take_backup(&store, &database, &file, force, &interrupt) => result,
        () = interrupt.signalled() => Err(anyhow::anyhow!("interrupted: no backup was written")),
    };
    let now = Clock::System.now();
    let event = match &result {
        Ok(made) => AuditEvent::new(now, "backup.created", Outcome::Success)
            .target(file.display().to_string())
            .details(json!({
                "operator": operator(),
                "file": file.display().to_string(),
                "bytes": made.bytes,
                "sha256": made.sha256,
                "kek_id": made.kek_id,
                "format_version": ironcart_vault::backup::FORMAT_VERSION,
            })),
        Err(err) => AuditEvent::new(now, "backup.created", Outcome::Failure)
            .target(file.display().to_string())
            .details(json!({
                "operator": operator(),
                "file": file.display().to_string(),
                "error": format!("{err:#}"),
            })),
    };
    SecurityEvents::new(store.clone()).record(event).await;
    store.close().await;
    let made = result?;
    println!(
        "{}",
        json!({
            "backup": file.display().to_string(),
            "bytes": made.bytes,
            "sha256": made.sha256,
            "kek_id": made.kek_id,
            "created_at": made.created_at,
            "format_version": ironcart_vault::backup::FORMAT_VERSION,
            "contents": made.check,
        })
    );
    Ok(())
}

/// What one backup wrote.
struct Made {
    bytes: u64,
    sha256: String,
    kek_id: String,
    created_at: i64,
    check: SnapshotCheck,
}

async fn take_backup(
    store: &Store,
    database: &Path,
    file: &Path,
    force: bool,
    interrupt: &Interrupt,
) -> anyhow::Result<Made> {
    let kek = store.crypto()?.kek();
    // The plaintext snapshot: mode 0600, in a directory of mode 0700 beside the
    // database (same disk, same protection), removed when `workspace` drops.
    let workspace = private_workspace(&parent_dir(database), ".ironcart-backup-")?;
    let snapshot = workspace.path().join("snapshot.db");
    create_private_file(&snapshot)?;
    store
        .snapshot_sqlite_into(&snapshot)
        .await
        .context("cannot take a snapshot of the database")?;
    let check = check_sqlite_file(&snapshot)
        .await
        .context("the snapshot failed its integrity check")?;

    let out_dir = parent_dir(file);
    let partial = tempfile::Builder::new()
        .prefix(".ironcart-backup-")
        .suffix(".partial")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(&out_dir)
        .with_context(|| format!("cannot create a file in {}", out_dir.display()))?;
    let created_at = Clock::System.now();
    let writer = partial.as_file().try_clone()?;
    let flag = interrupt.flag.clone();
    let snapshot_path = snapshot.clone();
    let (written, sha256) = tokio::task::spawn_blocking(move || {
        let input = Cancellable {
            inner: BufReader::new(File::open(&snapshot_path)?),
            flag,
        };
        let mut out = Hashing {
            inner: BufWriter::new(writer),
            hash: Sha256::new(),
        };
        let written = ironcart_vault::backup::encrypt(&kek, created_at, input, &mut out)?;
        out.inner.flush()?;
        out.inner.get_ref().sync_all()?;
        anyhow::Ok((written, hex::encode(out.hash.finalize())))
    })
    .await
    .context("the encryption task failed")?
    .context("cannot write the encrypted backup")?;
    drop(workspace);

    let persisted = if force {
        partial.persist(file).map(drop)
    } else {
        partial.persist_noclobber(file).map(drop)
    };
    persisted.with_context(|| format!("cannot move the backup into {}", file.display()))?;
    sync_dir(&out_dir);
    Ok(Made {
        bytes: written.backup_bytes,
        sha256,
        kek_id: written.kek_id.to_string(),
        created_at,
        check,
    })
}

/// `ironcart restore FILE`.
pub async fn restore(
    file: PathBuf,
    force: bool,
    verify_only: bool,
    args: StoreArgs,
) -> anyhow::Result<()> {
    let config = args.resolve()?;
    let target = absolute(&sqlite_database(&config, "restore")?)?;
    let kek = load_existing_kek(&config.kek)?;
    let mut input = BufReader::new(
        File::open(&file).with_context(|| format!("cannot open {}", file.display()))?,
    );
    let header = BackupHeader::read_from(&mut input)
        .with_context(|| format!("cannot restore {}", file.display()))?;

    let target_dir = parent_dir(&target);
    if !verify_only {
        if target.exists() && !force {
            anyhow::bail!(
                "a database already exists at {}; stop the server and add --force to replace it",
                target.display()
            );
        }
        for leftover in sqlite_side_files(&target) {
            if !target.exists() && leftover.exists() {
                anyhow::bail!(
                    "{} is left from a removed database; move it away before restoring",
                    leftover.display()
                );
            }
        }
    }
    // A directory made for the target is removed again if the restore fails.
    let mut made_dir = None;
    if !verify_only && !target_dir.exists() {
        crate::bootstrap::create_private_dir(&target_dir)?;
        made_dir = Some(RemoveIfEmpty(target_dir.clone()));
    }
    // Plaintext goes only to a private directory: beside the target (so that the
    // final rename is atomic), or for --verify-only wherever is private and exists.
    let workspace_parent = if target_dir.is_dir() {
        target_dir.clone()
    } else {
        std::env::temp_dir()
    };
    let workspace = private_workspace(&workspace_parent, ".ironcart-restore-")?;
    let restored = workspace.path().join("restored.db");
    let out = File::options()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&restored)
        .with_context(|| format!("cannot create {}", restored.display()))?;
    let interrupt = Interrupt::watch();
    let flag = interrupt.flag.clone();
    let kek_id = kek.id().to_string();
    let created_at = header.created_at();
    let decrypted = tokio::task::spawn_blocking(move || {
        let input = Cancellable { inner: input, flag };
        let mut out = BufWriter::new(out);
        let bytes = ironcart_vault::backup::decrypt(&kek, &header, input, &mut out)?;
        out.flush()?;
        out.get_ref().sync_all()?;
        anyhow::Ok(bytes)
    });
    let decrypted = tokio::select! {
        result = decrypted => result.context("the decryption task failed")?,
        () = interrupt.signalled() => Err(anyhow::anyhow!("interrupted")),
    };
    decrypted.with_context(|| format!("cannot restore {}", file.display()))?;
    let check = check_sqlite_file(&restored)
        .await
        .with_context(|| format!("cannot restore {}: the decrypted database", file.display()))?;
    if let Some(other) = check.kek_ids.iter().find(|id| **id != kek_id) {
        anyhow::bail!(
            "cannot restore {}: its data keys are wrapped under KEK {other}, not under the KEK given ({kek_id})",
            file.display()
        );
    }
    let report = json!({
        "backup": file.display().to_string(),
        "created_at": created_at,
        "kek_id": kek_id,
        "contents": check,
    });
    if verify_only {
        drop(workspace);
        println!("{}", json!({ "verified": report }));
        return Ok(());
    }

    if target.exists() {
        let idle = take_over_idle_sqlite_file(&target)
            .await
            .with_context(|| format!("cannot open {}", target.display()))?;
        anyhow::ensure!(
            idle,
            "the database {} is in use: stop every server (and other process) using it, then restore",
            target.display()
        );
    }
    if let Some(leftover) = sqlite_side_files(&target).into_iter().find(|f| f.exists()) {
        anyhow::bail!(
            "{} still exists: stop every server using the database, then restore",
            leftover.display()
        );
    }
    std::fs::rename(&restored, &target)
        .with_context(|| format!("cannot move the restored database to {}", target.display()))?;
    sync_dir(&target_dir);
    drop(workspace);
    if let Some(mut made) = made_dir {
        made.0 = PathBuf::new();
    }
    record_restore(&config, &file, &report).await;
    println!(
        "{}",
        json!({ "restored": target.display().to_string(), "from": report })
    );
    eprintln!(
        "restored {}: start the servers with the KEK {kek_id} (the data keys are wrapped under it)",
        target.display()
    );
    Ok(())
}

/// Appends `backup.restored` to the restored database's own audit trail. The restore
/// is done by then: a failure here is reported, not fatal.
async fn record_restore(config: &StoreConfig, file: &Path, report: &serde_json::Value) {
    let store = match Store::connect(&config.database_url).await {
        Ok(store) => store,
        Err(err) => {
            tracing::warn!(target: "security", error = %err, "restored, but cannot record the restore in the audit trail");
            return;
        }
    };
    let event = AuditEvent::new(Clock::System.now(), "backup.restored", Outcome::Success)
        .target(file.display().to_string())
        .details(json!({
            "operator": operator(),
            "file": file.display().to_string(),
            "backup": report,
        }));
    SecurityEvents::new(store.clone()).record(event).await;
    store.close().await;
}

/// The SQLite file of the configuration; PostgreSQL is refused with what to use.
fn sqlite_database(config: &StoreConfig, command: &str) -> anyhow::Result<PathBuf> {
    let url = &config.database_url;
    if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        anyhow::bail!(
            "`ironcart {command}` covers the embedded SQLite database only; on PostgreSQL use the \
             server's tools: pg_dump (logical) or pg_basebackup with WAL archiving \
             (point-in-time recovery), encrypted at rest (see docs/SECURITY.md)"
        );
    }
    sqlite_path(url).ok_or_else(|| {
        anyhow::anyhow!("`ironcart {command}` needs an SQLite database file (sqlite://path)")
    })
}

/// The KEK from its file or variable; never created (unlike on a server's first start).
fn load_existing_kek(source: &KekSource) -> anyhow::Result<Kek> {
    let kek = match source {
        KekSource::Variable => Kek::from_env(crate::store::crypto::KEK_VARIABLE),
        KekSource::File(path) => Kek::from_file(path),
    };
    kek.context(
        "a restore needs the KEK the backup was made under \
         (--kek-file, IRONCART_KEK_FILE or IRONCART_KEK)",
    )
}

/// Who ran the command: the local operator, by operating-system account.
fn operator() -> serde_json::Value {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").ok().map(|m| m.uid());
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok();
    json!({ "kind": "local", "user": user, "uid": uid })
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot resolve {}", path.display()))
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn sqlite_side_files(database: &Path) -> [PathBuf; 2] {
    let with = |suffix: &str| {
        let mut name = database.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [with("-wal"), with("-shm")]
}

/// A fresh directory of mode 0700 in `parent`, removed with everything in it when
/// dropped (on success, on error and on interruption alike).
fn private_workspace(parent: &Path, prefix: &str) -> anyhow::Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir_in(parent)
        .with_context(|| format!("cannot create a private directory in {}", parent.display()))?;
    let mode = std::fs::metadata(dir.path())?.permissions().mode() & 0o777;
    anyhow::ensure!(
        mode == 0o700,
        "{} got mode {mode:o}, not 0700",
        dir.path().display()
    );
    Ok(dir)
}

fn create_private_file(path: &Path) -> anyhow::Result<()> {
    File::options()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map(drop)
        .with_context(|| format!("cannot create {}", path.display()))
}

/// A directory removed on drop if it is (still) empty; an empty path does nothing.
struct RemoveIfEmpty(PathBuf);

impl Drop for RemoveIfEmpty {
    fn drop(&mut self) {
        if !self.0.as_os_str().is_empty() {
            let _ = std::fs::remove_dir(&self.0);
        }
    }
}

/// Makes a rename in `dir` durable (best effort: not every file system allows it).
fn sync_dir(dir: &Path) {
    if let Ok(handle) = File::open(dir) {
        let _ = handle.sync_all();
    }
}

/// Ctrl-C and SIGTERM, turned into an error at the next step instead of an exit that
/// would leave the temporary files behind.
struct Interrupt {
    flag: Arc<AtomicBool>,
    notify: Arc<tokio::sync::Notify>,
}

impl Interrupt {
    fn watch() -> Self {
        let flag = Arc::new(AtomicBool::new(false));
        let notify = Arc::new(tokio::sync::Notify::new());
        let (set, wake) = (flag.clone(), notify.clone());
        tokio::spawn(async move {
            crate::server::shutdown_signal().await;
            set.store(true, Ordering::SeqCst);
            wake.notify_waiters();
        });
        Self { flag, notify }
    }

    async fn signalled(&self) {
        let notified = self.notify.notified();
        if self.flag.load(Ordering::SeqCst) {
            return;
        }
        notified.await;
    }
}

/// A reader that fails once an interruption was signalled.
struct Cancellable<R> {
    inner: R,
    flag: Arc<AtomicBool>,
}

impl<R: Read> Read for Cancellable<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.flag.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("interrupted by a signal"));
        }
        self.inner.read(buf)
    }
}

/// A writer that hashes what passes through it (the SHA-256 of the backup file, for
/// the audit trail and for checking copies).
struct Hashing<W> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
