//! The OIDC test provider (node `oidc-provider`, tools/oidc) on a free loopback port.

use crate::support::node;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The OIDC test provider, killed on drop.
pub struct Provider {
    child: Child,
    pub url: String,
}

impl Provider {
    /// Starts the provider with its own users (alice, bob, mallory) and waits for its
    /// discovery document.
    pub async fn start(redirect: &str) -> Provider {
        Provider::start_with_users(redirect, None).await
    }

    /// Starts the provider with the users of `users_file` (JSON `{id: {email, name, groups,
    /// email_verified}}`), or its own, and waits for its discovery document. A node process
    /// that has not answered within 20 s is killed and replaced (it once hung at startup,
    /// before listening).
    pub async fn start_with_users(redirect: &str, users_file: Option<&std::path::Path>) -> Provider {
        for _ in 0..3 {
            let port = free_port();
            let mut command = node::tool("oidc/oidc-test-provider.mjs");
            command
                .env("OIDC_PORT", port.to_string())
                .env("OIDC_CLIENT_ID", "console")
                .env("OIDC_REDIRECT_URIS", redirect)
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if let Some(file) = users_file {
                command.env("OIDC_USERS_FILE", file);
            }
            let child = command.spawn().expect("node");
            // Owned from here, so the process is killed however this attempt ends.
            let provider = Provider { child, url: format!("http://127.0.0.1:{port}") };
            let http = reqwest::Client::new();
            let deadline = Instant::now() + Duration::from_secs(20);
            let discovery = format!("{}/.well-known/openid-configuration", provider.url);
            while Instant::now() < deadline {
                if http.get(&discovery).send().await.is_ok_and(|r| r.status() == 200) {
                    return provider;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        panic!("the OIDC provider did not start in three attempts");
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
