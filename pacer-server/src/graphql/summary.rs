//! One line per event for the audit table and job timelines; the full payload is always
//! available next to it.

use pacer_domain::{Event, RetentionKind, WarmSizing};

/// A one-line description of `event`.
pub(crate) fn summary(event: &Event) -> String {
    match event {
        Event::ProjectCreated(e) => format!("project {} created", e.spec.name),
        Event::ProjectUpdated(e) => format!("project {} updated", e.spec.name),
        Event::ProjectDeleted(e) => format!("project {} deleted", e.name),
        Event::PoolCreated(e) => format!("pool {} created", e.spec.name),
        Event::PoolUpdated(e) => format!("pool {} updated", e.spec.name),
        Event::PoolDeleted(e) => format!("pool {} deleted", e.name),
        Event::PoolTemplateMaterialized(e) => {
            format!("{} launch template {} at version {}", e.pool, e.template.id, e.template.version)
        }
        Event::RepoBound(e) => format!("repo {} bound", e.spec.full_name),
        Event::RepoUpdated(e) => format!("repo {} updated", e.spec.full_name),
        Event::RepoUnbound(e) => format!("repo {} unbound", e.full_name),
        Event::ConfigImported(e) => format!(
            "backup imported: {}+{} projects, {}+{} pools, {}+{} repos (created+updated)",
            e.counts.projects_created,
            e.counts.projects_updated,
            e.counts.pools_created,
            e.counts.pools_updated,
            e.counts.repos_created,
            e.counts.repos_updated
        ),
        Event::ConfigExported(e) => format!("backup exported: {} projects", e.counts.projects_created),
        Event::WebhookPinged(_) => "GitHub pinged the webhook".into(),
        Event::WebhookIgnored(e) => format!("{} webhook ignored", e.event),
        Event::WebhookDuplicate(e) => format!("duplicate {} delivery {}", e.event, e.delivery_id),
        Event::WebhookAbsorbed(e) => format!("late {} for {} absorbed: {}", e.action, e.job, e.reason),
        Event::JobQueued(e) => format!("{} queued for {} ({})", e.job, e.repo, e.labels.join(", ")),
        Event::JobIgnored(e) => {
            format!("job {} of {} ignored: {}", e.github_job_id, e.repo, e.reason.as_str())
        }
        Event::JobNoPoolMatch(e) => {
            format!(
                "no pool for job {} of {} ({}): {}",
                e.github_job_id,
                e.repo,
                e.labels.join(", "),
                e.reason.as_str()
            )
        }
        Event::JobClaimed(e) => format!("{} claimed, attempt {} ({})", e.job, e.attempt, e.market.as_str()),
        Event::JobClaimExpired(e) => format!("{} claim expired; back in the queue", e.job),
        Event::JobSpawnLaunched(e) => format!(
            "{} launched {} ({}, {}, {})",
            e.job,
            e.instance.instance_id,
            e.instance.instance_type,
            e.instance.availability_zone,
            e.instance.market.as_str()
        ),
        Event::JobSpawnRetry(e) => {
            format!(
                "{} launch attempt {} failed ({}); retry at {}",
                e.job, e.attempt, e.error.code, e.next_retry_at
            )
        }
        Event::JobSpawnFailed(e) => format!("{} launch failed: {}", e.job, e.error),
        Event::JobStarted(e) => {
            format!("{} running on {}", e.job, e.runner_name.as_deref().unwrap_or("a runner"))
        }
        Event::JobRunnerRebound(e) => format!("{} ran on {} instead", e.job, e.instance),
        Event::JobInstanceReassigned(e) => match &e.instance {
            Some(instance) => format!("{} now waits for {instance}", e.job),
            None => format!("{} lost its instance; back in the queue", e.job),
        },
        Event::JobCompleted(e) => format!("{} completed", e.end.job),
        Event::JobFailed(e) => format!("{} failed at {}: {}", e.end.job, e.stage.as_str(), e.message),
        Event::JobCancelled(e) => format!("{} cancelled", e.end.job),
        Event::JobReaped(e) => format!("{} reaped after {} minutes", e.end.job, e.max_runtime_minutes),
        Event::InstanceRegistered(e) => format!("runner {} registered for {}", e.runner_name, e.job),
        Event::InstanceTerminated(e) => format!("instance {} {}", e.instance, e.state),
        Event::InstanceLost(e) => format!(
            "instance {} lost ({}{})",
            e.instance,
            e.state,
            if e.reason.is_empty() { String::new() } else { format!(": {}", e.reason) }
        ),
        Event::InstanceReaped(e) => format!("instance {} reaped ({})", e.instance, e.reason.as_str()),
        Event::InstanceOrphanFound(e) => format!(
            "orphan instance {} found{}",
            e.instance,
            if e.terminated { " and terminated" } else { "" }
        ),
        Event::RunnerBootstrapped(e) => format!("instance {} bootstrapped for {}", e.instance, e.job),
        Event::RunnerRegisterFailed(e) => {
            format!("GitHub refused the runner of {} ({}): {}", e.instance, e.status, e.message)
        }
        Event::RunnerRegisterRefused(e) => {
            format!("refused another runner registration for {} ({})", e.instance, e.reason.as_str())
        }
        Event::RunnerCompleted(e) => format!("runner on {} exited with {}", e.instance, e.exit_code),
        Event::RunnerErrored(e) => {
            format!(
                "runner on {} failed at {} with exit code {} (line {})",
                e.instance, e.stage, e.exit_code, e.line
            )
        }
        Event::PoolWarmSet(e) => match &e.warm {
            Some(warm) => format!(
                "{} holds warm instances ({}), recycled after {} minutes idle",
                e.pool,
                warm_sizing(&warm.sizing),
                warm.max_age_minutes
            ),
            None => format!("{} holds no warm instances", e.pool),
        },
        Event::WarmLaunched(e) => format!(
            "{} instance {} ({}) launched for {}: {}",
            if e.stopped { "stopped warm" } else { "hot" },
            e.instance.instance_id,
            e.instance.instance_type,
            e.pool,
            e.reason
        ),
        Event::WarmReady(e) => format!("hot instance {} ready, waiting for a job", e.instance),
        Event::WarmStopped(e) => {
            format!("warm instance {} ready and stopped until a job needs it", e.instance)
        }
        Event::WarmStarted(e) => format!("stopped warm instance {} started for {}", e.instance, e.job),
        Event::WarmStartFailed(e) => {
            format!("stopped warm instance {} could not start for {}: {}", e.instance, e.job, e.error)
        }
        Event::WarmBootstrapped(e) => format!("warm instance {} bootstrapped, waiting for a job", e.instance),
        Event::WarmTaken(e) => format!("{} took warm instance {}", e.job, e.instance),
        Event::WarmErrored(e) => format!(
            "warm instance {} failed at {} with exit code {} (line {})",
            e.instance, e.stage, e.exit_code, e.line
        ),
        Event::UserCreated(e) => format!("user {} created", e.email),
        Event::AuthLoginSucceeded(e) => format!("{} signed in from {}", e.email, e.ip),
        Event::AuthLoginFailed(e) => format!("sign-in as {} from {} failed: {}", e.email, e.ip, e.reason),
        Event::AuthLogout(e) => format!("{} signed out", e.email),
        Event::UserDisabled(e) => format!("user {} disabled", e.email),
        Event::UserEnabled(e) => format!("user {} enabled", e.email),
        Event::AuthOidcLoginDenied(e) => {
            format!("SSO sign-in of {} from {} denied: {}", e.email, e.ip, e.reason)
        }
        Event::SettingsBootstrapTokenRotated(e) => format!("bootstrap token rotated (now {})", e.fingerprint),
        Event::PoolBootstrapTokenRotated(e) => format!("{}'s bootstrap token rotated", e.pool),
        Event::RunnerBootstrapRefused(e) => {
            format!("refused {}'s bootstrap token for {} ({})", e.pool, e.instance, e.reason.as_str())
        }
        Event::SettingsRetentionChanged(e) => format!("retention set to {} days", e.days),
        Event::SettingsRetentionSet(e) => {
            let kind = match e.kind {
                RetentionKind::Audit => "audit",
                RetentionKind::Webhook => "raw webhook",
                RetentionKind::FailureLog => "failure log",
            };
            match e.days {
                Some(1) => format!("{kind} retention set to 1 day"),
                Some(days) => format!("{kind} retention set to {} days", thousands(u64::from(days))),
                None => format!("{kind} retention back to the default"),
            }
        }
        Event::RetentionSwept(e) => {
            let what = match (e.kind, e.deleted) {
                (pacer_domain::RetentionKind::FailureLog, 1) => "runner failure log",
                (pacer_domain::RetentionKind::FailureLog, _) => "runner failure logs",
                (_, 1) => "raw webhook payload",
                _ => "raw webhook payloads",
            };
            format!(
                "{} {what} past their retention deleted (dated before {})",
                thousands(u64::from(e.deleted)),
                e.before
            )
        }
        Event::AuditPruned(e) => {
            let records = if e.first_seq == e.last_seq {
                format!("log record {} pruned", thousands(e.first_seq))
            } else {
                format!("log records {}–{} pruned", thousands(e.first_seq), thousands(e.last_seq))
            };
            match &e.archive {
                Some(archive) => format!("{records} (through {}), archived to {archive}", e.through),
                None => format!("{records} (through {})", e.through),
            }
        }
        Event::GithubAppCreated(e) => {
            format!("GitHub App {} (id {}) created for {}", e.slug, e.app_id, e.owner)
        }
        Event::LeaseAcquired(e) => format!("replica {} runs the effects (term {})", e.holder, e.term),
        Event::JobGithubNoted(e) => {
            let mut said = Vec::new();
            if let Some(at) = e.created_at {
                said.push(format!("created {at}"));
            }
            if let Some(at) = e.started_at {
                said.push(format!("started {at}"));
            }
            if let Some(at) = e.completed_at {
                said.push(format!("completed {at}"));
            }
            if !e.sender_type.is_empty() {
                said.push(format!("sent by a {}", e.sender_type));
            }
            format!("GitHub says: {}", said.join(", "))
        }
        Event::HealthChanged(e) if e.ok => format!("{} healthy again", e.component),
        Event::HealthChanged(e) => format!("{} unhealthy: {}", e.component, e.message),
    }
}

/// `n` with a comma between thousands (`5,000`).
/// A warm sizing in a few words: `2 hot, 0 stopped`, `schedule in Europe/Berlin, 3 windows`,
/// `forecast p90 over 4 weeks`.
pub(crate) fn warm_sizing(sizing: &WarmSizing) -> String {
    match sizing {
        WarmSizing::Fixed(c) => format!("{} hot, {} stopped", c.hot, c.stopped),
        WarmSizing::Schedule { zone, windows, .. } => {
            let s = if windows.len() == 1 { "" } else { "s" };
            format!("schedule in {zone}, {} window{s}", windows.len())
        }
        WarmSizing::Forecast { quantile, weeks } => format!("forecast p{quantile} over {weeks} weeks"),
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// The event's payload as JSON (without the variant wrapper).
pub(crate) fn payload(event: &Event) -> serde_json::Value {
    match serde_json::to_value(event) {
        Ok(serde_json::Value::Object(map)) if map.len() == 1 => {
            map.into_iter().next().map(|(_, v)| v).unwrap_or_default()
        }
        Ok(other) => other,
        Err(_) => serde_json::Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pacer_domain::{AuditPruned, SettingsRetentionSet, Timestamp};

    #[test]
    fn retention_changes_and_prunes_read_as_sentences() {
        let set = |kind, days| summary(&Event::SettingsRetentionSet(SettingsRetentionSet { kind, days }));
        assert_eq!(set(RetentionKind::Audit, Some(30)), "audit retention set to 30 days");
        assert_eq!(set(RetentionKind::Audit, Some(3_650)), "audit retention set to 3,650 days");
        assert_eq!(set(RetentionKind::Webhook, Some(1)), "raw webhook retention set to 1 day");
        assert_eq!(set(RetentionKind::FailureLog, None), "failure log retention back to the default");
        let pruned = |first_seq, last_seq, archive: Option<&str>| {
            let through = Timestamp(1_790_000_000_000);
            let archive = archive.map(str::to_owned);
            summary(&Event::AuditPruned(AuditPruned { first_seq, last_seq, through, archive }))
        };
        assert_eq!(
            pruned(1, 5_000, Some("pacer-log-1-5000.jsonl.gz")),
            "log records 1–5,000 pruned (through 2026-09-21T14:13:20.000Z), archived to pacer-log-1-5000.jsonl.gz"
        );
        assert_eq!(
            pruned(1_234_567, 1_234_567, None),
            "log record 1,234,567 pruned (through 2026-09-21T14:13:20.000Z)"
        );
    }
}
