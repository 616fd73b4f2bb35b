//! A GitHub App created from its manifest against the fake GitHub: Pacer starts without an App
//! and refuses webhooks (503, nothing recorded); `beginGitHubAppCreation` hands out GitHub's
//! new-App URL with a one-time state and the manifest; GitHub's redirect back with a forged
//! or reused state is refused without a call; the real one converts the code, stores the App
//! in the vault, records `github_app.created` and takes webhooks signed with the new secret
//! at once, and after a restart. In headless Chromium, the console's Settings page does the same
//! through the fake's "new App" page (the console's CSP lets its form post there).

use crate::support::github::MANIFEST_WEBHOOK_SECRET;
use crate::support::pacer::{Pacer, SECRET, find};
use crate::support::queued_job;
use crate::support::world::World;
use pacer_domain::Event;
use serde_json::{Value, json};

async fn graphql(pacer: &Pacer, query: &str) -> Value {
    crate::auth::gql(pacer, None, query).await.1
}

/// GitHub sending the browser back: the status and `Location` of Pacer's answer.
async fn back(pacer: &Pacer, query: &str) -> (u16, String) {
    let client =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let response =
        client.get(format!("{}/setup/github-app?{query}", pacer.url)).send().await.expect("setup request");
    let location = response.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or_default();
    (response.status().as_u16(), location.to_owned())
}

/// A workflow_job webhook signed with `secret`: the status.
async fn webhook_with(pacer: &Pacer, secret: &str, delivery: &str, job: u64) -> u16 {
    let body = queued_job(job).to_string();
    let signature = pacer_server::webhook_signature(secret.as_bytes(), body.as_bytes());
    pacer.webhook("workflow_job", delivery, body.as_bytes(), Some(&signature)).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_created_from_its_manifest_is_kept_and_used_without_a_restart() {
    let mut world = World::new().await;
    for key in ["PACER_GITHUB_APP_ID", "PACER_GITHUB_PRIVATE_KEY_PATH", "PACER_GITHUB_WEBHOOK_SECRET"] {
        world.setup.env.push((key.into(), if key.ends_with("APP_ID") { "0" } else { "" }.into()));
    }
    let pacer = world.setup.start().await;

    let (status, body) = pacer.workflow_job("before-app", &queued_job(701)).await;
    assert_eq!((status, body["error"].as_str()), (503, Some("no_github_app")), "{body}");
    let answer = graphql(&pacer, "{ githubApp { source appId } }").await;
    assert_eq!(answer["data"]["githubApp"]["source"], "NONE", "{answer}");

    let bad = graphql(
        &pacer,
        r#"mutation { beginGitHubAppCreation(name: "", organization: "not an org") { url } }"#,
    )
    .await;
    assert_eq!(bad["errors"][0]["extensions"]["code"], "INVALID_INPUT", "{bad}");
    let begun = graphql(
        &pacer,
        r#"mutation { beginGitHubAppCreation(name: "pacer-e2e", organization: "octo") { url manifest } }"#,
    )
    .await;
    let creation = &begun["data"]["beginGitHubAppCreation"];
    let url = creation["url"].as_str().unwrap_or_else(|| panic!("{begun}"));
    let prefix = format!("{}/organizations/octo/settings/apps/new?state=", world.github.url);
    let state = url.strip_prefix(&prefix).unwrap_or_else(|| panic!("{url}"));
    let manifest: Value =
        serde_json::from_str(creation["manifest"].as_str().expect("manifest")).expect("JSON");
    assert_eq!(manifest["hook_attributes"]["url"], format!("{}/api/webhook", pacer.url));
    assert_eq!(manifest["redirect_url"], format!("{}/setup/github-app", pacer.url));
    assert_eq!(manifest["default_events"], json!(["workflow_job"]));

    // A stranger's redirect: refused before any call to GitHub.
    let (status, location) = back(&pacer, "code=stolen&state=forged").await;
    assert_eq!(status, 303);
    assert!(location.starts_with("/settings?github_app_error="), "{location}");
    assert!(world.github.calls_to("POST /app-manifests").is_empty());

    let pem = std::fs::read_to_string(world.setup.dir.join("app.pem")).expect("the App's key");
    world.github.accept_manifest_code("code-1", &pem);
    let (status, location) = back(&pacer, &format!("code=code-1&state={state}")).await;
    assert_eq!((status, location.as_str()), (303, "/settings?github_app=created"));
    let (_, again) = back(&pacer, &format!("code=code-1&state={state}")).await;
    assert!(again.starts_with("/settings?github_app_error="), "a state works once: {again}");
    assert_eq!(world.github.calls_to("POST /app-manifests/code-1/conversions").len(), 1);

    let answer = graphql(&pacer, "{ githubApp { source appId slug owner htmlUrl } }").await;
    assert_eq!(
        answer["data"]["githubApp"],
        json!({"source": "MANIFEST", "appId": "4343", "slug": "pacer-e2e", "owner": "octo",
               "htmlUrl": "https://github.com/apps/pacer-e2e"})
    );
    let again = graphql(&pacer, r#"mutation { beginGitHubAppCreation(name: "second") { url } }"#).await;
    assert_eq!(again["errors"][0]["extensions"]["code"], "CONFLICT", "{again}");

    assert_eq!(webhook_with(&pacer, SECRET, "old-secret", 702).await, 401);
    assert_eq!(webhook_with(&pacer, MANIFEST_WEBHOOK_SECRET, "new-secret", 703).await, 200);
    let records = pacer.stop();
    assert!(
        records.iter().all(|r| r.request_id.as_deref() != Some("before-app")),
        "a webhook without an App writes nothing"
    );

    let created = find(&records, |e| matches!(e, Event::GithubAppCreated(app) if app.app_id == 4343))
        .expect("github_app.created recorded");
    assert_eq!(
        created.actor,
        pacer_domain::Actor::User("operator".into()),
        "recorded as the operator who started it"
    );
    let log = serde_json::to_string(&records.iter().map(|r| format!("{:?}", r.event)).collect::<Vec<_>>())
        .expect("debug text");
    assert!(!log.contains(MANIFEST_WEBHOOK_SECRET) && !log.contains("PRIVATE KEY"), "no secret in the log");

    // After a restart the App comes from the vault.
    let pacer = world.setup.start().await;
    assert_eq!(webhook_with(&pacer, MANIFEST_WEBHOOK_SECRET, "after-restart", 704).await, 200);
    pacer.stop();
}

#[test]
fn pacer_github_app_manifest_prints_the_manifest_for_the_public_url() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("pacer.yaml");
    let write = |public_url: &str| {
        let server = if public_url.is_empty() {
            String::new()
        } else {
            format!("server:\n  public_url: {public_url}\n")
        };
        let yaml = format!(
            "{server}storage:\n  path: {}\naws:\n  region: eu-west-1\n",
            dir.path().join("data").display()
        );
        std::fs::write(&config, yaml).expect("config");
    };
    let manifest = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_pacer"))
            .args(["github-app", "manifest", "--config"])
            .arg(&config)
            .args(args)
            .env_remove("PACER_LOG")
            .output()
            .expect("run pacer")
    };
    write("https://pacer.example.com/");
    let output = manifest(&["--name", "pacer-prod"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed: Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    assert_eq!(printed["name"], "pacer-prod");
    assert_eq!(printed["hook_attributes"]["url"], "https://pacer.example.com/api/webhook");
    assert_eq!(printed["default_events"], json!(["workflow_job"]));
    assert_eq!(
        printed["default_permissions"],
        json!({"administration": "write", "organization_self_hosted_runners": "write", "actions": "read", "metadata": "read"})
    );
    assert_eq!(manifest(&["--name", &"x".repeat(35)]).status.code(), Some(2));
    write("");
    let output = manifest(&[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("server.public_url is required"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_creates_the_app_through_githubs_page() {
    let mut world = World::new().await;
    for key in ["PACER_GITHUB_APP_ID", "PACER_GITHUB_PRIVATE_KEY_PATH", "PACER_GITHUB_WEBHOOK_SECRET"] {
        world.setup.env.push((key.into(), if key.ends_with("APP_ID") { "0" } else { "" }.into()));
    }
    let pem = std::fs::read_to_string(world.setup.dir.join("app.pem")).expect("the App's key");
    world.github.offer_web_app(&pem);
    let pacer = world.setup.start().await;
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("github-app-screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot directory");
    let mut browser =
        crate::support::node::script(&crate::support::manifest_dir().join("tests/browser/github_app.mjs"));
    browser.arg(&pacer.url).arg(&shots);
    let output =
        tokio::task::spawn_blocking(move || browser.output()).await.expect("join").expect("run node");
    let printed =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the browser run failed:\n{printed}\n{}", pacer.logs());

    assert_eq!(webhook_with(&pacer, MANIFEST_WEBHOOK_SECRET, "after-the-browser", 801).await, 200);
    let records = pacer.stop();
    assert!(
        find(&records, |e| matches!(e, Event::GithubAppCreated(app) if app.slug == "pacer-e2e")).is_some()
    );
}
