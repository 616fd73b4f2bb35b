//! Errors of AWS calls as the operator reads them: every failure carries AWS's code and
//! message, and a class (capacity / throttling / permanent) decided by
//! [`pacer_domain::ErrorClass::of`]. Failures that never reached AWS (time-outs, connection
//! errors, 5xx without a code) are transient and classed as throttling, so a slow or absent
//! AWS makes jobs wait instead of failing them.

#[cfg(feature = "ec2")]
use aws_sdk_ec2::config::http::HttpResponse;
#[cfg(feature = "ec2")]
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use pacer_domain::{ErrorClass, FieldError, LaunchError};

/// A failed [`crate::Compute`] call other than a launch.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ComputeError {
    /// AWS refused or failed the call.
    #[error("aws error {0}")]
    Aws(LaunchError),
    /// A pool failed validation against AWS; nothing was written.
    #[error("invalid pool: {}", join_fields(.0))]
    Invalid(Vec<FieldError>),
    /// A terminate, stop or start named instances that do not carry `gha:managed-by=pacer`;
    /// nothing was called.
    #[error("refusing to change instances not managed by pacer: {}", .0.join(", "))]
    NotManaged(Vec<String>),
    /// AWS answered successfully but without something the call needs.
    #[error("unexpected aws response: {0}")]
    Unexpected(String),
}

impl ComputeError {
    /// How the caller should treat this failure.
    pub fn class(&self) -> ErrorClass {
        match self {
            ComputeError::Aws(e) => e.class,
            _ => ErrorClass::Permanent,
        }
    }

    /// AWS's error code, when the failure came from AWS.
    pub fn code(&self) -> Option<&str> {
        match self {
            ComputeError::Aws(e) => Some(&e.code),
            _ => None,
        }
    }
}

impl From<LaunchError> for ComputeError {
    fn from(e: LaunchError) -> Self {
        ComputeError::Aws(e)
    }
}

fn join_fields(fields: &[FieldError]) -> String {
    fields.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// A transient failure that never got an AWS error code.
#[cfg(feature = "ec2")]
fn transient(code: &str, message: String) -> LaunchError {
    LaunchError { class: ErrorClass::Throttling, code: code.to_owned(), message }
}

/// Turns any SDK error (EC2, IAM or Pricing: they share one error type) into AWS's code and
/// message, classified.
#[cfg(feature = "ec2")]
pub(crate) fn from_sdk<E>(err: &SdkError<E, HttpResponse>) -> LaunchError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let message = || err.message().map(str::to_owned).unwrap_or_else(|| DisplayErrorContext(err).to_string());
    if let Some(code) = err.code() {
        return LaunchError::new(code, message());
    }
    match err {
        SdkError::TimeoutError(_) => transient("TimeoutError", message()),
        SdkError::DispatchFailure(_) => transient("DispatchFailure", message()),
        SdkError::ResponseError(_) => transient("ResponseError", message()),
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            let code = format!("HttpStatus{status}");
            if status >= 500 || status == 429 {
                transient(&code, message())
            } else {
                LaunchError::new(code, message())
            }
        }
        _ => LaunchError::new("ConstructionFailure", message()),
    }
}

/// The outcome of a CreateFleet that returned no instance: capacity class when every listed
/// error is capacity class, otherwise the first permanent (then throttling) error decides.
/// Every listed error is kept in the message so the operator sees what each override said.
#[cfg(feature = "ec2")]
pub(crate) fn fleet_failure(errors: &[(String, String)]) -> LaunchError {
    if errors.is_empty() {
        return LaunchError::new(
            "UnfulfillableCapacity",
            "CreateFleet returned neither an instance nor an error",
        );
    }
    let rank = |code: &str| match ErrorClass::of(code) {
        ErrorClass::Permanent => 0,
        ErrorClass::Throttling => 1,
        ErrorClass::Capacity => 2,
    };
    let worst = errors.iter().min_by_key(|(code, _)| rank(code)).map(|(code, _)| code.clone());
    let code = worst.unwrap_or_default();
    let mut seen = Vec::new();
    for (c, m) in errors {
        let line = format!("{c}: {m}");
        if !seen.contains(&line) {
            seen.push(line);
        }
    }
    LaunchError::new(code, seen.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errs(codes: &[&str]) -> Vec<(String, String)> {
        codes.iter().map(|c| ((*c).to_owned(), format!("{c} happened"))).collect()
    }

    #[test]
    fn only_capacity_errors_make_a_capacity_failure() {
        let e = fleet_failure(&errs(&["InsufficientInstanceCapacity", "UnfulfillableCapacity"]));
        assert_eq!(e.class, ErrorClass::Capacity);
        assert!(e.message.contains("InsufficientInstanceCapacity: InsufficientInstanceCapacity happened"));
        assert!(e.message.contains("UnfulfillableCapacity"));
    }

    #[test]
    fn any_permanent_error_makes_the_failure_permanent() {
        let e = fleet_failure(&errs(&["InsufficientInstanceCapacity", "UnsupportedOperation"]));
        assert_eq!(e.class, ErrorClass::Permanent);
        assert_eq!(e.code, "UnsupportedOperation");
    }

    #[test]
    fn throttling_without_permanent_is_throttling() {
        let e = fleet_failure(&errs(&["InsufficientInstanceCapacity", "RequestLimitExceeded"]));
        assert_eq!(e.class, ErrorClass::Throttling);
    }

    #[test]
    fn an_empty_fleet_answer_is_capacity() {
        assert_eq!(fleet_failure(&[]).class, ErrorClass::Capacity);
    }

    #[test]
    fn compute_errors_read_well() {
        let e = ComputeError::Aws(LaunchError::new(
            "InvalidAMIID.NotFound",
            "The image id '[ami-1]' does not exist",
        ));
        assert_eq!(e.to_string(), "aws error InvalidAMIID.NotFound: The image id '[ami-1]' does not exist");
        assert_eq!(e.code(), Some("InvalidAMIID.NotFound"));
        let e = ComputeError::Invalid(vec![
            FieldError::new("ami_id", "x"),
            FieldError::new("subnet_ids[1]", "y"),
        ]);
        assert_eq!(e.to_string(), "invalid pool: ami_id: x; subnet_ids[1]: y");
        assert_eq!(e.class(), ErrorClass::Permanent);
    }
}
