//! One exchange run end to end: read a department's file with the source's saved column names,
//! compare it with the region's registry, and save the list, the run and its items in one
//! transaction. A file that cannot be read, an unknown region or a bad mapping change nothing.

use std::path::Path;

use chrono::NaiveDate;

use super::records::{self as exchange, CENSUS, NewList, NewRun, Summary};
use super::{Comparison, ListRead, Mapping, Source, census, compare, read_list};
use crate::import::ImportError;
use crate::regions::{Level, Region, RegionTree, Rows, Scope};
use crate::store::leases::ImportLease;
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
    /// The requester's row rules (`accounts::policy::rows`): the registry is compared under them.
    pub rules: Rows,
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
    // One import at a time per database; the lease is given back however the run ends.
    let file = req.file_name;
    ImportLease::run(db, file, ImportError::Busy, run_list_leased(db, tree, req)).await
}

async fn run_list_leased(
    db: &Db,
    tree: &RegionTree,
    req: RunRequest<'_>,
) -> Result<RunReport, ImportError> {
    let county = region_of(tree, req.region)?;
    let scope = Scope::of(county).with_rows(req.rules);
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
            kind: &source.code,
            region: &county.code,
            taken_on: req.taken_on,
            lists: &[NewList {
                source,
                file_name: req.file_name,
                read: &read,
            }],
            comparison: &comparison,
            summary: &summary,
            rules: req.rules,
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

/// The region a run compares: a county, a city, or a township (a 派出所's list).
fn region_of<'t>(tree: &'t RegionTree, code: &str) -> Result<&'t Region, ImportError> {
    let region = tree
        .get(code)
        .ok_or_else(|| ImportError::UnknownCounty(code.to_string()))?;
    if !matches!(region.level, Level::County | Level::City | Level::Township) {
        return Err(ImportError::NotACounty(code.to_string()));
    }
    Ok(region)
}

/// One department's file in a census.
pub struct CensusFile<'a> {
    pub source: &'static Source,
    pub path: &'a Path,
    /// The name the file is kept under.
    pub file_name: &'a str,
}

/// A census to run: every department's list of a region at once.
pub struct CensusRequest<'a> {
    pub region: &'a str,
    pub files: Vec<CensusFile<'a>>,
    pub taken_on: NaiveDate,
    pub actor: &'a Actor,
    pub today: NaiveDate,
    /// The requester's row rules, as for [`RunRequest::rules`].
    pub rules: Rows,
}

/// What a census did.
#[derive(Debug, Clone)]
pub struct CensusReport {
    pub run: i64,
    /// The lists as read, in the request's order.
    pub reads: Vec<ListRead>,
    pub comparison: Comparison,
    pub summary: Summary,
}

/// Why a census did not run. Nothing was saved.
#[derive(Debug)]
pub enum CensusError {
    /// Fewer than two departments' lists, or one department's twice (its label).
    Lists(&'static str, Option<String>),
    /// The region is unknown or not one a run compares.
    Region(ImportError),
    /// A department's list could not be read (its label).
    File { list: String, error: ImportError },
}

impl CensusError {
    pub fn code(&self) -> &'static str {
        match self {
            CensusError::Lists(code, _) => code,
            CensusError::Region(e) | CensusError::File { error: e, .. } => e.code(),
        }
    }

    pub fn message_zh(&self) -> String {
        match self {
            CensusError::Lists(code, source) => {
                crate::messages::render(code, &[("source", source.as_deref().unwrap_or(""))])
            }
            CensusError::Region(e) => e.message_zh(),
            CensusError::File { list, error } => crate::messages::render(
                "census-file",
                &[("list", list), ("message", &error.message_zh())],
            ),
        }
    }
}

impl From<anyhow::Error> for CensusError {
    fn from(e: anyhow::Error) -> Self {
        CensusError::Region(ImportError::Db(e))
    }
}

/// Read every list, compare them all with the region's registry at once, save. Each list is read
/// with its department's saved column names.
pub async fn run_census(
    db: &Db,
    tree: &RegionTree,
    req: CensusRequest<'_>,
) -> Result<CensusReport, CensusError> {
    let first = req.files.first().map_or("", |f| f.file_name);
    let busy = |held| CensusError::Region(ImportError::Busy(held));
    ImportLease::run(db, first, busy, run_census_leased(db, tree, req)).await
}

async fn run_census_leased(
    db: &Db,
    tree: &RegionTree,
    req: CensusRequest<'_>,
) -> Result<CensusReport, CensusError> {
    let mut seen = std::collections::HashSet::new();
    for f in &req.files {
        if !seen.insert(&f.source.code) {
            return Err(CensusError::Lists(
                "census-source-twice",
                Some(f.source.label.clone()),
            ));
        }
    }
    if req.files.len() < 2 {
        return Err(CensusError::Lists("census-needs-lists", None));
    }
    let region = region_of(tree, req.region).map_err(CensusError::Region)?;
    let scope = Scope::of(region).with_rows(req.rules);
    let mut tx = db.begin_read().await?;
    let ours = exchange::registry(&mut tx, &scope).await?;
    let mut mappings = Vec::new();
    for f in &req.files {
        mappings.push(exchange::mapping(&mut tx, &f.source.code).await?);
    }
    drop(tx);

    let mut reads = Vec::new();
    for (f, mapping) in req.files.iter().zip(mappings) {
        let (path, today) = (f.path.to_path_buf(), req.today);
        let read = tokio::task::spawn_blocking(move || read_list(&path, &mapping, today))
            .await
            .map_err(|e| CensusError::from(anyhow::Error::from(e)))?
            .map_err(|error| CensusError::File {
                list: f.source.label.clone(),
                error,
            })?;
        reads.push(read);
    }

    let mut tx = db.begin_read().await?;
    let ids: Vec<&str> = reads
        .iter()
        .flat_map(|r| &r.rows)
        .filter(|r| r.id_valid)
        .filter_map(|r| r.id_number.as_deref())
        .collect();
    let elsewhere = exchange::registered_elsewhere(&mut tx, &scope, &ids).await?;
    drop(tx);

    let sources: Vec<&'static Source> = req.files.iter().map(|f| f.source).collect();
    let (ours_len, reads, comparison) = tokio::task::spawn_blocking(move || {
        let lists: Vec<census::CensusList<'_>> = sources
            .iter()
            .zip(&reads)
            .map(|(source, read)| census::CensusList {
                source,
                rows: &read.rows,
            })
            .collect();
        let c = census::census(&lists, &ours, &elsewhere);
        (ours.len(), reads, c)
    })
    .await
    .map_err(|e| CensusError::from(anyhow::Error::from(e)))?;
    let named: Vec<(&str, &str, &ListRead)> = req
        .files
        .iter()
        .zip(&reads)
        .map(|(f, r)| (f.source.code.as_str(), f.file_name, r))
        .collect();
    let summary = Summary::of_lists(&named, ours_len, &comparison);

    let lists: Vec<NewList<'_>> = req
        .files
        .iter()
        .zip(&reads)
        .map(|(f, read)| NewList {
            source: f.source,
            file_name: f.file_name,
            read,
        })
        .collect();
    let mut tx = db.begin().await?;
    let (_, run) = exchange::save_run(
        &mut tx,
        req.actor,
        &NewRun {
            kind: CENSUS,
            region: &region.code,
            taken_on: req.taken_on,
            lists: &lists,
            comparison: &comparison,
            summary: &summary,
            rules: req.rules,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(CensusReport {
        run,
        reads,
        comparison,
        summary,
    })
}
