//! `pacer doctor` and the Settings page's checks: one list of everything a working Pacer needs
//! from the outside, each with what was found and, when it fails, what to do. AWS: credentials
//! and region, every permission (EC2's DryRun), prices. GitHub: the App's key, its events and
//! permissions, the clock against GitHub's, the webhook URL, recent deliveries, an installation
//! for every bound repository and organization. Pacer itself: its public URL answers, and free disk
//! (RocksDB) or that the shared log answers (DynamoDB).

use crate::github::{GitHub, GitHubError, RunnerScope};
use pacer_aws::{Compute, Verdict};
use pacer_domain::{Market, Timestamp};
use std::path::Path;
use std::time::Duration;

/// How far Pacer's clock may drift from GitHub's before the App's JWTs are refused (GitHub
/// accepts tokens issued up to 60 s in the future; Pacer issues them 30 s in the past).
const MAX_SKEW_MS: i64 = 30_000;
/// Repositories and organizations whose installation is looked up (the rest are counted).
const MAX_INSTALLATION_CHECKS: usize = 50;
/// Free space below which the log can stop accepting writes soon.
const DISK_FAILED_BYTES: u64 = 1 << 30;
/// Free space below which the operator should plan.
const DISK_WARNING_BYTES: u64 = 5 << 30;

/// A check's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// Works.
    Ok,
    /// Works, but not as it should (or could not be fully checked).
    Warning,
    /// Broken: Pacer cannot do its job until it is fixed.
    Failed,
    /// Not checked (says why).
    Skipped,
}

#[cfg(feature = "standalone")]
impl Status {
    /// Lower case, as printed.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warning => "warning",
            Status::Failed => "FAILED",
            Status::Skipped => "skipped",
        }
    }
}

/// One check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Check {
    /// What was checked.
    pub name: String,
    /// How it went.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What to do about it (empty when nothing).
    pub fix: String,
}

impl Check {
    fn new(
        name: impl Into<String>,
        status: Status,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check { name: name.into(), status, detail: detail.into(), fix: fix.into() }
    }

    fn ok(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check::new(name, Status::Ok, detail, "")
    }
}

/// Repositories and organizations Pacer serves; `None` when the state is not at hand.
#[derive(Clone, Debug, Default)]
pub(crate) struct Served {
    /// Bound repositories, `owner/repo`.
    pub repos: Vec<String>,
    /// Organizations of ORG-scoped projects.
    pub orgs: Vec<String>,
}

impl Served {
    /// The bound repositories and the organizations of ORG-scoped projects in `config`.
    pub(crate) fn of(config: &pacer_domain::Config) -> Served {
        let orgs = config
            .projects
            .values()
            .filter(|p| p.spec.scope == pacer_domain::Scope::Org && !p.spec.org_name.is_empty())
            .map(|p| p.spec.org_name.clone());
        Served {
            repos: config.repos.values().map(|b| b.spec.full_name.clone()).collect(),
            orgs: orgs.collect::<std::collections::BTreeSet<_>>().into_iter().collect(),
        }
    }
}

/// Where the event log is kept, as the checks see it.
pub(crate) enum LogPlace<'a> {
    /// RocksDB in this data directory: its free space is checked.
    Disk(&'a Path),
    /// A DynamoDB table and S3 bucket shared by replicas: what opening and reading it said.
    Shared(Result<String, String>),
}

/// What the checks look at.
pub(crate) struct Subject<'a> {
    /// EC2 and prices.
    pub compute: &'a dyn Compute,
    /// GitHub through the App; `None` while there is no App.
    pub github: Option<&'a dyn GitHub>,
    /// Pacer's public URL (`server.public_url`).
    pub public_url: &'a str,
    /// Whether Pacer serves a self-signed certificate (trusted for the reachability check).
    pub self_signed: bool,
    /// Where the event log is kept.
    pub log: LogPlace<'a>,
    /// What Pacer serves, or why it is not known.
    pub served: Result<Served, String>,
    /// Now, by Pacer's clock.
    pub now: Timestamp,
}

/// Runs every check.
pub(crate) async fn run(subject: &Subject<'_>) -> Vec<Check> {
    let (mut checks, github, pacer) = tokio::join!(aws(subject), github(subject), pacer(subject));
    checks.extend(github);
    checks.extend(pacer);
    checks
}

async fn aws(subject: &Subject<'_>) -> Vec<Check> {
    let permissions = subject.compute.preflight().await;
    let answered = permissions.iter().any(|p| matches!(p.verdict, Verdict::Allowed | Verdict::Denied));
    let mut checks = vec![if answered {
        Check::ok("AWS credentials and region", "EC2 answers Pacer's credentials")
    } else {
        let detail = permissions.first().map_or_else(|| "no answer".to_owned(), |p| p.message.clone());
        Check::new(
            "AWS credentials and region",
            Status::Failed,
            format!("EC2 did not answer: {detail}"),
            "give Pacer AWS credentials (an instance profile, a named profile in aws.profile or AWS_PROFILE, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), check aws.region and that the EC2 endpoint is reachable",
        )
    }];
    for permission in permissions {
        let name = format!("permission {}", permission.action);
        checks.push(match permission.verdict {
            Verdict::Allowed => Check::ok(name, "allowed (DryRun)"),
            Verdict::Denied => Check::new(
                name,
                Status::Failed,
                permission.message,
                format!(
                    "grant {} to Pacer's role: `pacer iam-policy` prints the whole policy",
                    permission.action
                ),
            ),
            _ if !answered => Check::new(name, Status::Skipped, "no AWS credentials", ""),
            _ if pacer_aws::GRANTED_ON_PACER_RESOURCES.contains(&permission.action.as_str()) => Check::new(
                name,
                Status::Skipped,
                format!(
                    "granted only on Pacer's tagged resources, which DryRun cannot show: {}",
                    permission.message
                ),
                "",
            ),
            _ => Check::new(
                name,
                Status::Warning,
                permission.message,
                "check the IAM policy (`pacer iam-policy`)",
            ),
        });
    }
    // An on-demand price is the region's: the zone does not matter.
    checks.push(match subject.compute.price("m5.large", "", Market::OnDemand).await {
        Some(quote) => Check::ok("AWS prices", format!("m5.large on demand: {}/h", quote.per_hour)),
        None => Check::new(
            "AWS prices",
            Status::Warning,
            "the Pricing API gave no price for m5.large: jobs will be shown unpriced",
            "allow pricing:GetProducts and reach the Pricing endpoint (api.pricing.us-east-1.amazonaws.com)",
        ),
    });
    checks
}

/// A GitHub failure in words, with what to do about it.
fn github_failure(name: &str, error: &GitHubError) -> Check {
    let fix = match error.status {
        0 => "check that Pacer reaches github.api_url (DNS, proxy, firewall)",
        401 => "check github.app_id and the App's private key (generate a new key in the App's settings)",
        403 | 404 => "check the App's permissions and that it is installed",
        _ => "retry later; GitHub may be having trouble (githubstatus.com)",
    };
    Check::new(name, Status::Failed, error.to_string(), fix)
}

async fn github(subject: &Subject<'_>) -> Vec<Check> {
    let Some(github) = subject.github else {
        return vec![Check::new(
            "GitHub App",
            Status::Failed,
            "no GitHub App is set up: webhooks are refused",
            "create it on the console's Settings page, or set github.app_id, github.private_key_path and github.webhook_secret",
        )];
    };
    let app = match github.app().await {
        Ok(app) => app,
        Err(error) => return vec![github_failure("GitHub App key", &error)],
    };
    let mut checks = vec![Check::ok("GitHub App key", format!("GitHub accepts the JWT of App {}", app.slug))];
    checks.push(if app.events.iter().any(|e| e == "workflow_job") {
        Check::ok("GitHub App events", "subscribed to workflow_job")
    } else {
        Check::new(
            "GitHub App events",
            Status::Failed,
            format!(
                "subscribed to: {}",
                if app.events.is_empty() { "nothing".to_owned() } else { app.events.join(", ") }
            ),
            "subscribe the App to the \"Workflow job\" event (App settings → Permissions & events)",
        )
    });
    let missing: Vec<String> = crate::app_setup::PERMISSIONS
        .iter()
        .filter(|(name, level)| {
            let granted = app.permissions.get(*name).map(String::as_str);
            !(granted == Some(*level) || (*level == "read" && granted == Some("write")))
        })
        .map(|(name, level)| format!("{name}: {level}"))
        .collect();
    checks.push(if missing.is_empty() {
        Check::ok(
            "GitHub App permissions",
            "administration, organization self-hosted runners, actions, metadata",
        )
    } else {
        Check::new(
            "GitHub App permissions",
            Status::Failed,
            format!("missing {}", missing.join(", ")),
            "grant them in the App's settings (Permissions & events), then accept them on each installation",
        )
    });
    checks.push(match app.server_time {
        Some(github_now) => {
            let skew = subject.now.millis() - github_now.millis();
            // GitHub's Date header has whole seconds.
            if skew.abs() <= MAX_SKEW_MS + 1_000 {
                Check::ok("clock", format!("{:+.0} s from GitHub's", skew as f64 / 1000.0))
            } else {
                Check::new(
                    "clock",
                    Status::Failed,
                    format!("{:+.0} s from GitHub's: the App's JWTs are refused", skew as f64 / 1000.0),
                    "synchronise the clock (chrony or systemd-timesyncd)",
                )
            }
        }
        None => Check::new("clock", Status::Skipped, "GitHub's answer had no Date header", ""),
    });
    let expected = format!("{}/api/webhook", subject.public_url.trim_end_matches('/'));
    checks.push(match github.webhook_url().await {
        Ok(url) if url == expected => Check::ok("GitHub webhook URL", url),
        Ok(url) => Check::new(
            "GitHub webhook URL",
            Status::Failed,
            format!("GitHub sends webhooks to {}", if url.is_empty() { "nowhere" } else { &url }),
            format!("set the App's webhook URL to {expected} (App settings → General → Webhook)"),
        ),
        Err(error) => github_failure("GitHub webhook URL", &error),
    });
    let since = subject.now.plus_millis(-24 * 60 * 60 * 1_000);
    checks.push(match github.deliveries(since).await {
        Ok(deliveries) => {
            let recent: Vec<_> = deliveries
                .iter()
                .filter(|d| Timestamp::parse_rfc3339(&d.delivered_at).is_none_or(|t| t >= since))
                .collect();
            let failed: Vec<_> = recent.iter().filter(|d| d.failed()).collect();
            match failed.first() {
                None => Check::ok("GitHub deliveries", format!("{} in the last 24 h, none failed", recent.len())),
                Some(last) => Check::new(
                    "GitHub deliveries",
                    Status::Warning,
                    format!(
                        "{} of {} in the last 24 h failed (latest: status {} at {})",
                        failed.len(),
                        recent.len(),
                        last.status_code,
                        last.delivered_at
                    ),
                    "see the App's Advanced → Recent deliveries; Pacer redelivers failed ones every github.redelivery_interval_seconds",
                ),
            }
        }
        Err(error) => github_failure("GitHub deliveries", &error),
    });
    checks.extend(installations(github, &subject.served).await);
    checks
}

async fn installations(github: &dyn GitHub, served: &Result<Served, String>) -> Vec<Check> {
    let served = match served {
        Ok(served) => served,
        Err(why) => return vec![Check::new("GitHub App installations", Status::Skipped, why.clone(), "")],
    };
    let scopes = served
        .repos
        .iter()
        .filter_map(|full| full.split_once('/'))
        .map(|(owner, repo)| RunnerScope::Repo { owner: owner.to_owned(), repo: repo.to_owned() })
        .chain(served.orgs.iter().map(|org| RunnerScope::Org { org: org.clone() }));
    let mut checks = Vec::new();
    let mut unchecked = 0;
    for (index, scope) in scopes.enumerate() {
        if index >= MAX_INSTALLATION_CHECKS {
            unchecked += 1;
            continue;
        }
        let (name, target) = match &scope {
            RunnerScope::Repo { owner, repo } => {
                (format!("installed on {owner}/{repo}"), format!("{owner}/{repo}"))
            }
            RunnerScope::Org { org } => (format!("installed on {org}"), format!("the {org} organization")),
        };
        checks.push(match github.installation(&scope).await {
            Ok(id) => Check::ok(name, format!("installation {id}")),
            Err(error) if error.status == 404 => Check::new(
                name,
                Status::Failed,
                "the App is not installed there",
                format!("install the App on {target} (the App's page on GitHub → Install)"),
            ),
            Err(error) => github_failure(&name, &error),
        });
    }
    if checks.is_empty() {
        checks.push(Check::ok("GitHub App installations", "no repository or organization bound yet"));
    }
    if unchecked > 0 {
        checks.push(Check::new(
            "GitHub App installations",
            Status::Skipped,
            format!("{unchecked} more repositories or organizations not looked up"),
            "",
        ));
    }
    checks
}

async fn pacer(subject: &Subject<'_>) -> Vec<Check> {
    let url = format!("{}/healthz", subject.public_url.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .tls_danger_accept_invalid_certs(subject.self_signed)
        .build();
    let reachable = match client {
        Ok(client) => client.get(&url).send().await.map_err(|e| e.without_url().to_string()),
        Err(error) => Err(error.to_string()),
    };
    let host = url::Url::parse(subject.public_url).ok().and_then(|u| u.host_str().map(str::to_owned));
    let local = host.as_deref().is_some_and(|h| h == "localhost" || h.starts_with("127.") || h == "[::1]");
    let mut checks = vec![match reachable {
        Ok(response) if response.status().is_success() && local => Check::new(
            "public URL",
            Status::Warning,
            format!("{url} answers, but only this machine can reach a loopback address"),
            "set server.public_url to the address GitHub and the instances reach Pacer at",
        ),
        Ok(response) if response.status().is_success() => Check::ok("public URL", format!("{url} answers")),
        Ok(response) => Check::new(
            "public URL",
            Status::Failed,
            format!("{url} answered {}", response.status()),
            "make server.public_url reach this Pacer (a proxy in front may route it elsewhere)",
        ),
        Err(error) => Check::new(
            "public URL",
            Status::Failed,
            format!("{url} does not answer: {error}"),
            "is Pacer running? Make server.public_url reach it (DNS, firewall, security group, proxy)",
        ),
    }];
    checks.extend(match &subject.log {
        LogPlace::Disk(dir) => disk_checks(dir),
        LogPlace::Shared(Ok(detail)) => vec![Check::ok("shared event log", detail.clone())],
        LogPlace::Shared(Err(error)) => vec![Check::new(
            "shared event log",
            Status::Failed,
            error.clone(),
            "check storage.dynamodb.table, bucket and region, and that Pacer's role has the statements `pacer iam-policy` prints (or set storage.dynamodb.create: true)",
        )],
    });
    checks
}

/// The free space in the data directory and, when its `snapshots` directory leads to another
/// filesystem (a symlink to another volume, see README's Storage), there too.
fn disk_checks(dir: &Path) -> Vec<Check> {
    use std::os::unix::fs::MetadataExt;
    let mut checks = vec![free_disk("free disk", dir)];
    let snapshots = dir.join("snapshots");
    let device = |path: &Path| std::fs::metadata(path).map(|m| m.dev()).ok();
    if let (Some(data), Some(elsewhere)) = (device(dir), device(&snapshots))
        && data != elsewhere
    {
        checks.push(free_disk("free disk (snapshots)", &snapshots));
    }
    checks
}

/// The free space in `dir`, as check `name`.
fn free_disk(name: &'static str, dir: &Path) -> Check {
    match rustix::fs::statvfs(dir) {
        Ok(stats) => {
            let free = stats.f_bavail.saturating_mul(stats.f_frsize);
            let gib = free as f64 / f64::from(1u32 << 30);
            let detail = format!("{gib:.1} GiB free in {}", dir.display());
            if free < DISK_FAILED_BYTES {
                Check::new(
                    name,
                    Status::Failed,
                    detail,
                    "free space or grow the volume: writes stop when it is full",
                )
            } else if free < DISK_WARNING_BYTES {
                Check::new(name, Status::Warning, detail, "plan more space for the event log and snapshots")
            } else {
                Check::ok(name, detail)
            }
        }
        Err(error) => {
            Check::new(name, Status::Warning, format!("{}: {error}", dir.display()), "check storage.path")
        }
    }
}

/// The checks as a table for the terminal.
#[cfg(feature = "standalone")]
pub(crate) fn table(checks: &[Check]) -> String {
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for check in checks {
        out.push_str(&format!("{:<8} {:<width$}  {}\n", check.status.as_str(), check.name, check.detail));
        if !check.fix.is_empty() && matches!(check.status, Status::Failed | Status::Warning) {
            out.push_str(&format!("{:<8} {:<width$}  → {}\n", "", "", check.fix));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_on_another_filesystem_get_their_own_disk_check() {
        let data = tempfile::tempdir().expect("data");
        std::fs::create_dir(data.path().join("snapshots")).expect("snapshots");
        let names = |checks: Vec<Check>| checks.into_iter().map(|c| c.name).collect::<Vec<_>>();
        assert_eq!(names(disk_checks(data.path())), ["free disk"]);
        // /dev/shm is a tmpfs: another filesystem than the temporary directory's.
        let elsewhere = tempfile::tempdir_in("/dev/shm").expect("a directory on /dev/shm");
        std::fs::remove_dir(data.path().join("snapshots")).expect("rmdir");
        std::os::unix::fs::symlink(elsewhere.path(), data.path().join("snapshots")).expect("symlink");
        assert_eq!(names(disk_checks(data.path())), ["free disk", "free disk (snapshots)"]);
    }

    #[cfg(feature = "standalone")]
    #[test]
    fn the_table_shows_fixes_only_for_problems() {
        let checks = [
            Check::ok("clock", "+0 s from GitHub's"),
            Check::new("GitHub webhook URL", Status::Failed, "GitHub sends webhooks to x", "set it to y"),
        ];
        let table = table(&checks);
        assert_eq!(
            table,
            "ok       clock               +0 s from GitHub's\nFAILED   GitHub webhook URL  GitHub sends webhooks to x\n                             → set it to y\n"
        );
    }
}
