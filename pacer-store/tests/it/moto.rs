//! moto's DynamoDB and S3 for the DynamoDB log's tests (`moto_dynamodb.py`, which fixes two
//! things moto gets wrong for this log): one server per test binary, as moto takes seconds to
//! start, and a table and key prefix of its own for each log under test.

use crate::peer::{Peer, free_port, python};
use pacer_store::{DynamoLog, DynamoSettings, StaticCredentials};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The test region.
const REGION: &str = "us-east-1";
/// The bucket every test's snapshots go to (under a prefix of its own).
const BUCKET: &str = "pacer-store-tests";

struct Moto {
    peer: Peer,
    _dir: tempfile::TempDir,
}

/// The server, started by the first test that needs it (it stops when the test binary exits).
fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tools/aws/moto_dynamodb.py");
        let port = free_port();
        let mut command = Command::new(python());
        command.arg(script).arg("127.0.0.1").arg(port.to_string()).env("PYTHONDONTWRITEBYTECODE", "1");
        let peer = Peer::start(dir.path(), "moto-dynamodb", command, port);
        Moto { peer, _dir: dir }
    })
}

/// Settings for a new, empty log (its table and bucket created), polling every `poll`.
pub fn fresh_settings(poll: Duration) -> DynamoSettings {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = format!("pacer-{}-{n}", std::process::id());
    let settings = DynamoSettings {
        prefix: format!("{name}/"),
        endpoint_url: Some(moto().peer.url.clone()),
        credentials: Some(StaticCredentials {
            access_key_id: "testing".into(),
            secret_access_key: "testing".into(),
        }),
        poll_interval: poll,
        ..DynamoSettings::new(name, BUCKET, REGION)
    };
    DynamoLog::ensure_storage(&settings).expect("create the table and the bucket");
    settings
}

/// Settings for a new, empty log, polling every 200 ms (the default).
pub fn settings() -> DynamoSettings {
    fresh_settings(Duration::from_millis(200))
}

fn sdk_config(runtime: &tokio::runtime::Runtime) -> aws_config::SdkConfig {
    runtime.block_on(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "testing", "testing", None, None, "tests",
            ))
            .endpoint_url(&moto().peer.url)
            .load(),
    )
}

/// A raw S3 client of the server, for checking what the log left there.
pub fn s3(runtime: &tokio::runtime::Runtime) -> aws_sdk_s3::Client {
    let config = sdk_config(runtime);
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&config).force_path_style(true).build())
}

/// Every item's partition and sort key in `table`, read with a raw DynamoDB client.
pub fn table_keys(runtime: &tokio::runtime::Runtime, table: &str) -> Vec<(String, String)> {
    let client = aws_sdk_dynamodb::Client::new(&sdk_config(runtime));
    let mut keys = Vec::new();
    let mut start = None;
    loop {
        let call = client.scan().table_name(table).set_exclusive_start_key(start.take()).send();
        let output = runtime.block_on(call).expect("scan");
        for item in output.items() {
            let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            keys.push((text("pk"), text("sk")));
        }
        match output.last_evaluated_key {
            Some(next) if !next.is_empty() => start = Some(next),
            _ => return keys,
        }
    }
}

/// The bucket the tests' snapshots go to.
pub fn bucket() -> &'static str {
    BUCKET
}
