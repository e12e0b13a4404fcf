//! One exchange run end to end: read a department's file with the source's saved column names,
//! compare it with the region's registry, and save the list, the run and its items in one
//! transaction. A file that cannot be read, an unknown region or a bad mapping change nothing.

use std::path::Path;

use chrono::NaiveDate;

use super::{Comparison, ListRead, Mapping, Source, compare, read_list};
use crate::import::ImportError;
use crate::regions::{Level, RegionTree, Scope};
use crate::store::exchange::{self, NewRun, Summary};
use crate::store::{Actor, Db};

/// What to run.
pub struct RunRequest<'a> {
    pub source: &'static Source,
    /// County (or city, or township for a 派出所's list) code.
    pub region: &'a str,
    pub path: &'a Path,
    /// The name the file is kept under (its name as uploaded).
    pub file_name: &'a str,
    /// The day the department's list stands as of.
    pub taken_on: NaiveDate,
    /// Header texts of this department to remember (normalised header → column key).
    pub mapping: Mapping,
    pub actor: &'a Actor,
    pub today: NaiveDate,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub list: i64,
    pub run: i64,
    pub read: ListRead,
    pub comparison: Comparison,
    pub summary: Summary,
}

/// Read, compare and save. The registry is read in the region's scope.
pub async fn run_list(
    db: &Db,
    tree: &RegionTree,
    req: RunRequest<'_>,
) -> Result<RunReport, ImportError> {
    let county = tree
        .get(req.region)
        .ok_or_else(|| ImportError::UnknownCounty(req.region.to_string()))?;
    if !matches!(county.level, Level::County | Level::City | Level::Township) {
        return Err(ImportError::NotACounty(req.region.to_string()));
    }
    let scope = Scope::of(county);
    let mut tx = db.begin_read().await?;
    let mut mapping = exchange::mapping(&mut tx, &req.source.code).await?;
    mapping.extend(req.mapping.clone());
    let ours = exchange::registry(&mut tx, &scope).await?;
    drop(tx);

    let (path, today) = (req.path.to_path_buf(), req.today);
    let read = tokio::task::spawn_blocking(move || read_list(&path, &mapping, today))
        .await
        .map_err(|e| ImportError::Db(e.into()))??;

    let mut tx = db.begin_read().await?;
    let ids: Vec<&str> = read
        .rows
        .iter()
        .filter(|r| r.id_valid)
        .filter_map(|r| r.id_number.as_deref())
        .collect();
    let elsewhere = exchange::registered_elsewhere(&mut tx, &scope, &ids).await?;
    drop(tx);

    let source = req.source;
    let (ours_len, read, comparison) = tokio::task::spawn_blocking(move || {
        let c = compare(source, &ours, &read.rows, &elsewhere);
        (ours.len(), read, c)
    })
    .await
    .map_err(|e| ImportError::Db(e.into()))?;
    let summary = Summary::of(&read, ours_len, &comparison);

    let mut tx = db.begin().await?;
    exchange::save_mapping(&mut tx, req.actor, &source.code, &req.mapping).await?;
    let (list, run) = exchange::save_run(
        &mut tx,
        req.actor,
        &NewRun {
            source,
            region: &county.code,
            taken_on: req.taken_on,
            file_name: req.file_name,
            read: &read,
            comparison: &comparison,
            summary: &summary,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(RunReport {
        list,
        run,
        read,
        comparison,
        summary,
    })
}
