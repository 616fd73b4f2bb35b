//! Geometry of the Overview bar chart: completed (green) next to failed/reaped (red) for every
//! day of a month, computed as plain numbers so the SVG component only draws and the layout is
//! unit-tested.

use crate::api::ops::stats::DayPoint;
use pacer_domain::{Date, days_in_month};

/// Completed and failed/reaped jobs of one day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DayCounts {
    /// Day of the month, 1-based.
    pub day: u32,
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Jobs that completed.
    pub completed: i64,
    /// Jobs that failed or were reaped.
    pub failed: i64,
}

/// Every day of the month of `year`/`month`, filled from `points` (days the server did not
/// list count zero; points of other months are ignored).
pub(crate) fn month_days(points: &[DayPoint], year: i32, month: u32) -> Vec<DayCounts> {
    (1..=days_in_month(year, month))
        .map(|day| {
            let date = Date { year, month, day }.to_string();
            let point = points.iter().find(|p| p.date == date);
            DayCounts {
                day,
                completed: point.map_or(0, |p| p.completed.max(0).into()),
                failed: point.map_or(0, |p| p.failed_or_reaped.max(0).into()),
                date,
            }
        })
        .collect()
}

/// The month a series belongs to: that of its first point, else `fallback`.
pub(crate) fn series_month(points: &[DayPoint], fallback: Date) -> (i32, u32) {
    points
        .first()
        .and_then(|p| Date::parse(&p.date))
        .map_or((fallback.year, fallback.month), |d| (d.year, d.month))
}

/// Which series a bar belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BarKind {
    /// Completed jobs (green).
    Completed,
    /// Failed or reaped jobs (red).
    Failed,
}

impl BarKind {
    /// The CSS class of the bar.
    pub(crate) fn class(self) -> &'static str {
        match self {
            BarKind::Completed => "bar bar-ok",
            BarKind::Failed => "bar bar-bad",
        }
    }
}

/// One bar, in SVG user units (y grows downwards).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Bar {
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width.
    pub width: f64,
    /// Height (0 for a zero count).
    pub height: f64,
    /// Series.
    pub kind: BarKind,
    /// The count it shows.
    pub value: i64,
    /// The day it belongs to (`YYYY-MM-DD`).
    pub date: String,
}

/// A horizontal grid line with its value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct GridLine {
    /// Vertical position.
    pub y: f64,
    /// The count at that height.
    pub value: i64,
}

/// A day label under the axis.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct DayLabel {
    /// Horizontal centre.
    pub x: f64,
    /// The day of month.
    pub text: String,
}

/// Everything the chart draws.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ChartGeometry {
    /// Total width.
    pub width: f64,
    /// Total height.
    pub height: f64,
    /// Left edge of the plot area (after the value axis).
    pub plot_left: f64,
    /// Bottom edge of the plot area (the zero line).
    pub baseline: f64,
    /// The value at the top of the plot area.
    pub scale_max: i64,
    /// Two bars per day: completed, then failed/reaped.
    pub bars: Vec<Bar>,
    /// Grid lines at 0, ½ and the top of the scale.
    pub grid: Vec<GridLine>,
    /// Labels for day 1 and every fifth day.
    pub labels: Vec<DayLabel>,
}

/// Room left of the plot for the value axis.
pub(crate) const AXIS_WIDTH: f64 = 32.0;
/// Room above the plot.
pub(crate) const TOP_MARGIN: f64 = 8.0;
/// Room below the plot for day labels.
pub(crate) const LABEL_HEIGHT: f64 = 18.0;

/// The smallest "nice" even number (1, 2, 3, 4, 5, 6 or 8 × 10ⁿ, so the half-way grid line is
/// whole) that is at least `max`; at least 2.
pub(crate) fn nice_ceiling(max: i64) -> i64 {
    let mut step: i64 = 1;
    loop {
        for factor in [1, 2, 3, 4, 5, 6, 8] {
            let candidate = step.saturating_mul(factor);
            if candidate >= max.max(2) && candidate % 2 == 0 {
                return candidate;
            }
        }
        if step > i64::MAX / 10 {
            return max;
        }
        step *= 10;
    }
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// Lays out `days` in a `width` × `height` box: each day gets an equal slot with a 10 % gap on
/// both sides and two bars of equal width; heights scale linearly to [`nice_ceiling`] of the
/// largest count. Coordinates are rounded to a tenth of a unit.
pub(crate) fn layout(days: &[DayCounts], width: f64, height: f64) -> ChartGeometry {
    let plot_width = (width - AXIS_WIDTH).max(1.0);
    let plot_height = (height - TOP_MARGIN - LABEL_HEIGHT).max(1.0);
    let baseline = TOP_MARGIN + plot_height;
    let max = days.iter().flat_map(|d| [d.completed, d.failed]).max().unwrap_or(0);
    let scale_max = nice_ceiling(max);
    let slot = plot_width / days.len().max(1) as f64;
    let bar_width = slot * 0.4;
    let mut bars = Vec::with_capacity(days.len() * 2);
    let mut labels = Vec::new();
    for (i, day) in days.iter().enumerate() {
        let left = AXIS_WIDTH + i as f64 * slot + slot * 0.1;
        for (offset, kind, value) in
            [(0.0, BarKind::Completed, day.completed), (1.0, BarKind::Failed, day.failed)]
        {
            let h = plot_height * value as f64 / scale_max as f64;
            bars.push(Bar {
                x: round1(left + offset * bar_width),
                y: round1(baseline - h),
                width: round1(bar_width),
                height: round1(h),
                kind,
                value,
                date: day.date.clone(),
            });
        }
        if day.day == 1 || day.day % 5 == 0 {
            labels.push(DayLabel {
                x: round1(AXIS_WIDTH + (i as f64 + 0.5) * slot),
                text: day.day.to_string(),
            });
        }
    }
    let grid = [0, scale_max / 2, scale_max]
        .into_iter()
        .map(|value| GridLine { y: round1(baseline - plot_height * value as f64 / scale_max as f64), value })
        .collect();
    ChartGeometry {
        width,
        height,
        plot_left: AXIS_WIDTH,
        baseline: round1(baseline),
        scale_max,
        bars,
        grid,
        labels,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(date: &str, completed: i32, failed: i32) -> DayPoint {
        DayPoint { date: date.into(), completed, failed_or_reaped: failed }
    }

    #[test]
    fn fills_every_day_of_the_month() {
        let points = [point("2026-02-03", 4, 1), point("2026-03-01", 9, 9)];
        let days = month_days(&points, 2026, 2);
        assert_eq!(days.len(), 28);
        assert_eq!(days[2], DayCounts { day: 3, date: "2026-02-03".into(), completed: 4, failed: 1 });
        assert!(days.iter().filter(|d| d.day != 3).all(|d| d.completed == 0 && d.failed == 0));
        assert_eq!(month_days(&[], 2024, 2).len(), 29);
        assert_eq!(series_month(&points, Date { year: 2020, month: 7, day: 1 }), (2026, 2));
        assert_eq!(series_month(&[], Date { year: 2020, month: 7, day: 1 }), (2020, 7));
    }

    #[test]
    fn nice_ceilings() {
        let cases = [
            (0, 2),
            (1, 2),
            (2, 2),
            (3, 4),
            (7, 8),
            (9, 10),
            (10, 10),
            (11, 20),
            (22, 30),
            (41, 50),
            (51, 60),
            (61, 80),
            (81, 100),
            (999, 1000),
        ];
        for (max, nice) in cases {
            assert_eq!(nice_ceiling(max), nice, "{max}");
        }
    }

    #[test]
    fn bars_scale_to_the_plot() {
        // 2 days in 232 × 126: plot 200 wide (slots of 100) and 100 tall; scale max 10.
        let days = vec![
            DayCounts { day: 1, date: "2026-11-01".into(), completed: 10, failed: 0 },
            DayCounts { day: 2, date: "2026-11-02".into(), completed: 5, failed: 3 },
        ];
        let g = layout(&days, 232.0, 126.0);
        assert_eq!((g.scale_max, g.baseline, g.plot_left), (10, 108.0, 32.0));
        let shapes: Vec<(f64, f64, f64, f64, BarKind)> =
            g.bars.iter().map(|b| (b.x, b.y, b.width, b.height, b.kind)).collect();
        assert_eq!(
            shapes,
            [
                (42.0, 8.0, 40.0, 100.0, BarKind::Completed),
                (82.0, 108.0, 40.0, 0.0, BarKind::Failed),
                (142.0, 58.0, 40.0, 50.0, BarKind::Completed),
                (182.0, 78.0, 40.0, 30.0, BarKind::Failed),
            ]
        );
        assert_eq!(
            g.grid.iter().map(|l| (l.y, l.value)).collect::<Vec<_>>(),
            [(108.0, 0), (58.0, 5), (8.0, 10)]
        );
        assert_eq!(g.labels, [DayLabel { x: 82.0, text: "1".into() }]);
    }

    #[test]
    fn an_empty_month_draws_flat_bars() {
        let days = month_days(&[], 2026, 11);
        let g = layout(&days, 632.0, 126.0);
        assert_eq!(g.bars.len(), 60);
        assert!(g.bars.iter().all(|b| b.height == 0.0 && b.y == g.baseline));
        let labels: Vec<&str> = g.labels.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(labels, ["1", "5", "10", "15", "20", "25", "30"]);
    }
}
