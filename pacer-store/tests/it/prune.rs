//! Pruning a prefix of the log below a verified snapshot: on the RocksDB, in-memory and
//! DynamoDB logs, and on DynamoDB as the replicas sharing the table see it.

use crate::conformance::{T, UnderTest, check_export, dynamo, eventually, health, job_event, memory, rocks};
use pacer_domain::*;
use pacer_store::*;
use std::io::Read;

/// Appends record `i` at `T` plus `i` days: a job event about job `i`, with an idempotency key.
fn append_day(log: &dyn EventLog, i: u64) {
    let at = T.plus_millis(i as i64 * DAY_MS);
    let event = if i.is_multiple_of(2) { job_event(EventName::JobQueued, i) } else { health(i) };
    let batch = Batch { keys: vec![format!("delivery:{i}")], ..Batch::of(at, Actor::GitHub, vec![event]) };
    log.append(batch).expect("append");
}

fn day(i: u64) -> Timestamp {
    T.plus_millis(i as i64 * DAY_MS)
}

fn a_prefix_is_pruned_below_a_verified_snapshot_and_replay_starts_there(s: UnderTest) {
    let log = &*s.log;
    let archive_dir = tempfile::tempdir().expect("tempdir");
    for i in 1..=10 {
        append_day(log, i);
    }
    let before_prune = State::fold(&log.read(1, 100).expect("read"));
    assert!(
        matches!(prune(log, day(6), None), Err(StoreError::Snapshot(_))),
        "no prune without a snapshot covering the records"
    );
    assert_eq!(write_snapshot(log).expect("snapshot").map(|w| w.seq), Some(10));
    let head = chain_head(log).expect("head");

    let pruned = prune(log, day(5).plus_millis(1), Some(archive_dir.path())).expect("prune").expect("pruned");
    assert_eq!((pruned.first_seq, pruned.last_seq, pruned.through), (1, 5, day(5)));
    let base = log.base();
    assert_eq!((base.link.seq, base.at, base.snapshot_seq), (5, day(5), 10));
    assert!(base.link.hash.is_some());
    // The records, their index entries and keys are gone; the rest reads as before.
    assert_eq!(log.read(1, 100).expect("read").first().map(|r| r.seq), Some(6));
    assert_eq!(log.last_seq(), 10);
    let audit = log.audit(&AuditQuery { limit: 100, ..AuditQuery::default() }).expect("audit");
    assert_eq!(audit.iter().map(|r| r.seq).collect::<Vec<_>>(), [10, 9, 8, 7, 6]);
    let queued = AuditQuery { action: Some(EventName::JobQueued), limit: 100, ..AuditQuery::default() };
    assert_eq!(log.audit(&queued).expect("audit").iter().map(|r| r.seq).collect::<Vec<_>>(), [10, 8, 6]);
    let old_range = AuditQuery { to: Some(day(6)), limit: 100, ..AuditQuery::default() };
    assert_eq!(log.audit(&old_range).expect("audit"), []);
    assert_eq!(log.subject(&Subject::Job(JobId(4)), 0, 10).expect("subject"), []);
    assert_eq!(log.subject(&Subject::Job(JobId(6)), 0, 10).expect("subject").len(), 1);
    // Keys go with their records (on the shared log, a moment later: after the sweep delay).
    eventually("the pruned record's key goes", || !log.has_key("delivery:4").expect("key"));
    assert!(log.has_key("delivery:6").expect("key"));
    // The chain checks from the base, the export starts after it.
    let report = verify_chain(log, base.link).expect("verify");
    assert_eq!((report.head, report.broken), (head, None));
    assert!(matches!(verify_chain(log, ChainLink::default()), Err(StoreError::Pruned { through: 5 })));
    let mut export = Vec::new();
    export_chain(log, 1, 100, &mut |line| {
        export.extend_from_slice(line);
        true
    })
    .expect("export");
    assert_eq!(String::from_utf8(export).expect("UTF-8").lines().count(), 5);
    // The archive holds the pruned records with their hashes, checkable by an outsider.
    let archive = pruned.archive.expect("archived");
    assert_eq!(archive.parent(), Some(archive_dir.path()));
    let mut lines = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&archive).expect("open"))
        .read_to_string(&mut lines)
        .expect("gunzip");
    assert_eq!(lines.lines().count(), 5);
    assert!(lines.lines().next().is_some_and(|l| l.contains("\"seq\":1")), "{lines}");
    let (passed, said) = check_export(&lines);
    assert!(passed, "{said}");

    // Following the log from a pruned seq is refused, from the base on it works.
    assert!(matches!(log.subscribe(0).try_next(), Err(StoreError::Pruned { through: 5 })));
    assert_eq!(log.subscribe(5).try_next().expect("next").map(|r| r.seq), Some(6));
    // A start loads the snapshot; folding from seq 1 is refused, not silently wrong.
    let (loaded, report) = load_state(log).expect("load");
    assert_eq!((loaded.clone(), report.snapshot_seq), (before_prune.clone(), 10));
    assert!(matches!(fold_tail(log, &mut State::default()), Err(StoreError::Pruned { through: 5 })));
    // Nothing older than the cutoff is left.
    assert_eq!(prune(log, day(5).plus_millis(1), None).expect("prune"), None);

    // The log goes on; `pacer replay` starts from the base snapshot and matches the newer one.
    for i in 11..=15 {
        append_day(log, i);
    }
    let mut whole = loaded;
    fold_tail(log, &mut whole).expect("fold");
    assert_eq!(write_snapshot(log).expect("snapshot").map(|w| w.seq), Some(15));
    let verification = verify(log).expect("verify");
    assert_eq!(
        (verification.base_seq, verification.snapshot_seq, verification.matches_snapshot),
        (Some(10), Some(15), Some(true))
    );
    assert_eq!(verification.rebuilt, whole);

    // A second prune moves the base to the newer snapshot; the start still matches.
    let pruned = prune(log, day(20), None).expect("prune").expect("pruned");
    assert_eq!((pruned.first_seq, pruned.last_seq, pruned.archive), (6, 14, None));
    assert_eq!(log.base().snapshot_seq, 15);
    let (reloaded, report) = load_state(log).expect("load");
    assert_eq!((reloaded, report.snapshot_seq, report.replayed), (whole.clone(), 15, 0));
    let verification = verify(log).expect("verify");
    assert_eq!((verification.base_seq, verification.matches_snapshot), (Some(15), Some(true)));
    assert_eq!(verify_chain(log, log.base().link).expect("verify").broken, None);
}

fn cold_vault_entries_are_read_when_asked(s: UnderTest) {
    let log = &*s.log;
    let put = |key: &str, value: &[u8]| VaultWrite { key: key.into(), value: Some(value.to_vec()) };
    log.append(Batch {
        vault: vec![put("cold/webhook:1:a", b"one"), put("cold/webhook:1:b", b"two"), put("session:x", b"s")],
        ..Batch::default()
    })
    .expect("append");
    assert_eq!(log.vault_get("cold/webhook:1:b"), Some(b"two".to_vec()));
    let keys: Vec<String> = log.vault_scan("cold/webhook:1:").into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["cold/webhook:1:a", "cold/webhook:1:b"]);
    log.append(Batch {
        vault: vec![VaultWrite { key: "cold/webhook:1:a".into(), value: None }],
        ..Batch::default()
    })
    .expect("append");
    assert_eq!(log.vault_get("cold/webhook:1:a"), None);
    assert_eq!(log.vault_get("session:x"), Some(b"s".to_vec()));
}

mod memory_log {
    #[test]
    fn a_prefix_is_pruned_below_a_verified_snapshot_and_replay_starts_there() {
        super::a_prefix_is_pruned_below_a_verified_snapshot_and_replay_starts_there(super::memory())
    }

    #[test]
    fn cold_vault_entries_are_read_when_asked() {
        super::cold_vault_entries_are_read_when_asked(super::memory())
    }
}

mod rocks_log {
    use super::*;

    #[test]
    fn a_prefix_is_pruned_below_a_verified_snapshot_and_replay_starts_there() {
        super::a_prefix_is_pruned_below_a_verified_snapshot_and_replay_starts_there(super::rocks())
    }

    #[test]
    fn cold_vault_entries_are_read_when_asked() {
        super::cold_vault_entries_are_read_when_asked(super::rocks())
    }

    #[test]
    fn the_base_and_cold_entries_survive_a_reopen_and_cold_ones_stay_out_of_memory() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let log = RocksLog::open(dir.path()).expect("open");
            for i in 1..=6 {
                append_day(&log, i);
            }
            let cold = VaultWrite { key: "cold/failure:2:i-1".into(), value: Some(b"log".to_vec()) };
            log.append(Batch { vault: vec![cold], ..Batch::default() }).expect("append");
            write_snapshot(&log).expect("snapshot");
            prune(&log, day(4), None).expect("prune").expect("pruned");
        }
        let log = RocksLog::open(dir.path()).expect("reopen");
        assert_eq!((log.base().link.seq, log.base().snapshot_seq), (3, 6));
        assert_eq!(log.vault_get("cold/failure:2:i-1"), Some(b"log".to_vec()));
        assert_eq!(log.vault_scan(""), [], "cold entries are not held in memory");
        let (state, report) = load_state(&log).expect("load");
        assert_eq!((state.last_seq, report.snapshot_seq), (6, 6));
        // The newest snapshot gone, the start falls back to the base snapshot the log keeps.
        log.remove_snapshot(6).expect("remove");
        assert_eq!(load_state(&log).expect("load").0, state);
    }
}

mod dynamo_log {
    use super::*;
    use crate::moto::{bucket, fresh_settings, s3, table_keys};
    use std::time::{Duration, Instant};

    #[test]
    fn a_prefix_is_pruned_below_a_verified_snapshot_and_replay_starts_there() {
        super::a_prefix_is_pruned_below_a_verified_snapshot_and_replay_starts_there(dynamo())
    }

    #[test]
    fn cold_vault_entries_are_read_when_asked() {
        super::cold_vault_entries_are_read_when_asked(dynamo())
    }

    #[test]
    fn replicas_read_from_the_new_base_and_nothing_below_it_is_left() {
        let settings = DynamoSettings {
            sweep_delay: Duration::from_millis(500),
            ..fresh_settings(Duration::from_millis(50))
        };
        let open = || DynamoLog::open(&settings, Box::new(|_| {})).expect("open");
        let (a, b) = (open(), open());
        // A replica that never polls stays behind the base the prune moves.
        let behind = DynamoLog::open(
            &DynamoSettings { poll_interval: Duration::from_secs(3_600), ..settings.clone() },
            Box::new(|_| {}),
        )
        .expect("open");
        for i in 1..=3 {
            append_day(&a, i);
        }
        // A record larger than an item (kept in parts), with its batch's key.
        let big = Event::HealthChanged(HealthChanged {
            component: "big".into(),
            ok: true,
            message: "x".repeat(800_000),
        });
        let batch =
            Batch { keys: vec!["delivery:big".into()], ..Batch::of(day(3), Actor::GitHub, vec![big]) };
        a.append(batch).expect("append");
        for i in 5..=8 {
            append_day(&a, i);
        }
        assert_eq!(write_snapshot(&a).expect("snapshot").map(|w| w.seq), Some(8));
        let before = load_state(&a).expect("load").0;

        let pruned = prune(&a, day(5), None).expect("prune").expect("pruned");
        assert_eq!((pruned.first_seq, pruned.last_seq), (1, 4));
        // The other replica learns the base with its next poll and reads from there.
        let deadline = Instant::now() + Duration::from_secs(10);
        while b.base() != a.base() {
            assert!(Instant::now() < deadline, "b never learned the base");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(b.read(1, 100).expect("read").first().map(|r| r.seq), Some(5));
        assert!(matches!(b.subscribe(0).try_next(), Err(StoreError::Pruned { through: 4 })));
        // The items below the base go after the sweep delay, on a thread of their own.
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        eventually("the records below the base are deleted", || {
            !table_keys(&runtime, &settings.table)
                .iter()
                .any(|(pk, sk)| pk == "log" && sk.parse::<u64>().is_ok_and(|seq| seq <= 4))
        });
        assert!(!b.has_key("delivery:big").expect("key") && b.has_key("delivery:6").expect("key"));
        // A replica opened now starts from the snapshot; with it gone, from the base snapshot.
        let c = open();
        assert_eq!(load_state(&c).expect("load").0, before);
        c.remove_snapshot(8).expect("remove");
        assert_eq!(load_state(&c).expect("load").0, before);

        // Nothing of the pruned records is left: no record, part, subject entry or key.
        let left: Vec<(String, String)> = table_keys(&runtime, &settings.table)
            .into_iter()
            .filter(|(pk, sk)| match pk.as_str() {
                "log" => sk.parse::<u64>().is_ok_and(|seq| seq <= 4),
                pk if pk.starts_with("subj#") => sk.parse::<u64>().is_ok_and(|seq| seq <= 4),
                pk => {
                    pk.starts_with("part#")
                        || ["key#delivery:1", "key#delivery:2", "key#delivery:3", "key#delivery:big"]
                            .contains(&pk)
                }
            })
            .collect();
        assert_eq!(left, [], "items of pruned records");
        assert!(table_keys(&runtime, &settings.table).contains(&("key#delivery:6".into(), "0".into())));
        // S3 holds the base snapshot and no snapshot below it.
        let s3 = s3(&runtime);
        let objects = runtime
            .block_on(s3.list_objects_v2().bucket(bucket()).prefix(&settings.prefix).send())
            .expect("list");
        let keys: Vec<&str> = objects.contents().iter().filter_map(|o| o.key()).collect();
        assert_eq!(keys, [format!("{}snapshots/base-{:020}.snap", settings.prefix, 8)]);
        // The replica that never read past seq 0 cannot follow the log any more: its next write
        // finds the log moved on, and what it missed pruned.
        let _ = behind.append(Batch::of(day(9), Actor::System, vec![health(99)]));
        let reason = behind.poisoned().expect("poisoned");
        assert!(reason.contains("fell behind the shared log's base"), "{reason}");
        assert!(matches!(
            behind.append(Batch::of(day(9), Actor::System, vec![health(98)])),
            Err(StoreError::Poisoned(_))
        ));
        // Recovering, it starts over from the log's end, its state from the snapshots.
        behind.recover().expect("recover");
        eventually("a reads what behind wrote", || a.last_seq() >= behind.last_seq());
        assert_eq!((behind.poisoned(), behind.last_seq()), (None, a.last_seq()));
        assert_eq!(load_state(&behind).expect("load").0, load_state(&a).expect("load").0);
        let receipt = behind.append(Batch::of(day(9), Actor::System, vec![health(97)])).expect("append");
        assert_eq!(receipt[0].seq, a.last_seq() + 1);
    }
}
