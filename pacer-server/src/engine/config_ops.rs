//! Configuration edits that reach EC2: pools (validated against AWS, then their launch template
//! created or re-versioned, then recorded), backup imports (every pool re-materialised, all or
//! nothing) and bootstrap-token rotation (every template re-versioned with the new token).
//! Edits are serialised by one lock so the check-then-act against AWS and the log cannot
//! interleave; when recording fails after AWS changed, the AWS change is undone.

use super::Engine;
use crate::app::{AppError, Meta};
use crate::userdata::{ScriptContext, render};
use pacer_aws::{ComputeError, materialize};
use pacer_domain::{
    Backup, Command, ConfigCounts, FieldError, ImportPlan, MINUTE_MS, Pool, PoolId, PoolSpec, ProjectId,
    ProjectSpec, Recorded, Rejection, TemplateRef, TemplateSpec, plan_import,
};
use std::collections::BTreeMap;

/// Why a configuration edit did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigChangeError {
    /// Refused by the rules or by AWS validation; the rejection names the fields.
    #[error("{0}")]
    Rejected(Rejection),
    /// An AWS call failed (AWS's code and message).
    #[error("aws: {0}")]
    Aws(String),
    /// Recording is impossible right now.
    #[error("{0}")]
    Unavailable(String),
}

impl From<AppError> for ConfigChangeError {
    fn from(error: AppError) -> Self {
        match error {
            AppError::Rejected(r) => ConfigChangeError::Rejected(r),
            other => ConfigChangeError::Unavailable(other.to_string()),
        }
    }
}

fn aws_error(error: ComputeError) -> ConfigChangeError {
    match error {
        ComputeError::Invalid(fields) => ConfigChangeError::Rejected(Rejection::invalid(fields)),
        other => ConfigChangeError::Aws(other.to_string()),
    }
}

impl Engine {
    /// The user data of pool `id` with `spec`, carrying that pool's bootstrap token only.
    fn script(&self, id: PoolId, spec: &PoolSpec) -> String {
        let token = self.secrets.pool_bootstrap_token(id.0);
        let context = ScriptContext {
            public_url: &self.settings.public_url,
            bootstrap_token: &token,
            runner_download_url: &self.settings.runner_download_url,
            public_key_pin: self.settings.public_key_pin.as_deref(),
        };
        render(spec, &context)
    }

    /// Checks a command against the current state without recording it.
    fn dry_run(&self, command: Command) -> Result<Vec<pacer_domain::Event>, ConfigChangeError> {
        let state = self.app.state();
        pacer_domain::decide(&state, command, self.app.now()).map_err(ConfigChangeError::Rejected)
    }

    /// The pool as it will be, for rendering its template.
    fn provisional_pool(
        &self,
        id: PoolId,
        project: ProjectId,
        spec: PoolSpec,
        template: Option<TemplateRef>,
    ) -> (TemplateSpec, PoolSpec) {
        let state = self.app.state();
        let pool = Pool { id, project, spec: spec.normalized(), template, warm: None };
        (TemplateSpec::for_pool(&state.config, &pool), pool.spec)
    }

    /// Creates a pool: rules, AWS validation, launch template, record.
    pub async fn create_pool(
        &self,
        meta: Meta,
        project: ProjectId,
        spec: PoolSpec,
    ) -> Result<Vec<Recorded>, ConfigChangeError> {
        let _edit = self.config_lock.lock().await;
        let events = self.dry_run(Command::CreatePool { project, spec: spec.clone(), template: None })?;
        let id = events
            .iter()
            .find_map(|e| match e {
                pacer_domain::Event::PoolCreated(c) => Some(c.id),
                _ => None,
            })
            .ok_or_else(|| ConfigChangeError::Unavailable("no pool id".into()))?;
        let spec = spec.normalized();
        self.compute.validate_pool(&spec).await.map_err(aws_error)?;
        let (template_spec, spec) = self.provisional_pool(id, project, spec, None);
        let template = materialize(&*self.compute, None, &template_spec, &self.script(id, &spec))
            .await
            .map_err(aws_error)?;
        let command = Command::CreatePool { project, spec, template: Some(template.clone()) };
        match self.app.execute(command, meta).await {
            Ok(records) => Ok(records),
            Err(error) => {
                if let Err(cleanup) = self.compute.delete_template(&template.id).await {
                    tracing::warn!(template = %template.id, %cleanup, "could not delete the launch template of a pool that was not recorded");
                }
                Err(error.into())
            }
        }
    }

    /// Updates a project; its tags cascade onto its pools' launch templates, so a pool whose
    /// template no longer matches gets a new default version at once (a template that cannot
    /// be updated now is retried by the next sync, and the `templates` health says so).
    pub async fn update_project(
        &self,
        meta: Meta,
        id: ProjectId,
        spec: ProjectSpec,
    ) -> Result<Vec<Recorded>, ConfigChangeError> {
        let records = self.app.execute(Command::UpdateProject { id, spec }, meta.clone()).await?;
        self.sync_templates_as(&meta).await;
        Ok(records)
    }

    /// Updates a pool: rules, AWS validation, a new default template version, record.
    pub async fn update_pool(
        &self,
        meta: Meta,
        id: PoolId,
        spec: PoolSpec,
    ) -> Result<Vec<Recorded>, ConfigChangeError> {
        let _edit = self.config_lock.lock().await;
        self.dry_run(Command::UpdatePool { id, spec: spec.clone(), template: None })?;
        let (project, existing) = {
            let state = self.app.state();
            let pool =
                state.config.pool(id).ok_or_else(|| ConfigChangeError::Rejected(Rejection::not_found(id)))?;
            (pool.project, pool.template.clone())
        };
        let spec = spec.normalized();
        self.compute.validate_pool(&spec).await.map_err(aws_error)?;
        let (template_spec, spec) = self.provisional_pool(id, project, spec, existing.clone());
        let template =
            materialize(&*self.compute, existing.as_ref(), &template_spec, &self.script(id, &spec))
                .await
                .map_err(aws_error)?;
        let command = Command::UpdatePool { id, spec, template: Some(template.clone()) };
        match self.app.execute(command, meta).await {
            Ok(records) => Ok(records),
            Err(error) => {
                self.undo_version(existing.as_ref(), &template).await;
                Err(error.into())
            }
        }
    }

    /// Restores the previous default after a new version could not be recorded.
    async fn undo_version(&self, previous: Option<&TemplateRef>, created: &TemplateRef) {
        match previous {
            Some(previous) => {
                let restored = self.compute.set_default_version(&previous.id, previous.version).await;
                let deleted = self.compute.delete_template_version(&created.id, created.version).await;
                if let (Err(e), _) | (_, Err(e)) = (restored, deleted) {
                    tracing::warn!(template = %created.id, %e, "could not undo a launch template version");
                }
            }
            None => {
                if let Err(e) = self.compute.delete_template(&created.id).await {
                    tracing::warn!(template = %created.id, %e, "could not delete an unrecorded launch template");
                }
            }
        }
    }

    /// Brings every pool's launch template up to date ([`Engine::sync_templates`]), recording
    /// the `templates` health.
    pub async fn sync_templates_recording_health(&self) {
        self.sync_templates_as(&Meta::by(pacer_domain::Actor::System)).await;
    }

    /// [`Engine::sync_templates_recording_health`] for a change `meta` made, recorded as its.
    async fn sync_templates_as(&self, meta: &Meta) {
        let synced = self.sync_templates(meta).await;
        if let Err(problem) = &synced {
            tracing::warn!(%problem, "some launch templates could not be brought up to date");
        }
        self.health("templates", synced).await;
    }

    /// Brings every pool's launch template in line with what Pacer would write now (public URL,
    /// bootstrap token, script version): a pool whose recorded fingerprint differs gets a new
    /// default version. Run at start, before the dispatcher launches anything.
    async fn sync_templates(&self, meta: &Meta) -> Result<(), String> {
        let _edit = self.config_lock.lock().await;
        let pools: Vec<Pool> = self.app.state().config.pools.values().cloned().collect();
        let mut problems = Vec::new();
        for pool in pools {
            let spec = TemplateSpec::for_pool(&self.app.state().config, &pool);
            let user_data = self.script(pool.id, &pool.spec);
            if pool.template.as_ref().is_some_and(|t| t.fingerprint == spec.fingerprint(&user_data)) {
                continue;
            }
            match materialize(&*self.compute, pool.template.as_ref(), &spec, &user_data).await {
                Ok(template) => {
                    tracing::info!(pool = %pool.spec.name, version = template.version, "launch template brought up to date");
                    let command = Command::RecordTemplate { pool: pool.id, template };
                    if let Err(error) = self.app.execute(command, meta.clone()).await {
                        problems.push(format!("pool {}: {error}", pool.spec.name));
                    }
                }
                Err(error) => problems.push(format!("pool {}: {error}", pool.spec.name)),
            }
        }
        if problems.is_empty() { Ok(()) } else { Err(problems.join("; ")) }
    }

    /// Copies a pool under a free name (`<name>-copy`, `<name>-copy-2`, …).
    pub async fn copy_pool(
        &self,
        meta: Meta,
        id: PoolId,
        name: Option<String>,
    ) -> Result<Vec<Recorded>, ConfigChangeError> {
        let (project, mut spec) = {
            let state = self.app.state();
            let pool =
                state.config.pool(id).ok_or_else(|| ConfigChangeError::Rejected(Rejection::not_found(id)))?;
            let taken = |candidate: &str| {
                let label = pacer_domain::sanitize(candidate);
                state.config.pools_of(pool.project).any(|p| pacer_domain::sanitize(&p.spec.name) == label)
            };
            let name = name.unwrap_or_else(|| {
                let base = format!("{}-copy", pool.spec.name);
                (1..)
                    .map(|n| if n == 1 { base.clone() } else { format!("{base}-{n}") })
                    .find(|c| !taken(c))
                    .unwrap_or(base)
            });
            let mut spec = pool.spec.clone();
            spec.name = name;
            (pool.project, spec)
        };
        spec.is_default = false;
        // A pool saved before the strategy was fixed for its launch method copies as it runs.
        if let Some((fixed, _)) = spec.spawn_method.fixed_allocation() {
            spec.allocation_strategy = fixed;
        }
        self.create_pool(meta, project, spec).await
    }

    /// Deletes a pool and then its launch template.
    pub async fn delete_pool(&self, meta: Meta, id: PoolId) -> Result<Vec<Recorded>, ConfigChangeError> {
        let _edit = self.config_lock.lock().await;
        let records = self.app.execute(Command::DeletePool { id }, meta).await?;
        for record in &records {
            if let pacer_domain::Event::PoolDeleted(deleted) = &record.event
                && let Some(template) = &deleted.template
                && let Err(e) = self.compute.delete_template(&template.id).await
            {
                tracing::warn!(template = %template.id, %e, "pool deleted but its launch template remains");
            }
        }
        Ok(records)
    }

    /// Plans an import without changing anything (the dry run).
    pub fn plan_backup(&self, backup: &Backup) -> Result<ImportPlan, Rejection> {
        plan_import(&self.app.state(), backup, &BTreeMap::new())
    }

    /// Imports a backup: plan, validate every pool against AWS, (re-)materialise every pool's
    /// template, record it all in one command. Any failure undoes the AWS side and changes
    /// nothing.
    pub async fn import_backup(
        &self,
        meta: Meta,
        backup: Backup,
    ) -> Result<(ImportPlan, Vec<Recorded>), ConfigChangeError> {
        let _edit = self.config_lock.lock().await;
        let plan = self.plan_backup(&backup).map_err(ConfigChangeError::Rejected)?;
        let mut errors = Vec::new();
        for (i, (_, spec)) in plan.pools.iter().enumerate() {
            if let Err(ComputeError::Invalid(fields)) = self.compute.validate_pool(spec).await {
                errors.extend(
                    fields.into_iter().map(|f| FieldError::new(format!("pools[{i}].{}", f.field), f.message)),
                );
            }
        }
        if !errors.is_empty() {
            return Err(ConfigChangeError::Rejected(Rejection::invalid(errors)));
        }
        // Existing pools keep their template id; new ones get a new template.
        let existing: BTreeMap<(String, String), (PoolId, ProjectId, Option<TemplateRef>)> = {
            let state = self.app.state();
            state
                .config
                .pools
                .values()
                .filter_map(|p| {
                    let project = state.config.project(p.project)?;
                    let key = (project.spec.name.to_ascii_lowercase(), p.spec.name.to_ascii_lowercase());
                    Some((key, (p.id, p.project, p.template.clone())))
                })
                .collect()
        };
        let next_pool = self.app.state().config.next_pool.max(1);
        let mut made: Vec<(Option<TemplateRef>, TemplateRef)> = Vec::new();
        let mut templates = BTreeMap::new();
        let mut new_pools = 0;
        for (key, spec) in &plan.pools {
            let (id, project, previous) = match existing.get(key) {
                Some((id, project, template)) => (*id, *project, template.clone()),
                None => {
                    new_pools += 1;
                    let project =
                        self.app.state().config.project_named(&key.0).map(|p| p.id).unwrap_or(ProjectId(0));
                    (PoolId(next_pool + new_pools - 1), project, None)
                }
            };
            let (template_spec, spec) = self.provisional_pool(id, project, spec.clone(), previous.clone());
            match materialize(&*self.compute, previous.as_ref(), &template_spec, &self.script(id, &spec))
                .await
            {
                Ok(template) => {
                    made.push((previous, template.clone()));
                    templates.insert(key.clone(), template);
                }
                Err(error) => {
                    for (previous, created) in &made {
                        self.undo_version(previous.as_ref(), created).await;
                    }
                    return Err(aws_error(error));
                }
            }
        }
        match self.app.execute(Command::ImportBackup { backup, templates }, meta).await {
            Ok(records) => Ok((plan, records)),
            Err(error) => {
                for (previous, created) in &made {
                    self.undo_version(previous.as_ref(), created).await;
                }
                Err(error.into())
            }
        }
    }

    /// Records an export and returns the document.
    pub async fn export_backup(&self, meta: Meta) -> Result<Backup, ConfigChangeError> {
        let backup = Backup::export(&self.app.state().config, self.app.now());
        self.app.execute(Command::RecordExport(ConfigCounts { ..backup.counts() }), meta).await?;
        Ok(backup)
    }

    /// Rotates every pool's bootstrap token (a new key): the previous ones stay valid for the
    /// longest max runtime (plus boot time), and every pool's template gets a new version.
    pub async fn rotate_bootstrap_token(&self, meta: Meta) -> Result<Vec<Reversioned>, ConfigChangeError> {
        let _edit = self.config_lock.lock().await;
        let valid_until = self.token_grace_end();
        let fingerprint = self
            .secrets
            .rotate_bootstrap(valid_until)
            .await
            .map_err(|e| ConfigChangeError::Unavailable(format!("cannot store the new token: {e}")))?;
        let command = Command::RotateBootstrapToken { fingerprint, previous_valid_until: valid_until };
        self.app.execute(command, meta.clone()).await?;
        let pools: Vec<Pool> = self.app.state().config.pools.values().cloned().collect();
        self.reversion(pools, &meta).await
    }

    /// Rotates one pool's bootstrap token: its previous one stays valid for the longest max
    /// runtime (plus boot time), other pools keep theirs, and its template gets a new version.
    pub async fn rotate_pool_bootstrap_token(
        &self,
        meta: Meta,
        id: PoolId,
    ) -> Result<Vec<Reversioned>, ConfigChangeError> {
        let _edit = self.config_lock.lock().await;
        let valid_until = self.token_grace_end();
        let command = Command::RotatePoolBootstrapToken { pool: id, previous_valid_until: valid_until };
        self.dry_run(command.clone())?;
        self.secrets
            .rotate_pool_bootstrap(id.0, valid_until)
            .await
            .map_err(|e| ConfigChangeError::Unavailable(format!("cannot store the new token: {e}")))?;
        self.app.execute(command, meta.clone()).await?;
        let pool = self.app.state().config.pool(id).cloned();
        self.reversion(pool.into_iter().collect(), &meta).await
    }

    /// When a rotated-out bootstrap token stops working: the longest max runtime plus 15
    /// minutes, so every instance launched with it has booted.
    fn token_grace_end(&self) -> pacer_domain::Timestamp {
        self.app.now().plus_millis(self.longest_runtime_ms() + 15 * MINUTE_MS)
    }

    /// Gives each pool's template a new version with its current token; a pool whose template
    /// cannot be re-versioned keeps its previous token (valid for its grace) until saved again.
    async fn reversion(&self, pools: Vec<Pool>, meta: &Meta) -> Result<Vec<Reversioned>, ConfigChangeError> {
        let mut outcomes = Vec::new();
        for pool in pools {
            let outcome = match &pool.template {
                None => Err("it has no launch template yet: saving the pool creates one".to_owned()),
                Some(existing) => {
                    let spec = TemplateSpec::for_pool(&self.app.state().config, &pool);
                    match materialize(
                        &*self.compute,
                        Some(existing),
                        &spec,
                        &self.script(pool.id, &pool.spec),
                    )
                    .await
                    {
                        Ok(template) => {
                            let version = template.version;
                            let command = Command::UpdatePool {
                                id: pool.id,
                                spec: pool.spec.clone(),
                                template: Some(template),
                            };
                            self.app.execute(command, meta.clone()).await?;
                            Ok(version)
                        }
                        Err(error) => {
                            tracing::warn!(pool = %pool.spec.name, %error, "pool keeps the previous token until saved again");
                            Err(format!("{error}; it keeps its previous token until saved again"))
                        }
                    }
                }
            };
            outcomes.push(Reversioned { pool: pool.id, name: pool.spec.name.clone(), outcome });
        }
        Ok(outcomes)
    }
}

/// What a rotation did to one pool's launch template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reversioned {
    /// The pool.
    pub pool: PoolId,
    /// Its name.
    pub name: String,
    /// The template's new default version, or why it was not re-materialised.
    pub outcome: Result<u64, String>,
}
