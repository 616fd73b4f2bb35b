//! `pacer backup export` and `pacer backup import` on a stopped Pacer's data directory: what was
//! imported exports back field for field, re-importing the export changes nothing, and a bad
//! file is refused whole with every error listed.

use crate::support::pacer::Setup;
use crate::support::world::World;
use serde_json::{Value, json};

fn run(world: &World, args: &[&str]) -> (bool, String, String) {
    run_with(&world.setup, args)
}

fn run_with(setup: &Setup, args: &[&str]) -> (bool, String, String) {
    let output = setup
        .command()
        .args(["backup"])
        .args(args)
        .arg("--config")
        .arg(setup.config_file())
        .output()
        .expect("run pacer backup");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (output.status.success(), text(&output.stdout), text(&output.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_exports_what_it_imported_and_refuses_bad_files_whole() {
    let world = World::new().await;
    let (ok, stdout, stderr) = run(&world, &["export"]);
    assert!(ok, "export failed: {stderr}");
    let exported: Value = serde_json::from_str(&stdout).expect("the export is JSON");
    assert_eq!(exported["version"], 1);
    let imported = world.backup(json!({}));
    let names = |b: &Value| -> Vec<String> {
        b["projects"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["name"].as_str().map(str::to_owned))
            .collect()
    };
    let mut want = names(&imported);
    want.sort();
    let mut got = names(&exported);
    got.sort();
    assert_eq!(got, want);
    let platform = exported["projects"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "platform"))
        .expect("platform");
    let pool = &platform["pools"][0];
    for field in ["name", "ami_id", "instance_types", "subnet_ids", "security_group_ids", "cap", "is_default"]
    {
        assert_eq!(pool[field], imported["projects"][0]["pools"][0][field], "pool field {field}");
    }
    assert_eq!(platform["repos"][0]["full_name"], "octo/hello");
    assert_eq!(platform["repos"][0]["tags"], json!({"svc": "hello"}));
    for secret in [crate::support::pacer::SECRET, "app.pem"] {
        assert!(!stdout.contains(secret), "a backup holds only operator-edited config");
    }

    let file = world.setup.dir.join("exported.json");
    std::fs::write(&file, &stdout).expect("write export");
    let path = file.to_string_lossy().into_owned();
    let (ok, plan, stderr) = run(&world, &["import", "--dry-run", &path]);
    assert!(ok, "dry run failed: {stderr}");
    assert!(plan.lines().filter(|l| l.starts_with("unchanged")).count() >= 4, "{plan}");
    assert!(!plan.lines().any(|l| l.starts_with("create") || l.starts_with("update")), "{plan}");

    // Into an empty data directory (same AWS and GitHub), then out again: identical config.
    let empty = tempfile::tempdir().expect("tempdir");
    let fresh = Setup { dir: empty.path().to_path_buf(), ..world.setup.clone() };
    std::fs::copy(world.setup.dir.join("app.pem"), fresh.dir.join("app.pem")).expect("copy the app key");
    let (ok, report, stderr) = run_with(&fresh, &["import", &path]);
    assert!(ok, "import into an empty data dir failed: {report}{stderr}");
    let (ok, again, stderr) = run_with(&fresh, &["export"]);
    assert!(ok, "{stderr}");
    let again: Value = serde_json::from_str(&again).expect("json");
    assert_eq!(
        again["projects"], exported["projects"],
        "export → import into an empty data dir → the same config"
    );

    let mut bad = imported.clone();
    bad["projects"][0]["pools"][0]["instance_types"] = json!([]);
    bad["projects"][1]["repos"][0]["full_name"] = json!("not a repo");
    let bad_file = world.setup.dir.join("bad.json");
    std::fs::write(&bad_file, bad.to_string()).expect("write bad backup");
    let (ok, report, _) = run(&world, &["import", &bad_file.to_string_lossy()]);
    assert!(!ok, "a bad backup is refused");
    assert!(
        report.contains("instance_types") && report.contains("full_name"),
        "every error is listed: {report}"
    );
    let (_, after, _) = run(&world, &["export"]);
    let after: Value = serde_json::from_str(&after).expect("json");
    assert_eq!(after["projects"], exported["projects"], "a refused import changes nothing");
}
