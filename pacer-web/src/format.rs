//! Formatting helpers shared by every page: money, counts, durations, instants, relative times
//! and the colour (tone) of each job status. Plain functions over plain data, no I/O, so they are
//! unit-tested on the host.

use pacer_domain::{DAY_MS, HOUR_MS, JobStatus, MINUTE_MS, Micros, SECOND_MS, Timestamp};

/// Shown where a value is absent (unpriced job, no instance yet, …).
pub(crate) const DASH: &str = "—";

/// A decimal micro-dollar string (the API's `BigInt`) as dollars: `$12.34`, `$0.0042` below a
/// cent. Anything unparsable shows as a dash rather than a wrong number.
pub(crate) fn money(micros: &str) -> String {
    micros.trim().parse::<i64>().map_or_else(|_| DASH.to_owned(), |m| Micros(m).to_string())
}

/// A count with thousands separators: `12,345`.
pub(crate) fn count(n: impl Into<i64>) -> String {
    let n: i64 = n.into();
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `n` things with the noun agreeing: `1 job`, `12 jobs`.
pub(crate) fn plural(n: impl Into<i64>, noun: &str) -> String {
    let n: i64 = n.into();
    if n == 1 { format!("1 {noun}") } else { format!("{} {noun}s", count(n)) }
}

/// A duration in seconds, compact and exact enough for an operator: `45s`, `3m 07s`,
/// `2h 05m`, `3d 04h`. Negative durations count as zero.
pub(crate) fn duration(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3_600 => format!("{}m {:02}s", s / 60, s % 60),
        3_600..86_400 => format!("{}h {:02}m", s / 3_600, (s % 3_600) / 60),
        _ => format!("{}d {:02}h", s / 86_400, (s % 86_400) / 3_600),
    }
}

/// A short delay in seconds, as `0 ms`, `240 ms` or `1.4 s`.
pub(crate) fn delay(seconds: f64) -> String {
    let ms = (seconds.max(0.0) * 1_000.0).round();
    if ms < 1_000.0 { format!("{ms} ms") } else { format!("{:.1} s", ms / 1_000.0) }
}

/// A decimal seconds string (the API's `BigInt` runner time) as a duration.
pub(crate) fn duration_str(seconds: &str) -> String {
    seconds.trim().parse::<i64>().map_or_else(|_| DASH.to_owned(), duration)
}

/// How long ago `then` was, seen at `now`: `just now`, `42s ago`, `5m ago`, `3h ago`,
/// `2d ago`; instants in the future read `in 30s`.
pub(crate) fn relative(now: Timestamp, then: Timestamp) -> String {
    let delta = now.millis() - then.millis();
    let (ms, future) = if delta < 0 { (-delta, true) } else { (delta, false) };
    if ms < 5 * SECOND_MS {
        return "just now".to_owned();
    }
    let amount = if ms < MINUTE_MS {
        format!("{}s", ms / SECOND_MS)
    } else if ms < HOUR_MS {
        format!("{}m", ms / MINUTE_MS)
    } else if ms < DAY_MS {
        format!("{}h", ms / HOUR_MS)
    } else {
        format!("{}d", ms / DAY_MS)
    };
    if future { format!("in {amount}") } else { format!("{amount} ago") }
}

/// How fresh a runner's last heartbeat is (the runner sends one every 30 s), as the job
/// detail's "last seen" badge shows it, like the Go original: green within one badge interval
/// (60 s), amber within three, red beyond or never.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Heartbeat {
    /// Seen within 60 s.
    Green,
    /// Seen within 180 s.
    Amber,
    /// Not seen for longer, or never.
    Red,
}

/// One badge interval.
pub(crate) const HEARTBEAT_BADGE_MS: i64 = 60 * SECOND_MS;

impl Heartbeat {
    /// The badge for a runner last seen at `seen`, at `now`.
    pub(crate) fn at(now: Timestamp, seen: Option<Timestamp>) -> Heartbeat {
        match seen.map(|seen| now.millis() - seen.millis()) {
            Some(age) if age < HEARTBEAT_BADGE_MS => Heartbeat::Green,
            Some(age) if age < 3 * HEARTBEAT_BADGE_MS => Heartbeat::Amber,
            _ => Heartbeat::Red,
        }
    }

    /// `green`, `amber` or `red` (the badge's CSS class and test id).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Heartbeat::Green => "green",
            Heartbeat::Amber => "amber",
            Heartbeat::Red => "red",
        }
    }
}

/// Parses an RFC 3339 instant (`2026-11-29T00:46:07.123Z`, up to 9 fraction digits, `Z` or a
/// numeric offset; surrounding blanks ignored) into a UTC timestamp, through the domain's one
/// parser ([`Timestamp::parse_rfc3339`]).
pub(crate) fn parse_instant(text: &str) -> Option<Timestamp> {
    Timestamp::parse_rfc3339(text.trim())
}

/// An instant in full, to the second, in UTC: `2026-11-29 00:46:07`.
pub(crate) fn instant(ts: Timestamp) -> String {
    let text = ts.to_string();
    format!("{} {}", &text[..10], &text[11..19])
}

/// An instant short enough for a table cell, relative to `now`: the time alone today,
/// month-day and time this year, else the date (always UTC).
pub(crate) fn instant_short(ts: Timestamp, now: Timestamp) -> String {
    let full = instant(ts);
    if ts.day() == now.day() {
        full[11..].to_owned()
    } else if ts.date().year == now.date().year {
        full[5..16].to_owned()
    } else {
        full[..10].to_owned()
    }
}

/// [`instant`] of an RFC 3339 string, or a dash when absent or unparsable.
pub(crate) fn instant_opt(text: Option<&str>) -> String {
    text.and_then(parse_instant).map_or_else(|| DASH.to_owned(), instant)
}

/// The colour family a job status is shown in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tone {
    /// Waiting: queued.
    Amber,
    /// Active: claimed, starting, running.
    Blue,
    /// Ended well.
    Green,
    /// Ended badly: failed, reaped.
    Red,
    /// Cancelled.
    Grey,
}

impl Tone {
    /// The CSS class carrying the colour.
    pub(crate) fn class(self) -> &'static str {
        match self {
            Tone::Amber => "tone-amber",
            Tone::Blue => "tone-blue",
            Tone::Green => "tone-green",
            Tone::Red => "tone-red",
            Tone::Grey => "tone-grey",
        }
    }
}

/// The tone of a job status: queued amber; claimed/starting/running blue; completed green;
/// failed/reaped red; cancelled grey.
pub(crate) fn status_tone(status: JobStatus) -> Tone {
    match status {
        JobStatus::Queued => Tone::Amber,
        JobStatus::Claimed | JobStatus::Starting | JobStatus::Running => Tone::Blue,
        JobStatus::Completed => Tone::Green,
        JobStatus::Failed | JobStatus::Reaped => Tone::Red,
        JobStatus::Cancelled => Tone::Grey,
    }
}

/// The first `n` characters of a commit SHA.
pub(crate) fn short_sha(sha: &str) -> &str {
    sha.get(..sha.len().min(10)).unwrap_or(sha)
}

/// Pretty-printed JSON for the payload panels.
pub(crate) fn pretty_json(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_badges_turn_amber_after_one_interval_and_red_after_three() {
        let now = Timestamp::from_millis(1_000_000);
        let ago = |ms: i64| Some(Timestamp::from_millis(1_000_000 - ms));
        assert_eq!(Heartbeat::at(now, ago(0)), Heartbeat::Green);
        assert_eq!(Heartbeat::at(now, ago(59_999)), Heartbeat::Green);
        assert_eq!(Heartbeat::at(now, ago(60_000)), Heartbeat::Amber);
        assert_eq!(Heartbeat::at(now, ago(179_999)), Heartbeat::Amber);
        assert_eq!(Heartbeat::at(now, ago(180_000)), Heartbeat::Red);
        assert_eq!(Heartbeat::at(now, None), Heartbeat::Red);
        assert_eq!(Heartbeat::Amber.as_str(), "amber");
    }

    fn ts(text: &str) -> Timestamp {
        parse_instant(text).expect("valid instant")
    }

    #[test]
    fn money_uses_the_domain_rule_with_four_decimals_below_a_cent() {
        assert_eq!(money("0"), "$0.00");
        assert_eq!(money("4160"), "$0.0042");
        assert_eq!(money("9999"), "$0.01");
        assert_eq!(money("10"), "<$0.0001");
        assert_eq!(money("10000"), "$0.01");
        assert_eq!(money("1234567890000"), "$1,234,567.89");
        assert_eq!(money(" 96000 "), "$0.10");
        assert_eq!(money("-4160"), "-$0.0042");
        assert_eq!(money("12.5"), DASH);
        assert_eq!(money(""), DASH);
    }

    #[test]
    fn counts_group_thousands() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(-12_345), "-12,345");
    }

    #[test]
    fn plurals() {
        assert_eq!(plural(1, "job"), "1 job");
        assert_eq!(plural(0, "job"), "0 jobs");
        assert_eq!(plural(1_200, "job"), "1,200 jobs");
    }

    #[test]
    fn delays_read_in_milliseconds_below_a_second() {
        assert_eq!(delay(-1.0), "0 ms");
        assert_eq!(delay(0.2404), "240 ms");
        assert_eq!(delay(0.9996), "1.0 s");
        assert_eq!(delay(12.34), "12.3 s");
    }

    #[test]
    fn durations_are_compact() {
        assert_eq!(duration(-3), "0s");
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(59), "59s");
        assert_eq!(duration(60), "1m 00s");
        assert_eq!(duration(187), "3m 07s");
        assert_eq!(duration(3_599), "59m 59s");
        assert_eq!(duration(3_600), "1h 00m");
        assert_eq!(duration(7_500), "2h 05m");
        assert_eq!(duration(86_400), "1d 00h");
        assert_eq!(duration(3 * 86_400 + 4 * 3_600 + 59), "3d 04h");
        assert_eq!(duration_str("90"), "1m 30s");
        assert_eq!(duration_str("x"), DASH);
    }

    #[test]
    fn relative_times() {
        let now = ts("2026-11-29T12:00:00Z");
        assert_eq!(relative(now, now), "just now");
        assert_eq!(relative(now, ts("2026-11-29T11:59:18Z")), "42s ago");
        assert_eq!(relative(now, ts("2026-11-29T11:55:00Z")), "5m ago");
        assert_eq!(relative(now, ts("2026-11-29T09:00:00Z")), "3h ago");
        assert_eq!(relative(now, ts("2026-11-27T11:00:00Z")), "2d ago");
        assert_eq!(relative(now, ts("2026-11-29T12:00:30Z")), "in 30s");
    }

    #[test]
    fn parses_rfc3339() {
        assert_eq!(ts("2026-11-29T00:46:07.123Z").to_string(), "2026-11-29T00:46:07.123Z");
        assert_eq!(ts("2026-11-29T00:46:07Z").to_string(), "2026-11-29T00:46:07.000Z");
        assert_eq!(ts("2026-11-29T00:46:07.123456789Z").to_string(), "2026-11-29T00:46:07.123Z");
        assert_eq!(ts("2026-11-29T02:46:07+02:00").to_string(), "2026-11-29T00:46:07.000Z");
        assert_eq!(ts("2026-11-28T23:46:07-01:00").to_string(), "2026-11-29T00:46:07.000Z");
        for bad in
            ["", "2026-11-29", "2026-11-29T25:00:00Z", "2026-11-29T00:46:07", "2026-11-29T00:46:07.Z", "nope"]
        {
            assert_eq!(parse_instant(bad), None, "{bad}");
        }
    }

    #[test]
    fn instants_show_in_utc_and_shorten_by_distance() {
        let now = ts("2026-11-29T12:00:00Z");
        assert_eq!(instant(ts("2026-11-29T00:46:07.9Z")), "2026-11-29 00:46:07");
        assert_eq!(instant_short(ts("2026-11-29T00:46:07Z"), now), "00:46:07");
        assert_eq!(instant_short(ts("2026-11-02T08:05:00Z"), now), "11-02 08:05");
        assert_eq!(instant_short(ts("2025-12-31T23:00:00Z"), now), "2025-12-31");
        assert_eq!(instant_opt(None), DASH);
        assert_eq!(instant_opt(Some("garbage")), DASH);
    }

    #[test]
    fn status_colours_follow_the_spec() {
        let tones: Vec<(&str, &str)> =
            JobStatus::ALL.iter().map(|s| (s.as_str(), status_tone(*s).class())).collect();
        assert_eq!(
            tones,
            [
                ("queued", "tone-amber"),
                ("claimed", "tone-blue"),
                ("starting", "tone-blue"),
                ("running", "tone-blue"),
                ("completed", "tone-green"),
                ("failed", "tone-red"),
                ("cancelled", "tone-grey"),
                ("reaped", "tone-red"),
            ]
        );
    }

    #[test]
    fn short_shas() {
        assert_eq!(short_sha("0123456789abcdef"), "0123456789");
        assert_eq!(short_sha("abc"), "abc");
    }
}
