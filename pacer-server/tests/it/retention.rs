//! Audit retention against the real binary: a Pacer whose log holds records older than
//! `retention.audit_days` prunes them at its first reaper pass, below a snapshot it writes for
//! the purpose, archiving them first; records `audit.pruned`; and afterwards `pacer verify`
//! checks the chain from the base (finding a flipped byte and a missing base snapshot), and
//! `pacer replay` starts from the base snapshot and matches.

use crate::auth::gql;
use crate::support::world::World;
use pacer_domain::{Actor, DAY_MS, Event, HealthChanged, Timestamp};
use pacer_store::{Batch, EventLog, RocksLog};
use serde_json::json;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

/// Records 1 to `n`, `days_ago` days before now, in the log in `data`.
fn old_records(data: &Path, n: u64, days_ago: i64) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis();
    let at = Timestamp::from_millis(now as i64 - days_ago * DAY_MS);
    let log = RocksLog::open(data).expect("open");
    for i in 1..=n {
        let event = Event::HealthChanged(HealthChanged {
            component: format!("worker-{i}"),
            ok: false,
            message: format!("old trouble {i}"),
        });
        log.append(Batch::of(at, Actor::System, [event])).expect("append");
    }
}

/// `pacer <command> --data DIR`: exit code and what it printed.
fn pacer_cli(world: &World, command: &str) -> (Option<i32>, String) {
    let output =
        world.setup.command().args([command, "--data"]).arg(world.setup.data()).output().expect("run pacer");
    (output.status.code(), String::from_utf8_lossy(&[output.stdout, output.stderr].concat()).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_past_the_audit_retention_are_archived_and_pruned_below_a_snapshot() {
    let mut world = World::bare().await;
    old_records(&world.setup.data(), 40, 45);
    world.setup.import(&world.backup(json!({})));
    let archive_dir = world.setup.dir.join("archive");
    world.setup.env.extend([
        ("PACER_RETENTION_AUDIT_DAYS".to_owned(), "30".to_owned()),
        ("PACER_RETENTION_ARCHIVE_DIR".to_owned(), archive_dir.display().to_string()),
    ]);
    let pacer = world.setup.start().await;
    let query = "{ settings { lastPrune { firstSeq lastSeq archive } } }";
    pacer
        .wait_for("audit.pruned", Duration::from_secs(60), || async {
            !gql(&pacer, None, query).await.1["data"]["settings"]["lastPrune"].is_null()
        })
        .await;
    let last_prune = gql(&pacer, None, query).await.1["data"]["settings"]["lastPrune"].clone();
    assert_eq!(last_prune["firstSeq"], json!("1"), "{last_prune}");
    assert_eq!(last_prune["lastSeq"], json!("40"), "{last_prune}");
    let archive = last_prune["archive"].as_str().expect("archived").to_owned();

    // The audit view holds the prune and nothing older; the config records stay.
    let (_, body) = gql(&pacer, None, "{ audit(first: 500) { entries { seq action summary } } }").await;
    let entries = body["data"]["audit"]["entries"].as_array().expect("entries").clone();
    assert!(
        entries.iter().all(|e| e["seq"].as_str().and_then(|s| s.parse::<u64>().ok()) > Some(40)),
        "{body}"
    );
    assert!(entries.iter().any(|e| e["action"] == "audit.pruned"), "{body}");
    assert!(entries.iter().any(|e| e["action"] == "project.created"), "{body}");
    pacer.stop();

    // The archive holds the 40 records with their hashes.
    let mut lines = String::new();
    let file = std::fs::File::open(archive_dir.join(&archive)).expect("the archive");
    flate2::read::GzDecoder::new(file).read_to_string(&mut lines).expect("gunzip");
    assert_eq!(lines.lines().count(), 40);
    assert!(lines.lines().all(|line| line.contains("\"hash\":\"")), "{lines}");

    let (code, said) = pacer_cli(&world, "verify");
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("pruned      records 1 to 40"), "{said}");
    assert!(said.contains("base        the snapshot at seq"), "{said}");
    let (code, said) = pacer_cli(&world, "replay");
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("base        records 1 to 40 pruned; replayed from the base snapshot"), "{said}");
    assert!(said.contains("matches the rebuilt state"), "{said}");

    // The base snapshot gone, `pacer verify` says so.
    let snapshots = world.setup.data().join("snapshots");
    let base = std::fs::read_dir(&snapshots)
        .expect("snapshots")
        .map(|entry| entry.expect("entry").path())
        .find(|path| path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("base-")))
        .expect("a base snapshot");
    let kept = base.with_extension("kept");
    std::fs::rename(&base, &kept).expect("move the base snapshot away");
    let (code, said) = pacer_cli(&world, "verify");
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("BROKEN      base snapshot"), "{said}");
    std::fs::rename(&kept, &base).expect("put it back");
    assert_eq!(pacer_cli(&world, "verify").0, Some(0));
}
