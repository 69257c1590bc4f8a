//! The `ironcart` command line: `serve`, `import`, `user`, `keys`, `backup` and
//! `restore`.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::app::Settings;
use crate::clock::Clock;
use crate::config::{ServeArgs, StoreArgs, StoreConfig, TlsSource};
use crate::domain::customers::{self, Email};
use crate::domain::payments::SandboxProvider;
use crate::server::{self, StateParts};
use crate::store::{ReencryptProgress, Store};

#[derive(Parser, Debug)]
#[command(
    name = "ironcart",
    version,
    about = "A security-first eCommerce storefront API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the API server.
    Serve(ServeArgs),
    /// Import a catalog.
    Import {
        #[command(subcommand)]
        format: ImportFormat,
    },
    /// Manage accounts.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Manage keys.
    Keys {
        #[command(subcommand)]
        action: KeyAction,
    },
    /// Write an encrypted, integrity-checked snapshot of the SQLite database to FILE,
    /// while servers keep serving (PostgreSQL: use pg_dump or WAL archiving).
    Backup {
        /// The backup file to write (mode 0600).
        file: PathBuf,
        /// Replace FILE if it already exists.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Verify a backup made by `ironcart backup` and restore it. Stop every server
    /// first; the KEK must be the one the backup was made under.
    Restore {
        /// The backup file.
        file: PathBuf,
        /// Replace an existing database (refused while any process has it open).
        #[arg(long)]
        force: bool,
        /// Decrypt and check the backup without restoring it.
        #[arg(long)]
        verify_only: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand, Debug)]
enum ImportFormat {
    /// A Shopify product CSV export.
    Shopify {
        file: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand, Debug)]
enum UserAction {
    /// Create an account with a role; the password is read from standard input.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        role: String,
        #[arg(long, default_value = "Staff member")]
        name: String,
        /// Read the password from standard input (required: never pass it as a flag).
        #[arg(long, required = true)]
        password_stdin: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand, Debug)]
enum KeyAction {
    /// Add a new token signing key; new tokens use it, old ones stay verifiable.
    RotateSigning {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List the data keys, their state and how many stored values each protects.
    Status {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// New primary data key, then re-encrypt every value under it (resumable: a
    /// rerun continues an unfinished rotation). Safe while servers run.
    Rotate {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Re-wrap every data key under a new KEK (created in the file if it is missing).
    RotateKek {
        /// The new KEK file (mode 0600); a new KEK is generated into it if absent.
        #[arg(long)]
        new_kek_file: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Retire a data key that no stored value uses any more.
    Retire {
        /// The key id, as `keys status` shows it.
        key_id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

pub async fn run() -> ExitCode {
    crate::telemetry::init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Import {
            format: ImportFormat::Shopify { file, store },
        } => import_shopify(file, store).await,
        Command::User {
            action:
                UserAction::Create {
                    email,
                    role,
                    name,
                    password_stdin: _,
                    store,
                },
        } => create_user(email, role, name, store).await,
        Command::Keys { action } => keys(action).await,
        Command::Backup { file, force, store } => crate::backup::backup(file, force, store).await,
        Command::Restore {
            file,
            force,
            verify_only,
            store,
        } => crate::backup::restore(file, force, verify_only, store).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "ironcart stopped");
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn open_store(args: &StoreArgs) -> anyhow::Result<(Store, StoreConfig)> {
    let config = args.resolve()?;
    crate::bootstrap::create_private_dir(&config.data_dir)?;
    let store = Store::connect(&config.database_url)
        .await
        .context("cannot open the database")?;
    Ok((store, config))
}

/// The store with its field encryption keys loaded, for the key commands.
async fn open_unlocked_store(args: &StoreArgs) -> anyhow::Result<Store> {
    let (store, config) = open_store(args).await?;
    store
        .unlock(&config.kek, Clock::System)
        .await
        .context("cannot load the field encryption keys")?;
    Ok(store)
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.resolve()?;
    crate::bootstrap::create_private_dir(&config.store.data_dir)?;
    let store = Store::connect(&config.store.database_url)
        .await
        .context("cannot open the database")?;
    let state = server::build_state(StateParts {
        store,
        data_dir: config.store.data_dir.clone(),
        public_url: config.public_url.clone(),
        settings: Settings {
            max_line_quantity: config.max_line_quantity,
            trusted_proxies: config.trusted_proxies.clone(),
            max_in_flight: config.max_in_flight,
            redis_url: config.redis_url.clone(),
            waf: config.waf.clone(),

            rate_limits: config.rate_limits.clone(),
            bans: config.bans.clone(),
            ..Settings::default()
        },
        payments: Arc::new(SandboxProvider::default()),
        clock: Clock::System,
        kek: config.store.kek.clone(),
    })
    .await?;
    crate::bootstrap::ensure_first_admin(&state, &config.store.data_dir).await?;
    let tls = match &config.tls {
        TlsSource::Disabled => {
            tracing::warn!("serving plain HTTP: only run this behind a TLS-terminating proxy");
            None
        }
        TlsSource::SelfSigned => {
            let (cert, key) = crate::tls::ensure_self_signed(&config.store.data_dir)?;
            Some(crate::tls::CertificateFiles { cert, key })
        }
        TlsSource::Files { cert, key } => Some(crate::tls::CertificateFiles {
            cert: cert.clone(),
            key: key.clone(),
        }),
    };
    let certificate_files = tls;
    let tls = match &certificate_files {
        Some(files) => Some(crate::tls::server_config(&files.cert, &files.key)?),
        None => None,
    };
    let listener = std::net::TcpListener::bind(config.listen)
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let running = server::spawn(listener, state.clone(), tls).await?;
    if let (Some(live), Some(files)) = (running.tls.clone(), certificate_files) {
        crate::tls::watch_for_new_certificate(live, files);
    }
    tracing::info!(address = %running.addr, url = format!("{scheme}://{}", running.addr), "ironcart is listening");
    server::shutdown_signal().await;
    tracing::info!("shutting down: draining in-flight requests");
    running.shutdown().await;
    state.store.close().await;
    Ok(())
}

async fn import_shopify(file: PathBuf, args: StoreArgs) -> anyhow::Result<()> {
    let (store, _) = open_store(&args).await?;
    let bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
    let now = Clock::System.now();
    match crate::domain::import::import_shopify(&store, &bytes, now).await {
        Ok(report) => {
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Err(problems) => {
            for problem in &problems {
                eprintln!("{}: {}", problem.location(), problem.reason);
            }
            anyhow::bail!(
                "the file was not imported ({} problems); the catalog is unchanged",
                problems.len()
            )
        }
    }
}

async fn create_user(
    email: String,
    role: String,
    name: String,
    args: StoreArgs,
) -> anyhow::Result<()> {
    let (store, config) = open_store(&args).await?;
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .context("cannot read the password from standard input")?;
    let password = ironcart_security::secret::SecretString::from(
        password.trim_end_matches(['\r', '\n']).to_owned(),
    );
    let state = server::build_state(StateParts {
        store,
        data_dir: config.data_dir,
        public_url: String::new(),
        settings: Settings::default(),
        payments: Arc::new(SandboxProvider::default()),
        clock: Clock::System,
        kek: config.kek,
    })
    .await?;
    anyhow::ensure!(
        state.policy.role_exists(&role),
        "unknown role {role:?}; roles: {}",
        state.policy.role_names().join(", ")
    );
    let email = Email::parse(&email).map_err(|e| anyhow::anyhow!("email {e}"))?;
    let user = customers::create_with_roles(&state, &email, &name, &password, &[role.as_str()])
        .await
        .map_err(|e| match e {
            customers::AccountError::WeakPassword { message, .. } => {
                anyhow::anyhow!("password rejected: {message}")
            }
            other => anyhow::anyhow!("{other}"),
        })?;
    println!(
        "{}",
        serde_json::json!({ "id": user.id, "email": user.email, "roles": user.roles })
    );
    Ok(())
}

async fn rotate_signing(args: StoreArgs) -> anyhow::Result<()> {
    let config = args.resolve()?;
    let dir = server::signing_key_dir(&config.data_dir);
    let keys = ironcart_security::tokens::SigningKeys::rotate(&dir)
        .context("cannot rotate the signing key")?;
    let kid = keys.signing_kid();
    println!("{}", serde_json::json!({ "new_signing_key": kid }));
    Ok(())
}

async fn keys(action: KeyAction) -> anyhow::Result<()> {
    match action {
        KeyAction::RotateSigning { store } => rotate_signing(store).await,
        KeyAction::Status { store } => {
            let store = open_unlocked_store(&store).await?;
            let status = store.key_status().await?;
            println!("{}", serde_json::to_string_pretty(&status)?);
            Ok(())
        }
        KeyAction::Rotate { store } => {
            let store = open_unlocked_store(&store).await?;
            let mut progress = |step: ReencryptProgress| {
                eprintln!(
                    "pass {}: {}.{} done, {} values re-encrypted so far",
                    step.pass,
                    step.column.table(),
                    step.column.column(),
                    step.rewritten
                );
            };
            let report = store.rotate_data_keys(&mut progress).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            anyhow::ensure!(
                report.reencrypted.undecryptable == 0,
                "{} stored values failed to decrypt and were left as they are \
                 (recorded as crypto.decrypt_failed in the audit trail)",
                report.reencrypted.undecryptable
            );
            Ok(())
        }
        KeyAction::RotateKek {
            new_kek_file,
            store,
        } => {
            let store = open_unlocked_store(&store).await?;
            let new = if new_kek_file.exists() {
                ironcart_vault::Kek::from_file(&new_kek_file)?
            } else {
                ironcart_vault::Kek::create_file(&new_kek_file)?
            };
            let kek_id = store.rotate_kek(new).await?;
            println!("{}", serde_json::json!({ "kek_id": kek_id.to_string() }));
            eprintln!(
                "every data key is now wrapped under the KEK in {}: point --kek-file \
                 (or IRONCART_KEK_FILE / IRONCART_KEK) at it and restart the servers",
                new_kek_file.display()
            );
            Ok(())
        }
        KeyAction::Retire { key_id, store } => {
            let store = open_unlocked_store(&store).await?;
            let retired = store.retire_data_key(&key_id).await?;
            println!(
                "{}",
                serde_json::json!({ "retired": retired.id.to_string(), "state": retired.state.as_str() })
            );
            Ok(())
        }
    }
}
