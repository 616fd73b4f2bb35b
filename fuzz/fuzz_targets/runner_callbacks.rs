//! The runner callbacks with a token that passes, so every byte reaches the body parser: the
//! first byte picks the callback, the rest is the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static DOORS: LazyLock<pacer_server::fuzz::Doors> = LazyLock::new(pacer_server::fuzz::Doors::new);

const PATHS: [&str; 4] = ["bootstrap", "register", "complete", "error"];

fuzz_target!(|data: &[u8]| {
    let Some((pick, body)) = data.split_first() else { return };
    let status = DOORS.runner(PATHS[usize::from(*pick) % PATHS.len()], body);
    assert!(status < 500 || status == 503, "runner callback answered {status}");
});
