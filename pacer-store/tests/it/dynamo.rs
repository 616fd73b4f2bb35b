//! The DynamoDB log beyond the conformance suite (on moto): several logs sharing one table
//! (seqs, conflicts, idempotency keys, the vault), records and batches larger than DynamoDB's
//! item and transaction limits, and snapshots in S3.

use crate::conformance::{T, append, eventually, health, job_event};
use crate::moto::{bucket, fresh_settings, s3};
use pacer_domain::*;
use pacer_store::*;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::sync::Barrier;
use std::time::Duration;

/// Polls so seldom that a log sees another's records only when it must (a refused write).
const NEVER: Duration = Duration::from_secs(3_600);

fn open(settings: &DynamoSettings) -> DynamoLog {
    DynamoLog::open(settings, Box::new(|_| {})).expect("open")
}

fn put(key: &str, value: &str) -> VaultWrite {
    VaultWrite { key: key.into(), value: Some(value.as_bytes().to_vec()) }
}

/// The next `n` records of `subscription`, waiting up to 10 s for them.
fn take(subscription: &mut Subscription, n: usize) -> Vec<Recorded> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let mut out = Vec::new();
        while out.len() < n {
            let next = tokio::time::timeout(Duration::from_secs(10), subscription.next()).await;
            out.push(next.expect("a record within 10 s").expect("next"));
        }
        out
    })
}

#[test]
fn logs_sharing_a_table_never_give_a_seq_twice() {
    let settings = fresh_settings(Duration::from_millis(50));
    let (a, b) = (open(&settings), open(&settings));
    let (mut from_a, mut from_b) = (a.subscribe(0), b.subscribe(0));
    const BATCHES: u64 = 12;
    let receipts: Vec<Recorded> = std::thread::scope(|scope| {
        let writers = [(&a, 1), (&a, 2), (&b, 3), (&b, 4)].map(|(log, t)| {
            scope.spawn(move || {
                (0..BATCHES)
                    .flat_map(|i| {
                        append(log, T.plus_millis(i as i64), vec![health(t * 1_000 + i), health(i)])
                    })
                    .collect::<Vec<_>>()
            })
        });
        writers.into_iter().flat_map(|w| w.join().expect("writer")).collect()
    });
    let total = 4 * BATCHES * 2;
    let seqs: BTreeSet<u64> = receipts.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=total).collect(), "every seq once, none skipped");
    eventually("each log sees the other's records", || a.last_seq() == total && b.last_seq() == total);
    let log = a.read(1, total as usize).expect("read a");
    assert_eq!(log, b.read(1, total as usize).expect("read b"), "both logs read the same records");
    for receipt in &receipts {
        assert_eq!(&log[receipt.seq as usize - 1], receipt, "the record acknowledged is the one stored");
    }
    assert!(log.windows(2).all(|w| w[0].at <= w[1].at), "times never decrease");
    assert_eq!(take(&mut from_a, total as usize), log, "a's subscriber sees every record once, in order");
    assert_eq!(take(&mut from_b, total as usize), log, "b's subscriber too");
    assert_eq!((a.poisoned(), b.poisoned()), (None, None));
}

#[test]
fn two_writers_staging_batches_beyond_one_transaction_never_mix_their_records() {
    // Batches of 120 records (each with a subject entry: 240 items) are written in transactions
    // ahead of the one that moves the head. Two logs doing so after the same seq must not
    // overwrite each other's staged items: the one that commits would commit the other's.
    let settings = fresh_settings(Duration::from_millis(50));
    let (a, b) = (open(&settings), open(&settings));
    const ROUNDS: u64 = 4;
    let receipts: Vec<Recorded> = std::thread::scope(|scope| {
        let writers = [(&a, 1u64), (&b, 2u64)].map(|(log, t)| {
            scope.spawn(move || {
                let mut receipts = Vec::new();
                for round in 0..ROUNDS {
                    let events: Vec<Event> = (0..120)
                        .map(|i| job_event(EventName::JobQueued, t * 1_000_000 + round * 1_000 + i))
                        .collect();
                    match log.append(Batch::of(T, Actor::System, events)) {
                        Ok(receipt) => receipts.extend(receipt),
                        Err(StoreError::SeqConflict { .. }) => {}
                        Err(error) => panic!("append: {error}"),
                    }
                }
                receipts
            })
        });
        writers.into_iter().flat_map(|w| w.join().expect("writer")).collect()
    });
    assert!(receipts.len() >= 120 * ROUNDS as usize, "most batches committed: {}", receipts.len());
    let c = open(&settings);
    let last = c.last_seq();
    assert_eq!(last as usize, receipts.len(), "nothing but the acknowledged batches");
    let log = c.read(1, last as usize).expect("read");
    for receipt in &receipts {
        assert_eq!(&log[receipt.seq as usize - 1], receipt, "the record acknowledged is the one stored");
    }
    let report = verify_chain(&c, ChainLink::default()).expect("verify");
    assert_eq!((report.head.seq, report.broken), (last, None), "one unbroken chain");
}

#[test]
fn writers_that_lose_a_race_chain_their_records_after_the_winners() {
    // Never polling, a log learns of the other's records only from the head its refused write
    // returns, and must hash its batch again after the winner's last record.
    let settings = fresh_settings(NEVER);
    let (a, b) = (open(&settings), open(&settings));
    std::thread::scope(|scope| {
        for (log, t) in [(&a, 1), (&a, 2), (&b, 3), (&b, 4)] {
            scope.spawn(move || {
                for i in 0..10 {
                    append(log, T, vec![health(t * 100 + i), health(i)]);
                }
            });
        }
    });
    let c = open(&settings);
    let whole = |log: &DynamoLog| verify_chain(log, ChainLink::default()).expect("verify");
    let report = whole(&c);
    assert_eq!((report.starts_at, report.head.seq, report.broken), (Some(1), 80, None));
    assert_eq!(chain_head(&c).expect("head"), report.head);
    // A log opened later chains on from the head's hash.
    append(&c, T, vec![health(99)]);
    assert_eq!((whole(&c).head.seq, whole(&c).broken), (81, None));
    assert_eq!((a.poisoned(), b.poisoned()), (None, None));
}

#[test]
fn a_batch_decided_against_stale_state_conflicts_and_others_move_on() {
    let settings = fresh_settings(NEVER);
    let (a, b) = (open(&settings), open(&settings));
    append(&a, T, vec![health(1)]);
    assert_eq!(b.last_seq(), 0, "b has not looked yet");
    let mut batch = Batch::of(T, Actor::System, vec![health(2)]);
    batch.expected_first_seq = Some(1);
    assert_eq!(b.append(batch.clone()), Err(StoreError::SeqConflict { expected: 1, actual: 2 }));
    assert_eq!(b.poisoned(), None, "losing a race is no failure");
    assert_eq!(b.last_seq(), 1, "the conflict brought a's record in");
    assert_eq!(b.read(1, 10).expect("read")[0].event, health(1));
    batch.expected_first_seq = Some(2);
    assert_eq!(b.append(batch).expect("decided again")[0].seq, 2);
    // A batch that expects no seq is moved past the other writer's records and written.
    let moved = append(&a, T, vec![health(3)]);
    assert_eq!(moved[0].seq, 3);
    assert_eq!(
        a.read(2, 10).expect("read").iter().map(|r| r.event.clone()).collect::<Vec<_>>(),
        [health(2), health(3)]
    );
    assert_eq!(append(&b, T, vec![health(4)])[0].seq, 4);
    assert_eq!((a.poisoned(), b.poisoned()), (None, None));
}

#[test]
fn an_idempotency_key_is_recorded_by_one_log_only() {
    let settings = fresh_settings(NEVER);
    let (a, b) = (open(&settings), open(&settings));
    let keyed = |key: &str, i: u64| Batch {
        keys: vec![key.to_owned()],
        ..Batch::of(T, Actor::GitHub, vec![health(i)])
    };
    a.append(keyed("delivery:1", 1)).expect("first");
    assert_eq!(b.append(keyed("delivery:1", 2)), Err(StoreError::Duplicate("delivery:1".into())));
    for round in 0..6 {
        let key = format!("delivery:race{round}");
        let barrier = Barrier::new(2);
        let wins: u32 = std::thread::scope(|scope| {
            let racers = [&a, &b].map(|log| {
                let (key, barrier) = (&key, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    match log.append(keyed(key, round)) {
                        Ok(_) => 1,
                        Err(StoreError::Duplicate(k)) if &k == key => 0,
                        Err(other) => panic!("{other}"),
                    }
                })
            });
            racers.into_iter().map(|r| r.join().expect("racer")).sum()
        });
        assert_eq!(wins, 1, "{key}");
        assert!(a.has_key(&key).expect("has") && b.has_key(&key).expect("has"));
    }
    assert_eq!((a.poisoned(), b.poisoned()), (None, None));
    assert_eq!(a.last_seq().max(b.last_seq()), 7, "one record per key");
}

#[test]
fn vault_changes_reach_the_other_logs() {
    let settings = fresh_settings(Duration::from_millis(100));
    let (a, b) = (open(&settings), open(&settings));
    a.append(Batch { vault: vec![put("session/x", "1")], ..Batch::default() }).expect("vault");
    eventually("b reloads the changed entry", || b.vault_get("session/x") == Some(b"1".to_vec()));
    let delete = VaultWrite { key: "session/x".into(), value: None };
    a.append(Batch {
        vault: vec![delete, put("token/y", "2")],
        ..Batch::of(T, Actor::System, vec![health(1)])
    })
    .expect("vault and a record");
    eventually("b sees the deletion", || b.vault_get("session/x").is_none());
    assert_eq!(b.vault_get("token/y"), Some(b"2".to_vec()));
    b.append(Batch { vault: vec![put("session/z", "3")], ..Batch::default() }).expect("b writes too");
    eventually("a sees b's change", || a.vault_get("session/z") == Some(b"3".to_vec()));
    let c = open(&settings);
    assert_eq!(c.vault_scan(""), a.vault_scan(""), "a new log loads the whole vault");
    assert_eq!(c.vault_scan("").len(), 2);
}

#[test]
fn a_replica_behind_the_kept_vault_notices_reloads_the_whole_vault() {
    let settings = DynamoSettings { vault_changes_kept: 2, ..fresh_settings(Duration::from_millis(50)) };
    let a = open(&settings);
    // b learns others' changes only when its own write is refused (each of a's has a record).
    let b = open(&DynamoSettings { poll_interval: NEVER, ..settings.clone() });
    let change = |write: VaultWrite| {
        a.append(Batch { vault: vec![write], ..Batch::of(T, Actor::System, vec![health(0)]) })
            .expect("vault");
    };
    change(put("session/old", "1"));
    append(&b, T, vec![health(1)]);
    assert_eq!(b.vault_get("session/old"), Some(b"1".to_vec()), "b read the change from its notice");
    change(VaultWrite { key: "session/old".into(), value: None });
    for i in 0..4 {
        change(put(&format!("token/{i}"), "t"));
    }
    let notices = |table: &str| {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        crate::moto::table_keys(&runtime, table).into_iter().filter(|(pk, _)| pk == "vchange").count()
    };
    assert_eq!(notices(&settings.table), 6);
    assert_eq!(a.tidy().expect("tidy"), 4, "all but the newest two notices");
    assert_eq!(notices(&settings.table), 2);
    assert_eq!(a.tidy().expect("tidy again"), 0);
    // b missed five changes, three of them without a notice now: it reloads the whole vault,
    // the deletion included.
    append(&b, T, vec![health(2)]);
    assert_eq!(b.vault_scan(""), a.vault_scan(""));
    assert_eq!(b.vault_get("session/old"), None);
    assert_eq!(b.vault_scan("token/").len(), 4);
    // Later changes come by their notices again.
    change(put("token/9", "t"));
    append(&b, T, vec![health(3)]);
    assert_eq!(b.vault_get("token/9"), Some(b"t".to_vec()));
}

#[test]
fn a_record_larger_than_an_item_round_trips() {
    let settings = fresh_settings(Duration::from_millis(200));
    let log = open(&settings);
    let big = Event::HealthChanged(HealthChanged {
        component: "big".into(),
        ok: true,
        message: "x".repeat(1_000_000),
    });
    append(&log, T, vec![health(1), big.clone(), health(2)]);
    let read = log.read(1, 10).expect("read");
    assert_eq!(read.iter().map(|r| r.event.clone()).collect::<Vec<_>>(), [health(1), big.clone(), health(2)]);
    let mut scanned = Vec::new();
    log.scan(2, 1, &mut |chunk| {
        chunk.decode_into(&mut scanned).expect("decode");
        false
    })
    .expect("scan");
    assert_eq!(scanned[0].event, big);
    let newest = log.audit(&AuditQuery { limit: 2, ..Default::default() }).expect("audit");
    assert_eq!(newest.iter().map(|r| r.seq).collect::<Vec<_>>(), [3, 2]);
    let other = open(&settings);
    assert_eq!(other.last_seq(), 3);
    assert_eq!(other.read(2, 1).expect("read")[0].event, big);
}

#[test]
fn batches_beyond_one_transaction_commit_whole_or_are_refused() {
    let settings = fresh_settings(Duration::from_millis(200));
    let log = open(&settings);
    let vault = (0..150).map(|i| put(&format!("k{i}"), "v")).collect();
    match log.append(Batch { vault, ..Batch::default() }) {
        Err(StoreError::TooLarge(why)) => assert!(why.contains("150 vault entries"), "{why}"),
        other => panic!("{other:?}"),
    }
    let keys = (0..120).map(|i| format!("delivery:{i}")).collect();
    let refused = log.append(Batch { keys, ..Batch::of(T, Actor::GitHub, vec![health(1)]) });
    assert!(matches!(refused, Err(StoreError::TooLarge(_))), "{refused:?}");
    assert_eq!((log.poisoned(), log.last_seq()), (None, 0), "nothing written, nothing poisoned");
    assert!(!log.has_key("delivery:0").expect("has"));
    assert_eq!(log.vault_get("k0"), None);
    // More records (and subject entries) than a transaction takes: written ahead of the one
    // transaction that moves the head, they appear all at once.
    let mut batch = Batch::of(T, Actor::GitHub, (1..=300).map(|i| job_event(EventName::JobQueued, i)));
    batch.keys = vec!["delivery:big".into()];
    assert_eq!(log.append(batch).expect("append").len(), 300);
    assert_eq!(log.read(1, 1_000).expect("read").len(), 300);
    assert_eq!(log.subject(&Subject::Job(JobId(300)), 0, 10).expect("subject")[0].seq, 300);
    assert!(log.has_key("delivery:big").expect("has"));
    assert_eq!(append(&log, T, vec![health(1)])[0].seq, 301);
    assert_eq!(open(&settings).read(1, 1_000).expect("read from another log").len(), 301);
}

#[test]
fn snapshots_stream_through_s3_in_parts() {
    let settings = fresh_settings(Duration::from_millis(200));
    let log = open(&settings);
    let bytes: Vec<u8> = (0..20u32 << 20).map(|i| (i % 251) as u8).collect();
    let mut sink = log.create_snapshot(5).expect("create");
    for chunk in bytes.chunks(1 << 20) {
        sink.write_all(chunk).expect("write");
    }
    sink.commit().expect("commit");
    assert!(log.load_snapshot().expect("load") == Some((5, bytes.clone())), "loaded whole");
    let (seq, mut reader) = log.open_snapshot().expect("open").expect("a snapshot");
    let mut streamed = Vec::new();
    reader.read_to_end(&mut streamed).expect("stream");
    assert!(seq == 5 && streamed == bytes, "streamed");
    // More than a part written, then dropped: its upload is aborted.
    let mut unfinished = log.create_snapshot(9).expect("create");
    unfinished.write_all(&bytes[..10 << 20]).expect("write");
    drop(unfinished);
    assert_eq!(log.load_snapshot().expect("load").map(|(seq, _)| seq), Some(5));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let s3 = s3(&runtime);
    let uploads = runtime
        .block_on(s3.list_multipart_uploads().bucket(bucket()).prefix(&settings.prefix).send())
        .expect("list uploads");
    assert!(uploads.uploads().is_empty(), "{:?}", uploads.uploads());
    let objects = runtime
        .block_on(s3.list_objects_v2().bucket(bucket()).prefix(&settings.prefix).send())
        .expect("list");
    let keys: Vec<&str> = objects.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, [format!("{}snapshots/state-{:020}.snap", settings.prefix, 5)]);
}

#[tokio::test]
async fn a_log_is_used_and_dropped_inside_another_runtime() {
    // On a current-thread runtime's only thread: blocking on this runtime would panic, and the
    // log's own runtime must not be dropped (blocking) here either.
    let log = open(&fresh_settings(Duration::from_millis(200)));
    append(&log, T, vec![health(1)]);
    assert_eq!(log.read(1, 10).expect("read").len(), 1);
    assert_eq!(log.subscribe(0).next().await.expect("next").seq, 1);
    drop(log);
}

#[test]
fn the_lease_row_and_heartbeats_live_in_the_logs_table() {
    let settings = fresh_settings(NEVER);
    let (a, b) = (open(&settings).lease_table(), open(&settings).lease_table());
    let first = LeaseRow { holder: "a".into(), term: 1, version: 1 };
    assert!(a.replace(None, &first).expect("take"));
    assert!(
        !b.replace(None, &LeaseRow { holder: "b".into(), ..first.clone() }).expect("race"),
        "one first taker"
    );
    assert!(!b.replace(Some(7), &first).expect("stale"), "only from the version read");
    assert_eq!(b.read().expect("read"), Some(first));
    let beat = |replica: &str, seq| Heartbeat {
        replica: replica.into(),
        at_ms: 1_764_000_000_000 + seq as i64,
        seq,
        lag_ms: 12,
        term: u64::from(replica == "a"),
        version: "0.1.0".into(),
    };
    for (table, replica, seq) in [(&a, "a", 5), (&b, "b", 6), (&a, "a", 9)] {
        table.beat(&beat(replica, seq)).expect("beat");
    }
    assert_eq!(b.heartbeats().expect("beats"), vec![beat("a", 9), beat("b", 6)], "one per replica, the last");
    a.forget("b").expect("forget");
    assert_eq!(b.heartbeats().expect("beats"), vec![beat("a", 9)]);
}
