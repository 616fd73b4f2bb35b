//! Backups: export, Go Pacer compatibility, round trips, upserts and all-or-nothing errors.

use crate::support::*;
use pacer_domain::*;
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
    assert_eq!(pools[1].spec.allocation_strategy, AllocationStrategy::Priority);
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
    backup.projects[0].cap = 9;
    backup.projects[0].pools[1].cap = 3; // gpu
    backup.projects[0].repos.push(BackupRepo { full_name: "octo/new".into(), cap: None, tags: Tags::new() });
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
