//! Worklists (SPEC §4): computed from the data, never typed — follow-ups due this week, overdue,
//! unstable persons without a follow-up in two weeks, persons lost to follow-up. Each is one
//! condition on the person's schedule columns with its own index (migration 0009), scoped by
//! region and optionally by the user who did the last follow-up.

use chrono::{Duration, NaiveDate};
use serde::Serialize;

use super::Tx;
use crate::on_tx;
use crate::regions::Scope;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Worklist {
    /// 本周应随访: next follow-up date within the next 7 days.
    Due,
    /// 逾期未随访: next follow-up date passed.
    Overdue,
    /// 不稳定且两周内未随访.
    Unstable,
    /// 失访: the last follow-up did not reach the person.
    Lost,
    /// 服务协议将到期: a registered person's service agreement ends within 30 days or has ended.
    Agreements,
    /// 康复计划待复核: a registered person's current rehabilitation plan is due for review within
    /// 14 days or overdue.
    Plans,
}

/// Days ahead a plan review shows on the worklist.
pub const PLAN_REVIEW_DAYS: i64 = 14;

/// Days an unstable person may go without a follow-up.
pub const UNSTABLE_DAYS: i64 = 14;
/// The "this week" of the due list.
pub const DUE_DAYS: i64 = 7;

impl Worklist {
    pub const ALL: [Worklist; 6] = [
        Worklist::Due,
        Worklist::Overdue,
        Worklist::Unstable,
        Worklist::Lost,
        Worklist::Agreements,
        Worklist::Plans,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Worklist::Due => "due",
            Worklist::Overdue => "overdue",
            Worklist::Unstable => "unstable",
            Worklist::Lost => "lost",
            Worklist::Agreements => "agreements",
            Worklist::Plans => "plans",
        }
    }

    pub fn from_code(code: &str) -> Option<Worklist> {
        Worklist::ALL.into_iter().find(|w| w.code() == code)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Worklist::Due => "本周应随访",
            Worklist::Overdue => "逾期未随访",
            Worklist::Unstable => "不稳定且两周内未随访",
            Worklist::Lost => "失访",
            Worklist::Agreements => "服务协议将到期",
            Worklist::Plans => "康复计划待复核",
        }
    }

    /// The definition, with the dates it uses today, shown beside the list.
    pub fn definition_zh(self, today: NaiveDate) -> String {
        match self {
            Worklist::Due => format!(
                "下次随访日期在 {} 至 {} 之间（今天起 {DUE_DAYS} 天内）",
                today,
                today + Duration::days(DUE_DAYS - 1)
            ),
            Worklist::Overdue => format!("下次随访日期早于今天（{today}），至今未随访"),
            Worklist::Unstable => format!(
                "最近一次随访病情分类为“不稳定”，且该次随访早于 {}（{UNSTABLE_DAYS} 天前），此后未再随访",
                today - Duration::days(UNSTABLE_DAYS)
            ),
            Worklist::Lost => "最近一次随访为失访（未见到本人也未能联系上）".to_string(),
            Worklist::Agreements => format!(
                "已登记、服务中或暂停的服务对象，最近一份服务协议在 {} 前到期（{} 天内到期或已过期）",
                today + Duration::days(crate::care::agreement::EXPIRING_DAYS),
                crate::care::agreement::EXPIRING_DAYS
            ),
            Worklist::Plans => format!(
                "已登记、服务中或暂停的服务对象，当前个案康复计划的复核日期在 {} 前（{PLAN_REVIEW_DAYS} 天内到期或已过期）",
                today + Duration::days(PLAN_REVIEW_DAYS)
            ),
        }
    }

    /// The condition on `s` (persons), its date parameters and the order of the list.
    fn sql(self, today: NaiveDate) -> (&'static str, Vec<NaiveDate>, &'static str) {
        match self {
            Worklist::Due => (
                "s.next_followup_date >= $1 AND s.next_followup_date < $2",
                vec![today, today + Duration::days(DUE_DAYS)],
                "next_followup_date",
            ),
            Worklist::Overdue => (
                "s.next_followup_date < $1",
                vec![today],
                "next_followup_date",
            ),
            Worklist::Unstable => (
                "s.condition_class = 'unstable' AND s.last_followup_date < $1",
                vec![today - Duration::days(UNSTABLE_DAYS)],
                "last_followup_date",
            ),
            Worklist::Lost => (
                "s.followup_lost AND s.last_followup_date <= $1",
                vec![today],
                "last_followup_date",
            ),
            Worklist::Agreements => (
                "s.agreement_valid_until < $1 AND s.registration_state IN ('registered', 'in_service', 'suspended')",
                vec![today + Duration::days(crate::care::agreement::EXPIRING_DAYS)],
                "agreement_valid_until",
            ),
            Worklist::Plans => (
                "s.plan_review_on < $1 AND s.registration_state IN ('registered', 'in_service', 'suspended')",
                vec![today + Duration::days(PLAN_REVIEW_DAYS)],
                "plan_review_on",
            ),
        }
    }
}

/// One person on a worklist: what a clerk or doctor needs to act, no identity numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkItem {
    pub id: i64,
    pub name: String,
    pub sex: String,
    pub birth_date: NaiveDate,
    pub residence_region: String,
    pub risk_grade: Option<i64>,
    pub condition_class: Option<String>,
    pub last_followup_date: Option<NaiveDate>,
    pub next_followup_date: Option<NaiveDate>,
    pub last_followup_by: Option<String>,
    pub agreement_valid_until: Option<NaiveDate>,
    pub plan_review_on: Option<NaiveDate>,
}

/// Narrowing of a worklist within the caller's scope.
#[derive(Debug, Clone, Default)]
pub struct WorkFilter {
    /// A region inside the scope.
    pub within: Option<Scope>,
    /// Only persons whose last follow-up this actor recorded (`user:name`).
    pub by: Option<String>,
    pub limit: Option<i64>,
    pub offset: i64,
}

/// The items of `list` on `today` in `scope` (a page of them, by `filter`), and how many there are
/// in all.
pub async fn items(
    tx: &mut Tx,
    scope: &Scope,
    list: Worklist,
    today: NaiveDate,
    filter: &WorkFilter,
) -> anyhow::Result<(Vec<WorkItem>, i64)> {
    let (mut lo, mut hi) = scope.bounds();
    if let Some(inner) = &filter.within {
        if !inner.is_within(scope) {
            return Ok((Vec::new(), 0));
        }
        (lo, hi) = inner.bounds();
    }
    // Ordered as the list's index is — by date, then place — so a page is read from the index
    // without sorting every match.
    let (cond, dates, order) = list.sql(today);
    let mut n = dates.len();
    let mut next = || {
        n += 1;
        n
    };
    let (p_lo, p_hi) = (next(), next());
    // The date leads: on SQLite the unary `+` keeps the planner from a skip-scan over every date
    // to use the region range (70 ms instead of a few for 60 000 overdue persons); the region is
    // still checked from the index.
    // Likewise the registration state (agreements): SQLite would rather walk the state index and
    // check every registered person's date.
    let plus = if tx.backend() == super::Backend::Sqlite {
        "+"
    } else {
        ""
    };
    let cond = cond.replace(
        "s.registration_state",
        &format!("{plus}s.registration_state"),
    );
    let mut cond = format!(
        "{cond} AND {plus}s.residence_region >= ${p_lo} AND {plus}s.residence_region < ${p_hi}{}",
        scope.rows_sql("s")
    );
    if filter.by.is_some() {
        cond.push_str(&format!(" AND s.last_followup_by = ${}", next()));
    }
    let count_sql = format!("SELECT count(*) FROM persons s WHERE {cond}");
    let (p_limit, p_offset) = (next(), next());
    let sql = format!(
        "SELECT p.id, p.name, p.sex, p.birth_date, p.residence_region, p.risk_grade, p.condition_class, p.last_followup_date, \
         p.next_followup_date, p.last_followup_by, p.agreement_valid_until, p.plan_review_on FROM persons p \
         WHERE p.id IN (SELECT s.id FROM persons s WHERE {cond} ORDER BY s.{order}, s.residence_region, s.id LIMIT ${p_limit} OFFSET ${p_offset}) \
         ORDER BY p.{order}, p.residence_region, p.id"
    );
    let limit = filter.limit.unwrap_or(i64::MAX);
    let total: i64 = on_tx!(tx, c => {
        let mut q = sqlx::query_scalar(&count_sql);
        for d in &dates {
            q = q.bind(*d);
        }
        q = q.bind(&lo).bind(&hi);
        if let Some(by) = &filter.by {
            q = q.bind(by);
        }
        q.fetch_one(&mut **c).await
    })?;
    let rows: Vec<WorkItem> = on_tx!(tx, c => {
        let mut q = sqlx::query_as(&sql);
        for d in &dates {
            q = q.bind(*d);
        }
        q = q.bind(&lo).bind(&hi);
        if let Some(by) = &filter.by {
            q = q.bind(by);
        }
        q.bind(limit).bind(filter.offset).fetch_all(&mut **c).await
    })?;
    Ok((rows, total))
}

/// The persons `ids` in scope as worklist rows, ordered by place then id (a drill-down's page).
pub async fn items_by_ids(
    tx: &mut Tx,
    scope: &Scope,
    ids: &[i64],
) -> anyhow::Result<Vec<WorkItem>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let (lo, hi) = scope.bounds();
    let list = (0..ids.len())
        .map(|i| format!("${}", i + 3))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT p.id, p.name, p.sex, p.birth_date, p.residence_region, p.risk_grade, p.condition_class, p.last_followup_date, \
         p.next_followup_date, p.last_followup_by, p.agreement_valid_until, p.plan_review_on FROM persons p \
         WHERE p.residence_region >= $1 AND p.residence_region < $2{} AND p.id IN ({list}) ORDER BY p.residence_region, p.id",
        scope.rows_sql("p")
    );
    let rows: Vec<WorkItem> = on_tx!(tx, c => {
        let mut q = sqlx::query_as(&sql).bind(&lo).bind(&hi);
        for id in ids {
            q = q.bind(*id);
        }
        q.fetch_all(&mut **c).await
    })?;
    Ok(rows)
}
