//! Warm capacity in the API: a pool's warm settings and where they stand (the `warm` field of
//! `Pool`), and the input of `setPoolWarm`.

use super::types::PoolView;
use super::{ErrorCode, engine, error};
use async_graphql::{ComplexObject, Context, Enum, InputObject, Result, SimpleObject};
use pacer_domain::{
    DEFAULT_WARM_MAX_AGE_MINUTES, FieldError, PoolId, WarmCounts, WarmSizing, WarmSpec, WarmStatus,
    WarmWindow, warm_status,
};

/// How a pool sizes its warm capacity.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "WarmMode")]
pub(crate) enum GqlWarmMode {
    /// Always the same counts.
    Fixed,
    /// By time-of-week windows in a time zone.
    Schedule,
    /// From the pool's own job arrivals over the last weeks.
    Forecast,
}

/// A day of the week.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "Weekday")]
pub(crate) enum GqlWeekday {
    /// Monday.
    Mon,
    /// Tuesday.
    Tue,
    /// Wednesday.
    Wed,
    /// Thursday.
    Thu,
    /// Friday.
    Fri,
    /// Saturday.
    Sat,
    /// Sunday.
    Sun,
}

const WEEKDAYS: [GqlWeekday; 7] = [
    GqlWeekday::Mon,
    GqlWeekday::Tue,
    GqlWeekday::Wed,
    GqlWeekday::Thu,
    GqlWeekday::Fri,
    GqlWeekday::Sat,
    GqlWeekday::Sun,
];

/// Warm instance counts.
#[derive(SimpleObject, InputObject, Clone, Copy, Debug)]
#[graphql(name = "WarmCounts", input_name = "WarmCountsInput")]
pub(crate) struct GqlWarmCounts {
    /// Hot instances: booted and bootstrapped, waiting for a job (which registers their runner
    /// and starts in seconds).
    #[graphql(default)]
    pub hot: i32,
    /// Stopped instances: booted once, then stopped; started when a job needs one.
    #[graphql(default)]
    pub stopped: i32,
}

impl From<WarmCounts> for GqlWarmCounts {
    fn from(c: WarmCounts) -> Self {
        Self { hot: int(c.hot), stopped: int(c.stopped) }
    }
}

/// A window of the week with its own counts.
#[derive(SimpleObject, InputObject, Clone, Debug)]
#[graphql(name = "WarmWindow", input_name = "WarmWindowInput")]
pub(crate) struct GqlWarmWindow {
    /// The days it starts on (at least one).
    pub days: Vec<GqlWeekday>,
    /// Its start, `HH:MM` in the schedule's zone.
    pub from: String,
    /// Its end, `HH:MM` (`24:00` = midnight); not after `from`, it runs past midnight into the
    /// next day.
    pub to: String,
    /// The counts while it holds.
    pub counts: GqlWarmCounts,
}

/// A pool's warm capacity: its settings, and what they ask for now.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "WarmCapacity")]
pub(crate) struct WarmView {
    /// How the counts are chosen.
    pub mode: GqlWarmMode,
    /// FIXED: the counts.
    pub fixed: Option<GqlWarmCounts>,
    /// SCHEDULE: the time zone of the windows (`UTC` or an IANA name).
    pub zone: Option<String>,
    /// SCHEDULE: the windows, the first that holds winning.
    pub windows: Vec<GqlWarmWindow>,
    /// SCHEDULE: the counts outside every window.
    pub otherwise: Option<GqlWarmCounts>,
    /// FORECAST: the percentile of the weekly peaks the hot instances cover.
    pub quantile: Option<i32>,
    /// FORECAST: weeks of arrivals looked back.
    pub weeks: Option<i32>,
    /// An idle warm instance older than this is terminated and replaced.
    pub max_age_minutes: i32,
    /// What the sizing asks for now.
    pub target: GqlWarmCounts,
    /// Why, in a sentence (e.g. `schedule: Mon 08:00–18:00 Europe/Berlin: 4 hot, 0 stopped`).
    pub reason: String,
    /// The warm instances the pool holds for that target: hot first, then stopped, as far as
    /// its cap leaves room after its active jobs; none while the pool or its project is
    /// disabled.
    pub wanted: GqlWarmCounts,
    /// Idle warm instances it holds now (stopped ones still booting included).
    pub idle: GqlWarmCounts,
}

fn int(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn clock(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

impl WarmView {
    fn of(spec: &WarmSpec, status: WarmStatus) -> Self {
        let mut view = WarmView {
            mode: GqlWarmMode::Fixed,
            fixed: None,
            zone: None,
            windows: Vec::new(),
            otherwise: None,
            quantile: None,
            weeks: None,
            max_age_minutes: int(spec.max_age_minutes),
            target: status.target.counts.into(),
            reason: status.target.reason,
            wanted: status.wanted.into(),
            idle: status.idle.into(),
        };
        match &spec.sizing {
            WarmSizing::Fixed(counts) => view.fixed = Some((*counts).into()),
            WarmSizing::Schedule { zone, windows, otherwise } => {
                view.mode = GqlWarmMode::Schedule;
                view.zone = Some(zone.clone());
                view.otherwise = Some((*otherwise).into());
                view.windows = windows
                    .iter()
                    .map(|w| GqlWarmWindow {
                        days: (0..7).filter(|d| w.days & (1 << d) != 0).map(|d| WEEKDAYS[d]).collect(),
                        from: clock(w.from_minute),
                        to: clock(w.to_minute),
                        counts: w.counts.into(),
                    })
                    .collect();
            }
            WarmSizing::Forecast { quantile, weeks } => {
                view.mode = GqlWarmMode::Forecast;
                view.quantile = Some(i32::from(*quantile));
                view.weeks = Some(i32::from(*weeks));
            }
        }
        view
    }
}

#[ComplexObject]
impl PoolView {
    /// Its warm capacity and what it asks for now; null when the pool holds none.
    async fn warm(&self, ctx: &Context<'_>) -> Result<Option<WarmView>> {
        let engine = engine(ctx)?;
        let id = PoolId(self.id.0.parse().map_err(|_| error(ErrorCode::NotFound, "bad pool id"))?);
        let now = engine.app.now();
        let state = engine.app.state();
        let Some(pool) = state.config.pool(id) else { return Ok(None) };
        let (Some(spec), Some(status)) = (&pool.warm, warm_status(&state, pool, now)) else {
            return Ok(None);
        };
        Ok(Some(WarmView::of(spec, status)))
    }
}

/// A SCHEDULE sizing.
#[derive(InputObject, Clone, Debug)]
pub(crate) struct WarmScheduleInput {
    /// The time zone of the windows: `UTC` or an IANA name such as `Europe/Berlin`.
    #[graphql(default_with = "String::from(\"UTC\")")]
    pub zone: String,
    /// The windows (at most 50), the first that holds winning.
    #[graphql(default)]
    pub windows: Vec<GqlWarmWindow>,
    /// The counts outside every window.
    #[graphql(default_with = "GqlWarmCounts { hot: 0, stopped: 0 }")]
    pub otherwise: GqlWarmCounts,
}

/// A FORECAST sizing.
#[derive(InputObject, Clone, Debug)]
pub(crate) struct WarmForecastInput {
    /// The percentile of the busiest 5 minutes of the hour, over the weeks looked back, that hot
    /// instances cover (1 to 100); the largest peak beyond it is held stopped.
    #[graphql(default = 90)]
    pub quantile: i32,
    /// Weeks of the pool's arrivals looked back, 1 to 12.
    #[graphql(default = 4)]
    pub weeks: i32,
}

/// A pool's warm capacity for `setPoolWarm`: exactly one of `fixed`, `schedule` and
/// `forecast`. Bad fields are INVALID_INPUT errors whose `extensions.field` is the snake_case
/// path (`sizing.windows[0].from`).
#[derive(InputObject, Clone, Debug)]
pub(crate) struct WarmInput {
    /// Always these counts.
    pub fixed: Option<GqlWarmCounts>,
    /// By time-of-week windows.
    pub schedule: Option<WarmScheduleInput>,
    /// From the pool's own arrivals.
    pub forecast: Option<WarmForecastInput>,
    /// An idle warm instance older than this is terminated and replaced; 10 to 10,080.
    #[graphql(default_with = "DEFAULT_WARM_MAX_AGE_MINUTES as i32")]
    pub max_age_minutes: i32,
}

impl WarmInput {
    /// The domain's warm settings, or the field errors.
    pub(crate) fn spec(self) -> Result<WarmSpec, Vec<FieldError>> {
        let mut errors = Vec::new();
        let number = |field: String, value: i32, errors: &mut Vec<FieldError>| {
            u32::try_from(value).unwrap_or_else(|_| {
                errors.push(FieldError::new(field, "must not be negative"));
                0
            })
        };
        let counts = |field: &str, c: GqlWarmCounts, errors: &mut Vec<FieldError>| WarmCounts {
            hot: number(format!("{field}.hot"), c.hot, errors),
            stopped: number(format!("{field}.stopped"), c.stopped, errors),
        };
        let sizing = match (self.fixed, self.schedule, self.forecast) {
            (Some(fixed), None, None) => WarmSizing::Fixed(counts("sizing.fixed", fixed, &mut errors)),
            (None, Some(schedule), None) => {
                let mut windows = Vec::with_capacity(schedule.windows.len());
                for (i, window) in schedule.windows.into_iter().enumerate() {
                    let field = |name: &str| format!("sizing.windows[{i}].{name}");
                    let minute = |name: &str, text: &str, errors: &mut Vec<FieldError>| {
                        parse_clock(text).unwrap_or_else(|| {
                            errors.push(FieldError::new(field(name), "must be HH:MM, 00:00 to 24:00"));
                            0
                        })
                    };
                    let from_minute = minute("from", &window.from, &mut errors);
                    let to_minute = minute("to", &window.to, &mut errors);
                    let days = window.days.iter().fold(0u8, |mask, day| {
                        mask | 1 << WEEKDAYS.iter().position(|d| d == day).unwrap_or_default()
                    });
                    let counts = counts(&field("counts"), window.counts, &mut errors);
                    windows.push(WarmWindow { days, from_minute, to_minute, counts });
                }
                let otherwise = counts("sizing.otherwise", schedule.otherwise, &mut errors);
                WarmSizing::Schedule { zone: schedule.zone.trim().to_owned(), windows, otherwise }
            }
            (None, None, Some(forecast)) => {
                let small = |value: i32| u8::try_from(value).unwrap_or(0);
                WarmSizing::Forecast { quantile: small(forecast.quantile), weeks: small(forecast.weeks) }
            }
            _ => {
                errors.push(FieldError::new("sizing", "give exactly one of fixed, schedule and forecast"));
                WarmSizing::Fixed(WarmCounts::default())
            }
        };
        let max_age_minutes = number("max_age_minutes".into(), self.max_age_minutes, &mut errors);
        if errors.is_empty() { Ok(WarmSpec { sizing, max_age_minutes }) } else { Err(errors) }
    }
}

/// Minutes after midnight of `HH:MM` (`24:00` included).
fn parse_clock(text: &str) -> Option<u16> {
    let (hours, minutes) = text.trim().split_once(':')?;
    let (hours, minutes): (u16, u16) = (hours.parse().ok()?, minutes.parse().ok()?);
    let total = hours.checked_mul(60)?.checked_add(minutes)?;
    (minutes < 60 && minutes.to_string().len() <= 2 && total <= 24 * 60).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_parse_within_the_day() {
        assert_eq!(parse_clock("08:30"), Some(510));
        assert_eq!(parse_clock("24:00"), Some(1440));
        assert_eq!(parse_clock("0:05"), Some(5));
        for bad in ["24:01", "8", "08:60", "-1:00", "ab:cd", ""] {
            assert_eq!(parse_clock(bad), None, "{bad}");
        }
    }
}
