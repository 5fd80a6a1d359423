//! Instants and humane durations, without a wall clock.
//!
//! The engine never reads the time itself: a [`crate::Clock`] hands it a
//! [`Timestamp`]. Durations are written the way people say them (`90s`, `10m`,
//! `2h`, `90d`, `1h30m`) and rendered back the same way.

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

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl Timestamp {
    /// Parses a calendar date `YYYY-MM-DD` as midnight UTC.
    pub fn parse_date(text: &str) -> Result<Timestamp, String> {
        let bad = || format!("`{text}` is not a date of the form YYYY-MM-DD");
        let parts: Vec<&str> = text.split('-').collect();
        if parts.len() != 3 || parts[0].len() != 4 || parts[1].len() != 2 || parts[2].len() != 2 {
            return Err(bad());
        }
        let n = |s: &str| s.parse::<i64>().map_err(|_| bad());
        let (y, m, d) = (n(parts[0])?, n(parts[1])?, n(parts[2])?);
        if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
            return Err(bad());
        }
        let days = days_from_civil(y, m, d);
        if civil_from_days(days) != (y, m, d) {
            return Err(format!("`{text}` is not a day of the calendar"));
        }
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
        let days = self.0.div_euclid(86_400_000);
        let ms = self.0.rem_euclid(86_400_000);
        let (y, m, d) = civil_from_days(days);
        (
            y,
            m,
            d,
            ms / 3_600_000,
            ms / 60_000 % 60,
            ms / 1000 % 60,
            ms % 1000,
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
}
