//! `pacer doctor` and the `doctor` query against moto and the fake GitHub: no check fails on a
//! working set-up, and each injected fault is named with its fix: a missing IAM permission
//! (EC2 refusing its dry run), a wrong webhook URL at GitHub, a key GitHub does not accept, a
//! public URL nobody answers at, and the App not installed on a bound repository.

use crate::support::faults::ec2_without;
use crate::support::pacer::{Pacer, Setup};
use crate::support::world::World;
use serde_json::Value;
use std::process::Command;

/// `pacer doctor` with `setup`'s configuration and `env` on top: exit code and the table.
fn doctor(setup: &Setup, env: &[(&str, &str)]) -> (i32, String) {
    let output = setup
        .command()
        .args(["doctor", "--config"])
        .arg(setup.config_file())
        .envs(env.iter().copied())
        .output()
        .expect("run pacer doctor");
    let table = String::from_utf8_lossy(&output.stdout).into_owned();
    (output.status.code().unwrap_or(-1), format!("{table}{}", String::from_utf8_lossy(&output.stderr)))
}

/// The row of check `name` in a table (the first line starting with a status and the name).
fn row<'a>(table: &'a str, name: &str) -> &'a str {
    table
        .lines()
        .find(|line| line.split_once(' ').is_some_and(|(_, rest)| rest.trim_start().starts_with(name)))
        .unwrap_or_else(|| panic!("no row {name} in:\n{table}"))
}

/// The line after the row of `name`: its fix.
fn fix<'a>(table: &'a str, name: &str) -> &'a str {
    let row = row(table, name);
    let mut lines = table.lines().skip_while(|line| *line != row);
    lines.next();
    lines
        .next()
        .filter(|line| line.trim_start().starts_with('→'))
        .unwrap_or_else(|| panic!("no fix for {name}:\n{table}"))
}

async fn checks_of(pacer: &Pacer) -> Vec<Value> {
    let (_, answer) = crate::auth::gql(pacer, None, "{ doctor { name status detail fix } }").await;
    answer["data"]["doctor"].as_array().cloned().unwrap_or_else(|| panic!("{answer}"))
}

fn check<'a>(checks: &'a [Value], name: &str) -> &'a Value {
    checks.iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("no check {name}: {checks:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_is_green_on_a_working_set_up_and_names_each_fault() {
    let mut world = World::new().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    world.setup.addr = format!("127.0.0.1:{port}");
    let public_url = format!("http://127.0.0.1:{port}");
    world.github.set_webhook_url(&format!("{public_url}/api/webhook"));
    let pacer = world.setup.start().await;

    let (code, table) = doctor(&world.setup, &[]);
    assert_eq!(code, 0, "no check fails:\n{table}");
    assert!(!table.contains("FAILED"), "{table}");
    for name in [
        "AWS credentials and region",
        "permission ec2:RunInstances",
        "permission ec2:CreateFleet",
        "AWS prices",
        "GitHub App key",
        "GitHub App events",
        "GitHub App permissions",
        "clock",
        "GitHub webhook URL",
        "GitHub deliveries",
        "free disk",
    ] {
        assert!(row(&table, name).starts_with("ok "), "{name}:\n{table}");
    }
    // Loopback works here, but GitHub could not reach it.
    assert!(row(&table, "public URL").starts_with("warning"), "{table}");
    // Pacer holds the data directory: its own checks cover the installations.
    assert!(row(&table, "GitHub App installations").starts_with("skipped"), "{table}");

    let checks = checks_of(&pacer).await;
    assert!(checks.iter().all(|c| c["status"] != "FAILED"), "{checks:?}");
    assert_eq!(check(&checks, "installed on octo/hello")["status"], "OK");

    // The App is not installed on a bound repository.
    world.github.uninstall("octo/hello");
    let checks = checks_of(&pacer).await;
    let missing = check(&checks, "installed on octo/hello");
    assert_eq!(missing["status"], "FAILED");
    assert_eq!(missing["fix"], "install the App on octo/hello (the App's page on GitHub → Install)");

    // GitHub sends the webhooks elsewhere.
    world.github.set_webhook_url("https://old-pacer.example/api/webhook");
    let (code, table) = doctor(&world.setup, &[]);
    assert_eq!(code, 1);
    assert!(
        row(&table, "GitHub webhook URL")
            .contains("GitHub sends webhooks to https://old-pacer.example/api/webhook")
    );
    assert!(
        fix(&table, "GitHub webhook URL")
            .contains(&format!("set the App's webhook URL to {public_url}/api/webhook"))
    );
    world.github.set_webhook_url(&format!("{public_url}/api/webhook"));

    // A key GitHub does not know.
    let other_key = world.setup.dir.join("other.pem");
    let generated =
        Command::new("openssl").args(["genrsa", "-traditional", "-out"]).arg(&other_key).arg("2048").output();
    assert!(generated.expect("openssl").status.success());
    let (code, table) =
        doctor(&world.setup, &[("PACER_GITHUB_PRIVATE_KEY_PATH", other_key.to_str().expect("path"))]);
    assert_eq!(code, 1);
    assert!(row(&table, "GitHub App key").starts_with("FAILED"), "{table}");
    assert!(
        fix(&table, "GitHub App key").contains("check github.app_id and the App's private key"),
        "{table}"
    );

    // A public URL nobody answers at.
    let (code, table) = doctor(&world.setup, &[("PACER_SERVER_PUBLIC_URL", "http://127.0.0.1:9")]);
    assert_eq!(code, 1);
    assert!(row(&table, "public URL").contains("http://127.0.0.1:9/healthz does not answer"), "{table}");

    // An IAM policy without ec2:RunInstances.
    let denying = ec2_without(&world.aws.moto.url, "RunInstances").await;
    let (code, table) = doctor(&world.setup, &[("PACER_AWS_ENDPOINT_URL", &denying)]);
    assert_eq!(code, 1);
    assert!(row(&table, "permission ec2:RunInstances").starts_with("FAILED"), "{table}");
    assert!(fix(&table, "permission ec2:RunInstances").contains("grant ec2:RunInstances"), "{table}");
    assert!(row(&table, "permission ec2:CreateFleet").starts_with("ok "), "only that one: {table}");

    // Stopped: the bound repositories are read from the data directory; nobody answers.
    pacer.stop();
    let (code, table) = doctor(&world.setup, &[]);
    assert_eq!(code, 1);
    assert!(row(&table, "installed on octo/hello").starts_with("FAILED"), "{table}");
    assert!(row(&table, "installed on octo/frozen").starts_with("ok "), "{table}");
    assert!(fix(&table, "public URL").contains("is Pacer running?"), "{table}");
}
