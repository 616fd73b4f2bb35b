//! Pool matching order, org scope and sanitising.

use crate::support::*;
use pacer_domain::*;

fn routed(s: &Scenario, repo: &str, labels: &[&str]) -> Route {
    let labels: Vec<String> = labels.iter().map(|l| l.to_string()).collect();
    route(&s.state.config, repo, &labels)
}

fn pool_of(route: Route) -> PoolId {
    match route {
        Route::Pool { pool, .. } => pool,
        other => panic!("{other:?}"),
    }
}

#[test]
fn name_in_labels_then_default_then_lowest_priority() {
    let mut s = Scenario::standard(); // default (prio 100, default), gpu (prio 50, extra cuda)
    assert_eq!(pool_of(routed(&s, "octo/hello", &["self-hosted"])), PoolId(1), "default beats priority");
    assert_eq!(pool_of(routed(&s, "octo/hello", &["self-hosted", "GPU"])), PoolId(2), "named pool");
    assert_eq!(pool_of(routed(&s, "octo/hello", &["self-hosted", "cuda"])), PoolId(2), "only gpu has cuda");
    s.run(Command::CreatePool {
        project: ProjectId(1),
        spec: PoolSpec { priority: 10, ..pool("fast") },
        template: None,
    });
    s.run(Command::CreatePool {
        project: ProjectId(1),
        spec: PoolSpec { priority: 5, extra_labels: vec!["fast".into()], ..pool("faster") },
        template: None,
    });
    // Both "fast" pools carry the label fast; the one *named* fast wins over priority 5.
    assert_eq!(pool_of(routed(&s, "octo/hello", &["self-hosted", "fast"])), PoolId(3));
    s.run(Command::UpdatePool { id: PoolId(1), spec: pool("default"), template: None });
    assert_eq!(pool_of(routed(&s, "octo/hello", &["self-hosted"])), PoolId(4), "no default: lowest priority");
    assert_eq!(
        pool_of(routed(&s, "octo/hello", &["self-hosted", "platform", "octo-hello"])),
        PoolId(4),
        "project and repo labels match every pool"
    );
}

#[test]
fn repo_label_is_sanitised_and_only_in_repo_scope() {
    let mut s = Scenario::new();
    s.run(Command::CreateProject(project("Platform")));
    s.run(Command::CreatePool { project: ProjectId(1), spec: pool("Linux X64"), template: None });
    s.run(Command::BindRepo { project: ProjectId(1), spec: repo("Octocat/Hello.World") });
    assert_eq!(
        pool_of(routed(&s, "octocat/hello.world", &["self-hosted", "octocat-hello-world", "linux-x64"])),
        PoolId(1)
    );
    let pool = s.state.config.pool(PoolId(1)).expect("pool").clone();
    assert_eq!(
        s.state.config.runner_labels(&pool, "Octocat/Hello.World"),
        ["self-hosted", "platform", "linux-x64", "octocat-hello-world"]
    );
    assert_eq!(s.state.config.runs_on(&pool), "runs-on: [self-hosted, platform, linux-x64]");
}

#[test]
fn org_scope_covers_every_repo_of_the_org_case_insensitively() {
    let mut s = Scenario::new();
    s.run(Command::CreateProject(org_project("acme", "Acme-Inc")));
    s.run(Command::CreatePool { project: ProjectId(1), spec: pool("default"), template: None });
    assert_eq!(pool_of(routed(&s, "acme-inc/anything", &["self-hosted", "default"])), PoolId(1));
    assert!(matches!(
        routed(&s, "acme-inc/anything", &["self-hosted", "acme-inc-anything"]),
        Route::NoPoolMatch { reason: NoMatchReason::NoMatch, .. }
    ));
    assert_eq!(routed(&s, "other/x", &["self-hosted"]), Route::Ignored(IgnoreReason::UnboundRepo));
    // An explicit binding wins over the org project.
    s.run(Command::CreateProject(project("special")));
    s.run(Command::CreatePool { project: ProjectId(2), spec: pool("default"), template: None });
    s.run(Command::BindRepo { project: ProjectId(2), spec: repo("acme-inc/special") });
    assert!(matches!(
        routed(&s, "Acme-Inc/Special", &["self-hosted"]),
        Route::Pool { project: ProjectId(2), .. }
    ));
}

#[test]
fn reserved_prefix_is_rejected_in_any_case() {
    let s = Scenario::standard();
    for key in ["gha:x", "GHA:x", "Gha:team"] {
        let mut spec = pool("tagged");
        spec.tags.insert(key.into(), "v".into());
        let err = s.when(Command::CreatePool { project: ProjectId(1), spec, template: None }).unwrap_err();
        assert_eq!(fields(&err), [format!("tags.{key}")]);
        let mut spec = pool("labelled");
        spec.extra_labels = vec![format!("{key}-label")];
        let err = s.when(Command::CreatePool { project: ProjectId(1), spec, template: None }).unwrap_err();
        assert_eq!(fields(&err), ["extra_labels[0]"]);
        let mut binding = repo("octo/tagged");
        binding.tags.insert(key.into(), "v".into());
        let err = s.when(Command::BindRepo { project: ProjectId(1), spec: binding }).unwrap_err();
        assert_eq!(fields(&err), [format!("tags.{key}")]);
    }
}
