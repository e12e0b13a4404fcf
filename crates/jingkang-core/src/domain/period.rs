//! Periods of whole months and quarters: the one place quarter arithmetic lives (the reports,
//! 规范服务, the indicators and the dashboards all count by it).

use chrono::{Datelike, Duration, Months, NaiveDate};
use serde::{Deserialize, Serialize};

/// A period of whole months, e.g. a quarter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Period {
    /// The first day of the first month.
    pub start: NaiveDate,
    /// The last day of the last month.
    pub end: NaiveDate,
}

impl Period {
    /// Quarter `q` (1–4) of `year`.
    pub fn quarter(year: i32, q: u32) -> Option<Period> {
        if !(1..=4).contains(&q) {
            return None;
        }
        let start = NaiveDate::from_ymd_opt(year, 3 * (q - 1) + 1, 1)?;
        let end = start.checked_add_months(Months::new(3))? - Duration::days(1);
        Some(Period { start, end })
    }

    /// Month `m` (1–12) of `year`.
    pub fn month(year: i32, m: u32) -> Option<Period> {
        let start = NaiveDate::from_ymd_opt(year, m, 1)?;
        let end = start.checked_add_months(Months::new(1))? - Duration::days(1);
        Some(Period { start, end })
    }

    /// A month written `2026-08` (or `2026-8`), surrounding spaces ignored.
    pub fn parse_month(text: &str) -> Option<Period> {
        let (y, m) = text.trim().split_once('-')?;
        Period::month(y.parse().ok()?, m.parse().ok()?)
    }

    /// A quarter written `2026Q3` (or `2026q3`), surrounding spaces ignored.
    pub fn parse_quarter(text: &str) -> Option<Period> {
        Quarter::parse(text).map(Quarter::period)
    }

    /// The months of the period as (year, month).
    pub fn months(&self) -> Vec<(i32, u32)> {
        let mut out = Vec::new();
        let mut d = self.start;
        while d <= self.end {
            out.push((d.year(), d.month()));
            let Some(next) = d.checked_add_months(Months::new(1)) else {
                break;
            };
            d = next;
        }
        out
    }

    /// `YYYY年第N季度` for a quarter, else the dates.
    pub fn label_zh(&self) -> String {
        let is_quarter = self.start.day() == 1
            && (self.start.month() - 1).is_multiple_of(3)
            && Period::quarter(self.start.year(), (self.start.month() - 1) / 3 + 1) == Some(*self);
        if is_quarter {
            format!(
                "{}年第{}季度",
                self.start.year(),
                (self.start.month() - 1) / 3 + 1
            )
        } else if Period::month(self.start.year(), self.start.month()) == Some(*self) {
            format!("{}年{}月", self.start.year(), self.start.month())
        } else {
            format!("{} 至 {}", self.start, self.end)
        }
    }
}

/// A calendar quarter: `2026Q3` is July to September 2026.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quarter {
    year: i32,
    number: u32,
}

impl Quarter {
    /// Quarter `number` (1–4) of `year`.
    pub fn new(year: i32, number: u32) -> Option<Quarter> {
        ((1..=4).contains(&number) && Period::quarter(year, number).is_some())
            .then_some(Quarter { year, number })
    }

    /// The quarter `d` falls in.
    pub fn of(d: NaiveDate) -> Quarter {
        Quarter {
            year: d.year(),
            number: (d.month() - 1) / 3 + 1,
        }
    }

    /// The quarter of today in China: the default of a report filed before its quarter ends.
    pub fn current() -> Quarter {
        Quarter::of(super::clock::today())
    }

    /// The last quarter that has ended by today in China: the default of figures judged on a
    /// whole quarter (规范服务, the indicators).
    pub fn last_complete() -> Quarter {
        Quarter::current().prev()
    }

    pub fn prev(self) -> Quarter {
        if self.number == 1 {
            Quarter {
                year: self.year - 1,
                number: 4,
            }
        } else {
            Quarter {
                year: self.year,
                number: self.number - 1,
            }
        }
    }

    /// `2026Q3` (or `2026q3`), surrounding spaces ignored.
    pub fn parse(text: &str) -> Option<Quarter> {
        let (y, q) = text.trim().split_once(['Q', 'q'])?;
        Quarter::new(y.parse().ok()?, q.parse().ok()?)
    }

    pub fn year(self) -> i32 {
        self.year
    }

    pub fn number(self) -> u32 {
        self.number
    }

    /// `2026Q3`, as links and files name it.
    pub fn code(self) -> String {
        format!("{}Q{}", self.year, self.number)
    }

    /// `2026年第3季度`.
    pub fn label_zh(self) -> String {
        format!("{}年第{}季度", self.year, self.number)
    }

    /// Its first and last days.
    pub fn period(self) -> Period {
        Period::quarter(self.year, self.number).unwrap_or_else(|| unreachable!("checked in new"))
    }

    /// This quarter and the `n - 1` before it, newest first.
    pub fn back(self, n: usize) -> Vec<Quarter> {
        std::iter::successors(Some(self), |q| Some(q.prev()))
            .take(n)
            .collect()
    }
}

impl std::fmt::Display for Quarter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}Q{}", self.year, self.number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn quarters() {
        let q = Period::quarter(2026, 3).unwrap();
        assert_eq!((q.start, q.end), (d("2026-07-01"), d("2026-09-30")));
        assert_eq!(q.months(), vec![(2026, 7), (2026, 8), (2026, 9)]);
        assert_eq!(q.label_zh(), "2026年第3季度");
        assert_eq!(Period::quarter(2026, 1).unwrap().end, d("2026-03-31"));
        assert_eq!(Period::quarter(2024, 1).unwrap().months().len(), 3);
        assert!(Period::quarter(2026, 5).is_none());
        assert_eq!(Period::parse_quarter(" 2026q3 "), Some(q));
        for bad in ["2026Q5", "2026", "Q3", "二〇二六Q3", ""] {
            assert_eq!(Period::parse_quarter(bad), None, "{bad}");
        }
    }

    #[test]
    fn quarter_arithmetic() {
        let q = Quarter::of(d("2026-08-15"));
        assert_eq!(
            (q.year(), q.number(), q.code()),
            (2026, 3, "2026Q3".to_string())
        );
        assert_eq!(q.period(), Period::quarter(2026, 3).unwrap());
        assert_eq!(q.label_zh(), "2026年第3季度");
        assert_eq!(Quarter::of(d("2026-01-01")).prev().code(), "2025Q4");
        assert_eq!(Quarter::of(d("2026-12-31")), Quarter::new(2026, 4).unwrap());
        assert_eq!(Quarter::parse(" 2026q1 "), Quarter::new(2026, 1));
        for bad in ["2026Q0", "2026Q5", "2026", "Q3", ""] {
            assert_eq!(Quarter::parse(bad), None, "{bad}");
        }
        assert_eq!(
            Quarter::new(2026, 2)
                .unwrap()
                .back(3)
                .iter()
                .map(|q| q.code())
                .collect::<Vec<_>>(),
            ["2026Q2", "2026Q1", "2025Q4"]
        );
        assert_eq!(Quarter::last_complete(), Quarter::current().prev());
    }
}
