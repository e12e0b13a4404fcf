//! Worklist pages (SPEC §4): the lists of who needs a follow-up, by region and by user, each with
//! its definition and an .xlsx export. Viewing and exporting are audited.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use jingkang_core::export::worklist as xlsx;
use jingkang_core::regions::Scope;
use jingkang_core::store::audit::{self, Target};
use jingkang_core::store::batch::Outcome;
use jingkang_core::store::worklists::{self, WorkFilter, WorkItem, Worklist};
use serde::Deserialize;

use crate::AppState;
use crate::auth::CurrentUser;
use crate::entry::today;
use crate::error::{AppError, AppResult};
use crate::extract::{Form, Path, Query};
use crate::pages::{Choice, Chrome, region_choices, urlencode, within_region};

/// Rows per page.
const PAGE: i64 = 50;
/// Most rows one export holds.
pub const EXPORT_MAX: i64 = 100_000;

/// The worklist named in a path, or 404.
pub(crate) fn named(name: &str) -> AppResult<Worklist> {
    Worklist::from_code(name).ok_or(AppError::NotFound)
}

/// Read a worklist page in one group-committed transaction with its audit entry. `via` says
/// which surface asked (`page`, `api`, `export`).
pub(crate) async fn read(
    state: &AppState,
    who: &CurrentUser,
    list: Worklist,
    filter: WorkFilter,
    via: &'static str,
    reason: Option<String>,
) -> AppResult<(Vec<WorkItem>, i64)> {
    let (scope, actor, today) = (who.scope.clone(), who.user.actor(), today());
    let region = filter
        .within
        .as_ref()
        .and_then(Scope::root)
        .unwrap_or(&who.user.region_code)
        .to_string();
    Ok(state
        .writes
        .run(move |tx| {
            let (scope, actor, filter, region, reason) = (scope.clone(), actor.clone(), filter.clone(), region.clone(), reason.clone());
            Box::pin(async move {
                let (items, total) = worklists::items(tx, &scope, list, today, &filter).await?;
                let detail = serde_json::json!({"list": list.code(), "results": items.len(), "total": total, "via": via, "mine": filter.by.is_some(), "reason": reason});
                let action = if via == "export" { "worklist.export" } else { "worklist.view" };
                audit::record(tx, &actor, action, Some(Target::region(&region)), detail).await?;
                Ok(Outcome::Keep((items, total)))
            })
        })
        .await?)
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    region: String,
    /// `1`: only persons whose last follow-up I recorded.
    #[serde(default)]
    mine: String,
    #[serde(default)]
    page: u32,
}

pub(crate) fn filter_of(
    state: &AppState,
    who: &CurrentUser,
    region: &str,
    mine: bool,
) -> AppResult<WorkFilter> {
    let within: Option<Scope> = within_region(state, region)?;
    Ok(WorkFilter {
        within,
        by: mine.then(|| who.user.actor().as_str().to_string()),
        ..Default::default()
    })
}

pub struct ListLink {
    code: &'static str,
    label: &'static str,
    definition: String,
    total: i64,
}

#[derive(Template, WebTemplate)]
#[template(path = "worklists.html")]
pub struct OverviewPage {
    chrome: Option<Chrome>,
    lists: Vec<ListLink>,
    regions: Vec<Choice>,
    region: String,
    mine: bool,
}

/// Every worklist with its count, for the user's scope (or a region within it).
pub async fn overview(
    State(state): State<AppState>,
    who: CurrentUser,
    Query(q): Query<ListQuery>,
) -> AppResult<Response> {
    let mine = q.mine == "1";
    let filter = WorkFilter {
        limit: Some(0),
        ..filter_of(&state, &who, &q.region, mine)?
    };
    let (scope, actor, today) = (who.scope.clone(), who.user.actor(), today());
    let region = filter
        .within
        .as_ref()
        .and_then(Scope::root)
        .unwrap_or(&who.user.region_code)
        .to_string();
    let totals = state
        .writes
        .run(move |tx| {
            let (scope, actor, filter, region) =
                (scope.clone(), actor.clone(), filter.clone(), region.clone());
            Box::pin(async move {
                let mut totals = Vec::new();
                for list in Worklist::ALL {
                    totals.push(worklists::items(tx, &scope, list, today, &filter).await?.1);
                }
                audit::record(
                    tx,
                    &actor,
                    "worklist.view",
                    Some(Target::region(&region)),
                    serde_json::json!({"list": "all", "totals": totals, "via": "overview"}),
                )
                .await?;
                Ok(Outcome::Keep(totals))
            })
        })
        .await?;
    let lists = Worklist::ALL
        .into_iter()
        .zip(totals)
        .map(|(list, total)| ListLink {
            code: list.code(),
            label: list.label_zh(),
            definition: list.definition_zh(today),
            total,
        })
        .collect();
    let regions = region_choices(&state, &who, &q.region);
    Ok(OverviewPage {
        chrome: Some(Chrome::of(&state, &who)),
        lists,
        regions,
        region: q.region,
        mine,
    }
    .into_response())
}

pub struct ItemLine {
    id: i64,
    cells: [String; 11],
    overdue: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "worklist.html")]
pub struct ListPage {
    chrome: Option<Chrome>,
    csrf: String,
    code: &'static str,
    label: &'static str,
    definition: String,
    regions: Vec<Choice>,
    region: String,
    mine: bool,
    total: i64,
    items: Vec<ItemLine>,
    page: u32,
    pages: i64,
    query: String,
    headers: &'static [&'static str],
    /// The section of the person page each name opens.
    anchor: &'static str,
    error: Option<String>,
}

fn lines(state: &AppState, items: &[WorkItem], today: NaiveDate) -> Vec<ItemLine> {
    items
        .iter()
        .map(|i| ItemLine {
            id: i.id,
            cells: xlsx::row_cells(&state.tree, i, today),
            overdue: i.next_followup_date.is_some_and(|d| d < today),
        })
        .collect()
}

pub async fn page(
    State(state): State<AppState>,
    who: CurrentUser,
    Path(name): Path<String>,
    Query(q): Query<ListQuery>,
) -> AppResult<Response> {
    let list = named(&name)?;
    let mine = q.mine == "1";
    let filter = WorkFilter {
        limit: Some(PAGE),
        offset: i64::from(q.page) * PAGE,
        ..filter_of(&state, &who, &q.region, mine)?
    };
    let (items, total) = read(&state, &who, list, filter, "page", None).await?;
    Ok(list_page(&state, &who, list, &q, items, total, None).into_response())
}

fn list_page(
    state: &AppState,
    who: &CurrentUser,
    list: Worklist,
    q: &ListQuery,
    items: Vec<WorkItem>,
    total: i64,
    error: Option<String>,
) -> ListPage {
    let mine = q.mine == "1";
    let mut query = format!("region={}", urlencode(q.region.trim()));
    if mine {
        query.push_str("&mine=1");
    }
    ListPage {
        chrome: Some(Chrome::of(state, who)),
        csrf: who.csrf().to_string(),
        code: list.code(),
        label: list.label_zh(),
        definition: list.definition_zh(today()),
        regions: region_choices(state, who, &q.region),
        region: q.region.clone(),
        mine,
        total,
        items: lines(state, &items, today()),
        page: q.page,
        pages: (total + PAGE - 1) / PAGE,
        query,
        headers: &xlsx::HEADERS[1..],
        anchor: match list {
            Worklist::Agreements => "agreements",
            Worklist::Plans => "plans",
            _ => "followups",
        },
        error,
    }
}

#[derive(Deserialize)]
pub struct ExportForm {
    #[serde(default)]
    region: String,
    #[serde(default)]
    mine: String,
    #[serde(default)]
    reason: String,
}

/// The whole list as .xlsx; a reason is required and audited with the export.
pub async fn export(
    State(state): State<AppState>,
    who: CurrentUser,
    Path(name): Path<String>,
    Form(form): Form<ExportForm>,
) -> AppResult<Response> {
    let list = named(&name)?;
    let q = ListQuery {
        region: form.region.clone(),
        mine: form.mine.clone(),
        page: 0,
    };
    let Some(reason) = crate::downloads::reason_of(&form.reason) else {
        let filter = WorkFilter {
            limit: Some(PAGE),
            ..filter_of(&state, &who, &q.region, q.mine == "1")?
        };
        let (items, total) = read(&state, &who, list, filter, "page", None).await?;
        let page = list_page(
            &state,
            &who,
            list,
            &q,
            items,
            total,
            crate::downloads::reason_missing(),
        );
        return Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    };
    let filter = WorkFilter {
        limit: Some(EXPORT_MAX),
        ..filter_of(&state, &who, &q.region, q.mine == "1")?
    };
    let region_name = state.tree.path_name(
        filter
            .within
            .as_ref()
            .and_then(Scope::root)
            .unwrap_or(&who.user.region_code),
    );
    let (items, _) = read(&state, &who, list, filter, "export", Some(reason)).await?;
    let bytes = xlsx::to_xlsx(&state.tree, list, &region_name, today(), &items)?;
    Ok(crate::imports::xlsx_download(
        &format!("{}-{}.xlsx", list.label_zh(), today().format("%Y%m%d")),
        bytes,
    ))
}
