//! Bulk writes and lookups.
//!
//! A batch of rows is collected in [`Rows`] and written with one statement per batch:
//! - SQLite: a multi-row `INSERT … VALUES (…), (…)` with bound parameters (at most
//!   [`SQLITE_MAX_PARAMS`] per statement). Binding is cheap in-process; the earlier JSON route
//!   (`json_each` + `->>`) spent half the writer's time re-parsing JSON.
//! - PostgreSQL: the batch as one JSON array of rows (`[[1,"a",null],[2,"b","c"]]`) unpacked by
//!   `jsonb_array_elements`, so a batch is one parameter and one round trip, whatever its size.
//!
//! One statement text per table, column set and batch size, so prepared statements are reused.

use std::io::Write;

use chrono::NaiveDate;

use super::{Backend, Conn, Tx};

/// The SQL type a value is stored as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    Int,
    Text,
    Date,
    Bool,
    Real,
}

/// One value of a row.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Null,
    Int(i64),
    Real(f64),
    Bool(bool),
    Text(String),
    Date(NaiveDate),
}

/// SQLite's limit on bound parameters per statement (SQLITE_MAX_VARIABLE_NUMBER since 3.32).
pub const SQLITE_MAX_PARAMS: usize = 32_766;

/// Rows of values, all of the same width, collected for one bulk statement.
#[derive(Debug, Default)]
pub struct Rows {
    vals: Vec<Val>,
    rows: usize,
}

impl Rows {
    pub fn new() -> Rows {
        Rows::default()
    }
    /// Start a new row.
    pub fn row(&mut self) -> &mut Self {
        self.rows += 1;
        self
    }
    /// End the current row (kept for symmetry with `row`; rows are delimited by width).
    pub fn end_row(&mut self) {}
    pub fn text(&mut self, v: Option<&str>) -> &mut Self {
        self.vals
            .push(v.map_or(Val::Null, |s| Val::Text(s.to_string())));
        self
    }
    pub fn int(&mut self, v: Option<i64>) -> &mut Self {
        self.vals.push(v.map_or(Val::Null, Val::Int));
        self
    }
    pub fn real(&mut self, v: Option<f64>) -> &mut Self {
        self.vals
            .push(v.filter(|f| f.is_finite()).map_or(Val::Null, Val::Real));
        self
    }
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.vals.push(Val::Bool(v));
        self
    }
    pub fn date(&mut self, v: NaiveDate) -> &mut Self {
        self.vals.push(Val::Date(v));
        self
    }
    pub fn opt_date(&mut self, v: Option<NaiveDate>) -> &mut Self {
        self.vals.push(v.map_or(Val::Null, Val::Date));
        self
    }
    pub fn len(&self) -> usize {
        self.rows
    }
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }
    fn width(&self) -> usize {
        self.vals.len().checked_div(self.rows).unwrap_or(0)
    }
    /// The rows as one JSON array of arrays (PostgreSQL's route).
    pub fn to_json(&self) -> String {
        let mut buf = Vec::with_capacity(self.vals.len() * 12 + 2);
        buf.push(b'[');
        let w = self.width().max(1);
        for (r, row) in self.vals.chunks(w).enumerate() {
            if r > 0 {
                buf.push(b',');
            }
            buf.push(b'[');
            for (i, v) in row.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                // Writing into a Vec cannot fail.
                let _ = match v {
                    Val::Null => buf.write_all(b"null"),
                    Val::Int(n) => write!(buf, "{n}"),
                    Val::Real(f) => write!(buf, "{f}"),
                    Val::Bool(b) => buf.write_all(if *b { b"true" } else { b"false" }),
                    Val::Text(s) => {
                        serde_json::to_writer(&mut buf, s).map_err(std::io::Error::other)
                    }
                    Val::Date(d) => write!(buf, "\"{}\"", d.format("%Y-%m-%d")),
                };
            }
            buf.push(b']');
        }
        buf.push(b']');
        // Only valid UTF-8 was written (serde_json escapes, numbers, literals).
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// `INSERT INTO table (names…) VALUES (?, …), …` for `rows` rows (SQLite).
fn values_sql(table: &str, cols: &[(&str, Col)], rows: usize) -> String {
    let names: Vec<&str> = cols.iter().map(|(n, _)| *n).collect();
    let one = format!("({})", vec!["?"; cols.len()].join(","));
    let mut sql = String::with_capacity(64 + rows * (one.len() + 1));
    sql.push_str(&format!(
        "INSERT INTO {table} ({}) VALUES ",
        names.join(", ")
    ));
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(&one);
    }
    sql
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
    format!(
        "INSERT INTO {table} ({}) {}",
        names.join(", "),
        select_json_rows(backend, 1, &types)
    )
}

/// Insert `rows` (columns as in `cols`) into `table`. Returns the number of rows inserted; does
/// nothing for an empty batch.
pub async fn insert(
    tx: &mut Tx,
    table: &str,
    cols: &[(&str, Col)],
    rows: Rows,
) -> anyhow::Result<u64> {
    if rows.is_empty() {
        return Ok(0);
    }
    anyhow::ensure!(
        rows.width() == cols.len() && rows.vals.len() == rows.rows * cols.len(),
        "bulk insert into {table}: rows do not match the columns"
    );
    match &mut tx.conn {
        Conn::Sqlite(c) => {
            let per_statement = (SQLITE_MAX_PARAMS / cols.len()).max(1);
            let mut done = 0;
            for chunk in rows.vals.chunks(per_statement * cols.len()) {
                let sql = values_sql(table, cols, chunk.len() / cols.len());
                let mut q = sqlx::query(&sql);
                for v in chunk {
                    q = match v {
                        Val::Null => q.bind(None::<i64>),
                        Val::Int(n) => q.bind(*n),
                        Val::Real(f) => q.bind(*f),
                        Val::Bool(b) => q.bind(i64::from(*b)),
                        Val::Text(s) => q.bind(s.as_str()),
                        Val::Date(d) => q.bind(d.format("%Y-%m-%d").to_string()),
                    };
                }
                done += q.execute(&mut **c).await?.rows_affected();
            }
            Ok(done)
        }
        Conn::Postgres(c) => {
            let sql = insert_sql(Backend::Postgres, table, cols);
            let json = rows.to_json();
            Ok(sqlx::query(&sql)
                .bind(&json)
                .execute(&mut **c)
                .await?
                .rows_affected())
        }
    }
}

/// Update rows of `table` by id: `cols[0]` is `("id", Col::Int)`, the others the columns set, each
/// row of `rows` one id and its new values. One statement per batch (the rows as one JSON
/// parameter). Returns the number of rows updated.
pub async fn update(
    tx: &mut Tx,
    table: &str,
    cols: &[(&str, Col)],
    rows: Rows,
) -> anyhow::Result<u64> {
    if rows.is_empty() {
        return Ok(0);
    }
    anyhow::ensure!(
        cols.first().map(|c| c.0) == Some("id")
            && rows.width() == cols.len()
            && rows.vals.len() == rows.rows * cols.len(),
        "bulk update of {table}: rows do not match the columns"
    );
    let backend = tx.backend();
    let types: Vec<Col> = cols.iter().map(|(_, t)| *t).collect();
    let select = select_json_rows(backend, 1, &types);
    // Name the selected values: `SELECT a, b FROM …` becomes `SELECT a AS c0, b AS c1 FROM …`.
    let (exprs, from) = select
        .strip_prefix("SELECT ")
        .and_then(|s| s.split_once(" FROM "))
        .ok_or_else(|| anyhow::anyhow!("unexpected bulk select"))?;
    let named: Vec<String> = split_top_level(exprs)
        .iter()
        .enumerate()
        .map(|(i, e)| format!("{e} AS c{i}"))
        .collect();
    let sets: Vec<String> = cols
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, (name, _))| format!("{name} = u.c{i}"))
        .collect();
    let sql = format!(
        "UPDATE {table} SET {} FROM (SELECT {} FROM {from}) AS u WHERE {table}.id = u.c0",
        sets.join(", "),
        named.join(", ")
    );
    let json = rows.to_json();
    Ok(on_tx_conn(tx, &sql, &json).await?)
}

/// The expressions of a select list (no expression here holds a comma inside parentheses).
fn split_top_level(list: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0i32, 0usize);
    for (i, ch) in list.char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(list[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(list[start..].trim());
    out
}

async fn on_tx_conn(tx: &mut Tx, sql: &str, json: &str) -> Result<u64, sqlx::Error> {
    match &mut tx.conn {
        Conn::Sqlite(c) => Ok(sqlx::query(sql)
            .bind(json)
            .execute(&mut **c)
            .await?
            .rows_affected()),
        Conn::Postgres(c) => Ok(sqlx::query(sql)
            .bind(json)
            .execute(&mut **c)
            .await?
            .rows_affected()),
    }
}

/// A subquery yielding the strings of the JSON array bound as `$param` (for `x IN (…)`).
pub fn json_text_list(backend: Backend, param: usize) -> String {
    match backend {
        Backend::Sqlite => format!("SELECT value FROM json_each(${param})"),
        Backend::Postgres => format!("SELECT jsonb_array_elements_text(${param}::jsonb)"),
    }
}

/// A subquery yielding the integers of the JSON array bound as `$param` (for `id IN (…)`).
pub fn json_int_list(backend: Backend, param: usize) -> String {
    match backend {
        Backend::Sqlite => format!("SELECT value FROM json_each(${param})"),
        Backend::Postgres => format!("SELECT jsonb_array_elements_text(${param}::jsonb)::bigint"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_compact_json_rows() {
        let mut j = Rows::new();
        j.row()
            .int(Some(1))
            .text(Some("张\"三"))
            .text(None)
            .bool(true);
        j.end_row();
        j.row()
            .int(None)
            .text(Some("b"))
            .date(NaiveDate::from_ymd_opt(1990, 1, 2).unwrap())
            .real(Some(2.5));
        j.end_row();
        let s = j.to_json();
        assert_eq!(s, r#"[[1,"张\"三",null,true],[null,"b","1990-01-02",2.5]]"#);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v[0][1], "张\"三");
    }

    #[test]
    fn sql_per_backend() {
        let cols = [
            ("id", Col::Int),
            ("name", Col::Text),
            ("birth_date", Col::Date),
        ];
        assert_eq!(
            insert_sql(Backend::Sqlite, "t", &cols),
            "INSERT INTO t (id, name, birth_date) SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2 FROM json_each($1) AS j"
        );
        assert!(insert_sql(Backend::Postgres, "t", &cols).contains("(j.e ->> 2)::date"));
        assert_eq!(
            values_sql("t", &cols[..2], 2),
            "INSERT INTO t (id, name) VALUES (?,?),(?,?)"
        );
    }
}
