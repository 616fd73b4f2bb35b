//! A stateful fake of the GitHub REST API the engine uses, run in-process on a loopback port.
//! Every request body is checked against the real operation schemas in
//! `testdata/github-api/operations`; app JWTs are verified with the App's public
//! key; installation tokens must be the ones it issued. A body that breaks the schema gets 422
//! and is counted as a violation the test asserts on. Its own answers (the App, the manifest
//! conversion, the webhook config, installations) follow the same files' response schemas.

use super::schema::{request_schema, violations};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use warp::http::StatusCode;
use warp::{Filter, Reply};

/// One call the fake received.
#[derive(Clone, Debug)]
pub struct Call {
    /// `METHOD /path`.
    pub route: String,
    /// The JSON body (Null when none).
    pub body: Value,
}

#[derive(Default)]
struct State {
    calls: Vec<Call>,
    violations: Vec<String>,
    tokens: Vec<String>,
    next_runner: u64,
    jit_status: Option<u16>,
    storm: Option<u16>,
    deliveries: Vec<Value>,
    /// The one-time code of a manifest GitHub would have confirmed, and the App's key.
    manifest: Option<(String, String)>,
    /// Where the App's webhooks go (`GET /app/hook/config`).
    webhook_url: String,
    /// Repositories (`owner/repo`) and organizations the App is not installed on.
    not_installed: Vec<String>,
    /// The key of the App its "new App" web page creates (none: the page refuses).
    web_app_key: Option<String>,
    /// What `GET /repos/{owner}/{repo}/actions/jobs/{id}` answers instead of the job.
    job_status: Option<u16>,
}

/// A GitHub user or organization as GitHub's answers embed it.
fn account(login: &str) -> Value {
    json!({"login": login, "id": 1, "node_id": "MDQ6VXNlcjE=", "type": "Organization",
           "avatar_url": "https://github.com/images/error/octocat_happy.gif", "gravatar_id": null,
           "url": format!("https://api.github.com/users/{login}"), "html_url": format!("https://github.com/{login}"),
           "followers_url": "https://api.github.com/users/octo/followers", "following_url": "https://api.github.com/users/octo/following{/other_user}",
           "gists_url": "https://api.github.com/users/octo/gists{/gist_id}", "starred_url": "https://api.github.com/users/octo/starred{/owner}{/repo}",
           "subscriptions_url": "https://api.github.com/users/octo/subscriptions", "organizations_url": "https://api.github.com/users/octo/orgs",
           "repos_url": "https://api.github.com/users/octo/repos", "events_url": "https://api.github.com/users/octo/events{/privacy}",
           "received_events_url": "https://api.github.com/users/octo/received_events", "site_admin": false})
}

/// `GET /app` (apps/get-authenticated).
fn app() -> Value {
    json!({
        "id": 4242, "slug": "pacer-e2e", "client_id": "Iv1.pacer", "node_id": "A_kwDOBpacer", "owner": account("octo"),
        "name": "pacer-e2e", "description": "Pacer", "external_url": "https://pacer.example",
        "html_url": "https://github.com/apps/pacer-e2e",
        "created_at": "2026-12-05T12:00:00Z", "updated_at": "2026-12-05T12:00:00Z",
        "permissions": {"administration": "write", "organization_self_hosted_runners": "write", "actions": "read", "metadata": "read"},
        "events": ["workflow_job"], "installations_count": 1
    })
}

/// `POST /app-manifests/{code}/conversions` (apps/create-from-manifest): the App, its key and
/// its secrets.
fn converted_app(pem: &str) -> Value {
    let mut app = app();
    app["id"] = json!(4343);
    if let Some(fields) = app.as_object_mut() {
        fields.insert("client_secret".into(), json!("client-secret"));
        fields.insert("webhook_secret".into(), json!(MANIFEST_WEBHOOK_SECRET));
        fields.insert("pem".into(), json!(pem));
    }
    app
}

/// `GET /app/hook/config` (apps/get-webhook-config-for-app).
fn hook_config(url: &str) -> Value {
    json!({"url": url, "content_type": "json", "insecure_ssl": "0"})
}

/// `GET /repos/{o}/{r}/installation` and `GET /orgs/{org}/installation`.
fn installation(owner: &str) -> Value {
    json!({
        "id": 777, "account": account(owner), "repository_selection": "all",
        "access_tokens_url": "https://api.github.com/app/installations/777/access_tokens",
        "repositories_url": "https://api.github.com/installation/repositories",
        "html_url": format!("https://github.com/organizations/{owner}/settings/installations/777"),
        "app_id": 4242, "target_id": 1, "target_type": "Organization",
        "permissions": {"administration": "write", "organization_self_hosted_runners": "write", "actions": "read", "metadata": "read"},
        "events": ["workflow_job"], "created_at": "2026-12-05T12:00:00Z", "updated_at": "2026-12-05T12:00:00Z",
        "single_file_name": null, "app_slug": "pacer-e2e", "suspended_by": null, "suspended_at": null
    })
}

/// The webhook secret of the App the fake creates from a manifest.
pub const MANIFEST_WEBHOOK_SECRET: &str = "created-by-manifest-0123456789";

/// The fake.
#[derive(Clone)]
pub struct FakeGitHub {
    state: Arc<Mutex<State>>,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

/// A job as `GET /repos/{owner}/{repo}/actions/jobs/{id}` answers it: two steps done, the
/// third under way.
fn workflow_job(repo: &str, id: u64) -> Value {
    let step = |number: u32,
                name: &str,
                status: &str,
                conclusion: Option<&str>,
                started: Option<&str>,
                completed: Option<&str>| {
        json!({"name": name, "status": status, "conclusion": conclusion, "number": number,
               "started_at": started, "completed_at": completed})
    };
    json!({
        "id": id, "node_id": "CR_kwDOABCD", "run_id": id + 1_000_000,
        "run_url": format!("https://api.github.com/repos/{repo}/actions/runs/{}", id + 1_000_000),
        "head_sha": "d6fde92930d4715a2b49857d24b940956b26d2d3", "workflow_name": "CI", "head_branch": "main",
        "name": "build", "url": format!("https://api.github.com/repos/{repo}/actions/jobs/{id}"),
        "html_url": format!("https://github.com/{repo}/actions/runs/{}/job/{id}", id + 1_000_000),
        "status": "in_progress", "conclusion": null, "created_at": "2021-09-13T02:21:13Z",
        "started_at": "2021-09-13T02:21:20Z", "completed_at": null,
        "check_run_url": format!("https://api.github.com/repos/{repo}/check-runs/{id}"),
        "labels": ["self-hosted"], "runner_id": 101, "runner_name": "pacer-i-0", "runner_group_id": 1,
        "runner_group_name": "Default",
        "steps": [
            step(1, "Set up job", "completed", Some("success"), Some("2021-09-13T02:21:20Z"), Some("2021-09-13T02:21:22Z")),
            step(2, "Run actions/checkout@v4", "completed", Some("success"), Some("2021-09-13T02:21:22Z"), Some("2021-09-13T02:21:31Z")),
            step(3, "Build", "in_progress", None, Some("2021-09-13T02:21:31Z"), None),
        ],
    })
}

fn operation(name: &str) -> Value {
    let path = crate::support::repo_dir().join("testdata/github-api/operations").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("operation JSON")
}

impl FakeGitHub {
    /// Starts the fake; `public_key_pem` verifies app JWTs.
    pub async fn start(public_key_pem: &[u8]) -> FakeGitHub {
        let state = Arc::new(Mutex::new(State { next_runner: 100, ..State::default() }));
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(public_key_pem).expect("public key");
        let schemas: Arc<BTreeMap<&'static str, Value>> = Arc::new(
            [
                ("jit_repo", "actions__generate-runner-jitconfig-for-repo"),
                ("jit_org", "actions__generate-runner-jitconfig-for-org"),
                ("token", "apps__create-installation-access-token"),
            ]
            .into_iter()
            .map(|(k, name)| (k, request_schema(&operation(name)).clone()))
            .collect(),
        );
        let with_state = {
            let state = state.clone();
            warp::any().map(move || state.clone())
        };
        let route = warp::method()
            .and(warp::path::full())
            .and(warp::header::optional::<String>("authorization"))
            .and(warp::query::raw().or(warp::any().map(String::new)).unify())
            .and(warp::body::bytes())
            .and(with_state)
            .map(move |method: warp::http::Method, path: warp::path::FullPath, auth: Option<String>, query: String, raw: bytes::Bytes, state: Arc<Mutex<State>>| {
                let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
                let route = format!("{method} {}", path.as_str().split('?').next().unwrap_or_default());
                let bearer = auth.and_then(|a| a.strip_prefix("Bearer ").map(str::to_owned)).unwrap_or_default();
                let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
                state.calls.push(Call { route: route.clone(), body: body.clone() });
                let jwt_ok = || {
                    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
                    validation.set_required_spec_claims(&["exp", "iat", "iss"]);
                    jsonwebtoken::decode::<Value>(&bearer, &key, &validation).is_ok()
                };
                let parts: Vec<&str> = route.split(['/', ' ']).collect();
                let reply = |status: StatusCode, body: Value| warp::reply::with_status(warp::reply::json(&body), status).into_response();
                let check = |state: &mut State, schema: &str| {
                    let found = violations(&schemas[schema], &body, "$");
                    state.violations.extend(found.iter().map(|v| format!("{route}: {v}")));
                    found.is_empty()
                };
                if let Some(status) = state.storm {
                    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                    return reply(status, json!({"message": "injected storm"}));
                }
                match parts.as_slice() {
                    // github.com's "new App from a manifest" page, confirmed at once: back to the
                    // manifest's redirect URL with a one-time code for an App with `web_app_key`.
                    ["POST", "", "settings", "apps", "new"] | ["POST", "", "organizations", _, "settings", "apps", "new"] => {
                        let field = |text: &[u8], name: &str| {
                            url::form_urlencoded::parse(text).find(|(key, _)| key == name).map(|(_, value)| value.into_owned())
                        };
                        let manifest: Value = field(&raw, "manifest").and_then(|m| serde_json::from_str(&m).ok()).unwrap_or(Value::Null);
                        let (Some(back), Some(app_state), Some(pem)) =
                            (manifest["redirect_url"].as_str(), field(query.as_bytes(), "state"), state.web_app_key.clone())
                        else {
                            return reply(StatusCode::UNPROCESSABLE_ENTITY, json!({"message": "Invalid manifest"}));
                        };
                        state.manifest = Some(("from-the-web".to_owned(), pem));
                        let location = format!("{back}?code=from-the-web&state={app_state}");
                        warp::reply::with_header(warp::reply::with_status(warp::reply(), StatusCode::FOUND), "location", location).into_response()
                    }
                    ["POST", "", "app-manifests", code, "conversions"] => {
                        // apps/create-from-manifest: the code works once.
                        match state.manifest.take() {
                            Some((expected, pem)) if expected == *code => reply(StatusCode::CREATED, converted_app(&pem)),
                            other => {
                                state.manifest = other;
                                reply(StatusCode::NOT_FOUND, json!({"message": "Not Found"}))
                            }
                        }
                    }
                    ["POST", "", "app", "installations", _, "access_tokens"] => {
                        if !jwt_ok() {
                            return reply(StatusCode::UNAUTHORIZED, json!({"message": "A JSON web token could not be decoded"}));
                        }
                        if !body.is_null() && !check(&mut state, "token") {
                            return reply(StatusCode::UNPROCESSABLE_ENTITY, json!({"message": "Invalid request"}));
                        }
                        let token = format!("ghs_fake{}", state.tokens.len());
                        state.tokens.push(token.clone());
                        reply(StatusCode::CREATED, json!({"token": token, "expires_at": "2099-01-01T00:00:00Z"}))
                    }
                    ["POST", "", "repos", _, _, "actions", "runners", "generate-jitconfig"]
                    | ["POST", "", "orgs", _, "actions", "runners", "generate-jitconfig"] => {
                        if !state.tokens.contains(&bearer) {
                            return reply(StatusCode::UNAUTHORIZED, json!({"message": "Bad credentials"}));
                        }
                        let schema = if parts[2] == "repos" { "jit_repo" } else { "jit_org" };
                        if !check(&mut state, schema) {
                            return reply(StatusCode::UNPROCESSABLE_ENTITY, json!({"message": "Invalid request"}));
                        }
                        if let Some(status) = state.jit_status {
                            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                            return reply(status, json!({"message": "injected failure"}));
                        }
                        state.next_runner += 1;
                        let id = state.next_runner;
                        reply(
                            StatusCode::CREATED,
                            json!({
                                "runner": {"id": id, "name": body["name"], "os": "linux", "status": "offline", "busy": false,
                                           "labels": body["labels"].as_array().cloned().unwrap_or_default().iter()
                                               .map(|l| json!({"name": l, "type": "custom"})).collect::<Vec<_>>()},
                                "encoded_jit_config": format!("jit-config-for-{id}")
                            }),
                        )
                    }
                    ["GET", "", "repos", owner, repo, "actions", "jobs", id] => {
                        if !state.tokens.contains(&bearer) {
                            return reply(StatusCode::UNAUTHORIZED, json!({"message": "Bad credentials"}));
                        }
                        if let Some(status) = state.job_status {
                            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                            return reply(status, json!({"message": "injected failure"}));
                        }
                        match id.parse::<u64>() {
                            Ok(id) => reply(StatusCode::OK, workflow_job(&format!("{owner}/{repo}"), id)),
                            Err(_) => reply(StatusCode::NOT_FOUND, json!({"message": "Not Found"})),
                        }
                    }
                    ["DELETE", "", "repos", _, _, "actions", "runners", _] | ["DELETE", "", "orgs", _, "actions", "runners", _] => {
                        if !state.tokens.contains(&bearer) {
                            return reply(StatusCode::UNAUTHORIZED, json!({"message": "Bad credentials"}));
                        }
                        reply(StatusCode::NO_CONTENT, Value::Null)
                    }
                    ["GET", "", "app"] => {
                        if !jwt_ok() {
                            return reply(StatusCode::UNAUTHORIZED, json!({"message": "A JSON web token could not be decoded"}));
                        }
                        reply(StatusCode::OK, app())
                    }
                    ["GET", "", "app", "hook", "config"] => {
                        if !jwt_ok() {
                            return reply(StatusCode::UNAUTHORIZED, json!({"message": "bad jwt"}));
                        }
                        reply(StatusCode::OK, hook_config(&state.webhook_url))
                    }
                    ["GET", "", "repos", _, _, "installation"] | ["GET", "", "orgs", _, "installation"] => {
                        if !jwt_ok() {
                            return reply(StatusCode::UNAUTHORIZED, json!({"message": "bad jwt"}));
                        }
                        let owner = parts[3];
                        let target = if parts[2] == "repos" { format!("{owner}/{}", parts[4]) } else { owner.to_owned() };
                        if state.not_installed.contains(&target) {
                            return reply(StatusCode::NOT_FOUND, json!({"message": "Not Found"}));
                        }
                        reply(StatusCode::OK, installation(owner))
                    }
                    ["GET", "", "app", "hook", "deliveries"] => {
                        if !jwt_ok() {
                            return reply(StatusCode::UNAUTHORIZED, json!({"message": "bad jwt"}));
                        }
                        reply(StatusCode::OK, Value::Array(state.deliveries.clone()))
                    }
                    ["POST", "", "app", "hook", "deliveries", _, "attempts"] => {
                        if !jwt_ok() {
                            return reply(StatusCode::UNAUTHORIZED, json!({"message": "bad jwt"}));
                        }
                        reply(StatusCode::ACCEPTED, json!({}))
                    }
                    _ => reply(StatusCode::NOT_FOUND, json!({"message": "Not Found"})),
                }
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        tokio::spawn(warp::serve(route).incoming(listener).run());
        FakeGitHub { state, url: format!("http://{addr}") }
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).calls.clone()
    }

    /// Calls whose route starts with `prefix` (e.g. `POST /repos/`).
    pub fn calls_to(&self, prefix: &str) -> Vec<Call> {
        self.calls().into_iter().filter(|c| c.route.starts_with(prefix)).collect()
    }

    /// Schema violations seen so far.
    pub fn violations(&self) -> Vec<String> {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).violations.clone()
    }

    /// Makes every request answer `status` (None = answer normally again).
    pub fn storm(&self, status: Option<u16>) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).storm = status;
    }

    /// Makes JIT config minting answer `status` (None = succeed).
    pub fn fail_jit_with(&self, status: Option<u16>) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).jit_status = status;
    }

    /// Lets `code` be converted once into an App whose key is `pem` (the PEM private key).
    pub fn accept_manifest_code(&self, code: &str, pem: &str) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).manifest =
            Some((code.to_owned(), pem.to_owned()));
    }

    /// Lets the "new App from a manifest" web page create an App whose key is `pem`.
    pub fn offer_web_app(&self, pem: &str) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).web_app_key = Some(pem.to_owned());
    }

    /// Sets where GitHub sends the App's webhooks.
    pub fn set_webhook_url(&self, url: &str) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).webhook_url = url.to_owned();
    }

    /// Makes the App not installed on `target` (`owner/repo` or an organization).
    pub fn uninstall(&self, target: &str) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).not_installed.push(target.to_owned());
    }

    /// Makes reading a job (its steps) answer `status` (None = answer normally).
    pub fn fail_jobs_with(&self, status: Option<u16>) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).job_status = status;
    }

    /// Sets the App's delivery log.
    pub fn set_deliveries(&self, deliveries: Vec<Value>) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).deliveries = deliveries;
    }
}

#[test]
fn the_fakes_answers_follow_githubs_schemas() {
    use super::schema::response_schema;
    let answers = [
        ("apps__get-authenticated", "200", app()),
        ("apps__create-from-manifest", "201", converted_app("-----BEGIN RSA PRIVATE KEY-----")),
        ("apps__get-webhook-config-for-app", "200", hook_config("https://pacer.example/api/webhook")),
        ("apps__get-repo-installation", "200", installation("octo")),
        ("apps__get-org-installation", "200", installation("octo")),
        ("actions__get-job-for-workflow-run", "200", workflow_job("octo/hello", 7)),
    ];
    for (name, status, answer) in answers {
        let operation = operation(name);
        let schema = response_schema(&operation, status);
        assert!(schema.is_object(), "{name} has a {status} schema");
        assert_eq!(violations(schema, &answer, "$"), Vec::<String>::new(), "{name}");
    }
}
