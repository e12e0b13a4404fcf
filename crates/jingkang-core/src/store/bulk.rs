//! Bulk writes and lookups through a single JSON parameter.
//!
//! Binding thousands of values one by one costs more in the driver than the database spends
//! storing them (sqlx copies and sends every argument). Instead a batch is serialised into one
//! JSON array of rows (`[[1,"a",null],[2,"b","c"]]`) and the database unpacks it with its own JSON
//! functions: `json_each` on SQLite, `jsonb_array_elements` on PostgreSQL. One statement text per
//! table and column set, whatever the batch size, so the prepared statement is reused.

use std::io::Write;

use chrono::NaiveDate;

use super::{Backend, Tx};

/// The SQL type a JSON value is read back as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    Int,
    Text,
    Date,
    Bool,
    Real,
}

/// A JSON array of rows, written directly into a buffer (no intermediate values).
pub struct JsonRows {
    buf: Vec<u8>,
    rows: usize,
    first_in_row: bool,
}

impl Default for JsonRows {
    fn default() -> Self {
        Self::new()
    }
}

impl JsonRows {
    pub fn new() -> JsonRows {
        JsonRows { buf: b"[".to_vec(), rows: 0, first_in_row: true }
    }
    pub fn row(&mut self) -> &mut Self {
        if self.rows > 0 {
            self.buf.push(b',');
        }
        self.buf.push(b'[');
        self.rows += 1;
        self.first_in_row = true;
        self
    }
    pub fn end_row(&mut self) {
        self.buf.push(b']');
    }
    fn sep(&mut self) {
        if !self.first_in_row {
            self.buf.push(b',');
        }
        self.first_in_row = false;
    }
    pub fn text(&mut self, v: Option<&str>) -> &mut Self {
        self.sep();
        match v {
            // Writing a &str into a Vec cannot fail.
            Some(s) => {
                let _ = serde_json::to_writer(&mut self.buf, s);
            }
            None => self.buf.extend_from_slice(b"null"),
        }
        self
    }
    pub fn int(&mut self, v: Option<i64>) -> &mut Self {
        self.sep();
        match v {
            Some(n) => {
                let _ = write!(self.buf, "{n}");
            }
            None => self.buf.extend_from_slice(b"null"),
        }
        self
    }
    pub fn real(&mut self, v: Option<f64>) -> &mut Self {
        self.sep();
        match v.filter(|f| f.is_finite()) {
            Some(f) => {
                let _ = write!(self.buf, "{f}");
            }
            None => self.buf.extend_from_slice(b"null"),
        }
        self
    }
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.sep();
        self.buf.extend_from_slice(if v { b"true" } else { b"false" });
        self
    }
    pub fn date(&mut self, v: NaiveDate) -> &mut Self {
        self.sep();
        let _ = write!(self.buf, "\"{}\"", v.format("%Y-%m-%d"));
        self
    }
    pub fn len(&self) -> usize {
        self.rows
    }
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }
    /// The JSON text.
    pub fn finish(mut self) -> String {
        self.buf.push(b']');
        // Only valid UTF-8 was written (serde_json escapes, numbers, literals).
        String::from_utf8(self.buf).unwrap_or_default()
    }
}

/// `SELECT <col 0>, <col 1>, … FROM <rows of the JSON parameter $param>`, each column typed.
pub fn select_json_rows(backend: Backend, param: usize, cols: &[Col]) -> String {
    let exprs: Vec<String> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| match backend {
            // SQLite's ->> already yields INTEGER/REAL/TEXT/NULL, and true/false as 1/0.
            Backend::Sqlite => format!("j.value ->> {i}"),
            Backend::Postgres => match c {
                Col::Int => format!("(j.e ->> {i})::bigint"),
                Col::Text => format!("(j.e ->> {i})"),
                Col::Date => format!("(j.e ->> {i})::date"),
                Col::Bool => format!("(j.e ->> {i})::boolean"),
                Col::Real => format!("(j.e ->> {i})::double precision"),
            },
        })
        .collect();
    let from = match backend {
        Backend::Sqlite => format!("json_each(${param}) AS j"),
        Backend::Postgres => format!("jsonb_array_elements(${param}::jsonb) AS j(e)"),
    };
    format!("SELECT {} FROM {from}", exprs.join(", "))
}

/// `INSERT INTO table (names…) SELECT … FROM <rows of $1>`.
pub fn insert_sql(backend: Backend, table: &str, cols: &[(&str, Col)]) -> String {
    let names: Vec<&str> = cols.iter().map(|(n, _)| *n).collect();
    let types: Vec<Col> = cols.iter().map(|(_, t)| *t).collect();
    format!("INSERT INTO {table} ({}) {}", names.join(", "), select_json_rows(backend, 1, &types))
}

/// Insert `rows` (one JSON array per row, columns as in `cols`) into `table` in one statement.
/// Returns the number of rows inserted; does nothing for an empty batch.
pub async fn insert(tx: &mut Tx, table: &str, cols: &[(&str, Col)], rows: JsonRows) -> anyhow::Result<u64> {
    if rows.is_empty() {
        return Ok(0);
    }
    let sql = insert_sql(tx.backend(), table, cols);
    let json = rows.finish();
    Ok(crate::on_tx!(tx, c => sqlx::query(&sql).bind(&json).execute(&mut **c).await.map(|r| r.rows_affected()))?)
}

/// A subquery yielding the strings of the JSON array bound as `$param` (for `x IN (…)`).
pub fn json_text_list(backend: Backend, param: usize) -> String {
    match backend {
        Backend::Sqlite => format!("SELECT value FROM json_each(${param})"),
        Backend::Postgres => format!("SELECT jsonb_array_elements_text(${param}::jsonb)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_compact_json_rows() {
        let mut j = JsonRows::new();
        j.row().int(Some(1)).text(Some("张\"三")).text(None).bool(true);
        j.end_row();
        j.row().int(None).text(Some("b")).date(NaiveDate::from_ymd_opt(1990, 1, 2).unwrap()).real(Some(2.5));
        j.end_row();
        let s = j.finish();
        assert_eq!(s, r#"[[1,"张\"三",null,true],[null,"b","1990-01-02",2.5]]"#);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v[0][1], "张\"三");
    }

    #[test]
    fn sql_per_backend() {
        let cols = [("id", Col::Int), ("name", Col::Text), ("birth_date", Col::Date)];
        assert_eq!(
            insert_sql(Backend::Sqlite, "t", &cols),
            "INSERT INTO t (id, name, birth_date) SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2 FROM json_each($1) AS j"
        );
        assert!(insert_sql(Backend::Postgres, "t", &cols).contains("(j.e ->> 2)::date"));
    }
}
