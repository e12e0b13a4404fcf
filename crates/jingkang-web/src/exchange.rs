//! 信息比对 in the browser (SPEC §8): upload a department's list, see a run's discrepancies by
//! class, compare an item side by side and decide it. The comparison is the CLI's
//! (`jingkang_core::exchange::run::run_list`): same reader, same rules, same messages.

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use jingkang_core::accounts::policy::Permission;
use jingkang_core::domain::IdNumber;
use jingkang_core::exchange::records::{self as saved, Decision, ItemRow, ItemState, RunRow};
use jingkang_core::exchange::{self, Class, ListRow, run::RunRequest};
use jingkang_core::import::entry::entry_region;
use jingkang_core::messages::render;
use jingkang_core::registry::{self, Sensitivity, mask};
use jingkang_core::store::persons::{self, StoredPerson};
use jingkang_core::store::{Refusal, Tx};
use serde::Deserialize;

use crate::AppState;
use crate::auth::CurrentUser;
use crate::entry::today;
use crate::error::{AppError, AppResult};
use crate::extract::{Form, Path};
use crate::imports::read_upload;
use crate::pages::{Chrome, beijing_time};

/// Runs the list page shows.
const RUNS: i64 = 50;

pub struct RunLine {
    id: i64,
    source: String,
    region: String,
    taken_on: String,
    file_name: String,
    at: String,
    counts: Vec<(&'static str, u64)>,
}

fn source_label(code: &str) -> String {
    exchange::run_label(code)
}

fn run_line(state: &AppState, r: &RunRow) -> RunLine {
    RunLine {
        id: r.id,
        source: source_label(&r.source),
        region: state.tree.path_name(&r.region),
        taken_on: r.taken_on.to_string(),
        file_name: r.file_name.clone(),
        at: beijing_time(r.at),
        counts: Class::ALL
            .iter()
            .map(|c| {
                (
                    c.label_zh(),
                    r.summary.counts.get(c.code()).copied().unwrap_or(0),
                )
            })
            .collect(),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "exchange.html")]
pub struct ExchangePage {
    chrome: Option<Chrome>,
    csrf: String,
    /// The region a list is compared in (the user's own), `None` when too low to compare.
    region_name: Option<String>,
    sources: Vec<(String, String)>,
    runs: Vec<RunLine>,
    error: Option<String>,
    source: String,
    taken_on: String,
    mapping: String,
}

async fn exchange_page(
    state: &AppState,
    who: &CurrentUser,
    error: Option<String>,
    form: &HashMap<String, String>,
) -> AppResult<ExchangePage> {
    let mut tx = state.db.begin_read().await?;
    let runs = saved::runs(&mut tx, &who.scope, RUNS).await?;
    tx.commit().await?;
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    Ok(ExchangePage {
        chrome: Some(Chrome::of(state, who)),
        csrf: who.csrf().to_string(),
        region_name: entry_region(&state.tree, &who.scope).map(|r| state.tree.path_name(&r.code)),
        sources: exchange::sources()
            .iter()
            .map(|s| (s.code.clone(), s.label.clone()))
            .collect(),
        runs: runs.iter().map(|r| run_line(state, r)).collect(),
        error,
        source: field("source"),
        taken_on: form
            .get("taken_on")
            .cloned()
            .unwrap_or_else(|| today().to_string()),
        mapping: field("mapping"),
    })
}

pub async fn page(State(state): State<AppState>, who: CurrentUser) -> AppResult<Response> {
    Ok(exchange_page(&state, &who, None, &HashMap::new())
        .await?
        .into_response())
}

/// Upload a department's list and compare it with the user's region; then show the run.
pub async fn upload(
    State(state): State<AppState>,
    who: CurrentUser,
    crate::extract::Multipart(multipart): crate::extract::Multipart,
) -> AppResult<Response> {
    let (form, file) = read_upload(multipart).await?;
    let refuse = |message: String| refused(&state, &who, &form, message);
    let Some(region) = entry_region(&state.tree, &who.scope) else {
        return refuse(render("exchange-region-too-low", &[])).await;
    };
    let Some(source) = form.get("source").and_then(|s| exchange::source(s)) else {
        return refuse(render("exchange-source-missing", &[])).await;
    };
    let taken_on = match taken_on_of(&form) {
        Ok(d) => d,
        Err(message) => return refuse(message).await,
    };
    let lines: Vec<String> = form
        .get("mapping")
        .map(|m| {
            m.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let mapping = match exchange::list::parse_mapping(&lines) {
        Ok(m) => m,
        Err(message) => return refuse(message).await,
    };
    let Some((name, path)) = file else {
        return refuse(render("upload-missing", &[])).await;
    };
    let actor = who.user.actor();
    let req = RunRequest {
        source,
        region: &region.code,
        path: &path,
        file_name: &name,
        taken_on,
        mapping,
        actor: &actor,
        today: today(),
        rules: who.scope.rows(),
    };
    match exchange::run::run_list(&state.db, &state.tree, req).await {
        Ok(report) => Ok(Redirect::to(&format!("/exchange/runs/{}", report.run)).into_response()),
        Err(e) => {
            if e.code() == "internal-error" {
                tracing::error!(error = format!("{e:#}"), "exchange run failed");
            }
            refuse(e.message_zh()).await
        }
    }
}

/// The list page again with what was wrong (422), the form as it was sent.
async fn refused(
    state: &AppState,
    who: &CurrentUser,
    form: &HashMap<String, String>,
    message: String,
) -> AppResult<Response> {
    Ok((
        StatusCode::UNPROCESSABLE_ENTITY,
        exchange_page(state, who, Some(message), form).await?,
    )
        .into_response())
}

/// The day a form says its lists stand as of (today when blank; never after today).
fn taken_on_of(form: &HashMap<String, String>) -> Result<NaiveDate, String> {
    match form.get("taken_on").map(|s| s.trim()) {
        None | Some("") => Ok(today()),
        Some(t) => match t.parse::<NaiveDate>() {
            Ok(d) if d <= today() => Ok(d),
            _ => Err(render("exchange-taken-on-invalid", &[("text", t)])),
        },
    }
}

/// The annual joint census: one file per department (`file.<code>`), at least two, compared
/// with the user's region at once; then show the run.
pub async fn census(
    State(state): State<AppState>,
    who: CurrentUser,
    crate::extract::Multipart(multipart): crate::extract::Multipart,
) -> AppResult<Response> {
    use jingkang_core::exchange::run::{CensusFile, CensusRequest, run_census};
    let (form, files) = crate::imports::read_uploads(multipart).await?;
    let refuse = |message: String| refused(&state, &who, &form, message);
    let Some(region) = entry_region(&state.tree, &who.scope) else {
        return refuse(render("exchange-region-too-low", &[])).await;
    };
    let taken_on = match taken_on_of(&form) {
        Ok(d) => d,
        Err(message) => return refuse(message).await,
    };
    let given: Vec<(&'static exchange::Source, &(String, tempfile::TempPath))> =
        exchange::sources()
            .iter()
            .filter_map(|s| Some((s, files.get(&format!("file.{}", s.code))?)))
            .collect();
    let actor = who.user.actor();
    let req = CensusRequest {
        region: &region.code,
        files: given
            .iter()
            .map(|(source, (name, path))| CensusFile {
                source,
                path,
                file_name: name,
            })
            .collect(),
        taken_on,
        actor: &actor,
        today: today(),
        rules: who.scope.rows(),
    };
    match run_census(&state.db, &state.tree, req).await {
        Ok(report) => Ok(Redirect::to(&format!("/exchange/runs/{}", report.run)).into_response()),
        Err(e) => {
            if e.code() == "internal-error" {
                tracing::error!(error = ?e.code(), "census failed");
            }
            refuse(e.message_zh()).await
        }
    }
}

pub struct ItemLine {
    id: i64,
    state: &'static str,
    open: bool,
    ours: String,
    theirs: String,
    score: String,
    what: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "exchange_run.html")]
pub struct RunPage {
    chrome: Option<Chrome>,
    run: RunLine,
    summary: saved::Summary,
    /// The lists of a census: (department, file, persons).
    files: Vec<(String, String, u64)>,
    /// (code, label, count, selected)
    classes: Vec<(&'static str, &'static str, u64, bool)>,
    class_label: &'static str,
    items: Vec<ItemLine>,
    open: usize,
}

#[derive(Deserialize)]
pub struct RunQuery {
    class: Option<String>,
}

fn masked_id(id: &str) -> String {
    mask(Sensitivity::Identifier, id)
}

fn their_side(r: &ListRow) -> String {
    let id = r.id_number.as_deref().map(masked_id).unwrap_or_default();
    format!("第{}行 {} {}", r.row, r.name, id)
        .trim()
        .to_string()
}

fn what(who: &CurrentUser, item: &ItemRow) -> String {
    let conflicts: Vec<String> = item.detail["conflicts"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| {
                    let code = c["check"].as_str()?;
                    if !may_see_check(who, code) {
                        return None;
                    }
                    let label = check_label(code)?;
                    Some(match c["source"].as_str() {
                        Some(source) => format!("{label}（{}）", exchange::run_label(source)),
                        None => label.to_string(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let sources = |key: &str| -> Vec<String> {
        item.detail[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().or_else(|| v["source"].as_str()))
                    .map(exchange::run_label)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    match item.class {
        Class::Conflict => out.push(conflicts.join("、")),
        Class::TheirsOnly if item.detail["elsewhere"] == true => {
            out.push(render("exchange-elsewhere", &[]));
        }
        _ => {}
    }
    let missing = sources("missing");
    if !missing.is_empty() {
        out.push(render(
            "census-missing-from",
            &[("lists", &missing.join("、"))],
        ));
    }
    if item.class == Class::TheirsOnly {
        let seen = sources("seen");
        if !seen.is_empty() {
            out.push(render("census-seen-on", &[("lists", &seen.join("、"))]));
        }
    }
    out.join("；")
}

/// A census item's rows on each list, and the lists that should have the person and do not.
pub struct CensusLine {
    list: String,
    found: String,
    detail: String,
}

fn census_lines(who: &CurrentUser, item: &ItemRow) -> Vec<CensusLine> {
    let mut out: Vec<CensusLine> = item.detail["seen"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    let source = s["source"].as_str().unwrap_or_default();
                    let how = match s["matched_by"].as_str() {
                        Some("id_number") => "身份证号相同".to_string(),
                        Some("linkage") => s["score"]
                            .as_f64()
                            .map_or_else(|| "概率匹配".to_string(), |p| format!("概率匹配 {p:.3}")),
                        _ => String::new(),
                    };
                    let differs: Vec<String> = item.detail["conflicts"]
                        .as_array()
                        .map(|cs| {
                            cs.iter()
                                .filter(|c| c["source"].as_str() == Some(source))
                                .filter(|c| {
                                    c["check"].as_str().is_some_and(|k| may_see_check(who, k))
                                })
                                .filter_map(|c| {
                                    let check = c["check"].as_str()?;
                                    let shown = |v: &serde_json::Value| {
                                        let v = v.as_str().unwrap_or("空");
                                        if matches!(check, "id_number" | "certificate") {
                                            masked_id(v)
                                        } else {
                                            v.to_string()
                                        }
                                    };
                                    Some(format!(
                                        "{}：本库 {}，对方 {}",
                                        check_label(check)?,
                                        shown(&c["ours"]),
                                        shown(&c["theirs"])
                                    ))
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    CensusLine {
                        list: exchange::run_label(source),
                        found: format!(
                            "第 {} 行{}",
                            s["row_number"].as_u64().unwrap_or(0),
                            if how.is_empty() {
                                String::new()
                            } else {
                                format!("（{how}）")
                            }
                        ),
                        detail: differs.join("；"),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    if let Some(missing) = item.detail["missing"].as_array() {
        out.extend(
            missing
                .iter()
                .filter_map(|m| m.as_str())
                .map(|m| CensusLine {
                    list: exchange::run_label(m),
                    found: "名单上没有此人".to_string(),
                    detail: String::new(),
                }),
        );
    }
    out
}

fn check_label(code: &str) -> Option<&'static str> {
    check_of(code).map(jingkang_core::exchange::Check::label_zh)
}

fn check_of(code: &str) -> Option<jingkang_core::exchange::Check> {
    serde_json::from_value(serde_json::Value::String(code.into())).ok()
}

/// Whether `who` may see what a conflict's check compares (the police: not disability or
/// allowance fields).
fn may_see_check(who: &CurrentUser, code: &str) -> bool {
    check_of(code).is_some_and(|c| who.may_see_field(c.field()))
}

pub async fn run(
    State(state): State<AppState>,
    who: CurrentUser,
    Path(id): Path<i64>,
    Query(q): Query<RunQuery>,
) -> AppResult<Response> {
    let class = q
        .class
        .as_deref()
        .and_then(Class::from_code)
        .unwrap_or(Class::Conflict);
    let mut tx = state.db.begin_read().await?;
    let Some(run) = saved::run(&mut tx, &who.scope, id).await? else {
        return Err(AppError::NotFound);
    };
    let items = saved::items(&mut tx, &who.scope, id, Some(class))
        .await?
        .unwrap_or_default();
    let ids: Vec<i64> = items
        .iter()
        .flat_map(|i| [i.person, i.other])
        .flatten()
        .collect();
    let names = saved::names(&mut tx, &who.scope, &ids).await?;
    tx.commit().await?;
    let ours = |pid: Option<i64>| {
        pid.and_then(|p| names.get(&p))
            .map(|(n, i)| format!("{n} {}", masked_id(i)))
            .unwrap_or_default()
    };
    let lines: Vec<ItemLine> = items
        .iter()
        .map(|i| ItemLine {
            id: i.id,
            state: i.state.label_zh(),
            open: i.state == ItemState::Open,
            ours: ours(i.person),
            theirs: match i.class {
                Class::Duplicate => ours(i.other),
                _ => i.row.as_ref().map(their_side).unwrap_or_default(),
            },
            score: i.score.map(|s| format!("{s:.3}")).unwrap_or_default(),
            what: what(&who, i),
        })
        .collect();
    Ok(RunPage {
        chrome: Some(Chrome::of(&state, &who)),
        files: run
            .summary
            .files
            .iter()
            .map(|(code, file, kept)| (exchange::run_label(code), file.clone(), *kept))
            .collect(),
        open: lines.iter().filter(|l| l.open).count(),
        classes: Class::ALL
            .iter()
            .map(|c| {
                (
                    c.code(),
                    c.label_zh(),
                    run.summary.counts.get(c.code()).copied().unwrap_or(0),
                    *c == class,
                )
            })
            .collect(),
        class_label: class.label_zh(),
        items: lines,
        summary: run.summary.clone(),
        run: run_line(&state, &run),
    }
    .into_response())
}

/// One line of the side-by-side comparison.
pub struct Side {
    label: &'static str,
    ours: String,
    theirs: String,
    differs: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "exchange_item.html")]
pub struct ItemPage {
    chrome: Option<Chrome>,
    csrf: String,
    id: i64,
    run: i64,
    class_code: &'static str,
    class_label: &'static str,
    state_label: &'static str,
    open: bool,
    theirs_only: bool,
    duplicate: bool,
    elsewhere: bool,
    ours_title: String,
    theirs_title: String,
    person: Option<i64>,
    other: Option<i64>,
    score: String,
    sides: Vec<Side>,
    /// (column, level, weight)
    fields: Vec<(String, String, String)>,
    errors: Vec<(String, String)>,
    anchor: &'static str,
    note: String,
    person_key: String,
    /// May merge and create (registry roles).
    may_edit: bool,
    /// A duplicate's fields that differ, to choose from (field, label, left, right).
    merge_fields: Vec<MergeField>,
    /// A census item: the person on each list.
    census: Vec<CensusLine>,
    /// A theirs-only item: the townships a new record may be placed in, and their row's.
    townships: Vec<String>,
    row_township: String,
}

pub struct MergeField {
    key: &'static str,
    label: &'static str,
    left: String,
    right: String,
}

/// A field's value as the merge form shows it: masked by sensitivity, codes as their labels.
fn shown(state: &AppState, field: &str, value: Option<String>) -> String {
    let Some(v) = value else {
        return String::new();
    };
    let sensitivity = registry::field(field).map_or(Sensitivity::Plain, |d| d.sensitivity);
    if sensitivity != Sensitivity::Plain {
        return mask(sensitivity, &v);
    }
    match field {
        "sex" => match v.as_str() {
            "male" => "男".into(),
            "female" => "女".into(),
            _ => v,
        },
        "household_region" | "residence_region" => state.tree.path_name(&v),
        "subsistence_allowance" | "extreme_poverty" | "low_income" => {
            if v == "1" { "是" } else { "否" }.into()
        }
        _ => registry::codes::label(field, &v),
    }
}

/// The fields of two records that differ and the user may see, for the merge form.
fn merge_fields(
    state: &AppState,
    who: &CurrentUser,
    a: &StoredPerson,
    b: &StoredPerson,
) -> Vec<MergeField> {
    registry::FIELDS
        .iter()
        .filter(|f| who.may_see_field(f.name))
        .filter_map(|f| {
            let (x, y) = (a.record.get(f.name), b.record.get(f.name));
            (x != y).then(|| MergeField {
                key: f.name,
                label: f.label_zh,
                left: shown(state, f.name, x),
                right: shown(state, f.name, y),
            })
        })
        .collect()
}

/// A record's fields in the comparison's order, masked as the person page masks them.
struct Facts {
    name: String,
    id_number: String,
    sex: String,
    birth: String,
    address: String,
    phone: String,
    guardian: String,
    died: String,
    certificate: String,
    grade: String,
}

fn grade_label(n: Option<i64>) -> String {
    n.and_then(|g| u8::try_from(g).ok())
        .and_then(jingkang_core::domain::DisabilityGrade::from_number)
        .map(|g| g.label_zh().to_string())
        .unwrap_or_default()
}

fn phone(p: Option<&str>) -> String {
    p.map(|p| mask(Sensitivity::Phone, p)).unwrap_or_default()
}

fn ours_facts(p: &StoredPerson) -> Facts {
    let d = &p.record.data;
    Facts {
        name: d.name.clone(),
        id_number: masked_id(&d.id_number),
        sex: match d.sex.as_str() {
            "male" => "男",
            "female" => "女",
            _ => "",
        }
        .to_string(),
        birth: d.birth_date.to_string(),
        address: d
            .residence_address
            .clone()
            .or_else(|| d.household_address.clone())
            .unwrap_or_default(),
        phone: phone(d.phone.as_deref()),
        guardian: p
            .record
            .guardian
            .as_ref()
            .map(|g| g.name.clone())
            .unwrap_or_default(),
        died: String::new(),
        certificate: d
            .disability_certificate
            .as_deref()
            .map(masked_id)
            .unwrap_or_default(),
        grade: grade_label(d.disability_grade),
    }
}

fn their_facts(r: &ListRow) -> Facts {
    Facts {
        name: r.name.clone(),
        id_number: r.id_number.as_deref().map(masked_id).unwrap_or_default(),
        sex: r.sex.map(|s| s.label_zh().to_string()).unwrap_or_default(),
        birth: r.birth_date.map(|d| d.to_string()).unwrap_or_default(),
        address: r.address.clone().unwrap_or_default(),
        phone: phone(r.phone.as_deref()),
        guardian: r.guardian.clone().unwrap_or_default(),
        died: match (r.died, r.died_on) {
            (true, Some(d)) => format!("死亡（{d}）"),
            (true, None) => "死亡".into(),
            _ => String::new(),
        },
        certificate: r.certificate.as_deref().map(masked_id).unwrap_or_default(),
        grade: grade_label(r.grade.map(i64::from)),
    }
}

/// The record field a comparison column holds, for the field table (`accounts::policy`).
fn column_field(column: &str) -> &str {
    match column {
        "address" => "residence_address",
        "guardian" => "guardian1.name",
        "certificate" => "disability_certificate",
        "grade" => "disability_grade",
        other => other,
    }
}

/// The two sides, field by field, of what `who` may see.
fn sides(who: &CurrentUser, ours: Option<Facts>, theirs: Option<Facts>) -> Vec<Side> {
    let get = |f: &Option<Facts>, k: usize| -> String {
        f.as_ref().map_or_else(String::new, |f| {
            [
                &f.name,
                &f.id_number,
                &f.sex,
                &f.birth,
                &f.address,
                &f.phone,
                &f.guardian,
                &f.died,
                &f.certificate,
                &f.grade,
            ][k]
                .clone()
        })
    };
    [
        ("姓名", "name"),
        ("身份证号", "id_number"),
        ("性别", "sex"),
        ("出生日期", "birth_date"),
        ("地址", "residence_address"),
        ("电话", "phone"),
        ("监护人", "guardian1.name"),
        ("死亡", "died"),
        ("残疾证号", "disability_certificate"),
        ("残疾等级", "disability_grade"),
    ]
    .iter()
    .enumerate()
    .filter(|(_, (_, field))| who.may_see_field(field))
    .map(|(k, (label, _))| {
        let (a, b) = (get(&ours, k), get(&theirs, k));
        Side {
            label,
            differs: !a.is_empty() && !b.is_empty() && a != b,
            ours: a,
            theirs: b,
        }
    })
    .collect()
}

fn level_label(level: &str) -> &'static str {
    match level {
        "exact" => "一致",
        "missing" => "缺失",
        "disagree" => "不一致",
        "same_sound" => "读音相同",
        "swapped" => "姓名颠倒",
        "one_char" => "差一个字",
        "one_digit" => "差一位",
        "day_month_swapped" => "月日颠倒",
        "same_month" => "同年同月",
        "same_birth" => "出生日期相同",
        "last_eight" => "后八位相同",
        "most" => "大部分相同",
        "some" => "部分相同",
        _ => "相近",
    }
}

async fn read_person(
    tx: &mut Tx,
    who: &CurrentUser,
    id: Option<i64>,
) -> AppResult<Option<StoredPerson>> {
    Ok(match id {
        Some(pid) => persons::get(tx, &who.scope, &who.user.actor(), pid).await?,
        None => None,
    })
}

async fn item_page(
    state: &AppState,
    who: &CurrentUser,
    id: i64,
    errors: Vec<(String, String)>,
    (note, person_key): (String, String),
) -> AppResult<ItemPage> {
    let mut tx = state.db.begin().await?;
    let Some((run, item)) = saved::item(&mut tx, &who.scope, id).await? else {
        return Err(AppError::NotFound);
    };
    // Opening an item reads the registry records in full: audited reads, as on the person page.
    let ours = read_person(&mut tx, who, item.person).await?;
    let other = read_person(&mut tx, who, item.other).await?;
    let run_region = saved::run(&mut tx, &who.scope, run)
        .await?
        .map(|r| r.region)
        .unwrap_or_default();
    tx.commit().await?;
    let open = item.state == ItemState::Open;
    let merge_fields = match (&ours, &other) {
        (Some(a), Some(b)) if open && item.class == Class::Duplicate => {
            merge_fields(state, who, a, b)
        }
        _ => Vec::new(),
    };
    let townships = if open && item.class == Class::TheirsOnly {
        state
            .tree
            .townships_under(&run_region)
            .into_iter()
            .filter(|t| who.scope.contains(&t.code))
            .map(|t| t.name.clone())
            .collect()
    } else {
        Vec::new()
    };
    let (theirs_title, theirs) = match (item.class, &item.row) {
        (Class::Duplicate, _) => (
            render("exchange-side-other", &[]),
            other.as_ref().map(ours_facts),
        ),
        (_, Some(r)) => (
            render("exchange-side-theirs", &[("row", &r.row.to_string())]),
            Some(their_facts(r)),
        ),
        _ => (render("exchange-side-theirs-none", &[]), None),
    };
    let fields = item.detail["fields"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| {
                    let col = f[0].as_str()?.to_string();
                    if !who.may_see_field(column_field(&col)) {
                        return None;
                    }
                    let level = level_label(f[1].as_str()?).to_string();
                    let weight = f[2]
                        .as_f64()
                        .map_or_else(String::new, |w| format!("{w:+.1}"));
                    Some((col, level, weight))
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(ItemPage {
        chrome: Some(Chrome::of(state, who)),
        csrf: who.csrf().to_string(),
        id,
        run,
        class_code: item.class.code(),
        class_label: item.class.label_zh(),
        state_label: item.state.label_zh(),
        open,
        theirs_only: item.class == Class::TheirsOnly,
        duplicate: item.class == Class::Duplicate,
        elsewhere: item.detail["elsewhere"] == true,
        ours_title: render("exchange-side-ours", &[]),
        theirs_title,
        person: ours.as_ref().map(|p| p.id),
        other: other.as_ref().map(|p| p.id),
        score: item.score.map(|s| format!("{s:.3}")).unwrap_or_default(),
        sides: sides(who, ours.as_ref().map(ours_facts), theirs),
        fields,
        errors,
        anchor: "item",
        note,
        person_key,
        may_edit: who.may(Permission::EditRegistry),
        merge_fields,
        census: census_lines(who, &item),
        townships,
        row_township: item
            .row
            .as_ref()
            .and_then(|r| r.township.clone())
            .unwrap_or_default(),
    })
}

pub async fn item(
    State(state): State<AppState>,
    who: CurrentUser,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    Ok(item_page(&state, &who, id, Vec::new(), Default::default())
        .await?
        .into_response())
}

/// The decision form, read as pairs: its fields plus, for a merge, one `use.<field>` per
/// differing field (`left`: the item's registry record, `right`: the other).
#[derive(Default)]
pub struct DecideForm {
    csrf: String,
    decision: String,
    /// For linking a theirs-only item: the registry person's ID number or record number.
    person: String,
    note: String,
    /// For creating from a theirs-only item: the township's name.
    township: String,
    /// For a merge: which record stays (`left` or `right`).
    survivor: String,
    /// For a merge: each differing field and whether the right record's value is chosen.
    uses: Vec<(String, bool)>,
}

impl DecideForm {
    fn of(pairs: Vec<(String, String)>) -> DecideForm {
        let mut f = DecideForm::default();
        for (k, v) in pairs {
            match k.as_str() {
                "csrf" => f.csrf = v,
                "decision" => f.decision = v,
                "person" => f.person = v,
                "note" => f.note = v,
                "township" => f.township = v,
                "survivor" => f.survivor = v,
                _ => {
                    if let Some(field) = k.strip_prefix("use.") {
                        f.uses.push((field.to_string(), v == "right"));
                    }
                }
            }
        }
        f
    }
}

/// The registry person a user names by ID number (in scope) or record number.
async fn named_person(state: &AppState, who: &CurrentUser, key: &str) -> AppResult<Option<i64>> {
    let key = key.trim();
    if key.is_empty() {
        return Ok(None);
    }
    if let Ok(id) = IdNumber::parse_as_of(key, today()) {
        let mut tx = state.db.begin_read().await?;
        let found = persons::find_by_id_numbers(&mut tx, &who.scope, &[id.as_str()]).await?;
        tx.commit().await?;
        return Ok(Some(found.get(id.as_str()).map_or(0, |p| p.id)));
    }
    Ok(Some(key.parse::<i64>().unwrap_or(0)))
}

pub async fn decide(
    State(state): State<AppState>,
    who: CurrentUser,
    Path(id): Path<i64>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let form = DecideForm::of(pairs);
    let again = |errors: Vec<(String, String)>| {
        let (state, who, form) = (&state, &who, &form);
        async move {
            Ok::<_, AppError>(
                (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    item_page(
                        state,
                        who,
                        id,
                        errors,
                        (form.note.clone(), form.person.clone()),
                    )
                    .await?,
                )
                    .into_response(),
            )
        }
    };
    let may_edit = who.may(Permission::EditRegistry);
    let decision = match form.decision.as_str() {
        "link" => Decision::Link {
            person: named_person(&state, &who, &form.person).await?,
        },
        "reject" => Decision::Reject,
        "reopen" if !may_edit => {
            // Undoing a merge or a creation changes the registry: registry roles only.
            let mut tx = state.db.begin_read().await?;
            let found = saved::item(&mut tx, &who.scope, id).await?;
            tx.commit().await?;
            match found {
                Some((_, item)) if matches!(item.state, ItemState::Merged | ItemState::Created) => {
                    return again(vec![(
                        "decision".into(),
                        render("exchange-needs-registry-role", &[]),
                    )])
                    .await;
                }
                _ => Decision::Reopen,
            }
        }
        "reopen" => Decision::Reopen,
        "merge" | "create" if !may_edit => {
            return again(vec![(
                "decision".into(),
                render("exchange-needs-registry-role", &[]),
            )])
            .await;
        }
        "merge" => {
            let mut tx = state.db.begin_read().await?;
            let found = saved::item(&mut tx, &who.scope, id).await?;
            tx.commit().await?;
            let Some((_, item)) = found else {
                return Err(AppError::NotFound);
            };
            let (left, right) = (item.person.unwrap_or(0), item.other.unwrap_or(0));
            // The fields taken from the record that is not kept.
            let keep_right = form.survivor == "right";
            let take = form
                .uses
                .iter()
                .filter(|(_, right)| *right != keep_right)
                .map(|(f, _)| f.clone())
                .collect();
            Decision::Merge {
                survivor: if keep_right { right } else { left },
                take,
            }
        }
        "create" => Decision::Create {
            township: Some(form.township.clone()).filter(|t| !t.trim().is_empty()),
        },
        _ => {
            return again(vec![(
                "decision".into(),
                render("exchange-decision-missing", &[]),
            )])
            .await;
        }
    };
    let note: String = form.note.trim().chars().take(500).collect();
    let mut tx = state.db.begin().await?;
    let actor = who.user.actor();
    let desk = saved::Desk {
        scope: &who.scope,
        actor: &actor,
        tree: &state.tree,
        today: today(),
    };
    let done = saved::decide(&mut tx, &desk, id, &decision, &note).await?;
    match done {
        Ok(_) => {
            tx.commit().await?;
            Ok(Redirect::to(&format!("/exchange/items/{id}")).into_response())
        }
        Err(Refusal::NotFound) => Err(AppError::NotFound),
        Err(Refusal::Problems(p)) => {
            drop(tx);
            again(p.into_iter().map(|e| (e.field, e.message)).collect()).await
        }
    }
}
