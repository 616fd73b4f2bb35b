//! Backups: export, Go Pacer compatibility, round trips, upserts and all-or-nothing errors.

use crate::support::*;
use pacer_domain::*;
use serde_json::json;
use std::collections::BTreeMap;

const GO_FIXTURE: &str = include_str!("../fixtures/go-pacer-backup-v1.json");

/// What the host does: a new version of an existing pool's LT, or a new LT.
fn templates_for(state: &State, plan: &ImportPlan) -> BTreeMap<(String, String), TemplateRef> {
    let existing = |(project, pool): &(String, String)| {
        let project = state.config.project_named(project)?;
        let pool = state.config.pools_of(project.id).find(|p| p.spec.name.eq_ignore_ascii_case(pool))?;
        pool.template.clone().map(|t| template(&t.id, t.version + 1))
    };
    plan.pools
        .iter()
        .enumerate()
        .map(|(i, (key, _))| {
            (key.clone(), existing(key).unwrap_or_else(|| template(&format!("lt-new{i}"), 1)))
        })
        .collect()
}

fn import(s: &mut Scenario, backup: &Backup) -> Vec<Event> {
    let plan = plan_import(&s.state, backup, &BTreeMap::new()).expect("valid");
    let templates = templates_for(&s.state, &plan);
    s.run(Command::ImportBackup { backup: backup.clone(), templates })
}

#[test]
fn a_go_pacer_file_imports_unchanged() {
    let backup: Backup = serde_json::from_str(GO_FIXTURE).expect("parses");
    let mut s = Scenario::new();
    let plan = plan_import(&s.state, &backup, &BTreeMap::new()).expect("valid");
    assert_eq!(
        (plan.counts.projects_created, plan.counts.pools_created, plan.counts.repos_created),
        (2, 2, 2)
    );
    assert_eq!(plan.pools.len(), 2, "every pool gets a launch template");
    let events = import(&mut s, &backup);
    assert_eq!(events.last().map(|e| e.name().as_str()), Some("config.imported"));
    let config = &s.state.config;
    let platform = config.project_named("platform").expect("project");
    assert_eq!(platform.spec.cap, 20);
    let org = config.project_named("acme-org").expect("org project");
    assert_eq!(
        (org.spec.scope, org.spec.org_name.as_str(), org.spec.runner_group_id, org.spec.disabled),
        (Scope::Org, "acme", 7, true)
    );
    let pools: Vec<&Pool> = config.pools_of(platform.id).collect();
    assert_eq!(pools[0].spec.cap, 5);
    assert!(pools[0].spec.spot && pools[0].spec.is_default);
    assert_eq!(pools[0].spec.runner_version.as_deref(), Some("2.319.1"));
    assert_eq!(pools[1].spec.spawn_method, SpawnMethod::RunInstances);
    assert_eq!(
        pools[1].spec.allocation_strategy,
        AllocationStrategy::Cost,
        "the file's `priority` does nothing for run_instances, which allocates by cost only"
    );
    assert!(pools.iter().all(|p| p.template.is_some()));
    assert_eq!(config.repo("acme/api").and_then(|r| r.spec.cap), Some(3));
    assert_eq!(config.repo("acme/web").and_then(|r| r.spec.cap), None);
}

#[test]
fn export_then_import_into_an_empty_state_is_identical() {
    let source = Scenario::standard();
    let backup = Backup::export(&source.state.config, T0);
    assert_eq!(backup.version, 1);
    assert_eq!(backup.exported_at, T0.to_string());
    let json = serde_json::to_string_pretty(&backup).expect("json");
    assert!(!json.contains("lt-0001"), "no launch template ids in a backup");
    let parsed: Backup = serde_json::from_str(&json).expect("parses back");
    let mut target = Scenario::new();
    import(&mut target, &parsed);
    assert_eq!(Backup::export(&target.state.config, T0), backup);
}

#[test]
fn import_upserts_by_name() {
    let mut s = Scenario::standard();
    let mut backup = Backup::export(&s.state.config, T0);
    backup.projects[0].cap = Some(9);
    backup.projects[0].max_concurrent_runners = None;
    backup.projects[0].pools[1].max_concurrent_runners = Some(3); // gpu, under the Go name
    backup.projects[0].pools[1].cap = None;
    backup.projects[0].repos.push(BackupRepo {
        full_name: "octo/new".into(),
        cap: None,
        max_concurrent_runners: None,
        tags: Tags::new(),
    });
    let plan = plan_import(&s.state, &backup, &BTreeMap::new()).expect("valid");
    let actions: Vec<(&str, &str, ImportAction)> =
        plan.items.iter().map(|i| (i.kind, i.name.as_str(), i.action)).collect();
    assert_eq!(
        actions,
        [
            ("project", "platform", ImportAction::Update),
            ("pool", "platform/default", ImportAction::Unchanged),
            ("pool", "platform/gpu", ImportAction::Update),
            ("repo", "octo/hello", ImportAction::Unchanged),
            ("repo", "octo/new", ImportAction::Create),
        ]
    );
    import(&mut s, &backup);
    assert_eq!(s.state.config.projects.len(), 1);
    assert_eq!(s.state.config.project(ProjectId(1)).map(|p| p.spec.cap), Some(9));
    assert_eq!(s.state.config.pool(PoolId(2)).map(|p| p.spec.cap), Some(3));
    assert_eq!(s.state.config.pool(PoolId(1)).and_then(|p| p.template.clone()), Some(template("lt-0001", 2)));
}

#[test]
fn an_invalid_file_changes_nothing_and_lists_every_error() {
    let s = Scenario::standard();
    let mut backup: Backup = serde_json::from_str(GO_FIXTURE).expect("parses");
    backup.projects[0].pools[0].ami_id = "not-an-ami".into();
    backup.projects[0].pools[1].tags.insert("gha:x".into(), "y".into());
    backup.projects[0].repos[1].full_name = "nope".into();
    backup.projects[1].scope = "galaxy".into();
    backup.projects.push(backup.projects[0].clone());
    let err = plan_import(&s.state, &backup, &BTreeMap::new()).unwrap_err();
    assert_eq!(err.code, RejectionCode::Invalid);
    assert_eq!(
        fields(&err),
        [
            "projects[0].pools[0].ami_id",
            "projects[0].pools[1].tags.gha:x",
            "projects[0].repos[1].full_name",
            "projects[1].scope",
            "projects[2].name",
        ]
    );
    let before = s.state.clone();
    assert!(s.when(Command::ImportBackup { backup, templates: BTreeMap::new() }).is_err());
    assert_eq!(s.state, before);
    let wrong_version = Backup { version: 2, exported_at: String::new(), projects: vec![] };
    assert_eq!(fields(&plan_import(&s.state, &wrong_version, &BTreeMap::new()).unwrap_err()), ["version"]);
}

#[test]
fn import_conflicts_with_existing_config_are_reported() {
    let s = Scenario::standard();
    let backup: Backup = serde_json::from_str(
        r#"{"version":1,"projects":[{"name":"other","repos":[{"full_name":"octo/hello"}]},
            {"name":"Platform!","pools":[]}]}"#,
    )
    .expect("parses");
    // Moving a repo between projects is an update, not an error; a label clash is an error.
    let err = plan_import(&s.state, &backup, &BTreeMap::new()).unwrap_err();
    assert_eq!(fields(&err), ["projects[1].name"]);
}

#[test]
fn an_export_writes_every_cap_under_both_names() {
    let mut s = Scenario::standard();
    s.run(Command::UpdateRepo {
        project: ProjectId(1),
        spec: RepoSpec { full_name: "octo/hello".into(), cap: Some(4), tags: Tags::new() },
    });
    let json = serde_json::to_value(Backup::export(&s.state.config, T0)).expect("json");
    let project = &json["projects"][0];
    assert_eq!((&project["cap"], &project["max_concurrent_runners"]), (&json!(0), &json!(0)));
    for pool in project["pools"].as_array().expect("pools") {
        assert!(pool["cap"].is_u64(), "{pool}");
        assert_eq!(pool["cap"], pool["max_concurrent_runners"], "{pool}");
    }
    let repo = &project["repos"][0];
    assert_eq!((&repo["cap"], &repo["max_concurrent_runners"]), (&json!(4), &json!(4)));
}

#[test]
fn a_cap_imports_from_either_name_and_cap_counts_when_both_differ() {
    let s = Scenario::new();
    let file = |project: &str, pool: &str, repo: &str| {
        serde_json::from_str::<Backup>(&format!(
            r#"{{"version":1,"projects":[{{"name":"p"{project},
                "pools":[{{"name":"default","ami_id":"ami-0123456789abcdef0","instance_types":["m7i.large"],
                    "subnet_ids":["subnet-0123456789abcdef0"]{pool}}}],
                "repos":[{{"full_name":"octo/hello"{repo}}}]}}]}}"#
        ))
        .expect("parses")
    };
    let caps = |backup: &Backup| {
        let plan = plan_import(&s.state, backup, &BTreeMap::new()).expect("valid");
        let mut target = Scenario::new();
        let templates = templates_for(&target.state, &plan);
        target.run(Command::ImportBackup { backup: backup.clone(), templates });
        let config = &target.state.config;
        let project = config.project_named("p").expect("project");
        let pool = config.pools_of(project.id).next().expect("pool");
        (project.spec.cap, pool.spec.cap, config.repo("octo/hello").and_then(|r| r.spec.cap))
    };
    assert_eq!(caps(&file("", "", "")), (0, DEFAULT_POOL_CAP, None), "neither: the defaults");
    assert_eq!(caps(&file(r#","cap":7"#, r#","cap":3"#, r#","cap":2"#)), (7, 3, Some(2)));
    let go = file(
        r#","max_concurrent_runners":7"#,
        r#","max_concurrent_runners":3"#,
        r#","max_concurrent_runners":2"#,
    );
    assert_eq!(caps(&go), (7, 3, Some(2)));
    let null_cap = file(
        r#","cap":null,"max_concurrent_runners":7"#,
        r#","cap":null,"max_concurrent_runners":3"#,
        r#","cap":null,"max_concurrent_runners":2"#,
    );
    assert_eq!(caps(&null_cap), (7, 3, Some(2)), "a null cap is no cap");
    let edited = file(
        r#","cap":8,"max_concurrent_runners":7"#,
        r#","cap":4,"max_concurrent_runners":3"#,
        r#","cap":1,"max_concurrent_runners":2"#,
    );
    assert_eq!(caps(&edited), (8, 4, Some(1)), "an edited cap counts without its Go twin");
}

#[test]
fn a_run_instances_row_imports_with_the_cost_strategy_and_a_console_edit_may_not_change_it() {
    let mut s = Scenario::new();
    let backup: Backup = serde_json::from_str(GO_FIXTURE).expect("parses");
    import(&mut s, &backup);
    let gpu = s.state.config.pools.values().find(|p| p.spec.name == "gpu").expect("gpu").clone();
    assert_eq!(gpu.spec.allocation_strategy, AllocationStrategy::Cost);
    let refused = s
        .when(Command::UpdatePool {
            id: gpu.id,
            spec: PoolSpec { allocation_strategy: AllocationStrategy::Capacity, ..gpu.spec.clone() },
            template: None,
        })
        .unwrap_err();
    assert_eq!((refused.code, fields(&refused)), (RejectionCode::Invalid, vec!["allocation_strategy"]));
    let fleet = PoolSpec {
        spawn_method: SpawnMethod::Fleet,
        allocation_strategy: AllocationStrategy::Capacity,
        ..gpu.spec.clone()
    };
    s.run(Command::UpdatePool { id: gpu.id, spec: fleet, template: None });
}

#[test]
fn warm_capacity_is_exported_imported_and_checked_like_the_pool() {
    let mut source = Scenario::standard();
    let warm = WarmSpec { sizing: WarmSizing::Fixed(WarmCounts { hot: 2, stopped: 1 }), max_age_minutes: 90 };
    source.run(Command::SetPoolWarm { pool: PoolId(1), warm: Some(warm.clone()) });
    let backup = Backup::export(&source.state.config, T0);
    let json = serde_json::to_value(&backup).expect("json");
    let pools = &json["projects"][0]["pools"];
    assert_eq!(
        pools[0]["warm"],
        json!({"sizing": {"fixed": {"hot": 2, "stopped": 1}}, "max_age_minutes": 90})
    );
    assert!(
        pools[1].get("warm").is_none(),
        "no key for a pool without warm capacity (as the Go Pacer writes)"
    );

    // Into an empty state: the same warm capacity.
    let mut target = Scenario::new();
    let events = import(&mut target, &backup);
    assert!(events.iter().any(|e| matches!(e, Event::PoolWarmSet(w) if w.warm.as_ref() == Some(&warm))));
    assert_eq!(Backup::export(&target.state.config, T0), backup);
    // The same file again changes nothing; one without the key switches it off.
    let plan = plan_import(&target.state, &backup, &BTreeMap::new()).expect("valid");
    assert!(plan.items.iter().all(|i| i.action == ImportAction::Unchanged), "{:?}", plan.items);
    let mut off = backup.clone();
    off.projects[0].pools[0].warm = None;
    import(&mut target, &off);
    assert_eq!(target.state.config.pool(PoolId(1)).and_then(|p| p.warm.clone()), None);

    // Beyond the pool's cap: refused with the row's path, nothing imported.
    let mut wrong = backup;
    wrong.projects[0].pools[0].warm =
        Some(WarmSpec { sizing: WarmSizing::Fixed(WarmCounts { hot: 99, stopped: 0 }), max_age_minutes: 90 });
    let rejection = plan_import(&Scenario::new().state, &wrong, &BTreeMap::new()).expect_err("over the cap");
    assert_eq!(fields(&rejection), ["projects[0].pools[0].warm.sizing.fixed"]);
}
