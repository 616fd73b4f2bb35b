//! `pacer backup export|import` against a stopped Pacer's data directory: export
//! writes the version-1 document; import plans it (a dry run prints what would be created and
//! updated), materialises every pool's launch template through EC2 and records it all at once,
//! or changes nothing and lists every error.

use crate::app::{App, Meta};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::engine::{ConfigChangeError, Engine};
use crate::github::SimulatedGitHub;
use crate::metrics::Metrics;
use crate::secrets::Secrets;
use anyhow::Context;
use pacer_aws::{Compute, Ec2Compute};
use pacer_domain::{Actor, Backup, ImportAction};
use pacer_store::load_state;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

/// Opens the data directory of `config` with EC2 from the configuration (no loops run).
async fn open(config: &Config) -> anyhow::Result<Arc<Engine>> {
    let (log, _) =
        crate::serve::Storage::of(config).open(&config.storage.path, Box::new(|_| {})).await.with_context(
            || format!("opening {} (is pacer running? stop it first)", config.storage.path.display()),
        )?;
    let (state, _) = load_state(&*log).context("loading state")?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let secrets = Arc::new(Secrets::open(log.clone(), &config.storage.path)?);
    let app = App::start(state, log, clock, Box::new(|_, _| {}));
    let compute: Arc<dyn Compute> = Arc::new(Ec2Compute::connect(crate::serve::ec2_settings(config)).await);
    Ok(Engine::new(
        app,
        compute,
        Arc::new(SimulatedGitHub::default()),
        Arc::new(crate::serve::identity_verifier(config)?),
        secrets,
        Metrics::new(),
        crate::serve::engine_settings(config, config.server.addr),
    ))
}

fn operator() -> Meta {
    let user = std::env::var("USER").unwrap_or_else(|_| "cli".into());
    Meta::by(Actor::User(format!("{user}@cli")))
}

/// Writes the backup of the data directory to `out`.
pub(crate) async fn export(config: &Config, out: &mut dyn Write) -> anyhow::Result<()> {
    let engine = open(config).await?;
    let backup = engine.export_backup(operator()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    serde_json::to_writer_pretty(&mut *out, &backup)?;
    writeln!(out)?;
    engine.shutdown().await;
    Ok(())
}

/// Imports `file`; with `dry_run` only prints the plan. Exit status semantics: `Ok(false)`
/// when the file was rejected (errors printed to `out`).
pub(crate) async fn import(
    config: &Config,
    file: &Path,
    dry_run: bool,
    out: &mut dyn Write,
) -> anyhow::Result<bool> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let backup: Backup = match serde_json::from_str(&text) {
        Ok(backup) => backup,
        Err(error) => {
            writeln!(out, "{} is not a Pacer backup: {error}", file.display())?;
            return Ok(false);
        }
    };
    let engine = open(config).await?;
    let result = if dry_run {
        engine.plan_backup(&backup).map_err(ConfigChangeError::Rejected).map(|plan| (plan, Vec::new()))
    } else {
        engine.import_backup(operator(), backup).await
    };
    let ok = match result {
        Ok((plan, _)) => {
            for item in &plan.items {
                let action = match item.action {
                    ImportAction::Create => "create",
                    ImportAction::Update => "update",
                    ImportAction::Unchanged => "unchanged",
                };
                writeln!(out, "{action:9} {:7} {}", item.kind, item.name)?;
            }
            let c = plan.counts;
            writeln!(
                out,
                "{}: projects {} created, {} updated; pools {} created, {} updated; repos {} created, {} updated",
                if dry_run { "dry run (nothing changed)" } else { "imported" },
                c.projects_created,
                c.projects_updated,
                c.pools_created,
                c.pools_updated,
                c.repos_created,
                c.repos_updated
            )?;
            true
        }
        Err(ConfigChangeError::Rejected(rejection)) => {
            writeln!(out, "nothing imported: {} error(s)", rejection.fields.len().max(1))?;
            if rejection.fields.is_empty() {
                writeln!(out, "  {}", rejection.message)?;
            }
            for field in &rejection.fields {
                writeln!(out, "  {}: {}", field.field, field.message)?;
            }
            false
        }
        Err(error) => {
            writeln!(out, "nothing imported: {error}")?;
            false
        }
    };
    engine.shutdown().await;
    Ok(ok)
}
