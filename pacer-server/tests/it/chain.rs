//! The log's tamper-evident chain from outside: `pacer verify` on RocksDB logs damaged behind the
//! store's back through a raw RocksDB handle (a flipped byte, a removed record, a reordered
//! pair), on an intact log and on a log upgraded in place; and the audit export of a running
//! Pacer, checked by the outsider's script (`tools/audit/check-export.py`) against the
//! `auditChain` head.

use pacer_aws::{Compute, FakeCompute, FakeSettings};
use pacer_domain::{Actor, AuthMethod, Event, HealthChanged, Recorded, Timestamp};
use pacer_server::{
    Auth, EngineSettings, Peers, Running, Secret, ServerOptions, SimulatedGitHub, SystemClock,
};
use pacer_store::{Batch, EventLog, RocksLog, decode_chained, encode_record};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

const T: Timestamp = Timestamp(1_790_000_000_000);

fn health(i: u64) -> Event {
    Event::HealthChanged(HealthChanged {
        component: format!("worker-{i}"),
        ok: true,
        message: format!("all well at {i}"),
    })
}

/// A data directory whose log holds records 1 to `n`.
fn written(n: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = RocksLog::open(dir.path()).expect("open");
    for i in 1..=n {
        log.append(Batch::of(T, Actor::System, [health(i)])).expect("append");
    }
    dir
}

/// Changes the stored records (seq → bytes) of the log in `dir` behind the store's back, as
/// someone with the disk in hand could.
fn tamper(dir: &Path, change: impl FnOnce(&mut BTreeMap<u64, Vec<u8>>)) {
    let mut options = rocksdb::Options::default();
    options.create_if_missing(false);
    let db = rocksdb::DB::open_cf(&options, dir.join("db"), ["log", "index", "keys", "meta", "vault"])
        .expect("raw open");
    let cf = db.cf_handle("log").expect("the log's column family");
    let before: BTreeMap<u64, Vec<u8>> = db
        .iterator_cf(cf, rocksdb::IteratorMode::Start)
        .map(|entry| {
            let (key, value) = entry.expect("entry");
            (u64::from_be_bytes(key.as_ref().try_into().expect("a seq key")), value.into_vec())
        })
        .collect();
    let mut after = before.clone();
    change(&mut after);
    for seq in before.keys().filter(|seq| !after.contains_key(seq)) {
        db.delete_cf(cf, seq.to_be_bytes()).expect("delete");
    }
    for (seq, stored) in &after {
        db.put_cf(cf, seq.to_be_bytes(), stored).expect("put");
    }
}

/// A stored record moved from `from` to `to`, keeping the chain hash it was written with (as a
/// rewrite that does not recompute the chain leaves it).
fn moved(stored: &[u8], from: u64, to: u64) -> Vec<u8> {
    let (mut record, hash) = decode_chained(from, stored).expect("decode");
    record.seq = to;
    let mut bytes = encode_record(&record).expect("encode");
    bytes.extend_from_slice(&hash.expect("a chained record").0);
    bytes
}

/// `pacer verify --data DIR`: its exit code and what it printed.
fn verify(dir: &Path) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_pacer"))
        .args(["verify", "--data"])
        .arg(dir)
        .output()
        .expect("run pacer verify");
    (output.status.code(), String::from_utf8_lossy(&[output.stdout, output.stderr].concat()).into_owned())
}

#[test]
fn pacer_verify_passes_an_intact_log() {
    let dir = written(6);
    let head = pacer_store::chain_head(&RocksLog::open(dir.path()).expect("open")).expect("head");
    let (code, said) = verify(dir.path());
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("chain       starts at seq 1\n"), "{said}");
    let hash = head.hash.expect("chained");
    assert!(said.contains(&format!("head        seq 6 hash {hash}")), "{said}");
}

#[test]
fn pacer_verify_finds_a_flipped_byte() {
    let dir = written(6);
    tamper(dir.path(), |records| {
        let stored = records.get_mut(&4).expect("record 4");
        let at = stored.windows(11).position(|w| w == b"all well at").expect("the message");
        stored[at] ^= 0x20; // "All well at 4": the record still decodes.
    });
    assert_eq!(RocksLog::open(dir.path()).expect("open").read(4, 1).expect("decodes").len(), 1);
    let (code, said) = verify(dir.path());
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("BROKEN      at seq 4: its chain hash"), "{said}");
    assert!(said.contains("last whole  seq 3 hash"), "{said}");
}

#[test]
fn pacer_verify_finds_a_removed_record() {
    let dir = written(6);
    tamper(dir.path(), |records| {
        records.remove(&3);
        for seq in 4..=6 {
            let stored = records.remove(&seq).expect("record");
            records.insert(seq - 1, moved(&stored, seq, seq - 1));
        }
    });
    let (code, said) = verify(dir.path());
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("records     5") && said.contains("BROKEN      at seq 3: its chain hash"),
        "{said}"
    );
}

#[test]
fn pacer_verify_finds_a_reordered_pair() {
    let dir = written(6);
    tamper(dir.path(), |records| {
        let (three, four) = (records[&3].clone(), records[&4].clone());
        records.insert(3, moved(&four, 4, 3));
        records.insert(4, moved(&three, 3, 4));
    });
    let (code, said) = verify(dir.path());
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("BROKEN      at seq 3: its chain hash"), "{said}");
}

#[test]
fn a_log_written_before_the_chain_is_chained_from_its_next_record() {
    let dir = written(0);
    // Records as a Pacer without the chain stored them: their envelopes alone.
    tamper(dir.path(), |records| {
        for seq in 1..=5 {
            let record = Recorded { seq, at: T, actor: Actor::System, request_id: None, event: health(seq) };
            records.insert(seq, encode_record(&record).expect("encode"));
        }
    });
    let (code, said) = verify(dir.path());
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("chain       none yet"), "{said}");
    {
        let log = RocksLog::open(dir.path()).expect("the old log opens");
        for i in 6..=8 {
            log.append(Batch::of(T, Actor::System, [health(i)])).expect("append");
        }
        assert_eq!(log.read(1, 10).expect("every record reads").len(), 8);
    }
    let (code, said) = verify(dir.path());
    assert_eq!(code, Some(0), "{said}");
    assert!(
        said.contains("chain       starts at seq 6: records 1 to 5 were written before the chain existed"),
        "{said}"
    );
    assert!(said.contains("head        seq 8 hash"), "{said}");
    // From there on the chain holds: a changed record breaks it.
    tamper(dir.path(), |records| {
        let stored = records.get_mut(&7).expect("record 7");
        let at = stored.windows(11).position(|w| w == b"all well at").expect("the message");
        stored[at] ^= 0x20;
    });
    let (code, said) = verify(dir.path());
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("BROKEN      at seq 7"), "{said}");
}

/// A Pacer running in process (fakes for EC2 and GitHub) in `dir`, and a user's session.
async fn running_with_session(dir: &Path) -> (Running, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let settings = EngineSettings {
        public_url: format!("http://{addr}"),
        runner_download_url: "https://github.com/actions/runner/releases/download".into(),
        max_concurrent_launches: 4,
        sweep: Duration::from_secs(1),
        reaper_interval: Duration::from_secs(60),
        orphan_grace: Duration::from_secs(600),
        redelivery_interval: Duration::ZERO,
        snapshot_every: 10_000,
        retry_policy: pacer_domain::RetryPolicy::default(),
        public_key_pin: None,
        data_dir: std::path::PathBuf::new(),
        retention: pacer_server::RetentionConfig::default(),
    };
    let auth = Arc::new(Auth::new(false, "admin@pacer.local".into(), 12, false, None));
    let options = ServerOptions {
        github_app: Arc::new(pacer_server::AppSetup::configured(Secret::new("a webhook secret"))),
        auth: auth.clone(),
        trusted_proxies: Vec::new(),
        allowed_origins: Vec::new(),
        allowed_hosts: Vec::new(),
        tls: pacer_server::TlsConfig::default(),
        limits: pacer_server::ConnectionLimits::default(),
    };
    let peers = Peers {
        compute: Arc::new(FakeCompute::new(FakeSettings::new(7))) as Arc<dyn Compute>,
        github: Arc::new(SimulatedGitHub::default()),
        clock: Arc::new(SystemClock),
        identity: Arc::new(pacer_aws::IdentityVerifier::trusting("us-east-1", Vec::new())),
    };
    let running = pacer_server::start(dir, settings, options, peers, listener).await.expect("start");
    let user = "ada@example.com";
    let created = pacer_domain::UserCreated { email: user.into(), method: AuthMethod::Local };
    let command = pacer_domain::Command::RecordAuth(pacer_domain::AuthRecord::UserCreated(created));
    running.engine.app.execute(command, pacer_server::Meta::by(Actor::System)).await.expect("a user");
    let now = running.engine.app.now();
    let (session, _) = auth
        .start_session(&running.engine, user, AuthMethod::Local, Vec::new(), [127, 0, 0, 1].into(), now)
        .await
        .expect("a session");
    (running, session)
}

/// Runs the outsider's check over `export`: whether it passed, and what it said.
fn check_export(export: &str) -> (bool, String) {
    let script = crate::support::repo_dir().join("tools/audit/check-export.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3");
    child.stdin.take().expect("stdin").write_all(export.as_bytes()).expect("hand over the export");
    let output = child.wait_with_output().expect("the check ends");
    (output.status.success(), String::from_utf8_lossy(&[output.stdout, output.stderr].concat()).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_checks_out_against_the_chain_head() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (running, session) = running_with_session(dir.path()).await;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("http://{}{path}", running.addr);
    let graphql =
        |query: &str| http.post(url("/graphql")).bearer_auth(&session).json(&json!({"query": query})).send();
    let created = graphql(r#"mutation { createProject(input: {name: "platform", cap: 4}) { id } }"#)
        .await
        .expect("graphql")
        .json::<Value>()
        .await
        .expect("json");
    assert!(created["errors"].is_null(), "{created}");
    let answer: Value =
        graphql("{ auditChain { seq hash } }").await.expect("graphql").json().await.expect("json");
    let head = &answer["data"]["auditChain"];
    let seq: u64 = head["seq"].as_str().and_then(|s| s.parse().ok()).expect("a seq");
    let hash = head["hash"].as_str().expect("a hash");
    assert!(seq >= 2 && hash.len() == 64, "{answer}");

    let anonymous = http.get(url("/api/audit/export")).send().await.expect("export");
    assert_eq!(anonymous.status(), 401);
    let export = http.get(url(&format!("/api/audit/export?to_seq={seq}"))).bearer_auth(&session).send();
    let export = export.await.expect("export");
    assert_eq!(export.status(), 200);
    assert_eq!(export.headers()["content-type"], "application/x-ndjson");
    let export = export.text().await.expect("the export");
    assert_eq!(export.lines().count() as u64, seq);
    assert!(export.contains(r#""action":"project.created""#), "{export}");
    let (ok, said) = check_export(&export);
    assert!(ok && said.contains(&format!("head seq {seq} hash {hash}")), "{said}");

    let range = http.get(url("/api/audit/export?from_seq=2&to_seq=2")).bearer_auth(&session).send();
    let range = range.await.expect("export").text().await.expect("the range");
    let line = |text: &str, i: usize| -> Value {
        serde_json::from_str(text.lines().nth(i).expect("a line")).expect("JSON")
    };
    assert_eq!(range.lines().count(), 1);
    assert_eq!(line(&range, 0), line(&export, 1), "a line is the same in any range");
    for bad in ["from_seq=0", "from_seq=3&to_seq=2"] {
        let refused = http.get(url(&format!("/api/audit/export?{bad}"))).bearer_auth(&session).send();
        let refused = refused.await.expect("export");
        assert_eq!(refused.status(), 400, "{bad}");
        assert_eq!(refused.json::<Value>().await.expect("json")["error"], "invalid_range");
    }
    running.shutdown().await;
}
