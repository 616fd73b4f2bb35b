//! The Host allowlist (issue 18): a page on another site whose name was rebound to Pacer's
//! address makes the browser send that site's name in `Host`. Pacer refuses such a request
//! before routing, whether sign-in is on or off, and still answers load balancers' health checks.

use crate::support::world::World;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_naming_a_foreign_host_is_refused_before_routing() {
    for auth in ["  disabled: true\n".to_owned(), "  local:\n    email: admin@example.test\n".to_owned()] {
        let mut world = World::bare().await;
        world.setup.auth = auth.clone();
        let pacer = world.setup.start().await;
        let query = json!({"query": "mutation { reconcileNow { checked } }"});
        let post = |host: &'static str| {
            pacer
                .http
                .post(format!("{}/graphql", pacer.url))
                .header("host", host)
                .header("x-pacer-request", "1")
                .json(&query)
                .send()
        };
        let rebound = post("rebound.attacker.example").await.expect("request");
        assert_eq!(rebound.status().as_u16(), 403, "auth {auth:?}");
        let body: serde_json::Value = rebound.json().await.expect("json");
        assert_eq!(body["error"], "unknown_host", "{body}");
        let console = pacer.http.get(format!("{}/", pacer.url)).header("host", "evil.example").send().await;
        assert_eq!(console.expect("console").status().as_u16(), 403, "the console too");
        let health = pacer.http.get(format!("{}/healthz", pacer.url)).header("host", "10.0.0.7").send().await;
        assert_eq!(health.expect("healthz").status().as_u16(), 200, "load balancers reach health by address");
        // Pacer's own name (here its loopback address, with the port) is answered as usual.
        let own = pacer.http.get(format!("{}/readyz", pacer.url)).send().await.expect("readyz");
        assert_eq!(own.status().as_u16(), 200);
        let signed_out = post("localhost").await.expect("request").status().as_u16();
        assert!(signed_out == 200 || signed_out == 401, "loopback is Pacer's own: {signed_out}");
        let records = pacer.stop();
        assert!(
            records.iter().all(|r| r.event.name().as_str() != "auth.login_failed"),
            "refused before any work"
        );
    }
}
