//! The GraphQL documents not yet typed by cynic ([`super::ops`]). A host test parses
//! `pacer-server/schema.graphql` and validates each document in [`ALL`] against it (fields,
//! arguments, variable types, fragments), so a drift between the console and the server's
//! committed schema fails `cargo test`.

/// Fields of a job as a table row shows it.
macro_rules! job_row_fragment {
    () => {
        "fragment JobRow on Job { id githubJobId repo workflow jobName sender status projectName poolName \
         queuedAt launchedAt startedAt finishedAt durationSeconds instanceId cost { micros } }"
    };
}

/// Every field of a job, for the details modal.
macro_rules! job_detail_fragment {
    () => {
        "fragment JobDetail on Job { id githubJobId runId runAttempt repo workflow jobName branch sha sender \
         labels htmlUrl projectId projectName poolId poolName status attempts market queuedAt claimedAt \
         launchedAt startedAt finishedAt durationSeconds instanceId \
         instance { id instanceType availabilityZone market launchedAt registeredAt endedAt state } \
         runnerName pricePerHour { micros } cost { micros } failure { stage message logTail } \
         waitReason nextRetryAt timeline { seq at action actor summary } }"
    };
}

/// The overview tiles.
macro_rules! overview_fragment {
    () => {
        "fragment OverviewTiles on Overview { windowDays projects boundRepos queuedOrStarting running \
         completed failedOrReaped lastSeq }"
    };
}

/// Every field of a pool the table and editor use.
macro_rules! pool_fragment {
    () => {
        "fragment PoolFields on Pool { id projectId projectName name isDefault priority amiId instanceTypes \
         subnetIds securityGroupIds iamInstanceProfile rootVolumeGb maxRuntimeMinutes cap spot \
         onDemandFallback spawnMethod allocationStrategy extraLabels tags { key value } runnerVersion \
         runnerUser userDataExtra disabled launchTemplateId launchTemplateVersion runsOn activeJobs }"
    };
}

/// One stats row.
macro_rules! stats_row_fragment {
    () => {
        "fragment StatsRowFields on StatsRow { key label jobs completed failed cancelled reaped \
         runnerSeconds cost { micros } unpriced }"
    };
}

/// Wakes the banner whenever health changes.
pub(crate) const HEALTH_CHANGED: &str =
    "subscription HealthChanged { events(actions: [\"health.changed\"]) { seq action } }";

/// The overview tiles once.
pub(crate) const OVERVIEW: &str = concat!(
    "query Overview($windowDays: Int!) { overview(windowDays: $windowDays) { ...OverviewTiles } } ",
    overview_fragment!()
);

/// The overview tiles whenever they change.
pub(crate) const OVERVIEW_CHANGED: &str = concat!(
    "subscription OverviewChanged($windowDays: Int!) { overviewChanged(windowDays: $windowDays) \
     { ...OverviewTiles } } ",
    overview_fragment!()
);

/// Completed vs failed/reaped per day of a month (the current month when omitted).
pub(crate) const DAILY_SERIES: &str = "query DailySeries($year: Int, $month: Int) { \
     dailySeries(year: $year, month: $month) { date completed failedOrReaped } }";

/// Top projects and repos by estimated spend.
pub(crate) const SPEND: &str = "query Spend($window: StatsWindow, $limit: Int!) { \
     spend(window: $window, limit: $limit) { projects { name jobs cost { micros } } \
     repos { name jobs cost { micros } } } }";

/// One page of jobs, newest first.
pub(crate) const JOBS: &str = concat!(
    "query Jobs($filter: JobFilter, $first: Int!, $after: String) { \
     jobs(filter: $filter, first: $first, after: $after) { totalCount \
     pageInfo { hasNextPage endCursor } nodes { ...JobRow } } } ",
    job_row_fragment!()
);

/// Every job change, for the live table.
pub(crate) const JOB_CHANGED: &str =
    concat!("subscription JobChanged { jobChanged { ...JobRow } } ", job_row_fragment!());

/// One job in full.
pub(crate) const JOB: &str =
    concat!("query Job($id: ID!) { job(id: $id) { ...JobDetail } } ", job_detail_fragment!());

/// Changes of one job in full, for the open details modal.
pub(crate) const JOB_DETAIL_CHANGED: &str = concat!(
    "subscription JobDetailChanged($id: ID!) { jobChanged(id: $id) { ...JobDetail } } ",
    job_detail_fragment!()
);

/// Roll-ups over a window with the top senders of the same window.
pub(crate) const STATS: &str = concat!(
    "query Stats($window: StatsWindow!, $groupBy: StatsGroup!) { \
     stats(window: $window, groupBy: $groupBy) { from to groupBy \
     totals { ...StatsRowFields } rows { ...StatsRowFields } } \
     topSenders(window: $window, limit: 5) { sender jobs } } ",
    stats_row_fragment!()
);

/// One page of the audit log, newest first.
pub(crate) const AUDIT: &str = "query Audit($filter: AuditFilter, $first: Int!, $after: String) { \
     audit(filter: $filter, first: $first, after: $after) { failures \
     pageInfo { hasNextPage endCursor } \
     entries { seq at action actor target requestId failure summary payload } } }";

/// Every event name, for the audit filter.
pub(crate) const ACTIONS: &str = "query Actions { actions }";

/// Projects with what the table shows.
pub(crate) const PROJECTS: &str = "query Projects { projects { id name cap tags { key value } scope orgName \
     runnerGroupId disabled activeJobs pools { id } repos { fullName } } }";

/// Creates a project.
pub(crate) const CREATE_PROJECT: &str =
    "mutation CreateProject($input: ProjectInput!) { createProject(input: $input) { id name } }";

/// Replaces a project's settings.
pub(crate) const UPDATE_PROJECT: &str = "mutation UpdateProject($id: ID!, $input: ProjectInput!) { updateProject(id: $id, input: $input) { id name } }";

/// Deletes a project.
pub(crate) const DELETE_PROJECT: &str = "mutation DeleteProject($id: ID!) { deleteProject(id: $id) }";

/// Pools with the projects they can belong to.
pub(crate) const POOLS: &str =
    concat!("query Pools { pools { ...PoolFields } projects { id name scope } } ", pool_fragment!());

/// Creates (and materialises) a pool.
pub(crate) const CREATE_POOL: &str = concat!(
    "mutation CreatePool($projectId: ID!, $input: PoolInput!) { \
     createPool(projectId: $projectId, input: $input) { ...PoolFields } } ",
    pool_fragment!()
);

/// Replaces a pool's settings (re-versions its launch template).
pub(crate) const UPDATE_POOL: &str = concat!(
    "mutation UpdatePool($id: ID!, $input: PoolInput!) { updatePool(id: $id, input: $input) { ...PoolFields } } ",
    pool_fragment!()
);

/// Clones a pool under a new name.
pub(crate) const COPY_POOL: &str = concat!(
    "mutation CopyPool($id: ID!, $name: String) { copyPool(id: $id, name: $name) { ...PoolFields } } ",
    pool_fragment!()
);

/// Deletes a pool.
pub(crate) const DELETE_POOL: &str = "mutation DeletePool($id: ID!) { deletePool(id: $id) }";

/// Repo bindings with the projects they can be bound to.
pub(crate) const REPOS: &str = "query Repos { repos { fullName projectId projectName cap tags { key value } \
     activeJobs } projects { id name scope } }";

/// Binds a repo to a project.
pub(crate) const BIND_REPO: &str =
    "mutation BindRepo($input: RepoInput!) { bindRepo(input: $input) { fullName projectName } }";

/// Changes a binding's project, cap or tags.
pub(crate) const UPDATE_REPO: &str =
    "mutation UpdateRepo($input: RepoInput!) { updateRepo(input: $input) { fullName projectName } }";

/// Removes a binding.
pub(crate) const UNBIND_REPO: &str =
    "mutation UnbindRepo($fullName: String!) { unbindRepo(fullName: $fullName) }";

/// Previews (dry run) or applies a backup.
pub(crate) const IMPORT_BACKUP: &str = "mutation ImportBackup($json: String!, $dryRun: Boolean!) { \
     importBackup(json: $json, dryRun: $dryRun) { dryRun applied items { kind name action } \
     projectsCreated projectsUpdated poolsCreated poolsUpdated reposCreated reposUpdated \
     errors { field message } } }";

/// Every document with its name, for the schema check.
#[cfg(test)]
pub(crate) const ALL: &[(&str, &str)] = &[
    ("HEALTH_CHANGED", HEALTH_CHANGED),
    ("OVERVIEW", OVERVIEW),
    ("OVERVIEW_CHANGED", OVERVIEW_CHANGED),
    ("DAILY_SERIES", DAILY_SERIES),
    ("SPEND", SPEND),
    ("JOBS", JOBS),
    ("JOB_CHANGED", JOB_CHANGED),
    ("JOB", JOB),
    ("JOB_DETAIL_CHANGED", JOB_DETAIL_CHANGED),
    ("STATS", STATS),
    ("AUDIT", AUDIT),
    ("ACTIONS", ACTIONS),
    ("PROJECTS", PROJECTS),
    ("CREATE_PROJECT", CREATE_PROJECT),
    ("UPDATE_PROJECT", UPDATE_PROJECT),
    ("DELETE_PROJECT", DELETE_PROJECT),
    ("POOLS", POOLS),
    ("CREATE_POOL", CREATE_POOL),
    ("UPDATE_POOL", UPDATE_POOL),
    ("COPY_POOL", COPY_POOL),
    ("DELETE_POOL", DELETE_POOL),
    ("REPOS", REPOS),
    ("BIND_REPO", BIND_REPO),
    ("UPDATE_REPO", UPDATE_REPO),
    ("UNBIND_REPO", UNBIND_REPO),
    ("IMPORT_BACKUP", IMPORT_BACKUP),
];
