//! The one clock: dates and times as users in China read them (China Standard Time, UTC+8, no
//! daylight saving), whatever the server's own time zone. "Today" decides due dates, quarters,
//! deadlines and ages, so the page, the API and the command line must agree on it.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, Utc};

/// China Standard Time.
pub fn china() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| unreachable!("UTC+8 is a valid offset"))
}

/// Today in China.
pub fn today() -> NaiveDate {
    date_of(Utc::now())
}

/// The date in China at instant `t`.
pub fn date_of(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&china()).date_naive()
}

/// Instant `t` as users read it: China time, to the minute (`2026-12-08 05:30`).
pub fn minute(t: DateTime<Utc>) -> String {
    t.with_timezone(&china())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// A wall-clock time typed by a user in China, as an instant.
pub fn from_china(local: NaiveDateTime) -> DateTime<Utc> {
    (local - chrono::Duration::hours(8)).and_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn china_is_eight_hours_ahead_across_midnight() {
        let t = DateTime::parse_from_rfc3339("2026-12-07T16:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(date_of(t), NaiveDate::from_ymd_opt(2026, 12, 8).unwrap());
        assert_eq!(minute(t), "2026-12-08 00:00");
        let before = t - chrono::Duration::minutes(1);
        assert_eq!(
            date_of(before),
            NaiveDate::from_ymd_opt(2026, 12, 7).unwrap()
        );
        assert_eq!(from_china(t.with_timezone(&china()).naive_local()), t);
    }
}
