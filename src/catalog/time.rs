//! Instants in and out of the API: stored in UTC, shown in the venue's offset.

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;

/// `instant` in `tz`'s local offset, e.g. `2026-01-10T18:30:00+05:30`.
pub fn local_rfc3339(instant: DateTime<Utc>, tz: Tz) -> String {
    instant
        .with_timezone(&tz)
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// `instant` in `tz`'s local offset with milliseconds, for expiries that are exact to the
/// millisecond (`2026-01-10T18:40:00.250+05:30`).
pub fn local_rfc3339_millis(instant: DateTime<Utc>, tz: Tz) -> String {
    instant
        .with_timezone(&tz)
        .to_rfc3339_opts(SecondsFormat::Millis, false)
}

/// The venue-local calendar date of `instant` (`YYYY-MM-DD`).
pub fn local_date(instant: DateTime<Utc>, tz: Tz) -> String {
    instant.with_timezone(&tz).date_naive().to_string()
}

/// Parses a show time: RFC 3339 with an offset, or a local date-time without one, taken in
/// the venue's time zone (refused when the clock change makes it ambiguous or skipped).
pub fn parse_show_time(raw: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
    let raw = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc).with_nanosecond0());
    }
    let naive = NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M"))
        .map_err(|_| {
            "must be an RFC 3339 time such as 2026-01-10T18:30:00+05:30 (or a local time 2026-01-10T18:30)".to_string()
        })?;
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => Ok(t.with_timezone(&Utc)),
        _ => Err(format!(
            "{raw} does not exist or is ambiguous in {}",
            tz.name()
        )),
    }
}

/// A `from`/`to` filter: a calendar date (venue-local) or an instant.
#[derive(Debug, Clone, PartialEq)]
pub enum TimeFilter {
    Date(NaiveDate),
    Instant(DateTime<Utc>),
}

pub fn parse_time_filter(raw: &str) -> Option<TimeFilter> {
    let raw = raw.trim();
    if let Ok(d) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return Some(TimeFilter::Date(d));
    }
    DateTime::parse_from_rfc3339(raw)
        .ok()
        .map(|t| TimeFilter::Instant(t.with_timezone(&Utc)))
}

trait NoNanos {
    fn with_nanosecond0(self) -> Self;
}

impl NoNanos for DateTime<Utc> {
    fn with_nanosecond0(self) -> Self {
        use chrono::Timelike;
        self.with_nanosecond(0).unwrap_or(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_show_in_the_venue_offset() {
        let tz: Tz = "Asia/Kolkata".parse().expect("tz");
        let t = parse_show_time("2026-01-10T18:30:00+05:30", tz).expect("parse");
        assert_eq!(t.to_rfc3339(), "2026-01-10T13:00:00+00:00");
        assert_eq!(local_rfc3339(t, tz), "2026-01-10T18:30:00+05:30");
        assert_eq!(parse_show_time("2026-01-10T18:30", tz).expect("local"), t);
        assert_eq!(local_date(t, tz), "2026-01-10");
    }

    #[test]
    fn nonexistent_local_times_are_refused() {
        let tz: Tz = "Europe/London".parse().expect("tz");
        assert!(parse_show_time("2026-03-29T01:30", tz).is_err());
        assert!(parse_show_time("tomorrow", tz).is_err());
    }
}
