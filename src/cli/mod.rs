//! The command implementations behind `labtrail …` (docs/design.md §7): the dispatch here, one module per
//! command family; rows are rendered by [`crate::report`], the app is started by [`crate::app`].

mod attempts;
mod audit;
pub mod config;
mod deliver;
mod deliveries;
pub mod doctor;
mod grades;
pub mod help;
mod redeliver;
mod reindex;
mod retention;
mod roster;
mod scores;
mod serve;
mod session;
pub mod telemetry;
mod tokens;
mod witness;

use std::process::ExitCode;

use anyhow::Context;
use entity::lab_session;
use sea_orm::DatabaseConnection;
use secrecy::{ExposeSecret, SecretString};

use crate::cli::config::{
    AttemptsCommand, AuditCommand, Cli, Command, DeliverArgs, DeliveriesCommand, GithubArgs,
    GlobalArgs, GradesCommand, OutputFormat, RetentionCommand, RosterCommand, ScoresCommand,
    SessionCommand, WitnessCommand,
};
use crate::db::summary::StudentSummary;
use crate::db::{self, attempts::AttemptFilter};
use crate::github::{CallPolicy, GithubAppConfig};
use crate::report::{self, Format, Row};

/// A command that reads an existing database was pointed at one that does not exist (exit 2). Only `serve` and
/// `migrate` create a database; anything else would report on an empty one as if it were the real one.
#[derive(Debug, thiserror::Error)]
#[error(
    "the database {0} does not exist (nothing was created): check DATABASE_URL and the working directory, \
     or create it with `labtrail migrate`"
)]
pub struct MissingDatabase(pub String);

/// Run a parsed command line; the exit code is the command's verdict.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let g = &cli.global;
    // `deliver` (without --wait), `audit keygen` and `audit check-proof` never open the database; `doctor`
    // reports a missing one as a finding.
    let needs_existing_database = !matches!(
        cli.command,
        Command::Serve(_)
            | Command::Migrate
            | Command::Deliver(DeliverArgs { wait: false, .. })
            | Command::Doctor(_)
            | Command::Witness(_)
            | Command::Audit(AuditCommand::Keygen | AuditCommand::CheckProof { .. })
    );
    if needs_existing_database {
        if let Some(path) = db::sqlite_path(&g.database_url).filter(|p| !p.exists()) {
            return Err(MissingDatabase(path.display().to_string()).into());
        }
    }
    match cli.command {
        Command::Serve(args) => serve::serve(g, *args).await,
        Command::Migrate => {
            let db = connect(g).await?;
            db::migrate_with_progress(&db, |b| {
                eprintln!(
                    "student state: {}/{} built, {} rows ({} of {})",
                    b.org, b.slug, b.rows, b.done, b.of
                );
            })
            .await?;
            println!("migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Session(SessionCommand::Create(args)) => session::create(g, args).await,
        Command::Session(SessionCommand::List { org, format }) => {
            session::list(g, org.as_deref(), format).await
        }
        Command::Session(SessionCommand::Archive { org, slug }) => {
            session::archive(g, &org, &slug).await
        }
        Command::Session(SessionCommand::Edit(args)) => session::edit(g, args).await,
        Command::Session(SessionCommand::Extend {
            session: which,
            student,
            closes,
            remove,
            force,
            shorten,
        }) => match closes {
            Some(closes) if !remove => {
                session::extend(g, &which, &student, &closes, (force, shorten)).await
            }
            _ => session::unextend(g, &which, &student).await,
        },
        Command::Session(SessionCommand::Invite {
            session: which,
            rotate,
        }) => session::invite(g, &which, rotate).await,
        Command::Session(SessionCommand::Unarchive {
            session: which,
            allow_overlap,
        }) => session::unarchive(g, &which, allow_overlap).await,
        Command::Attempts(AttemptsCommand::List {
            session,
            repo,
            student,
            format,
        }) => {
            let filter = AttemptFilter {
                session_slug: session,
                repo,
                ..AttemptFilter::default()
            };
            attempts::list(g, &filter, student.as_deref(), format).await
        }
        Command::Attempts(AttemptsCommand::Show { id }) => attempts::show(g, id).await,
        Command::Attempts(AttemptsCommand::Summary {
            session,
            org,
            format,
        }) => attempts::summary(g, &session, org.as_deref(), format).await,
        Command::Roster(RosterCommand::Import {
            org,
            file,
            replace,
            dry_run,
        }) => {
            let mode = db::roster::ImportMode { replace, dry_run };
            roster::import(g, &org, &file, mode).await
        }
        Command::Roster(RosterCommand::Remove { org, identifiers }) => {
            roster::remove(g, &org, &identifiers).await
        }
        Command::Roster(RosterCommand::List { org, format }) => roster::list(g, &org, format).await,
        Command::Roster(RosterCommand::Link {
            org,
            identifier,
            login,
        }) => roster::link(g, &org, &identifier, &login).await,
        Command::Roster(RosterCommand::Unlink { org, identifier }) => {
            roster::unlink(g, &org, &identifier).await
        }
        Command::Grades(GradesCommand::Export {
            session,
            org,
            out,
            github_web_url,
        }) => grades::export(g, &session, org.as_deref(), out.as_deref(), &github_web_url).await,
        Command::Grades(GradesCommand::Book { org, sessions, out }) => {
            grades::book(g, &org, &sessions, out.as_deref()).await
        }
        Command::Scores(ScoresCommand::Sync {
            session,
            org,
            limit,
            github,
        }) => scores::sync(g, session.as_deref(), org.as_deref(), limit, &github).await,
        Command::Deliver(args) => deliver::deliver(g, args).await,
        Command::Deliveries(DeliveriesCommand::List {
            status,
            limit,
            format,
        }) => deliveries::list(g, status.as_deref(), limit, format).await,
        Command::Deliveries(DeliveriesCommand::Show { guid }) => deliveries::show(g, &guid).await,
        Command::Redeliver(args) => redeliver::redeliver(g, args).await,
        Command::Audit(AuditCommand::Verify(args)) => audit::verify(g, args).await,
        Command::Audit(AuditCommand::Checkpoint { write }) => audit::checkpoint(g, write).await,
        Command::Audit(AuditCommand::Export { after_seq, limit }) => {
            audit::export(g, after_seq, limit).await
        }
        Command::Audit(AuditCommand::Archive { upto, out }) => audit::archive(g, upto, &out).await,
        Command::Audit(AuditCommand::Keygen) => audit::keygen(g),
        Command::Audit(AuditCommand::Prove { attempt, out }) => {
            audit::prove(g, attempt, out.as_deref()).await
        }
        Command::Witness(WitnessCommand::Keygen { name, out }) => witness::keygen(&name, &out),
        Command::Witness(WitnessCommand::Serve { bind, key, logs }) => {
            witness::serve(g, bind, &key, &logs).await
        }
        Command::Audit(AuditCommand::CheckProof {
            file,
            public_key,
            witness,
            quorum,
        }) => Ok(audit::check_proof(&file, &public_key, &witness, quorum)),
        Command::Audit(AuditCommand::PublicKey) => audit::public_key(g),
        Command::Token(cmd) => tokens::token(g, cmd).await,
        Command::Retention(RetentionCommand::Run(args)) => retention::run(g, args).await,
        Command::Doctor(args) => doctor::doctor(g, &args).await,
        Command::Reindex { session, org } => {
            reindex::reindex(g, session.as_deref(), org.as_deref()).await
        }
    }
}

/// Open the database and bring its schema up to date.
async fn open(g: &GlobalArgs) -> anyhow::Result<DatabaseConnection> {
    let db = connect(g).await?;
    db::migrate(&db).await?;
    Ok(db)
}

/// Open the database as it is.
async fn connect(g: &GlobalArgs) -> anyhow::Result<DatabaseConnection> {
    Ok(match db::connect(&g.database_url).await {
        Ok(db) => db,
        Err(e) if db::is_missing_database(&e) => {
            let name = url::Url::parse(&g.database_url)
                .map(|u| u.path().trim_start_matches('/').to_owned())
                .unwrap_or_default();
            return Err(MissingDatabase(name).into());
        }
        Err(e) => return Err(e).context("Cannot open the database (check DATABASE_URL)"),
    })
}

/// The session `slug` (of `org`, when given) and its per-student summary.
async fn summarize_session(
    g: &GlobalArgs,
    slug: &str,
    org: Option<&str>,
) -> anyhow::Result<(lab_session::Model, Vec<StudentSummary>)> {
    let db = open(g).await?;
    let session = db::sessions::find_by_slug(&db, slug, org)
        .await
        .context("Cannot find the session")?;
    let summary = db::summary::summarize(&db, &session)
        .await
        .context("Cannot summarise the session")?;
    Ok((session, summary))
}

/// Who the audit log names for a command run by hand.
fn cli_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

impl From<OutputFormat> for Format {
    fn from(f: OutputFormat) -> Self {
        match f {
            OutputFormat::Table => Self::Table,
            OutputFormat::Json => Self::Json,
            OutputFormat::Csv => Self::Csv,
        }
    }
}

/// Print rows to standard output.
fn print_rows<R: Row>(rows: &[R], format: OutputFormat) -> anyhow::Result<()> {
    report::write(std::io::stdout().lock(), rows, format.into())?;
    Ok(())
}

/// The GitHub App from `GITHUB_APP_ID` and a key (inline or a file); `None` when either is missing.
fn github_config(args: &GithubArgs) -> anyhow::Result<Option<GithubAppConfig>> {
    let key = match (&args.private_key, &args.private_key_path) {
        (Some(inline), _) if !inline.expose_secret().trim().is_empty() => {
            // Keys pasted into .env often carry literal "\n" for newlines.
            Some(SecretString::from(
                inline.expose_secret().replace("\\n", "\n"),
            ))
        }
        (_, Some(path)) => Some(SecretString::from(
            std::fs::read_to_string(path).with_context(|| {
                format!("Cannot read the GitHub App private key {}", path.display())
            })?,
        )),
        _ => None,
    };
    let (Some(app_id), Some(private_key_pem)) = (args.app_id, key) else {
        return Ok(None);
    };
    Ok(Some(GithubAppConfig {
        app_id,
        private_key_pem,
        api_url: args.github_api_url.clone(),
        policy: CallPolicy::default(),
    }))
}
