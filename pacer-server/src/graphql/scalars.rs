//! Custom scalars: `BigInt` (64-bit integers as decimal strings, for GitHub ids and money) and
//! `DateTime` (RFC 3339 UTC with milliseconds), read by the domain's one parser
//! ([`Timestamp::parse_rfc3339`], or a bare `YYYY-MM-DD` as that day's midnight UTC) and written
//! by [`Timestamp`]'s `Display`.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use pacer_domain::Timestamp;

/// A 64-bit integer as a decimal string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BigInt(pub i64);

/// A 64-bit signed integer as a decimal string, e.g. `"4242424242"` (GitHub ids exceed 2^31;
/// money is in micro-dollars); as input, a JSON number is accepted too.
#[Scalar(name = "BigInt")]
impl ScalarType for BigInt {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => {
                s.trim().parse().map(BigInt).map_err(|_| InputValueError::custom("not a 64-bit integer"))
            }
            Value::Number(n) => {
                n.as_i64().map(BigInt).ok_or_else(|| InputValueError::custom("not a 64-bit integer"))
            }
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

impl From<u64> for BigInt {
    fn from(value: u64) -> Self {
        BigInt(i64::try_from(value).unwrap_or(i64::MAX))
    }
}

/// An instant in UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DateTime(pub Timestamp);

/// An instant, written in UTC as RFC 3339 with milliseconds: `2026-11-29T00:46:07.123Z`. As
/// input, an RFC 3339 time (`Z` or an offset) or a bare date `YYYY-MM-DD`, read as that day's
/// midnight UTC.
#[Scalar(name = "DateTime")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => {
                let t = Timestamp::parse_rfc3339(s.trim())
                    .or_else(|| pacer_domain::Date::parse(s.trim()).map(|d| d.start()))
                    .ok_or_else(|| {
                        InputValueError::custom("expected an RFC 3339 time like 2026-11-29T00:00:00Z")
                    })?;
                Ok(DateTime(t))
            }
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

impl From<Timestamp> for DateTime {
    fn from(t: Timestamp) -> Self {
        DateTime(t)
    }
}
