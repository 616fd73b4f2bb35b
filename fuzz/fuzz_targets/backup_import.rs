//! A backup document through the real `importBackup` mutation (dry run): the JSON parser, the
//! Go Pacer's format, validation and the import plan.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static DOORS: LazyLock<pacer_server::fuzz::Doors> = LazyLock::new(pacer_server::fuzz::Doors::new);

const IMPORT: &str = "mutation($json: String!) { importBackup(json: $json, dryRun: true) { applied errors { field message } } }";

fuzz_target!(|data: &[u8]| {
    let document = String::from_utf8_lossy(data);
    let variables = serde_json::json!({ "json": document }).to_string();
    let status = DOORS.graphql(IMPORT, variables.as_bytes());
    assert_eq!(status, 200, "importBackup answered {status}");
});
