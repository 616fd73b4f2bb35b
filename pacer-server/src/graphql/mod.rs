//! The GraphQL API: roots merged per area (`query.rs`, `mutation.rs`, `subscription.rs`, and
//! `inventory.rs`: the AWS account's AMIs, subnets, security groups and instance profiles for
//! the pool editor) over the API's own mirror types (`types.rs`); `POST /graphql` for queries
//! and mutations, the `graphql-transport-ws` WebSocket on the same path for subscriptions,
//! GraphiQL on `GET /graphql`. Every operation needs a session unless auth is disabled; refusals
//! come back as GraphQL errors with `extensions.code` and, for bad input, `extensions.field`.
//! The SDL is committed as `pacer-server/schema.graphql` and a test fails when it drifts.

mod inventory;
mod mutation;
mod query;
pub(crate) mod scalars;
mod subscription;
pub(crate) mod summary;
pub(crate) mod types;
mod warm;

use crate::app_setup::AppSetup;
use crate::auth::{Auth, Principal};
use crate::engine::{ConfigChangeError, Engine};
use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest};
use async_graphql::{Context, ErrorExtensions, ID, PathSegment, Pos, Request, Schema, ServerResult};
use pacer_domain::{Rejection, RejectionCode};
use std::sync::Arc;

use inventory::InventoryQuery;
pub(crate) use mutation::Mutation;
pub(crate) use query::Query;
pub use subscription::QUEUE as SUBSCRIBER_QUEUE;
pub(crate) use subscription::Subscribers;
pub(crate) use subscription::Subscription;

/// Pacer's GraphQL schema: the merged query, mutation and subscription roots.
pub type PacerSchema = Schema<Query, Mutation, Subscription>;

/// Nesting deeper than this is refused (the standard introspection query needs about 15).
pub(crate) const MAX_DEPTH: usize = 20;
/// Queries costlier than this are refused.
pub(crate) const MAX_COMPLEXITY: usize = 5_000;

/// Builds the schema over `engine`.
pub fn schema(engine: Arc<Engine>, auth: Arc<Auth>, github_app: Arc<AppSetup>) -> PacerSchema {
    let subscribers = Arc::new(Subscribers::new(engine.metrics.subscriptions_gauge()));
    Schema::build(Query::default(), Mutation::default(), Subscription::default())
        .data(engine)
        .data(auth)
        .data(github_app)
        .data(subscribers)
        .extension(SessionCheck)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .finish()
}

/// Re-checks, before every operation on a WebSocket, that the session the socket was opened
/// with is still live: a socket outliving a logout, an expiry or a disabled user answers
/// nothing more (and is closed by its connection task).
struct SessionCheck;

impl ExtensionFactory for SessionCheck {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(SessionCheck)
    }
}

#[async_trait::async_trait]
impl Extension for SessionCheck {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        // A WebSocket's principal is its connection's data; a POST's was read for this request.
        let socket = ctx.session_data.get(&std::any::TypeId::of::<Principal>());
        if let Some(principal) = socket.and_then(|p| p.downcast_ref::<Principal>())
            && let (Some(auth), Some(engine)) = (ctx.data_opt::<Arc<Auth>>(), ctx.data_opt::<Arc<Engine>>())
            && !auth.still_valid(engine, principal)
        {
            return Err(error(ErrorCode::Unauthenticated, "the session ended; sign in again")
                .into_server_error(Pos::default()));
        }
        next.run(ctx, request).await
    }
}

/// `list`, or an `INVALID_INPUT` error naming `field` when it holds more than `max` items.
pub(crate) fn bounded<T>(field: &str, list: Vec<T>, max: usize) -> async_graphql::Result<Vec<T>> {
    if list.len() > max {
        return Err(error(ErrorCode::InvalidInput, format!("{field} takes at most {max} items"))
            .extend_with_field(field));
    }
    Ok(list)
}

/// The SDL as committed in `schema.graphql`.
#[cfg(test)]
fn sdl() -> String {
    Schema::build(Query::default(), Mutation::default(), Subscription::default()).finish().sdl()
}

/// The `extensions.code` of every GraphQL error Pacer returns: what a client branches on
/// (the console reads them too, so the wire spellings never change).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrorCode {
    /// The input is wrong; `extensions.field` names the field when there is one.
    InvalidInput,
    /// What the request names does not exist.
    NotFound,
    /// The request contradicts the current state (a name taken, a stale edit).
    Conflict,
    /// Refused for now; the same request may succeed later.
    TryLater,
    /// What the request names existed but is gone.
    Gone,
    /// AWS refused a configuration edit (its message says why).
    AwsError,
    /// Pacer cannot record or read events right now.
    Unavailable,
    /// A subscriber fell behind the log and must subscribe again.
    Resync,
    /// No valid session.
    Unauthenticated,
    /// The HTTP body is not a GraphQL request.
    BadRequest,
}

impl ErrorCode {
    /// The wire spelling (upper snake case).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidInput => "INVALID_INPUT",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::TryLater => "TRY_LATER",
            ErrorCode::Gone => "GONE",
            ErrorCode::AwsError => "AWS_ERROR",
            ErrorCode::Unavailable => "UNAVAILABLE",
            ErrorCode::Resync => "RESYNC",
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::BadRequest => "BAD_REQUEST",
        }
    }
}

impl From<RejectionCode> for ErrorCode {
    fn from(code: RejectionCode) -> Self {
        match code {
            RejectionCode::Invalid => ErrorCode::InvalidInput,
            RejectionCode::NotFound => ErrorCode::NotFound,
            RejectionCode::Conflict => ErrorCode::Conflict,
            RejectionCode::TryLater => ErrorCode::TryLater,
            RejectionCode::Gone => ErrorCode::Gone,
        }
    }
}

/// A GraphQL error with a code.
pub(crate) fn error(code: ErrorCode, message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code.as_str()))
}

/// Adds `extensions.field` (the input field an error is about) to GraphQL errors.
pub(crate) trait WithField {
    /// The error, naming `field`.
    fn extend_with_field(self, field: &str) -> async_graphql::Error;
}

impl WithField for async_graphql::Error {
    fn extend_with_field(self, field: &str) -> async_graphql::Error {
        let field = field.to_owned();
        self.extend_with(move |_, e| e.set("field", field.clone()))
    }
}

/// The number in a numeric `ID` argument, or an `INVALID_INPUT` error naming `field`.
pub(crate) fn parse_id(field: &str, id: &ID) -> async_graphql::Result<u64> {
    id.parse::<u64>().map_err(|_| {
        error(ErrorCode::InvalidInput, format!("{field} must be a numeric id")).extend_with_field(field)
    })
}

/// The principal of the request.
pub(crate) fn principal<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Principal> {
    ctx.data::<Principal>()
}

/// Pacer's GitHub App and its creation.
pub(crate) fn github_app<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Arc<AppSetup>> {
    ctx.data::<Arc<AppSetup>>()
}

/// The engine.
pub(crate) fn engine<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Arc<Engine>> {
    ctx.data::<Arc<Engine>>()
}

/// A rejection as GraphQL errors: the first is returned, one more is added per further field.
pub(crate) fn rejected(ctx: &Context<'_>, rejection: Rejection) -> async_graphql::Error {
    let code = ErrorCode::from(rejection.code);
    let mut fields = rejection.fields.into_iter();
    let Some(first) = fields.next() else { return error(code, rejection.message) };
    for field in fields {
        let extra = async_graphql::Error::new(field.message.clone()).extend_with(|_, e| {
            e.set("code", code.as_str());
            e.set("field", field.field.clone());
        });
        let mut server = extra.into_server_error(ctx.item.pos);
        server.path = ctx
            .path_node
            .map(|p| p.to_string_vec().into_iter().map(PathSegment::Field).collect())
            .unwrap_or_default();
        ctx.add_error(server);
    }
    async_graphql::Error::new(first.message.clone()).extend_with(|_, e| {
        e.set("code", code.as_str());
        e.set("field", first.field.clone());
    })
}

/// A configuration edit's error as GraphQL errors.
pub(crate) fn config_error(ctx: &Context<'_>, error: ConfigChangeError) -> async_graphql::Error {
    match error {
        ConfigChangeError::Rejected(rejection) => rejected(ctx, rejection),
        ConfigChangeError::Aws(message) => self::error(ErrorCode::AwsError, message),
        ConfigChangeError::Unavailable(message) => self::error(ErrorCode::Unavailable, message),
    }
}

/// An engine command's error as GraphQL errors.
pub(crate) fn app_error(ctx: &Context<'_>, error: crate::app::AppError) -> async_graphql::Error {
    match error {
        crate::app::AppError::Rejected(rejection) => rejected(ctx, rejection),
        other => self::error(ErrorCode::Unavailable, other.to_string()),
    }
}

/// Field errors from converting an input, as a rejection.
pub(crate) fn invalid(ctx: &Context<'_>, fields: Vec<pacer_domain::FieldError>) -> async_graphql::Error {
    rejected(ctx, Rejection::invalid(fields))
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;
    use pacer_domain::RejectionCode;

    #[test]
    fn error_codes_keep_their_wire_spellings() {
        let rejections = [
            (RejectionCode::Invalid, "INVALID_INPUT"),
            (RejectionCode::NotFound, "NOT_FOUND"),
            (RejectionCode::Conflict, "CONFLICT"),
            (RejectionCode::TryLater, "TRY_LATER"),
            (RejectionCode::Gone, "GONE"),
        ];
        for (rejection, wire) in rejections {
            assert_eq!(ErrorCode::from(rejection).as_str(), wire);
        }
        let others = [
            (ErrorCode::AwsError, "AWS_ERROR"),
            (ErrorCode::Unavailable, "UNAVAILABLE"),
            (ErrorCode::Resync, "RESYNC"),
            (ErrorCode::Unauthenticated, "UNAUTHENTICATED"),
            (ErrorCode::BadRequest, "BAD_REQUEST"),
        ];
        for (code, wire) in others {
            assert_eq!(code.as_str(), wire);
        }
    }

    /// README's list of the stages `Job.failure.stage` takes, in the bullet "Why a job failed":
    /// each stage is a backquoted name followed by its meaning in parentheses.
    #[test]
    fn the_readme_lists_every_failure_stage_and_nothing_else() {
        use pacer_domain::FailureStage;
        use std::collections::BTreeSet;
        // A new stage stops this from building until it is in `FailureStage::ALL` (and README).
        let _ = |stage: FailureStage| match stage {
            FailureStage::GitHub
            | FailureStage::Spawn
            | FailureStage::Bootstrap
            | FailureStage::Ec2
            | FailureStage::Config => (),
        };
        let readme = std::fs::read_to_string(crate::manifest_dir().join("../README.md")).expect("README.md");
        let bullet = readme.split("- **Why a job failed:**").nth(1).expect("README has the failure stages");
        let bullet = bullet.split("\n- **").next().unwrap_or(bullet);
        let listed: BTreeSet<&str> = bullet
            .split('`')
            .collect::<Vec<_>>()
            .windows(2)
            .skip(1)
            .step_by(2)
            .filter(|pair| pair[1].starts_with(" ("))
            .map(|pair| pair[0])
            .collect();
        let mut stages: BTreeSet<&str> = FailureStage::ALL.iter().map(|s| s.as_str()).collect();
        stages.insert("max_runtime");
        assert_eq!(listed, stages, "README's failure stages, against the code's");
    }

    #[test]
    fn the_committed_schema_matches_the_code() {
        let path = crate::manifest_dir().join("schema.graphql");
        let sdl = super::sdl();
        if std::env::var_os("PACER_BLESS").is_some() {
            std::fs::write(&path, &sdl).expect("write schema.graphql");
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == sdl,
            "pacer-server/schema.graphql differs from the code; review the change, then run \
             PACER_BLESS=1 cargo test -p pacer-server --lib the_committed_schema"
        );
    }
}
