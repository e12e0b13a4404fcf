//! What differs between SQLite and PostgreSQL in the SQL the store writes, in one place: the code
//! that builds a statement asks its [`Backend`] for the fragment instead of matching on it.
//! Anything not here is written once for both (the migrations aside, which are per backend).

use super::Backend;

impl Backend {
    /// ` FOR UPDATE` on PostgreSQL, to lock the row read until commit (two clerks cannot both move
    /// the same state); nothing on SQLite, whose one writer already serialises write transactions.
    pub fn for_update(self) -> &'static str {
        match self {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        }
    }

    /// The month (`YYYY-MM`, text) of a date column or expression.
    pub fn month_of(self, date: &str) -> String {
        match self {
            Backend::Sqlite => format!("substr({date}, 1, 7)"),
            Backend::Postgres => format!("to_char({date}, 'YYYY-MM')"),
        }
    }

    /// The first day (a date) of the quarter of a date column or expression (`YYYY-MM-DD`).
    pub fn quarter_start_of(self, date: &str) -> String {
        match self {
            Backend::Sqlite => format!(
                "substr({date}, 1, 5) || printf('%02d', ((CAST(substr({date}, 6, 2) AS INTEGER) - 1) / 3) * 3 + 1) || '-01'"
            ),
            Backend::Postgres => format!("CAST(date_trunc('quarter', {date}) AS DATE)"),
        }
    }

    /// The first day (a date) of the quarter of a month held as text (`YYYY-MM`).
    pub fn quarter_of_month(self, month: &str) -> String {
        match self {
            Backend::Sqlite => self.quarter_start_of(month),
            Backend::Postgres => self.quarter_start_of(&format!("to_date({month}, 'YYYY-MM')")),
        }
    }

    /// The last day of the quarter that starts on a date expression.
    pub fn last_day_of_quarter(self, start: &str) -> String {
        match self {
            Backend::Sqlite => format!("date({start}, '+3 months', '-1 day')"),
            Backend::Postgres => {
                format!("CAST({start} + INTERVAL '3 months' - INTERVAL '1 day' AS DATE)")
            }
        }
    }

    /// The date `months` (an integer expression) months after a date expression.
    pub fn plus_months(self, date: &str, months: &str) -> String {
        match self {
            Backend::Sqlite => format!("date({date}, '+' || ({months}) || ' months')"),
            Backend::Postgres => format!("CAST({date} + ({months}) * INTERVAL '1 month' AS DATE)"),
        }
    }

    /// An integer expression as text padded with zeros to `width` digits (so that text order is
    /// numeric order).
    pub fn zero_padded(self, int: &str, width: usize) -> String {
        match self {
            Backend::Sqlite => format!("printf('%0{width}d', {int})"),
            Backend::Postgres => format!("lpad(CAST({int} AS TEXT), {width}, '0')"),
        }
    }

    /// The column types of a temporary table: (integer, text, date, boolean).
    pub fn column_types(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            Backend::Sqlite => ("INTEGER", "TEXT", "TEXT", "INTEGER"),
            Backend::Postgres => ("BIGINT", "TEXT", "DATE", "BOOLEAN"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Backend;

    #[test]
    fn each_backend_gets_its_own_fragment() {
        assert_eq!(Backend::Postgres.for_update(), " FOR UPDATE");
        assert_eq!(Backend::Sqlite.for_update(), "");
        assert_eq!(Backend::Sqlite.month_of("d"), "substr(d, 1, 7)");
        assert_eq!(
            Backend::Postgres.zero_padded("e.id", 19),
            "lpad(CAST(e.id AS TEXT), 19, '0')"
        );
        assert_eq!(
            Backend::Sqlite.zero_padded("e.id", 19),
            "printf('%019d', e.id)"
        );
    }
}
