//! Instants and humane durations, without a wall clock.
//!
//! The engine never reads the time itself: a [`crate::Clock`] hands it a
//! [`Timestamp`]. Durations are written the way people say them (`90s`, `10m`,
//! `2h`, `90d`, `1h30m`) and rendered back the same way.

use jiff::civil::Date;
use jiff::tz::Offset;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Milliseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Timestamp(pub i64);

/// A span of time in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub i64);

const UNITS: &[(&str, i64)] = &[
    ("w", 7 * 86_400_000),
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

impl Duration {
    /// A duration of whole seconds.
    pub const fn seconds(s: i64) -> Duration {
        Duration(s * 1000)
    }

    /// The zero duration.
    pub const ZERO: Duration = Duration(0);

    /// Parses `90s`, `10m`, `2h`, `90d`, `1w`, or a sum such as `1h30m`.
    pub fn parse(text: &str) -> Result<Duration, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("empty duration".into());
        }
        let mut total: i64 = 0;
        let mut rest = text;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(format!("`{text}` is not a duration"));
            }
            let number: i64 = rest[..digits]
                .parse()
                .map_err(|_| format!("`{text}` is too large"))?;
            rest = &rest[digits..];
            let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            let unit = &rest[..unit_len];
            rest = &rest[unit_len..];
            let Some((_, ms)) = UNITS.iter().find(|(u, _)| *u == unit) else {
                return Err(if unit.is_empty() && rest.is_empty() {
                    format!("`{text}` has no unit")
                } else if unit.is_empty() {
                    format!("`{text}` is not a duration")
                } else {
                    format!("`{unit}` is not a unit")
                });
            };
            total = number
                .checked_mul(*ms)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(|| format!("`{text}` is too large"))?;
        }
        Ok(Duration(total))
    }

    /// Milliseconds.
    pub fn as_millis(self) -> i64 {
        self.0
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0s");
        }
        let mut rest = self.0;
        // Weeks read oddly in windows ("1w6d"); days are the largest unit we print.
        for (unit, ms) in &UNITS[1..] {
            if rest >= *ms {
                write!(f, "{}{unit}", rest / ms)?;
                rest %= ms;
            }
        }
        Ok(())
    }
}

impl std::ops::Add<Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(d.0))
    }
}

impl std::ops::Sub<Duration> for Timestamp {
    type Output = Timestamp;
    fn sub(self, d: Duration) -> Timestamp {
        Timestamp(self.0 - d.0)
    }
}

impl std::ops::Sub for Timestamp {
    type Output = Duration;
    fn sub(self, other: Timestamp) -> Duration {
        Duration(self.0 - other.0)
    }
}

/// 1970-01-01, the day a [`Timestamp`] counts from.
const EPOCH: Date = Date::constant(1970, 1, 1);

/// The Gregorian calendar repeats every 400 years, which are 146 097 days.
/// A `Timestamp` is any `i64` of milliseconds (some 292 million years either
/// way) while jiff knows the years -9999 to 9999: an instant is rendered as
/// the same instant of its 400-year cycle starting 1970, plus 400 years per
/// cycle. For the years people meet this is a no-op.
const CYCLE_MS: i64 = 146_097 * 86_400_000;

impl Timestamp {
    /// Parses a calendar date `YYYY-MM-DD` as midnight UTC.
    pub fn parse_date(text: &str) -> Result<Timestamp, String> {
        let bad = || format!("`{text}` is not a date of the form YYYY-MM-DD");
        let parts: Vec<&str> = text.split('-').collect();
        if parts.len() != 3 || parts[0].len() != 4 || parts[1].len() != 2 || parts[2].len() != 2 {
            return Err(bad());
        }
        // Four characters make a year of 0 to 9999, two a month or day of
        // at most 99: each fits, and jiff knows every such year.
        let year = parts[0].parse::<i16>().map_err(|_| bad())?;
        let (month, day) = (parts[1].parse::<i8>(), parts[2].parse::<i8>());
        let (Ok(month), Ok(day)) = (month, day) else {
            return Err(bad());
        };
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return Err(bad());
        }
        let date = Date::new(year, month, day)
            .map_err(|_| format!("`{text}` is not a day of the calendar"))?;
        // Subtracting two dates gives a span of days and never fails.
        let days = i64::from((date - EPOCH).get_days());
        Ok(Timestamp(days * 86_400_000))
    }

    /// Parses RFC 3339 as written by [`Timestamp::rfc3339`] (`2026-11-26T14:00:05.123Z`).
    pub fn parse_rfc3339(text: &str) -> Result<Timestamp, String> {
        let bad = || format!("`{text}` is not an RFC 3339 UTC timestamp");
        let (date, time) = text.split_once('T').ok_or_else(bad)?;
        let time = time.strip_suffix('Z').ok_or_else(bad)?;
        let day = Timestamp::parse_date(date).map_err(|_| bad())?;
        let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
        let hms: Vec<i64> = hms
            .split(':')
            .map(|p| p.parse::<i64>().map_err(|_| bad()))
            .collect::<Result<_, _>>()?;
        if hms.len() != 3 || frac.is_empty() || frac.len() > 3 {
            return Err(bad());
        }
        let ms: i64 = format!("{frac:0<3}").parse().map_err(|_| bad())?;
        Ok(Timestamp(
            day.0 + ((hms[0] * 60 + hms[1]) * 60 + hms[2]) * 1000 + ms,
        ))
    }

    fn parts(self) -> (i64, i64, i64, i64, i64, i64, i64) {
        let cycles = self.0.div_euclid(CYCLE_MS);
        let within = jiff::Timestamp::from_millisecond(self.0.rem_euclid(CYCLE_MS))
            .expect("1970 to 2370 is within jiff's range");
        let t = Offset::UTC.to_datetime(within);
        (
            i64::from(t.year()) + 400 * cycles,
            i64::from(t.month()),
            i64::from(t.day()),
            i64::from(t.hour()),
            i64::from(t.minute()),
            i64::from(t.second()),
            i64::from(t.millisecond()),
        )
    }

    /// `2026-11-26T14:00:05.123Z`: the machine form used in state and JSON.
    pub fn rfc3339(self) -> String {
        let (y, mo, d, h, mi, s, ms) = self.parts();
        if ms == 0 {
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
        } else {
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
        }
    }

    /// `2026-11-26 14:00:05 UTC`: the form people read in plans.
    pub fn human(self) -> String {
        let (y, mo, d, h, mi, s, _) = self.parts();
        format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} UTC")
    }

    /// `2026-11-26`.
    pub fn date(self) -> String {
        let (y, mo, d, ..) = self.parts();
        format!("{y:04}-{mo:02}-{d:02}")
    }
}

impl From<Timestamp> for String {
    fn from(t: Timestamp) -> String {
        t.rfc3339()
    }
}

impl TryFrom<String> for Timestamp {
    type Error = String;
    fn try_from(s: String) -> Result<Timestamp, String> {
        Timestamp::parse_rfc3339(&s)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.human())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_render() {
        for (text, ms, back) in [
            ("90s", 90_000, "1m30s"),
            ("10m", 600_000, "10m"),
            ("2h", 7_200_000, "2h"),
            ("90d", 90 * 86_400_000, "90d"),
            ("1w", 7 * 86_400_000, "7d"),
            ("1h30m", 5_400_000, "1h30m"),
            ("250ms", 250, "250ms"),
        ] {
            let d = Duration::parse(text).unwrap();
            assert_eq!(d.0, ms, "{text}");
            assert_eq!(d.to_string(), back);
        }
        for bad in ["", "10", "m", "10x", "1.5h", "-1s"] {
            assert!(Duration::parse(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn timestamps_round_trip() {
        let t = Timestamp::parse_rfc3339("2026-11-26T14:00:05.123Z").unwrap();
        assert_eq!(t.rfc3339(), "2026-11-26T14:00:05.123Z");
        assert_eq!(t.human(), "2026-11-26 14:00:05 UTC");
        assert_eq!(
            Timestamp::parse_date("2027-02-01").unwrap().date(),
            "2027-02-01"
        );
        assert!(Timestamp::parse_date("2027-02-30").is_err());
        assert_eq!(Timestamp(0).rfc3339(), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn every_i64_renders_as_the_proleptic_calendar_would() {
        // Far beyond jiff's years, by the 400-year cycle: these are the
        // strings the hand-written calendar wrote before jiff replaced it.
        assert_eq!(
            Timestamp(i64::MAX).rfc3339(),
            "292278994-08-17T07:12:55.807Z"
        );
        assert_eq!(Timestamp(i64::MAX).human(), "292278994-08-17 07:12:55 UTC");
        assert_eq!(
            Timestamp(i64::MIN).rfc3339(),
            "-292275055-05-16T16:47:04.192Z"
        );
        assert_eq!(Timestamp(-1).rfc3339(), "1969-12-31T23:59:59.999Z");
    }

    proptest::proptest! {
        /// From 0000-01-01 to 9999-12-30 (jiff's timestamps end there)
        /// rotor writes what jiff writes, milliseconds only where there are
        /// some, and reads it back. Outside 1970 to 2370 this goes through
        /// the 400-year cycle of `parts`.
        #[test]
        fn timestamps_agree_with_jiff(ms in -62_167_219_200_000i64..253_402_128_000_000) {
            let t = Timestamp(ms);
            let j = jiff::Timestamp::from_millisecond(ms).unwrap();
            let expected = if ms % 1000 == 0 { format!("{j}") } else { format!("{j:.3}") };
            proptest::prop_assert_eq!(t.rfc3339(), expected);
            proptest::prop_assert_eq!(Timestamp::parse_rfc3339(&t.rfc3339()), Ok(t));
            let midnight = Timestamp(ms.div_euclid(86_400_000) * 86_400_000);
            proptest::prop_assert_eq!(Timestamp::parse_date(&t.date()), Ok(midnight));
            proptest::prop_assert_eq!(&t.human()[..10], t.date());
        }
    }
}
