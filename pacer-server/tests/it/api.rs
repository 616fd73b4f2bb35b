//! In-process schema tests: a real engine (RocksDB on disk, FakeCompute, the simulated GitHub)
//! and the GraphQL schema executed directly as a signed-in user — every query, every mutation
//! and each rejection with its `extensions.code` and `extensions.field`; the events
//! subscription resuming without gap, and a lagging subscriber told to resync.

use crate::support;
use futures::{FutureExt, StreamExt};
use pacer_aws::{Compute, FakeCompute, FakeSettings};
use pacer_domain::AuthMethod;
use pacer_server::{
    Auth, EngineSettings, PacerSchema, Peers, Principal, Running, Secret, ServerOptions, SimulatedGitHub,
    SystemClock, start,
};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const SECRET: &str = "in-process webhook secret";
const USER: &str = "ada@example.com";
const AMI: &str = "ami-0123456789abcdef0";

struct Api {
    running: Running,
    schema: PacerSchema,
    fake: Arc<FakeCompute>,
    principal: Principal,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// A GraphQL answer: data and errors.
struct Answer {
    data: Value,
    errors: Vec<Value>,
}

impl Answer {
    #[track_caller]
    fn ok(self) -> Value {
        assert!(self.errors.is_empty(), "unexpected errors: {:#?}", self.errors);
        self.data
    }

    /// The first error's (code, field).
    #[track_caller]
    fn rejected(&self) -> (String, Option<String>) {
        let error = self.errors.first().unwrap_or_else(|| panic!("expected an error, got {:#}", self.data));
        let ext = &error["extensions"];
        (
            ext["code"].as_str().unwrap_or_else(|| panic!("error without code: {error:#}")).to_owned(),
            ext["field"].as_str().map(str::to_owned),
        )
    }
}

impl Api {
    async fn start() -> Api {
        Api::start_with(FakeSettings::new(7), 4).await
    }

    async fn start_with(fake: FakeSettings, max_concurrent_launches: usize) -> Api {
        Api::start_on(fake, max_concurrent_launches, Arc::new(SystemClock), Duration::from_secs(60)).await
    }

    /// An engine whose `now` comes from `clock`, with full reaper passes `reaper_interval` apart.
    async fn start_on(
        fake: FakeSettings,
        max_concurrent_launches: usize,
        clock: Arc<dyn pacer_server::Clock>,
        reaper_interval: Duration,
    ) -> Api {
        let dir = tempfile::tempdir().expect("tempdir");
        let fake = Arc::new(FakeCompute::new(fake));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let settings = EngineSettings {
            public_url: format!("http://{addr}"),
            runner_download_url: "https://github.com/actions/runner/releases/download".into(),
            max_concurrent_launches,
            sweep: Duration::from_secs(1),
            reaper_interval,
            orphan_grace: Duration::from_secs(600),
            redelivery_interval: Duration::ZERO,
            snapshot_every: 10_000,
            retry_policy: pacer_domain::RetryPolicy::default(),
            public_key_pin: None,
            data_dir: std::path::PathBuf::new(),
            retention: pacer_server::RetentionConfig::default(),
        };
        let auth = Arc::new(Auth::new(false, "admin@pacer.local".into(), 12, false, None));
        let github_app = std::sync::Arc::new(pacer_server::AppSetup::configured(Secret::new(SECRET)));
        let options = ServerOptions {
            github_app: github_app.clone(),
            auth: auth.clone(),
            trusted_proxies: Vec::new(),
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            tls: pacer_server::TlsConfig::default(),
            limits: pacer_server::ConnectionLimits::default(),
        };
        let peers = Peers {
            compute: fake.clone() as Arc<dyn Compute>,
            github: Arc::new(SimulatedGitHub::default()),
            clock,
            identity: Arc::new(pacer_aws::IdentityVerifier::trusting("us-east-1", Vec::new())),
        };
        let running = start(dir.path(), settings, options, peers, listener).await.expect("start");
        let schema = pacer_server::schema(running.engine.clone(), auth.clone(), github_app);
        // Sessions exist only for users (the server ends any other at its periodic re-check).
        let created = pacer_domain::UserCreated { email: USER.into(), method: AuthMethod::Local };
        let command = pacer_domain::Command::RecordAuth(pacer_domain::AuthRecord::UserCreated(created));
        running
            .engine
            .app
            .execute(command, pacer_server::Meta::by(pacer_domain::Actor::System))
            .await
            .expect("user");
        let now = running.engine.app.now();
        let (session, _) = auth
            .start_session(&running.engine, USER, AuthMethod::Local, Vec::new(), [127, 0, 0, 1].into(), now)
            .await
            .expect("a session");
        let principal = Principal::User { email: USER.into(), method: AuthMethod::Local, session };
        Api { running, schema, fake, principal, http: reqwest::Client::new(), _dir: dir }
    }

    async fn run(&self, query: &str, variables: Value) -> Answer {
        let request = async_graphql::Request::new(query)
            .variables(async_graphql::Variables::from_json(variables))
            .data(self.principal.clone());
        let response = serde_json::to_value(self.schema.execute(request).await).expect("json");
        Answer {
            data: response["data"].clone(),
            errors: response["errors"].as_array().cloned().unwrap_or_default(),
        }
    }

    async fn ok(&self, query: &str, variables: Value) -> Value {
        self.run(query, variables).await.ok()
    }

    /// Creates project `platform` with pool `default` and binds `octo/hello`; their ids.
    async fn configure(&self) -> (String, String) {
        let project = self
            .ok(
                "mutation($i: ProjectInput!) { createProject(input: $i) { id name } }",
                json!({"i": {"name": "platform", "cap": 10, "tags": [{"key": "team", "value": "core"}]}}),
            )
            .await;
        let project_id = project["createProject"]["id"].as_str().expect("id").to_owned();
        let pool = self.ok(CREATE_POOL, json!({"p": project_id, "i": pool_input("default")})).await;
        let pool_id = pool["createPool"]["id"].as_str().expect("id").to_owned();
        self.ok(
            "mutation($i: RepoInput!) { bindRepo(input: $i) { fullName } }",
            json!({"i": {"fullName": "octo/hello", "projectId": project_id}}),
        )
        .await;
        (project_id, pool_id)
    }

    /// Posts a signed workflow_job webhook for GitHub job `id`.
    async fn webhook(&self, action: &str, id: u64, sender: &str) {
        let labels = ["self-hosted", "platform", "default"];
        let mut body =
            support::webhook_example("workflow_job.05.queued.json", action, id, "octo/hello", &labels);
        body["sender"]["login"] = sender.into();
        if action == "completed" {
            body["workflow_job"]["conclusion"] = "success".into();
        }
        self.post_webhook(&format!("delivery-{action}-{id}"), &body).await;
    }

    /// Posts `body` as the signed `workflow_job` delivery `delivery`; it must be accepted.
    async fn post_webhook(&self, delivery: &str, body: &Value) {
        let bytes = body.to_string().into_bytes();
        let response = self
            .http
            .post(format!("http://{}/api/webhook", self.running.addr))
            .header("content-type", "application/json")
            .header("x-github-event", "workflow_job")
            .header("x-github-delivery", delivery)
            .header("x-hub-signature-256", pacer_server::webhook_signature(SECRET.as_bytes(), &bytes))
            .body(bytes)
            .send()
            .await
            .expect("post webhook");
        assert!(response.status().is_success(), "webhook refused: {}", response.status());
    }

    async fn metrics(&self) -> String {
        let url = format!("http://{}/metrics", self.running.addr);
        self.http.get(url).send().await.expect("GET /metrics").text().await.expect("metrics text")
    }

    /// Waits until `/metrics` has the sample `line` (name and value).
    async fn wait_metric(&self, line: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !self.metrics().await.contains(&format!("\n{line}\n")) {
            assert!(std::time::Instant::now() < deadline, "/metrics never had {line}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn wait_status(&self, status: &str, count: usize) {
        let query = format!("{{ jobs(filter: {{statuses: [{status}]}}) {{ totalCount }} }}");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while self.ok(&query, json!({})).await["jobs"]["totalCount"] != count {
            assert!(std::time::Instant::now() < deadline, "never saw {count} {status} jobs");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

const CREATE_POOL: &str = "mutation($p: ID!, $i: PoolInput!) { createPool(projectId: $p, input: $i) { id name launchTemplateId launchTemplateVersion runsOn isDefault } }";

fn pool_input(name: &str) -> Value {
    json!({
        "name": name,
        "isDefault": true,
        "amiId": AMI,
        "instanceTypes": ["m5.large", "c5.large"],
        "subnetIds": ["subnet-0aaaaaaaaaaaaaaaa"],
        "securityGroupIds": ["sg-0bbbbbbbbbbbbbbbb"],
        "cap": 4,
        "tags": [{"key": "env", "value": "ci"}],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_answers_the_console() {
    let api = Api::start().await;
    let (project_id, pool_id) = api.configure().await;
    api.webhook("queued", 9001, "octocat").await;
    api.webhook("queued", 9002, "hubot").await;
    api.wait_status("STARTING", 2).await;
    api.webhook("completed", 9002, "hubot").await;
    api.wait_status("COMPLETED", 1).await;

    let overview = api.ok("{ overview(windowDays: 7) { windowDays projects boundRepos queuedOrStarting running completed failedOrReaped lastSeq } }", json!({})).await;
    assert_eq!(overview["overview"]["projects"], 1);
    assert_eq!(overview["overview"]["boundRepos"], 1);
    assert_eq!(overview["overview"]["queuedOrStarting"], 1);
    assert_eq!(overview["overview"]["completed"], 1);
    let other = api
        .ok(
            "mutation($i: ProjectInput!) { createProject(input: $i) { id } }",
            json!({"i": {"name": "empty"}}),
        )
        .await;
    let tiles = "query($p: ID) { overview(windowDays: 7, projectId: $p) { projects boundRepos queuedOrStarting running completed failedOrReaped } }";
    let scoped = api.ok(tiles, json!({"p": project_id})).await;
    assert_eq!(
        scoped["overview"],
        json!({"projects": 1, "boundRepos": 1, "queuedOrStarting": 1, "running": 0, "completed": 1, "failedOrReaped": 0}),
        "one project's tiles are all of them here"
    );
    let empty = api.ok(tiles, json!({"p": other["createProject"]["id"]})).await;
    assert_eq!(
        empty["overview"],
        json!({"projects": 1, "boundRepos": 0, "queuedOrStarting": 0, "running": 0, "completed": 0, "failedOrReaped": 0}),
        "another project's tiles count nothing of the first's"
    );
    assert_eq!(api.ok(tiles, json!({"p": null})).await["overview"]["projects"], 2);

    let page = api
        .ok(
            "{ jobs(first: 1) { totalCount nodes { id githubJobId } pageInfo { hasNextPage endCursor } } }",
            json!({}),
        )
        .await;
    assert_eq!(page["jobs"]["totalCount"], 2);
    assert_eq!(page["jobs"]["nodes"][0]["githubJobId"], "9002", "newest first");
    assert_eq!(page["jobs"]["pageInfo"]["hasNextPage"], true);
    let cursor = page["jobs"]["pageInfo"]["endCursor"].clone();
    let next = api
        .ok("query($a: String) { jobs(first: 1, after: $a) { nodes { githubJobId } pageInfo { hasNextPage } } }", json!({"a": cursor}))
        .await;
    assert_eq!(next["jobs"]["nodes"][0]["githubJobId"], "9001");
    assert_eq!(next["jobs"]["pageInfo"]["hasNextPage"], false);
    for (filter, count) in [
        (json!({"sender": "octocat"}), 1),
        (json!({"repo": "octo/hello"}), 2),
        (json!({"projectId": project_id}), 2),
        (json!({"poolId": pool_id}), 2),
        (json!({"statuses": ["COMPLETED"]}), 1),
        (json!({"statuses": ["FAILED", "REAPED"]}), 0),
    ] {
        let answer =
            api.ok("query($f: JobFilter) { jobs(filter: $f) { totalCount } }", json!({"f": filter})).await;
        assert_eq!(answer["jobs"]["totalCount"], count, "filter {filter}");
    }

    let done_id = api.ok("{ jobs(filter: {statuses: [COMPLETED]}) { nodes { id } } }", json!({})).await["jobs"]["nodes"][0]["id"].clone();
    let job = api
        .ok(
            "query($id: ID!) { job(id: $id) { id githubJobId runId repo workflow jobName branch sha sender labels htmlUrl projectName poolName status attempts market queuedAt claimedAt launchedAt finishedAt durationSeconds instanceId instance { id instanceType availabilityZone state } runnerName pricePerHour { micros formatted } cost { micros formatted } failure { stage message } waitReason timeline { at action summary } } }",
            json!({"id": done_id}),
        )
        .await;
    let job = &job["job"];
    assert_eq!(job["status"], "COMPLETED");
    assert_eq!(job["projectName"], "platform");
    assert_eq!(job["poolName"], "default");
    assert_eq!(job["sender"], "hubot");
    assert!(job["instanceId"].as_str().is_some_and(|i| i.starts_with("i-")), "{job:#}");
    assert!(job["htmlUrl"].as_str().is_some_and(|u| u.starts_with("https://github.com/")), "{job:#}");
    let actions: Vec<&str> =
        job["timeline"].as_array().expect("timeline").iter().filter_map(|t| t["action"].as_str()).collect();
    assert_eq!(actions.first(), Some(&"job.queued"));
    // GitHub's own times follow each delivery's records (`job.github_noted`).
    let facts: Vec<&str> = actions.iter().copied().filter(|a| *a != "job.github_noted").collect();
    assert!(
        facts.contains(&"job.spawn_launched")
            && facts.last() == Some(&"job.completed")
            && actions.contains(&"job.github_noted"),
        "{actions:?}"
    );
    let waiting =
        api.ok("{ jobs(filter: {statuses: [STARTING]}) { nodes { waitReason status } } }", json!({})).await;
    assert!(waiting["jobs"]["nodes"][0]["waitReason"].is_string(), "{waiting:#}");
    assert_eq!(api.ok("{ job(id: \"999999\") { id } }", json!({})).await["job"], Value::Null);

    for group in ["PROJECT", "POOL", "REPO", "LABEL"] {
        let stats = api
            .ok(
                &format!("{{ stats(window: {{days: 7}}, groupBy: {group}) {{ groupBy totals {{ jobs completed runnerSeconds cost {{ micros }} unpriced }} rows {{ key label jobs }} }} }}"),
                json!({}),
            )
            .await;
        assert_eq!(stats["stats"]["totals"]["completed"], 1, "{group}");
        assert_eq!(stats["stats"]["rows"].as_array().map(Vec::len), Some(1), "{group}: {stats:#}");
    }
    let custom = api
        .ok(
            "query($f: DateTime, $t: DateTime) { stats(window: {from: $f, to: $t}) { totals { jobs } } }",
            json!({"f": "2020-01-01T00:00:00.000Z", "t": "2020-02-01T00:00:00.000Z"}),
        )
        .await;
    assert_eq!(custom["stats"]["totals"]["jobs"], 0, "nothing happened in 2020");
    let series = api.ok("{ dailySeries { date completed failedOrReaped } }", json!({})).await;
    let days = series["dailySeries"].as_array().expect("days");
    assert!((28..=31).contains(&days.len()));
    assert_eq!(days.iter().map(|d| d["completed"].as_i64().unwrap_or(0)).sum::<i64>(), 1);
    let senders = api.ok("{ topSenders(window: {days: 30}) { sender jobs } }", json!({})).await;
    assert_eq!(senders["topSenders"][0]["sender"], "hubot");
    let spend = api
        .ok("{ spend { projects { name jobs cost { micros formatted } } repos { name jobs } } }", json!({}))
        .await;
    assert_eq!(spend["spend"]["projects"][0]["name"], "platform", "{spend:#}");
    assert_eq!(spend["spend"]["repos"][0]["name"], "octo/hello");

    let audit = api
        .ok("{ audit(filter: {action: \"project.created\"}, first: 10) { failures entries { action actor target summary payload } pageInfo { hasNextPage } } }", json!({}))
        .await;
    let entries = audit["audit"]["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 2, "platform and the empty project of the scope check");
    assert!(entries.iter().all(|e| e["actor"] == USER), "mutations are recorded as the signed-in user");
    assert!(entries[1]["payload"].to_string().contains("\"platform\""), "the full payload: {:#}", entries[1]);
    let paged =
        api.ok("{ audit(first: 2) { entries { seq } pageInfo { hasNextPage endCursor } } }", json!({})).await;
    let seqs: Vec<u64> = paged["audit"]["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["seq"].as_str()?.parse().ok())
        .collect();
    assert!(seqs.len() == 2 && seqs[0] > seqs[1], "newest first: {seqs:?}");
    let cursor = paged["audit"]["pageInfo"]["endCursor"].clone();
    let older = api
        .ok("query($a: String) { audit(first: 1, after: $a) { entries { seq } } }", json!({"a": cursor}))
        .await;
    let older: u64 = older["audit"]["entries"][0]["seq"].as_str().and_then(|s| s.parse().ok()).expect("seq");
    assert!(older < seqs[1]);
    let window = api
        .ok(
            "query($f: DateTime) { audit(filter: {from: $f}) { entries { seq } } }",
            json!({"f": "2099-01-01T00:00:00.000Z"}),
        )
        .await;
    assert_eq!(window["audit"]["entries"], json!([]));
    let actions = api.ok("{ actions }", json!({})).await;
    assert!(actions["actions"].as_array().expect("actions").iter().any(|a| a == "job.reaped"));
    audit_filters_match_actor_target_and_text(&api).await;

    let config = api
        .ok(
            "query($p: ID!, $q: ID!) { projects { name pools { name } repos { fullName } activeJobs } project(id: $p) { name tags { key value } } pools(projectId: $p) { name runsOn } pool(id: $q) { name launchTemplateId } repos(projectId: $p) { fullName projectName } runsOn(poolId: $q) }",
            json!({"p": project_id, "q": pool_id}),
        )
        .await;
    let platform = config["projects"].as_array().and_then(|ps| ps.iter().find(|p| p["name"] == "platform"));
    assert_eq!(platform.map(|p| p["pools"][0]["name"].clone()), Some(json!("default")));
    assert_eq!(config["project"]["tags"], json!([{"key": "team", "value": "core"}]));
    assert_eq!(config["runsOn"], "runs-on: [self-hosted, platform, default]");
    assert_eq!(config["pools"][0]["runsOn"], config["runsOn"]);
    assert!(config["pool"]["launchTemplateId"].as_str().is_some_and(|id| id.starts_with("lt-")));
    assert_eq!(config["repos"][0]["projectName"], "platform");

    let system = api
        .ok("{ health { ok components { name ok message } } settings { retention { kind days } lastPrune { lastSeq } publicUrl bootstrapTokenFingerprint } me { email method } authInfo { disabled localEnabled oidcEnabled signedIn } }", json!({}))
        .await;
    assert!(system["health"]["components"].is_array());
    assert!(system["settings"]["publicUrl"].as_str().is_some_and(|u| u.starts_with("http://127.0.0.1:")));
    assert_eq!(system["settings"]["retention"][0], json!({"kind": "AUDIT", "days": 90}));
    assert_eq!(system["settings"]["lastPrune"], Value::Null, "never pruned");
    assert_eq!(system["me"], json!({"email": USER, "method": "local"}));
    assert_eq!(
        system["authInfo"],
        json!({"disabled": false, "localEnabled": true, "oidcEnabled": false, "signedIn": true})
    );
    api.running.shutdown().await;
}

/// The audit filters beyond action and time, the summary's counts, and the client address and
/// outcome columns.
async fn audit_filters_match_actor_target_and_text(api: &Api) {
    let refused = pacer_domain::AuthLoginFailed {
        email: "mallory@example.test".into(),
        method: AuthMethod::Local,
        ip: "203.0.113.9".into(),
        reason: "bad_credentials".into(),
    };
    let command = pacer_domain::Command::RecordAuth(pacer_domain::AuthRecord::LoginFailed(refused));
    let meta = pacer_server::Meta::by(pacer_domain::Actor::System);
    api.running.engine.app.execute(command, meta).await.expect("a refused sign-in");

    let everything = api
        .ok(
            "{ audit(first: 500) { entries { seq action actor target failure } pageInfo { hasNextPage } } }",
            json!({}),
        )
        .await;
    let all = everything["audit"]["entries"].as_array().expect("entries").clone();
    assert_eq!(everything["audit"]["pageInfo"]["hasNextPage"], false, "the whole log fits in a page");
    let entries = |page: &Value| page["audit"]["entries"].as_array().expect("entries").clone();
    let search = async |filter: Value| {
        entries(
            &api.ok(
                "query($f: AuditFilter) { audit(filter: $f, first: 500) { entries { seq action actor target clientAddress outcome summary payload } } }",
                json!({"f": filter}),
            )
            .await,
        )
    };

    let by_ada = search(json!({"actor": "ADA@"})).await;
    let expected = all.iter().filter(|e| e["actor"] == USER).count();
    assert!(expected > 0 && by_ada.len() == expected, "actor matches part of it, ignoring case");
    assert!(by_ada.iter().all(|e| e["actor"] == USER));
    let about_repo = search(json!({"target": "repo/octo/HELLO"})).await;
    assert!(about_repo.iter().any(|e| e["action"] == "repo.bound"), "{about_repo:?}");
    assert!(about_repo.iter().all(|e| e.to_string().contains("octo/hello")), "{about_repo:?}");
    let by_text = search(json!({"text": "203.0.113"})).await;
    assert_eq!(by_text.len(), 1, "free text reaches the client address: {by_text:?}");
    let login = &by_text[0];
    assert_eq!(
        (&login["action"], &login["clientAddress"], &login["outcome"], &login["target"]),
        (
            &json!("auth.login_failed"),
            &json!("203.0.113.9"),
            &json!("bad_credentials"),
            &json!("user/mallory@example.test")
        )
    );
    let in_payload = search(json!({"text": "PLATFORM", "action": "project.created"})).await;
    assert_eq!(in_payload.len(), 1, "text and action together; the payload is searched");
    assert!(search(json!({"text": "no such text anywhere", "actor": "system"})).await.is_empty());
    assert_eq!(
        search(json!({"actor": "system", "target": "user/"})).await.len(),
        3,
        "actor and target together: the two users created and the refused sign-in"
    );
    assert_eq!(search(json!({"actor": "system", "target": "user/mallory"})).await.len(), 1);

    // Paging through matches: one at a time, newest first, never the same twice.
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = api
            .ok(
                "query($a: String) { audit(filter: {actor: \"ada\"}, first: 1, after: $a) { entries { seq } pageInfo { hasNextPage endCursor } } }",
                json!({"a": after}),
            )
            .await;
        seen.extend(entries(&page).iter().map(|e| e["seq"].clone()));
        if page["audit"]["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["audit"]["pageInfo"]["endCursor"].clone();
    }
    let by_ada_seqs: Vec<Value> = by_ada.iter().map(|e| e["seq"].clone()).collect();
    assert_eq!(seen, by_ada_seqs, "pages of one give the same matches in the same order");

    let summary = api
        .ok(
            "query($f: AuditFilter) { all: auditSummary { events actors actions failures complete } mine: auditSummary(filter: $f) { events actors actions complete } }",
            json!({"f": {"actor": "ada"}}),
        )
        .await;
    let distinct = |field: &str| distinct_of(&all, field);
    assert_eq!(
        summary["all"],
        json!({
            "events": all.len(),
            "actors": distinct("actor"),
            "actions": distinct("action"),
            "failures": all.iter().filter(|e| e["failure"] == true).count(),
            "complete": true,
        }),
    );
    assert_eq!(
        summary["mine"],
        json!({"events": expected, "actors": 1, "actions": distinct_of(&by_ada, "action"), "complete": true})
    );
}

/// How many different values `field` takes in `entries`.
fn distinct_of(entries: &[Value], field: &str) -> usize {
    entries.iter().map(|e| e[field].to_string()).collect::<std::collections::BTreeSet<_>>().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ready_job_waiting_for_a_launch_slot_says_so() {
    let mut fake = FakeSettings::new(7);
    fake.launch_latency = Duration::from_secs(2);
    let api = Api::start_with(fake, 1).await;
    api.configure().await;
    let metrics = api.metrics().await;
    assert!(metrics.contains("\npacer_launch_slots 1\n"), "{metrics}");
    assert!(metrics.contains("\npacer_launches_in_flight 0\n"), "{metrics}");

    // The first job's 2 s launch takes the only slot; the second job waits for it.
    api.webhook("queued", 1, "octocat").await;
    api.wait_metric("pacer_launches_in_flight 1").await;
    api.webhook("queued", 2, "octocat").await;
    let queued = api.ok("{ jobs(filter: {statuses: [QUEUED]}) { nodes { waitReason } } }", json!({})).await;
    let reason = queued["jobs"]["nodes"][0]["waitReason"].as_str().expect("a queued job's wait reason");
    assert!(reason.contains("all 1 launch slots are busy"), "{reason}");

    // The slot frees when the first launch returns, and the second job takes it.
    api.wait_status("STARTING", 2).await;
    api.wait_metric("pacer_launches_in_flight 0").await;
    api.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mutation_changes_config_as_the_user() {
    let api = Api::start().await;
    let (project_id, pool_id) = api.configure().await;

    let updated = api
        .ok(
            "mutation($id: ID!, $i: ProjectInput!) { updateProject(id: $id, input: $i) { name cap disabled } }",
            json!({"id": project_id, "i": {"name": "platform", "cap": 3, "disabled": true}}),
        )
        .await;
    assert_eq!(updated["updateProject"], json!({"name": "platform", "cap": 3, "disabled": true}));
    let version = |pool: Value| pool["pool"]["launchTemplateVersion"].as_i64().expect("version");
    let before = version(
        api.ok("query($id: ID!) { pool(id: $id) { launchTemplateVersion } }", json!({"id": pool_id})).await,
    );
    let tagged = json!({"id": project_id, "i": {"name": "platform", "cap": 3, "disabled": true, "tags": [{"key": "cost-center", "value": "ci"}]}});
    api.ok(
        "mutation($id: ID!, $i: ProjectInput!) { updateProject(id: $id, input: $i) { name } }",
        tagged.clone(),
    )
    .await;
    let pool_now = || async {
        version(
            api.ok("query($id: ID!) { pool(id: $id) { launchTemplateVersion } }", json!({"id": pool_id}))
                .await,
        )
    };
    assert_eq!(pool_now().await, before + 1, "a project tag edit re-versions its pools' templates at once");
    api.ok("mutation($id: ID!, $i: ProjectInput!) { updateProject(id: $id, input: $i) { name } }", tagged)
        .await;
    assert_eq!(pool_now().await, before + 1, "the same tags again change nothing");

    let mut input = pool_input("default");
    input["cap"] = 2.into();
    let pool = api
        .ok("mutation($id: ID!, $i: PoolInput!) { updatePool(id: $id, input: $i) { cap launchTemplateId launchTemplateVersion } }", json!({"id": pool_id, "i": input}))
        .await;
    assert_eq!(pool["updatePool"]["cap"], 2);
    assert_eq!(
        pool["updatePool"]["launchTemplateVersion"],
        before + 2,
        "a re-save is a new default template version"
    );
    let copy = api
        .ok(
            "mutation($id: ID!) { copyPool(id: $id) { id name isDefault launchTemplateId } }",
            json!({"id": pool_id}),
        )
        .await;
    assert_eq!(copy["copyPool"]["name"], "default-copy");
    assert_eq!(copy["copyPool"]["isDefault"], false);
    let copy_id = copy["copyPool"]["id"].clone();
    assert_eq!(
        api.ok("mutation($id: ID!) { deletePool(id: $id) }", json!({"id": copy_id})).await["deletePool"],
        true
    );

    let repo = api
        .ok("mutation($i: RepoInput!) { updateRepo(input: $i) { fullName cap tags { key value } } }", json!({"i": {"fullName": "octo/hello", "projectId": project_id, "cap": 1, "tags": [{"key": "team", "value": "web"}]}}))
        .await;
    assert_eq!(repo["updateRepo"]["cap"], 1);
    assert_eq!(
        api.ok("mutation { unbindRepo(fullName: \"octo/hello\") }", json!({})).await["unbindRepo"],
        true
    );

    let settings = api
        .ok("mutation { setRetention(kind: WEBHOOK, days: 14) { retention { kind days } } }", json!({}))
        .await;
    assert_eq!(settings["setRetention"]["retention"][1], json!({"kind": "WEBHOOK", "days": 14}));
    let before = api
        .ok(
            "{ settings { bootstrapTokenFingerprint bootstrapTokenMasked bootstrapTokenRotatedAt } }",
            json!({}),
        )
        .await;
    assert_eq!(before["settings"]["bootstrapTokenRotatedAt"], Value::Null, "never rotated yet");
    let masked = before["settings"]["bootstrapTokenMasked"].as_str().expect("masked").to_owned();
    assert!(masked.ends_with(&"•".repeat(12)) && masked.chars().count() == 16, "{masked}");
    let rotated = api
        .ok(
            "mutation { rotateBootstrapToken { settings { bootstrapTokenFingerprint previousTokenValidUntil bootstrapTokenMasked bootstrapTokenRotatedAt } pools { poolId poolName templateVersion error } } }",
            json!({}),
        )
        .await;
    let rotation = &rotated["rotateBootstrapToken"];
    assert_ne!(
        rotation["settings"]["bootstrapTokenFingerprint"],
        before["settings"]["bootstrapTokenFingerprint"]
    );
    assert_ne!(rotation["settings"]["bootstrapTokenMasked"], json!(masked), "another key");
    assert!(rotation["settings"]["previousTokenValidUntil"].is_string());
    assert!(rotation["settings"]["bootstrapTokenRotatedAt"].is_string());
    let pools = rotation["pools"].as_array().expect("pools");
    assert!(!pools.is_empty(), "{rotation}");
    for pool in pools {
        assert!(pool["templateVersion"].as_i64().is_some_and(|v| v > 1) && pool["error"].is_null(), "{pool}");
    }
    let reconciled = api
        .ok("mutation { reconcileNow { checked reaped gone stoppedTerminated orphans problems } }", json!({}))
        .await;
    assert_eq!(reconciled["reconcileNow"]["problems"], json!([]), "{reconciled}");
    assert!(reconciled["reconcileNow"]["checked"].is_i64());

    // Backup round trip: export over HTTP, a dry run shows no change, an edited file updates.
    let export: Value = api
        .http
        .get(format!("http://{}/api/backup/export", api.running.addr))
        .header("cookie", "pacer_session=none")
        .send()
        .await
        .expect("export")
        .json()
        .await
        .unwrap_or(Value::Null);
    assert_eq!(export["error"], "unauthenticated", "the export needs a session: {export}");
    let backup =
        pacer_domain::Backup::export(&api.running.engine.app.state().config, api.running.engine.app.now());
    let mut backup = serde_json::to_value(backup).expect("backup json");
    let dry = api
        .ok("mutation($j: String!) { importBackup(json: $j, dryRun: true) { dryRun applied items { kind name action } errors { field } } }", json!({"j": backup.to_string()}))
        .await;
    assert!(
        dry["importBackup"]["items"].as_array().expect("items").iter().all(|i| i["action"] == "UNCHANGED"),
        "{dry:#}"
    );
    backup["projects"][0]["cap"] = 9.into();
    backup["projects"]
        .as_array_mut()
        .expect("projects")
        .push(json!({"name": "mobile", "pools": [], "repos": []}));
    let plan = api
        .ok("mutation($j: String!) { importBackup(json: $j, dryRun: true) { projectsCreated projectsUpdated applied } }", json!({"j": backup.to_string()}))
        .await;
    assert_eq!(plan["importBackup"], json!({"projectsCreated": 1, "projectsUpdated": 1, "applied": false}));
    assert_eq!(
        api.ok("{ projects { name } }", json!({})).await["projects"].as_array().map(Vec::len),
        Some(1),
        "a dry run changes nothing"
    );
    let applied = api
        .ok("mutation($j: String!) { importBackup(json: $j, dryRun: false) { projectsCreated applied errors { field } } }", json!({"j": backup.to_string()}))
        .await;
    assert_eq!(applied["importBackup"], json!({"projectsCreated": 1, "applied": true, "errors": []}));
    let mobile = api.ok("{ projects { id name } }", json!({})).await["projects"]
        .as_array()
        .expect("projects")
        .iter()
        .find(|p| p["name"] == "mobile")
        .map(|p| p["id"].clone())
        .expect("mobile imported");
    assert_eq!(
        api.ok("mutation($id: ID!) { deleteProject(id: $id) }", json!({"id": mobile})).await["deleteProject"],
        true
    );

    let actors = api.ok("{ audit(first: 100) { entries { action actor } } }", json!({})).await;
    for entry in actors["audit"]["entries"].as_array().expect("entries") {
        let action = entry["action"].as_str().unwrap_or_default();
        if action.starts_with("project.")
            || action.starts_with("pool.")
            || action.starts_with("repo.")
            || action.starts_with("settings.")
        {
            assert_eq!(entry["actor"], USER, "{entry}");
        }
    }
    assert_eq!(api.ok("mutation { logout }", json!({})).await["logout"], true);
    api.running.shutdown().await;
}

/// The retention fields of `settings`.
const RETENTION: &str = "retention { kind days defaultDays overridden } lastPrune { firstSeq }";

/// `setRetention(kind, days)` as the user; the answer's retention.
async fn set_retention(api: &Api, kind: &str, days: Value) -> Value {
    let query = format!(
        "mutation($k: RetentionKind!, $d: Int) {{ setRetention(kind: $k, days: $d) {{ {RETENTION} }} }}"
    );
    api.ok(&query, json!({"k": kind, "d": days})).await["setRetention"]["retention"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_is_overridden_per_kind_set_back_to_its_default_and_audited() {
    let api = Api::start().await;
    let read = || async {
        api.ok(&format!("{{ settings {{ {RETENTION} }} }}"), json!({})).await["settings"].clone()
    };
    let setting = |kind: &str, days: i64, default_days: i64, overridden: bool| json!({"kind": kind, "days": days, "defaultDays": default_days, "overridden": overridden});
    let defaults = json!([
        setting("AUDIT", 90, 90, false),
        setting("WEBHOOK", 7, 7, false),
        setting("FAILURE_LOG", 30, 30, false)
    ]);
    let initial = read().await;
    assert_eq!(initial["retention"], defaults, "the configuration's defaults, in this order");
    assert_eq!(initial["lastPrune"], Value::Null);

    let answered = set_retention(&api, "AUDIT", json!(30)).await;
    assert_eq!(answered[0], setting("AUDIT", 30, 90, true));
    set_retention(&api, "FAILURE_LOG", json!(3_650)).await;
    let overridden = json!([
        setting("AUDIT", 30, 90, true),
        setting("WEBHOOK", 7, 7, false),
        setting("FAILURE_LOG", 3_650, 30, true)
    ]);
    assert_eq!(read().await["retention"], overridden, "read back");

    for days in [json!(0), json!(3_651), json!(-5)] {
        let answer = api
            .run(
                "mutation($d: Int) { setRetention(kind: WEBHOOK, days: $d) { retention { days } } }",
                json!({"d": days}),
            )
            .await;
        assert_eq!(answer.rejected(), ("INVALID_INPUT".to_owned(), Some("days".to_owned())), "{days}");
    }
    assert_eq!(read().await["retention"], overridden, "a refused value changes nothing");

    let answered = set_retention(&api, "AUDIT", Value::Null).await;
    assert_eq!(answered[0], setting("AUDIT", 90, 90, false), "back to the default");
    set_retention(&api, "FAILURE_LOG", Value::Null).await;
    assert_eq!(read().await["retention"], defaults);

    let audit = api
        .ok(
            "{ audit(filter: {action: \"settings.retention_set\"}, first: 10) { entries { actor summary payload } } }",
            json!({}),
        )
        .await;
    let entries = audit["audit"]["entries"].as_array().expect("entries");
    assert!(entries.iter().all(|e| e["actor"] == USER), "{audit}");
    let mut summaries: Vec<&str> = entries.iter().filter_map(|e| e["summary"].as_str()).collect();
    summaries.sort_unstable();
    assert_eq!(
        summaries,
        [
            "audit retention back to the default",
            "audit retention set to 30 days",
            "failure log retention back to the default",
            "failure log retention set to 3,650 days",
        ],
        "each change once; no refused one"
    );
    assert!(entries.iter().any(|e| e["payload"] == json!({"kind": "Audit", "days": null})), "{audit}");
    api.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejections_carry_a_code_and_a_field_and_change_nothing() {
    let api = Api::start().await;
    let (project_id, pool_id) = api.configure().await;
    let seq_before = api.running.engine.app.log().last_seq();
    api.fake.mark_missing("ami-0deadbeefdeadbeef");
    let cases: Vec<(&str, &str, Value, &str, Option<&str>)> = vec![
        (
            "empty project name",
            "mutation($i: ProjectInput!) { createProject(input: $i) { id } }",
            json!({"i": {"name": " "}}),
            "INVALID_INPUT",
            Some("name"),
        ),
        (
            "duplicate project",
            "mutation($i: ProjectInput!) { createProject(input: $i) { id } }",
            json!({"i": {"name": "platform"}}),
            "INVALID_INPUT",
            Some("name"),
        ),
        (
            "negative cap",
            "mutation($i: ProjectInput!) { createProject(input: $i) { id } }",
            json!({"i": {"name": "x", "cap": -1}}),
            "INVALID_INPUT",
            Some("cap"),
        ),
        (
            "reserved tag",
            "mutation($i: ProjectInput!) { createProject(input: $i) { id } }",
            json!({"i": {"name": "x", "tags": [{"key": "gha:job_id", "value": "1"}]}}),
            "INVALID_INPUT",
            Some("tags.gha:job_id"),
        ),
        (
            "org scope without org",
            "mutation($i: ProjectInput!) { createProject(input: $i) { id } }",
            json!({"i": {"name": "x", "scope": "ORG"}}),
            "INVALID_INPUT",
            Some("org_name"),
        ),
        (
            "project id not numeric",
            "mutation($i: ProjectInput!) { updateProject(id: \"abc\", input: $i) { id } }",
            json!({"i": {"name": "x"}}),
            "INVALID_INPUT",
            Some("id"),
        ),
        (
            "unknown project",
            "mutation($i: ProjectInput!) { updateProject(id: \"424242\", input: $i) { id } }",
            json!({"i": {"name": "x"}}),
            "NOT_FOUND",
            None,
        ),
        (
            "project with pools",
            "mutation($id: ID!) { deleteProject(id: $id) }",
            json!({"id": project_id}),
            "CONFLICT",
            None,
        ),
        (
            "missing AMI",
            CREATE_POOL,
            json!({"p": project_id, "i": {"name": "gpu", "amiId": "ami-0deadbeefdeadbeef", "instanceTypes": ["g5.xlarge"], "subnetIds": ["subnet-0aaaaaaaaaaaaaaaa"]}}),
            "INVALID_INPUT",
            Some("ami_id"),
        ),
        (
            "no instance types",
            CREATE_POOL,
            json!({"p": project_id, "i": {"name": "gpu", "amiId": AMI, "instanceTypes": [], "subnetIds": ["subnet-0aaaaaaaaaaaaaaaa"]}}),
            "INVALID_INPUT",
            Some("instance_types"),
        ),
        (
            "run_instances allocating by capacity",
            CREATE_POOL,
            json!({"p": project_id, "i": {"name": "gpu", "amiId": AMI, "instanceTypes": ["g5.xlarge"], "subnetIds": ["subnet-0aaaaaaaaaaaaaaaa"], "spawnMethod": "RUN_INSTANCES", "allocationStrategy": "CAPACITY"}}),
            "INVALID_INPUT",
            Some("allocation_strategy"),
        ),
        (
            "an edit to run_instances keeping lowest_price",
            "mutation($id: ID!, $i: PoolInput!) { updatePool(id: $id, input: $i) { id } }",
            json!({"id": pool_id, "i": {"name": "default", "isDefault": true, "amiId": AMI, "instanceTypes": ["m5.large"], "subnetIds": ["subnet-0aaaaaaaaaaaaaaaa"], "spawnMethod": "RUN_INSTANCES", "allocationStrategy": "LOWEST_PRICE"}}),
            "INVALID_INPUT",
            Some("allocation_strategy"),
        ),
        (
            "duplicate pool",
            CREATE_POOL,
            json!({"p": project_id, "i": pool_input("default")}),
            "INVALID_INPUT",
            Some("name"),
        ),
        (
            "pool in unknown project",
            CREATE_POOL,
            json!({"p": "777", "i": pool_input("other")}),
            "NOT_FOUND",
            None,
        ),
        ("unknown pool", "mutation { deletePool(id: \"31337\") }", json!({}), "NOT_FOUND", None),
        ("copy of unknown pool", "mutation { copyPool(id: \"31337\") { id } }", json!({}), "NOT_FOUND", None),
        (
            "bad repo name",
            "mutation($i: RepoInput!) { bindRepo(input: $i) { fullName } }",
            json!({"i": {"fullName": "not a repo", "projectId": project_id}}),
            "INVALID_INPUT",
            Some("full_name"),
        ),
        (
            "repo bound twice",
            "mutation($i: RepoInput!) { bindRepo(input: $i) { fullName } }",
            json!({"i": {"fullName": "octo/hello", "projectId": project_id}}),
            "CONFLICT",
            Some("full_name"),
        ),
        (
            "repo cap negative",
            "mutation($i: RepoInput!) { bindRepo(input: $i) { fullName } }",
            json!({"i": {"fullName": "octo/new", "projectId": project_id, "cap": -2}}),
            "INVALID_INPUT",
            Some("cap"),
        ),
        ("unbind unknown", "mutation { unbindRepo(fullName: \"octo/none\") }", json!({}), "NOT_FOUND", None),
        (
            "retention negative",
            "mutation { setRetention(kind: AUDIT, days: -1) { retention { days } } }",
            json!({}),
            "INVALID_INPUT",
            Some("days"),
        ),
        (
            "retention past ten years",
            "mutation { setRetention(kind: FAILURE_LOG, days: 3651) { retention { days } } }",
            json!({}),
            "INVALID_INPUT",
            Some("days"),
        ),
        (
            "page too large",
            "{ jobs(first: 100000) { totalCount } }",
            json!({}),
            "INVALID_INPUT",
            Some("first"),
        ),
        ("bad cursor", "{ jobs(after: \"zzz\") { totalCount } }", json!({}), "INVALID_INPUT", Some("after")),
        ("bad job id", "{ job(id: \"x\") { id } }", json!({}), "INVALID_INPUT", Some("id")),
        (
            "bad window",
            "{ stats(window: {days: 0}) { totals { jobs } } }",
            json!({}),
            "INVALID_INPUT",
            Some("window"),
        ),
        (
            "inverted window",
            "{ stats(window: {from: \"2026-02-01T00:00:00.000Z\", to: \"2026-01-01T00:00:00.000Z\"}) { totals { jobs } } }",
            json!({}),
            "INVALID_INPUT",
            Some("window"),
        ),
        (
            "bad month",
            "{ dailySeries(year: 2026, month: 13) { date } }",
            json!({}),
            "INVALID_INPUT",
            Some("month"),
        ),
        (
            "audit search text too long",
            "query($t: String) { audit(filter: {text: $t}) { failures } }",
            json!({"t": "x".repeat(201)}),
            "INVALID_INPUT",
            Some("text"),
        ),
        (
            "unknown audit action",
            "{ audit(filter: {action: \"job.exploded\"}) { failures } }",
            json!({}),
            "INVALID_INPUT",
            Some("action"),
        ),
        ("runsOn of unknown pool", "{ runsOn(poolId: \"999\") }", json!({}), "NOT_FOUND", None),
    ];
    let mut wrong = Vec::new();
    for (what, query, variables, code, field) in cases {
        let answer = api.run(query, variables).await;
        let (got_code, got_field) = answer.rejected();
        if got_code != code || got_field.as_deref() != field {
            wrong.push(format!(
                "{what}: got {got_code} {got_field:?}, want {code} {field:?}: {}",
                answer.errors[0]["message"]
            ));
        }
    }
    assert!(wrong.is_empty(), "wrong rejections:\n{}", wrong.join("\n"));
    let pool =
        api.ok("query($id: ID!) { pool(id: $id) { launchTemplateVersion } }", json!({"id": pool_id})).await;
    assert_eq!(pool["pool"]["launchTemplateVersion"], 1, "no rejected edit touched the template");

    // A bad backup is all-or-nothing with every row error reported.
    let bad = json!({"version": 1, "projects": [
        {"name": "", "pools": [], "repos": []},
        {"name": "ok", "pools": [{"name": "p", "ami_id": "", "instance_types": [], "subnet_ids": []}], "repos": [{"full_name": "nope"}]}
    ]});
    let result = api
        .ok("mutation($j: String!) { importBackup(json: $j, dryRun: false) { applied errors { field message } } }", json!({"j": bad.to_string()}))
        .await;
    let errors = result["importBackup"]["errors"].as_array().expect("errors");
    assert_eq!(result["importBackup"]["applied"], false);
    assert!(errors.len() >= 3, "every row error is reported: {errors:#?}");
    let garbage =
        api.ok("mutation { importBackup(json: \"{nope\") { applied errors { field } } }", json!({})).await;
    assert_eq!(garbage["importBackup"]["errors"][0]["field"], "json");

    // Limits: a query nested past the depth limit is refused before it runs.
    assert!(api.run("{ projects { pools { tags { key } } } }", json!({})).await.errors.is_empty());
    let too_deep = format!(
        "{{ __schema {{ types {{ fields {{ type {{ {} name {} }} }} }} }} }}",
        "ofType { ".repeat(20),
        "} ".repeat(20)
    );
    assert!(!api.run(&too_deep, json!({})).await.errors.is_empty(), "depth limit");
    // A page costs its fields times `first`: the console's widest page passes, 500 full jobs
    // (or the same asked twice under aliases) do not.
    let row = "id githubJobId repo workflow jobName sender status projectName poolName queuedAt \
               launchedAt startedAt finishedAt durationSeconds instanceId cost { micros }";
    let page = |first: u32| {
        format!(
            "jobs(first: {first}) {{ totalCount pageInfo {{ hasNextPage endCursor }} nodes {{ {row} }} }}"
        )
    };
    assert!(
        api.run(&format!("{{ {} }}", page(200)), json!({})).await.errors.is_empty(),
        "the console's page"
    );
    let too_costly = api.run(&format!("{{ {} }}", page(500)), json!({})).await;
    assert!(too_costly.errors.iter().any(|e| e.to_string().contains("complex")), "{:?}", too_costly.errors);
    let aliased = format!("{{ a: {} b: {} }}", page(150), page(150));
    assert!(!api.run(&aliased, json!({})).await.errors.is_empty(), "aliases add up");

    let events = api.running.engine.app.log().read(seq_before + 1, usize::MAX).expect("read");
    let config_changes: Vec<&str> = events
        .iter()
        .map(|r| r.event.name().as_str())
        .filter(|n| n.starts_with("project.") || n.starts_with("pool.") || n.starts_with("repo."))
        .collect();
    assert!(config_changes.is_empty(), "rejections recorded config changes: {config_changes:?}");
    api.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_events_subscription_resumes_without_gap_or_duplicate() {
    let api = Api::start().await;
    api.configure().await;
    let middle = api.running.engine.app.log().last_seq() / 2;
    let request = async_graphql::Request::new(format!(
        "subscription {{ events(afterSeq: \"{middle}\") {{ seq action actor }} }}"
    ))
    .data(api.principal.clone());
    let mut stream = api.schema.execute_stream(request);
    for i in 0..20 {
        api.ok(
            "mutation($i: ProjectInput!) { createProject(input: $i) { id } }",
            json!({"i": {"name": format!("p{i}")}}),
        )
        .await;
    }
    let last = api.running.engine.app.log().last_seq();
    let mut seen = Vec::new();
    while seen.last().is_none_or(|s| *s < last) {
        let data = next_data(&mut stream).await;
        seen.push(data["events"]["seq"].as_str().and_then(|s| s.parse::<u64>().ok()).expect("seq"));
    }
    assert_eq!(
        seen,
        ((middle + 1)..=last).collect::<Vec<_>>(),
        "every record after afterSeq, once, in order"
    );

    let filtered = async_graphql::Request::new(
        "subscription { events(afterSeq: \"0\", actions: [\"project.created\"]) { action } }",
    )
    .data(api.principal.clone());
    let mut filtered = api.schema.execute_stream(filtered);
    for _ in 0..21 {
        let item = tokio::time::timeout(Duration::from_secs(10), filtered.next())
            .await
            .expect("in time")
            .expect("open");
        assert_eq!(serde_json::to_value(&item).expect("json")["data"]["events"]["action"], "project.created");
    }
    let unknown = async_graphql::Request::new("subscription { events(actions: [\"job.exploded\"]) { seq } }")
        .data(api.principal.clone());
    let first = api.schema.execute_stream(unknown).next().await.expect("an answer");
    assert_eq!(
        serde_json::to_value(&first).expect("json")["errors"][0]["extensions"]["code"],
        "INVALID_INPUT"
    );
    api.running.shutdown().await;
}

/// The data of a subscription's next answer, which must come within 30 s and carry no error.
async fn next_data(
    stream: &mut (impl futures::Stream<Item = async_graphql::Response> + Unpin),
) -> serde_json::Value {
    let item = tokio::time::timeout(Duration::from_secs(30), stream.next())
        .await
        .expect("an answer in time")
        .expect("open");
    let value = serde_json::to_value(&item).expect("json");
    assert!(item.errors.is_empty(), "{value:#}");
    value["data"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_changed_follows_every_job_or_one() {
    let api = Api::start().await;
    api.configure().await;
    let subscribe = |query: &str| {
        let request = async_graphql::Request::new(query).data(api.principal.clone());
        api.schema.execute_stream(request)
    };
    let mut any = subscribe("subscription { jobChanged { id status } }");
    let mut second = subscribe("subscription { jobChanged(id: \"2\") { id status } }");
    // A subscription starts when first polled: from the log's end at that moment.
    assert!(any.next().now_or_never().is_none() && second.next().now_or_never().is_none());
    api.webhook("queued", 1, "octocat").await;
    api.webhook("queued", 2, "octocat").await;
    // Each stream until every job it follows has been seen STARTING. A change is rendered as the
    // job is when the subscriber takes it, so a slow one may see a later status than the record.
    async fn until_started(
        stream: &mut (impl futures::Stream<Item = async_graphql::Response> + Unpin),
        jobs: &[&str],
    ) -> Vec<(String, String)> {
        let mut seen: Vec<(String, String)> = Vec::new();
        while !jobs.iter().all(|job| seen.iter().any(|(id, status)| id == job && status == "STARTING")) {
            let data = next_data(stream).await;
            let job = &data["jobChanged"];
            seen.push((
                job["id"].as_str().expect("id").into(),
                job["status"].as_str().expect("status").into(),
            ));
        }
        seen
    }
    until_started(&mut any, &["1", "2"]).await;
    let one = until_started(&mut second, &["2"]).await;
    assert!(one.iter().all(|(id, _)| id == "2"), "only job 2: {one:?}");
    api.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_subscriber_is_told_to_resync() {
    let api = Api::start().await;
    let engine = api.running.engine.clone();
    let request = async_graphql::Request::new("subscription { events(afterSeq: \"0\") { seq } }")
        .data(api.principal.clone());
    let mut stream = api.schema.execute_stream(request);
    // Nobody reads while far more records than the subscriber may queue are appended.
    let total = 3 * pacer_server::SUBSCRIBER_QUEUE + 100;
    for chunk in 0..(total / 50) {
        let names: Vec<String> = (0..50).map(|i| format!("lag-{chunk}-{i}")).collect();
        let writes = names.iter().map(|name| engine.health(name, Err("down".into())));
        futures::future::join_all(writes).await;
    }
    let mut seqs = Vec::new();
    let code = loop {
        let item = tokio::time::timeout(Duration::from_secs(10), stream.next()).await.expect("in time");
        let Some(item) = item else {
            panic!("the stream ended without a RESYNC error after {} records", seqs.len())
        };
        let value = serde_json::to_value(&item).expect("json");
        if let Some(error) = value["errors"].get(0) {
            break error["extensions"]["code"].as_str().unwrap_or_default().to_owned();
        }
        seqs.push(value["data"]["events"]["seq"].as_str().and_then(|s| s.parse::<u64>().ok()).expect("seq"));
    };
    assert_eq!(code, "RESYNC");
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "what was delivered has no gap");
    assert!(
        tokio::time::timeout(Duration::from_secs(5), stream.next()).await.expect("ends").is_none(),
        "the stream ends after RESYNC"
    );
    api.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_go_pacer_backup_imports_unchanged_and_round_trips_through_the_download() {
    let api = Api::start().await;
    let fixture = support::manifest_dir().join("../pacer-domain/tests/fixtures/go-pacer-backup-v1.json");
    let go_backup = std::fs::read_to_string(&fixture).expect("the Go Pacer fixture");
    const IMPORT: &str = "mutation($j: String!, $d: Boolean!) { importBackup(json: $j, dryRun: $d) { dryRun applied projectsCreated poolsCreated reposCreated items { kind name action } errors { field message } } }";
    let dry = api.ok(IMPORT, json!({"j": go_backup, "d": true})).await;
    assert_eq!(dry["importBackup"]["applied"], false);
    assert_eq!(dry["importBackup"]["errors"], json!([]));
    assert_eq!(
        api.ok("{ projects { id } }", json!({})).await["projects"],
        json!([]),
        "a dry run changes nothing"
    );
    let applied = api.ok(IMPORT, json!({"j": go_backup, "d": false})).await;
    let result = &applied["importBackup"];
    assert_eq!(
        (result["applied"].as_bool(), result["projectsCreated"].as_i64()),
        (Some(true), Some(2)),
        "{result:#}"
    );
    assert_eq!(
        (result["poolsCreated"].as_i64(), result["reposCreated"].as_i64()),
        (Some(2), Some(2)),
        "{result:#}"
    );
    let pools = api.ok("{ pools { name cap spot launchTemplateId launchTemplateVersion } }", json!({})).await;
    let pools = pools["pools"].as_array().expect("pools");
    assert!(
        pools.iter().all(|p| p["launchTemplateId"].is_string()),
        "every imported pool is materialised: {pools:#?}"
    );
    let linux = pools.iter().find(|p| p["name"] == "linux-x64").expect("linux-x64");
    assert_eq!(
        (linux["cap"].as_i64(), linux["spot"].as_bool()),
        (Some(5), Some(true)),
        "max_concurrent_runners became the cap"
    );

    // The download (with a bearer session) imports back as all unchanged.
    let Principal::User { session, .. } = &api.principal else { panic!("a user session") };
    let download = api
        .http
        .get(format!("http://{}/api/backup/export", api.running.addr))
        .bearer_auth(session)
        .send()
        .await
        .expect("export");
    assert_eq!(download.status().as_u16(), 200);
    let disposition = download
        .headers()
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(disposition.starts_with("attachment; filename=\"pacer-backup-"), "{disposition}");
    let exported = download.text().await.expect("body");
    for secret in [SECRET, session.as_str()] {
        assert!(!exported.contains(secret), "no secret in a backup");
    }
    // Every cap is written under both names, so the Go Pacer reads the file.
    let file: Value = serde_json::from_str(&exported).expect("the export is JSON");
    let platform = file["projects"].as_array().and_then(|p| p.iter().find(|p| p["name"] == "platform"));
    let platform = platform.expect("platform");
    assert_eq!((&platform["cap"], &platform["max_concurrent_runners"]), (&json!(20), &json!(20)));
    let pool = |name: &str| platform["pools"].as_array().and_then(|p| p.iter().find(|p| p["name"] == name));
    let linux = pool("linux-x64").expect("linux-x64");
    assert_eq!((&linux["cap"], &linux["max_concurrent_runners"]), (&json!(5), &json!(5)));
    let gpu = pool("gpu").expect("gpu");
    assert_eq!((&gpu["cap"], &gpu["max_concurrent_runners"]), (&json!(2), &json!(2)));
    assert_eq!(
        (&gpu["spawn_method"], &gpu["allocation_strategy"]),
        (&json!("run_instances"), &json!("cost")),
        "a run_instances pool allocates by cost"
    );
    let repo =
        |name: &str| platform["repos"].as_array().and_then(|r| r.iter().find(|r| r["full_name"] == name));
    let api_repo = repo("acme/api").expect("acme/api");
    assert_eq!((&api_repo["cap"], &api_repo["max_concurrent_runners"]), (&json!(3), &json!(3)));
    let web = repo("acme/web").expect("acme/web");
    assert!(web["cap"].is_null() && web["max_concurrent_runners"].is_null(), "no repo cap: {web}");
    let again = api.ok(IMPORT, json!({"j": exported, "d": true})).await;
    let items = again["importBackup"]["items"].as_array().expect("items");
    assert_eq!(items.len(), 6, "2 projects, 2 pools, 2 repos: {items:#?}");
    assert!(items.iter().all(|i| i["action"] == "UNCHANGED"), "{items:#?}");
    api.running.shutdown().await;
}

/// A clock the test sets: every `now` the engine uses (record times, windows, estimates).
struct ManualClock(std::sync::atomic::AtomicI64);

impl ManualClock {
    fn set(&self, at: pacer_domain::Timestamp) {
        self.0.store(at.millis(), std::sync::atomic::Ordering::SeqCst);
    }
}

impl pacer_server::Clock for ManualClock {
    fn now(&self) -> pacer_domain::Timestamp {
        pacer_domain::Timestamp::from_millis(self.0.load(std::sync::atomic::Ordering::SeqCst))
    }
}

impl Api {
    /// Posts a signed workflow_job webhook for GitHub job `id` of `repo` (labels
    /// `self-hosted`), concluded `conclusion` when `action` is `completed`; a conclusion naming
    /// the runner of the job's instance says it ran there.
    async fn job_hook(&self, action: &str, id: u64, repo: &str, sender: &str, conclusion: &str) {
        let mut body =
            support::webhook_example("workflow_job.05.queued.json", action, id, repo, &["self-hosted"]);
        body["sender"]["login"] = sender.into();
        if action == "completed" {
            body["workflow_job"]["conclusion"] = conclusion.into();
            if conclusion != "cancelled" {
                let instance = self.job_cost(id).await["instanceId"].as_str().map(str::to_owned);
                body["workflow_job"]["runner_name"] = instance.map(|i| format!("pacer-{i}")).into();
            }
        }
        self.post_webhook(&format!("delivery-{action}-{id}"), &body).await;
    }

    /// The job with GitHub id `github_id`: id, status, price, cost and whether it is estimated.
    async fn job_cost(&self, github_id: u64) -> Value {
        let jobs = self
            .ok("{ jobs(first: 50) { nodes { id githubJobId status instanceId pricePerHour { micros } cost { micros } costEstimated } } }", json!({}))
            .await;
        let nodes = jobs["jobs"]["nodes"].as_array().cloned().unwrap_or_default();
        let id = github_id.to_string();
        nodes.into_iter().find(|j| j["githubJobId"].as_str() == Some(id.as_str())).unwrap_or(Value::Null)
    }
}

fn micros(money: &Value) -> i64 {
    money["micros"].as_str().and_then(|m| m.parse().ok()).unwrap_or_else(|| panic!("money: {money}"))
}

/// Costs against a clock the test moves: an instance costs its price × (terminated − launched),
/// a running estimate to now while it is up (also after its job ended), settled when its end
/// is recorded; runner time is job end − instance launch; a failed launch is without cost;
/// stats, spend, top senders and the daily series narrow to one project; rows rank by cost,
/// then jobs; the daily series takes any window and splits out cancelled jobs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn costs_follow_the_instances_and_every_stats_query_narrows_to_a_project() {
    use pacer_domain::{HOUR_MS, MINUTE_MS, Micros, Timestamp};
    let t0 = Timestamp::from_millis(1_773_129_600_000); // 2026-03-10T08:00:00Z
    let clock = Arc::new(ManualClock(std::sync::atomic::AtomicI64::new(t0.millis())));
    let fake = FakeSettings { start: t0, ..FakeSettings::new(7) };
    // No full reaper pass but the one at start and those asked for (`reconcileNow`).
    let api = Api::start_on(fake, 4, clock.clone(), Duration::from_secs(3_600)).await;
    let (platform, _) = api.configure().await;
    let mobile = api
        .ok(
            "mutation($i: ProjectInput!) { createProject(input: $i) { id } }",
            json!({"i": {"name": "mobile"}}),
        )
        .await["createProject"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    api.ok(CREATE_POOL, json!({"p": mobile, "i": pool_input("default")})).await;
    api.ok(
        "mutation($i: RepoInput!) { bindRepo(input: $i) { fullName } }",
        json!({"i": {"fullName": "octo/app", "projectId": mobile}}),
    )
    .await;

    // Job 1 (platform) starts at t0; the teardown of its instance will fail once.
    api.fake.fail_next(
        pacer_aws::FakeOp::Terminate,
        pacer_domain::LaunchError::new("UnauthorizedOperation", "not now"),
    );
    api.job_hook("queued", 1, "octo/hello", "octocat", "").await;
    api.wait_status("STARTING", 1).await;
    let job = api.job_cost(1).await;
    let price = Micros(micros(&job["pricePerHour"]));
    assert!(price.0 > 0, "{job}");
    let cost = |ms: i64| Micros::for_duration(price, ms).0;
    assert_eq!((micros(&job["cost"]), &job["costEstimated"]), (0, &json!(true)), "launched now: {job}");
    clock.set(t0.plus_millis(10 * MINUTE_MS));
    let job = api.job_cost(1).await;
    assert_eq!((micros(&job["cost"]), &job["costEstimated"]), (cost(10 * MINUTE_MS), &json!(true)));

    // It ends at t0 + 1 h; its instance stays up (the teardown failed) until t0 + 2 h.
    clock.set(t0.plus_millis(HOUR_MS));
    api.job_hook("completed", 1, "octo/hello", "octocat", "success").await;
    api.wait_status("COMPLETED", 1).await;
    api.wait_metric(r#"pacer_aws_errors_total{call="terminate",code="UnauthorizedOperation"} 1"#).await;
    clock.set(t0.plus_millis(2 * HOUR_MS));
    let job = api.job_cost(1).await;
    assert_eq!(
        (micros(&job["cost"]), &job["costEstimated"]),
        (cost(2 * HOUR_MS), &json!(true)),
        "a running estimate after the job's end"
    );
    let stats = "query($w: StatsWindow!, $p: ID, $g: StatsGroup! = PROJECT) { stats(window: $w, projectId: $p, groupBy: $g) { totals { jobs completed failed cancelled runnerSeconds cost { micros } unpriced } rows { label jobs cost { micros } } } }";
    let day = json!({"days": 1});
    let totals = api.ok(stats, json!({"w": day})).await["stats"]["totals"].clone();
    assert_eq!(
        (micros(&totals["cost"]), &totals["runnerSeconds"]),
        (cost(2 * HOUR_MS), &json!("3600")),
        "runner time: job end − instance launch: {totals}"
    );
    let reconciled = api.ok("mutation { reconcileNow { reaped problems } }", json!({})).await;
    assert_eq!(reconciled["reconcileNow"]["reaped"], 1, "{reconciled}");
    clock.set(t0.plus_millis(3 * HOUR_MS));
    let job = api.job_cost(1).await;
    assert_eq!(
        (micros(&job["cost"]), &job["costEstimated"]),
        (cost(2 * HOUR_MS), &json!(false)),
        "settled at the instance's end"
    );

    // Mobile: job 3 runs 10 minutes, job 4 is cancelled at once, job 2's launch fails.
    api.job_hook("queued", 3, "octo/app", "hubot", "").await;
    api.wait_status("STARTING", 1).await;
    clock.set(t0.plus_millis(3 * HOUR_MS + 10 * MINUTE_MS));
    api.job_hook("completed", 3, "octo/app", "hubot", "success").await;
    api.wait_status("COMPLETED", 2).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while api.job_cost(3).await["costEstimated"] != json!(false) {
        assert!(std::time::Instant::now() < deadline, "job 3's instance never ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(micros(&api.job_cost(3).await["cost"]), cost(10 * MINUTE_MS));
    api.job_hook("queued", 4, "octo/app", "hubot", "").await;
    api.wait_status("STARTING", 1).await;
    api.job_hook("completed", 4, "octo/app", "hubot", "cancelled").await;
    api.wait_status("CANCELLED", 1).await;
    api.fake.fail_next(
        pacer_aws::FakeOp::Launch,
        pacer_domain::LaunchError::new("InvalidAMIID.NotFound", "gone"),
    );
    api.job_hook("queued", 2, "octo/app", "hubot", "").await;
    api.wait_status("FAILED", 1).await;
    let failed = api.job_cost(2).await;
    assert_eq!((&failed["cost"], &failed["costEstimated"]), (&Value::Null, &json!(false)), "{failed}");

    // Rows by cost, then jobs: platform (1 job, 2 h) before mobile (3 jobs, 10 min).
    let all = api.ok(stats, json!({"w": day})).await["stats"].clone();
    let labels: Vec<&str> =
        all["rows"].as_array().expect("rows").iter().filter_map(|r| r["label"].as_str()).collect();
    assert_eq!(labels, ["platform", "mobile"], "{all:#}");
    let t = &all["totals"];
    assert_eq!(
        (&t["jobs"], &t["unpriced"], micros(&t["cost"])),
        (&json!(4), &json!(1), cost(2 * HOUR_MS) + cost(10 * MINUTE_MS)),
        "{t}"
    );
    let narrowed = api.ok(stats, json!({"w": day, "p": mobile, "g": "REPO"})).await["stats"].clone();
    let t = &narrowed["totals"];
    assert_eq!(
        (&t["jobs"], &t["completed"], &t["failed"], &t["cancelled"], &t["unpriced"]),
        (&json!(3), &json!(1), &json!(1), &json!(1), &json!(1)),
        "the failed launch is without cost: {t}"
    );
    assert_eq!(narrowed["rows"][0]["label"], "octo/app");
    assert_eq!(narrowed["rows"].as_array().map(Vec::len), Some(1), "{narrowed:#}");
    let only_platform = api.ok(stats, json!({"w": day, "p": platform})).await;
    assert_eq!(only_platform["stats"]["totals"]["jobs"], 1);
    let month = api.ok(stats, json!({"w": {"monthToDate": true}, "p": platform})).await;
    assert_eq!(month["stats"]["totals"]["jobs"], 1);

    let spend = "query($p: ID) { spend(window: {monthToDate: true}, projectId: $p) { from to total { micros } jobs unpriced projects { name jobs cost { micros } } repos { name } } }";
    let s = api.ok(spend, json!({})).await["spend"].clone();
    assert_eq!(
        (&s["from"], &s["to"]),
        (&json!("2026-03-01T00:00:00.000Z"), &json!("2026-03-10T12:00:00.000Z")),
        "{s}"
    );
    assert_eq!(
        (micros(&s["total"]), &s["jobs"], &s["unpriced"]),
        (cost(2 * HOUR_MS) + cost(10 * MINUTE_MS), &json!(4), &json!(1))
    );
    assert_eq!(
        (&s["projects"][0]["name"], &s["projects"][1]["name"]),
        (&json!("platform"), &json!("mobile"))
    );
    let s = api.ok(spend, json!({"p": mobile})).await["spend"].clone();
    assert_eq!(
        (micros(&s["total"]), &s["jobs"], &s["unpriced"]),
        (cost(10 * MINUTE_MS), &json!(3), &json!(1)),
        "{s}"
    );
    assert_eq!(s["repos"], json!([{"name": "octo/app"}]));

    let senders = "query($p: ID) { topSenders(window: {days: 1}, projectId: $p) { sender jobs } }";
    assert_eq!(
        api.ok(senders, json!({})).await["topSenders"],
        json!([{"sender": "hubot", "jobs": 3}, {"sender": "octocat", "jobs": 1}])
    );
    assert_eq!(
        api.ok(senders, json!({"p": platform})).await["topSenders"],
        json!([{"sender": "octocat", "jobs": 1}])
    );

    let series = "query($w: StatsWindow, $p: ID) { dailySeries(window: $w, projectId: $p) { date completed failedOrReaped cancelled } }";
    let range = json!({"from": "2026-03-09T00:00:00Z", "to": "2026-03-11T00:00:00Z"});
    let days = api.ok(series, json!({"w": range})).await["dailySeries"].clone();
    assert_eq!(
        days,
        json!([
            {"date": "2026-03-09", "completed": 0, "failedOrReaped": 0, "cancelled": 0},
            {"date": "2026-03-10", "completed": 2, "failedOrReaped": 1, "cancelled": 1},
        ])
    );
    let days = api.ok(series, json!({"w": range, "p": platform})).await["dailySeries"].clone();
    assert_eq!(days[1], json!({"date": "2026-03-10", "completed": 1, "failedOrReaped": 0, "cancelled": 0}));
    let days = api.ok(series, json!({"w": {"days": 1}, "p": mobile})).await["dailySeries"].clone();
    assert_eq!(days.as_array().map(Vec::len), Some(2), "the last 24 hours touch two days: {days}");
    assert_eq!(days[1]["cancelled"], 1);
    let march = api.ok("{ dailySeries(year: 2026, month: 3) { date cancelled } }", json!({})).await;
    assert_eq!(march["dailySeries"].as_array().map(Vec::len), Some(31));

    for (query, field) in [
        ("{ stats(window: {days: 1}, projectId: \"mobile\") { totals { jobs } } }", "projectId"),
        ("{ spend(projectId: \"x\") { jobs } }", "projectId"),
        ("{ topSenders(window: {days: 1}, projectId: \"x\") { jobs } }", "projectId"),
        ("{ dailySeries(projectId: \"x\") { date } }", "projectId"),
        ("{ stats(window: {monthToDate: false}) { totals { jobs } } }", "window"),
        ("{ stats(window: {days: 1, monthToDate: true}) { totals { jobs } } }", "window"),
        ("{ dailySeries(month: 3, window: {days: 7}) { date } }", "window"),
    ] {
        assert_eq!(
            api.run(query, json!({})).await.rejected(),
            ("INVALID_INPUT".into(), Some(field.into())),
            "{query}"
        );
    }
}

/// Raw payloads past their retention: a week after its job finished (the default), the next
/// retention pass deletes the job's raw webhooks in the write that records `retention.swept`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_payloads_past_their_retention_are_swept_and_the_sweep_is_recorded() {
    use pacer_domain::{DAY_MS, Timestamp};
    let t0 = Timestamp::from_millis(1_773_129_600_000); // 2026-03-10T08:00:00Z
    let clock = Arc::new(ManualClock(std::sync::atomic::AtomicI64::new(t0.millis())));
    let fake = FakeSettings { start: t0, ..FakeSettings::new(7) };
    let api = Api::start_on(fake, 4, clock.clone(), Duration::from_secs(3_600)).await;
    api.configure().await;
    api.job_hook("queued", 1, "octo/hello", "octocat", "").await;
    api.wait_status("STARTING", 1).await;
    api.job_hook("completed", 1, "octo/hello", "octocat", "success").await;
    api.wait_status("COMPLETED", 1).await;
    let id = api.job_cost(1).await["id"].as_str().expect("id").to_owned();
    let kept = || async {
        let job = api.ok("query($id: ID!) { job(id: $id) { webhooks { action } } }", json!({"id": id})).await;
        job["job"]["webhooks"].as_array().map_or(0, Vec::len)
    };
    assert_eq!(kept().await, 2, "queued and completed");

    // Six days on nothing goes; eight days on both payloads do, recorded once.
    let sweeps = || async {
        let audit = "{ audit(filter: {action: \"retention.swept\"}, first: 10) { entries { summary } } }";
        api.ok(audit, json!({})).await["audit"]["entries"].as_array().cloned().unwrap_or_default()
    };
    clock.set(t0.plus_millis(6 * DAY_MS));
    api.ok("mutation { reconcileNow { reaped } }", json!({})).await;
    clock.set(t0.plus_millis(8 * DAY_MS));
    api.ok("mutation { reconcileNow { reaped } }", json!({})).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while kept().await != 0 {
        assert!(std::time::Instant::now() < deadline, "the payloads were never swept");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let entries = sweeps().await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    let summary = entries[0]["summary"].as_str().unwrap_or_default();
    assert!(
        summary.starts_with("2 raw webhook payloads past their retention deleted (dated before 2026-03-11"),
        "{summary}"
    );
}

const SET_WARM: &str = "mutation($id: ID!, $w: WarmInput) { setPoolWarm(id: $id, warm: $w) { warm { mode fixed { hot stopped } zone windows { days from to counts { hot stopped } } otherwise { hot stopped } quantile weeks maxAgeMinutes target { hot stopped } reason wanted { hot stopped } idle { hot stopped } } } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_capacity_is_set_read_back_refused_when_wrong_and_switched_off() {
    let api = Api::start().await;
    let (_, pool) = api.configure().await;
    let set = |warm: Value| api.run(SET_WARM, json!({"id": pool, "w": warm}));

    // A schedule in a named zone: read back as given, with what it asks for now and why.
    let schedule = json!({"schedule": {"zone": "Europe/Berlin", "windows": [
        {"days": ["MON", "TUE", "WED", "THU", "FRI"], "from": "08:00", "to": "18:00", "counts": {"hot": 2, "stopped": 1}}
    ], "otherwise": {"hot": 0, "stopped": 1}}, "maxAgeMinutes": 90});
    let warm = set(schedule).await.ok()["setPoolWarm"]["warm"].clone();
    assert_eq!(warm["mode"], "SCHEDULE");
    assert_eq!(warm["zone"], "Europe/Berlin");
    assert_eq!(
        warm["windows"],
        json!([{"days": ["MON", "TUE", "WED", "THU", "FRI"], "from": "08:00", "to": "18:00", "counts": {"hot": 2, "stopped": 1}}])
    );
    assert_eq!((warm["maxAgeMinutes"].as_i64(), warm["fixed"].is_null()), (Some(90), true));
    assert!(warm["reason"].as_str().is_some_and(|r| r.starts_with("schedule: ")), "{warm}");

    // A forecast takes its defaults; fixed counts come back with the pool's room.
    let forecast = set(json!({"forecast": {}})).await.ok()["setPoolWarm"]["warm"].clone();
    assert_eq!((forecast["quantile"].as_i64(), forecast["weeks"].as_i64()), (Some(90), Some(4)));
    assert_eq!(forecast["maxAgeMinutes"], 240);
    let fixed = set(json!({"fixed": {"hot": 1, "stopped": 2}})).await.ok()["setPoolWarm"]["warm"].clone();
    assert_eq!(fixed["target"], json!({"hot": 1, "stopped": 2}));
    assert_eq!(fixed["wanted"], json!({"hot": 1, "stopped": 2}));

    // Refused, changing nothing: each with its code and field.
    let cases = [
        (json!({"fixed": {"hot": 1}, "forecast": {}}), "sizing"),
        (json!({}), "sizing"),
        (json!({"fixed": {"hot": 5}}), "sizing.fixed"),
        (json!({"fixed": {"hot": -1}}), "sizing.fixed.hot"),
        (json!({"schedule": {"zone": "Mars/Olympus"}}), "sizing.zone"),
        (
            json!({"schedule": {"windows": [{"days": ["MON"], "from": "8", "to": "18:00", "counts": {}}]}}),
            "sizing.windows[0].from",
        ),
        (
            json!({"schedule": {"windows": [{"days": [], "from": "08:00", "to": "18:00", "counts": {}}]}}),
            "sizing.windows[0].days",
        ),
        (json!({"forecast": {"quantile": 101}}), "sizing.quantile"),
        (json!({"fixed": {"hot": 1}, "maxAgeMinutes": 5}), "max_age_minutes"),
    ];
    for (warm, field) in cases {
        let answer = set(warm.clone()).await;
        assert_eq!(answer.rejected(), ("INVALID_INPUT".into(), Some(field.into())), "{warm}");
    }
    let unknown = api.run(SET_WARM, json!({"id": "999", "w": {"fixed": {"hot": 1}}})).await;
    assert_eq!(unknown.rejected().0, "NOT_FOUND");
    let pools = api.ok("{ pools { warm { fixed { hot stopped } } } }", json!({})).await;
    assert_eq!(
        pools["pools"][0]["warm"]["fixed"],
        json!({"hot": 1, "stopped": 2}),
        "unchanged by the refusals"
    );

    // Switched off.
    let off = set(Value::Null).await.ok();
    assert!(off["setPoolWarm"]["warm"].is_null());
    let audit =
        api.ok("{ audit(filter: {action: \"pool.warm_set\"}) { entries { summary } } }", json!({})).await;
    let summaries: Vec<&str> = audit["audit"]["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["summary"].as_str())
        .collect();
    assert_eq!(summaries.len(), 4, "{summaries:?}");
    assert!(summaries.contains(&"pool #1 holds no warm instances"), "{summaries:?}");
}
