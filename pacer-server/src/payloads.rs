//! Raw `workflow_job` webhook payloads, kept for the job detail. Each delivery about a Pacer
//! job is kept in the cold part of the log's vault (on disk, read when a detail asks; see
//! [`pacer_store::COLD_PREFIX`]) under `cold/webhook:<job>:<delivery>`, written in the same batch as
//! the records the delivery caused (the decider adds it, [`crate::app::Meta::raw_payload`]), so
//! a payload is kept exactly when its records are. Deliveries about no Pacer job (not
//! self-hosted, unbound repos) are not kept. A payload is bounded ([`MAX_KEPT`]; the intake
//! already refuses bodies over 1 MiB): a larger one is kept as its size only. [`prune`] removes
//! the payloads of jobs that finished before a cutoff (and of jobs no longer retained); the
//! retention pass calls it with `retention.webhook_days` or the console's override. Payloads
//! kept by earlier versions under `webhook:` (held in memory) are read and pruned alike.

use crate::app::App;
use pacer_domain::{DAY_MS, JobId, State, Timestamp};
use pacer_store::{EventLog, VaultWrite};
use serde::{Deserialize, Serialize};

/// Vault key prefix.
const PREFIX: &str = "cold/webhook:";
/// Where earlier versions kept payloads (in the vault's part held in memory).
const LEGACY_PREFIX: &str = "webhook:";

/// Largest payload kept whole (GitHub's `workflow_job` payloads are about 5–15 KiB).
pub(crate) const MAX_KEPT: usize = 32 * 1024;

/// A delivery as it arrived, for the decider to keep beside its records.
#[derive(Clone, Debug)]
pub struct RawPayload {
    /// `X-GitHub-Delivery`.
    pub delivery_id: String,
    /// The payload's `action`.
    pub action: String,
    /// The body as received (signature verified).
    pub body: bytes::Bytes,
}

/// A kept payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KeptPayload {
    /// `X-GitHub-Delivery`.
    pub delivery_id: String,
    /// The payload's `action`.
    pub action: String,
    /// When Pacer recorded it (the time of its records).
    pub received_at: Timestamp,
    /// The body as received; empty when it was larger than [`MAX_KEPT`].
    pub payload: String,
    /// The body's size in bytes.
    pub bytes: u64,
}

fn job_prefix(prefix: &str, job: JobId) -> String {
    format!("{prefix}{}:", job.0)
}

/// The vault write keeping `raw` for `job`, received at `at`.
pub(crate) fn write(job: JobId, raw: &RawPayload, at: Timestamp) -> VaultWrite {
    let whole = raw.body.len() <= MAX_KEPT;
    let kept = KeptPayload {
        delivery_id: raw.delivery_id.clone(),
        action: raw.action.clone(),
        received_at: at,
        payload: if whole { String::from_utf8_lossy(&raw.body).into_owned() } else { String::new() },
        bytes: raw.body.len() as u64,
    };
    VaultWrite {
        key: format!("{}{}", job_prefix(PREFIX, job), raw.delivery_id),
        value: Some(serde_json::to_vec(&kept).unwrap_or_default()),
    }
}

/// The payloads kept for `job`, oldest first.
pub(crate) fn of_job(log: &dyn EventLog, job: JobId) -> Vec<KeptPayload> {
    let mut kept: Vec<KeptPayload> = [PREFIX, LEGACY_PREFIX]
        .into_iter()
        .flat_map(|prefix| log.vault_scan(&job_prefix(prefix, job)))
        .filter_map(|(_, value)| serde_json::from_slice(&value).ok())
        .collect();
    kept.sort_by(|a, b| (a.received_at, &a.delivery_id).cmp(&(b.received_at, &b.delivery_id)));
    kept
}

/// The deletions that drop, of the `scanned` entries, the payloads of jobs finished before
/// `cutoff` and of jobs `state` no longer retains (ids below its next id: a job another replica
/// queued that this state has not folded yet keeps its payload).
fn expired(scanned: Vec<(String, Vec<u8>)>, state: &State, cutoff: Timestamp) -> Vec<VaultWrite> {
    scanned
        .into_iter()
        .filter(|(key, _)| {
            let rest = key.strip_prefix(PREFIX).or_else(|| key.strip_prefix(LEGACY_PREFIX));
            let job = rest.and_then(|rest| rest.split(':').next()?.parse().ok());
            let Some(id) = job.map(JobId) else { return true };
            match state.jobs.get(id) {
                Some(job) => job.finished_at.is_some_and(|at| at < cutoff),
                None => id < state.jobs.next_id(),
            }
        })
        .map(|(key, _)| VaultWrite { key, value: None })
        .collect()
}

/// The deletions of the payloads of jobs finished more than `days` days before now (and of
/// jobs no longer retained), and that cutoff.
pub(crate) fn expired_by(app: &App, days: u32) -> (Vec<VaultWrite>, Timestamp) {
    // The vault first, then the state: every entry scanned belongs to a write the state holds.
    let mut scanned = app.log().vault_scan(PREFIX);
    scanned.extend(app.log().vault_scan(LEGACY_PREFIX));
    let cutoff = app.now().plus_millis(-i64::from(days) * DAY_MS);
    (expired(scanned, &app.state(), cutoff), cutoff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_per_job_and_delivery_and_large_bodies_keep_their_size_only() {
        let raw = |body: &[u8]| RawPayload {
            delivery_id: "d-1".into(),
            action: "queued".into(),
            body: bytes::Bytes::copy_from_slice(body),
        };
        let small = write(JobId(12), &raw(b"{\"action\":\"queued\"}"), Timestamp(5));
        assert_eq!(small.key, "cold/webhook:12:d-1");
        let kept: KeptPayload =
            serde_json::from_slice(small.value.as_deref().unwrap_or_default()).expect("json");
        assert_eq!(
            (kept.payload.as_str(), kept.bytes, kept.received_at),
            ("{\"action\":\"queued\"}", 19, Timestamp(5))
        );
        let large = write(JobId(1), &raw(&vec![b' '; MAX_KEPT + 1]), Timestamp(5));
        let kept: KeptPayload =
            serde_json::from_slice(large.value.as_deref().unwrap_or_default()).expect("json");
        assert_eq!((kept.payload.as_str(), kept.bytes), ("", MAX_KEPT as u64 + 1));
    }

    #[test]
    fn only_jobs_finished_before_the_cutoff_or_no_longer_retained_expire() {
        // An empty state: job 1 is past its next id (not yet folded), so it keeps its payload.
        let state = State::default();
        let scanned = ["cold/webhook:1:d", "cold/webhook:x:d", "webhook:1:d", "webhook:y:d"]
            .map(|key| (key.to_owned(), Vec::new()))
            .to_vec();
        let gone: Vec<String> = expired(scanned, &state, Timestamp(0)).into_iter().map(|w| w.key).collect();
        assert_eq!(gone, ["cold/webhook:x:d", "webhook:y:d"]);
    }
}
