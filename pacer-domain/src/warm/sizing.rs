//! Warm capacity sizing: how many hot instances (booted and bootstrapped, idle) and stopped
//! instances (booted once, runner installed, stopped) a pool should hold at an instant, and why,
//! as a pure function of the pool's sizing and its own arrival history.
//!
//! Three sizings:
//! - fixed counts;
//! - a schedule: time-of-week windows in UTC or a named time zone (daylight saving included),
//!   the first window that holds the instant wins, else the schedule's counts outside them;
//! - a forecast from the pool's arrivals ([`ArrivalHistory`]): for the hour of the week the
//!   instant falls in, the busiest [`BURST_WINDOW_MS`] of that hour in each of the last weeks;
//!   hot = the stated quantile of those peaks (the usual burst starts on hot runners), stopped =
//!   the largest peak beyond that (the rare one starts from stopped ones, cheap to keep).
//!
//! Every answer carries its reason, for the console to say why a pool holds N warm instances.

use crate::time::{HOUR_MS, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Milliseconds in a week.
pub const WEEK_MS: i64 = 7 * 24 * HOUR_MS;
/// The forecast counts arrivals in windows of this length: a pool's hot instances must cover
/// the jobs arriving before replacements boot.
pub const BURST_WINDOW_MS: i64 = 5 * 60 * 1_000;
/// Windows in an hour.
const WINDOWS_PER_HOUR: usize = (HOUR_MS / BURST_WINDOW_MS) as usize;
/// Windows in a week.
const WINDOWS_PER_WEEK: usize = (WEEK_MS / BURST_WINDOW_MS) as usize;
/// Most weeks a forecast looks back.
pub const MAX_FORECAST_WEEKS: u8 = 12;

/// Warm instances of one pool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WarmCounts {
    /// Booted and bootstrapped, idle; its runner registers for the job that takes it.
    #[serde(default)]
    pub hot: u32,
    /// Booted once with the runner installed, then stopped; started when a job needs one.
    #[serde(default)]
    pub stopped: u32,
}

/// A window of the week with its own counts: `days` (bit 0 = Monday … bit 6 = Sunday), from
/// `from_minute` to `to_minute` of the day (minutes after midnight; a window whose end is not
/// after its start runs past midnight into the next day).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WarmWindow {
    /// The days it starts on, bit 0 = Monday.
    pub days: u8,
    /// Its start, minutes after midnight (0–1439).
    pub from_minute: u16,
    /// Its end, minutes after midnight (0–1440).
    pub to_minute: u16,
    /// The counts while it holds.
    pub counts: WarmCounts,
}

/// How a pool sizes its warm capacity (in JSON backups `{"fixed": …}`, `{"schedule": …}` or
/// `{"forecast": …}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarmSizing {
    /// Always these counts.
    Fixed(WarmCounts),
    /// By time of the week in `zone` (`UTC` or an IANA name such as `Europe/Berlin`).
    Schedule {
        /// The time zone the windows are in.
        zone: String,
        /// The windows, the first that holds winning.
        windows: Vec<WarmWindow>,
        /// The counts outside every window.
        otherwise: WarmCounts,
    },
    /// From the pool's own arrivals over the last `weeks` weeks, hot at the `quantile`
    /// (percent) of the busiest burst window of the hour.
    Forecast {
        /// The percentile of the weekly peaks the hot instances cover (1–100).
        quantile: u8,
        /// Weeks looked back (1–[`MAX_FORECAST_WEEKS`]).
        weeks: u8,
    },
}

/// How many warm instances a pool should hold now, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WarmTarget {
    /// The counts.
    pub counts: WarmCounts,
    /// Why, in a sentence for the console.
    pub reason: String,
}

/// A pool's arrivals (job queue times) counted per [`BURST_WINDOW_MS`] window, keeping the last
/// [`MAX_FORECAST_WEEKS`] weeks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArrivalHistory {
    /// Arrivals per window, by window number (since the epoch).
    windows: BTreeMap<i64, u32>,
}

impl ArrivalHistory {
    /// Counts an arrival at `at`, forgetting windows older than the forecast ever looks.
    pub fn record(&mut self, at: Timestamp) {
        let window = at.millis().div_euclid(BURST_WINDOW_MS);
        *self.windows.entry(window).or_default() += 1;
        let oldest = window - (i64::from(MAX_FORECAST_WEEKS) + 1) * WINDOWS_PER_WEEK as i64;
        while self.windows.first_key_value().is_some_and(|(w, _)| *w < oldest) {
            self.windows.pop_first();
        }
    }

    /// The most arrivals in one window of the hour starting at window `first`.
    fn peak(&self, first: i64) -> u32 {
        self.windows.range(first..first + WINDOWS_PER_HOUR as i64).map(|(_, n)| *n).max().unwrap_or(0)
    }
}

/// The warm counts `sizing` asks of a pool at `now`, given its `history`.
pub fn warm_target(sizing: &WarmSizing, history: &ArrivalHistory, now: Timestamp) -> WarmTarget {
    match sizing {
        WarmSizing::Fixed(counts) => {
            WarmTarget { counts: *counts, reason: format!("fixed: {}", show(*counts)) }
        }
        WarmSizing::Schedule { zone, windows, otherwise } => scheduled(zone, windows, *otherwise, now),
        WarmSizing::Forecast { quantile, weeks } => forecast(*quantile, *weeks, history, now),
    }
}

fn show(counts: WarmCounts) -> String {
    format!("{} hot, {} stopped", counts.hot, counts.stopped)
}

const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// `now` in `zone`: its weekday (0 = Monday) and minute of the day; `None` for a zone unknown.
fn local(zone: &str, now: Timestamp) -> Option<(usize, u16)> {
    let tz = jiff::tz::TimeZone::get(zone).ok()?;
    let at = tz.to_datetime(jiff::Timestamp::from_millisecond(now.millis()).ok()?);
    let weekday = at.weekday().to_monday_zero_offset() as usize;
    Some((weekday, at.hour() as u16 * 60 + at.minute() as u16))
}

/// Whether `window` holds on weekday `day` at minute `minute`.
fn holds(window: &WarmWindow, day: usize, minute: u16) -> bool {
    let starts_on = |d: usize| window.days & (1 << d) != 0;
    if window.from_minute < window.to_minute {
        starts_on(day) && (window.from_minute..window.to_minute).contains(&minute)
    } else {
        // Past midnight: the evening of a start day, or the morning after one.
        (starts_on(day) && minute >= window.from_minute)
            || (starts_on((day + 6) % 7) && minute < window.to_minute)
    }
}

fn scheduled(zone: &str, windows: &[WarmWindow], otherwise: WarmCounts, now: Timestamp) -> WarmTarget {
    let Some((day, minute)) = local(zone, now) else {
        return WarmTarget {
            counts: otherwise,
            reason: format!("schedule: unknown time zone {zone}; {}", show(otherwise)),
        };
    };
    let clock = |m: u16| format!("{:02}:{:02}", m / 60 % 24, m % 60);
    match windows.iter().find(|w| holds(w, day, minute)) {
        Some(w) => WarmTarget {
            counts: w.counts,
            reason: format!(
                "schedule: {} {}–{} {zone}: {}",
                DAYS[day],
                clock(w.from_minute),
                clock(w.to_minute),
                show(w.counts)
            ),
        },
        None => WarmTarget {
            counts: otherwise,
            reason: format!(
                "schedule: outside every window ({} {} {zone}): {}",
                DAYS[day],
                clock(minute),
                show(otherwise)
            ),
        },
    }
}

fn forecast(quantile: u8, weeks: u8, history: &ArrivalHistory, now: Timestamp) -> WarmTarget {
    let quantile = quantile.clamp(1, 100);
    let weeks = weeks.clamp(1, MAX_FORECAST_WEEKS);
    let hour_start = now.millis().div_euclid(HOUR_MS) * HOUR_MS;
    let mut peaks: Vec<u32> = (1..=i64::from(weeks))
        .map(|back| history.peak((hour_start - back * WEEK_MS).div_euclid(BURST_WINDOW_MS)))
        .collect();
    peaks.sort_unstable();
    // Nearest rank: the smallest peak at or above `quantile` percent of the weeks.
    let rank = (usize::from(quantile) * peaks.len()).div_ceil(100).max(1);
    let hot = peaks[rank - 1];
    let worst = peaks.last().copied().unwrap_or(0);
    let counts = WarmCounts { hot, stopped: worst - hot };
    let (day, minute) = local("UTC", Timestamp::from_millis(hour_start)).unwrap_or((0, 0));
    WarmTarget {
        counts,
        reason: format!(
            "forecast: busiest 5 minutes of {} {:02}:00 UTC over {weeks} weeks: p{quantile} {hot} jobs, at most {worst}; {}",
            DAYS[day],
            minute / 60,
            show(counts)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{DAY_MS, MINUTE_MS};

    /// Monday 2026-11-02 00:00 UTC.
    const MONDAY: Timestamp = Timestamp(1_793_577_600_000);

    fn at(day: i64, hour: i64, minute: i64) -> Timestamp {
        MONDAY.plus_millis(day * DAY_MS + hour * HOUR_MS + minute * MINUTE_MS)
    }

    #[test]
    fn fixed_counts_hold_always() {
        let sizing = WarmSizing::Fixed(WarmCounts { hot: 2, stopped: 3 });
        let target = warm_target(&sizing, &ArrivalHistory::default(), at(3, 4, 5));
        assert_eq!(
            (target.counts, target.reason.as_str()),
            (WarmCounts { hot: 2, stopped: 3 }, "fixed: 2 hot, 3 stopped")
        );
    }

    #[test]
    fn a_schedule_follows_its_zone_through_daylight_saving_and_past_midnight() {
        let office = WarmWindow {
            days: 0b1_1111,
            from_minute: 8 * 60,
            to_minute: 18 * 60,
            counts: WarmCounts { hot: 4, stopped: 2 },
        };
        let nightly = WarmWindow {
            days: 1 << 6,
            from_minute: 22 * 60,
            to_minute: 2 * 60,
            counts: WarmCounts { hot: 1, stopped: 0 },
        };
        let sizing = WarmSizing::Schedule {
            zone: "Europe/Berlin".into(),
            windows: vec![office, nightly],
            otherwise: WarmCounts::default(),
        };
        let history = ArrivalHistory::default();
        // Monday 07:30 UTC is 08:30 in Berlin in November (UTC+1).
        let target = warm_target(&sizing, &history, at(0, 7, 30));
        assert_eq!(target.counts.hot, 4, "{}", target.reason);
        assert_eq!(target.reason, "schedule: Mon 08:00–18:00 Europe/Berlin: 4 hot, 2 stopped");
        // Monday 06:30 UTC is 07:30 there: before the window.
        assert_eq!(warm_target(&sizing, &history, at(0, 6, 30)).counts, WarmCounts::default());
        // Sunday 21:30 UTC is 22:30 there, Monday 00:30 UTC is 01:30: the Sunday night window.
        assert_eq!(warm_target(&sizing, &history, at(6, 21, 30)).counts.hot, 1);
        assert_eq!(warm_target(&sizing, &history, at(7, 0, 30)).counts.hot, 1);
        assert_eq!(warm_target(&sizing, &history, at(7, 1, 30)).counts.hot, 0, "02:30 in Berlin");
        // In July Berlin is UTC+2: 06:30 UTC is 08:30 there.
        let july_monday = Timestamp(1_783_900_800_000); // 2026-07-13 00:00 UTC, a Monday
        assert_eq!(
            warm_target(&sizing, &history, july_monday.plus_millis(6 * HOUR_MS + 30 * MINUTE_MS)).counts.hot,
            4
        );
        let unknown = WarmSizing::Schedule {
            zone: "Mars/Olympus".into(),
            windows: vec![],
            otherwise: WarmCounts { hot: 1, stopped: 1 },
        };
        let target = warm_target(&unknown, &history, MONDAY);
        assert_eq!(target.counts, WarmCounts { hot: 1, stopped: 1 });
        assert!(target.reason.contains("unknown time zone Mars/Olympus"), "{}", target.reason);
    }

    #[test]
    fn a_forecast_from_a_known_weekly_pattern_picks_the_expected_counts() {
        // Four weeks: every weekday 09:00–10:00 a burst, the busiest 5 minutes holding 6, 8, 7
        // and 20 jobs (one exceptional week); a trickle of one job an hour the rest of the time.
        let mut history = ArrivalHistory::default();
        let bursts = [6, 8, 7, 20];
        for (week, burst) in bursts.iter().enumerate() {
            for day in 0..7 {
                let base = week as i64 * 7 + day;
                for hour in 0..24 {
                    history.record(at(base, hour, 30));
                }
                if day < 5 {
                    for i in 0..*burst {
                        history.record(at(base, 9, 2).plus_millis(i * 1_000));
                    }
                    // Another window of the hour, smaller: the peak is the busiest one.
                    for i in 0..3 {
                        history.record(at(base, 9, 40).plus_millis(i * 1_000));
                    }
                }
            }
        }
        let sizing = |quantile| WarmSizing::Forecast { quantile, weeks: 4 };
        // Week five, Tuesday 09:15: the weeks' peaks are 6, 8, 7 and 20 (sorted 6, 7, 8, 20).
        let now = at(4 * 7 + 1, 9, 15);
        let p75 = warm_target(&sizing(75), &history, now);
        assert_eq!(p75.counts, WarmCounts { hot: 8, stopped: 12 }, "{}", p75.reason);
        assert_eq!(
            p75.reason,
            "forecast: busiest 5 minutes of Tue 09:00 UTC over 4 weeks: p75 8 jobs, at most 20; 8 hot, 12 stopped"
        );
        assert_eq!(warm_target(&sizing(50), &history, now).counts, WarmCounts { hot: 7, stopped: 13 });
        assert_eq!(warm_target(&sizing(100), &history, now).counts, WarmCounts { hot: 20, stopped: 0 });
        // At night the trickle: one job an hour.
        assert_eq!(
            warm_target(&sizing(90), &history, at(4 * 7 + 1, 3, 0)).counts,
            WarmCounts { hot: 1, stopped: 0 }
        );
        // Saturday 09:00 had no burst.
        assert_eq!(warm_target(&sizing(90), &history, at(4 * 7 + 5, 9, 0)).counts.hot, 1);
        // Looking back one week only: last week's exceptional 20.
        let one_week = WarmSizing::Forecast { quantile: 90, weeks: 1 };
        assert_eq!(warm_target(&one_week, &history, now).counts, WarmCounts { hot: 20, stopped: 0 });
    }

    #[test]
    fn the_history_forgets_what_no_forecast_reads() {
        let mut history = ArrivalHistory::default();
        history.record(MONDAY);
        history.record(MONDAY.plus_millis((i64::from(MAX_FORECAST_WEEKS) + 2) * WEEK_MS));
        assert_eq!(history.windows.len(), 1);
    }
}
