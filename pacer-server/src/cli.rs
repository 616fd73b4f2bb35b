//! The command line: `serve`, `demo`, `check-config`, `replay`, `verify`, `migrate`, `version`,
//! `doctor`, `github-app`, `backup`, `user`, and `iam-policy`, which prints the IAM policy Pacer's
//! AWS principal needs.

use crate::config::{LogFormat, LogOutput};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Pacer: short-lived EC2 runners for GitHub Actions.
#[derive(Debug, Parser)]
#[command(name = "pacer", version, about)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run Pacer against real EC2 and GitHub.
    Serve {
        /// The YAML configuration (PACER_* environment variables override it).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Run everything on this machine with simulated EC2 and GitHub (no AWS, no GitHub).
    Demo {
        /// Listen address.
        #[arg(long, default_value = "127.0.0.1:3000")]
        addr: std::net::SocketAddr,
        /// Keep data in this directory (default: a temporary one, deleted on exit).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Average seconds between simulated workflow jobs.
        #[arg(long, default_value_t = 2.0)]
        job_interval: f64,
        /// Stop after this many seconds (default: run until interrupted).
        #[arg(long)]
        duration: Option<u64>,
    },
    /// Validate a configuration and print it with secrets redacted.
    CheckConfig {
        /// The YAML configuration.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Export or import the configuration (projects, pools, repos) of a stopped Pacer.
    Backup {
        /// What to do.
        #[command(subcommand)]
        action: BackupAction,
    },
    /// Print the version.
    Version,
    /// Rebuild every projection from seq 0, compare with the snapshot, print counts, time and
    /// any anomaly. Exits non-zero on a mismatch or an unreadable record.
    Replay {
        /// The data directory (`storage.path`) of a RocksDB log.
        #[arg(long, conflicts_with = "config", required_unless_present = "config")]
        data: Option<PathBuf>,
        /// The YAML configuration: replay the log its `storage` names (RocksDB or DynamoDB).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Check the log's tamper-evident chain: every record's hash against its content and the
    /// record before; print where the chain starts, where it breaks, and its head. Exits 1 when
    /// it is broken.
    Verify {
        /// The data directory (`storage.path`) of a RocksDB log.
        #[arg(long, conflicts_with = "config", required_unless_present = "config")]
        data: Option<PathBuf>,
        /// The YAML configuration: check the log its `storage` names (RocksDB or DynamoDB).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Copy a stopped Pacer's RocksDB log (`storage.path`) into a new DynamoDB log
    /// (`storage.dynamodb.*`, with `storage.backend: dynamodb`), then compare the two record by
    /// record. Refused when the DynamoDB log is not empty.
    Migrate {
        /// The YAML configuration (`storage.backend: dynamodb`).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Where the log is now.
        #[arg(long, value_enum)]
        from: Backend,
        /// Where it goes.
        #[arg(long, value_enum)]
        to: Backend,
    },
    /// Print the least-privilege IAM policy (JSON) for the AWS calls Pacer makes: writes only on
    /// resources tagged `gha:managed-by=pacer`, tags only at creation, roles passed only to EC2.
    IamPolicy {
        /// Take the region from this configuration's `aws.region`.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Limit the EC2 grants to this region (default: the configuration's, else any).
        #[arg(long)]
        region: Option<String>,
        /// ARN of the IAM role in a pool's instance profile, the only roles Pacer may pass to
        /// EC2; repeat for each (default: any role, passed to EC2 only).
        #[arg(long = "instance-profile-role", value_name = "ARN")]
        instance_profile_roles: Vec<String>,
    },
    /// Check everything Pacer needs from AWS and GitHub, its public URL and its disk: one
    /// table with a fix for each problem (exit 1 when a check failed).
    Doctor {
        /// The YAML configuration.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Pacer's GitHub App.
    GithubApp {
        /// What to do.
        #[command(subcommand)]
        action: GitHubAppAction,
    },
    /// List, add, disable or enable console users of a stopped Pacer (exit 1 when refused).
    User {
        /// The data directory (`storage.path`) of a stopped Pacer on RocksDB.
        #[arg(long, global = true, conflicts_with = "config")]
        data: Option<PathBuf>,
        /// The YAML configuration: the log its `storage` names (a shared DynamoDB log may be
        /// in use by running replicas).
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
        /// What to do.
        #[command(subcommand)]
        action: UserAction,
    },
}

/// A storage backend, for `pacer migrate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Backend {
    /// RocksDB in the data directory.
    Rocksdb,
    /// A DynamoDB table shared by replicas.
    Dynamodb,
}

/// `pacer github-app …`
#[derive(Debug, Subcommand)]
pub(crate) enum GitHubAppAction {
    /// Print the App's manifest (webhook = `server.public_url` + `/api/webhook`, the
    /// `workflow_job` event, exactly the permissions Pacer uses), for GitHub's "create from
    /// manifest" flow; the console's Settings page runs that flow for you.
    Manifest {
        /// The YAML configuration (for `server.public_url`).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// The App's name on GitHub (unique there, at most 34 characters).
        #[arg(long, default_value = "pacer")]
        name: String,
    },
}

/// `pacer user …`
#[derive(Debug, Subcommand)]
pub(crate) enum UserAction {
    /// Print every user: email, enabled or disabled, created, last sign-in.
    List,
    /// Create a local (email and password) user; its random password is printed once.
    Add {
        /// The user's email.
        email: String,
    },
    /// Disable a user: their sessions end and they cannot sign in until enabled.
    Disable {
        /// The user's email.
        email: String,
    },
    /// Enable a disabled user again.
    Enable {
        /// The user's email.
        email: String,
    },
}

/// `pacer backup …`
#[derive(Debug, Subcommand)]
pub(crate) enum BackupAction {
    /// Write the backup document (JSON) to stdout or a file.
    Export {
        /// The YAML configuration.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Write here instead of stdout.
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Import a backup document: all or nothing, every error listed.
    Import {
        /// The YAML configuration.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Only show what would be created and updated.
        #[arg(long)]
        dry_run: bool,
        /// The backup file (Pacer's or the Go Pacer's version 1).
        file: PathBuf,
    },
}

/// Runs the command line; the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => {
            let config = match load(config.as_deref()) {
                Ok(config) => config,
                Err(code) => return code,
            };
            let logging = &config.logging;
            if let Err(message) = init_logging_to(&logging.level, logging.format, &logging.output) {
                eprintln!("pacer: logging.output: {message}");
                return ExitCode::from(2);
            }
            tracing::info!(config = %config.redacted(), "effective configuration");
            run_async(crate::serve::serve(config))
        }
        Command::Demo { addr, data, job_interval, duration } => {
            init_logging("warn,pacer_server=info", LogFormat::Text);
            let options = crate::demo::DemoOptions {
                addr,
                data,
                job_interval: job_interval.max(0.05),
                summary_every: Some(std::time::Duration::from_secs(5)),
            };
            run_async(async move {
                let stop = async move {
                    match duration {
                        Some(seconds) => {
                            tokio::select! {
                                _ = tokio::time::sleep(std::time::Duration::from_secs(seconds)) => {}
                                _ = crate::serve::shutdown_signal() => {}
                            }
                        }
                        None => crate::serve::shutdown_signal().await,
                    }
                };
                crate::demo::run(options, stop).await
            })
        }
        Command::CheckConfig { config } => match load(config.as_deref()) {
            Ok(config) => {
                println!("{}", config.redacted());
                println!("# configuration is valid");
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Backup { action } => {
            init_logging("warn", LogFormat::Text);
            match action {
                BackupAction::Export { config, out } => {
                    let config = match load(config.as_deref()) {
                        Ok(config) => config,
                        Err(code) => return code,
                    };
                    run_async(async move {
                        match out {
                            Some(path) => {
                                let mut file = std::fs::File::create(&path)?;
                                crate::backup_cli::export(&config, &mut file).await
                            }
                            None => crate::backup_cli::export(&config, &mut std::io::stdout()).await,
                        }
                    })
                }
                BackupAction::Import { config, dry_run, file } => {
                    let config = match load(config.as_deref()) {
                        Ok(config) => config,
                        Err(code) => return code,
                    };
                    let mut ok = true;
                    let code = run_async(async {
                        ok = crate::backup_cli::import(&config, &file, dry_run, &mut std::io::stdout())
                            .await?;
                        Ok(())
                    });
                    if ok { code } else { ExitCode::from(1) }
                }
            }
        }
        Command::Version => {
            println!("pacer {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::User { data, config, action } => {
            init_logging("warn", LogFormat::Text);
            let config = match (&data, config) {
                (None, None) => {
                    eprintln!(
                        "pacer user: --data DIR (the data directory, storage.path) or --config FILE is required"
                    );
                    return ExitCode::from(2);
                }
                (Some(_), _) => None,
                (None, config) => match load(config.as_deref()) {
                    Ok(config) => Some(config),
                    Err(code) => return code,
                },
            };
            let command = match action {
                UserAction::List => crate::user_cli::UserCommand::List,
                UserAction::Add { email } => crate::user_cli::UserCommand::Add(email),
                UserAction::Disable { email } => crate::user_cli::UserCommand::SetDisabled(email, true),
                UserAction::Enable { email } => crate::user_cli::UserCommand::SetDisabled(email, false),
            };
            let mut ok = true;
            let code = run_async(async {
                let (log, data) = match (config, data) {
                    (Some(config), _) => {
                        let storage = crate::serve::Storage::of(&config);
                        (storage.open(&config.storage.path, Box::new(|_| {})).await?.0, config.storage.path)
                    }
                    (None, Some(data)) => (crate::user_cli::open_data(&data)?, data),
                    (None, None) => anyhow::bail!("no log to open"),
                };
                ok = crate::user_cli::run(log, &data, command, &mut std::io::stdout()).await?;
                Ok(())
            });
            if ok { code } else { ExitCode::from(1) }
        }
        Command::Doctor { config } => {
            let config = match load(config.as_deref()) {
                Ok(config) => config,
                Err(code) => return code,
            };
            init_logging("error", LogFormat::Text);
            let checks = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(runtime) => runtime.block_on(crate::serve::doctor(&config)),
                Err(error) => Err(error.into()),
            };
            match checks {
                Ok(checks) => {
                    print!("{}", crate::doctor::table(&checks));
                    let failed = checks.iter().any(|c| c.status == crate::doctor::Status::Failed);
                    if failed { ExitCode::from(1) } else { ExitCode::SUCCESS }
                }
                Err(error) => {
                    eprintln!("pacer doctor: {error:#}");
                    ExitCode::from(2)
                }
            }
        }
        Command::GithubApp { action: GitHubAppAction::Manifest { config, name } } => {
            let config = match load(config.as_deref()) {
                Ok(config) => config,
                Err(code) => return code,
            };
            let Some(public_url) = &config.server.public_url else {
                eprintln!("pacer: server.public_url is required: GitHub sends webhooks there");
                return ExitCode::from(2);
            };
            if name.trim().is_empty() || name.chars().count() > 34 {
                eprintln!("pacer: --name must be 1 to 34 characters");
                return ExitCode::from(2);
            }
            let manifest = crate::app_setup::manifest(crate::config::base_url(public_url), name.trim());
            match serde_json::to_string_pretty(&manifest) {
                Ok(text) => {
                    println!("{text}");
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("pacer: {error}");
                    ExitCode::from(1)
                }
            }
        }
        Command::IamPolicy { config, region, instance_profile_roles } => {
            print_iam_policy(config.as_deref(), region, instance_profile_roles)
        }
        Command::Migrate { config, from, to } => {
            init_logging("warn", LogFormat::Text);
            if (from, to) != (Backend::Rocksdb, Backend::Dynamodb) {
                eprintln!("pacer migrate: only --from rocksdb --to dynamodb is supported");
                return ExitCode::from(2);
            }
            let config = match load(config.as_deref()) {
                Ok(config) => config,
                Err(code) => return code,
            };
            run_async(async move { crate::replay::migrate(&config, &mut std::io::stdout()).await })
        }
        Command::Replay { data, config } => {
            init_logging("warn", LogFormat::Text);
            let replayed = match (data, config) {
                (Some(data), _) => crate::replay::run(&data, &mut std::io::stdout()),
                (None, config) => match load(config.as_deref()) {
                    Ok(config) => {
                        run_blocking(crate::replay::run_configured(&config, &mut std::io::stdout()))
                    }
                    Err(code) => return code,
                },
            };
            checked("replay", replayed)
        }
        Command::Verify { data, config } => {
            init_logging("warn", LogFormat::Text);
            let verified = match (data, config) {
                (Some(data), _) => crate::verify_cli::run(&data, &mut std::io::stdout()),
                (None, config) => match load(config.as_deref()) {
                    Ok(config) => {
                        run_blocking(crate::verify_cli::run_configured(&config, &mut std::io::stdout()))
                    }
                    Err(code) => return code,
                },
            };
            checked("verify", verified)
        }
    }
}

/// `pacer iam-policy`: the policy for the region (flag, else configuration, else any) and the
/// instance-profile roles, pretty JSON on stdout.
fn print_iam_policy(
    config: Option<&std::path::Path>,
    region: Option<String>,
    instance_profile_roles: Vec<String>,
) -> ExitCode {
    let config = match config.map(|path| load(Some(path))).transpose() {
        Ok(config) => config,
        Err(code) => return code,
    };
    let region = region.or_else(|| config.as_ref().map(|c| c.aws.region.clone()));
    let shared_log =
        config.as_ref().filter(|c| c.storage.backend == crate::config::StorageBackend::DynamoDb).map(|c| {
            let dynamo = &c.storage.dynamodb;
            pacer_aws::SharedLogScope {
                table: dynamo.table.clone(),
                bucket: dynamo.bucket.clone(),
                prefix: dynamo.prefix.clone(),
                create: dynamo.create,
            }
        });
    if let Some(region) = &region
        && (region.is_empty()
            || !region.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
    {
        eprintln!("pacer iam-policy: --region {region:?} is not a region name (e.g. us-east-1)");
        return ExitCode::from(2);
    }
    if let Some(role) = instance_profile_roles.iter().find(|arn| !is_role_arn(arn)) {
        eprintln!("pacer iam-policy: {role:?} is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME)");
        return ExitCode::from(2);
    }
    let policy =
        pacer_aws::iam_policy(&pacer_aws::PolicyScope { region, instance_profile_roles, shared_log });
    match serde_json::to_string_pretty(&policy) {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("pacer iam-policy: {error}");
            ExitCode::from(1)
        }
    }
}

/// `arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME`.
fn is_role_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(
        parts.as_slice(),
        ["arn", partition, "iam", "", account, resource]
            if partition.starts_with("aws")
                && account.len() == 12
                && account.chars().all(|c| c.is_ascii_digit())
                && resource.strip_prefix("role/").is_some_and(|name| !name.is_empty())
    )
}

fn load(path: Option<&std::path::Path>) -> Result<crate::config::Config, ExitCode> {
    crate::config::Config::load(path, |key| std::env::var(key).ok()).map_err(|errors| {
        eprintln!("pacer: {errors}");
        ExitCode::from(2)
    })
}

fn run_async(future: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("pacer: cannot start the runtime: {error}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(future) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("pacer: {error:#}");
            ExitCode::from(1)
        }
    }
}

/// Runs `future` on a new multi-threaded runtime (a check's blocking reads take its worker).
fn run_blocking<T>(future: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(future)
}

/// The exit code of a check of the log (`pacer replay`, `pacer verify`): 0 when it passed, 1
/// when it did not, 2 when it could not run.
fn checked(command: &str, outcome: anyhow::Result<bool>) -> ExitCode {
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("pacer {command}: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Logs to stderr at `level` (overridden by `PACER_LOG`), as text or JSON.
pub(crate) fn init_logging(level: &str, format: LogFormat) {
    // Stderr needs nothing opened.
    let _ = init_logging_to(level, format, &LogOutput::Stderr);
}

/// Logs to `output` at `level` (overridden by `PACER_LOG`), as text or JSON; a file is appended
/// to (created when missing, without terminal colours). An error says why the file cannot be
/// opened.
pub(crate) fn init_logging_to(level: &str, format: LogFormat, output: &LogOutput) -> Result<(), String> {
    use tracing_subscriber::fmt::writer::BoxMakeWriter;
    let filter = tracing_subscriber::EnvFilter::try_from_env("PACER_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, ansi) = match (output, output.open()?) {
        // Each line is one write to a file opened for appending.
        (_, Some(file)) => (BoxMakeWriter::new(std::sync::Arc::new(file)), false),
        (LogOutput::Stdout, None) => (BoxMakeWriter::new(std::io::stdout), true),
        (_, None) => (BoxMakeWriter::new(std::io::stderr), true),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_ansi(ansi);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns_are_recognised() {
        assert!(is_role_arn("arn:aws:iam::123456789012:role/pacer-runner"));
        assert!(is_role_arn("arn:aws-cn:iam::123456789012:role/ci/pacer-runner"));
        assert!(!is_role_arn("arn:aws:iam::123456789012:instance-profile/pacer-runner"));
        assert!(!is_role_arn("arn:aws:iam::1234:role/pacer-runner"));
        assert!(!is_role_arn("pacer-runner"));
        assert!(!is_role_arn("arn:aws:iam::123456789012:role/"));
    }
}
