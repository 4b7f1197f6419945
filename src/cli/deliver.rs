//! `labtrail deliver`: the CLI's HTTP client, signing a payload file and sending it like GitHub does,
//! and with `--wait` reading the outcome from the database.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use secrecy::ExposeSecret;
use serde_json::Value;

use super::open;
use crate::cli::config::{DeliverArgs, GlobalArgs};
use crate::db;
use crate::db::deliveries::Status;
use crate::domain::session::{is_early, is_late};
use crate::report::check_run::human_duration;
use crate::webhook::signature;

/// How often `--wait` looks.
const POLL: Duration = Duration::from_millis(200);

/// Exit 0 when the server answered 2xx; its status and body are printed either way. With `--wait`, the
/// outcome follows on its own line (exit 1 for an error or a timeout).
pub(super) async fn deliver(g: &GlobalArgs, a: DeliverArgs) -> anyhow::Result<ExitCode> {
    let body =
        std::fs::read(&a.file).with_context(|| format!("Cannot read {}", a.file.display()))?;
    serde_json::from_slice::<Value>(&body)
        .with_context(|| format!("{} is not JSON", a.file.display()))?;
    let secret = a
        .secret
        .as_ref()
        .map(|s| s.expose_secret())
        .filter(|s| !s.is_empty())
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
    if !status.is_success() {
        return Ok(ExitCode::FAILURE);
    }
    if a.wait {
        return wait(g, &guid, Duration::from_secs(a.timeout)).await;
    }
    Ok(ExitCode::SUCCESS)
}

/// Poll the delivery until it is settled (processed, ignored, dead or rejected) or `timeout` passed.
async fn wait(g: &GlobalArgs, guid: &str, timeout: Duration) -> anyhow::Result<ExitCode> {
    let db = open(g).await?;
    let give_up = Instant::now() + timeout;
    loop {
        let d = db::deliveries::get(&db, guid)
            .await
            .context("Cannot read the delivery")?;
        let reason = d
            .as_ref()
            .and_then(|d| d.last_error.clone())
            .unwrap_or_default();
        match d.as_ref().map(|d| d.status) {
            Some(Status::Processed) => {
                println!("{}", processed(&db, guid, &reason).await?);
                return Ok(ExitCode::SUCCESS);
            }
            Some(Status::Ignored) => {
                println!("ignored: {reason}");
                return Ok(ExitCode::SUCCESS);
            }
            Some(status @ (Status::Dead | Status::Rejected)) => {
                println!("error: {status}: {reason}");
                return Ok(ExitCode::FAILURE);
            }
            status => {
                if Instant::now() >= give_up {
                    let state = status.map_or_else(|| "not stored".to_owned(), |s| s.to_string());
                    let why = if reason.is_empty() {
                        String::new()
                    } else {
                        format!(" ({reason})")
                    };
                    println!(
                        "error: no outcome within {} s: delivery {guid} is {state}{why}",
                        timeout.as_secs()
                    );
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

/// `attempt #N recorded (on time)`, `(late by …)` or `(early: …)`, judged by the student's deadline as
/// it is now; a duplicate or another event: what the queue noted.
async fn processed(
    db: &sea_orm::DatabaseConnection,
    guid: &str,
    note: &str,
) -> anyhow::Result<String> {
    let found = db::attempts::by_deliveries(db, &[guid.to_owned()])
        .await
        .context("Cannot read the attempt")?;
    let Some((_, id)) = found.first() else {
        return Ok(if note.is_empty() {
            "processed".to_owned()
        } else {
            format!("processed: {note}")
        });
    };
    let view = db::attempts::get(db, *id)
        .await
        .context("Cannot read the attempt")?
        .context("The attempt is gone")?;
    let a = &view.attempt;
    let session = db::sessions::get(db, a.session_id)
        .await
        .context("Cannot read the session")?
        .context("The session is gone")?;
    let name = a
        .repository_full_name
        .rsplit_once('/')
        .map_or(a.repository_full_name.as_str(), |(_, n)| n);
    let deadline =
        db::sessions::deadline_of_push(db, &session, name, a.pusher_login.as_deref(), a.sender_id)
            .await
            .context("Cannot read the deadline")?;
    let timing = if is_early(a.pushed_at, session.opens_at) {
        "early: before the session opened".to_owned()
    } else if is_late(a.pushed_at, deadline) {
        format!("late by {}", human_duration(a.pushed_at - deadline))
    } else {
        "on time".to_owned()
    };
    Ok(format!("attempt #{} recorded ({timing})", a.attempt_number))
}
