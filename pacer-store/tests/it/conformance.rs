//! One conformance suite, run against the RocksDB log in a temporary directory, the in-memory
//! log and the DynamoDB log (on moto, a table of its own per test).

use crate::fixtures::{Seeds, fixture};
use pacer_domain::*;
use pacer_store::*;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct UnderTest {
    pub log: Arc<dyn EventLog>,
    /// Every write duration the log's observer was told, in order.
    pub writes: Arc<Mutex<Vec<Took>>>,
    _dir: Option<tempfile::TempDir>,
}

/// A write duration the observer was told. Not a bare `Duration`: the AWS SDK brings in the
/// `time` crate, whose `PartialEq<time::Duration> for std::time::Duration` leaves
/// `assert_eq!(durations, [])` without a type to compare with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Took(Duration);

impl<'a> std::iter::Sum<&'a Took> for Duration {
    fn sum<I: Iterator<Item = &'a Took>>(iter: I) -> Duration {
        iter.map(|took| took.0).sum()
    }
}

/// An observer that keeps what it is told in `writes`.
fn recorder() -> (Arc<Mutex<Vec<Took>>>, WriteObserver) {
    let writes = Arc::new(Mutex::new(Vec::new()));
    let seen = writes.clone();
    (writes, Box::new(move |took| seen.lock().expect("writes").push(Took(took))))
}

pub fn memory() -> UnderTest {
    let (writes, observer) = recorder();
    UnderTest { log: Arc::new(MemoryLog::observed(observer)), writes, _dir: None }
}

pub fn rocks() -> UnderTest {
    let dir = tempfile::tempdir().expect("tempdir");
    let (writes, observer) = recorder();
    let log = RocksLog::open_observed(dir.path(), observer).expect("open");
    UnderTest { log: Arc::new(log), writes, _dir: Some(dir) }
}

pub fn dynamo() -> UnderTest {
    let (writes, observer) = recorder();
    // A prune's sweep right away (on its own thread still).
    let settings = DynamoSettings { sweep_delay: std::time::Duration::ZERO, ..crate::moto::settings() };
    let log = DynamoLog::open(&settings, observer).expect("open");
    UnderTest { log: Arc::new(log), writes, _dir: None }
}

pub const T: Timestamp = Timestamp(1_790_000_000_000);

pub fn health(i: u64) -> Event {
    Event::HealthChanged(HealthChanged {
        component: format!("c{i}"),
        ok: i.is_multiple_of(2),
        message: String::new(),
    })
}

pub fn job_event(name: EventName, job: u64) -> Event {
    fixture(name, &Seeds { number: job, ..Seeds::default() })
}

/// Waits up to 10 s for `done`.
pub fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "not within 10 s: {what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

pub fn append(log: &dyn EventLog, at: Timestamp, events: Vec<Event>) -> Receipt {
    log.append(Batch::of(at, Actor::System, events)).expect("append")
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod memory_log {
            $(#[test] fn $name() { super::$name(super::memory()) })*
        }
        mod rocks_log {
            $(#[test] fn $name() { super::$name(super::rocks()) })*
        }
        mod dynamo_log {
            $(#[test] fn $name() { super::$name(super::dynamo()) })*
        }
    };
}

conformance!(
    appends_get_consecutive_seqs,
    writes_are_timed,
    scans_hand_over_chunks_in_order,
    times_never_decrease,
    expected_seq_guards_against_other_writers,
    idempotency_keys_are_checked_with_the_batch,
    concurrent_appenders_share_syncs_without_gaps,
    audit_filters_by_action_and_time_newest_first,
    subjects_give_a_jobs_timeline,
    snapshots_keep_the_newest,
    subscriptions_resume_from_any_seq,
    slow_subscribers_catch_up_without_skipping,
    state_loads_from_snapshot_plus_tail,
    the_vault_keeps_entries_beside_the_log,
    a_snapshotter_follows_the_log_between_snapshots,
    an_unfinished_snapshot_is_never_loaded,
    every_record_is_chained_and_exported_checkably,
);

fn the_vault_keeps_entries_beside_the_log(s: UnderTest) {
    let log = &*s.log;
    let put = |key: &str, value: &str| VaultWrite { key: key.into(), value: Some(value.as_bytes().to_vec()) };
    let delete = |key: &str| VaultWrite { key: key.into(), value: None };
    // Vault changes alone: no record, no seq.
    let receipt = log
        .append(Batch {
            vault: vec![put("session/a", "1"), put("session/b", "2"), put("token/i-1", "t")],
            ..Batch::default()
        })
        .expect("vault only");
    assert!(receipt.is_empty());
    assert_eq!(log.last_seq(), 0);
    assert_eq!(log.vault_get("session/a"), Some(b"1".to_vec()));
    // With records, atomically; a later write to a key in the batch wins.
    let receipt = log
        .append(Batch {
            vault: vec![put("session/a", "3"), delete("session/b"), put("session/a", "4")],
            ..Batch::of(T, Actor::System, vec![health(1)])
        })
        .expect("records and vault");
    assert_eq!(receipt.len(), 1);
    let sessions: Vec<(String, Vec<u8>)> = log.vault_scan("session/");
    assert_eq!(sessions, [("session/a".to_owned(), b"4".to_vec())]);
    assert_eq!(log.vault_scan("token/").len(), 1);
    assert_eq!(log.vault_get("session/b"), None);
    // A refused batch writes none of its vault changes.
    let refused = log.append(Batch {
        vault: vec![put("session/c", "5")],
        keys: vec!["k".into(), "k".into()],
        ..Batch::of(T, Actor::System, vec![health(2)])
    });
    assert!(refused.is_err());
    assert_eq!(log.vault_get("session/c"), None);
}

fn appends_get_consecutive_seqs(s: UnderTest) {
    let log = &*s.log;
    assert_eq!(log.last_seq(), 0);
    assert!(log.append(Batch::default()).expect("empty batch").is_empty());
    let first = append(log, T, vec![health(1), health(2)]);
    let second = append(log, T, vec![health(3)]);
    assert_eq!(first.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(second[0].seq, 3);
    assert_eq!(log.last_seq(), 3);
    let read = log.read(1, 10).expect("read");
    assert_eq!(read.len(), 3);
    assert_eq!(read[2].event, health(3));
    assert_eq!(log.read(2, 1).expect("read").len(), 1);
    assert!(log.read(4, 10).expect("read past end").is_empty());
    assert!(log.poisoned().is_none());
}

fn scans_hand_over_chunks_in_order(s: UnderTest) {
    let log = &*s.log;
    append(log, T, (1..=2_500).map(health).collect());
    let mut chunks = Vec::new();
    let mut firsts = Vec::new();
    log.scan(2, 1_000, &mut |stored| {
        firsts.push(stored.first_seq());
        let mut records = Vec::new();
        stored.decode_into(&mut records).expect("decode");
        assert_eq!(records, log.read(stored.first_seq(), stored.len()).expect("read"));
        chunks.push(records.iter().map(|r| r.seq).collect::<Vec<_>>());
        true
    })
    .expect("scan");
    assert_eq!(firsts, [2, 1_002, 2_002]);
    assert_eq!(chunks.iter().map(Vec::len).collect::<Vec<_>>(), [1_000, 1_000, 499]);
    assert_eq!(chunks.concat(), (2..=2_500).collect::<Vec<u64>>());

    let mut taken = 0;
    log.scan(1, 10, &mut |records| {
        taken += records.len();
        taken < 30
    })
    .expect("scan until the sink stops");
    assert_eq!(taken, 30, "stops when the sink says so");
    log.scan(2_501, 10, &mut |_| panic!("nothing past the end")).expect("scan past the end");
}

fn times_never_decrease(s: UnderTest) {
    let log = &*s.log;
    append(log, T, vec![health(1)]);
    let earlier = append(log, T.plus_millis(-5_000), vec![health(2)]);
    assert_eq!(earlier[0].at, T, "an earlier clock is raised to the last time");
    let later = append(log, T.plus_millis(10), vec![health(3)]);
    assert_eq!(later[0].at, T.plus_millis(10));
}

fn expected_seq_guards_against_other_writers(s: UnderTest) {
    let log = &*s.log;
    append(log, T, vec![health(1)]);
    let mut batch = Batch::of(T, Actor::System, vec![health(2)]);
    batch.expected_first_seq = Some(5);
    assert_eq!(log.append(batch.clone()), Err(StoreError::SeqConflict { expected: 5, actual: 2 }));
    batch.expected_first_seq = Some(2);
    assert_eq!(log.append(batch).expect("append")[0].seq, 2);
}

fn idempotency_keys_are_checked_with_the_batch(s: UnderTest) {
    let log = &*s.log;
    let mut batch = Batch::of(T, Actor::GitHub, vec![health(1)]);
    batch.keys = vec!["delivery:a".into(), "ghjob:7".into()];
    log.append(batch.clone()).expect("first");
    assert!(log.has_key("delivery:a").expect("has"));
    assert!(!log.has_key("delivery:b").expect("has"));
    batch.keys = vec!["delivery:b".into(), "ghjob:7".into()];
    assert_eq!(log.append(batch.clone()), Err(StoreError::Duplicate("ghjob:7".into())));
    assert!(!log.has_key("delivery:b").expect("has"), "a refused batch writes no key");
    batch.keys = vec!["delivery:c".into(), "delivery:c".into()];
    assert_eq!(log.append(batch), Err(StoreError::Duplicate("delivery:c".into())));
    assert_eq!(log.last_seq(), 1, "refused batches write nothing");
    // Racing appends with one key: exactly one wins.
    let winners: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                scope.spawn(move || {
                    let mut b = Batch::of(T, Actor::GitHub, vec![health(i)]);
                    b.keys = vec!["delivery:race".into()];
                    log.append(b).is_ok() as usize
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("thread")).sum()
    });
    assert_eq!(winners, 1);
}

fn concurrent_appenders_share_syncs_without_gaps(s: UnderTest) {
    let log = &*s.log;
    let receipts: Vec<Receipt> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..16)
            .map(|t| {
                scope.spawn(move || {
                    (0..50)
                        .map(|i| append(log, T, vec![health(t * 1_000 + i), health(i)]))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("thread")).collect()
    });
    for receipt in &receipts {
        assert_eq!(receipt[1].seq, receipt[0].seq + 1, "a batch stays contiguous");
    }
    let all = log.read(1, 10_000).expect("read");
    assert_eq!(all.len(), 16 * 50 * 2);
    assert!(all.iter().enumerate().all(|(i, r)| r.seq == i as u64 + 1), "no gaps");
    let writes = s.writes.lock().expect("writes").len();
    assert!((1..=16 * 50).contains(&writes), "one observed write per group, not per record: {writes}");
}

fn audit_filters_by_action_and_time_newest_first(s: UnderTest) {
    let log = &*s.log;
    for i in 0..30u64 {
        let at = T.plus_millis(i as i64 * 1_500);
        let event = if i % 3 == 0 { job_event(EventName::JobFailed, i) } else { health(i) };
        append(log, at, vec![event]);
    }
    let page = |q: AuditQuery| log.audit(&q).expect("audit").iter().map(|r| r.seq).collect::<Vec<_>>();
    assert_eq!(page(AuditQuery { limit: 3, ..Default::default() }), [30, 29, 28]);
    assert_eq!(page(AuditQuery { limit: 3, before_seq: Some(28), ..Default::default() }), [27, 26, 25]);
    let failed = AuditQuery { action: Some(EventName::JobFailed), limit: 4, ..Default::default() };
    assert_eq!(page(failed.clone()), [28, 25, 22, 19]);
    assert_eq!(page(AuditQuery { before_seq: Some(19), ..failed.clone() }), [16, 13, 10, 7]);
    // Records 11..=20 are at T+15s ..= T+28.5s.
    let window = AuditQuery {
        from: Some(T.plus_millis(15_000)),
        to: Some(T.plus_millis(30_000)),
        limit: 100,
        ..Default::default()
    };
    assert_eq!(page(window.clone()), (11..=20).rev().collect::<Vec<_>>());
    assert_eq!(page(AuditQuery { action: Some(EventName::JobFailed), ..window }), [19, 16, 13]);
    let empty = AuditQuery { from: Some(T.plus_millis(999_999)), limit: 10, ..Default::default() };
    assert!(page(empty).is_empty());
    assert!(
        page(AuditQuery { action: Some(EventName::ProjectCreated), limit: 10, ..Default::default() })
            .is_empty()
    );
}

fn subjects_give_a_jobs_timeline(s: UnderTest) {
    let log = &*s.log;
    append(log, T, vec![job_event(EventName::JobQueued, 7), job_event(EventName::JobQueued, 8)]);
    append(
        log,
        T,
        vec![job_event(EventName::JobClaimed, 7), health(1), job_event(EventName::JobCompleted, 7)],
    );
    let timeline = log.subject(&pacer_domain::Subject::Job(JobId(7)), 0, 100).expect("subject");
    let names: Vec<&str> = timeline.iter().map(|r| r.event.name().as_str()).collect();
    assert_eq!(names, ["job.queued", "job.claimed", "job.completed"]);
    let after = log.subject(&pacer_domain::Subject::Job(JobId(7)), timeline[0].seq, 1).expect("subject");
    assert_eq!(after[0].event.name(), EventName::JobClaimed);
    let instance = log.subject(&pacer_domain::Subject::Instance("i-7".into()), 0, 10).expect("subject");
    assert_eq!(instance.len(), 1, "the completion names its instance");
}

fn snapshots_keep_the_newest(s: UnderTest) {
    let log = &*s.log;
    assert_eq!(log.load_snapshot().expect("load"), None);
    log.save_snapshot(5, b"five").expect("save");
    log.save_snapshot(9, b"nine").expect("save");
    log.save_snapshot(7, b"seven").expect("save");
    let newest = log.load_snapshot().expect("load");
    assert!(matches!(newest, Some((seq, _)) if seq >= 7), "{newest:?}");
}

fn a_snapshotter_follows_the_log_between_snapshots(s: UnderTest) {
    let log = &*s.log;
    let mut snapshotter = Snapshotter::default();
    assert_eq!(snapshotter.write(log).expect("write"), None, "nothing to snapshot in an empty log");
    for i in 1..=5 {
        append(log, T, vec![health(i)]);
    }
    let first = snapshotter.write(log).expect("write").expect("written");
    assert_eq!(first.seq, 5);
    assert!(first.bytes > 0);
    assert_eq!(snapshotter.write(log).expect("write"), None, "the log has not grown since");
    for i in 6..=9 {
        append(log, T, vec![job_event(EventName::JobQueued, i)]);
    }
    // The kept state folds the four new records only, and what it writes is the log's fold.
    let second = snapshotter.write(log).expect("write").expect("written");
    assert_eq!(second.seq, 9);
    let (loaded, report) = load_state(log).expect("load");
    assert_eq!((report.snapshot_seq, report.replayed), (9, 0));
    assert_eq!(loaded, State::fold(&log.read(1, 100).expect("read")));
    // A fresh snapshotter (after a restart) starts from that snapshot.
    append(log, T, vec![health(10)]);
    assert_eq!(Snapshotter::default().write(log).expect("write").map(|w| w.seq), Some(10));
}

fn an_unfinished_snapshot_is_never_loaded(s: UnderTest) {
    let log = &*s.log;
    append(log, T, vec![health(1)]);
    let mut sink = log.create_snapshot(1).expect("create");
    sink.write_all(b"half a snap").expect("write");
    drop(sink);
    assert_eq!(log.load_snapshot().expect("load"), None, "dropped before its commit");
    assert_eq!(write_snapshot(log).expect("write").map(|w| w.seq), Some(1));
}

fn writes_are_timed(s: UnderTest) {
    let log = &*s.log;
    let observed = || s.writes.lock().expect("writes").clone();
    assert_eq!(observed(), [], "nothing written on open");
    for i in 0..3 {
        append(log, T, vec![health(i)]);
        // An append returns once its group is durable, so each one here is a group of its own
        // and its time is observed before the append returns.
        assert_eq!(observed().len(), i as usize + 1, "one duration per group write");
    }
    assert!(observed().iter().sum::<Duration>() > Duration::ZERO, "{:?}", observed());
    append(log, T, Vec::new());
    let duplicate =
        Batch { keys: vec!["k".into(), "k".into()], ..Batch::of(T, Actor::System, vec![health(9)]) };
    assert!(log.append(duplicate).is_err());
    assert_eq!(observed().len(), 3, "an empty or refused batch writes nothing");
}

fn subscriptions_resume_from_any_seq(s: UnderTest) {
    let log = s.log.clone();
    for i in 0..10 {
        append(&*log, T, vec![health(i)]);
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let mut sub = log.subscribe(4);
        let writer = {
            let log = log.clone();
            std::thread::spawn(move || {
                for i in 10..40 {
                    append(&*log, T, vec![health(i)]);
                }
            })
        };
        let mut seen = Vec::new();
        while seen.len() < 36 {
            seen.push(sub.next().await.expect("next").seq);
        }
        writer.join().expect("writer");
        assert_eq!(seen, (5..=40).collect::<Vec<_>>(), "every record once, in order");
        assert_eq!(sub.try_next().expect("try"), None);
        append(&*log, T, vec![health(99)]);
        assert_eq!(sub.next().await.expect("next").seq, 41);
        let mut at_end = log.subscribe(log.last_seq());
        assert_eq!(at_end.try_next().expect("try"), None);
    });
}

fn slow_subscribers_catch_up_without_skipping(s: UnderTest) {
    let log = s.log.clone();
    let mut sub = log.subscribe(0);
    for i in 0..5_000 {
        append(&*log, T, vec![health(i)]);
    }
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let seqs: Vec<u64> = runtime.block_on(async {
        let mut out = Vec::new();
        for _ in 0..5_000 {
            out.push(sub.next().await.expect("next").seq);
        }
        out
    });
    assert_eq!(seqs, (1..=5_000).collect::<Vec<_>>());
}

fn state_loads_from_snapshot_plus_tail(s: UnderTest) {
    let log = &*s.log;
    let project = |i: u64| {
        Event::ProjectCreated(ProjectCreated {
            id: ProjectId(i),
            spec: ProjectSpec { name: format!("p{i}"), ..ProjectSpec::default() },
        })
    };
    for i in 1..=5 {
        append(log, T, vec![project(i)]);
    }
    let (state, report) = load_state(log).expect("load");
    assert_eq!((report.snapshot_seq, report.replayed), (0, 5));
    save_state(log, &state).expect("snapshot");
    for i in 6..=8 {
        append(log, T, vec![project(i)]);
    }
    let (resumed, report) = load_state(log).expect("load");
    assert_eq!((report.snapshot_seq, report.replayed), (5, 3));
    let whole = State::fold(&log.read(1, 100).expect("read"));
    assert_eq!(resumed, whole);
    let verification = verify(log).expect("verify");
    assert_eq!((verification.snapshot_seq, verification.matches_snapshot), (Some(5), Some(true)));
    assert_eq!(verification.rebuilt, whole);
    // Snapshots not folded from this log are ignored and deleted: filed under another seq than
    // they cover, bound to another record at their seq, ahead of the log, or not snapshots.
    let records = log.read(1, 8).expect("read");
    let five = State::fold(&records[..5]);
    let mut anchor = 0;
    log.scan(5, 1, &mut |chunk| {
        anchor = chunk.stored().next().map(|(_, stored)| anchor_of(stored)).expect("record 5");
        false
    })
    .expect("scan");
    let four = State::fold(&records[..4]);
    let mut ahead = whole.clone();
    ahead.last_seq = 99;
    let strangers = [
        (5, encode_snapshot(&four, anchor).expect("encode"), "filed under seq 5 but covers seq 4"),
        (5, encode_snapshot(&five, anchor ^ 1).expect("encode"), "is not the one it was folded from"),
        (99, encode_snapshot(&ahead, anchor).expect("encode"), "covers seq 99 but the log ends at 8"),
        (99, b"not a snapshot".to_vec(), "not a snapshot or truncated"),
    ];
    for (seq, bytes, why) in strangers {
        log.save_snapshot(seq, &bytes).expect("save");
        let (fallback, report) = load_state(log).expect("load");
        let rejected = report.snapshot_rejected.expect("rejected");
        assert!(rejected.contains(&format!("snapshot at seq {seq}")) && rejected.contains(why), "{rejected}");
        assert_eq!((fallback, report.snapshot_seq), (whole.clone(), 0));
        assert_eq!(log.load_snapshot().expect("load"), None, "{why}: deleted");
        assert_eq!(verify(log).expect("verify").rebuilt, whole);
    }

    // A snapshot is written from the log alone, and only when the log has grown past it.
    assert_eq!(write_snapshot(log).expect("write").map(|written| written.seq), Some(8));
    assert_eq!(write_snapshot(log).expect("write"), None);
    assert_eq!(load_state(log).expect("load").1.snapshot_seq, 8);
    let mut beyond = whole.clone();
    beyond.last_seq = 9;
    assert!(
        matches!(save_state(log, &beyond), Err(StoreError::Snapshot(_))),
        "no snapshot of records the log lacks"
    );

    // `pacer replay` tells a bound snapshot that is not the fold up to its seq.
    let skipped = State::fold(&[&records[..2], &records[3..5]].concat());
    log.remove_snapshot(8).expect("remove");
    log.save_snapshot(5, &encode_snapshot(&skipped, anchor).expect("encode")).expect("save");
    let verification = verify(log).expect("verify");
    assert_eq!(verification.matches_snapshot, Some(false), "the snapshot is not the fold up to its seq");
    assert_eq!(verification.rebuilt, whole);
}

/// The link of the record at `seq`.
fn link_at(log: &dyn EventLog, seq: u64) -> ChainLink {
    let mut link = None;
    log.scan(seq, 1, &mut |chunk| {
        let (seq, stored) = chunk.stored().next().expect("a record");
        link = Some(ChainLink { seq, hash: decode_chained(seq, stored).expect("decode").1 });
        false
    })
    .expect("scan");
    link.expect("the record")
}

/// The export of records `from` through `to`.
fn exported(log: &dyn EventLog, from: u64, to: u64) -> String {
    let mut out = Vec::new();
    export_chain(log, from, to, &mut |line| {
        out.extend_from_slice(line);
        true
    })
    .expect("export");
    String::from_utf8(out).expect("UTF-8")
}

/// Runs the outsider's check (`tools/audit/check-export.py`) over `export`: whether it passed,
/// and what it said.
pub fn check_export(export: &str) -> (bool, String) {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/audit/check-export.py");
    let mut child = std::process::Command::new(crate::peer::python())
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run the check");
    child.stdin.take().expect("stdin").write_all(export.as_bytes()).expect("hand over the export");
    let output = child.wait_with_output().expect("the check ends");
    let said = String::from_utf8_lossy(&[output.stdout, output.stderr].concat()).into_owned();
    (output.status.success(), said)
}

fn every_record_is_chained_and_exported_checkably(s: UnderTest) {
    let log = &*s.log;
    assert_eq!(chain_head(log).expect("head"), ChainLink::default(), "an empty log has no head");
    let odd = Event::HealthChanged(HealthChanged {
        component: "\"quoted\" \\ \t\n\u{1}\u{7f}".into(),
        ok: false,
        message: "é 日本 🦀 \u{2028}".into(),
    });
    let mut batch = Batch::of(T, Actor::User("ops@example.com".into()), vec![odd, health(1)]);
    batch.records[0].request_id = Some("req-1".into());
    log.append(batch).expect("append");
    // Racing appenders: each group is chained in the order it is written.
    std::thread::scope(|scope| {
        for t in 1..=4 {
            scope.spawn(move || {
                for i in 0..10 {
                    append(log, T, vec![health(t * 100 + i), job_event(EventName::JobQueued, t * 100 + i)]);
                }
            });
        }
    });
    // Every event of the catalogue: the outsider rebuilds each payload's canonical form.
    let every = EventName::ALL.iter().map(|name| fixture(*name, &Seeds::default()));
    log.append(Batch::of(T, Actor::Replica { id: "b".into(), term: 3 }, every)).expect("append");
    let total = 82 + EventName::ALL.len() as u64;
    let head = chain_head(log).expect("head");
    assert_eq!(head.seq, total);
    let report = verify_chain(log, ChainLink::default()).expect("verify");
    assert_eq!(report, ChainReport { starts_at: Some(1), head, broken: None });

    // An outsider checks the export with the recipe alone, and finds a change to it.
    let export = exported(log, 1, u64::MAX);
    assert_eq!(export.lines().count() as u64, total);
    let (ok, said) = check_export(&export);
    assert!(ok, "{said}");
    let head_hash = head.hash.expect("chained");
    assert!(said.contains(&format!("head seq {total} hash {head_hash}")), "{said}");
    assert!(export.contains(r#""actor":{"User":"ops@example.com"}"#), "{export}");
    let (ok, said) = check_export(&export.replacen("\"c301\"", "\"c311\"", 1));
    assert!(!ok && said.contains("its hash is not that of its content"), "{said}");
    // A range carries the hash it follows: the line before's.
    let range = exported(log, 10, 20);
    assert_eq!(range.lines().count(), 11);
    let line = |text: &str, i: usize| -> serde_json::Value {
        serde_json::from_str(text.lines().nth(i).expect("a line")).expect("JSON")
    };
    assert_eq!(line(&range, 0)["prev"], line(&export, 8)["hash"]);
    assert_eq!(line(&range, 10), line(&export, 19));
    assert!(check_export(&range).0);
    assert_eq!(exported(log, total + 1, total + 9), "", "nothing past the end");

    // From a base (a verified snapshot's link, once the log before it is pruned): the rest is
    // checked against it.
    let forty = link_at(log, 40);
    let rest = verify_chain(log, forty).expect("verify");
    assert_eq!(rest, ChainReport { starts_at: Some(41), head, broken: None });
    let wrong = verify_chain(log, ChainLink { seq: 40, hash: Some(ChainHash::GENESIS) }).expect("verify");
    assert_eq!(wrong.broken.map(|b| b.seq), Some(41));
    assert_eq!(wrong.head.seq, 40, "nothing after the base follows it");
}
