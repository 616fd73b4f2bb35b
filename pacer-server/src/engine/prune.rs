//! The retention pass, started by the reaper's full pass at most once per [`RETENTION_EVERY`]
//! as a task of its own (a long prune holds up no teardown; shutdown waits for it): deletes the raw
//! webhook payloads and runner failure logs past their retention (each kind in the write that
//! records `retention.swept` with the count and the cutoff), and prunes the log's records
//! older than the audit retention (each setting is the config default or the console's
//! override, see [`crate::retention`]), then lets the log delete its own bookkeeping no reader
//! needs ([`pacer_store::EventLog::tidy`]: the shared log's old vault change notices).
//!
//! Pruning the log needs a snapshot that covers the records ([`pacer_store::prune`]): when
//! there is something to prune, the pass writes one first (niced, as the snapshot loop does),
//! then prunes below it, archiving the records first when `retention.archive_dir` is set, and
//! records `audit.pruned`. A prune the store made but the log does not record yet (a crash in
//! between) is recorded by the next pass. On a log shared by replicas only the effects lease
//! holder runs the pass (the reaper is one of its effects); the others learn the new base from
//! the shared log and fold `audit.pruned` like any record.

use super::Engine;
use pacer_domain::{Command, DAY_MS, MINUTE_MS, RetentionKind, Timestamp};
use pacer_store::{AuditQuery, LogBase, Pruned};
use std::sync::Arc;

/// How often the retention pass runs at most.
const RETENTION_EVERY: i64 = 60 * MINUTE_MS;

impl Engine {
    /// Starts the retention pass (see the module doc), unless one started within
    /// [`RETENTION_EVERY`].
    pub(crate) fn enforce_retention(self: &Arc<Self>) {
        let now = self.app.now();
        {
            let mut last = self.retention_ran_at.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if last.is_some_and(|at| now.millis_since(at) < RETENTION_EVERY) {
                return;
            }
            *last = Some(now);
        }
        let engine = self.clone();
        self.spawn_task(|_| async move { engine.retention_pass(now).await });
    }

    /// The retention pass, as of `now`.
    async fn retention_pass(self: &Arc<Self>, now: Timestamp) {
        let days = |kind| crate::retention::days(&self.app.state(), &self.settings.retention, kind);
        let (payloads, before) = crate::payloads::expired_by(&self.app, days(RetentionKind::Webhook));
        match self.sweep(RetentionKind::Webhook, payloads, before).await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "raw webhook payloads past their retention deleted"),
            Err(error) => tracing::warn!(%error, "could not delete raw webhook payloads"),
        }
        let (logs, before) = crate::failure_logs::expired_by(&self.app, days(RetentionKind::FailureLog));
        match self.sweep(RetentionKind::FailureLog, logs, before).await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "runner failure logs past their retention deleted"),
            Err(error) => tracing::warn!(%error, "could not delete runner failure logs"),
        }
        let before = now.plus_millis(-i64::from(days(RetentionKind::Audit)) * DAY_MS);
        if let Err(error) = self.prune_log(before).await {
            tracing::warn!(%error, "could not prune the event log");
        }
        let log = self.app.log().clone();
        match blocking(move || log.tidy()).await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "the log's old bookkeeping deleted"),
            Err(error) => tracing::warn!(%error, "could not delete the log's old bookkeeping"),
        }
    }

    /// Prunes the log's records before `before` (see the module doc).
    async fn prune_log(self: &Arc<Self>, before: Timestamp) -> Result<(), String> {
        let log = self.app.log().clone();
        self.record_prune(log.base(), None).await?;
        let reading = log.clone();
        let due = blocking(move || {
            let older = reading.audit(&AuditQuery { to: Some(before), limit: 1, ..AuditQuery::default() })?;
            Ok(older.first().is_some_and(|r| r.seq > reading.base().link.seq))
        })
        .await?;
        if !due {
            return Ok(());
        }
        super::write_snapshot_niced(self.clone()).await;
        let archive_dir = self.settings.retention.archive_dir.clone();
        let pruning = log.clone();
        let pruned =
            blocking(move || pacer_store::prune(pruning.as_ref(), before, archive_dir.as_deref())).await?;
        if let Some(Pruned { archive, .. }) = pruned {
            let name = archive
                .as_deref()
                .and_then(|path| path.file_name())
                .map(|n| n.to_string_lossy().into_owned());
            self.record_prune(log.base(), name).await?;
        }
        Ok(())
    }

    /// Records `audit.pruned` for a `base` the state has not recorded yet.
    async fn record_prune(&self, base: LogBase, archive: Option<String>) -> Result<(), String> {
        if base.link.seq <= self.app.state().pruned_through() {
            return Ok(());
        }
        let command = Command::RecordPrune { last_seq: base.link.seq, through: base.at, archive };
        self.system(command).await.map(drop).map_err(|e| format!("could not record the prune: {e}"))
    }
}

/// Runs `work` on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, pacer_store::StoreError> + Send + 'static,
) -> Result<T, String> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(error) => Err(error.to_string()),
    }
}
