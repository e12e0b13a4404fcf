//! Users, sessions and API tokens in the database (both backends).
//!
//! Secrets (session and API tokens) are stored only as SHA-256 hashes. Every function that changes
//! an account also writes its audit entry in the same transaction, except where the caller audits
//! with more context (login outcomes are audited by the caller, which knows the client address).

use chrono::{DateTime, Duration, Utc};

use super::audit::{self, Target};
use super::{Actor, Db, Pool, Tx, throttle};
use crate::accounts::{self, Role};
use crate::on_tx;

/// Failed logins before an account is locked, and for how long (等保 2.0 level 3).
pub const MAX_FAILED_LOGINS: i64 = 5;
pub const LOCKOUT: Duration = Duration::minutes(15);
/// A session unused this long is over.
pub const IDLE_TIMEOUT: Duration = Duration::minutes(30);
/// A session is over after this long, however busy.
pub const MAX_SESSION_AGE: Duration = Duration::hours(12);

#[derive(Debug, Clone, sqlx::FromRow)]
struct UserRow {
    id: i64,
    username: String,
    display_name: String,
    role: String,
    region_code: String,
    password_hash: String,
    must_change_password: bool,
    password_changed_at: DateTime<Utc>,
    failed_logins: i64,
    locked_until: Option<DateTime<Utc>>,
    disabled: bool,
    totp_secret: Option<String>,
    organisation: Option<String>,
    site_id: Option<i64>,
}

/// A user account. The password hash stays inside this module.
#[derive(Clone)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub region_code: String,
    pub must_change_password: bool,
    /// When the password was last set: past the deployment's maximum age it must be changed.
    pub password_changed_at: DateTime<Utc>,
    pub failed_logins: i64,
    pub locked_until: Option<DateTime<Utc>>,
    pub disabled: bool,
    pub totp_enrolled: bool,
    /// The name of the user's organisation (SPEC §1: every user belongs to one).
    pub organisation: Option<String>,
    /// The rehabilitation site the user works at: the user sees only the persons it serves.
    pub site_id: Option<i64>,
    password_hash: String,
    totp_secret: Option<String>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .finish()
    }
}

impl User {
    pub fn actor(&self) -> Actor {
        Actor::user(&self.username)
    }
    pub fn totp_secret(&self) -> Option<&str> {
        self.totp_secret.as_deref()
    }
    /// Whether the password is older than `max_age_days` and must be changed before anything else.
    pub fn password_expired(&self, now: DateTime<Utc>, max_age_days: i64) -> bool {
        now - self.password_changed_at > Duration::days(max_age_days)
    }
    pub fn is_locked(&self, now: DateTime<Utc>) -> bool {
        self.locked_until.is_some_and(|t| t > now)
    }
}

impl TryFrom<UserRow> for User {
    type Error = anyhow::Error;
    fn try_from(r: UserRow) -> anyhow::Result<User> {
        let role = Role::parse(&r.role)
            .ok_or_else(|| anyhow::anyhow!("unknown role in users row {}", r.id))?;
        Ok(User {
            id: r.id,
            username: r.username,
            display_name: r.display_name,
            role,
            region_code: r.region_code,
            must_change_password: r.must_change_password,
            password_changed_at: r.password_changed_at,
            failed_logins: r.failed_logins,
            locked_until: r.locked_until,
            disabled: r.disabled,
            totp_enrolled: r.totp_secret.is_some(),
            organisation: r.organisation,
            site_id: r.site_id,
            password_hash: r.password_hash,
            totp_secret: r.totp_secret,
        })
    }
}

const USER_COLS: &str = "u.id, u.username, u.display_name, u.role, u.region_code, u.password_hash, \
    u.must_change_password, u.password_changed_at, u.failed_logins, u.locked_until, u.disabled, u.totp_secret, u.site_id, \
    (SELECT o.name FROM organisations o WHERE o.id = u.organisation_id) AS organisation";

/// A new account, as `user add` or the admin page gives it.
pub struct NewUser<'a> {
    pub username: &'a str,
    pub display_name: &'a str,
    pub role: Role,
    pub region_code: &'a str,
    pub password: &'a str,
    /// The user must choose a new password at first login (always, except for tests and tools
    /// that set a password the user chose).
    pub must_change_password: bool,
    /// The user's organisation; its region must contain the user's.
    pub organisation_id: Option<i64>,
}

/// An organisation users belong to (区民政局, a township office, a hospital, a rehabilitation site).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Organisation {
    pub id: i64,
    pub name: String,
    pub region_code: String,
}

/// Create an organisation in a region. Names are unique within a region.
/// Every problem of a new organisation, by field (`name`, `region`) with its message code.
pub async fn check_new_organisation(
    tx: &mut Tx,
    name: &str,
    region_code: &str,
) -> anyhow::Result<Vec<(&'static str, &'static str)>> {
    let name = name.trim();
    let mut problems = Vec::new();
    if name.is_empty() || name.chars().count() > 100 {
        problems.push(("name", "organisation-name-invalid"));
    }
    let region: Option<String> = on_tx!(tx, c => sqlx::query_scalar("SELECT code FROM regions WHERE code = $1")
        .bind(region_code).fetch_optional(&mut **c).await)?;
    if region.is_none() {
        problems.push(("region", "region-unknown"));
    }
    if problems.is_empty() {
        let taken: Option<i64> = on_tx!(tx, c => sqlx::query_scalar("SELECT id FROM organisations WHERE name = $1 AND region_code = $2")
            .bind(name).bind(region_code).fetch_optional(&mut **c).await)?;
        if taken.is_some() {
            problems.push(("name", "organisation-taken"));
        }
    }
    Ok(problems)
}

pub async fn create_organisation(
    tx: &mut Tx,
    actor: &Actor,
    name: &str,
    region_code: &str,
) -> anyhow::Result<Result<i64, AccountError>> {
    if let Some((_, code)) = check_new_organisation(tx, name, region_code).await?.first() {
        return Ok(Err(AccountError(code)));
    }
    let name = name.trim();
    let id: i64 = on_tx!(tx, c => sqlx::query_scalar("INSERT INTO organisations (name, region_code) VALUES ($1, $2) RETURNING id")
        .bind(name).bind(region_code).fetch_one(&mut **c).await)?;
    audit::record(
        tx,
        actor,
        "organisation.create",
        Some(Target {
            kind: "organisation",
            id: id.to_string(),
        }),
        serde_json::json!({"name": name, "region": region_code}),
    )
    .await?;
    Ok(Ok(id))
}

/// All organisations, by region and name.
pub async fn list_organisations(tx: &mut Tx) -> anyhow::Result<Vec<Organisation>> {
    Ok(
        on_tx!(tx, c => sqlx::query_as("SELECT id, name, region_code FROM organisations ORDER BY region_code, name")
        .fetch_all(&mut **c).await)?,
    )
}

pub async fn get_organisation(tx: &mut Tx, id: i64) -> anyhow::Result<Option<Organisation>> {
    Ok(
        on_tx!(tx, c => sqlx::query_as("SELECT id, name, region_code FROM organisations WHERE id = $1")
        .bind(id).fetch_optional(&mut **c).await)?,
    )
}

/// The organisation of this name whose region is `region_code` or the nearest above it — how
/// `user add --org NAME` finds it.
pub async fn find_organisation_for(
    tx: &mut Tx,
    name: &str,
    region_code: &str,
) -> anyhow::Result<Option<Organisation>> {
    let candidates: Vec<Organisation> = on_tx!(tx, c => sqlx::query_as("SELECT id, name, region_code FROM organisations WHERE name = $1")
        .bind(name.trim()).fetch_all(&mut **c).await)?;
    Ok(candidates
        .into_iter()
        .filter(|o| region_contains(&o.region_code, region_code))
        .max_by_key(|o| o.region_code.trim_end_matches('0').len()))
}

/// Whether region `outer` contains (or is) region `inner`, by the structure of official codes.
fn region_contains(outer: &str, inner: &str) -> bool {
    match (
        crate::domain::RegionCode::parse(outer),
        crate::domain::RegionCode::parse(inner),
    ) {
        (Ok(o), Ok(i)) => o.contains(&i),
        _ => false,
    }
}

/// Why an account operation was refused: a message code of `messages.rs`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AccountError(pub &'static str);

/// Create a user. Checks the username, the password policy, the region and uniqueness.
/// Every problem of `new`, by field (`username`, `display_name`, `region`, `organisation`,
/// `password`) with its message code: a form shows them all at once.
pub async fn check_new_user(
    tx: &mut Tx,
    new: &NewUser<'_>,
) -> anyhow::Result<Vec<(&'static str, &'static str)>> {
    let mut problems = Vec::new();
    match accounts::check_username(new.username) {
        Err(code) => problems.push(("username", code)),
        Ok(()) if find_user(tx, new.username).await?.is_some() => {
            problems.push(("username", "username-taken"));
        }
        Ok(()) => {}
    }
    if new.display_name.trim().is_empty() {
        problems.push(("display_name", "display-name-missing"));
    }
    let region: Option<String> = on_tx!(tx, c => sqlx::query_scalar("SELECT code FROM regions WHERE code = $1")
        .bind(new.region_code).fetch_optional(&mut **c).await)?;
    if region.is_none() {
        problems.push(("region", "region-unknown"));
    }
    if let Some(org) = new.organisation_id {
        match get_organisation(tx, org).await? {
            Some(o) if region.is_none() || region_contains(&o.region_code, new.region_code) => {}
            Some(_) => problems.push(("organisation", "organisation-region-mismatch")),
            None => problems.push(("organisation", "organisation-unknown")),
        }
    }
    if let Err(code) = accounts::check_password_policy(new.username, new.password) {
        problems.push(("password", code));
    }
    Ok(problems)
}

pub async fn create_user(
    tx: &mut Tx,
    actor: &Actor,
    new: &NewUser<'_>,
) -> anyhow::Result<Result<i64, AccountError>> {
    if let Some((_, code)) = check_new_user(tx, new).await?.first() {
        return Ok(Err(AccountError(code)));
    }
    let hash = accounts::hash_password(new.password)?;
    let now = Utc::now();
    let id: i64 = on_tx!(tx, c => sqlx::query_scalar(
        "INSERT INTO users (username, display_name, role, region_code, password_hash, must_change_password, \
         password_changed_at, created_at, organisation_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) RETURNING id")
        .bind(new.username).bind(new.display_name).bind(new.role.code()).bind(new.region_code).bind(&hash)
        .bind(new.must_change_password).bind(now).bind(new.organisation_id).fetch_one(&mut **c).await)?;
    let detail = serde_json::json!({"username": new.username, "role": new.role.code(), "region": new.region_code,
        "organisation": new.organisation_id});
    audit::record(
        tx,
        actor,
        "user.create",
        Some(Target {
            kind: "user",
            id: id.to_string(),
        }),
        detail,
    )
    .await?;
    Ok(Ok(id))
}

/// The user with this username (exact, case-sensitive as stored), if any.
pub async fn find_user(tx: &mut Tx, username: &str) -> anyhow::Result<Option<User>> {
    let sql = format!("SELECT {USER_COLS} FROM users u WHERE u.username = $1");
    let row: Option<UserRow> =
        on_tx!(tx, c => sqlx::query_as(&sql).bind(username).fetch_optional(&mut **c).await)?;
    row.map(User::try_from).transpose()
}

pub async fn get_user(tx: &mut Tx, id: i64) -> anyhow::Result<Option<User>> {
    let sql = format!("SELECT {USER_COLS} FROM users u WHERE u.id = $1");
    let row: Option<UserRow> =
        on_tx!(tx, c => sqlx::query_as(&sql).bind(id).fetch_optional(&mut **c).await)?;
    row.map(User::try_from).transpose()
}

/// All users, by username (the admin page).
pub async fn list_users(tx: &mut Tx) -> anyhow::Result<Vec<User>> {
    let sql = format!("SELECT {USER_COLS} FROM users u ORDER BY u.username");
    let rows: Vec<UserRow> = on_tx!(tx, c => sqlx::query_as(&sql).fetch_all(&mut **c).await)?;
    rows.into_iter().map(User::try_from).collect()
}

/// The outcome of a password check at login.
#[derive(Debug)]
pub enum LoginOutcome {
    Ok(Box<User>),
    /// Wrong username or password (the same answer for both, so usernames cannot be probed).
    Invalid,
    Locked,
    Disabled,
    /// The right password of a locked or disabled account with a second factor: the state is
    /// said only once the code is given too, so the caller answers as for any such account
    /// and starts a held session ([`create_held_session`]).
    Held(Box<User>, Hold),
}

/// Why a session is held (see [`LoginOutcome::Held`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    Disabled,
    Locked,
}

impl Hold {
    pub fn code(self) -> &'static str {
        match self {
            Hold::Disabled => "disabled",
            Hold::Locked => "locked",
        }
    }

    pub fn from_code(code: &str) -> Option<Hold> {
        match code {
            "disabled" => Some(Hold::Disabled),
            "locked" => Some(Hold::Locked),
            _ => None,
        }
    }
}

/// Check a username and password, counting failures and locking the account after
/// [`MAX_FAILED_LOGINS`]. Writes `login.failed` / `login.locked` audit entries itself; a success is
/// audited by the caller once the session exists.
pub async fn check_login(
    tx: &mut Tx,
    username: &str,
    password: &str,
    client: &str,
) -> anyhow::Result<LoginOutcome> {
    let now = Utc::now();
    let Some(user) = find_user(tx, username).await? else {
        // Same cost as a real check.
        let _ = accounts::verify_password(password, accounts::dummy_hash());
        let detail = serde_json::json!({"client": client, "reason": "unknown-user"});
        audit::record(tx, &Actor::system(), "login.failed", None, detail).await?;
        return Ok(LoginOutcome::Invalid);
    };
    // The password is checked first, whatever the account's state, so that every failure costs
    // the same; the state is said only to whoever gave the right password.
    let correct = accounts::verify_password(password, &user.password_hash);
    let fail = |reason: &'static str| serde_json::json!({"client": client, "reason": reason});
    if throttle::locked(tx, user.id, client, throttle::Step::Password, now)
        .await?
        .is_some()
    {
        audit::record(
            tx,
            &user.actor(),
            "login.failed",
            Some(user_target(user.id)),
            fail("locked"),
        )
        .await?;
        return Ok(match (correct, user.totp_enrolled) {
            (true, true) => LoginOutcome::Held(Box::new(user), Hold::Locked),
            (true, false) => LoginOutcome::Locked,
            (false, _) => LoginOutcome::Invalid,
        });
    }
    if !correct {
        audit::record(
            tx,
            &user.actor(),
            "login.failed",
            Some(user_target(user.id)),
            fail("wrong-password"),
        )
        .await?;
        throttle::failed(
            tx,
            (user.id, &user.username, &user.region_code),
            client,
            throttle::Step::Password,
            now,
        )
        .await?;
        return Ok(LoginOutcome::Invalid);
    }
    throttle::cleared(tx, user.id, client, throttle::Step::Password).await?;
    if user.disabled {
        audit::record(
            tx,
            &user.actor(),
            "login.failed",
            Some(user_target(user.id)),
            fail("disabled"),
        )
        .await?;
        return Ok(if user.totp_enrolled {
            LoginOutcome::Held(Box::new(user), Hold::Disabled)
        } else {
            LoginOutcome::Disabled
        });
    }
    Ok(LoginOutcome::Ok(Box::new(user)))
}

fn user_target<'a>(id: i64) -> Target<'a> {
    Target {
        kind: "user",
        id: id.to_string(),
    }
}

/// Set a new password (policy checked). `by` is who did it: the user, or an admin resetting it, in
/// which case the user must change it at next login.
pub async fn set_password(
    tx: &mut Tx,
    by: &Actor,
    user: &User,
    password: &str,
    must_change: bool,
) -> anyhow::Result<Result<(), AccountError>> {
    if let Err(code) = accounts::check_password_policy(&user.username, password) {
        return Ok(Err(AccountError(code)));
    }
    if accounts::verify_password(password, &user.password_hash) {
        return Ok(Err(AccountError("password-unchanged")));
    }
    let hash = accounts::hash_password(password)?;
    on_tx!(tx, c => sqlx::query(
        "UPDATE users SET password_hash = $1, must_change_password = $2, password_changed_at = $3, failed_logins = 0, \
         locked_until = NULL WHERE id = $4")
        .bind(&hash).bind(must_change).bind(Utc::now()).bind(user.id).execute(&mut **c).await.map(drop))?;
    // A password change ends every other session of the user.
    on_tx!(tx, c => sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user.id).execute(&mut **c).await.map(drop))?;
    let action = if must_change {
        "user.password_reset"
    } else {
        "user.password_change"
    };
    audit::record(
        tx,
        by,
        action,
        Some(user_target(user.id)),
        serde_json::json!({}),
    )
    .await?;
    Ok(Ok(()))
}

/// Disable (or re-enable) an account; disabling ends its sessions and revokes its API tokens.
pub async fn set_disabled(
    tx: &mut Tx,
    by: &Actor,
    user: &User,
    disabled: bool,
) -> anyhow::Result<()> {
    on_tx!(tx, c => sqlx::query("UPDATE users SET disabled = $1 WHERE id = $2")
        .bind(disabled).bind(user.id).execute(&mut **c).await.map(drop))?;
    if disabled {
        on_tx!(tx, c => sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user.id).execute(&mut **c).await.map(drop))?;
        on_tx!(tx, c => sqlx::query("UPDATE api_tokens SET revoked = $1 WHERE user_id = $2")
            .bind(true).bind(user.id).execute(&mut **c).await.map(drop))?;
    }
    let action = if disabled {
        "user.disable"
    } else {
        "user.enable"
    };
    audit::record(
        tx,
        by,
        action,
        Some(user_target(user.id)),
        serde_json::json!({}),
    )
    .await?;
    Ok(())
}

/// Make `user` staff of rehabilitation site `site` (or of none): from the next request they see
/// only the persons the site serves. The site must lie in the user's region. Sessions end, so the
/// narrower scope applies at once.
pub async fn set_site(
    tx: &mut Tx,
    by: &Actor,
    user: &User,
    site: Option<i64>,
) -> anyhow::Result<Result<(), AccountError>> {
    if let Some(id) = site {
        let region: Option<String> = on_tx!(tx, c => sqlx::query_scalar("SELECT region FROM institutions WHERE id = $1").bind(id).fetch_optional(&mut **c).await)?;
        match region {
            None => return Ok(Err(AccountError("institution-unknown"))),
            Some(r) if !region_contains(&user.region_code, &r) => {
                return Ok(Err(AccountError("user-site-region-mismatch")));
            }
            Some(_) => {}
        }
    }
    on_tx!(tx, c => sqlx::query("UPDATE users SET site_id = $1 WHERE id = $2").bind(site).bind(user.id).execute(&mut **c).await.map(drop))?;
    on_tx!(tx, c => sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user.id).execute(&mut **c).await.map(drop))?;
    audit::record(
        tx,
        by,
        "user.site",
        Some(user_target(user.id)),
        serde_json::json!({"site": site}),
    )
    .await?;
    Ok(Ok(()))
}

/// Store the TOTP secret of a user who completed enrolment.
pub async fn set_totp_secret(tx: &mut Tx, user: &User, secret: Option<&str>) -> anyhow::Result<()> {
    on_tx!(tx, c => sqlx::query("UPDATE users SET totp_secret = $1 WHERE id = $2")
        .bind(secret).bind(user.id).execute(&mut **c).await.map(drop))?;
    let action = if secret.is_some() {
        "user.totp_enrol"
    } else {
        "user.totp_remove"
    };
    audit::record(
        tx,
        &user.actor(),
        action,
        Some(user_target(user.id)),
        serde_json::json!({}),
    )
    .await?;
    Ok(())
}

/// A live session, found from its cookie token.
#[derive(Clone)]
pub struct Session {
    pub token_hash: String,
    pub csrf: String,
    pub created_at: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// The second factor was given in this session (or the user has none).
    pub totp_ok: bool,
    /// A held session: it may only give the second factor, then learns the account's state.
    pub held: Option<Hold>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("created_at", &self.created_at)
            .field("totp_ok", &self.totp_ok)
            .field("held", &self.held)
            .finish()
    }
}

/// Start a session for `user`; returns the cookie token (shown once, stored hashed) and the session.
pub async fn create_session(
    tx: &mut Tx,
    user: &User,
    totp_ok: bool,
) -> anyhow::Result<(String, Session)> {
    insert_session(tx, user, totp_ok, None).await
}

/// Start a held session (see [`LoginOutcome::Held`]): it can only give the second factor.
pub async fn create_held_session(
    tx: &mut Tx,
    user: &User,
    hold: Hold,
) -> anyhow::Result<(String, Session)> {
    insert_session(tx, user, false, Some(hold)).await
}

async fn insert_session(
    tx: &mut Tx,
    user: &User,
    totp_ok: bool,
    held: Option<Hold>,
) -> anyhow::Result<(String, Session)> {
    let token = accounts::new_secret();
    let s = Session {
        token_hash: accounts::secret_hash(&token),
        csrf: accounts::new_secret(),
        created_at: Utc::now(),
        last_seen: Utc::now(),
        totp_ok,
        held,
    };
    on_tx!(tx, c => sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, csrf, created_at, last_seen, totp_ok, held) VALUES ($1, $2, $3, $4, $4, $5, $6)")
        .bind(&s.token_hash).bind(user.id).bind(&s.csrf).bind(s.created_at).bind(totp_ok).bind(held.map(Hold::code))
        .execute(&mut **c).await.map(drop))?;
    Ok((token, s))
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    csrf: String,
    created_at: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    totp_ok: bool,
    held: Option<String>,
    #[sqlx(flatten)]
    user: UserRow,
}

/// What a cookie token names, found by reading only (see [`session_user`]).
pub enum SessionLookup {
    /// No such session, or its user is gone or disabled.
    Missing,
    /// The session has timed out; it should be deleted.
    Expired,
    /// A live session; `stale` when its `last_seen` is due to be touched.
    Live {
        user: Box<User>,
        session: Session,
        stale: bool,
    },
}

/// Look a cookie token up without writing, in one statement outside any transaction (on SQLite on
/// a read-only connection beside the writer): this runs on every request.
pub async fn find_session(db: &Db, token: &str) -> anyhow::Result<SessionLookup> {
    let hash = accounts::secret_hash(token);
    // One statement for the session and its user: this runs on every request.
    let sql = format!(
        "SELECT s.csrf, s.created_at, s.last_seen, s.totp_ok, s.held, {USER_COLS} \
         FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1"
    );
    let row: Option<SessionRow> = match &db.pool {
        Pool::Sqlite { read, .. } => {
            sqlx::query_as(&sql)
                .bind(&hash)
                .fetch_optional(read)
                .await?
        }
        Pool::Postgres(p) => sqlx::query_as(&sql).bind(&hash).fetch_optional(p).await?,
    };
    let Some(row) = row else {
        return Ok(SessionLookup::Missing);
    };
    let now = Utc::now();
    if now - row.last_seen > IDLE_TIMEOUT || now - row.created_at > MAX_SESSION_AGE {
        return Ok(SessionLookup::Expired);
    }
    let user = User::try_from(row.user)?;
    let held = row.held.as_deref().and_then(Hold::from_code);
    if user.disabled && held.is_none() {
        return Ok(SessionLookup::Missing);
    }
    // Touched at most once a minute, to spare writes.
    let stale = now - row.last_seen > Duration::minutes(1);
    let session = Session {
        token_hash: hash,
        csrf: row.csrf,
        created_at: row.created_at,
        last_seen: row.last_seen,
        totp_ok: row.totp_ok,
        held,
    };
    Ok(SessionLookup::Live {
        user: Box::new(user),
        session,
        stale,
    })
}

/// Record that `session` was used now (the idle timeout counts from here).
pub async fn touch_session(tx: &mut Tx, session: &Session) -> anyhow::Result<()> {
    on_tx!(tx, c => sqlx::query("UPDATE sessions SET last_seen = $1 WHERE token_hash = $2")
        .bind(Utc::now()).bind(&session.token_hash).execute(&mut **c).await.map(drop))?;
    Ok(())
}

/// Mark the second factor as given in this session.
pub async fn confirm_totp(tx: &mut Tx, session: &Session) -> anyhow::Result<()> {
    on_tx!(tx, c => sqlx::query("UPDATE sessions SET totp_ok = $1 WHERE token_hash = $2")
        .bind(true).bind(&session.token_hash).execute(&mut **c).await.map(drop))?;
    Ok(())
}

pub async fn delete_session(tx: &mut Tx, token: &str) -> anyhow::Result<()> {
    on_tx!(tx, c => sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(accounts::secret_hash(token)).execute(&mut **c).await.map(drop))?;
    Ok(())
}

/// Create an API token for `user`; returns the token, shown once.
pub async fn create_api_token(tx: &mut Tx, by: &Actor, user: &User) -> anyhow::Result<String> {
    let token = format!("jk_{}", accounts::new_secret());
    let id: i64 = on_tx!(tx, c => sqlx::query_scalar(
        "INSERT INTO api_tokens (user_id, token_hash, created_at) VALUES ($1, $2, $3) RETURNING id")
        .bind(user.id).bind(accounts::secret_hash(&token)).bind(Utc::now()).fetch_one(&mut **c).await)?;
    audit::record(
        tx,
        by,
        "token.create",
        Some(user_target(user.id)),
        serde_json::json!({"token_id": id}),
    )
    .await?;
    Ok(token)
}

/// The user of a bearer token, if the token is valid (the user may be disabled: check `disabled`).
pub async fn token_user(tx: &mut Tx, token: &str) -> anyhow::Result<Option<User>> {
    let uid: Option<i64> = on_tx!(tx, c => sqlx::query_scalar(
        "SELECT user_id FROM api_tokens WHERE token_hash = $1 AND revoked = $2")
        .bind(accounts::secret_hash(token)).bind(false).fetch_optional(&mut **c).await)?;
    let Some(uid) = uid else { return Ok(None) };
    // A disabled user's token is found, so that the caller can say the account is disabled.
    get_user(tx, uid).await
}

/// Start TOTP enrolment in this session: a new secret, kept with the session until confirmed.
pub async fn begin_totp_enrolment(tx: &mut Tx, session: &Session) -> anyhow::Result<String> {
    let secret = accounts::new_totp_secret();
    on_tx!(tx, c => sqlx::query("UPDATE sessions SET totp_pending = $1 WHERE token_hash = $2")
        .bind(&secret).bind(&session.token_hash).execute(&mut **c).await.map(drop))?;
    Ok(secret)
}

/// The secret being enrolled in this session, if any.
pub async fn pending_totp(tx: &mut Tx, session: &Session) -> anyhow::Result<Option<String>> {
    Ok(on_tx!(tx, c => sqlx::query_scalar("SELECT totp_pending FROM sessions WHERE token_hash = $1")
        .bind(&session.token_hash).fetch_optional(&mut **c).await)?.flatten())
}

/// Finish enrolment with a code from the app: stores the secret, marks the session as having
/// given the second factor, and returns ten recovery codes (shown once, stored hashed).
/// `Ok(None)` when the code does not match.
pub async fn finish_totp_enrolment(
    tx: &mut Tx,
    user: &User,
    session: &Session,
    code: &str,
) -> anyhow::Result<Option<Vec<String>>> {
    let Some(secret) = pending_totp(tx, session).await? else {
        return Ok(None);
    };
    let Some(step) = accounts::totp_step(&secret, code, unix_now()) else {
        return Ok(None);
    };
    set_totp_secret(tx, user, Some(&secret)).await?;
    on_tx!(tx, c => sqlx::query("UPDATE users SET totp_last_step = $1 WHERE id = $2")
        .bind(step as i64).bind(user.id).execute(&mut **c).await.map(drop))?;
    on_tx!(tx, c => sqlx::query("UPDATE sessions SET totp_pending = NULL, totp_ok = $1 WHERE token_hash = $2")
        .bind(true).bind(&session.token_hash).execute(&mut **c).await.map(drop))?;
    on_tx!(tx, c => sqlx::query("DELETE FROM totp_recovery_codes WHERE user_id = $1").bind(user.id).execute(&mut **c).await.map(drop))?;
    let codes = accounts::generate_recovery_codes();
    for code in &codes {
        on_tx!(tx, c => sqlx::query("INSERT INTO totp_recovery_codes (user_id, code_hash) VALUES ($1, $2)")
            .bind(user.id).bind(accounts::secret_hash(code)).execute(&mut **c).await.map(drop))?;
    }
    Ok(Some(codes))
}

fn unix_now() -> u64 {
    u64::try_from(Utc::now().timestamp()).unwrap_or(0)
}

/// Check the second factor at login: a current TOTP code not used before, or an unused recovery
/// code (which is then spent). On success the session is marked; either way it is audited.
pub async fn verify_second_factor(
    tx: &mut Tx,
    user: &User,
    session: &Session,
    code: &str,
    client: &str,
) -> anyhow::Result<SecondFactor> {
    let now = Utc::now();
    if throttle::locked(tx, user.id, client, throttle::Step::Totp, now)
        .await?
        .is_some()
    {
        let detail = serde_json::json!({"client": client, "reason": "locked"});
        audit::record(
            tx,
            &user.actor(),
            "login.second_factor_failed",
            Some(user_target(user.id)),
            detail,
        )
        .await?;
        return Ok(SecondFactor::Locked);
    }
    let mut ok = false;
    let mut method = "totp";
    if let Some(secret) = user.totp_secret()
        && let Some(step) = accounts::totp_step(secret, code, unix_now())
    {
        // A code is accepted once: its step must be later than the last accepted one.
        let last: Option<i64> = on_tx!(tx, c => sqlx::query_scalar("SELECT totp_last_step FROM users WHERE id = $1")
            .bind(user.id).fetch_one(&mut **c).await)?;
        if last.is_none_or(|l| (step as i64) > l) {
            on_tx!(tx, c => sqlx::query("UPDATE users SET totp_last_step = $1 WHERE id = $2")
                .bind(step as i64).bind(user.id).execute(&mut **c).await.map(drop))?;
            ok = true;
        }
    }
    if !ok {
        let hash = accounts::secret_hash(&accounts::normalise_recovery_code(code));
        let id: Option<i64> = on_tx!(tx, c => sqlx::query_scalar(
            "SELECT id FROM totp_recovery_codes WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL")
            .bind(user.id).bind(&hash).fetch_optional(&mut **c).await)?;
        if let Some(id) = id {
            on_tx!(tx, c => sqlx::query("UPDATE totp_recovery_codes SET used_at = $1 WHERE id = $2")
                .bind(Utc::now()).bind(id).execute(&mut **c).await.map(drop))?;
            ok = true;
            method = "recovery-code";
        }
    }
    if ok {
        confirm_totp(tx, session).await?;
        throttle::cleared(tx, user.id, client, throttle::Step::Totp).await?;
    } else {
        throttle::failed(
            tx,
            (user.id, &user.username, &user.region_code),
            client,
            throttle::Step::Totp,
            now,
        )
        .await?;
    }
    let detail = serde_json::json!({"client": client, "method": method, "ok": ok});
    audit::record(
        tx,
        &user.actor(),
        if ok {
            "login.second_factor"
        } else {
            "login.second_factor_failed"
        },
        Some(user_target(user.id)),
        detail,
    )
    .await?;
    Ok(if ok {
        SecondFactor::Ok
    } else {
        SecondFactor::Invalid
    })
}

/// What a second-factor code did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactor {
    Ok,
    Invalid,
    /// Too many wrong codes from this client: not checked until the lock ends.
    Locked,
}
