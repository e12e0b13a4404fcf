//! The person create and edit forms: one row of a roster entered by hand, checked by the same rules
//! with the same Chinese messages as the importer (`jingkang_core::import::entry`), field by field.

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jingkang_core::export::roster::grade_text;
use jingkang_core::import::entry::{self, EntryError};
use jingkang_core::import::roster::{RowError, entry_keys};
use jingkang_core::registry::{self, Sensitivity};
use jingkang_core::store::persons;

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{AppError, AppResult};
use crate::extract::{Form, Path};
use crate::pages::Chrome;

/// One input of the form.
pub struct FormField {
    key: &'static str,
    label: &'static str,
    value: String,
    required: bool,
    /// Stored but hidden (masked): left empty, the stored value is kept.
    kept_hidden: Option<String>,
    error: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "person_form.html")]
pub struct PersonForm {
    chrome: Option<Chrome>,
    csrf: String,
    /// `None` for a new person.
    id: Option<i64>,
    title: String,
    fields: Vec<FormField>,
    townships: Vec<String>,
    /// Errors not tied to a shown field.
    general: Vec<String>,
    /// Every field's problem, in the form's order, for the list at the top: (field, message).
    errors: Vec<(String, String)>,
    /// The form was opened from a rejected import row: the errors are shown before any save.
    from_row: Option<u32>,
}

impl FormField {
    pub fn is(&self, key: &str) -> bool {
        self.key == key
    }
}

/// Today's date in China (UTC+8): ages and ID plausibility are judged as of it. The core's one
/// clock, which the command line uses too.
pub use jingkang_core::domain::clock::today;

fn townships(state: &AppState, who: &CurrentUser) -> Vec<String> {
    entry::entry_region(&state.tree, &who.scope)
        .map(|r| {
            state
                .tree
                .townships_under(&r.code)
                .into_iter()
                .map(|t| t.name.clone())
                .collect()
        })
        .unwrap_or_default()
}

fn form(
    state: &AppState,
    who: &CurrentUser,
    id: Option<i64>,
    title: String,
    values: &HashMap<String, String>,
    hidden: &HashMap<&'static str, String>,
    errors: &[RowError],
) -> PersonForm {
    let fields: Vec<FormField> = entry_keys()
        .filter(|s| id.is_none() || s.key != "id_number")
        .map(|s| FormField {
            key: s.key,
            label: s.label_zh,
            value: values.get(s.key).cloned().unwrap_or_default(),
            required: s.required,
            kept_hidden: hidden.get(s.key).cloned(),
            error: {
                let msgs: Vec<&str> = errors
                    .iter()
                    .filter(|e| e.field == s.key)
                    .map(|e| e.message.as_str())
                    .collect();
                (!msgs.is_empty()).then(|| msgs.join("；"))
            },
        })
        .collect();
    let shown: Vec<&str> = fields.iter().map(|f| f.key).collect();
    let listed = fields
        .iter()
        .filter_map(|f| Some((f.key.to_string(), f.error.clone()?)))
        .collect();
    let general = errors
        .iter()
        .filter(|e| !shown.contains(&e.field))
        .map(|e| e.message.clone())
        .collect();
    PersonForm {
        chrome: Some(Chrome::of(state, who)),
        csrf: who.csrf().to_string(),
        id,
        title,
        fields,
        townships: townships(state, who),
        general,
        errors: listed,
        from_row: None,
    }
}

fn lookup(values: &HashMap<String, String>) -> impl Fn(&str) -> Option<String> + '_ {
    |k| {
        values
            .get(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }
}

pub async fn new_form(State(state): State<AppState>, who: CurrentUser) -> AppResult<Response> {
    Ok(form(
        &state,
        &who,
        None,
        "登记服务对象".into(),
        &HashMap::new(),
        &HashMap::new(),
        &[],
    )
    .into_response())
}

/// Save a new person; or, with `prefill`, show the values of a rejected import row with their
/// errors so the clerk can correct them.
pub async fn create(
    State(state): State<AppState>,
    who: CurrentUser,
    Form(values): Form<HashMap<String, String>>,
) -> AppResult<Response> {
    let get = lookup(&values);
    if let Some(row) = values.get("prefill").and_then(|r| r.parse::<u32>().ok()) {
        let errors = match jingkang_core::import::roster::validate_entry(
            &state.tree,
            entry::entry_region(&state.tree, &who.scope).ok_or(AppError::Forbidden)?,
            today(),
            &get,
        ) {
            Ok(_) => Vec::new(),
            Err(e) => e,
        };
        let mut page = form(
            &state,
            &who,
            None,
            "登记服务对象".into(),
            &values,
            &HashMap::new(),
            &errors,
        );
        page.from_row = Some(row);
        return Ok(page.into_response());
    }
    match entry::create(
        &state.db,
        &state.tree,
        &who.scope,
        &who.user.actor(),
        today(),
        &get,
    )
    .await
    {
        Ok(saved) => {
            Ok(Redirect::to(&format!("/persons/{}?created=true", saved.person_id)).into_response())
        }
        Err(EntryError::Invalid(errors)) => {
            let page = form(
                &state,
                &who,
                None,
                "登记服务对象".into(),
                &values,
                &HashMap::new(),
                &errors,
            );
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(EntryError::NotFound) => Err(AppError::NotFound),
        Err(EntryError::Db(e)) => Err(AppError::Internal(e)),
    }
}

/// The stored values as the form shows them: plain fields in clear, sensitive ones left empty
/// (kept unless re-entered) with their masked value as a hint.
async fn stored_values(
    state: &AppState,
    who: &CurrentUser,
    id: i64,
) -> AppResult<(
    String,
    HashMap<String, String>,
    HashMap<&'static str, String>,
)> {
    let mut tx = state.db.begin().await?;
    // Opening the edit form shows the record: audited as a read.
    let p = persons::get(&mut tx, &who.scope, &who.user.actor(), id)
        .await?
        .ok_or(AppError::NotFound)?;
    tx.commit().await?;
    let d = &p.record.data;
    let g = p.record.guardian.as_ref();
    let mut values = HashMap::new();
    let mut hidden = HashMap::new();
    let town = state
        .tree
        .get(&d.residence_region)
        .map(|r| r.name.clone())
        .unwrap_or_default();
    values.insert("township".to_string(), town);
    values.insert("name".to_string(), d.name.clone());
    values.insert(
        "sex".to_string(),
        match d.sex.as_str() {
            "male" => "男",
            "female" => "女",
            _ => "",
        }
        .to_string(),
    );
    values.insert(
        "grade".to_string(),
        grade_text(d.disability_category, d.disability_grade),
    );
    values.insert(
        "address".to_string(),
        d.residence_address.clone().unwrap_or_default(),
    );
    values.insert(
        "guardian".to_string(),
        g.map(|g| g.name.clone()).unwrap_or_default(),
    );
    values.insert("notes".to_string(), d.notes.clone().unwrap_or_default());
    hidden.insert(
        "id_number",
        registry::mask(Sensitivity::Identifier, &d.id_number),
    );
    if let Some(c) = &d.disability_certificate {
        hidden.insert("certificate", registry::mask(Sensitivity::Identifier, c));
    }
    if let Some(ph) = g.and_then(|g| g.phone.as_ref()) {
        let mut shown = registry::mask(Sensitivity::Phone, ph);
        if let Some(alt) = g.and_then(|g| g.phone_alt.as_ref()) {
            shown.push_str(&format!("、{}", registry::mask(Sensitivity::Phone, alt)));
        }
        hidden.insert("guardian_phone", shown);
    }
    Ok((d.name.clone(), values, hidden))
}

pub async fn edit_form(
    State(state): State<AppState>,
    who: CurrentUser,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let (name, values, hidden) = stored_values(&state, &who, id).await?;
    Ok(form(
        &state,
        &who,
        Some(id),
        format!("修改档案：{name}"),
        &values,
        &hidden,
        &[],
    )
    .into_response())
}

pub async fn update(
    State(state): State<AppState>,
    who: CurrentUser,
    Path(id): Path<i64>,
    Form(values): Form<HashMap<String, String>>,
) -> AppResult<Response> {
    let get = lookup(&values);
    match entry::update(
        &state.db,
        &state.tree,
        &who.scope,
        &who.user.actor(),
        today(),
        id,
        &get,
    )
    .await
    {
        Ok(saved) => Ok(Redirect::to(&format!(
            "/persons/{}?saved={}",
            saved.person_id, saved.changed
        ))
        .into_response()),
        Err(EntryError::Invalid(errors)) => {
            let (name, _, hidden) = stored_values(&state, &who, id).await?;
            let page = form(
                &state,
                &who,
                Some(id),
                format!("修改档案：{name}"),
                &values,
                &hidden,
                &errors,
            );
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(EntryError::NotFound) => Err(AppError::NotFound),
        Err(EntryError::Db(e)) => Err(AppError::Internal(e)),
    }
}
