//! Prometheus metrics (`/metrics`): webhooks by outcome, webhook answer time, jobs by status,
//! live instances, the last folded seq, launch slots allowed and in use, launch latency and
//! queue time, the event log's write times, AWS and GitHub call errors, and the EC2 rate-limit
//! buckets (tokens, refill, throttles, waits).
//!
//! Everything goes through the `metrics` facade onto one `PrometheusRecorder` per running app
//! (no global recorder: tests run several apps in one process), and the exporter renders the
//! text. Every series that has a fixed label set is registered at start, so it exists from zero;
//! the gauges read from the state are set when `/metrics` is rendered. The labels with a fixed
//! set of values are enums here ([`WebhookOutcome`], [`AwsCall`], [`GitHubCall`]).

use crate::engine::LaunchSlots;
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Metadata, Recorder};
use metrics_exporter_prometheus::{
    BuildError, Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use pacer_aws::BucketState;
use pacer_domain::{Event, JobStatus, Recorded, State};
use pacer_store::WriteObserver;
use std::sync::Arc;
use std::time::Duration;

const META: Metadata<'static> = Metadata::new(module_path!(), metrics::Level::INFO, None);

const WEBHOOKS: &str = "pacer_webhooks_total";
const WEBHOOK_SECONDS: &str = "pacer_webhook_duration_seconds";
const JOBS: &str = "pacer_jobs";
const INSTANCES: &str = "pacer_instances";
const LAST_SEQ: &str = "pacer_log_last_seq";
const LAUNCH_SLOTS: &str = "pacer_launch_slots";
const LAUNCHES_IN_FLIGHT: &str = "pacer_launches_in_flight";
const LAUNCH_SECONDS: &str = "pacer_launch_latency_seconds";
const QUEUE_SECONDS: &str = "pacer_queue_time_seconds";
const LOG_WRITE_SECONDS: &str = "pacer_log_write_seconds";
const AWS_ERRORS: &str = "pacer_aws_errors_total";
const GITHUB_ERRORS: &str = "pacer_github_errors_total";
const SUBSCRIPTIONS: &str = "pacer_graphql_subscriptions";
const THROTTLED: &str = "pacer_sign_in_throttled_total";
const LEASE_HELD: &str = "pacer_lease_held";
const LEASE_TERM: &str = "pacer_lease_term";
const REPLICATION_LAG: &str = "pacer_replication_lag_seconds";
const APPEND_RACES: &str = "pacer_append_races_total";
const RATE_LIMIT_TOKENS: &str = "pacer_aws_rate_limit_tokens";
const RATE_LIMIT_REFILL: &str = "pacer_aws_rate_limit_refill_per_second";
const RATE_LIMIT_THROTTLES: &str = "pacer_aws_rate_limit_throttles_total";
const RATE_LIMIT_WAITS: &str = "pacer_aws_rate_limit_waits_total";

/// Bucket bounds (seconds) of the sub-second histograms: webhook answers and log writes.
const FAST_BUCKETS: [f64; 11] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];
/// Bucket bounds (seconds) of every other `…seconds` histogram: launch latency and queue time.
const SLOW_BUCKETS: [f64; 15] =
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0];

/// How Pacer answered a webhook: the `status` of its JSON answer and the `outcome` label it is
/// counted under in `pacer_webhooks_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// A job was queued.
    Queued,
    /// A job event Pacer does not act on (not self-hosted, not its labels, …).
    Ignored,
    /// Pacer's labels, but no pool matches them.
    NoPoolMatch,
    /// A delivery already recorded.
    Duplicate,
    /// A job event folded into what Pacer already knew (a late or repeated update).
    Absorbed,
    /// Recorded, with nothing more to say.
    Accepted,
    /// GitHub's `ping`.
    Pong,
    /// An event type Pacer does not handle.
    IgnoredEvent,
    /// Missing or wrong `X-Hub-Signature-256`.
    BadSignature,
    /// Missing headers, or a payload the domain refused.
    BadRequest,
    /// A body that is not the JSON its event promises.
    Malformed,
    /// The log could not record it (the sender should retry).
    Unavailable,
}

impl WebhookOutcome {
    /// Every outcome, in discriminant order (a counter's index is `outcome as usize`).
    pub const ALL: [WebhookOutcome; 12] = [
        WebhookOutcome::Queued,
        WebhookOutcome::Ignored,
        WebhookOutcome::NoPoolMatch,
        WebhookOutcome::Duplicate,
        WebhookOutcome::Absorbed,
        WebhookOutcome::Accepted,
        WebhookOutcome::Pong,
        WebhookOutcome::IgnoredEvent,
        WebhookOutcome::BadSignature,
        WebhookOutcome::BadRequest,
        WebhookOutcome::Malformed,
        WebhookOutcome::Unavailable,
    ];

    /// The wire spelling (snake case), in the answer and the metric label alike.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookOutcome::Queued => "queued",
            WebhookOutcome::Ignored => "ignored",
            WebhookOutcome::NoPoolMatch => "no_pool_match",
            WebhookOutcome::Duplicate => "duplicate",
            WebhookOutcome::Absorbed => "absorbed",
            WebhookOutcome::Accepted => "accepted",
            WebhookOutcome::Pong => "pong",
            WebhookOutcome::IgnoredEvent => "ignored_event",
            WebhookOutcome::BadSignature => "bad_signature",
            WebhookOutcome::BadRequest => "bad_request",
            WebhookOutcome::Malformed => "malformed",
            WebhookOutcome::Unavailable => "unavailable",
        }
    }
}

impl serde::Serialize for WebhookOutcome {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// An AWS call whose failures are counted in `pacer_aws_errors_total{call}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AwsCall {
    /// Launching a job's instance.
    Launch,
    /// Terminating an instance (reaped or orphaned).
    Terminate,
    /// Describing the instances Pacer knows.
    Describe,
    /// Listing every instance tagged as Pacer's (orphan search).
    ListManaged,
    /// Stopping a warm instance once its runner is ready.
    Stop,
    /// Starting a stopped warm instance for its job.
    Start,
}

impl AwsCall {
    /// The `call` label.
    pub fn as_str(self) -> &'static str {
        match self {
            AwsCall::Launch => "launch",
            AwsCall::Terminate => "terminate",
            AwsCall::Describe => "describe",
            AwsCall::ListManaged => "list_managed",
            AwsCall::Stop => "stop",
            AwsCall::Start => "start",
        }
    }
}

/// A GitHub call whose failures are counted in `pacer_github_errors_total{call}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GitHubCall {
    /// Deregistering a runner before its instance is terminated.
    DeleteRunner,
    /// Listing the webhook's recent deliveries.
    Deliveries,
    /// Asking GitHub to redeliver a failed delivery.
    Redeliver,
    /// Creating a runner's just-in-time configuration.
    GenerateJitconfig,
    /// Reading a job's steps for the job detail.
    GetJob,
}

impl GitHubCall {
    /// The `call` label.
    pub fn as_str(self) -> &'static str {
        match self {
            GitHubCall::DeleteRunner => "delete_runner",
            GitHubCall::Deliveries => "deliveries",
            GitHubCall::Redeliver => "redeliver",
            GitHubCall::GenerateJitconfig => "generate_jitconfig",
            GitHubCall::GetJob => "get_job",
        }
    }
}

/// The recorder with its bucket bounds: the sub-second ones for webhook answers and log writes
/// (a full-name match wins over the suffix match), the wider ones for every other histogram.
fn recorder() -> Result<PrometheusRecorder, BuildError> {
    Ok(PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(WEBHOOK_SECONDS.into()), &FAST_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(LOG_WRITE_SECONDS.into()), &FAST_BUCKETS)?
        .set_buckets_for_metric(Matcher::Suffix("seconds".into()), &SLOW_BUCKETS)?
        .build_recorder())
}

/// The app's metrics: handles registered on its own recorder, cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
    /// `pacer_webhooks_total`, indexed by `WebhookOutcome as usize`.
    webhooks: Arc<[Counter; WebhookOutcome::ALL.len()]>,
    webhook_seconds: Histogram,
    /// `pacer_jobs`, one gauge per status.
    jobs: Arc<[(JobStatus, Gauge)]>,
    instances: Gauge,
    last_seq: Gauge,
    launch_slots: Gauge,
    launches_in_flight: Gauge,
    launch_seconds: Histogram,
    queue_seconds: Histogram,
    log_write_seconds: Histogram,
    subscriptions: Gauge,
    throttled: Counter,
    lease_held: Gauge,
    lease_term: Gauge,
    replication_lag: Gauge,
    append_races: Counter,
}

/// Where this Pacer stands among replicas sharing a log, for [`Metrics::render`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Replication {
    /// Whether it runs the effects (always, on a single machine).
    pub holds_lease: bool,
    /// How long the last record another replica appended took to reach this one's state
    /// (zero on a single machine).
    pub lag: Duration,
    /// Groups decided again because another replica appended first.
    pub races: u64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh recorder with every fixed series registered and described.
    pub fn new() -> Self {
        let recorder = recorder().unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        for (name, text) in [
            (WEBHOOKS, "Webhooks by the outcome Pacer answered with."),
            (APPEND_RACES, "Groups of commands decided again because another replica appended first."),
            (AWS_ERRORS, "Failed AWS calls by call and error code."),
            (GITHUB_ERRORS, "Failed GitHub calls by call and HTTP status."),
            (
                THROTTLED,
                "Sign-in and SSO attempts refused by the throttle (the log records them once per window).",
            ),
            (
                RATE_LIMIT_THROTTLES,
                "EC2 calls answered RequestLimitExceeded, by the request bucket they drew from.",
            ),
            (RATE_LIMIT_WAITS, "EC2 calls that waited for tokens of the bucket."),
        ] {
            recorder.describe_counter(KeyName::from_const_str(name), None, text.into());
        }
        for (name, text) in [
            (JOBS, "Retained jobs by status."),
            (INSTANCES, "Live instances."),
            (LAST_SEQ, "Seq of the last folded record."),
            (LAUNCH_SLOTS, "Launch calls allowed at once (dispatcher.max_concurrent_launches)."),
            (LAUNCHES_IN_FLIGHT, "Launch calls under way."),
            (SUBSCRIPTIONS, "Live GraphQL subscriptions (each with its feeding task)."),
            (
                LEASE_HELD,
                "1 when this Pacer runs the effects (always on a single machine; on replicas, the lease holder).",
            ),
            (LEASE_TERM, "The effects lease term the log last recorded (0 on a single machine)."),
            (
                REPLICATION_LAG,
                "Time the last record another replica appended took to reach this one (append to fold).",
            ),
            (RATE_LIMIT_TOKENS, "Tokens in Pacer's copy of each EC2 rate-limit bucket."),
            (
                RATE_LIMIT_REFILL,
                "Refill of each EC2 rate-limit bucket now: the configured rate, less after throttles.",
            ),
        ] {
            recorder.describe_gauge(KeyName::from_const_str(name), None, text.into());
        }
        for (name, text) in [
            (WEBHOOK_SECONDS, "Webhook answer time, from the body received to the answer ready."),
            (LAUNCH_SECONDS, "Duration of each launch call."),
            (QUEUE_SECONDS, "Time from a job queued to its instance launched."),
            (
                LOG_WRITE_SECONDS,
                "Durable writes of the event log (one per group of appends: write and sync).",
            ),
        ] {
            recorder.describe_histogram(KeyName::from_const_str(name), None, text.into());
        }
        let gauge = |name: &'static str, labels: Vec<Label>| {
            recorder.register_gauge(&Key::from_parts(name, labels), &META)
        };
        let histogram = |name: &'static str| recorder.register_histogram(&Key::from_name(name), &META);
        let webhooks = WebhookOutcome::ALL.map(|outcome| {
            let key = Key::from_parts(WEBHOOKS, vec![Label::new("outcome", outcome.as_str())]);
            recorder.register_counter(&key, &META)
        });
        let jobs = JobStatus::ALL
            .iter()
            .map(|status| (*status, gauge(JOBS, vec![Label::new("status", status.as_str())])))
            .collect();
        Self {
            handle: recorder.handle(),
            webhooks: Arc::new(webhooks),
            webhook_seconds: histogram(WEBHOOK_SECONDS),
            jobs,
            instances: gauge(INSTANCES, Vec::new()),
            last_seq: gauge(LAST_SEQ, Vec::new()),
            launch_slots: gauge(LAUNCH_SLOTS, Vec::new()),
            launches_in_flight: gauge(LAUNCHES_IN_FLIGHT, Vec::new()),
            launch_seconds: histogram(LAUNCH_SECONDS),
            queue_seconds: histogram(QUEUE_SECONDS),
            log_write_seconds: histogram(LOG_WRITE_SECONDS),
            subscriptions: gauge(SUBSCRIPTIONS, Vec::new()),
            throttled: recorder.register_counter(&Key::from_name(THROTTLED), &META),
            lease_held: gauge(LEASE_HELD, Vec::new()),
            lease_term: gauge(LEASE_TERM, Vec::new()),
            replication_lag: gauge(REPLICATION_LAG, Vec::new()),
            append_races: recorder.register_counter(&Key::from_name(APPEND_RACES), &META),
            recorder: Arc::new(recorder),
        }
    }

    /// Counts a webhook by the outcome Pacer answered with and observes how long the answer
    /// took once the body was in.
    pub fn webhook(&self, outcome: WebhookOutcome, took: Duration) {
        self.webhooks[outcome as usize].increment(1);
        self.webhook_seconds.record(took.as_secs_f64());
    }

    /// Counts a failed AWS call; `code` is AWS's error code (`other` when it gave none).
    pub fn aws_error(&self, call: AwsCall, code: &str) {
        let labels = vec![Label::new("call", call.as_str()), Label::new("code", code.to_owned())];
        self.recorder.register_counter(&Key::from_parts(AWS_ERRORS, labels), &META).increment(1);
    }

    /// Counts a failed GitHub call by the HTTP status it answered.
    pub fn github_error(&self, call: GitHubCall, status: u16) {
        let labels = vec![Label::new("call", call.as_str()), Label::new("status", status.to_string())];
        self.recorder.register_counter(&Key::from_parts(GITHUB_ERRORS, labels), &META).increment(1);
    }

    /// Sets the EC2 rate-limit series from the buckets' states (none when EC2 is called without
    /// rate limits).
    pub fn rate_limits(&self, buckets: &[BucketState]) {
        for state in buckets {
            let key =
                |name: &'static str| Key::from_parts(name, vec![Label::new("bucket", state.bucket.name())]);
            self.recorder.register_gauge(&key(RATE_LIMIT_TOKENS), &META).set(state.tokens);
            self.recorder.register_gauge(&key(RATE_LIMIT_REFILL), &META).set(state.refill_per_second);
            self.recorder.register_counter(&key(RATE_LIMIT_THROTTLES), &META).absolute(state.throttles);
            self.recorder.register_counter(&key(RATE_LIMIT_WAITS), &META).absolute(state.waits);
        }
    }

    /// Counts a sign-in or SSO attempt the throttle refused.
    pub(crate) fn throttled(&self) {
        self.throttled.increment(1);
    }

    /// `pacer_graphql_subscriptions`, moved by the subscriptions themselves.
    pub(crate) fn subscriptions_gauge(&self) -> Gauge {
        self.subscriptions.clone()
    }

    /// Observes one launch call's duration.
    pub fn launch_latency(&self, took: Duration) {
        self.launch_seconds.record(took.as_secs_f64());
    }

    /// Observes the facts of committed records (queue time at launch).
    pub fn observe(&self, records: &[Recorded], state: &State) {
        for record in records {
            if let Event::JobSpawnLaunched(e) = &record.event
                && let Some(job) = state.jobs.get(e.job)
            {
                self.queue_seconds.record(record.at.millis_since(job.queued_at) as f64 / 1_000.0);
            }
        }
    }

    /// What the event log calls after each group write, feeding `pacer_log_write_seconds`
    /// (give it to [`pacer_store::RocksLog::open_observed`]).
    pub fn log_write_observer(&self) -> WriteObserver {
        let histogram = self.log_write_seconds.clone();
        Box::new(move |took| histogram.record(took.as_secs_f64()))
    }

    /// The text exposition, after setting the gauges from `state`, the launch slots and the
    /// replication.
    pub fn render(&self, state: &State, slots: LaunchSlots, replication: Replication) -> String {
        self.lease_held.set(if replication.holds_lease { 1.0 } else { 0.0 });
        self.lease_term.set(state.lease_term() as f64);
        self.replication_lag.set(replication.lag.as_secs_f64());
        self.append_races.absolute(replication.races);
        for (status, gauge) in self.jobs.iter() {
            gauge.set(state.jobs.count(*status) as f64);
        }
        self.instances.set(state.instances.len() as f64);
        self.last_seq.set(state.last_seq as f64);
        self.launch_slots.set(slots.max as f64);
        self.launches_in_flight.set(slots.in_use as f64);
        self.handle.render()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SINGLE: Replication = Replication { holds_lease: true, lag: Duration::ZERO, races: 0 };

    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn outcomes_are_listed_in_discriminant_order_with_distinct_names() {
        for (index, outcome) in WebhookOutcome::ALL.iter().enumerate() {
            assert_eq!(*outcome as usize, index, "{outcome:?}");
        }
        let mut names: Vec<&str> = WebhookOutcome::ALL.iter().map(|o| o.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), WebhookOutcome::ALL.len());
        assert_eq!(serde_json::to_value(WebhookOutcome::NoPoolMatch).ok(), Some("no_pool_match".into()));
    }

    #[test]
    fn every_fixed_series_is_rendered_from_zero() {
        let metrics = Metrics::new();
        let text = metrics.render(&State::default(), LaunchSlots { in_use: 0, max: 32 }, SINGLE);
        for outcome in WebhookOutcome::ALL {
            let series = format!("{WEBHOOKS}{{outcome=\"{}\"}}", outcome.as_str());
            assert_eq!(sample(&text, &series), Some(0.0), "{series}\n{text}");
        }
        for status in JobStatus::ALL {
            let series = format!("{JOBS}{{status=\"{}\"}}", status.as_str());
            assert_eq!(sample(&text, &series), Some(0.0), "{series}");
        }
        assert_eq!(sample(&text, LAUNCH_SLOTS), Some(32.0));
        assert_eq!(sample(&text, LAUNCHES_IN_FLIGHT), Some(0.0));
        assert_eq!(sample(&text, INSTANCES), Some(0.0));
        assert_eq!(sample(&text, LAST_SEQ), Some(0.0));
        for histogram in [WEBHOOK_SECONDS, LOG_WRITE_SECONDS, LAUNCH_SECONDS, QUEUE_SECONDS] {
            assert!(text.contains(&format!("# TYPE {histogram} histogram\n")), "{histogram}\n{text}");
            assert_eq!(sample(&text, &format!("{histogram}_count")), Some(0.0), "{histogram}");
        }
        assert!(text.contains("# HELP pacer_jobs Retained jobs by status.\n"), "{text}");
    }

    #[test]
    fn observations_land_in_their_series_and_buckets() {
        let metrics = Metrics::new();
        metrics.webhook(WebhookOutcome::Duplicate, Duration::from_millis(3));
        metrics.webhook(WebhookOutcome::Duplicate, Duration::from_micros(300));
        let observer = metrics.log_write_observer();
        observer(Duration::from_micros(700));
        observer(Duration::from_secs(2));
        metrics.launch_latency(Duration::from_secs(20));
        metrics.aws_error(AwsCall::Launch, "InsufficientInstanceCapacity");
        metrics.github_error(GitHubCall::Redeliver, 502);
        let text = metrics.render(&State::default(), LaunchSlots { in_use: 1, max: 2 }, SINGLE);
        assert_eq!(sample(&text, "pacer_webhooks_total{outcome=\"duplicate\"}"), Some(2.0));
        assert_eq!(sample(&text, "pacer_webhook_duration_seconds_bucket{le=\"0.0005\"}"), Some(1.0));
        assert_eq!(sample(&text, "pacer_webhook_duration_seconds_bucket{le=\"0.005\"}"), Some(2.0));
        assert_eq!(sample(&text, "pacer_log_write_seconds_bucket{le=\"0.001\"}"), Some(1.0), "{text}");
        assert_eq!(sample(&text, "pacer_log_write_seconds_bucket{le=\"1\"}"), Some(1.0));
        assert_eq!(sample(&text, "pacer_log_write_seconds_bucket{le=\"+Inf\"}"), Some(2.0));
        assert_eq!(sample(&text, "pacer_log_write_seconds_count"), Some(2.0));
        assert_eq!(sample(&text, "pacer_launch_latency_seconds_bucket{le=\"30\"}"), Some(1.0));
        assert_eq!(sample(&text, "pacer_launch_latency_seconds_bucket{le=\"10\"}"), Some(0.0));
        let aws = "pacer_aws_errors_total{call=\"launch\",code=\"InsufficientInstanceCapacity\"}";
        assert_eq!(sample(&text, aws), Some(1.0));
        assert_eq!(sample(&text, "pacer_github_errors_total{call=\"redeliver\",status=\"502\"}"), Some(1.0));
        assert_eq!(sample(&text, LAUNCHES_IN_FLIGHT), Some(1.0));
    }

    #[test]
    fn rate_limit_buckets_are_rendered_by_name() {
        let metrics = Metrics::new();
        let text = metrics.render(&State::default(), LaunchSlots { in_use: 0, max: 1 }, SINGLE);
        assert!(!text.contains("pacer_aws_rate_limit_tokens{"), "no series without rate limits");
        let fleet = pacer_aws::Bucket::CreateFleet;
        let state = BucketState {
            bucket: fleet,
            limit: fleet.documented_limit(),
            tokens: 12.5,
            refill_per_second: 2.5,
            throttles: 3,
            waits: 7,
        };
        metrics.rate_limits(&[state]);
        let text = metrics.render(&State::default(), LaunchSlots { in_use: 0, max: 1 }, SINGLE);
        assert_eq!(sample(&text, "pacer_aws_rate_limit_tokens{bucket=\"create_fleet\"}"), Some(12.5));
        assert_eq!(
            sample(&text, "pacer_aws_rate_limit_refill_per_second{bucket=\"create_fleet\"}"),
            Some(2.5)
        );
        assert_eq!(sample(&text, "pacer_aws_rate_limit_throttles_total{bucket=\"create_fleet\"}"), Some(3.0));
        assert_eq!(sample(&text, "pacer_aws_rate_limit_waits_total{bucket=\"create_fleet\"}"), Some(7.0));
        assert!(text.contains("# TYPE pacer_aws_rate_limit_throttles_total counter\n"), "{text}");
    }

    #[test]
    fn apps_keep_their_own_counts() {
        let (one, two) = (Metrics::new(), Metrics::new());
        one.webhook(WebhookOutcome::Pong, Duration::ZERO);
        let text = two.render(&State::default(), LaunchSlots { in_use: 0, max: 1 }, SINGLE);
        assert_eq!(sample(&text, "pacer_webhooks_total{outcome=\"pong\"}"), Some(0.0));
    }
}
