//! The registry as it stood on a day, for reports of a past period (附件2 at a quarter's end,
//! indicators by quarter): a person counts from the day they entered the registry
//! (`persons.known_since`), in the registration state of their last event that had taken effect
//! by then (`registration_events.effective_on`; `pending` before any). A person registered after
//! the day is not registered on it; one closed before it is closed on it, with the reason.
//!
//! The person's region is today's: moves between townships are not yet dated.

use chrono::NaiveDate;
use serde::Serialize;

use super::Tx;
use crate::on_tx;
use crate::regions::Scope;

/// Persons of a township in one registration state on the day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StateCount {
    pub township: String,
    /// A `RegistrationState` code.
    pub state: String,
    /// For `closed`: the `CloseReason` code.
    pub close_reason: Option<String>,
    pub persons: i64,
}

/// The persons of `scope` in the registry on `day`, by township and their state on that day.
pub async fn states_on(
    tx: &mut Tx,
    scope: &Scope,
    day: NaiveDate,
) -> anyhow::Result<Vec<StateCount>> {
    let (lo, hi) = scope.bounds();
    let site = scope.rows_sql("p");
    // The last event by then, as `state:reason` (one seek on registration_events_effective).
    let sql = format!(
        "SELECT township, state, COUNT(*) AS persons FROM ( \
            SELECT substr(p.residence_region, 1, 9) AS township, \
                   COALESCE((SELECT e.to_state || ':' || COALESCE(e.close_reason, '') FROM registration_events e \
                             WHERE e.person_id = p.id AND e.effective_on <= $3 ORDER BY e.effective_on DESC, e.id DESC LIMIT 1), 'pending:') AS state \
            FROM persons p \
            WHERE p.residence_region >= $1 AND p.residence_region < $2{site} AND (p.known_since IS NULL OR p.known_since <= $3)) s \
         GROUP BY township, state ORDER BY township, state"
    );
    let rows: Vec<(String, String, i64)> = on_tx!(tx, c => sqlx::query_as(&sql).bind(&lo).bind(&hi).bind(day).fetch_all(&mut **c).await)?;
    Ok(rows
        .into_iter()
        .map(|(township, key, persons)| {
            let (state, reason) = key.split_once(':').unwrap_or((key.as_str(), ""));
            StateCount {
                township,
                state: state.to_string(),
                close_reason: (!reason.is_empty()).then(|| reason.to_string()),
                persons,
            }
        })
        .collect())
}

/// Registration events `event` (an `Event` code, e.g. `register`) of the persons of `scope` that
/// took effect from `from` to `to`, by township: the distinct persons.
pub async fn events_between(
    tx: &mut Tx,
    scope: &Scope,
    event: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> anyhow::Result<Vec<(String, i64)>> {
    let (lo, hi) = scope.bounds();
    let site = scope.rows_sql("p");
    let sql = format!(
        "SELECT substr(p.residence_region, 1, 9) AS township, COUNT(DISTINCT p.id) FROM registration_events e JOIN persons p ON p.id = e.person_id \
         WHERE e.event = $3 AND e.effective_on >= $4 AND e.effective_on <= $5 AND p.residence_region >= $1 AND p.residence_region < $2{site} \
         GROUP BY substr(p.residence_region, 1, 9) ORDER BY township"
    );
    Ok(
        on_tx!(tx, c => sqlx::query_as(&sql).bind(&lo).bind(&hi).bind(event).bind(from).bind(to).fetch_all(&mut **c).await)?,
    )
}
