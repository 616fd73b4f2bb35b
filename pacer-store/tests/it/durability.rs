//! RocksDB-specific durability: reopening, refusing a corrupt log, poisoning after a failed
//! write, and the SIGKILL crash test.

use crate::conformance::{T, append, health, job_event};
use pacer_domain::*;
use pacer_store::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Appends `events` as GitHub with the idempotency key `key`.
fn append_keyed(log: &RocksLog, key: &str, events: impl IntoIterator<Item = Event>) {
    let mut batch = Batch::of(T, Actor::GitHub, events);
    batch.keys = vec![key.to_owned()];
    log.append(batch).expect("append");
}

#[test]
fn reopening_keeps_records_keys_and_indexes() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let log = RocksLog::open(dir.path()).expect("open");
        append_keyed(&log, "delivery:x", vec![job_event(EventName::JobQueued, 1)]);
        append(&log, T.plus_millis(2_000), vec![health(1)]);
        let vault = vec![VaultWrite { key: "session/a".into(), value: Some(b"x".to_vec()) }];
        log.append(Batch { vault, ..Batch::default() }).expect("vault");
    }
    let log = RocksLog::open(dir.path()).expect("reopen");
    assert_eq!(log.last_seq(), 2);
    assert_eq!(log.vault_get("session/a"), Some(b"x".to_vec()), "the vault is kept");
    assert!(log.has_key("delivery:x").expect("key"));
    let next = append(&log, T.plus_millis(1_000), vec![job_event(EventName::JobFailed, 1)]);
    assert_eq!((next[0].seq, next[0].at), (3, T.plus_millis(2_000)), "seq and time continue");
    let failed = log
        .audit(&AuditQuery {
            action: Some(EventName::JobFailed),
            from: Some(T.plus_millis(1_500)),
            limit: 5,
            ..Default::default()
        })
        .expect("audit");
    assert_eq!(failed.len(), 1);
    assert_eq!(log.subject(&Subject::Job(JobId(1)), 0, 10).expect("subject").len(), 2);
}

/// The bytes of RocksDB's write-ahead log files in a data directory: what an open replays.
fn wal_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir.join("db"))
        .expect("the database directory")
        .map(|entry| entry.expect("entry"))
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".log"))
        .map(|entry| entry.metadata().expect("metadata").len())
        .sum()
}

/// A health event carrying `bytes` of message, for filling the log quickly.
fn bulky(i: u64, bytes: usize) -> Event {
    Event::HealthChanged(HealthChanged { component: format!("c{i}"), ok: true, message: "x".repeat(bytes) })
}

#[test]
fn a_flushed_log_leaves_nothing_to_replay() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let log = RocksLog::open(dir.path()).expect("open");
        append_keyed(&log, "delivery:x", vec![job_event(EventName::JobQueued, 1)]);
        append(&log, T, (0..100).map(|i| bulky(i, 1_000)).collect());
        assert!(wal_bytes(dir.path()) > 100_000, "the appends are in the write-ahead log");
        log.flush().expect("flush");
    }
    assert_eq!(wal_bytes(dir.path()), 0, "nothing left to replay");
    let log = RocksLog::open(dir.path()).expect("reopen");
    assert_eq!(log.last_seq(), 101);
    assert!(log.has_key("delivery:x").expect("key"));
    assert_eq!(log.subject(&Subject::Job(JobId(1)), 0, 10).expect("subject").len(), 1);
    assert_eq!(log.read(1, 200).expect("read").len(), 101);
}

#[test]
fn the_write_ahead_log_stays_bounded() {
    // 80 MiB of records, more than twice the bound: without it RocksDB would keep every WAL
    // file until the small `keys` and `index` families filled a memtable of their own.
    let dir = tempfile::tempdir().expect("tempdir");
    let log = RocksLog::open(dir.path()).expect("open");
    for round in 0..10u64 {
        append_keyed(&log, &format!("delivery:{round}"), (0..2_048).map(|i| bulky(round * 2_048 + i, 4_096)));
    }
    // Flushes run in the background; wait for them rather than for a time.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while wal_bytes(dir.path()) > 64 << 20 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let wal = wal_bytes(dir.path());
    assert!(wal <= 64 << 20, "{wal} bytes of write-ahead log kept for 80 MiB written");
    assert_eq!(log.last_seq(), 20_480);
    assert!(log.has_key("delivery:9").expect("key"));
}

#[test]
fn a_corrupt_record_stops_startup_with_its_seq() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let log = RocksLog::open(dir.path()).expect("open");
        for i in 0..5 {
            append(&log, T, vec![health(i)]);
        }
    }
    {
        // Damage record 3 behind the store's back.
        let mut options = rocksdb::Options::default();
        options.create_if_missing(false);
        let cfs = ["log", "index", "keys", "meta", "vault"];
        let db = rocksdb::DB::open_cf(&options, dir.path().join("db"), cfs).expect("raw open");
        let cf = db.cf_handle("log").expect("cf");
        db.put_cf(cf, 3u64.to_be_bytes(), b"garbage").expect("put");
    }
    let log = RocksLog::open(dir.path()).expect("the last record is fine");
    match load_state(&log) {
        Err(StoreError::Corrupt { seq: 3, reason }) => assert!(reason.contains("envelope"), "{reason}"),
        other => panic!("expected a corrupt record 3, got {other:?}"),
    }
    drop(log);
    {
        let mut options = rocksdb::Options::default();
        options.create_if_missing(false);
        let db =
            rocksdb::DB::open_cf(&options, dir.path().join("db"), ["log", "index", "keys", "meta", "vault"])
                .expect("raw");
        let cf = db.cf_handle("log").expect("cf");
        db.put_cf(cf, 5u64.to_be_bytes(), b"garbage").expect("put");
    }
    assert!(matches!(RocksLog::open(dir.path()), Err(StoreError::Corrupt { seq: 5, .. })));
}

/// A long replay decodes its chunks on both threads; a bad record stops it with its seq either way.
#[test]
fn a_corrupt_record_deep_in_a_long_replay_stops_it_with_its_seq() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let log = RocksLog::open(dir.path()).expect("open");
        append(&log, T, (0..20_000).map(health).collect());
    }
    for bad in [17_321u64, 9_000, 2_048] {
        {
            let mut options = rocksdb::Options::default();
            options.create_if_missing(false);
            let cfs = ["log", "index", "keys", "meta", "vault"];
            let db = rocksdb::DB::open_cf(&options, dir.path().join("db"), cfs).expect("raw open");
            let cf = db.cf_handle("log").expect("cf");
            db.put_cf(cf, bad.to_be_bytes(), b"garbage").expect("put");
        }
        let log = RocksLog::open(dir.path()).expect("the last record is fine");
        match load_state(&log) {
            Err(StoreError::Corrupt { seq, reason }) => {
                assert_eq!(seq, bad, "{reason}");
                assert!(reason.contains("envelope"), "{reason}");
            }
            other => panic!("expected a corrupt record {bad}, got {other:?}"),
        }
    }
}

#[test]
fn a_failed_write_poisons_the_log() {
    let log = MemoryLog::new();
    append(&log, T, vec![health(1)]);
    log.fail_writes(true);
    let failed = log.append(Batch::of(T, Actor::System, vec![health(2)]));
    assert!(matches!(failed, Err(StoreError::Write(_))), "{failed:?}");
    assert!(log.poisoned().is_some());
    let refused = log.append(Batch::of(T, Actor::System, vec![health(3)]));
    assert!(matches!(refused, Err(StoreError::Poisoned(_))), "{refused:?}");
    assert_eq!(log.last_seq(), 1);
    assert_eq!(log.read(1, 10).expect("reads still work").len(), 1);

    // Recovery: refused while the fault lasts, then appends go on from the last durable record.
    log.fail_writes(false);
    log.recover().expect("recover");
    assert_eq!(log.poisoned(), None);
    assert_eq!(append(&log, T, vec![health(4)])[0].seq, 2, "no gap after the refused records");
}

/// The crash child, built by `cargo test` as the `crash_appender` example.
fn crash_child() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test binary");
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>");
    let child = profile_dir.join("examples").join("crash_appender");
    assert!(child.exists(), "{} missing: cargo test builds it", child.display());
    child
}

#[test]
fn sigkill_loses_no_acknowledged_append_and_tears_no_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = crash_child();
    let mut acknowledged_to = 0u64;
    for round in 0..20u64 {
        let mut child = Command::new(&exe)
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("stdout");
        // Kill after a pseudo-random number of acknowledged appends (5..=300).
        let kill_after = 5 + (round * 7_919 + 13) % 296;
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let mut seen = 0;
        while seen < kill_after {
            line.clear();
            if reader.read_line(&mut line).expect("read") == 0 {
                break;
            }
            let mut parts = line.split_whitespace();
            if parts.next() == Some("ok") {
                let seq: u64 = parts.next().and_then(|s| s.parse().ok()).expect("seq");
                let len: u64 = parts.next().and_then(|s| s.parse().ok()).expect("len");
                acknowledged_to = acknowledged_to.max(seq + len - 1);
                seen += 1;
            }
        }
        // SIGKILL mid-append (the child keeps appending while we decide).
        std::thread::sleep(Duration::from_micros(round * 97 % 2_000));
        child.kill().expect("kill");
        let _ = child.wait();
        assert!(seen > 0, "round {round}: the child acknowledged nothing");

        let log = RocksLog::open(dir.path()).expect("reopen after kill");
        assert!(log.last_seq() >= acknowledged_to, "round {round}: lost acknowledged appends");
        let all = log.read(1, usize::MAX).expect("every record decodes, no gaps");
        assert_eq!(all.len() as u64, log.last_seq(), "round {round}");
        acknowledged_to = log.last_seq();
    }
}
