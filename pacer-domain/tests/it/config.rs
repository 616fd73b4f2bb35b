//! Project, pool and repo commands: every accepted shape and every rejection.

use crate::support::*;
use pacer_domain::*;

#[test]
fn create_project_assigns_ids_in_order() {
    let mut s = Scenario::new();
    let first = s.run(Command::CreateProject(project(" platform ")));
    let second = s.run(Command::CreateProject(org_project("acme", "acme-inc")));
    match (&first[0], &second[0]) {
        (Event::ProjectCreated(a), Event::ProjectCreated(b)) => {
            assert_eq!((a.id, b.id), (ProjectId(1), ProjectId(2)));
            assert_eq!(a.spec.name, "platform", "names are trimmed");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.state.config.projects.len(), 2);
}

#[test]
fn project_rejections_name_their_field() {
    let s = Scenario::standard();
    let dup = s.when(Command::CreateProject(project("PLATFORM"))).unwrap_err();
    assert_eq!((dup.code, fields(&dup)), (RejectionCode::Invalid, vec!["name"]));
    let label_clash = s.when(Command::CreateProject(project("Platform!"))).unwrap_err();
    assert!(label_clash.message.contains("runner label"), "{label_clash:?}");
    let empty = s.when(Command::CreateProject(project(""))).unwrap_err();
    assert_eq!(fields(&empty), ["name"]);
    let too_long = s.when(Command::CreateProject(project(&"x".repeat(129)))).unwrap_err();
    assert_eq!(fields(&too_long), ["name"]);
    let mut big_cap = project("capped");
    big_cap.cap = 10_001;
    assert_eq!(fields(&s.when(Command::CreateProject(big_cap)).unwrap_err()), ["cap"]);
    let mut reserved = project("tagged");
    reserved.tags.insert("GHA:team".into(), "x".into());
    assert_eq!(fields(&s.when(Command::CreateProject(reserved)).unwrap_err()), ["tags.GHA:team"]);
}

#[test]
fn org_names_are_unique_across_org_projects() {
    let mut s = Scenario::new();
    s.run(Command::CreateProject(org_project("one", "Acme")));
    let clash = s.when(Command::CreateProject(org_project("two", "acme"))).unwrap_err();
    assert_eq!(fields(&clash), ["org_name"]);
    let bad = s.when(Command::CreateProject(org_project("three", "-bad-"))).unwrap_err();
    assert_eq!(fields(&bad), ["org_name"]);
}

#[test]
fn update_project_checks_scope_changes() {
    let s = Scenario::standard();
    let to_org = s
        .when(Command::UpdateProject { id: ProjectId(1), spec: org_project("platform", "octo") })
        .unwrap_err();
    assert_eq!((to_org.code, fields(&to_org)), (RejectionCode::Conflict, vec!["scope"]));
    let missing = s.when(Command::UpdateProject { id: ProjectId(9), spec: project("x") }).unwrap_err();
    assert_eq!(missing.code, RejectionCode::NotFound);
    let mut renamed = s.clone_state();
    let events = renamed.run(Command::UpdateProject { id: ProjectId(1), spec: project("Platform Team") });
    assert_eq!(Scenario::names(&events), ["project.updated"]);
    assert_eq!(
        renamed.state.config.project(ProjectId(1)).map(|p| p.spec.name.as_str()),
        Some("Platform Team")
    );
}

#[test]
fn tag_cascade_is_bounded() {
    let s = Scenario::standard();
    let mut tags = Tags::new();
    for i in 0..40 {
        tags.insert(format!("project-{i}"), "v".into());
    }
    let mut spec = project("platform");
    spec.tags = tags;
    let ok = s.when(Command::UpdateProject { id: ProjectId(1), spec: spec.clone() });
    assert!(ok.is_ok(), "40 project tags fit: {ok:?}");
    let mut s2 = s.clone_state();
    s2.run(Command::UpdateProject { id: ProjectId(1), spec });
    let mut p = pool("default");
    p.is_default = true;
    for i in 0..6 {
        p.tags.insert(format!("pool-{i}"), "v".into());
    }
    let too_many = s2.when(Command::UpdatePool { id: PoolId(1), spec: p, template: None }).unwrap_err();
    assert_eq!(fields(&too_many), ["tags"]);
    assert!(too_many.message.contains("46 tags"), "{}", too_many.message);
}

#[test]
fn delete_project_guards() {
    let mut s = Scenario::standard();
    let with_pools = s.when(Command::DeleteProject { id: ProjectId(1) }).unwrap_err();
    assert_eq!(with_pools.code, RejectionCode::Conflict);
    assert!(with_pools.message.contains("2 pool(s)"));
    s.run(Command::DeletePool { id: PoolId(1) });
    s.run(Command::DeletePool { id: PoolId(2) });
    let with_repos = s.when(Command::DeleteProject { id: ProjectId(1) }).unwrap_err();
    assert!(with_repos.message.contains("1 repo(s)"));
    s.run(Command::UnbindRepo { full_name: "Octo/Hello".into() });
    let events = s.run(Command::DeleteProject { id: ProjectId(1) });
    assert_eq!(Scenario::names(&events), ["project.deleted"]);
    assert!(s.state.config.projects.is_empty());
    assert_eq!(
        s.when(Command::DeleteProject { id: ProjectId(1) }).unwrap_err().code,
        RejectionCode::NotFound
    );
}

#[test]
fn pools_are_created_with_their_template_and_keep_it() {
    let mut s = Scenario::standard();
    let pool1 = s.state.config.pool(PoolId(1)).cloned().expect("pool");
    assert_eq!(pool1.template, Some(template("lt-0001", 1)));
    let events = s.run(Command::UpdatePool {
        id: PoolId(1),
        spec: PoolSpec { name: "renamed".into(), is_default: true, ..pool("x") },
        template: Some(template("lt-0001", 2)),
    });
    assert_eq!(Scenario::names(&events), ["pool.updated", "pool.template_materialized"]);
    let after = s.state.config.pool(PoolId(1)).expect("pool");
    assert_eq!(after.spec.name, "renamed");
    assert_eq!(after.template, Some(template("lt-0001", 2)));
    let other_lt = s
        .when(Command::UpdatePool {
            id: PoolId(1),
            spec: pool("renamed"),
            template: Some(template("lt-9", 3)),
        })
        .unwrap_err();
    assert_eq!(other_lt.code, RejectionCode::Conflict);
}

#[test]
fn pool_rejections() {
    let s = Scenario::standard();
    let clash =
        s.when(Command::CreatePool { project: ProjectId(1), spec: pool("GPU"), template: None }).unwrap_err();
    assert_eq!(fields(&clash), ["name"]);
    let no_project =
        s.when(Command::CreatePool { project: ProjectId(7), spec: pool("x"), template: None }).unwrap_err();
    assert_eq!(no_project.code, RejectionCode::NotFound);
    let mut bad = pool("bad");
    bad.instance_types.clear();
    bad.max_runtime_minutes = 0;
    let invalid =
        s.when(Command::CreatePool { project: ProjectId(1), spec: bad, template: None }).unwrap_err();
    assert_eq!(fields(&invalid), ["instance_types", "max_runtime_minutes"]);
    assert_eq!(
        s.when(Command::UpdatePool { id: PoolId(9), spec: pool("x"), template: None }).unwrap_err().code,
        RejectionCode::NotFound
    );
    assert_eq!(s.when(Command::DeletePool { id: PoolId(9) }).unwrap_err().code, RejectionCode::NotFound);
}

#[test]
fn one_default_pool_per_project() {
    let mut s = Scenario::standard();
    s.run(Command::UpdatePool {
        id: PoolId(2),
        spec: PoolSpec { is_default: true, ..pool("gpu") },
        template: None,
    });
    let defaults: Vec<PoolId> =
        s.state.config.pools.values().filter(|p| p.spec.is_default).map(|p| p.id).collect();
    assert_eq!(defaults, [PoolId(2)]);
}

#[test]
fn pool_delete_refuses_active_jobs_and_fails_queued_ones() {
    let mut s = Scenario::standard();
    s.queue(1);
    s.queue(2);
    s.launch(1, "i-0000000000000001");
    let refused = s.when(Command::DeletePool { id: PoolId(1) }).unwrap_err();
    assert_eq!(refused.code, RejectionCode::Conflict);
    assert!(refused.message.contains("1 active job(s)"));
    s.run(completed(1, "success", Some("pacer-i-0000000000000001")));
    let events = s.run(Command::DeletePool { id: PoolId(1) });
    assert_eq!(Scenario::names(&events), ["job.failed", "pool.deleted"]);
    assert_eq!(s.job(2).status, JobStatus::Failed);
    match &events[1] {
        Event::PoolDeleted(d) => assert_eq!(d.template, Some(template("lt-0001", 1))),
        other => panic!("{other:?}"),
    }
}

#[test]
fn repo_binding_rules() {
    let mut s = Scenario::standard();
    let twice = s.when(Command::BindRepo { project: ProjectId(1), spec: repo("OCTO/hello") }).unwrap_err();
    assert_eq!((twice.code, fields(&twice)), (RejectionCode::Conflict, vec!["full_name"]));
    let malformed = s.when(Command::BindRepo { project: ProjectId(1), spec: repo("octo") }).unwrap_err();
    assert_eq!(fields(&malformed), ["full_name"]);
    let mut zero_cap = repo("octo/other");
    zero_cap.cap = Some(0);
    assert_eq!(
        fields(&s.when(Command::BindRepo { project: ProjectId(1), spec: zero_cap }).unwrap_err()),
        ["cap"]
    );
    s.run(Command::CreateProject(org_project("acme", "acme")));
    let org = s.when(Command::BindRepo { project: ProjectId(2), spec: repo("acme/x") }).unwrap_err();
    assert_eq!((org.code, fields(&org)), (RejectionCode::Conflict, vec!["project"]));
    let unknown = s.when(Command::UpdateRepo { project: ProjectId(1), spec: repo("octo/none") }).unwrap_err();
    assert_eq!(unknown.code, RejectionCode::NotFound);
    let unbind = s.when(Command::UnbindRepo { full_name: "octo/none".into() }).unwrap_err();
    assert_eq!(unbind.code, RejectionCode::NotFound);
    let mut capped = repo("octo/hello");
    capped.cap = Some(2);
    let events = s.run(Command::UpdateRepo { project: ProjectId(1), spec: capped });
    assert_eq!(Scenario::names(&events), ["repo.updated"]);
    assert_eq!(s.state.config.repo("octo/hello").and_then(|r| r.spec.cap), Some(2));
}

#[test]
fn settings_and_health() {
    let mut s = Scenario::new();
    let ok_first = s.run(Command::SetHealth { component: "reaper".into(), ok: true, message: String::new() });
    assert!(ok_first.is_empty(), "a healthy first report records nothing");
    let bad = s.run(Command::SetHealth { component: "reaper".into(), ok: false, message: "ec2 down".into() });
    assert_eq!(Scenario::names(&bad), ["health.changed"]);
    let same =
        s.run(Command::SetHealth { component: "reaper".into(), ok: false, message: "ec2 down".into() });
    assert!(same.is_empty());
    s.run(Command::SetHealth { component: "reaper".into(), ok: true, message: "ignored when ok".into() });
    assert_eq!(s.state.health.get("reaper").map(|h| (h.ok, h.message.as_str())), Some((true, "")));
    assert!(
        s.when(Command::RotateBootstrapToken { fingerprint: String::new(), previous_valid_until: T0 })
            .is_err()
    );
    s.run(Command::RotateBootstrapToken { fingerprint: "ab12cd34".into(), previous_valid_until: T0 });
    assert_eq!(s.state.settings.bootstrap_fingerprint.as_deref(), Some("ab12cd34"));
}

#[test]
fn retention_overrides_are_set_per_kind_and_each_change_is_recorded() {
    let mut s = Scenario::new();
    let audit = |days| Command::SetRetention { kind: RetentionKind::Audit, days };
    for days in [0, MAX_RETENTION_DAYS + 1] {
        let refused = s.when(audit(Some(days))).unwrap_err();
        assert_eq!((refused.code, fields(&refused)), (RejectionCode::Invalid, vec!["days"]), "{days}");
    }
    assert_eq!(s.state.settings.retention, RetentionOverrides::default(), "nothing changed");
    let set = s.run(audit(Some(30)));
    assert_eq!(
        set,
        [Event::SettingsRetentionSet(SettingsRetentionSet { kind: RetentionKind::Audit, days: Some(30) })]
    );
    s.run(Command::SetRetention { kind: RetentionKind::FailureLog, days: Some(MAX_RETENTION_DAYS) });
    let retention = s.state.settings.retention;
    assert_eq!(
        RetentionKind::ALL.map(|kind| retention.get(kind)),
        [Some(30), None, Some(MAX_RETENTION_DAYS)]
    );
    assert_eq!(Scenario::names(&s.run(audit(Some(30)))), ["settings.retention_set"], "the same value again");
    assert_eq!(Scenario::names(&s.run(audit(None))), ["settings.retention_set"]);
    assert_eq!(s.state.settings.retention.get(RetentionKind::Audit), None, "back to the default");
    assert_eq!(Scenario::names(&s.run(audit(None))), ["settings.retention_set"], "already the default");
    assert_eq!(RetentionKind::ALL.map(RetentionKind::name), ["audit", "webhook", "failure_log"]);
}

#[test]
fn a_job_retention_of_old_logs_folds_as_the_audit_retention() {
    let mut s = Scenario::new();
    s.fold(Event::SettingsRetentionChanged(SettingsRetentionChanged { days: 14 }));
    assert_eq!(
        s.state.settings.retention,
        RetentionOverrides { audit_days: Some(14), ..RetentionOverrides::default() }
    );
    assert_eq!(s.state.anomaly_count, 0);
}

#[test]
fn auth_records() {
    let mut s = Scenario::new();
    let user =
        AuthRecord::UserCreated(UserCreated { email: "Ops@Example.com".into(), method: AuthMethod::Local });
    s.run(Command::RecordAuth(user.clone()));
    assert_eq!(s.when(Command::RecordAuth(user)).unwrap_err().code, RejectionCode::Conflict);
    s.run(Command::RecordAuth(AuthRecord::LoginSucceeded(AuthLoginSucceeded {
        email: "ops@example.com".into(),
        method: AuthMethod::Local,
        ip: "127.0.0.1".into(),
    })));
    assert_eq!(s.state.users.get("ops@example.com").and_then(|u| u.last_login_at), Some(T0));
    let failed = s.run(Command::RecordAuth(AuthRecord::LoginFailed(AuthLoginFailed {
        email: "x@example.com".into(),
        method: AuthMethod::Local,
        ip: "127.0.0.1".into(),
        reason: "bad_credentials".into(),
    })));
    assert!(failed[0].is_failure());
}
