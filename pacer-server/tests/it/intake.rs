//! Webhook intake answers: bad signature, oversized body, malformed JSON, unknown
//! event, ping, GitHub-hosted labels, unbound repo, disabled project, no pool match, duplicate
//! delivery and manual redelivery — each answered as specified and recorded (or not stored).

use crate::support::pacer::names;
use crate::support::webhook_example;
use crate::support::world::World;
use pacer_domain::{Event, IgnoreReason, NoMatchReason};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_intake_outcome_is_answered_and_recorded() {
    let world = World::new().await;
    let pacer = world.setup.start().await;
    let job = |id: u64, repo: &str, labels: &[&str]| {
        webhook_example("workflow_job.06.queued.json", "queued", id, repo, labels)
    };
    let status = |answer: &serde_json::Value| answer["status"].as_str().unwrap_or_default().to_owned();

    let body = job(1, "octo/hello", &["self-hosted"]).to_string();
    let (code, _) = pacer.webhook("workflow_job", "d-bad-sig", body.as_bytes(), Some("sha256=00")).await;
    assert_eq!(code, 401, "bad signature");
    let unsigned = pacer
        .http
        .post(format!("{}/api/webhook", pacer.url))
        .header("x-github-event", "workflow_job")
        .header("x-github-delivery", "d-unsigned")
        .body(body.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(unsigned.status().as_u16(), 401, "missing signature");
    // Refused on its Content-Length alone, before a byte of the body is read (a client still
    // writing a large body may see the connection close before it reads the 413, so the
    // request is sent by hand: headers only).
    assert_eq!(oversized_status(&pacer.url, 1024 * 1024 + 1).await, 413);
    let (code, answer) = pacer.webhook("workflow_job", "d-malformed", b"{not json", None).await;
    assert_eq!((code, answer["error"].as_str()), (400, Some("malformed_json")));
    let (code, answer) = pacer.webhook("workflow_job", "", body.as_bytes(), None).await;
    assert_eq!(code, 400, "missing delivery id: {answer}");

    let installation =
        std::fs::read(crate::support::repo_dir().join("testdata/webhooks/installation.01.created.json"))
            .expect("example");
    let (code, answer) = pacer.webhook("installation", "d-installation", &installation, None).await;
    assert_eq!((code, status(&answer)), (202, "ignored_event".into()));
    let ping =
        std::fs::read(crate::support::repo_dir().join("testdata/webhooks/ping.00.json")).expect("example");
    let (code, answer) = pacer.webhook("ping", "d-ping", &ping, None).await;
    assert_eq!((code, status(&answer)), (200, "pong".into()));

    let cases = [
        ("d-hosted", job(2, "octo/hello", &["ubuntu-latest"]), "ignored", Some("not_self_hosted")),
        ("d-unbound", job(3, "octo/elsewhere", &["self-hosted"]), "ignored", Some("unbound_repo")),
        ("d-frozen", job(4, "octo/frozen", &["self-hosted"]), "ignored", Some("project_disabled")),
        ("d-nomatch", job(5, "octo/hello", &["self-hosted", "gpu"]), "no_pool_match", Some("no_match")),
        ("d-ok", job(6, "octo/hello", &["self-hosted"]), "queued", None),
    ];
    for (delivery, body, expected, reason) in &cases {
        let (code, answer) = pacer.workflow_job(delivery, body).await;
        assert_eq!((code, status(&answer)), (200, expected.to_string()), "{delivery}: {answer}");
        if let Some(reason) = reason {
            assert_eq!(answer["reason"], *reason, "{delivery}");
        }
    }
    let (code, answer) = pacer.workflow_job("d-ok", &cases[4].1).await;
    assert_eq!((code, status(&answer)), (200, "duplicate".into()), "same delivery again");
    let (code, answer) = pacer.workflow_job("d-redelivered", &cases[4].1).await;
    assert_eq!((code, status(&answer)), (200, "duplicate".into()), "manual redelivery of a known job");

    let counted = [
        ("bad_signature", 2.0),
        ("malformed", 1.0),
        ("bad_request", 1.0),
        ("ignored_event", 1.0),
        ("pong", 1.0),
        ("ignored", 3.0),
        ("no_pool_match", 1.0),
        ("queued", 1.0),
        ("duplicate", 2.0),
    ];
    for (outcome, count) in counted {
        let sample = format!("pacer_webhooks_total{{outcome=\"{outcome}\"}}");
        assert_eq!(pacer.metric(&sample).await, count, "{sample}");
    }
    assert_eq!(
        pacer.metric("pacer_webhook_duration_seconds_count").await,
        13.0,
        "every answered webhook timed"
    );
    let writes = pacer.metric("pacer_log_write_seconds_count").await;
    assert!(writes >= 1.0, "the log's writes are timed");
    assert_eq!(pacer.metric("pacer_log_write_seconds_bucket{le=\"+Inf\"}").await, writes);
    assert!(pacer.metric("pacer_log_write_seconds_sum").await > 0.0);

    let records = pacer.stop();
    let recorded: Vec<&str> =
        names(&records).into_iter().filter(|n| n.starts_with("job.") || n.starts_with("webhook.")).collect();
    let intake: Vec<&str> = recorded
        .iter()
        .copied()
        .filter(|n| !["job.claimed", "job.spawn_launched", "job.spawn_retry"].contains(n))
        .collect();
    assert_eq!(
        intake,
        [
            "webhook.ignored",
            "webhook.pinged",
            "job.ignored",
            "job.ignored",
            "job.ignored",
            "job.no_pool_match",
            "job.queued",
            "job.github_noted",
            "webhook.duplicate",
            "webhook.duplicate",
        ]
    );
    let reasons: Vec<IgnoreReason> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::JobIgnored(i) => Some(i.reason.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        reasons,
        [IgnoreReason::NotSelfHosted, IgnoreReason::UnboundRepo, IgnoreReason::ProjectDisabled]
    );
    assert!(
        records
            .iter()
            .any(|r| matches!(&r.event, Event::JobNoPoolMatch(m) if m.reason == NoMatchReason::NoMatch))
    );
    assert!(
        !records.iter().any(|r| r.request_id.as_deref().is_some_and(|d| [
            "d-bad-sig",
            "d-unsigned",
            "d-huge",
            "d-malformed"
        ]
        .contains(&d))),
        "refused deliveries store nothing"
    );
}

/// The status Pacer answers to a webhook announcing a `length`-byte body, without sending it.
async fn oversized_status(url: &str, length: usize) -> u16 {
    let addr = url.trim_start_matches("http://").to_owned();
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&addr).expect("connect");
        stream.set_read_timeout(Some(std::time::Duration::from_secs(30))).expect("timeout");
        let head = format!(
            "POST /api/webhook HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nX-GitHub-Event: workflow_job\r\nX-GitHub-Delivery: d-huge\r\nX-Hub-Signature-256: sha256=00\r\nContent-Length: {length}\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).expect("send headers");
        let mut answer = vec![0u8; 64];
        let read = stream.read(&mut answer).expect("read the answer");
        let line = String::from_utf8_lossy(&answer[..read]).into_owned();
        line.split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP answer: {line}"))
    })
    .await
    .expect("the request thread")
}
