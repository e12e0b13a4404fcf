//! The indicator boards computed lately, kept for a while: a province's board reads every person
//! of the province (seconds), a dashboard shows four quarters of it, and users of one area open it
//! again and again. A board is kept per scope (bounds and site), region and quarter with the time
//! it was computed, which the page shows. Within [`FRESH_FOR`] it is served as it is; after that
//! it is still served at once while one background task computes it anew; "重新计算" (`fresh`)
//! waits for a new one. One computation per board at a time: concurrent requests for a missing
//! board wait for the first. Only counts are kept (no person); the lists behind a figure are
//! always read live, scope and audit applied.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use jingkang_core::care::standard::{Period, StandardRule};
use jingkang_core::regions::Scope;
use jingkang_core::report::indicators::{Board, board};

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

#[derive(Default)]
pub struct Boards {
    kept: Mutex<HashMap<Key, Kept>>,
    /// One lock per board being computed (single flight).
    flights: Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>,
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
        Key { bounds: self.scope.bounds(), site: self.scope.site(), region: self.region.clone(), quarter: self.quarter.clone() }
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

    /// The board asked for: kept (fresh, or stale while a new one is computed in the background),
    /// or computed now when there is none or `fresh` is asked.
    pub async fn get(state: &AppState, ask: Ask, fresh: bool) -> AppResult<Kept> {
        let boards = &state.boards;
        let key = ask.key();
        let asked_at = Utc::now();
        if !fresh && let Some(k) = boards.kept(&key) {
            if asked_at - k.at >= FRESH_FOR
                && let Ok(guard) = boards.flight(&key).try_lock_owned()
            {
                let (state, ask) = (state.clone(), ask.clone());
                tokio::spawn(async move {
                    let _guard = guard;
                    if let Err(e) = compute(&state, &ask).await {
                        tracing::warn!(error = format!("{e:?}"), "refreshing an indicator board failed");
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
    let region = state.tree.get(&ask.region).ok_or(AppError::NotFound)?;
    let rule = StandardRule::shipped()?;
    let at = Utc::now();
    let mut tx = state.db.begin_read().await?;
    let b = board(&mut tx, &state.tree, (&ask.scope, region), &state.indicators, (&ask.period, &ask.quarter), &rule).await?;
    tx.commit().await?;
    let kept = Kept { board: Arc::new(b), at };
    let mut all = lock(&state.boards.kept);
    if all.len() >= KEEP_AT_MOST {
        // The oldest half goes: boards asked for lately stay.
        let mut ages: Vec<DateTime<Utc>> = all.values().map(|k| k.at).collect();
        ages.sort_unstable();
        let cut = ages[ages.len() / 2];
        all.retain(|_, k| k.at > cut);
    }
    all.insert(ask.key(), kept.clone());
    Ok(kept)
}
