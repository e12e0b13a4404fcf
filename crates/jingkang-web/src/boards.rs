//! The indicator boards computed lately, kept for a while: a province's board reads every person
//! of the province (seconds), a dashboard shows four quarters of it, and users of one area open it
//! again and again. A board is kept per scope (bounds and site), region and quarter with the time
//! it was computed, which the page shows. Within [`FRESH_FOR`] it is served as it is; after that
//! it is still served at once while one background task computes it anew; "重新计算" (`fresh`)
//! waits for a new one. One computation per board at a time: concurrent requests for a missing
//! board wait for the first. Only counts are kept (no person); the lists behind a figure are
//! always read live, scope and audit applied.
//!
//! Boards of whole regions (no site, a township or wider) share one count of the registry per
//! quarter (a tally: `report::registry_counts`, by township, state and facts), kept the same way:
//! a region's board is then its townships' groups summed and the few other measures (sites) read,
//! milliseconds instead of one read of all its persons per region and user. [`keep_warm`] counts
//! the dashboard's quarters when the server starts and again as they age, so no user waits for
//! them; a board asked `fresh` is still computed live, and served until a newer tally.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use jingkang_core::care::standard::{Period, StandardRule};
use jingkang_core::regions::Scope;
use jingkang_core::report::indicators::{Board, board_of, quarters_to};
use jingkang_core::store::report::{FactCount, People, registry_counts};

use crate::AppState;
use crate::error::{AppError, AppResult};

/// How long a board is served without being computed anew.
pub const FRESH_FOR: chrono::Duration = chrono::Duration::minutes(10);

/// The most boards kept (a province's is some kilobytes).
const KEEP_AT_MOST: usize = 2_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    bounds: (String, String),
    site: Option<i64>,
    region: String,
    quarter: String,
}

/// A board and when it was computed.
#[derive(Clone)]
pub struct Kept {
    pub board: Arc<Board>,
    pub at: DateTime<Utc>,
}

/// The registry's facts counted for a quarter, and when.
#[derive(Clone)]
struct Tally {
    counts: Arc<Vec<FactCount>>,
    at: DateTime<Utc>,
}

/// The most quarters whose tally is kept (the dashboard offers nine, each with three before).
const TALLIES_AT_MOST: usize = 16;

#[derive(Default)]
pub struct Boards {
    kept: Mutex<HashMap<Key, Kept>>,
    /// One lock per board being computed (single flight).
    flights: Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>,
    /// The tallies by quarter (`2026Q3`), and one lock per quarter being counted.
    tallies: Mutex<HashMap<String, Tally>>,
    counting: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// What a board is asked for: the user's scope, the region shown and the quarter.
#[derive(Clone)]
pub struct Ask {
    pub scope: Scope,
    pub region: String,
    pub period: Period,
    pub quarter: String,
}

impl Ask {
    fn key(&self) -> Key {
        Key {
            bounds: self.scope.bounds(),
            site: self.scope.site(),
            region: self.region.clone(),
            quarter: self.quarter.clone(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Boards {
    fn kept(&self, key: &Key) -> Option<Kept> {
        lock(&self.kept).get(key).cloned()
    }

    fn flight(&self, key: &Key) -> Arc<tokio::sync::Mutex<()>> {
        lock(&self.flights).entry(key.clone()).or_default().clone()
    }

    fn counting(&self, quarter: &str) -> Arc<tokio::sync::Mutex<()>> {
        lock(&self.counting)
            .entry(quarter.to_string())
            .or_default()
            .clone()
    }

    fn tally(&self, quarter: &str) -> Option<Tally> {
        lock(&self.tallies).get(quarter).cloned()
    }

    /// The board asked for: kept (fresh, or stale while a new one is computed in the background),
    /// or computed now when there is none or `fresh` is asked. A whole region's board comes from
    /// the quarter's tally when there is one (newer than a board of its own).
    pub async fn get(state: &AppState, ask: Ask, fresh: bool) -> AppResult<Kept> {
        let boards = &state.boards;
        let key = ask.key();
        let asked_at = Utc::now();
        let whole = ask.scope.site().is_none() && ask.scope.prefix().len() <= 9;
        if fresh && whole {
            // The other regions' boards of the quarter are brought up to date too.
            count_in_background(state, &ask.quarter, ask.period);
        }
        if !fresh && whole {
            match boards.tally(&ask.quarter) {
                Some(t) => {
                    if asked_at - t.at >= FRESH_FOR {
                        count_in_background(state, &ask.quarter, ask.period);
                    }
                    match boards.kept(&key) {
                        Some(k) if k.at >= t.at => return Ok(k),
                        _ => return from_tally(state, &ask, &t).await,
                    }
                }
                // Counted in the background for the next time; this board is computed now.
                None => count_in_background(state, &ask.quarter, ask.period),
            }
        }
        if !fresh && let Some(k) = boards.kept(&key) {
            if asked_at - k.at >= FRESH_FOR
                && let Ok(guard) = boards.flight(&key).try_lock_owned()
            {
                let (state, ask) = (state.clone(), ask.clone());
                tokio::spawn(async move {
                    let _guard = guard;
                    if let Err(e) = compute(&state, &ask).await {
                        tracing::warn!(
                            error = format!("{e:?}"),
                            "refreshing an indicator board failed"
                        );
                    }
                });
            }
            return Ok(k);
        }
        let flight = boards.flight(&key);
        let _guard = flight.lock().await;
        // Computed by another request while this one waited: that one is new enough.
        if let Some(k) = boards.kept(&key).filter(|k| k.at >= asked_at) {
            return Ok(k);
        }
        compute(state, &ask).await
    }
}

/// Compute the board now and keep it.
async fn compute(state: &AppState, ask: &Ask) -> AppResult<Kept> {
    build(state, ask, None, Utc::now()).await
}

/// The board of a whole region from the quarter's tally (its other measures read now), kept
/// with the tally's time.
async fn from_tally(state: &AppState, ask: &Ask, tally: &Tally) -> AppResult<Kept> {
    let people = People::within(&tally.counts, &ask.scope).ok_or(AppError::NotFound)?;
    build(state, ask, Some(people), tally.at).await
}

/// The board asked for, its person measures from `people` (or read now), kept as of `at`.
async fn build(
    state: &AppState,
    ask: &Ask,
    people: Option<People>,
    at: DateTime<Utc>,
) -> AppResult<Kept> {
    let region = state.tree.get(&ask.region).ok_or(AppError::NotFound)?;
    let rule = StandardRule::shipped()?;
    let defs = &state.indicators;
    let people = people.unwrap_or_else(|| {
        People::wanting(
            defs.indicators
                .iter()
                .flat_map(|i| [i.numerator, i.denominator]),
        )
    });
    let mut tx = state.db.begin_read().await?;
    let b = board_of(
        &mut tx,
        &state.tree,
        (&ask.scope, region),
        defs,
        (&ask.period, &ask.quarter),
        &rule,
        people,
    )
    .await?;
    tx.commit().await?;
    Ok(keep(
        state,
        ask,
        Kept {
            board: Arc::new(b),
            at,
        },
    ))
}

/// Keep a board computed (the oldest half going when full).
fn keep(state: &AppState, ask: &Ask, kept: Kept) -> Kept {
    let mut all = lock(&state.boards.kept);
    if all.len() >= KEEP_AT_MOST {
        // The oldest half goes: boards asked for lately stay.
        let mut ages: Vec<DateTime<Utc>> = all.values().map(|k| k.at).collect();
        ages.sort_unstable();
        let cut = ages[ages.len() / 2];
        all.retain(|_, k| k.at > cut);
    }
    all.insert(ask.key(), kept.clone());
    kept
}

/// Count the registry for `quarter` now (waiting for a count already running, and then not
/// counting again) and keep the tally.
pub async fn count(state: &AppState, quarter: &str, period: Period) -> AppResult<()> {
    let asked_at = Utc::now();
    let flight = state.boards.counting(quarter);
    let _guard = flight.lock().await;
    if state
        .boards
        .tally(quarter)
        .is_some_and(|t| t.at >= asked_at)
    {
        return Ok(());
    }
    tally(state, quarter, period).await
}

async fn tally(state: &AppState, quarter: &str, period: Period) -> AppResult<()> {
    let rule = StandardRule::shipped()?;
    let at = Utc::now();
    let mut tx = state.db.begin_read().await?;
    let counts = registry_counts(&mut tx, &period, &rule).await?;
    tx.commit().await?;
    let mut all = lock(&state.boards.tallies);
    if all.len() >= TALLIES_AT_MOST && !all.contains_key(quarter) {
        let oldest = all.iter().min_by_key(|(_, t)| t.at).map(|(q, _)| q.clone());
        if let Some(q) = oldest {
            all.remove(&q);
        }
    }
    all.insert(
        quarter.to_string(),
        Tally {
            counts: Arc::new(counts),
            at,
        },
    );
    Ok(())
}

/// Count `quarter` in a background task unless one is counting it already.
fn count_in_background(state: &AppState, quarter: &str, period: Period) {
    let flight = state.boards.counting(quarter);
    let Ok(guard) = flight.try_lock_owned() else {
        return;
    };
    let (state, quarter) = (state.clone(), quarter.to_string());
    tokio::spawn(async move {
        let _guard = guard;
        if let Err(e) = tally(&state, &quarter, period).await {
            tracing::warn!(
                error = format!("{e:?}"),
                quarter,
                "counting the registry for the boards failed"
            );
        }
    });
}

/// The quarters the dashboard opens on: the last whole one and the three before (its trend),
/// and the current one.
pub fn dashboard_quarters() -> Vec<(String, Period)> {
    let mut all = quarters_to(
        &jingkang_core::domain::period::Quarter::current().period(),
        5,
    );
    // The page's own quarter first, then the current one, then its trend's.
    all.reverse();
    if all.len() > 1 {
        all.swap(0, 1);
    }
    all
}

/// Count the dashboard's quarters now, then again each time their tallies are [`FRESH_FOR`] old,
/// for as long as the server runs (a task of its own; errors are logged and tried again).
pub fn keep_warm(state: AppState) {
    tokio::spawn(async move {
        loop {
            for (quarter, period) in dashboard_quarters() {
                let started = std::time::Instant::now();
                let due = state
                    .boards
                    .tally(&quarter)
                    .is_none_or(|t| Utc::now() - t.at >= FRESH_FOR);
                if due {
                    match count(&state, &quarter, period).await {
                        Ok(()) => tracing::info!(
                            quarter,
                            ms = started.elapsed().as_millis() as u64,
                            "registry counted for the boards"
                        ),
                        Err(e) => tracing::warn!(
                            error = format!("{e:?}"),
                            quarter,
                            "counting the registry for the boards failed"
                        ),
                    }
                }
            }
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
        }
    });
}
