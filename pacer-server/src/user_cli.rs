//! `pacer user list|add|disable|enable` against a stopped Pacer's data directory, or the log a
//! configuration names (a shared DynamoDB log while its replicas run): `add` creates
//! a local user and prints a random password once; `disable`/`enable` record the same as the
//! `disableUser`/`enableUser` mutations, and a disabled user's sessions end in the vault at
//! once. Everything is audited as `$USER@cli`.

use crate::app::App;
use crate::auth::{UserChangeError, create_local_user, set_user_disabled};
use crate::clock::{Clock, SystemClock};
use crate::secrets::Secrets;
use anyhow::Context;
use pacer_domain::Actor;
use pacer_store::{EventLog, RocksLog, load_state};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

/// What `pacer user` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UserCommand {
    /// Print every user with their state.
    List,
    /// Create a local user by email.
    Add(String),
    /// Disable (`true`) or enable a user by email.
    SetDisabled(String, bool),
}

/// The RocksDB log in the data directory `data` of a stopped Pacer.
pub(crate) fn open_data(data: &Path) -> anyhow::Result<Arc<dyn EventLog>> {
    anyhow::ensure!(
        data.join("db").exists(),
        "no pacer data in {} (expected {}/db)",
        data.display(),
        data.display()
    );
    let log = RocksLog::open(data)
        .with_context(|| format!("opening {} (is pacer running? stop it first)", data.display()))?;
    Ok(Arc::new(log))
}

/// Runs `command` on `log` (whose Pacer keeps its own files in `data`); `Ok(false)` when it
/// was refused (the reason printed to `out`). On a shared log the replicas may be running.
pub(crate) async fn run(
    log: Arc<dyn EventLog>,
    data: &Path,
    command: UserCommand,
    out: &mut dyn Write,
) -> anyhow::Result<bool> {
    let (state, _) = load_state(&*log).context("loading state")?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let app = App::start(state, log.clone(), clock, Box::new(|_, _| {}));
    let by = Actor::User(format!("{}@cli", std::env::var("USER").unwrap_or_else(|_| "cli".into())));
    let result = match command {
        UserCommand::List => {
            for user in app.state().users.values() {
                let state = if user.disabled { "disabled" } else { "enabled" };
                let last = user.last_login_at.map_or_else(|| "never".to_owned(), |t| t.to_string());
                writeln!(out, "{}\t{state}\tcreated {}\tlast sign-in {last}", user.email, user.created_at)?;
            }
            Ok(true)
        }
        UserCommand::Add(email) if app.state().users.contains_key(&email.trim().to_ascii_lowercase()) => {
            writeln!(out, "{email}: a user with this email exists")?;
            Ok(false)
        }
        UserCommand::Add(email) => {
            let secrets = Secrets::open(log.clone(), data)?;
            let password = create_local_user(&app, &secrets, &email, by).await?;
            writeln!(out, "created {email} with password {password}\nthis password is shown only now")?;
            Ok(true)
        }
        UserCommand::SetDisabled(email, disabled) => {
            let secrets = Secrets::open(log.clone(), data)?;
            match set_user_disabled(&app, &secrets, &email, disabled, by).await {
                Ok(()) => {
                    let done = if disabled { "disabled; every session of theirs ended" } else { "enabled" };
                    writeln!(out, "{email}: {done}")?;
                    Ok(true)
                }
                Err(UserChangeError::Unavailable(message)) => Err(anyhow::anyhow!(message)),
                Err(refused) => {
                    writeln!(out, "{email}: {refused}")?;
                    Ok(false)
                }
            }
        }
    };
    app.stop();
    log.flush().context("flushing the event log")?;
    result
}
