//! `jingkang user …` and `jingkang token create`.

use std::io::BufRead;
use std::process::ExitCode;

use jingkang_core::accounts::{self, Role};
use jingkang_core::messages::render;
use jingkang_core::store::Actor;
use jingkang_core::store::accounts::{self as store_accounts, NewUser};

use crate::db::{open, user_error};
use crate::{OrgCmd, UserCmd};

fn role_list() -> String {
    Role::ALL
        .iter()
        .map(|r| r.code())
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn run(url: &str, cmd: UserCmd) -> anyhow::Result<ExitCode> {
    let (db, tree) = open(url).await?;
    let actor = Actor::cli();
    match cmd {
        UserCmd::Add {
            username,
            role,
            region,
            display_name,
            password_stdin,
            org,
        } => {
            let Some(role_v) = Role::parse(&role) else {
                return Ok(user_error(render(
                    "role-unknown",
                    &[("role", &role), ("roles", &role_list())],
                )));
            };
            let (password, generated) = if password_stdin {
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line)?;
                (line.trim_end_matches(['\r', '\n']).to_string(), false)
            } else {
                (accounts::generate_password(), true)
            };
            let display = display_name.unwrap_or_else(|| username.clone());
            let organisation_id = match &org {
                None => None,
                Some(name) => {
                    let mut tx = db.begin().await?;
                    let found =
                        store_accounts::find_organisation_for(&mut tx, name, region.trim()).await?;
                    tx.commit().await?;
                    match found {
                        Some(o) => Some(o.id),
                        None => return Ok(user_error(render("organisation-unknown", &[]))),
                    }
                }
            };
            let new = NewUser {
                username: &username,
                display_name: &display,
                role: role_v,
                region_code: region.trim(),
                password: &password,
                must_change_password: true,
                organisation_id,
            };
            let mut tx = db.begin().await?;
            match store_accounts::create_user(&mut tx, &actor, &new).await? {
                Ok(_) => tx.commit().await?,
                Err(e) => return Ok(user_error(render(e.0, &[]))),
            }
            let region_name = tree.path_name(region.trim());
            out!(
                "{}",
                render(
                    "cli-user-added",
                    &[
                        ("username", &username),
                        ("role", role_v.label_zh()),
                        ("region", &region_name)
                    ]
                )
            );
            if generated {
                out!(
                    "{}",
                    render("cli-user-password", &[("password", &password)])
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        UserCmd::ResetPassword { username } => {
            let mut tx = db.begin().await?;
            let Some(user) = store_accounts::find_user(&mut tx, &username).await? else {
                return Ok(user_error(render(
                    "user-unknown",
                    &[("username", &username)],
                )));
            };
            let password = accounts::generate_password();
            if let Err(e) =
                store_accounts::set_password(&mut tx, &actor, &user, &password, true).await?
            {
                return Ok(user_error(render(e.0, &[])));
            }
            tx.commit().await?;
            out!("{}", render("cli-user-reset", &[("username", &username)]));
            out!(
                "{}",
                render("cli-user-password", &[("password", &password)])
            );
            Ok(ExitCode::SUCCESS)
        }
        UserCmd::Disable { username } => {
            let mut tx = db.begin().await?;
            let Some(user) = store_accounts::find_user(&mut tx, &username).await? else {
                return Ok(user_error(render(
                    "user-unknown",
                    &[("username", &username)],
                )));
            };
            store_accounts::set_disabled(&mut tx, &actor, &user, true).await?;
            tx.commit().await?;
            out!(
                "{}",
                render("cli-user-disabled", &[("username", &username)])
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub async fn create_token(url: &str, username: &str) -> anyhow::Result<ExitCode> {
    let (db, _tree) = open(url).await?;
    let mut tx = db.begin().await?;
    let Some(user) = store_accounts::find_user(&mut tx, username).await? else {
        return Ok(user_error(render(
            "user-unknown",
            &[("username", username)],
        )));
    };
    let token = store_accounts::create_api_token(&mut tx, &Actor::cli(), &user).await?;
    tx.commit().await?;
    out!("{}", render("cli-token-created", &[("token", &token)]));
    Ok(ExitCode::SUCCESS)
}

pub async fn org(url: &str, cmd: OrgCmd) -> anyhow::Result<ExitCode> {
    let (db, tree) = open(url).await?;
    let mut tx = db.begin().await?;
    match cmd {
        OrgCmd::Add { name, region } => {
            match store_accounts::create_organisation(&mut tx, &Actor::cli(), &name, region.trim())
                .await?
            {
                Ok(_) => {
                    tx.commit().await?;
                    out!(
                        "{}",
                        render(
                            "cli-org-added",
                            &[
                                ("name", name.trim()),
                                ("region", &tree.path_name(region.trim()))
                            ]
                        )
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => Ok(user_error(render(e.0, &[]))),
            }
        }
        OrgCmd::List => {
            let orgs = store_accounts::list_organisations(&mut tx).await?;
            tx.commit().await?;
            for o in orgs {
                out!(
                    "{}\t{}\t{}",
                    o.region_code,
                    o.name,
                    tree.path_name(&o.region_code)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
