//! The subcommands, one module per area; `run` only dispatches. No submodule imports this file or
//! a sibling that imports it back: what several of them share is in `common` (a leaf), `crate::db`,
//! `crate::config` and `crate::ui`.

mod admin;
pub mod bench;
mod common;
mod export;
mod generate;
mod import;
mod link;
mod outbox;
mod regions;
mod report;
mod serve;
mod users;

use std::process::ExitCode;

use crate::config::database_url;
use crate::{AuditCmd, Cli, Command, KeyCmd, TokenCmd};

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let url = database_url(&cli.global);
    match cli.command {
        Command::Init { demo, demo_county } => {
            admin::init(&url, &cli.global, demo, &demo_county).await
        }
        Command::Serve(args) => serve::run(&url, &cli.global, args).await,
        Command::User(cmd) => users::run(&url, cmd).await,
        Command::Org(cmd) => users::org(&url, cmd).await,
        Command::Token(TokenCmd::Create { user }) => users::create_token(&url, &user).await,
        Command::Import(cmd) => import::run(&url, cmd).await,
        Command::Export(cmd) => export::run(&url, cmd).await,
        Command::Regions(cmd) => regions::run(&url, cmd).await,
        Command::Gen(cmd) => generate::run(&url, cmd).await,
        Command::Audit(AuditCmd::Verify) => admin::audit_verify(&url, &cli.global).await,
        Command::Key(KeyCmd::Rotate { new_key_file }) => {
            admin::key_rotate(&url, &new_key_file).await
        }
        Command::Backup { out, pg_dump } => admin::backup(&url, out, pg_dump).await,
        Command::Restore {
            file,
            force,
            pg_dump,
        } => admin::restore(&url, &cli.global, file, force, pg_dump).await,
        Command::Worklist {
            name,
            region,
            json,
            out,
        } => report::worklist(&url, name, region, json, out).await,
        Command::Report(cmd) => report::run(&url, cmd).await,
        Command::ReferralsExpire => admin::referrals_expire(&url).await,
        Command::Outbox(cmd) => outbox::run(&url, cmd).await,
        Command::Bench(cmd) => bench::run(cmd, &url).await,
        Command::Link(cmd) => link::run(&url, cmd).await,
    }
}
