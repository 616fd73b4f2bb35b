//! Snapshots of a state with more job rows than one chunk holds: the rows are decoded on a
//! second thread chunk by chunk, and any damaged chunk makes the start fall back to the log.

use crate::synthetic;
use pacer_domain::State;
use pacer_store::*;

#[test]
fn job_rows_in_several_chunks_round_trip_and_a_damaged_chunk_falls_back_to_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = RocksLog::open(dir.path()).expect("open");
    // 40,000 jobs: more rows than one chunk of 32,768.
    let records = synthetic::job_lifecycles(40_000);
    for batch in records.chunks(20_000) {
        let records = batch
            .iter()
            .map(|r| NewRecord { at: r.at, actor: r.actor.clone(), request_id: None, event: r.event.clone() })
            .collect();
        log.append(Batch { records, ..Batch::default() }).expect("append");
    }
    let whole = State::fold(&records);
    assert_eq!(whole.jobs.len(), 40_000);
    save_state(&log, &whole).expect("snapshot");

    let (loaded, report) = load_state(&log).expect("load");
    assert_eq!((report.snapshot_seq, report.replayed, report.snapshot_rejected), (whole.last_seq, 0, None));
    assert_eq!(loaded, whole);

    let (seq, mut bytes) = log.load_snapshot().expect("read").expect("a snapshot");
    assert_eq!(decode_snapshot(&bytes[..bytes.len() - 1]), Err(SnapshotRejected::Malformed));
    let last = bytes.len() - 10;
    bytes[last] ^= 0x40; // inside the last chunk of rows
    assert_eq!(decode_snapshot(&bytes), Err(SnapshotRejected::Checksum));
    log.save_snapshot(seq, &bytes).expect("save the damaged snapshot");
    let (rebuilt, report) = load_state(&log).expect("load");
    assert_eq!(report.snapshot_rejected, Some(format!("snapshot at seq {seq} checksum mismatch")));
    assert_eq!(rebuilt, whole);
    assert_eq!(log.load_snapshot().expect("read"), None, "the damaged snapshot is deleted");
}

#[test]
fn snapshot_files_are_recycled_in_place_and_the_two_newest_are_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = RocksLog::open(dir.path()).expect("open");
    // 80,000 jobs in four appends, a snapshot after each.
    let records = synthetic::job_lifecycles(80_000);
    let batches: Vec<&[pacer_domain::Recorded]> = records.chunks(records.len().div_ceil(4)).collect();
    let append = |batch: &[pacer_domain::Recorded]| {
        let records = batch
            .iter()
            .map(|r| NewRecord { at: r.at, actor: r.actor.clone(), request_id: None, event: r.event.clone() })
            .collect();
        log.append(Batch { records, ..Batch::default() }).expect("append");
    };
    let snapshots = dir.path().join("snapshots");
    let files = |ext: &str| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&snapshots)
            .expect("snapshots dir")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| name.ends_with(ext))
            .collect();
        names.sort();
        names
    };
    let mut snapshotter = Snapshotter::default();
    let mut written = Vec::new();
    for batch in &batches[..3] {
        append(batch);
        written.push(snapshotter.write(&log).expect("snapshot").expect("written"));
    }
    // Many times the flush slice, so the file was written in several slices.
    assert!(written[2].bytes > 4 << 20, "{:?}", written[2]);
    let kept: Vec<String> = written[1..].iter().map(|w| format!("state-{:020}.snap", w.seq)).collect();
    assert_eq!(files(".snap"), kept, "the two newest, the oldest recycled");
    let (loaded, report) = load_state(&log).expect("load");
    assert_eq!((report.snapshot_seq, report.replayed), (written[2].seq, 0));
    assert_eq!(loaded, State::fold(&records[..batches[..3].iter().map(|b| b.len()).sum()]));

    // A crash left a temporary file longer than any snapshot: the next snapshot reuses it, cut
    // to the length written, and the oldest snapshot goes as before.
    std::fs::write(
        snapshots.join("state-00000000000000000001.tmp"),
        vec![0xA5; 3 * written[2].bytes as usize],
    )
    .expect("leftover");
    append(batches[3]);
    written.push(snapshotter.write(&log).expect("snapshot").expect("written"));
    assert_eq!(files(".tmp"), Vec::<String>::new());
    let kept: Vec<String> = written[2..].iter().map(|w| format!("state-{:020}.snap", w.seq)).collect();
    assert_eq!(files(".snap"), kept);
    let newest = std::fs::metadata(snapshots.join(&kept[1])).expect("newest");
    assert_eq!(newest.len(), written[3].bytes, "cut to the length written");
    let (loaded, report) = load_state(&log).expect("load");
    assert_eq!((report.snapshot_seq, report.replayed, report.snapshot_rejected), (written[3].seq, 0, None));
    assert_eq!(loaded, State::fold(&records));

    let mut unfinished = log.create_snapshot(written[3].seq + 1).expect("create");
    std::io::Write::write_all(&mut unfinished, b"partial").expect("write");
    assert_eq!(files(".tmp").len(), 1);
    drop(unfinished);
    assert_eq!(files(".tmp"), Vec::<String>::new(), "an unfinished snapshot leaves no file");
    assert_eq!(files(".snap"), kept[1..], "the newest snapshot is never the one recycled");
}

/// An operator keeps snapshot writes off the log's disk by making `snapshots` a symlink to a
/// directory on another volume: snapshots (and a prune's base snapshot) are written, recycled
/// and read there.
#[test]
fn snapshots_follow_a_symlinked_directory_to_another_volume() {
    let (data, other) = (tempfile::tempdir().expect("data"), tempfile::tempdir().expect("other volume"));
    let elsewhere = other.path().join("pacer-snapshots");
    std::fs::create_dir(&elsewhere).expect("mkdir");
    std::os::unix::fs::symlink(&elsewhere, data.path().join("snapshots")).expect("symlink");
    let records = synthetic::job_lifecycles(2_000);
    let log = RocksLog::open(data.path()).expect("open");
    let new = |r: &pacer_domain::Recorded| NewRecord {
        at: r.at,
        actor: r.actor.clone(),
        request_id: None,
        event: r.event.clone(),
    };
    log.append(Batch { records: records.iter().map(new).collect(), ..Batch::default() }).expect("append");
    let written = Snapshotter::default().write(&log).expect("snapshot").expect("written");
    let names = |dir: &std::path::Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("read dir")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        names.sort();
        names
    };
    assert_eq!(names(&elsewhere), [format!("state-{:020}.snap", written.seq)]);

    let far_future = pacer_domain::Timestamp::from_millis(i64::MAX / 2);
    let pruned = prune(&log, far_future, None).expect("prune").expect("pruned");
    assert_eq!(pruned.last_seq, written.seq - 1, "one record short of the snapshot");
    let base = format!("base-{:020}.snap", written.seq);
    assert!(names(&elsewhere).contains(&base), "{:?}", names(&elsewhere));
    drop(log);

    let log = RocksLog::open(data.path()).expect("reopen");
    assert!(std::fs::symlink_metadata(data.path().join("snapshots")).expect("link").is_symlink());
    let (loaded, report) = load_state(&log).expect("load");
    assert_eq!((report.snapshot_seq, report.replayed, report.snapshot_rejected), (written.seq, 0, None));
    assert_eq!(loaded, State::fold(&records));
}
