//! GraphQL variables of every input type: the first byte picks an operation taking one input
//! object or list, the rest is its variables as raw JSON (however broken).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static DOORS: LazyLock<pacer_server::fuzz::Doors> = LazyLock::new(pacer_server::fuzz::Doors::new);

const OPERATIONS: [&str; 9] = [
    "mutation($input: ProjectInput!) { createProject(input: $input) { id name } }",
    "mutation($id: ID!, $input: PoolInput!) { createPool(projectId: $id, input: $input) { id name } }",
    "mutation($input: RepoInput!) { bindRepo(input: $input) { fullName } }",
    "query($filter: JobFilter, $first: Int, $after: String) { jobs(filter: $filter, first: $first, after: $after) { totalCount } }",
    "query($filter: AuditFilter, $first: Int) { audit(filter: $filter, first: $first) { entries { seq } } }",
    "query($window: StatsWindow!) { stats(window: $window) { from to } }",
    "query($year: Int, $month: Int) { dailySeries(year: $year, month: $month) { date completed } }",
    "mutation($kind: RetentionKind!, $days: Int) { setRetention(kind: $kind, days: $days) { retention { kind days } } }",
    "mutation($email: String!) { disableUser(email: $email) { email } }",
];

fuzz_target!(|data: &[u8]| {
    let Some((pick, variables)) = data.split_first() else { return };
    let status = DOORS.graphql(OPERATIONS[usize::from(*pick) % OPERATIONS.len()], variables);
    assert!(status == 200 || status == 400, "graphql answered {status}");
});
