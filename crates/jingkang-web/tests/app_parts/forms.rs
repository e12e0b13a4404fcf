//! Forms keep what was typed and list every problem (issue 23, item 5): for each form route, an
//! invalid submission with several wrong fields comes back 422 with each problem listed at the
//! top (linked to its field) and beside its field, and every value typed — selects and ticks
//! included — comes back as it was sent. Nothing is written.

use super::*;

/// One form: where it posts, who posts it, what is sent, which problems must be listed (message
/// codes), and what must come back (fragments of the re-rendered form).
struct Case {
    what: &'static str,
    path: String,
    role: Role,
    fields: Vec<(&'static str, String)>,
    problems: Vec<&'static str>,
    kept: Vec<String>,
}

pub async fn forms_keep_input_and_list_every_problem(app: App) {
    let person = app.person_in(&app.town_b).await;
    // Registered, so that 结案 is one of the steps the form offers.
    on_pool!(&app.db, p => sqlx::query("UPDATE persons SET registration_state = 'registered' WHERE id = $1")
        .bind(person).execute(p).await.map(drop))
    .unwrap();
    // An institution with one staff member in the clerk's township, for the staff forms.
    let (site, member) = site_with_staff(&app, &app.town_b, "表单站点").await;
    let cases = vec![
        Case {
            what: "new staff member",
            path: format!("/institutions/{site}/staff"),
            role: Role::Township,
            fields: vec![
                ("name", " ".into()),
                ("position", String::new()),
                ("hired_on", "2026-02-30".into()),
                ("qualification", String::new()),
                ("number", "粤社证-0042".into()),
            ],
            problems: vec![
                "date-invalid",
                "staff-name-invalid",
                "staff-position-missing",
            ],
            kept: vec![
                "value=\"2026-02-30\"".into(),
                "value=\"粤社证-0042\"".into(),
                "has-error\" id=\"in-hired_on\"".into(),
                "has-error\" id=\"in-name\"".into(),
            ],
        },
        Case {
            what: "staff training",
            path: format!("/institutions/{site}/trainings"),
            role: Role::Township,
            fields: vec![
                ("staff", member.to_string()),
                ("trained_on", "明天".into()),
                ("topic", String::new()),
                ("hours", "三个半".into()),
            ],
            problems: vec![
                "date-invalid",
                "staff-training-topic-missing",
                "staff-training-hours-invalid",
            ],
            kept: vec![
                format!("value=\"{member}\" selected"),
                "value=\"明天\"".into(),
                "value=\"三个半\"".into(),
            ],
        },
        Case {
            what: "respite",
            path: "/family/respite".into(),
            role: Role::Worker,
            fields: vec![
                ("person_id", String::new()),
                ("from_date", "2026-03-05".into()),
                ("to_date", "2026-03-01".into()),
                ("provider", String::new()),
                ("hours", "0".into()),
                ("notes", "家属外出就医".into()),
            ],
            problems: vec![
                "family-person-missing",
                "family-respite-order",
                "family-missing",
                "family-respite-hours",
            ],
            kept: vec![
                "value=\"2026-03-05\"".into(),
                "value=\"2026-03-01\"".into(),
                "value=\"家属外出就医\"".into(),
            ],
        },
        Case {
            what: "follow-up",
            path: format!("/persons/{person}/followups"),
            role: Role::Doctor,
            fields: vec![
                ("visit_date", "2026-02-30".into()),
                ("mode", "phone".into()),
                ("lost_reason", "missing".into()),
                ("doctor", " ".into()),
            ],
            problems: vec!["followup-date-invalid", "followup-field-missing"],
            kept: vec![
                "value=\"2026-02-30\"".into(),
                "value=\"phone\" checked".into(),
                "value=\"missing\" checked".into(),
            ],
        },
        Case {
            what: "assessment",
            path: format!("/persons/{person}/assessments"),
            role: Role::Worker,
            fields: vec![
                ("instrument", "sdss".into()),
                ("assessed_on", "2026-02-30".into()),
                ("assessor", " ".into()),
                ("work", "1".into()),
                ("marriage", "9".into()),
                ("parenting", "0".into()),
                ("withdrawal", "0".into()),
                ("outside_activity", "0".into()),
                ("home_activity", "0".into()),
                ("family_role", "0".into()),
                ("self_care", "7".into()),
                ("responsibility", "2".into()),
            ],
            problems: vec![
                "assessment-date-invalid",
                "assessment-assessor-missing",
                "instrument-item-invalid",
                "instrument-item-missing",
            ],
            kept: vec![
                "value=\"2026-02-30\"".into(),
                "name=\"work\" value=\"1\" checked".into(),
                "name=\"responsibility\" value=\"2\" checked".into(),
            ],
        },
        Case {
            what: "purchase contract",
            path: "/contracts".into(),
            role: Role::Civil,
            fields: vec![
                ("region", String::new()),
                ("buyer", "区民政局".into()),
                ("provider", String::new()),
                ("provider_code", "91110108551385082Q".into()),
                ("starts_on", "2026-05-01".into()),
                ("ends_on", "2026-01-01".into()),
                ("budget_yuan", "五十万".into()),
                ("planned_persons", "120".into()),
            ],
            problems: vec![
                "contract-region-invalid",
                "contract-provider-missing",
                "contract-period-invalid",
                "contract-budget-invalid",
            ],
            kept: vec![
                "value=\"区民政局\"".into(),
                "value=\"五十万\"".into(),
                "value=\"120\"".into(),
                "value=\"2026-01-01\"".into(),
            ],
        },
        Case {
            what: "new user",
            path: "/admin/users".into(),
            role: Role::Admin,
            fields: vec![
                ("username", "张三".into()),
                ("display_name", " ".into()),
                ("role", "civil".into()),
                ("region", "5001109999".into()),
                ("organisation", String::new()),
            ],
            problems: vec!["username-invalid", "display-name-missing", "region-unknown"],
            kept: vec![
                "value=\"张三\"".into(),
                "value=\"civil\" selected".into(),
                "value=\"5001109999\"".into(),
            ],
        },
        Case {
            what: "new organisation",
            path: "/admin/organisations".into(),
            role: Role::Admin,
            fields: vec![("name", String::new()), ("region", "999".into())],
            problems: vec!["organisation-name-invalid", "region-unknown"],
            kept: vec!["value=\"999\"".into()],
        },
        Case {
            what: "registration change",
            path: format!("/persons/{person}/registration"),
            role: Role::Township,
            fields: vec![
                ("event", "close".into()),
                ("close_reason", String::new()),
                ("reason", "迁往外省，家属要求结案".into()),
            ],
            problems: vec!["registration-close-reason-missing"],
            kept: vec![
                "value=\"close\" selected".into(),
                "value=\"迁往外省，家属要求结案\"".into(),
            ],
        },
        Case {
            what: "new person",
            path: "/persons/new".into(),
            role: Role::Township,
            fields: vec![
                ("name", String::new()),
                ("id_number", "500110198".into()),
                ("sex", "男".into()),
                ("address", "和平路9号".into()),
                ("guardian_phone", "12345".into()),
            ],
            problems: vec![
                "township-missing",
                "name-missing",
                "id-length",
                "phone-invalid",
            ],
            kept: vec![
                "value=\"500110198\"".into(),
                "value=\"和平路9号\"".into(),
                "value=\"12345\"".into(),
            ],
        },
        Case {
            what: "rehabilitation plan",
            path: format!("/persons/{person}/plans"),
            role: Role::Worker,
            fields: vec![
                ("goals", " ".into()),
                ("responsible", String::new()),
                ("starts_on", String::new()),
                ("review_on", "2026-01-01".into()),
                ("signed_by", "person".into()),
            ],
            problems: vec![
                "plan-goals-missing",
                "plan-responsible-missing",
                "plan-start-missing",
                "plan-items-invalid",
                "plan-signature-incomplete",
            ],
            kept: vec![
                "value=\"2026-01-01\"".into(),
                "value=\"person\" checked".into(),
            ],
        },
        Case {
            what: "service sessions",
            path: "/services".into(),
            role: Role::Worker,
            fields: vec![
                ("item", String::new()),
                ("start", "09:30".into()),
                ("end", "08:00".into()),
                ("staff", " ".into()),
                ("notes", "手工小组第三次活动".into()),
            ],
            problems: vec![
                "service-item-invalid",
                "service-mode-invalid",
                "service-date-missing",
                "service-end-before-start",
                "service-staff-missing",
                "service-participants-missing",
            ],
            kept: vec![
                "value=\"09:30\"".into(),
                "value=\"08:00\"".into(),
                "value=\"手工小组第三次活动\"".into(),
            ],
        },
        Case {
            what: "emergency",
            path: format!("/persons/{person}/emergencies"),
            role: Role::Township,
            fields: vec![
                ("occurred_at", "2026-02-30T10:00".into()),
                ("risk_grade", String::new()),
                ("place", "河边公园".into()),
                ("description", String::new()),
                ("outcome", "已送医".into()),
            ],
            // The time, and the grade, the kinds, the measures and the description missing.
            problems: vec![
                "emergency-time-invalid",
                "followup-field-missing",
                "followup-field-missing",
                "followup-field-missing",
                "followup-field-missing",
            ],
            kept: vec![
                "value=\"2026-02-30T10:00\"".into(),
                "value=\"河边公园\"".into(),
                "value=\"已送医\"".into(),
                "has-error\" id=\"em-occurred_at\"".into(),
                "has-error\" id=\"em-risk_grade\"".into(),
                "has-error\" id=\"em-description\"".into(),
                "【事件经过】未填写".into(),
                "【处置措施】未填写".into(),
            ],
        },
        Case {
            what: "new institution",
            path: "/institutions".into(),
            role: Role::Township,
            fields: vec![
                ("name", String::new()),
                ("kind", "site".into()),
                ("address", String::new()),
                ("capacity", "很多".into()),
                ("operator", "阳光康复服务中心".into()),
            ],
            // The capacity the form cannot read no longer hides the rest.
            problems: vec![
                "institution-capacity-invalid",
                "institution-name-invalid",
                "institution-region-invalid",
                "institution-address-missing",
                "uscc-empty",
                "institution-status-unknown",
            ],
            kept: vec!["value=\"很多\"".into(), "value=\"阳光康复服务中心\"".into()],
        },
    ];
    for (i, case) in cases.into_iter().enumerate() {
        let region = if case.role == Role::Admin {
            COUNTY.to_string()
        } else {
            app.town_b.clone()
        };
        let (c, csrf, _) = session_for(
            &app,
            &format!("form{i}-{}", case.role.code()),
            case.role,
            &region,
        )
        .await;
        let writes = |actions: Vec<String>| {
            actions
                .into_iter()
                .filter(|a| {
                    a.ends_with(".create")
                        || (a.starts_with("registration.") && a != "registration.read")
                })
                .count()
        };
        let before = writes(app.audit_actions().await);
        let mut fields = case.fields.clone();
        fields.push(("csrf", csrf));
        let r = c
            .post(app.url(&case.path))
            .form(&fields)
            .send()
            .await
            .unwrap();
        let what = case.what;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{what}");
        let page = r.text().await.unwrap();
        if case.problems.len() > 1 {
            assert!(
                page.contains(&format!("请修改以下 {} 处", case.problems.len())),
                "{what}: every problem counted: {page}"
            );
        }
        // At the top and beside the field when there is a list; beside the form when one.
        let times = if case.problems.len() > 1 { 2 } else { 1 };
        for code in &case.problems {
            let message = jingkang_core::messages::template(code);
            let message = message.split('{').next().unwrap();
            assert!(
                page.matches(message).count() >= times,
                "{what}: {code} listed at the top and beside its field: {page}"
            );
        }
        for fragment in &case.kept {
            assert!(
                page.contains(fragment.as_str()),
                "{what}: {fragment} kept: {page}"
            );
        }
        assert_eq!(
            writes(app.audit_actions().await),
            before,
            "{what}: nothing written"
        );
    }
}
