//! jingkang-web: the HTTP layer — axum router, extractors, server-rendered pages.
//!
//! Only this crate knows axum. The route table ([`route_specs`]) declares who may call each route
//! ([`Access`]: a [`Permission`] of `jingkang_core::accounts::policy`) and the router enforces it
//! as a layer in front of the handler; every person query goes through the caller's
//! [`jingkang_core::regions::Scope`].

pub mod admin;
pub mod agreements;
pub mod alerts;
pub mod api;
pub mod api_base;
pub mod api_care;
pub mod assessments;
pub mod assets;
pub mod auth;
pub mod boards;
pub mod care;
pub mod contracts;
pub mod downloads;
pub mod entry;
pub mod error;
pub mod exchange;
pub mod extract;
pub mod family;
pub mod followups;
pub mod forms;
pub mod imports;
pub mod indicators;
pub mod institutions;
pub mod limit;
pub mod pages;
pub mod plans;
pub mod problems;
pub mod referrals;
pub mod reports;
pub mod security;
pub mod services;
pub mod shell;
pub mod standard;
pub mod totp;
pub mod uploads;
pub mod worklists;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::Method;
use axum::routing::{MethodRouter, get, post};
use jingkang_core::accounts::policy::Permission;
use jingkang_core::regions::RegionTree;
use jingkang_core::store::Db;
use jingkang_core::store::batch::WriteBatcher;

/// Deployment settings the web layer needs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Mark cookies `Secure` and send HSTS: served over TLS, directly or by a proxy.
    pub secure_cookies: bool,
    /// The reverse proxies in front (addresses or networks): a request from one of them has its
    /// client address taken from `X-Forwarded-For`, right to left, as the first address that is
    /// not itself a trusted proxy (what a client writes there is never believed). Empty: the
    /// socket peer is the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Days a password may be kept (SPEC §10 rotation).
    pub password_max_age_days: i64,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            secure_cookies: false,
            trusted_proxies: Vec::new(),
            password_max_age_days: jingkang_core::accounts::PASSWORD_MAX_AGE_DAYS,
        }
    }
}

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    /// Group commit for the audited reads of person pages and lists (see `store::batch`).
    pub writes: WriteBatcher,
    pub tree: Arc<RegionTree>,
    pub settings: Arc<Settings>,
    pub login_limiter: Arc<limit::RateLimiter>,
    /// Roster files between preview and confirmation.
    pub uploads: Arc<uploads::Uploads>,
    /// The referral rules and working-day calendar (`data/referrals.json`, `data/holidays.json`).
    pub referrals: Arc<jingkang_core::care::referral::Book>,
    /// The assessment instruments: the shipped ones, and a deployment's own (`with_instruments`).
    pub instruments: Arc<jingkang_core::care::instrument::Catalogue>,
    /// The service catalogue and modes (`data/services.json`).
    pub services: Arc<jingkang_core::care::service::ServiceCatalogue>,
    /// Institution kinds, statuses, qualifications and thresholds (`data/institutions.json`).
    pub institutions: Arc<jingkang_core::care::institution::InstitutionRules>,
    /// The indicators and their targets: the shipped ones or the deployment's (`with_indicators`).
    pub indicators: Arc<jingkang_core::report::indicators::Indicators>,
    /// The indicator boards computed lately (`boards`).
    pub boards: Arc<boards::Boards>,
}

impl AppState {
    /// Needs a Tokio runtime: it starts the write batcher's task.
    pub fn new(db: Db, tree: RegionTree, settings: Settings) -> AppState {
        AppState {
            writes: WriteBatcher::start(db.clone()),
            db,
            tree: Arc::new(tree),
            settings: Arc::new(settings),
            // 10 login attempts per minute per client address, on top of the per-account lockout.
            login_limiter: Arc::new(limit::RateLimiter::new(
                10,
                std::time::Duration::from_secs(60),
            )),
            uploads: Arc::new(uploads::Uploads::default()),
            // Shipped data, checked by the core's tests: a failure here is a build defect.
            referrals: Arc::new(
                jingkang_core::care::referral::Book::shipped()
                    .expect("shipped referral rules parse"),
            ),
            instruments: Arc::new(
                jingkang_core::care::instrument::Catalogue::shipped()
                    .expect("shipped instruments parse"),
            ),
            services: Arc::new(
                jingkang_core::care::service::ServiceCatalogue::shipped()
                    .expect("shipped service catalogue parses"),
            ),
            institutions: Arc::new(
                jingkang_core::care::institution::InstitutionRules::shipped()
                    .expect("shipped institution rules parse"),
            ),
            indicators: Arc::new(
                jingkang_core::report::indicators::Indicators::shipped()
                    .expect("shipped indicators parse"),
            ),
            boards: Arc::new(boards::Boards::default()),
        }
    }

    /// Use `catalogue` (the shipped instruments and a deployment's own) instead of the shipped ones.
    pub fn with_instruments(
        mut self,
        catalogue: jingkang_core::care::instrument::Catalogue,
    ) -> AppState {
        self.instruments = Arc::new(catalogue);
        self
    }

    /// Use `indicators` (a deployment's targets) instead of the shipped ones.
    pub fn with_indicators(
        mut self,
        indicators: jingkang_core::report::indicators::Indicators,
    ) -> AppState {
        self.indicators = Arc::new(indicators);
        self.boards = Arc::new(boards::Boards::default());
        self
    }
}

/// Who may call a route. Declared once per route in the route table, and nowhere else: the router
/// enforces it as a layer before the handler runs (`require`; a handler takes the
/// [`auth::CurrentUser`] it found and declares nothing), and the authorization matrix test walks
/// the same table ([`route_specs`]). Which roles hold a permission is `accounts::policy`'s
/// [`Permission::roles`], in the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No session needed (login page, health check, static files).
    Public,
    /// Any signed-in user (own account pages).
    AnyUser,
    /// Signed-in users whose role holds this permission (`Role::may`).
    Permission(Permission),
}

/// One route of the application, as the authorization matrix test enumerates them.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
}

/// Routes that take a file (rosters, department lists): the one upload limit instead of the
/// framework's 2 MB for forms, for the page and the API alike.
fn uploads_limit() -> axum::extract::DefaultBodyLimit {
    axum::extract::DefaultBodyLimit::max(jingkang_core::import::limits::UPLOAD_BYTES as usize)
}

/// Every route with its access rule and handler. The router is built from this table and the
/// authorization matrix test walks the same table, so no route can be added without an entry.
fn table() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    use Access::{AnyUser, Public};
    let r = |method: Method, path: &'static str, access: Access, h: MethodRouter<AppState>| {
        (
            RouteSpec {
                method,
                path,
                access,
            },
            h,
        )
    };
    vec![
        r(Method::GET, "/healthz", Public, get(healthz)),
        r(Method::GET, "/static/{*path}", Public, get(assets::serve)),
        r(Method::GET, "/favicon.ico", Public, get(assets::favicon)),
        r(Method::GET, "/login", Public, get(pages::login_form)),
        r(Method::POST, "/login", Public, post(pages::login)),
        r(Method::POST, "/logout", AnyUser, post(pages::logout)),
        r(
            Method::GET,
            "/account/password",
            AnyUser,
            get(pages::password_form),
        ),
        r(
            Method::POST,
            "/account/password",
            AnyUser,
            post(pages::password_change),
        ),
        r(Method::GET, "/account/totp", AnyUser, get(totp::enrol_form)),
        r(Method::POST, "/account/totp", AnyUser, post(totp::enrol)),
        r(Method::GET, "/login/totp", AnyUser, get(totp::login_form)),
        r(Method::POST, "/login/totp", AnyUser, post(totp::login)),
        r(Method::GET, "/", AnyUser, get(pages::home)),
        r(
            Method::GET,
            "/persons",
            Access::Permission(Permission::ReadRegistry),
            get(pages::persons_list),
        ),
        r(
            Method::GET,
            "/persons/new",
            Access::Permission(Permission::EditRegistry),
            get(entry::new_form),
        ),
        r(
            Method::POST,
            "/persons/new",
            Access::Permission(Permission::EditRegistry),
            post(entry::create),
        ),
        r(
            Method::GET,
            "/persons/{id}",
            Access::Permission(Permission::ReadRegistry),
            get(pages::person_show),
        ),
        r(
            Method::GET,
            "/persons/{id}/edit",
            Access::Permission(Permission::EditRegistry),
            get(entry::edit_form),
        ),
        r(
            Method::POST,
            "/persons/{id}/edit",
            Access::Permission(Permission::EditRegistry),
            post(entry::update),
        ),
        r(
            Method::GET,
            "/import",
            Access::Permission(Permission::EditRegistry),
            get(imports::page),
        ),
        r(
            Method::POST,
            "/import",
            Access::Permission(Permission::EditRegistry),
            post(imports::upload).layer(uploads_limit()),
        ),
        r(
            Method::POST,
            "/import/confirm",
            Access::Permission(Permission::EditRegistry),
            post(imports::confirm),
        ),
        r(
            Method::POST,
            "/export",
            Access::Permission(Permission::EditRegistry),
            post(imports::export),
        ),
        r(
            Method::POST,
            "/persons/{id}/reveal",
            Access::Permission(Permission::ReadRegistry),
            post(pages::person_reveal),
        ),
        r(
            Method::POST,
            "/persons/{id}/registration",
            Access::Permission(Permission::EditRegistry),
            post(care::registration_change),
        ),
        r(
            Method::GET,
            "/persons/{id}/followups/new",
            Access::Permission(Permission::RecordFollowups),
            get(followups::new_form),
        ),
        r(
            Method::POST,
            "/persons/{id}/followups",
            Access::Permission(Permission::RecordFollowups),
            post(followups::create),
        ),
        r(
            Method::POST,
            "/persons/{id}/agreements",
            Access::Permission(Permission::ManageAgreements),
            post(agreements::create).layer(uploads_limit()),
        ),
        r(
            Method::GET,
            "/persons/{id}/agreements/{aid}/scan",
            Access::Permission(Permission::ReadAgreements),
            get(agreements::scan),
        ),
        r(
            Method::GET,
            "/persons/{id}/assessments/new",
            Access::Permission(Permission::RecordAssessments),
            get(assessments::new_form),
        ),
        r(
            Method::POST,
            "/persons/{id}/assessments",
            Access::Permission(Permission::RecordAssessments),
            post(assessments::create),
        ),
        r(
            Method::GET,
            "/persons/{id}/plans/new",
            Access::Permission(Permission::RecordPlans),
            get(plans::new_form),
        ),
        r(
            Method::POST,
            "/persons/{id}/plans",
            Access::Permission(Permission::RecordPlans),
            post(plans::create),
        ),
        r(
            Method::GET,
            "/persons/{id}/emergencies/new",
            Access::Permission(Permission::RecordEmergencies),
            get(alerts::new_form),
        ),
        r(
            Method::POST,
            "/persons/{id}/emergencies",
            Access::Permission(Permission::RecordEmergencies),
            post(alerts::create),
        ),
        r(
            Method::GET,
            "/exchange",
            Access::Permission(Permission::CompareLists),
            get(exchange::page),
        ),
        r(
            Method::POST,
            "/exchange",
            Access::Permission(Permission::CompareLists),
            post(exchange::upload).layer(uploads_limit()),
        ),
        r(
            Method::POST,
            "/exchange/census",
            Access::Permission(Permission::CompareLists),
            post(exchange::census).layer(uploads_limit()),
        ),
        r(
            Method::GET,
            "/exchange/runs/{id}",
            Access::Permission(Permission::CompareLists),
            get(exchange::run),
        ),
        r(
            Method::GET,
            "/exchange/items/{id}",
            Access::Permission(Permission::CompareLists),
            get(exchange::item),
        ),
        r(
            Method::POST,
            "/exchange/items/{id}/decide",
            Access::Permission(Permission::CompareLists),
            post(exchange::decide),
        ),
        r(
            Method::GET,
            "/notifications",
            Access::Permission(Permission::ReadRegistry),
            get(alerts::notifications),
        ),
        r(
            Method::GET,
            "/notifications/unread",
            Access::Permission(Permission::ReadRegistry),
            get(alerts::unread_count),
        ),
        r(
            Method::POST,
            "/notifications/{id}/read",
            Access::Permission(Permission::ReadRegistry),
            post(alerts::mark_read),
        ),
        r(
            Method::GET,
            "/worklists",
            Access::Permission(Permission::ReadClinical),
            get(worklists::overview),
        ),
        r(
            Method::GET,
            "/worklists/{name}",
            Access::Permission(Permission::ReadClinical),
            get(worklists::page),
        ),
        r(
            Method::POST,
            "/worklists/{name}/export",
            Access::Permission(Permission::ReadClinical),
            post(worklists::export),
        ),
        r(
            Method::GET,
            "/services",
            Access::Permission(Permission::ReadClinical),
            get(services::page),
        ),
        r(
            Method::POST,
            "/services/export",
            Access::Permission(Permission::ReadClinical),
            post(services::export),
        ),
        r(
            Method::GET,
            "/standard",
            Access::Permission(Permission::ReadClinical),
            get(standard::page),
        ),
        r(
            Method::POST,
            "/standard/export",
            Access::Permission(Permission::ReadClinical),
            post(standard::export),
        ),
        r(
            Method::GET,
            "/persons/form4",
            Access::Permission(Permission::ReadClinical),
            get(forms::ask_batch),
        ),
        r(
            Method::POST,
            "/persons/form4",
            Access::Permission(Permission::ReadClinical),
            post(forms::print_batch),
        ),
        r(
            Method::GET,
            "/persons/{id}/form4",
            Access::Permission(Permission::ReadClinical),
            get(forms::ask_one),
        ),
        r(
            Method::POST,
            "/persons/{id}/form4",
            Access::Permission(Permission::ReadClinical),
            post(forms::print_one),
        ),
        r(
            Method::GET,
            "/reports/fujian2",
            Access::Permission(Permission::ReadReports),
            get(reports::page),
        ),
        r(
            Method::POST,
            "/reports/fujian2",
            Access::Permission(Permission::FileReports),
            post(reports::save),
        ),
        r(
            Method::GET,
            "/reports/fujian2/print",
            Access::Permission(Permission::ReadReports),
            get(reports::print),
        ),
        r(
            Method::POST,
            "/reports/fujian2/export",
            Access::Permission(Permission::ReadReports),
            post(reports::export),
        ),
        r(
            Method::GET,
            "/indicators",
            Access::Permission(Permission::ReadIndicators),
            get(indicators::page),
        ),
        r(
            Method::GET,
            "/indicators/list",
            Access::Permission(Permission::ReadIndicators),
            get(indicators::list),
        ),
        r(
            Method::GET,
            "/indicators/trend",
            Access::Permission(Permission::ReadIndicators),
            get(indicators::trend_part),
        ),
        r(
            Method::POST,
            "/indicators/export",
            Access::Permission(Permission::ReadIndicators),
            post(indicators::export),
        ),
        r(
            Method::POST,
            "/reports/filings/{id}/review",
            Access::Permission(Permission::ReviewReports),
            post(reports::review),
        ),
        r(
            Method::POST,
            "/reports/filings/{id}/sign",
            Access::Permission(Permission::ReviewReports),
            post(reports::sign),
        ),
        r(
            Method::POST,
            "/reports/filings/{id}/correct",
            Access::Permission(Permission::ReadReports),
            post(reports::correct),
        ),
        r(
            Method::GET,
            "/services/new",
            Access::Permission(Permission::RecordServices),
            get(services::new_form),
        ),
        r(
            Method::POST,
            "/services",
            Access::Permission(Permission::RecordServices),
            post(services::create),
        ),
        r(
            Method::GET,
            "/institutions",
            Access::Permission(Permission::ReadInstitutions),
            get(institutions::page),
        ),
        r(
            Method::POST,
            "/institutions/export",
            Access::Permission(Permission::ReadInstitutions),
            post(institutions::export),
        ),
        r(
            Method::GET,
            "/institutions/new",
            Access::Permission(Permission::ManageInstitutions),
            get(institutions::new_form),
        ),
        r(
            Method::POST,
            "/institutions",
            Access::Permission(Permission::ManageInstitutions),
            post(institutions::create),
        ),
        r(
            Method::GET,
            "/institutions/{id}",
            Access::Permission(Permission::ReadInstitutions),
            get(institutions::show),
        ),
        r(
            Method::GET,
            "/institutions/{id}/edit",
            Access::Permission(Permission::ManageInstitutions),
            get(institutions::edit_form),
        ),
        r(
            Method::POST,
            "/institutions/{id}/edit",
            Access::Permission(Permission::ManageInstitutions),
            post(institutions::edit),
        ),
        r(
            Method::POST,
            "/institutions/{id}/persons",
            Access::Permission(Permission::ManageInstitutions),
            post(institutions::assign_form),
        ),
        r(
            Method::POST,
            "/institutions/{id}/staff",
            Access::Permission(Permission::ManageStaff),
            post(institutions::staff_form),
        ),
        r(
            Method::POST,
            "/institutions/{id}/trainings",
            Access::Permission(Permission::ManageStaff),
            post(institutions::training_form),
        ),
        r(
            Method::GET,
            "/staff",
            Access::Permission(Permission::ReadInstitutions),
            get(institutions::staff_page),
        ),
        r(
            Method::POST,
            "/staff/export",
            Access::Permission(Permission::ReadInstitutions),
            post(institutions::staff_export),
        ),
        r(
            Method::GET,
            "/contracts",
            Access::Permission(Permission::ReadContracts),
            get(contracts::page),
        ),
        r(
            Method::POST,
            "/contracts",
            Access::Permission(Permission::ManageContracts),
            post(contracts::create),
        ),
        r(
            Method::POST,
            "/contracts/export",
            Access::Permission(Permission::ReadContracts),
            post(contracts::export),
        ),
        r(
            Method::GET,
            "/family",
            Access::Permission(Permission::ReadClinical),
            get(family::page),
        ),
        r(
            Method::POST,
            "/family/export",
            Access::Permission(Permission::ReadClinical),
            post(family::export),
        ),
        r(
            Method::GET,
            "/family/trainings/new",
            Access::Permission(Permission::RecordServices),
            get(family::training_new),
        ),
        r(
            Method::POST,
            "/family/trainings",
            Access::Permission(Permission::RecordServices),
            post(family::training_create),
        ),
        r(
            Method::GET,
            "/family/respite/new",
            Access::Permission(Permission::RecordServices),
            get(family::respite_new),
        ),
        r(
            Method::POST,
            "/family/respite",
            Access::Permission(Permission::RecordServices),
            post(family::respite_create),
        ),
        r(
            Method::GET,
            "/family/groups/new",
            Access::Permission(Permission::RecordServices),
            get(family::group_new),
        ),
        r(
            Method::POST,
            "/family/groups",
            Access::Permission(Permission::RecordServices),
            post(family::group_create),
        ),
        r(
            Method::GET,
            "/family/groups/{gid}",
            Access::Permission(Permission::ReadClinical),
            get(family::group_show),
        ),
        r(
            Method::POST,
            "/family/groups/{gid}/meetings",
            Access::Permission(Permission::RecordServices),
            post(family::meeting_create),
        ),
        r(
            Method::POST,
            "/family/groups/{gid}/members",
            Access::Permission(Permission::RecordServices),
            post(family::members_change),
        ),
        r(
            Method::GET,
            "/family/peers/new",
            Access::Permission(Permission::RecordServices),
            get(family::peer_new),
        ),
        r(
            Method::POST,
            "/family/peers",
            Access::Permission(Permission::RecordServices),
            post(family::peer_create),
        ),
        r(
            Method::POST,
            "/family/peers/{pid}",
            Access::Permission(Permission::RecordServices),
            post(family::peer_update),
        ),
        r(
            Method::GET,
            "/referrals",
            Access::Permission(Permission::Referrals),
            get(referrals::page),
        ),
        r(
            Method::GET,
            "/referrals/new",
            Access::Permission(Permission::Referrals),
            get(referrals::new_form),
        ),
        r(
            Method::POST,
            "/referrals",
            Access::Permission(Permission::Referrals),
            post(referrals::create).layer(uploads_limit()),
        ),
        r(
            Method::GET,
            "/referrals/{id}/documents/{did}",
            Access::Permission(Permission::Referrals),
            get(referrals::document),
        ),
        r(
            Method::POST,
            "/referrals/export",
            Access::Permission(Permission::Referrals),
            post(referrals::export),
        ),
        r(
            Method::GET,
            "/referrals/{id}",
            Access::Permission(Permission::Referrals),
            get(referrals::show),
        ),
        r(
            Method::POST,
            "/referrals/{id}/events",
            Access::Permission(Permission::Referrals),
            post(referrals::step),
        ),
        r(
            Method::GET,
            "/audit",
            Access::Permission(Permission::Auditors),
            get(admin::audit_page),
        ),
        r(
            Method::GET,
            "/admin/users",
            Access::Permission(Permission::Admins),
            get(admin::users),
        ),
        r(
            Method::POST,
            "/admin/users",
            Access::Permission(Permission::Admins),
            post(admin::user_create),
        ),
        r(
            Method::POST,
            "/admin/users/{id}/reset-password",
            Access::Permission(Permission::Admins),
            post(admin::user_reset),
        ),
        r(
            Method::POST,
            "/admin/users/{id}/disable",
            Access::Permission(Permission::Admins),
            post(admin::user_disable),
        ),
        r(
            Method::POST,
            "/admin/users/{id}/site",
            Access::Permission(Permission::Admins),
            post(admin::user_site),
        ),
        r(
            Method::POST,
            "/admin/organisations",
            Access::Permission(Permission::Admins),
            post(admin::organisation_create),
        ),
        r(
            Method::GET,
            "/api/v1/openapi.json",
            Public,
            get(api::openapi_json),
        ),
        r(
            Method::GET,
            "/api/v1/persons",
            Access::Permission(Permission::ReadRegistry),
            get(api::persons_list),
        ),
        r(
            Method::GET,
            "/api/v1/persons/{id}",
            Access::Permission(Permission::ReadRegistry),
            get(api::person_get),
        ),
        r(
            Method::GET,
            "/api/v1/persons/{id}/registration",
            Access::Permission(Permission::ReadRegistry),
            get(api::registration_get),
        ),
        r(
            Method::POST,
            "/api/v1/persons/{id}/registration",
            Access::Permission(Permission::EditRegistry),
            post(api::registration_post),
        ),
        r(
            Method::GET,
            "/api/v1/persons/{id}/followups",
            Access::Permission(Permission::ReadClinical),
            get(api_care::followups_get),
        ),
        r(
            Method::POST,
            "/api/v1/persons/{id}/followups",
            Access::Permission(Permission::RecordFollowups),
            post(api_care::followups_post),
        ),
        r(
            Method::GET,
            "/api/v1/persons/{id}/risk",
            Access::Permission(Permission::ReadClinical),
            get(api_care::risk_get),
        ),
        r(
            Method::GET,
            "/api/v1/forms/followup",
            Access::Permission(Permission::ReadClinical),
            get(api_care::followup_form),
        ),
        r(
            Method::GET,
            "/api/v1/worklists/{name}",
            Access::Permission(Permission::ReadClinical),
            get(api_care::worklist_get),
        ),
        r(
            Method::GET,
            "/api/v1/services",
            Access::Permission(Permission::ReadClinical),
            get(services::api_list),
        ),
        r(
            Method::POST,
            "/api/v1/services",
            Access::Permission(Permission::RecordServices),
            post(services::api_create),
        ),
        r(
            Method::GET,
            "/api/v1/family/trainings",
            Access::Permission(Permission::ReadClinical),
            get(family::api_trainings),
        ),
        r(
            Method::POST,
            "/api/v1/family/trainings",
            Access::Permission(Permission::RecordServices),
            post(family::api_training_create),
        ),
        r(
            Method::GET,
            "/api/v1/family/respite",
            Access::Permission(Permission::ReadClinical),
            get(family::api_respite),
        ),
        r(
            Method::POST,
            "/api/v1/family/respite",
            Access::Permission(Permission::RecordServices),
            post(family::api_respite_create),
        ),
        r(
            Method::GET,
            "/api/v1/family/groups",
            Access::Permission(Permission::ReadClinical),
            get(family::api_groups),
        ),
        r(
            Method::POST,
            "/api/v1/family/groups",
            Access::Permission(Permission::RecordServices),
            post(family::api_group_create),
        ),
        r(
            Method::GET,
            "/api/v1/family/groups/{gid}",
            Access::Permission(Permission::ReadClinical),
            get(family::api_group),
        ),
        r(
            Method::POST,
            "/api/v1/family/groups/{gid}/meetings",
            Access::Permission(Permission::RecordServices),
            post(family::api_meeting_create),
        ),
        r(
            Method::POST,
            "/api/v1/family/groups/{gid}/members",
            Access::Permission(Permission::RecordServices),
            post(family::api_members_change),
        ),
        r(
            Method::GET,
            "/api/v1/family/peers",
            Access::Permission(Permission::ReadClinical),
            get(family::api_peers),
        ),
        r(
            Method::POST,
            "/api/v1/family/peers",
            Access::Permission(Permission::RecordServices),
            post(family::api_peer_create),
        ),
        r(
            Method::POST,
            "/api/v1/family/peers/{pid}",
            Access::Permission(Permission::RecordServices),
            post(family::api_peer_update),
        ),
        r(
            Method::GET,
            "/api/v1/instruments",
            Access::Permission(Permission::ReadClinical),
            get(api_care::instruments_get),
        ),
        r(
            Method::GET,
            "/api/v1/persons/{id}/assessments",
            Access::Permission(Permission::ReadClinical),
            get(api_care::assessments_get),
        ),
        r(
            Method::POST,
            "/api/v1/persons/{id}/assessments",
            Access::Permission(Permission::RecordAssessments),
            post(api_care::assessments_post),
        ),
        r(
            Method::GET,
            "/api/v1/persons/{id}/plans",
            Access::Permission(Permission::ReadClinical),
            get(plans::api_list),
        ),
        r(
            Method::POST,
            "/api/v1/persons/{id}/plans",
            Access::Permission(Permission::RecordPlans),
            post(plans::api_create),
        ),
        r(
            Method::GET,
            "/api/v1/emergencies",
            Access::Permission(Permission::ReadClinical),
            get(api_care::emergencies_get),
        ),
        r(
            Method::POST,
            "/api/v1/emergencies",
            Access::Permission(Permission::RecordEmergencies),
            post(api_care::emergencies_post),
        ),
        r(
            Method::GET,
            "/api/v1/notifications",
            Access::Permission(Permission::ReadRegistry),
            get(api_care::notifications_get),
        ),
        r(
            Method::GET,
            "/api/v1/referrals",
            Access::Permission(Permission::Referrals),
            get(api_care::referrals_get),
        ),
        r(
            Method::POST,
            "/api/v1/referrals",
            Access::Permission(Permission::Referrals),
            post(api_care::referrals_post).layer(uploads_limit()),
        ),
        r(
            Method::GET,
            "/api/v1/referrals/{id}",
            Access::Permission(Permission::Referrals),
            get(api_care::referral_get),
        ),
        r(
            Method::GET,
            "/api/v1/referrals/{id}/documents/{did}",
            Access::Permission(Permission::Referrals),
            get(api_care::referral_document),
        ),
        r(
            Method::POST,
            "/api/v1/referrals/{id}/events",
            Access::Permission(Permission::Referrals),
            post(api_care::referral_step),
        ),
        r(
            Method::GET,
            "/api/v1/institutions",
            Access::Permission(Permission::ReadInstitutions),
            get(institutions::api_list),
        ),
        r(
            Method::POST,
            "/api/v1/institutions",
            Access::Permission(Permission::ManageInstitutions),
            post(institutions::api_create),
        ),
        r(
            Method::GET,
            "/api/v1/institutions/{id}",
            Access::Permission(Permission::ReadInstitutions),
            get(institutions::api_get),
        ),
        r(
            Method::POST,
            "/api/v1/institutions/{id}/persons",
            Access::Permission(Permission::ManageInstitutions),
            post(institutions::api_assign),
        ),
        r(
            Method::GET,
            "/api/v1/staff",
            Access::Permission(Permission::ReadInstitutions),
            get(institutions::api_staff),
        ),
        r(
            Method::GET,
            "/api/v1/contracts",
            Access::Permission(Permission::ReadContracts),
            get(contracts::api_list),
        ),
        r(
            Method::POST,
            "/api/v1/contracts",
            Access::Permission(Permission::ManageContracts),
            post(contracts::api_create),
        ),
        r(
            Method::POST,
            "/api/v1/staff",
            Access::Permission(Permission::ManageStaff),
            post(institutions::api_staff_create),
        ),
        r(
            Method::POST,
            "/api/v1/staff/{id}/trainings",
            Access::Permission(Permission::ManageStaff),
            post(institutions::api_training),
        ),
        r(
            Method::POST,
            "/api/v1/staff/{id}/qualifications",
            Access::Permission(Permission::ManageStaff),
            post(institutions::api_qualification),
        ),
        r(
            Method::GET,
            "/api/v1/regions",
            AnyUser,
            get(api::regions_find),
        ),
        r(
            Method::POST,
            "/api/v1/imports",
            Access::Permission(Permission::EditRegistry),
            post(api::import_roster).layer(uploads_limit()),
        ),
        r(
            Method::GET,
            "/api/v1/users",
            Access::Permission(Permission::Admins),
            get(api::users_list),
        ),
        r(
            Method::POST,
            "/api/v1/users",
            Access::Permission(Permission::Admins),
            post(api::users_create),
        ),
    ]
}

/// The routes and who may call them (the API docs page is merged from utoipa-swagger-ui).
pub fn route_specs() -> Vec<RouteSpec> {
    let mut specs: Vec<RouteSpec> = table().into_iter().map(|(s, _)| s).collect();
    specs.push(RouteSpec {
        method: Method::GET,
        path: "/api/v1/docs/",
        access: Access::Public,
    });
    specs
}

/// The application router.
pub fn router(state: AppState) -> Router {
    let secure = state.settings.secure_cookies;
    let mut router = Router::new();
    for (spec, handler) in table() {
        let handler = match spec.access {
            Access::Public => handler,
            access => handler.route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                move |state, req, next| require(access, state, req, next),
            )),
        };
        router = router.route(spec.path, handler);
    }
    let docs = utoipa_swagger_ui::SwaggerUi::new("/api/v1/docs")
        .config(utoipa_swagger_ui::Config::from("/api/v1/openapi.json"));
    router
        .merge(docs)
        .route("/api/{*rest}", get(api::not_found).post(api::not_found))
        .fallback(|| async { error::AppError::NotFound })
        .route_layer(axum::middleware::from_fn(security::access_log))
        .layer(axum::middleware::from_fn(move |req, next| {
            security::headers(secure, req, next)
        }))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            jingkang_core::import::limits::UPLOAD_BYTES as usize,
        ))
        // A bug must not drop the connection: the user gets the Chinese error page, the log the detail.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                use axum::response::IntoResponse;
                error::AppError::Internal(anyhow::anyhow!("handler panicked")).into_response()
            },
        ))
        // Outermost: every error under /api/ is JSON, whichever layer or extractor made it.
        .layer(axum::middleware::from_fn(error::api_json_errors))
        .with_state(state)
}

/// A route's [`Access`], enforced before its handler runs (the one place it is checked): the
/// signed-in user is found — and kept in the request for the handler's [`auth::CurrentUser`] — and
/// a role without the route's permission gets 403. Without a valid session a page route sends the
/// browser to the login page (or the step due first: password, second factor); an API route
/// answers 401, and every refusal under `/api/` is the API's JSON.
async fn require(
    access: Access,
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::extract::FromRequestParts;
    use axum::response::IntoResponse;
    let (mut parts, body) = req.into_parts();
    let allowed = match access {
        Access::Public => Ok(()),
        Access::AnyUser => auth::CurrentUser::from_request_parts(&mut parts, &state)
            .await
            .map(drop),
        Access::Permission(p) => auth::CurrentUser::from_request_parts(&mut parts, &state)
            .await
            .and_then(|who| {
                if who.may(p) {
                    Ok(())
                } else {
                    Err(error::AppError::Forbidden)
                }
            }),
    };
    match allowed {
        Ok(()) => {
            next.run(axum::extract::Request::from_parts(parts, body))
                .await
        }
        Err(e) if parts.uri.path().starts_with("/api/") => api_base::ApiError(e).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn healthz() -> &'static str {
    "ok"
}

/// Serve on `listener` until `shutdown` resolves; in-flight requests finish first.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// TLS certificate and key (PEM files) for serving HTTPS directly, without a reverse proxy.
pub use axum_server::tls_rustls::RustlsConfig;

/// Serve HTTPS on `listener` with `tls` until `shutdown` resolves; in-flight requests get up to
/// 30 s to finish. Cookies are `Secure` and HSTS is sent (set `Settings::secure_cookies`).
pub async fn serve_tls(
    listener: std::net::TcpListener,
    state: AppState,
    tls: RustlsConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let handle = axum_server::Handle::new();
    let on_signal = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        on_signal.graceful_shutdown(Some(std::time::Duration::from_secs(30)));
    });
    listener.set_nonblocking(true)?;
    axum_server::from_tcp_rustls(listener, tls)?
        .handle(handle)
        .serve(app)
        .await
}
