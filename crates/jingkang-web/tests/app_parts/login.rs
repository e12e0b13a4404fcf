//! Sign-in hardening (issue 21 §6): one answer and one cost for every failure, locks per account
//! and client with backoff that notify administrators, a limit on second-factor codes, guessable
//! passwords refused, passwords that expire.

use super::*;
use jingkang_core::store::accounts::{LoginOutcome, SecondFactor, check_login};

async fn outcome(app: &App, user: &str, password: &str, client: &str) -> LoginOutcome {
    let mut tx = app.db.begin().await.unwrap();
    let o = check_login(&mut tx, user, password, client).await.unwrap();
    tx.commit().await.unwrap();
    o
}

fn kind(o: &LoginOutcome) -> &'static str {
    match o {
        LoginOutcome::Ok(_) => "ok",
        LoginOutcome::Invalid => "invalid",
        LoginOutcome::Locked => "locked",
        LoginOutcome::Disabled => "disabled",
        LoginOutcome::Held(_, h) => match h {
            store_accounts::Hold::Disabled => "held-disabled",
            store_accounts::Hold::Locked => "held-locked",
        },
    }
}

pub async fn sign_in_is_hardened(app: App) {
    app.add_user("lk-a", Role::Township, &app.town_a, false)
        .await;
    app.add_user("lk-admin", Role::Admin, COUNTY, false).await;
    // Five wrong passwords from one client lock that client out of the account only.
    for _ in 0..5 {
        let o = outcome(&app, "lk-a", "wrong-Pass-1", "198.51.100.7").await;
        assert_eq!(kind(&o), "invalid", "every failure answers alike");
    }
    let o = outcome(&app, "lk-a", "wrong-Pass-1", "198.51.100.7").await;
    assert_eq!(
        kind(&o),
        "invalid",
        "a locked client with a wrong password learns nothing"
    );
    let o = outcome(&app, "lk-a", PASSWORD, "198.51.100.7").await;
    assert_eq!(
        kind(&o),
        "locked",
        "the state is said after the right password"
    );
    let o = outcome(&app, "lk-a", PASSWORD, "203.0.113.5").await;
    assert_eq!(kind(&o), "ok", "another client is not locked out");
    // The administrators of the account's region were told.
    let told: i64 = on_pool!(&app.db, p => sqlx::query_scalar(
        "SELECT count(*) FROM notifications WHERE audience = 'admin' AND kind = 'security' AND body LIKE '%lk-a%'")
        .fetch_one(p).await)
    .unwrap();
    assert_eq!(told, 1);
    // A disabled account: a wrong password gets the same answer as any other; its state is said
    // only with the right one.
    on_pool!(&app.db, p => sqlx::query("UPDATE users SET disabled = TRUE WHERE username = 'lk-a'")
        .execute(p).await.map(drop))
    .unwrap();
    assert_eq!(
        kind(&outcome(&app, "lk-a", "nope-Nope-9", "192.0.2.1").await),
        "invalid"
    );
    assert_eq!(
        kind(&outcome(&app, "nobody-here", "nope-Nope-9", "192.0.2.1").await),
        "invalid"
    );
    assert_eq!(
        kind(&outcome(&app, "lk-a", PASSWORD, "192.0.2.1").await),
        "disabled"
    );
    // The same cost: a disabled account's wrong password takes as long as a live one's (the
    // password is always checked), within a generous margin.
    let time = |user: &'static str| {
        let app = &app;
        async move {
            let t = std::time::Instant::now();
            for _ in 0..3 {
                outcome(app, user, "nope-Nope-9", "192.0.2.9").await;
            }
            t.elapsed()
        }
    };
    let (disabled, live) = (time("lk-a").await, time("lk-admin").await);
    assert!(
        disabled * 3 > live && live * 3 > disabled,
        "disabled {disabled:?} vs live {live:?}"
    );

    // Second factor: five wrong codes lock the client; the right code is then not accepted.
    app.add_user("lk-totp", Role::Civil, COUNTY, false).await;
    let mut tx = app.db.begin().await.unwrap();
    let user = store_accounts::find_user(&mut tx, "lk-totp")
        .await
        .unwrap()
        .unwrap();
    let secret = accounts::new_totp_secret();
    store_accounts::set_totp_secret(&mut tx, &user, Some(&secret))
        .await
        .unwrap();
    let user = store_accounts::find_user(&mut tx, "lk-totp")
        .await
        .unwrap()
        .unwrap();
    let (_, session) = store_accounts::create_session(&mut tx, &user, false)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let verify = |code: String| {
        let (app, user, session) = (&app, &user, &session);
        async move {
            let mut tx = app.db.begin().await.unwrap();
            let o =
                store_accounts::verify_second_factor(&mut tx, user, session, &code, "198.51.100.8")
                    .await
                    .unwrap();
            tx.commit().await.unwrap();
            o
        }
    };
    for _ in 0..5 {
        assert_eq!(verify("000000".into()).await, SecondFactor::Invalid);
    }
    let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap();
    let right = accounts::totp_code(&secret, now).unwrap();
    assert_eq!(verify(right).await, SecondFactor::Locked);

    // A disabled account with a second factor: the right password is answered as for any such
    // account (on to the code); a wrong code is just wrong; only the right code says the state,
    // and the held session opens nothing.
    app.add_user("lk-held", Role::Civil, COUNTY, false).await;
    let mut tx = app.db.begin().await.unwrap();
    let held = store_accounts::find_user(&mut tx, "lk-held")
        .await
        .unwrap()
        .unwrap();
    let held_secret = accounts::new_totp_secret();
    store_accounts::set_totp_secret(&mut tx, &held, Some(&held_secret))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let live = client();
    let r = app.login(&live, "lk-totp", PASSWORD).await;
    let (live_status, live_to) = (r.status(), location(&r));
    on_pool!(&app.db, p => sqlx::query("UPDATE users SET disabled = TRUE WHERE username = 'lk-held'")
        .execute(p).await.map(drop))
    .unwrap();
    assert_eq!(
        kind(&outcome(&app, "lk-held", PASSWORD, "192.0.2.30").await),
        "held-disabled"
    );
    let c = client();
    let r = app.login(&c, "lk-held", PASSWORD).await;
    assert_eq!(
        (r.status(), location(&r)),
        (live_status, live_to),
        "answered alike"
    );
    let r = c.get(app.url("/persons")).send().await.unwrap();
    assert_eq!(location(&r), "/login/totp");
    let r = c.get(app.url("/api/v1/persons")).send().await.unwrap();
    assert_ne!(r.status(), StatusCode::OK, "a held session reads nothing");
    let csrf = app.csrf_of(&c, "/login/totp").await;
    let r = c
        .post(app.url("/login/totp"))
        .form(&[("csrf", csrf.as_str()), ("code", "000000")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body = r.text().await.unwrap();
    assert!(!body.contains("停用"), "{body}");
    let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap();
    let code = accounts::totp_code(&held_secret, now).unwrap();
    let r = c
        .post(app.url("/login/totp"))
        .form(&[("csrf", csrf.as_str()), ("code", code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.text().await.unwrap().contains("账号已停用"));
    let r = c.get(app.url("/persons")).send().await.unwrap();
    assert_eq!(location(&r), "/login", "the held session ended");

    // Guessable passwords are refused with their reason, on the page.
    app.add_user("lk-b", Role::Township, &app.town_a, false)
        .await;
    let c = client();
    app.login(&c, "lk-b", PASSWORD).await;
    let csrf = app.csrf_of(&c, "/account/password").await;
    let r = c
        .post(app.url("/account/password"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("current", PASSWORD),
            ("new", "Passw0rd!!"),
            ("confirm", "Passw0rd!!"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("太容易被猜到"));
    // A password older than the maximum age must be changed before anything else.
    let old = chrono::Utc::now() - chrono::Duration::days(181);
    on_pool!(&app.db, p => sqlx::query("UPDATE users SET password_changed_at = $1 WHERE username = 'lk-b'")
        .bind(old).execute(p).await.map(drop))
    .unwrap();
    let r = c.get(app.url("/persons")).send().await.unwrap();
    assert_eq!(location(&r), "/account/password");
}
