//! Prometheus metrics (`/metrics`): webhooks by outcome, webhook answer time, jobs by status,
//! launch slots in use, launch latency and queue time histograms, the event log's write times,
//! AWS and GitHub call errors.
//! One recorder per running app (no global recorder), rendered in the Prometheus text format.

use crate::engine::LaunchSlots;
use metrics::{Counter, Histogram, Key, Label, Metadata, Recorder};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use pacer_domain::{Event, JobStatus, Recorded, State};
use pacer_store::{WRITE_TIME_BOUNDS, WriteTimes};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

const META: Metadata<'static> = Metadata::new(module_path!(), metrics::Level::INFO, None);

/// Every outcome a webhook is counted under in `pacer_webhooks_total`: registered at start, so
/// each series exists from zero.
pub const WEBHOOK_OUTCOMES: [&str; 12] = [
    "queued",
    "ignored",
    "no_pool_match",
    "duplicate",
    "absorbed",
    "accepted",
    "pong",
    "ignored_event",
    "bad_signature",
    "bad_request",
    "malformed",
    "unavailable",
];

const WEBHOOK_SECONDS: &str = "pacer_webhook_duration_seconds";

fn webhook_counter(recorder: &PrometheusRecorder, outcome: &str) -> Counter {
    let key = Key::from_parts("pacer_webhooks_total", vec![Label::new("outcome", outcome.to_owned())]);
    recorder.register_counter(&key, &META)
}

/// The app's metrics.
#[derive(Clone)]
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
    /// The counters of `WEBHOOK_OUTCOMES`, by index (a webhook's count is one atomic add).
    webhooks: Arc<[Counter]>,
    webhook_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh recorder.
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full(WEBHOOK_SECONDS.into()),
                &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0],
            )
            .and_then(|builder| {
                builder.set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Suffix("seconds".into()),
                    &[
                        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
                        900.0,
                    ],
                )
            })
            .map(PrometheusBuilder::build_recorder)
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        let handle = recorder.handle();
        let webhooks = WEBHOOK_OUTCOMES.iter().map(|outcome| webhook_counter(&recorder, outcome)).collect();
        let webhook_seconds = recorder.register_histogram(&Key::from_name(WEBHOOK_SECONDS), &META);
        Self { recorder: Arc::new(recorder), handle, webhooks, webhook_seconds }
    }

    fn counter(&self, name: &'static str, labels: Vec<Label>) -> Counter {
        self.recorder.register_counter(&Key::from_parts(name, labels), &META)
    }

    fn histogram(&self, name: &'static str) -> Histogram {
        self.recorder.register_histogram(&Key::from_name(name), &META)
    }

    /// Counts a webhook by the outcome Pacer answered with (one of `WEBHOOK_OUTCOMES`) and
    /// observes how long the answer took once the body was in.
    pub fn webhook(&self, outcome: &'static str, took: Duration) {
        match WEBHOOK_OUTCOMES.iter().position(|known| *known == outcome) {
            Some(index) => self.webhooks[index].increment(1),
            None => webhook_counter(&self.recorder, outcome).increment(1),
        }
        self.webhook_seconds.record(took.as_secs_f64());
    }

    /// Counts a failed AWS call.
    pub fn aws_error(&self, call: &str, code: &str) {
        let labels = vec![Label::new("call", call.to_owned()), Label::new("code", code.to_owned())];
        self.counter("pacer_aws_errors_total", labels).increment(1);
    }

    /// Counts a failed GitHub call.
    pub fn github_error(&self, call: &str, status: u16) {
        let labels = vec![Label::new("call", call.to_owned()), Label::new("status", status.to_string())];
        self.counter("pacer_github_errors_total", labels).increment(1);
    }

    /// Observes one launch call's duration.
    pub fn launch_latency(&self, seconds: f64) {
        self.histogram("pacer_launch_latency_seconds").record(seconds);
    }

    /// Observes the facts of committed records (queue time at launch).
    pub fn observe(&self, records: &[Recorded], state: &State) {
        for record in records {
            if let Event::JobSpawnLaunched(e) = &record.event
                && let Some(job) = state.jobs.get(e.job)
            {
                let waited = record.at.millis_since(job.queued_at) as f64 / 1_000.0;
                self.histogram("pacer_queue_time_seconds").record(waited);
            }
        }
    }

    /// The text exposition, with the job gauges read from `state`, the launch slots' and the
    /// log's write times.
    pub fn render(&self, state: &State, slots: LaunchSlots, writes: &WriteTimes) -> String {
        let mut out = self.handle.render();
        out.push_str("# HELP pacer_jobs Retained jobs by status.\n# TYPE pacer_jobs gauge\n");
        for status in JobStatus::ALL {
            out.push_str(&format!(
                "pacer_jobs{{status=\"{}\"}} {}\n",
                status.as_str(),
                state.jobs.count(status)
            ));
        }
        let mut gauge = |name: &str, help: &str, value: u64| {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"));
        };
        gauge("pacer_instances", "Live instances.", state.instances.len() as u64);
        gauge("pacer_log_last_seq", "Seq of the last folded record.", state.last_seq);
        gauge(
            "pacer_launch_slots",
            "Launch calls allowed at once (dispatcher.max_concurrent_launches).",
            slots.max as u64,
        );
        gauge("pacer_launches_in_flight", "Launch calls under way.", slots.in_use as u64);
        let name = "pacer_log_write_seconds";
        let help = "Durable writes of the event log (one per group of appends: write and sync).";
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (bound, count) in WRITE_TIME_BOUNDS.iter().zip(writes.at_most) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{}\"}} {count}", bound.as_secs_f64());
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", writes.count);
        let _ = writeln!(out, "{name}_sum {}\n{name}_count {}", writes.total.as_secs_f64(), writes.count);
        out
    }
}
