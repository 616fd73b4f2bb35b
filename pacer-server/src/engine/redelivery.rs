//! Missed-webhook recovery: GitHub does not redeliver by itself, so every
//! `github.redelivery_interval_seconds` Pacer lists the App's recent deliveries and asks GitHub
//! to redeliver each failed one whose delivery id the log has never recorded.

use super::Engine;
use crate::metrics::GitHubCall;
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::watch;

pub(super) async fn run(engine: Arc<Engine>, mut shutdown: watch::Receiver<bool>) {
    let mut asked: HashSet<u64> = HashSet::new();
    let mut since =
        engine.app.now().plus_millis(-(engine.settings.redelivery_interval.as_millis() as i64) * 2);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(engine.settings.redelivery_interval) => {}
        }
        let now = engine.app.now();
        match pass(&engine, since, &mut asked).await {
            Ok(redelivered) => {
                if redelivered > 0 {
                    tracing::info!(redelivered, "asked GitHub to redeliver missed webhooks");
                }
                since = now.plus_millis(-(engine.settings.redelivery_interval.as_millis() as i64));
                engine.health("github", Ok(())).await;
            }
            Err(error) => {
                engine.metrics.github_error(GitHubCall::Deliveries, error.status);
                engine.health("github", Err(format!("cannot list webhook deliveries: {error}"))).await;
            }
        }
    }
}

/// Redelivers failed deliveries Pacer never recorded; returns how many it asked for.
pub(super) async fn pass(
    engine: &Engine,
    since: pacer_domain::Timestamp,
    asked: &mut HashSet<u64>,
) -> Result<usize, crate::github::GitHubError> {
    let deliveries = engine.github.deliveries(since).await?;
    let succeeded: HashSet<&str> =
        deliveries.iter().filter(|d| !d.failed()).map(|d| d.guid.as_str()).collect();
    let mut count = 0;
    for delivery in deliveries.iter().filter(|d| d.failed() && !succeeded.contains(d.guid.as_str())) {
        let recorded = engine.app.log().has_key(&format!("delivery:{}", delivery.guid)).unwrap_or(true);
        if recorded || !asked.insert(delivery.id) {
            continue;
        }
        match engine.github.redeliver(delivery.id).await {
            Ok(()) => count += 1,
            Err(error) => {
                engine.metrics.github_error(GitHubCall::Redeliver, error.status);
                tracing::warn!(delivery = %delivery.guid, %error, "redelivery refused");
            }
        }
    }
    Ok(count)
}
