//! Institutions, staff, a purchase-of-service contract and family support for the demo county,
//! written through the store's own checked paths (the same checks, change sets and audit entries
//! as a user's entry): a county centre and a site in each of the busiest townships, their staff
//! with certificates and training (some under the yearly hours, one site under the share of
//! qualified staff, so both flags show), the persons of each township in its site's care, one
//! contract with the sites' operator, and a caregiver training, respite, a mutual-aid group with
//! meetings and a peer supporter. Refused when institutions exist.

use anyhow::{Context, bail};
use chrono::{Datelike, Duration, NaiveDate};

use crate::care::family::{
    self, FamilyMemberInput, GroupInput, MeetingInput, PeerInput, RespiteInput, TrainingInput,
};
use crate::care::institution::InstitutionRules;
use crate::domain::credit_code::credit_check_char;
use crate::on_tx;
use crate::regions::{Region, RegionTree, Scope};
use crate::store::{Actor, Db, Tx, contracts, family as store_family, institutions};

/// What [`write`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SitesSummary {
    pub institutions: u64,
    pub staff: u64,
    pub persons_in_care: u64,
}

/// The database already holds institutions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the database already holds {0} institutions")]
pub struct SitesExist(pub i64);

/// Sites opened in the busiest townships (the rest have none, as in a county still building them).
const SITES: usize = 3;
const STAFF_NAMES: &[&str] = &[
    "周晓燕",
    "何建华",
    "罗丽",
    "唐志强",
    "曾静",
    "彭涛",
    "蒋敏",
    "谭红",
    "邓磊",
    "冯雪",
    "韩梅",
    "曹宇",
];
const POSITIONS: &[&str] = &["社工", "护士", "康复师"];

/// A valid 统一社会信用代码: registration authority and kind, the county's code, `tail` (9
/// characters) and the check character.
fn credit_code(kind: &str, county: &str, tail: &str) -> anyhow::Result<String> {
    let first = format!("{kind}{county}{tail}");
    anyhow::ensure!(
        first.len() == 17,
        "credit code body {first} is not 17 characters"
    );
    let check = credit_check_char(first.as_bytes()).context("credit code alphabet")?;
    Ok(format!("{first}{check}"))
}

fn refused<T: std::fmt::Debug>(what: &str, r: T) -> anyhow::Error {
    anyhow::anyhow!("demo {what} refused: {r:?}")
}

/// Write the demo's institutions, staff, contract and family support in `county`.
pub async fn write(
    db: &Db,
    tree: &RegionTree,
    county: &Region,
    today: NaiveDate,
) -> anyhow::Result<SitesSummary> {
    let rules = InstitutionRules::shipped()?;
    let scope = Scope::of(county);
    let (lo, hi) = scope.bounds();
    let actor = Actor::system();
    let mut tx = db.begin().await?;
    let existing: i64 = on_tx!(&mut tx, c => sqlx::query_scalar("SELECT COUNT(*) FROM institutions").fetch_one(&mut **c).await)?;
    if existing > 0 {
        return Err(SitesExist(existing).into());
    }
    let towns: Vec<(String, i64)> = on_tx!(&mut tx, c => sqlx::query_as(
        "SELECT substr(residence_region, 1, 9) AS town, COUNT(*) AS n FROM persons \
         WHERE residence_region >= $1 AND residence_region < $2 AND registration_state IN ('registered', 'in_service') \
         GROUP BY substr(residence_region, 1, 9) ORDER BY n DESC, town LIMIT $3")
        .bind(&lo).bind(&hi).bind(SITES as i64).fetch_all(&mut **c).await)?;
    if towns.is_empty() {
        bail!("no persons in {} for the demo sites", county.code);
    }
    let provider = format!("{}心康社会工作服务中心", county.name);
    let provider_code = credit_code("52", &county.code, "MJ0000371")?;
    let mut summary = SitesSummary::default();
    let year_start = NaiveDate::from_ymd_opt(today.year(), 1, 1).context("year start")?;

    let centre = institutions::NewInstitution {
        name: format!("{}精神障碍社区康复服务中心", county.name),
        kind: "center".into(),
        urban: true,
        region: county.code.clone(),
        address: format!("{}人民路 18 号", county.name),
        capacity: 60,
        operator: provider.clone(),
        operator_code: provider_code.clone(),
        opened_on: Some(year_start - Duration::days(400)),
        status: "operating".into(),
    };
    let mut sites = vec![(
        create(&mut tx, &scope, &actor, (&rules, tree), &centre, today).await?,
        None,
    )];
    for (i, (town, _)) in towns.iter().enumerate() {
        let name = tree
            .get(town)
            .map(|r| r.name.clone())
            .unwrap_or_else(|| town.clone());
        let site = institutions::NewInstitution {
            name: format!("{name}社区康复站"),
            kind: if i == 2 {
                "yukang_home".into()
            } else {
                "site".into()
            },
            urban: name.ends_with("街道"),
            region: town.clone(),
            address: format!("{name}社区服务中心二楼"),
            capacity: 30,
            operator: provider.clone(),
            operator_code: provider_code.clone(),
            opened_on: Some(year_start - Duration::days(200 - 60 * i as i64)),
            status: "operating".into(),
        };
        sites.push((
            create(&mut tx, &scope, &actor, (&rules, tree), &site, today).await?,
            Some(town.clone()),
        ));
    }
    summary.institutions = sites.len() as u64;

    // Three staff a place; the last site has nobody certified (under the qualified share), and
    // every third member has fewer training hours than the year asks for.
    let mut names = STAFF_NAMES.iter().cycle();
    for (n, (site, _)) in sites.iter().enumerate() {
        for (k, position) in POSITIONS.iter().enumerate() {
            let certified = n + 1 != sites.len() && k < 2;
            let qualifications = if certified {
                vec![institutions::NewQualification {
                    kind: if k == 0 {
                        "social_worker".into()
                    } else {
                        "nurse".into()
                    },
                    number: format!(
                        "{}{:04}",
                        if k == 0 { "SW" } else { "HS" },
                        2101 + 10 * n + k
                    ),
                    issued_on: year_start - Duration::days(700),
                    valid_until: Some(year_start + Duration::days(365 * 4)),
                }]
            } else {
                Vec::new()
            };
            let new = institutions::NewStaff {
                institution_id: *site,
                name: (*names.next().unwrap_or(&"王社工")).to_string(),
                position: (*position).into(),
                hired_on: year_start - Duration::days(300),
                qualifications,
            };
            let id = institutions::add_staff(&mut tx, &scope, &actor, &rules, &new, today)
                .await?
                .map_err(|p| refused("staff", p))?;
            let hours = if (n + k) % 3 == 2 {
                [6.0, 4.0]
            } else {
                [12.0, 10.0]
            };
            for (j, h) in hours.iter().enumerate() {
                let t = institutions::NewTraining {
                    trained_on: (year_start + Duration::days(60 + 120 * j as i64)).min(today),
                    topic: if j == 0 {
                        "精神障碍社区康复服务规范".into()
                    } else {
                        "危机干预与风险评估".into()
                    },
                    hours: *h,
                };
                institutions::add_training(&mut tx, &scope, &actor, id, &t, today)
                    .await?
                    .context("demo staff vanished")?
                    .map_err(|p| refused("training", p))?;
            }
            summary.staff += 1;
        }
    }

    // Each township's persons in its site's care.
    for (site, town) in &sites {
        let Some(town) = town else { continue };
        let (tlo, thi) = Scope::of(tree.get(town).context("demo township")?).bounds();
        let ids: Vec<i64> = on_tx!(&mut tx, c => sqlx::query_scalar(
            "SELECT id FROM persons WHERE residence_region >= $1 AND residence_region < $2 AND registration_state IN ('registered', 'in_service') ORDER BY id")
            .bind(&tlo).bind(&thi).fetch_all(&mut **c).await)?;
        let n = institutions::assign_persons(&mut tx, &scope, &actor, &rules, Some(*site), &ids)
            .await?
            .map_err(|r| refused("site care", r))?;
        summary.persons_in_care += n as u64;
    }

    // The year's purchase of service from the sites' operator.
    let contract = contracts::NewContract {
        region: county.code.clone(),
        buyer: format!("{}民政局", county.name),
        provider: provider.clone(),
        provider_code,
        starts_on: year_start,
        ends_on: NaiveDate::from_ymd_opt(today.year(), 12, 31).context("year end")?,
        budget_yuan: (summary.persons_in_care as i64 * 8_000).max(100_000),
        per_person_yuan: None,
        planned_persons: None,
    };
    contracts::record(&mut tx, &scope, &actor, (&rules, tree), &contract)
        .await?
        .map_err(|p| refused("contract", p))?;

    family_support(&mut tx, tree, &scope, &actor, &towns[0].0, today).await?;
    tx.commit().await?;
    Ok(summary)
}

async fn create(
    tx: &mut Tx,
    scope: &Scope,
    actor: &Actor,
    rt: (&InstitutionRules, &RegionTree),
    new: &institutions::NewInstitution,
    today: NaiveDate,
) -> anyhow::Result<i64> {
    institutions::create(tx, scope, actor, rt, new, today)
        .await?
        .map_err(|p| refused("institution", p))
}

/// A caregiver training, a respite episode, a mutual-aid group with two meetings and a peer
/// supporter in the busiest township.
async fn family_support(
    tx: &mut Tx,
    tree: &RegionTree,
    scope: &Scope,
    actor: &Actor,
    town: &str,
    today: NaiveDate,
) -> anyhow::Result<()> {
    let (lo, hi) = Scope::of(tree.get(town).context("demo township")?).bounds();
    let persons: Vec<(i64, String)> = on_tx!(tx, c => sqlx::query_as(
        "SELECT id, name FROM persons WHERE residence_region >= $1 AND residence_region < $2 AND registration_state IN ('registered', 'in_service') ORDER BY id LIMIT 8")
        .bind(&lo).bind(&hi).fetch_all(&mut **c).await)?;
    let relations = [
        "parent", "spouse", "parent", "sibling", "child", "parent", "spouse", "other",
    ];
    let member = |i: usize, (pid, name): &(i64, String)| FamilyMemberInput {
        person_id: *pid,
        // The caregiver: a family member of the same surname.
        name: format!(
            "{}{}",
            name.chars().next().unwrap_or('王'),
            [
                "秀英", "建国", "桂兰", "志明", "小红", "德华", "玉梅", "国强"
            ][i % 8]
        ),
        relation: relations[i % relations.len()].into(),
        joined_on: String::new(),
    };
    let day = |back: i64| (today - Duration::days(back)).to_string();
    let training = TrainingInput {
        held_on: day(40),
        region: town.into(),
        topic: "照护技能与复发先兆识别".into(),
        hours: 2.0,
        trainer: "区精神卫生中心 陈医生".into(),
        attendees: persons
            .iter()
            .take(6)
            .enumerate()
            .map(|(i, p)| member(i, p))
            .collect(),
    };
    let t = family::check_training(tree, scope, &training, today)
        .map_err(|e| refused("family training", e))?;
    store_family::record_training(tx, scope, actor, &t)
        .await?
        .map_err(|e| refused("family training", e))?;
    if let Some((pid, _)) = persons.first() {
        let respite = RespiteInput {
            person_id: *pid,
            from_date: day(20),
            to_date: day(18),
            provider: "社区康复站日间照料".into(),
            hours: 16.0,
            notes: "照护者住院期间".into(),
        };
        let r = family::check_respite(&respite, today).map_err(|e| refused("respite", e))?;
        store_family::record_respite(tx, scope, actor, &r)
            .await?
            .map_err(|e| refused("respite", e))?;
    }
    let group = GroupInput {
        name: "阳光家属互助小组".into(),
        region: town.into(),
        facilitator: "周晓燕".into(),
        started_on: day(120),
        members: persons
            .iter()
            .enumerate()
            .map(|(i, p)| member(i, p))
            .collect(),
    };
    let g = family::check_group(tree, scope, &group, today).map_err(|e| refused("group", e))?;
    let gid = store_family::record_group(tx, scope, actor, &g)
        .await?
        .map_err(|e| refused("group", e))?;
    let members: Vec<i64> = store_family::group(tx, scope, gid)
        .await?
        .context("demo group")?
        .members
        .iter()
        .map(|m| m.id)
        .collect();
    for (back, topic, take) in [
        (90, "相互认识，分享照护经验", members.len()),
        (30, "情绪管理与自我照顾", members.len().saturating_sub(2)),
    ] {
        let meeting = MeetingInput {
            held_on: day(back),
            topic: topic.into(),
            attendees: members.iter().copied().take(take).collect(),
            notes: String::new(),
        };
        let m = family::check_meeting(&meeting, today).map_err(|e| refused("meeting", e))?;
        store_family::record_meeting(tx, scope, actor, gid, &m)
            .await?
            .map_err(|e| refused("meeting", e))?;
    }
    let peer = PeerInput {
        name: "刘志刚".into(),
        region: town.into(),
        person_id: None,
        trained_on: day(200),
        status: String::new(),
        hours: 24.0,
    };
    let p = family::check_peer(tree, scope, &peer, today).map_err(|e| refused("peer", e))?;
    store_family::record_peer(tx, scope, actor, &p)
        .await?
        .map_err(|e| refused("peer", e))?;
    Ok(())
}
