//! `POST /api/webhook`, correctly signed, so every byte reaches the payload parser: the first
//! byte picks the `X-GitHub-Event`, the rest is the body. Any answer is fine; a panic is not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

static DOORS: LazyLock<pacer_server::fuzz::Doors> = LazyLock::new(pacer_server::fuzz::Doors::new);
static DELIVERY: AtomicU64 = AtomicU64::new(0);

const EVENTS: [&str; 5] = ["workflow_job", "ping", "installation", "installation_repositories", "push"];

fuzz_target!(|data: &[u8]| {
    let Some((pick, body)) = data.split_first() else { return };
    let event = EVENTS[usize::from(*pick) % EVENTS.len()];
    // A fresh delivery id each time, so deduplication never stops the parser.
    let delivery = format!("fuzz-{}", DELIVERY.fetch_add(1, Ordering::Relaxed));
    let status = DOORS.webhook(event, &delivery, body);
    assert!(status < 500 || status == 503, "webhook answered {status}");
});
