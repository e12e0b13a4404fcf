//! Failed sign-in attempts per account, client and step (migration 0035): after
//! [`MAX_FAILURES`] wrong passwords (or second-factor codes) from one client, that account is
//! locked for that client — 15 minutes, twice as long at each further lock, at most a day. A lock
//! is never account-wide, so nobody can lock another person out at will; every lock notifies the
//! administrators of the account's region.

use chrono::{DateTime, Duration, Utc};

use super::{Tx, audit};
use crate::on_tx;

/// Failures from one client before that client is locked out of the account.
pub const MAX_FAILURES: i64 = 5;
/// The first lock; each further one doubles, up to [`MAX_LOCK`].
pub const FIRST_LOCK: Duration = Duration::minutes(15);
pub const MAX_LOCK: Duration = Duration::hours(24);

/// Which sign-in step failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Password,
    Totp,
}

impl Step {
    fn code(self) -> &'static str {
        match self {
            Step::Password => "password",
            Step::Totp => "totp",
        }
    }
}

/// Until when `client` is locked out of account `user` at `step`, if it is now.
pub async fn locked(
    tx: &mut Tx,
    user: i64,
    client: &str,
    step: Step,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<DateTime<Utc>>> {
    let until: Option<Option<DateTime<Utc>>> = on_tx!(tx, c => sqlx::query_scalar(
        "SELECT locked_until FROM login_throttle WHERE user_id = $1 AND client = $2 AND step = $3")
        .bind(user).bind(client).bind(step.code()).fetch_optional(&mut **c).await)?;
    Ok(until.flatten().filter(|t| *t > now))
}

/// Count a failure; returns the end of the lock when this failure locks. A lock notifies the
/// administrators of `region` (the account's).
pub async fn failed(
    tx: &mut Tx,
    (user, username, region): (i64, &str, &str),
    client: &str,
    step: Step,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<DateTime<Utc>>> {
    let row: Option<(i64, i64)> = on_tx!(tx, c => sqlx::query_as(
        "SELECT failures, locks FROM login_throttle WHERE user_id = $1 AND client = $2 AND step = $3")
        .bind(user).bind(client).bind(step.code()).fetch_optional(&mut **c).await)?;
    let (failures, locks) = row.unwrap_or((0, 0));
    let failures = failures + 1;
    let lock = failures >= MAX_FAILURES;
    let (failures, locks, until) = if lock {
        let factor = 1i32 << locks.clamp(0, 10);
        let length = (FIRST_LOCK * factor).min(MAX_LOCK);
        (0, locks + 1, Some(now + length))
    } else {
        (failures, locks, None)
    };
    on_tx!(tx, c => sqlx::query(
        "INSERT INTO login_throttle (user_id, client, step, failures, locks, locked_until, last_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (user_id, client, step) DO UPDATE SET \
         failures = excluded.failures, locks = excluded.locks, locked_until = excluded.locked_until, \
         last_at = excluded.last_at")
        .bind(user).bind(client).bind(step.code()).bind(failures).bind(locks).bind(until).bind(now)
        .execute(&mut **c).await.map(drop))?;
    if let Some(until) = until {
        let title = crate::messages::render("notice-login-locked-title", &[]);
        let body = crate::messages::render(
            "notice-login-locked",
            &[
                ("username", username),
                ("client", client),
                (
                    "step",
                    if step == Step::Password {
                        "密码"
                    } else {
                        "动态验证码"
                    },
                ),
                ("until", &crate::domain::clock::minute(until)),
            ],
        );
        on_tx!(tx, c => sqlx::query(
            "INSERT INTO notifications (created_at, region_code, audience, kind, person_id, title, body) \
             VALUES ($1, $2, 'admin', 'security', NULL, $3, $4)")
            .bind(now).bind(region).bind(&title).bind(&body).execute(&mut **c).await.map(drop))?;
        audit::record(
            tx,
            &super::Actor::system(),
            "login.locked",
            Some(super::audit::Target {
                kind: "user",
                id: user.to_string(),
            }),
            serde_json::json!({"client": client, "step": step.code(), "until": until}),
        )
        .await?;
    }
    Ok(until)
}

/// A success clears the client's failures and its backoff.
pub async fn cleared(tx: &mut Tx, user: i64, client: &str, step: Step) -> anyhow::Result<()> {
    on_tx!(tx, c => sqlx::query(
        "DELETE FROM login_throttle WHERE user_id = $1 AND client = $2 AND step = $3")
        .bind(user).bind(client).bind(step.code()).execute(&mut **c).await.map(drop))?;
    Ok(())
}
