//! Money as integer micro-dollars (never floats), price quotes and job cost, and the display
//! rule shared by the API and the console: sub-cent amounts keep four decimals.

use crate::time::HOUR_MS;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::{Add, AddAssign};

/// An amount of US dollars in millionths (1 USD = 1,000,000).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Micros(pub i64);

impl Micros {
    /// No money; displays as `$0.00`.
    pub const ZERO: Micros = Micros(0);

    /// Cost of running for `millis` at `per_hour`, rounded to the nearest micro-dollar.
    pub fn for_duration(per_hour: Micros, millis: i64) -> Micros {
        let product = i128::from(per_hour.0) * i128::from(millis.max(0));
        let hour = i128::from(HOUR_MS);
        Micros(((product + hour / 2) / hour) as i64)
    }

    /// Parses a decimal dollar amount such as `"0.0416000000"` (the Pricing API's format) into
    /// micro-dollars, truncating beyond the sixth decimal. Returns `None` for anything else.
    pub fn parse_usd(text: &str) -> Option<Micros> {
        let text = text.trim();
        let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
        if whole.is_empty() && frac.is_empty() {
            return None;
        }
        if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
        let mut micros = whole.checked_mul(1_000_000)?;
        let mut scale = 100_000;
        for digit in frac.bytes().take(6) {
            micros += i64::from(digit - b'0') * scale;
            scale /= 10;
        }
        Some(Micros(micros))
    }
}

impl Add for Micros {
    type Output = Micros;
    fn add(self, rhs: Micros) -> Micros {
        Micros(self.0.saturating_add(rhs.0))
    }
}

impl AddAssign for Micros {
    fn add_assign(&mut self, rhs: Micros) {
        *self = *self + rhs;
    }
}

impl fmt::Display for Micros {
    /// `$12.34` for a cent or more, `$0.0042` below a cent (four decimals, so sub-cent runs do
    /// not show as `$0.00`), `<$0.0001` for less than that but not zero, `$0.00` for zero.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        if abs != 0 && abs < 50 {
            return write!(f, "<{sign}$0.0001");
        }
        // Below what rounds to a whole cent: four decimals, rounded.
        if abs != 0 && abs < 9_950 {
            let tenths_of_milli = (abs + 50) / 100;
            return write!(f, "{sign}$0.{tenths_of_milli:04}");
        }
        let cents = (abs + 5_000) / 10_000;
        write!(f, "{sign}${}.{:02}", group_thousands(cents / 100), cents % 100)
    }
}

fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Where a price quote came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PriceSource {
    /// The AWS Pricing API's on-demand list price.
    OnDemandList,
    /// The latest spot price from DescribeSpotPriceHistory.
    SpotHistory,
    /// A simulated price (demo mode and tests).
    Simulated,
}

impl PriceSource {
    /// `on_demand_list`, `spot_history` or `simulated`.
    pub fn as_str(self) -> &'static str {
        match self {
            PriceSource::OnDemandList => "on_demand_list",
            PriceSource::SpotHistory => "spot_history",
            PriceSource::Simulated => "simulated",
        }
    }
}

/// A price per instance-hour and its source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PriceQuote {
    /// Price per instance-hour, in micro-dollars.
    pub per_hour: Micros,
    /// Where the quote came from.
    pub source: PriceSource,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_keeps_sub_cent_precision() {
        assert_eq!(Micros(0).to_string(), "$0.00");
        assert_eq!(Micros(42).to_string(), "<$0.0001");
        assert_eq!(Micros(50).to_string(), "$0.0001");
        assert_eq!(Micros(420).to_string(), "$0.0004");
        assert_eq!(Micros(4_160).to_string(), "$0.0042");
        assert_eq!(Micros(9_949).to_string(), "$0.0099");
        assert_eq!(Micros(9_999).to_string(), "$0.01");
        assert_eq!(Micros(10_000).to_string(), "$0.01");
        assert_eq!(Micros(1_234_567).to_string(), "$1.23");
        assert_eq!(Micros(1_234_567_890_000).to_string(), "$1,234,567.89");
        assert_eq!(Micros(-4_160).to_string(), "-$0.0042");
    }

    #[test]
    fn cost_is_price_times_duration() {
        let per_hour = Micros(96_000); // $0.096/h
        assert_eq!(Micros::for_duration(per_hour, HOUR_MS), per_hour);
        assert_eq!(Micros::for_duration(per_hour, 90 * 1_000), Micros(2_400));
        assert_eq!(Micros::for_duration(per_hour, -5), Micros::ZERO);
    }

    #[test]
    fn parses_pricing_api_amounts() {
        assert_eq!(Micros::parse_usd("0.0416000000"), Some(Micros(41_600)));
        assert_eq!(Micros::parse_usd("12"), Some(Micros(12_000_000)));
        assert_eq!(Micros::parse_usd(".5"), Some(Micros(500_000)));
        assert_eq!(Micros::parse_usd("0.00000099"), Some(Micros(0)));
        assert_eq!(Micros::parse_usd("abc"), None);
        assert_eq!(Micros::parse_usd("-1"), None);
        assert_eq!(Micros::parse_usd(""), None);
    }
}
