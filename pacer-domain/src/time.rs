//! Time as data: milliseconds since the Unix epoch (UTC), and the civil-calendar arithmetic
//! the projections need (UTC days, hours, months). The domain never reads a clock: every
//! instant arrives inside a command or a recorded event. `jiff` does the calendar: it parses
//! ([`Timestamp::parse_rfc3339`], the one parser the server, the GraphQL `DateTime` scalar and
//! the console share), formats, and converts between day numbers and civil dates.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Milliseconds in one second, minute, hour and day.
pub const SECOND_MS: i64 = 1_000;
/// Milliseconds in one minute.
pub const MINUTE_MS: i64 = 60 * SECOND_MS;
/// Milliseconds in one hour.
pub const HOUR_MS: i64 = 60 * MINUTE_MS;
/// Milliseconds in one day.
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// An instant in UTC with millisecond precision.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The instant `ms` milliseconds after the epoch.
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    /// Milliseconds since the epoch.
    pub const fn millis(self) -> i64 {
        self.0
    }

    /// This instant moved by `ms` milliseconds (saturating).
    pub const fn plus_millis(self, ms: i64) -> Self {
        Self(self.0.saturating_add(ms))
    }

    /// Milliseconds from `earlier` to `self`, never negative.
    pub fn millis_since(self, earlier: Timestamp) -> i64 {
        (self.0 - earlier.0).max(0)
    }

    /// The UTC day number (days since 1970-01-01).
    pub const fn day(self) -> i32 {
        self.0.div_euclid(DAY_MS) as i32
    }

    /// The UTC hour number (hours since the epoch).
    pub const fn hour(self) -> i64 {
        self.0.div_euclid(HOUR_MS)
    }

    /// The civil date of this instant in UTC.
    pub fn date(self) -> Date {
        Date::from_day(self.day())
    }

    /// Start of the UTC day containing this instant.
    pub const fn start_of_day(self) -> Self {
        Self(self.0.div_euclid(DAY_MS) * DAY_MS)
    }

    /// Parses an RFC 3339 instant (`2026-11-29T00:46:07.123Z`, up to 9 fraction digits, `Z` or a
    /// numeric offset; also the ISO 8601 / RFC 9557 forms `jiff` reads). Fractions finer than a
    /// millisecond are rounded down; `None` when malformed, out of range (hour 24, day 31 of a
    /// 30-day month, …) or outside the years -9999..=9999.
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let instant: jiff::Timestamp = text.parse().ok()?;
        i64::try_from(instant.as_nanosecond().div_euclid(1_000_000)).ok().map(Self)
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC with milliseconds, e.g. `2026-11-29T00:46:07.123Z` (instants outside
    /// the years -9999..=9999 show as the nearest end of that range).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let instant = jiff::Timestamp::from_millisecond(self.0).unwrap_or(if self.0 < 0 {
            jiff::Timestamp::MIN
        } else {
            jiff::Timestamp::MAX
        });
        write!(f, "{instant:.3}")
    }
}

/// A civil date (proleptic Gregorian, UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Date {
    /// Year, e.g. 2026.
    pub year: i32,
    /// Month 1..=12.
    pub month: u32,
    /// Day of month 1..=31.
    pub day: u32,
}

/// 1970-01-01, day 0.
const EPOCH: jiff::civil::Date = jiff::civil::Date::constant(1970, 1, 1);

impl Date {
    /// The date of UTC day number `days` (days since 1970-01-01); days outside the years
    /// -9999..=9999 give the nearest end of that range.
    pub fn from_day(days: i32) -> Self {
        let span = jiff::Span::new().try_days(days).ok();
        let civil = span.and_then(|span| EPOCH.checked_add(span).ok()).unwrap_or(if days < 0 {
            jiff::civil::Date::MIN
        } else {
            jiff::civil::Date::MAX
        });
        Self::of(civil)
    }

    fn of(civil: jiff::civil::Date) -> Self {
        Self {
            year: civil.year().into(),
            month: civil.month().unsigned_abs().into(),
            day: civil.day().unsigned_abs().into(),
        }
    }

    fn civil(self) -> Option<jiff::civil::Date> {
        let year = i16::try_from(self.year).ok()?;
        let month = i8::try_from(self.month).ok()?;
        let day = i8::try_from(self.day).ok()?;
        jiff::civil::Date::new(year, month, day).ok()
    }

    /// A date from its parts, if it exists in the calendar (years -9999..=9999).
    pub fn new(year: i32, month: u32, day: u32) -> Option<Self> {
        let date = Self { year, month, day };
        date.civil().map(|_| date)
    }

    /// UTC day number of this date (days since 1970-01-01).
    pub fn to_day(self) -> i32 {
        self.civil().map_or(0, |civil| {
            let seconds = civil.duration_since(EPOCH).as_secs();
            i32::try_from(seconds.div_euclid(DAY_MS / SECOND_MS)).unwrap_or(0)
        })
    }

    /// Midnight UTC at the start of this date.
    pub fn start(self) -> Timestamp {
        Timestamp(i64::from(self.to_day()) * DAY_MS)
    }

    /// Parses `YYYY-MM-DD` (exactly that form).
    pub fn parse(text: &str) -> Option<Self> {
        let exact = text.len() == 10 && text.as_bytes()[4] == b'-' && text.as_bytes()[7] == b'-';
        exact.then(|| text.parse::<jiff::civil::Date>().ok()).flatten().map(Self::of)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// Number of days in `month` of `year` (0 for a month that does not exist).
pub fn days_in_month(year: i32, month: u32) -> u32 {
    Date { year, month, day: 1 }.civil().map_or(0, |first| first.days_in_month().unsigned_abs().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip_across_four_centuries() {
        for day in -146_097..146_097 {
            let date = Date::from_day(day);
            assert_eq!(date.to_day(), day, "{date}");
            assert!(Date::new(date.year, date.month, date.day).is_some());
        }
    }

    #[test]
    fn known_dates() {
        assert_eq!(Date::from_day(0).to_string(), "1970-01-01");
        assert_eq!(Date::from_day(20_786).to_string(), "2026-11-29");
        assert_eq!(Date::parse("2024-02-29").map(Date::to_day), Some(19_782));
        assert_eq!(Date::parse("2023-02-29"), None);
        assert_eq!(Date::parse("2023-2-01"), None);
    }

    #[test]
    fn timestamps_format_as_rfc3339() {
        let t = Timestamp(20_786 * DAY_MS + 46 * MINUTE_MS + 7_123);
        assert_eq!(t.to_string(), "2026-11-29T00:46:07.123Z");
        assert_eq!(Timestamp(-1).to_string(), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn rfc3339_parses_to_the_millisecond() {
        let parse = |text| Timestamp::parse_rfc3339(text).map(|t| t.to_string());
        assert_eq!(parse("2026-11-29T00:46:07Z").as_deref(), Some("2026-11-29T00:46:07.000Z"));
        assert_eq!(parse("2026-11-29T00:46:07.123456789Z").as_deref(), Some("2026-11-29T00:46:07.123Z"));
        assert_eq!(parse("2026-11-29T02:46:07+02:00").as_deref(), Some("2026-11-29T00:46:07.000Z"));
        assert_eq!(parse("1969-12-31T23:59:59.9999Z").as_deref(), Some("1969-12-31T23:59:59.999Z"));
        for bad in [
            "",
            "yesterday",
            "2026-11-29",
            "2026-11-29T00:46:07",
            "2026-11-31T00:00:00Z",
            "2026-11-29T24:00:00Z",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
