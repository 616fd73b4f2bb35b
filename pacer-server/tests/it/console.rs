//! The operator console in a real browser: `pacer demo` (simulated EC2 and GitHub, a new job
//! about every second) serves the console embedded at build time. Its security and caching
//! headers are checked over HTTP, then `tests/browser/console.mjs` drives headless Chromium
//! through sign-in with the printed password, every page by sidebar and by deep link, a job's
//! details and timeline, the status filter, the project, pool and repo editors (each with an
//! input refused inline), a pool's warm capacity set to a schedule (a bad window refused inline
//! first), a new job and an Overview tile arriving over the WebSocket without a
//! reload, a backup export, dry-run preview and import, and GraphiQL running a query — all with
//! the network cut off but for loopback, and nothing requested from anywhere but Pacer.
//! Screenshots of every scenario land in `$CARGO_TARGET_TMPDIR/console-screenshots`.

use crate::support::node;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long the whole browser run may take before it is killed.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(600);

/// A running `pacer demo`, killed on drop (its log is printed if the test is failing).
struct Demo {
    child: Child,
    url: String,
    email: String,
    password: String,
    log: PathBuf,
}

impl Demo {
    /// Starts the demo on port 0 in `dir` and waits for the bootstrap password and the URL.
    fn start(dir: &Path) -> Demo {
        let log = dir.join("pacer-demo.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_pacer"))
            .args(["demo", "--addr", "127.0.0.1:0", "--job-interval", "1.0", "--data"])
            .arg(dir.join("data"))
            .env_remove("PACER_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn pacer demo");
        let stderr = child.stderr.take().expect("the demo's stderr");
        let (tx, rx) = mpsc::channel();
        let log_path = log.clone();
        // Keeps draining stderr into the log for the demo's whole life.
        std::thread::spawn(move || {
            use std::io::Write;
            let mut file = std::fs::File::create(&log_path).expect("create the demo log");
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = writeln!(file, "{line}");
                let _ = tx.send(line);
            }
        });
        let mut demo = Demo { child, url: String::new(), email: String::new(), password: String::new(), log };
        let deadline = Instant::now() + Duration::from_secs(120);
        while demo.url.is_empty() || demo.password.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = rx.recv_timeout(left) else {
                panic!("the demo did not print its password and URL in time:\n{}", demo.logs());
            };
            if let Some(rest) = line.strip_prefix("pacer: created the bootstrap user ")
                && let Some((email, password)) = rest.split_once(" with password ")
            {
                demo.email = email.trim().to_owned();
                demo.password = password.trim().to_owned();
            } else if let Some(url) = line.strip_prefix("pacer: listening on ") {
                demo.url = url.trim().to_owned();
            }
        }
        demo
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- pacer demo log ----\n{}", self.logs());
        }
    }
}

/// `name`'s value as text ("" when absent).
fn header(response: &reqwest::Response, name: &str) -> String {
    response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

/// The console is embedded and served with its security headers; `index.html` (also the
/// answer to any client-side route) and the assets are revalidated by ETag, never cached blind.
async fn check_console_http(url: &str) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !http.get(format!("{url}/readyz")).send().await.is_ok_and(|r| r.status() == 200) {
        assert!(Instant::now() < deadline, "/readyz never answered 200");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let index = http.get(format!("{url}/")).send().await.expect("GET /");
    let status = index.status().as_u16();
    let (content_type, cache, etag) =
        (header(&index, "content-type"), header(&index, "cache-control"), header(&index, "etag"));
    let (csp, nosniff) =
        (header(&index, "content-security-policy"), header(&index, "x-content-type-options"));
    let html = index.text().await.expect("the body of /");
    assert!(
        status == 200 && content_type.starts_with("text/html") && html.contains("/boot.js"),
        "the console is not embedded in this pacer binary: run scripts/build-console.sh, then rebuild \
         (GET / answered {status} {content_type}: {html:.300})"
    );
    for directive in ["default-src 'self'", "frame-ancestors 'none'", "script-src 'self' 'wasm-unsafe-eval'"]
    {
        assert!(csp.contains(directive), "the CSP lacks {directive}: {csp:?}");
    }
    assert!(!csp.contains("'unsafe-inline'"), "the CSP allows inline code: {csp}");
    assert_eq!(nosniff, "nosniff", "X-Content-Type-Options");
    assert!(
        cache.contains("no-cache"),
        "index.html must be revalidated, or a new build is not picked up: {cache:?}"
    );
    assert!(!etag.is_empty(), "index.html has an ETag to revalidate with");

    // A client-side route (a deep link, a reload) answers the same page with the same headers.
    let deep = http.get(format!("{url}/jobs/1?status=failed")).send().await.expect("GET a deep link");
    assert_eq!(deep.status().as_u16(), 200, "a deep link is answered by the console");
    assert_eq!(header(&deep, "content-security-policy"), csp);
    assert!(header(&deep, "cache-control").contains("no-cache"));
    assert_eq!(deep.text().await.expect("deep link body"), html, "a deep link gets index.html");

    // Assets: their own content types, the same security headers, and an ETag that turns a
    // repeat request into a bodyless 304. Their names carry no content hash, so they must not be
    // cached without revalidation either.
    for (path, kind) in [
        ("/boot.js", "text/javascript"),
        ("/pacer-web.js", "text/javascript"),
        ("/pacer-web_bg.wasm", "application/wasm"),
        ("/pacer.css", "text/css"),
    ] {
        let asset = http.get(format!("{url}{path}")).send().await.expect("GET an asset");
        assert_eq!(asset.status().as_u16(), 200, "{path}");
        assert!(
            header(&asset, "content-type").starts_with(kind),
            "{path}: {}",
            header(&asset, "content-type")
        );
        assert_eq!(header(&asset, "x-content-type-options"), "nosniff", "{path}");
        assert!(header(&asset, "content-security-policy").contains("frame-ancestors 'none'"), "{path}");
        let cache = header(&asset, "cache-control");
        assert!(cache.contains("no-cache") && !cache.contains("immutable"), "{path}: {cache:?}");
        let tag = header(&asset, "etag");
        assert!(!tag.is_empty() && tag != etag, "{path} has its own ETag");
        let again = http
            .get(format!("{url}{path}"))
            .header("if-none-match", &tag)
            .send()
            .await
            .expect("conditional GET");
        assert_eq!(again.status().as_u16(), 304, "{path} revalidates to 304");
        assert!(again.bytes().await.expect("304 body").is_empty(), "{path}: a 304 has no body");
    }
}

/// Runs `command` to completion (or kills it after `timeout`), echoing its stdout as it goes;
/// (exit status, stdout, stderr).
fn run_echoing(mut command: Command, timeout: Duration) -> (Option<ExitStatus>, String, String) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn node");
    let stdout = child.stdout.take().expect("node's stdout");
    let mut stderr = child.stderr.take().expect("node's stderr");
    let out = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("  {line}");
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let err = std::thread::spawn(move || {
        let mut all = String::new();
        let _ = stderr.read_to_string(&mut all);
        all
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    (status, out.join().unwrap_or_default(), err.join().unwrap_or_default())
}

#[test]
fn the_console_works_in_a_real_browser() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut demo = Demo::start(dir.path());
    assert!(demo.password.len() >= 16, "a strong bootstrap password is printed on first start");
    tokio::runtime::Runtime::new().expect("a tokio runtime").block_on(check_console_http(&demo.url));

    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).expect("create the screenshot directory");
    let mut browser = node::script(&crate::support::manifest_dir().join("tests/browser/console.mjs"));
    browser.arg(&demo.url).arg(&demo.password).arg(&shots).env("PACER_EMAIL", &demo.email);
    let started = Instant::now();
    let (status, stdout, stderr) = run_echoing(browser, BROWSER_TIMEOUT);
    let elapsed = started.elapsed();
    assert!(
        status.is_some_and(|s| s.success()),
        "the browser run failed ({}) after {elapsed:?}; screenshots in {}\n---- stdout ----\n{stdout}\n---- stderr ----\n{stderr}",
        status.map_or_else(|| format!("killed after {BROWSER_TIMEOUT:?}"), |s| s.to_string()),
        shots.display(),
    );
    assert!(stdout.contains("scenarios passed"), "the script ended early:\n{stdout}\n{stderr}");
    println!("browser scenarios passed in {elapsed:?}; screenshots in {}", shots.display());
    assert!(
        std::fs::read_dir(&shots).expect("screenshots").filter_map(Result::ok).count() >= 7,
        "a screenshot per scenario"
    );
    assert!(matches!(demo.child.try_wait(), Ok(None)), "the demo is still running:\n{}", demo.logs());
}
