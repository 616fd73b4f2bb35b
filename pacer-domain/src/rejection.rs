//! Refusals as data. `decide` is the only place that refuses anything; a rejection says what
//! kind of refusal it is (mapped by hosts to an HTTP status or a GraphQL error code) and, for
//! bad input, which fields are wrong and why.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The kind of refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RejectionCode {
    /// The input is malformed or breaks a rule; see the field errors.
    Invalid,
    /// The thing the command names does not exist.
    NotFound,
    /// The command conflicts with the current state (a name taken, a guard not met).
    Conflict,
    /// Not possible yet; the same request may succeed later (e.g. a runner asking before its
    /// launch is recorded).
    TryLater,
    /// Possible once, and already done (e.g. a second bootstrap of one instance).
    Gone,
}

impl RejectionCode {
    /// Stable upper-case code used in API errors.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectionCode::Invalid => "INVALID_INPUT",
            RejectionCode::NotFound => "NOT_FOUND",
            RejectionCode::Conflict => "CONFLICT",
            RejectionCode::TryLater => "TRY_LATER",
            RejectionCode::Gone => "GONE",
        }
    }
}

/// One field that is wrong, and why.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FieldError {
    /// The field's path, e.g. `name`, `instance_types[1]`, `projects[0].pools[2].ami_id`.
    pub field: String,
    /// Lower-case reason without a full stop.
    pub message: String,
}

impl FieldError {
    /// A field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }

    /// The same error with its field path placed under `prefix`.
    pub fn under(mut self, prefix: &str) -> Self {
        self.field = if self.field.is_empty() {
            prefix.to_owned()
        } else if self.field.starts_with('[') {
            format!("{prefix}{}", self.field)
        } else {
            format!("{prefix}.{}", self.field)
        };
        self
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// A refused command. Nothing changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// The kind of refusal.
    pub code: RejectionCode,
    /// Lower-case summary without a full stop.
    pub message: String,
    /// The fields at fault (empty when the refusal is not about one field).
    pub fields: Vec<FieldError>,
}

impl Rejection {
    /// Bad input in one or more fields. The message summarises the first.
    pub fn invalid(fields: Vec<FieldError>) -> Self {
        let message = match fields.as_slice() {
            [] => "invalid input".to_owned(),
            [one] => one.to_string(),
            [first, rest @ ..] => format!("{first} (and {} more)", rest.len()),
        };
        Self { code: RejectionCode::Invalid, message, fields }
    }

    /// Bad input in one field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::invalid(vec![FieldError::new(field, message)])
    }

    /// The named thing does not exist.
    pub fn not_found(what: impl fmt::Display) -> Self {
        Self { code: RejectionCode::NotFound, message: format!("{what} not found"), fields: vec![] }
    }

    /// A conflict with the current state, optionally about one field.
    pub fn conflict(field: Option<&str>, message: impl Into<String>) -> Self {
        let message = message.into();
        let fields = field.map(|f| vec![FieldError::new(f, message.clone())]).unwrap_or_default();
        Self { code: RejectionCode::Conflict, message, fields }
    }

    /// Not possible yet; retry later.
    pub fn try_later(message: impl Into<String>) -> Self {
        Self { code: RejectionCode::TryLater, message: message.into(), fields: vec![] }
    }

    /// Already done; will never succeed again.
    pub fn gone(message: impl Into<String>) -> Self {
        Self { code: RejectionCode::Gone, message: message.into(), fields: vec![] }
    }

    /// Fails with `Invalid` when `fields` is not empty.
    pub fn check(fields: Vec<FieldError>) -> Result<(), Rejection> {
        if fields.is_empty() { Ok(()) } else { Err(Self::invalid(fields)) }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Rejection {}
