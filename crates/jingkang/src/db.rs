//! Opening the database for a command (connect, migrate, the master key, the region tree), the
//! demo data, the day, and the exit of a user error: what every subcommand module uses. A leaf
//! beside `config`: it imports no subcommand, so the subcommands need not import each other.

use std::process::ExitCode;

use jingkang_core::generate::{self, GenOptions};
use jingkang_core::import::{ImportOptions, import_roster};
use jingkang_core::messages::render;
use jingkang_core::regions::{self, RegionTree};
use jingkang_core::store::{self, Actor, Db};

/// Exit code for bad user input (unreadable file, unknown region): nothing was changed.
pub const EXIT_USER_ERROR: u8 = 2;

pub fn user_error(msg: String) -> ExitCode {
    eprintln!("{msg}");
    ExitCode::from(EXIT_USER_ERROR)
}

/// Connect, migrate, attach the master key (created at a first start; one that is not this
/// database's stops the command with a message) and make sure the region tree is installed.
pub async fn open(url: &str) -> anyhow::Result<(Db, RegionTree)> {
    let (db, tree, _) = open_all(url).await?;
    Ok((db, tree))
}

/// [`open`], with the master key.
pub async fn open_all(
    url: &str,
) -> anyhow::Result<(Db, RegionTree, jingkang_core::secrets::MasterKey)> {
    let (db, key) = open_keyed(url).await?;
    jingkang_core::store::regions::ensure_installed(&db).await?;
    let tree = jingkang_core::store::regions::load_tree(&db, false).await?;
    Ok((db, tree, key))
}

/// Connect, migrate and attach the master key (see [`open`]); the key is returned too.
pub async fn open_keyed(url: &str) -> anyhow::Result<(Db, jingkang_core::secrets::MasterKey)> {
    let db = Db::connect(url).await?;
    let key = crate::config::master_key(&crate::config::global(), &db, true)
        .await?
        .map_err(crate::config::UserError)?;
    let keys = jingkang_core::secrets::Keys::of(&key);
    let db = db.with_keys(keys);
    // A rotation under way must be finished first; values of a database from before encryption
    // are sealed now, once.
    if let Some(state) = store::sealing::key_state(&db).await?
        && state.rotating_to.is_some()
    {
        return Err(crate::config::UserError(render("key-rotation-unfinished", &[])).into());
    }
    if let Some(done) = store::sealing::ensure_sealed(&db, &key.fingerprint()).await?
        && done.persons + done.guardians + done.history > 0
    {
        eprintln!(
            "{}",
            render(
                "cli-sealed",
                &[
                    ("persons", &done.persons.to_string()),
                    ("guardians", &done.guardians.to_string()),
                    ("history", &done.history.to_string()),
                ]
            )
        );
    }
    Ok((db, key))
}

/// Today in China: the same day the pages use, whatever the server's time zone.
pub fn today() -> chrono::NaiveDate {
    jingkang_core::domain::clock::today()
}

/// Demo persons, through the real path: a generated roster file, imported by the importer; then
/// their generated care history.
pub async fn load_demo(db: &Db, tree: &RegionTree, county: &regions::Region) -> anyhow::Result<()> {
    let dir = tempfile_dir()?;
    let file = dir.join("demo-roster.xlsx");
    let opts = GenOptions {
        rows: 300,
        seed: 2023,
        error_rate: 0.0,
        messy: true,
        today: today(),
    };
    generate::write_roster(tree, county, opts, &file, None)?;
    let actor = Actor::system();
    let iopts = ImportOptions {
        county: &county.code,
        dry_run: false,
        actor: &actor,
        source: "demo",
        today: today(),
        progress: None,
    };
    let result = import_roster(db, tree, &file, &iopts).await;
    let _ = std::fs::remove_dir_all(&dir);
    let report = result.map_err(anyhow::Error::from)?;
    // Two years of registrations and follow-ups, so that the person pages and worklists have
    // something to show.
    // Generated once: a second `init --demo` leaves the history as it is.
    let followups = match generate::history::write(db, 2023, 2, today(), None).await {
        Ok(h) => h.followups,
        Err(e)
            if e.downcast_ref::<generate::history::HistoryExists>()
                .is_some() =>
        {
            0
        }
        Err(e) => return Err(e),
    };
    // Sites, staff, a contract and family support, then a year of services delivered by the
    // sites (plans, assessments, group sessions), so that 规范服务, the institution pages and the
    // contract's figures have something to show. Each once.
    let institutions = match generate::sites::write(db, tree, county, today()).await {
        Ok(s) => s.institutions,
        Err(e) if e.downcast_ref::<generate::sites::SitesExist>().is_some() => 0,
        Err(e) => return Err(e),
    };
    let contacts = match generate::services::write(db, 2023, 1, today(), None).await {
        Ok(s) => s.contacts,
        Err(e)
            if e.downcast_ref::<generate::services::ServicesExist>()
                .is_some() =>
        {
            0
        }
        Err(e) => return Err(e),
    };
    tracing::info!(
        created = report.created,
        unchanged = report.unchanged,
        followups,
        institutions,
        contacts,
        "demo data loaded"
    );
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("jingkang-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
