//! The command implementations behind `labtrail …` (DESIGN.md §7).

use std::process::ExitCode;

use anyhow::{bail, Context};
use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::DatabaseConnection;
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::audit::verify::{verify, Verdict};
use crate::config::{
    AttemptsCommand, AuditCommand, Cli, Command, DeliverArgs, GlobalArgs, OutputFormat, ServeArgs,
    SessionCommand, SessionCreateArgs,
};
use crate::db::{self, attempts::AttemptFilter, attempts::AttemptView, sessions::NewSession};
use crate::github::{CallPolicy, GithubApp, GithubAppConfig};
use crate::server::{self, ServerConfig};
use crate::webhook::signature::{self, WebhookSecrets};
use crate::worker::WorkerConfig;

/// Run a parsed command line; the exit code is the command's verdict.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let g = &cli.global;
    match cli.command {
        Command::Serve(args) => serve(g, args).await,
        Command::Migrate => {
            let db = open(g).await?;
            db::migrate(&db).await.context("Cannot apply migrations")?;
            println!("migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Session(SessionCommand::Create(args)) => session_create(g, args).await,
        Command::Session(SessionCommand::List { org, format }) => {
            session_list(g, org.as_deref(), format).await
        }
        Command::Attempts(AttemptsCommand::List {
            session,
            repo,
            format,
        }) => {
            let filter = AttemptFilter {
                session_slug: session,
                repo,
            };
            attempts_list(g, &filter, format).await
        }
        Command::Attempts(AttemptsCommand::Show { id }) => attempts_show(g, id).await,
        Command::Deliver(args) => deliver(g, args).await,
        Command::Audit(AuditCommand::Verify) => audit_verify(g).await,
    }
}

/// Open the database and bring its schema up to date.
async fn open(g: &GlobalArgs) -> anyhow::Result<DatabaseConnection> {
    let db = db::connect(&g.database_url)
        .await
        .context("Cannot open the database (check DATABASE_URL)")?;
    db::migrate(&db).await.context("Cannot apply migrations")?;
    Ok(db)
}

fn utc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn cli_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

async fn serve(g: &GlobalArgs, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let db = open(g).await?;
    let secrets = args.webhook_secrets().and_then(WebhookSecrets::new);
    if secrets.is_none() {
        tracing::warn!(
            "GITHUB_WEBHOOK_SECRET is not set: /webhooks/github answers 503 until it is"
        );
    }
    let github = github_app(&args)?;
    match &github {
        Some(app) => {
            tracing::info!(app_id = app.app_id(), api = %args.github_api_url, "GitHub App configured")
        }
        None => tracing::warn!(
            "GitHub App credentials are not set: attempts are recorded from payloads only, \
             truncated file lists are marked incomplete, and no check runs are posted"
        ),
    }
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("Cannot listen on {}", args.bind))?;
    tracing::info!(address = %args.bind, origin = %g.origin(), workers = args.workers, "labtrail listening");
    let mut worker = WorkerConfig::new(g.origin());
    worker.github = github;
    let cfg = ServerConfig {
        secrets,
        worker,
        workers: usize::from(args.workers),
    };
    server::run(db, cfg, listener, shutdown_signal())
        .await
        .context("Server failed")?;
    Ok(ExitCode::SUCCESS)
}

/// The GitHub App from `GITHUB_APP_ID` and a key (inline or a file); `None` when either is missing.
fn github_app(args: &ServeArgs) -> anyhow::Result<Option<GithubApp>> {
    let key = match (&args.private_key, &args.private_key_path) {
        (Some(inline), _) if !inline.trim().is_empty() => {
            // Keys pasted into .env often carry literal "\n" for newlines.
            Some(SecretString::from(inline.replace("\\n", "\n")))
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
    let app = GithubApp::new(GithubAppConfig {
        app_id,
        private_key_pem,
        api_url: args.github_api_url.clone(),
        policy: CallPolicy::default(),
    })
    .context(
        "Cannot set up the GitHub App (check GITHUB_APP_ID, the private key and GITHUB_API_URL)",
    )?;
    Ok(Some(app))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

fn parse_time(flag: &str, s: &str) -> anyhow::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .with_context(|| format!("Cannot read --{flag} {s:?}: use RFC 3339 with an offset, e.g. 2026-12-01T23:59:00+01:00"))
}

async fn session_create(g: &GlobalArgs, a: SessionCreateArgs) -> anyhow::Result<ExitCode> {
    let new = NewSession {
        org: a.org,
        slug: a.slug,
        title: a.title,
        repo_pattern: a.repos,
        branch_policy: a.branches,
        opens_at: parse_time("opens", &a.opens)?,
        closes_at: parse_time("closes", &a.closes)?,
    };
    let db = open(g).await?;
    let s = db::sessions::create(&db, &g.origin(), &cli_actor(), new)
        .await
        .context("Cannot create the session")?;
    println!(
        "created session {} for {}: repositories {:?}, branches {}, {} – {}",
        s.slug,
        s.org,
        s.repo_pattern,
        s.branch_policy,
        utc(s.opens_at),
        utc(s.closes_at)
    );
    Ok(ExitCode::SUCCESS)
}

async fn session_list(
    g: &GlobalArgs,
    org: Option<&str>,
    format: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let db = open(g).await?;
    let sessions = db::sessions::list(&db, org)
        .await
        .context("Cannot list sessions")?;
    let rows: Vec<Value> = sessions
        .iter()
        .map(|s| {
            json!({
                "org": s.org, "slug": s.slug, "title": s.title, "repos": s.repo_pattern,
                "branches": s.branch_policy, "opens_at": utc(s.opens_at), "closes_at": utc(s.closes_at),
                "archived_at": s.archived_at.map(utc),
            })
        })
        .collect();
    let columns = [
        "org",
        "slug",
        "title",
        "repos",
        "branches",
        "opens_at",
        "closes_at",
        "archived_at",
    ];
    print_rows(&rows, &columns, format)?;
    Ok(ExitCode::SUCCESS)
}

/// The JSON shape of an attempt (DESIGN.md §7).
pub fn attempt_json(v: &AttemptView) -> Value {
    let a = &v.attempt;
    json!({
        "id": a.id,
        "session": v.session_slug,
        "repository": a.repository_full_name,
        "repository_id": a.repository_id,
        "ref": a.git_ref,
        "before": a.before_sha,
        "after": a.after_sha,
        "pushed_at": utc(a.pushed_at),
        "received_at": a.received_at.to_rfc3339_opts(SecondsFormat::Micros, true),
        "delivery_id": a.delivery_id,
        "pusher": a.pusher_login,
        "forced": a.forced,
        "attempt_number": a.attempt_number,
        "late": a.late,
        "files_source": a.files_source,
        "files_complete": a.files_complete,
        "files": v.files.iter().map(|f| json!({"path": f.path, "status": f.status})).collect::<Vec<_>>(),
        "check_run_id": a.check_run_id,
        "audit_seq": a.audit_seq,
    })
}

async fn attempts_list(
    g: &GlobalArgs,
    filter: &AttemptFilter,
    format: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let db = open(g).await?;
    let views = db::attempts::list(&db, filter)
        .await
        .context("Cannot list attempts")?;
    let rows: Vec<Value> = views.iter().map(attempt_json).collect();
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        OutputFormat::Table => {
            let columns = [
                "id",
                "session",
                "repository",
                "ref",
                "after",
                "pushed_at",
                "attempt_number",
                "late",
                "files",
            ];
            let table: Vec<Value> = rows
                .into_iter()
                .map(|mut r| {
                    r["after"] = json!(r["after"]
                        .as_str()
                        .unwrap_or_default()
                        .chars()
                        .take(12)
                        .collect::<String>());
                    r["files"] = json!(r["files"].as_array().map_or(0, Vec::len));
                    r
                })
                .collect();
            print_rows(&table, &columns, OutputFormat::Table)?;
        }
        OutputFormat::Csv => {
            let columns = [
                "id",
                "session",
                "repository",
                "repository_id",
                "ref",
                "before",
                "after",
                "pushed_at",
                "received_at",
                "delivery_id",
                "pusher",
                "forced",
                "attempt_number",
                "late",
                "files_source",
                "files_complete",
                "files",
                "check_run_id",
                "audit_seq",
            ];
            let csv_rows: Vec<Value> = rows
                .into_iter()
                .map(|mut r| {
                    let files: Vec<String> = r["files"]
                        .as_array()
                        .map(|fs| {
                            fs.iter()
                                .map(|f| format!("{} {}", cell(&f["status"]), cell(&f["path"])))
                                .collect()
                        })
                        .unwrap_or_default();
                    r["files"] = json!(files.join("\n"));
                    r
                })
                .collect();
            print_rows(&csv_rows, &columns, OutputFormat::Csv)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn attempts_show(g: &GlobalArgs, id: i64) -> anyhow::Result<ExitCode> {
    let db = open(g).await?;
    let Some(v) = db::attempts::get(&db, id)
        .await
        .context("Cannot read the attempt")?
    else {
        bail!("No attempt with id {id}");
    };
    println!("{}", serde_json::to_string_pretty(&attempt_json(&v))?);
    Ok(ExitCode::SUCCESS)
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn print_rows(rows: &[Value], columns: &[&str], format: OutputFormat) -> anyhow::Result<()> {
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(rows)?),
        OutputFormat::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout());
            w.write_record(columns)?;
            for r in rows {
                w.write_record(columns.iter().map(|c| cell(&r[*c])))?;
            }
            w.flush()?;
        }
        OutputFormat::Table => {
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|r| columns.iter().map(|c| cell(&r[*c])).collect())
                .collect();
            let widths: Vec<usize> = columns
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    cells
                        .iter()
                        .map(|r| r[i].chars().count())
                        .chain([c.len()])
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            let line = |vals: Vec<String>| {
                vals.iter()
                    .zip(&widths)
                    .map(|(v, w)| format!("{v:<w$}"))
                    .collect::<Vec<_>>()
                    .join("  ")
                    .trim_end()
                    .to_owned()
            };
            println!(
                "{}",
                line(columns.iter().map(|c| c.to_uppercase()).collect())
            );
            for r in cells {
                println!("{}", line(r));
            }
        }
    }
    Ok(())
}

async fn deliver(g: &GlobalArgs, a: DeliverArgs) -> anyhow::Result<ExitCode> {
    let body =
        std::fs::read(&a.file).with_context(|| format!("Cannot read {}", a.file.display()))?;
    serde_json::from_slice::<Value>(&body)
        .with_context(|| format!("{} is not JSON", a.file.display()))?;
    let secret = a
        .secret
        .as_deref()
        .and_then(|s| s.split(',').map(str::trim).find(|s| !s.is_empty()))
        .context("No secret to sign with: pass --secret or set GITHUB_WEBHOOK_SECRET")?;
    let url = match a.url {
        Some(u) => u,
        None => g
            .public_url
            .join("webhooks/github")
            .context("Cannot build the webhook URL")?,
    };
    let guid = a
        .delivery_id
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let signature = signature::sign(&secrecy::SecretString::from(secret.to_owned()), &body);
    let response = reqwest::Client::new()
        .post(url.clone())
        .header("content-type", "application/json")
        .header("user-agent", "GitHub-Hookshot/labtrail-deliver")
        .header("x-github-event", &a.event)
        .header("x-github-delivery", &guid)
        .header("x-hub-signature-256", signature)
        .body(body)
        .send()
        .await
        .with_context(|| format!("Cannot reach {url}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    println!("{} {}", status.as_u16(), text.trim());
    Ok(if status.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn audit_verify(g: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let db = match db::connect(&g.database_url).await {
        Ok(db) => db,
        Err(e) => {
            eprintln!("cannot verify: cannot open the database: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    match verify(&db, &g.origin()).await {
        Ok(Verdict::Intact {
            size,
            head_hash,
            first_seq,
        }) => {
            println!(
                "audit log intact: {size} entries (seq {first_seq}..{}), head {}",
                size - 1,
                head_hash.as_deref().unwrap_or("(empty)")
            );
            Ok(ExitCode::SUCCESS)
        }
        Ok(Verdict::Tampered { seq, reason }) => {
            println!("audit log TAMPERED at seq {seq}: {reason}");
            Ok(ExitCode::from(1))
        }
        Err(e) => {
            eprintln!("cannot verify: {e}");
            Ok(ExitCode::from(2))
        }
    }
}
