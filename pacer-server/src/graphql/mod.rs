//! The GraphQL API (SPEC §10): roots merged per area (`query.rs`, `mutation.rs`,
//! `subscription.rs`) over the API's own mirror types (`types.rs`); `POST /graphql` for queries
//! and mutations, the `graphql-transport-ws` WebSocket on the same path for subscriptions,
//! GraphiQL on `GET /graphql`. Every operation needs a session unless auth is disabled; refusals
//! come back as GraphQL errors with `extensions.code` and, for bad input, `extensions.field`.
//! The SDL is committed as `pacer-server/schema.graphql` and a test fails when it drifts.

mod mutation;
mod query;
pub mod scalars;
mod subscription;
pub mod summary;
pub mod types;

use crate::auth::{Auth, Principal};
use crate::engine::{ConfigChangeError, Engine};
use async_graphql::{Context, ErrorExtensions, PathSegment, Schema};
use pacer_domain::{Rejection, RejectionCode};
use std::sync::Arc;

pub use mutation::Mutation;
pub use query::Query;
pub use subscription::{QUEUE as SUBSCRIBER_QUEUE, Subscription};

/// The schema.
pub type PacerSchema = Schema<Query, Mutation, Subscription>;

/// Nesting deeper than this is refused (the standard introspection query needs about 15).
pub const MAX_DEPTH: usize = 20;
/// Queries costlier than this are refused.
pub const MAX_COMPLEXITY: usize = 5_000;

/// Builds the schema over `engine`.
pub fn schema(engine: Arc<Engine>, auth: Arc<Auth>) -> PacerSchema {
    Schema::build(Query::default(), Mutation::default(), Subscription::default())
        .data(engine)
        .data(auth)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .finish()
}

/// The SDL as committed in `schema.graphql`.
pub fn sdl() -> String {
    Schema::build(Query::default(), Mutation::default(), Subscription::default()).finish().sdl()
}

/// A GraphQL error with a code.
pub(crate) fn error(code: &'static str, message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code))
}

/// The principal of the request.
pub(crate) fn principal<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Principal> {
    ctx.data::<Principal>()
}

/// The engine.
pub(crate) fn engine<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Arc<Engine>> {
    ctx.data::<Arc<Engine>>()
}

fn code_of(code: RejectionCode) -> &'static str {
    match code {
        RejectionCode::Invalid => "INVALID_INPUT",
        RejectionCode::NotFound => "NOT_FOUND",
        RejectionCode::Conflict => "CONFLICT",
        RejectionCode::TryLater => "TRY_LATER",
        RejectionCode::Gone => "GONE",
    }
}

/// A rejection as GraphQL errors: the first is returned, one more is added per further field.
pub(crate) fn rejected(ctx: &Context<'_>, rejection: Rejection) -> async_graphql::Error {
    let code = code_of(rejection.code);
    let mut fields = rejection.fields.into_iter();
    let Some(first) = fields.next() else { return error(code, rejection.message) };
    for field in fields {
        let extra = async_graphql::Error::new(field.message.clone()).extend_with(|_, e| {
            e.set("code", code);
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
        e.set("code", code);
        e.set("field", first.field.clone());
    })
}

/// A configuration edit's error as GraphQL errors.
pub(crate) fn config_error(ctx: &Context<'_>, error: ConfigChangeError) -> async_graphql::Error {
    match error {
        ConfigChangeError::Rejected(rejection) => rejected(ctx, rejection),
        ConfigChangeError::Aws(message) => self::error("AWS_ERROR", message),
        ConfigChangeError::Unavailable(message) => self::error("UNAVAILABLE", message),
    }
}

/// An engine command's error as GraphQL errors.
pub(crate) fn app_error(ctx: &Context<'_>, error: crate::app::AppError) -> async_graphql::Error {
    match error {
        crate::app::AppError::Rejected(rejection) => rejected(ctx, rejection),
        other => self::error("UNAVAILABLE", other.to_string()),
    }
}

/// Field errors from converting an input, as a rejection.
pub(crate) fn invalid(ctx: &Context<'_>, fields: Vec<pacer_domain::FieldError>) -> async_graphql::Error {
    rejected(ctx, Rejection::invalid(fields))
}

#[cfg(test)]
mod tests {
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
