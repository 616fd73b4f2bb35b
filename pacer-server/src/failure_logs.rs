//! Runner failure logs: the end of a failed runner's log, as its error report
//! (`POST /api/runner/error`) sent it, for the job detail's failure log. Kept beside the log,
//! not in it, so it can go before the records do: in the cold part of the vault (on disk, read
//! when a detail asks) under `cold/failure:<job>:<instance>`, written in the same batch as the
//! `runner.errored` record (which then holds an empty `log_tail`), and deleted
//! `retention.failure_log_days` (or the console's override) after it arrived ([`prune`]).
//! Records written by earlier versions still hold their tail, which the detail falls back to.

use crate::app::App;
use pacer_domain::{DAY_MS, JobId, Timestamp};
use pacer_store::{EventLog, VaultWrite};
use serde::{Deserialize, Serialize};

/// Vault key prefix.
const PREFIX: &str = "cold/failure:";

/// A kept failure log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct FailureLog {
    /// When it arrived.
    at: Timestamp,
    /// The end of the runner's log (at most [`pacer_domain::MAX_LOG_TAIL_BYTES`]).
    log: String,
}

/// The vault write keeping `log` (cut to its end) for `job`'s runner on `instance`, arrived at
/// `at`; a later report from the same instance replaces it.
pub(crate) fn write(job: JobId, instance: &str, log: String, at: Timestamp) -> VaultWrite {
    let kept = FailureLog { at, log: pacer_domain::log_tail_end(log) };
    VaultWrite {
        key: format!("{PREFIX}{}:{instance}", job.0),
        value: Some(serde_json::to_vec(&kept).unwrap_or_default()),
    }
}

/// The newest failure log kept for `job`; `None` when none was reported or it was deleted.
pub(crate) fn of_job(log: &dyn EventLog, job: JobId) -> Option<String> {
    log.vault_scan(&format!("{PREFIX}{}:", job.0))
        .into_iter()
        .filter_map(|(_, value)| serde_json::from_slice::<FailureLog>(&value).ok())
        .max_by_key(|kept| kept.at)
        .map(|kept| kept.log)
}

/// The deletions of the failure logs that arrived more than `days` days before now, and that
/// cutoff.
pub(crate) fn expired_by(app: &App, days: u32) -> (Vec<VaultWrite>, Timestamp) {
    let cutoff = app.now().plus_millis(-i64::from(days) * DAY_MS);
    (expired(app.log().vault_scan(PREFIX), cutoff), cutoff)
}

/// The deletions of the `scanned` entries that arrived before `cutoff` (or do not decode).
fn expired(scanned: Vec<(String, Vec<u8>)>, cutoff: Timestamp) -> Vec<VaultWrite> {
    scanned
        .into_iter()
        .filter(|(_, value)| {
            serde_json::from_slice::<FailureLog>(value).map_or(true, |kept| kept.at < cutoff)
        })
        .map(|(key, _)| VaultWrite { key, value: None })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_is_kept_per_job_and_instance_cut_to_its_end_and_expires_by_arrival() {
        let long = "x".repeat(pacer_domain::MAX_LOG_TAIL_BYTES + 5);
        let kept = write(JobId(7), "i-1", long, Timestamp(100));
        assert_eq!(kept.key, "cold/failure:7:i-1");
        let stored: FailureLog =
            serde_json::from_slice(kept.value.as_deref().unwrap_or_default()).expect("json");
        assert_eq!(stored.log.len(), pacer_domain::MAX_LOG_TAIL_BYTES);
        let scanned = vec![
            (kept.key.clone(), kept.value.clone().unwrap_or_default()),
            (
                "cold/failure:8:i-2".to_owned(),
                serde_json::to_vec(&FailureLog { at: Timestamp(300), log: "y".into() }).expect("json"),
            ),
            ("cold/failure:9:i-3".to_owned(), b"not json".to_vec()),
        ];
        let gone: Vec<String> = expired(scanned, Timestamp(200)).into_iter().map(|w| w.key).collect();
        assert_eq!(gone, ["cold/failure:7:i-1", "cold/failure:9:i-3"]);
    }
}
