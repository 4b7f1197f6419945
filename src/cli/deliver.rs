//! `labtrail deliver`: the CLI's HTTP client, signing a payload file and sending it like GitHub does.

use std::process::ExitCode;

use anyhow::Context;
use secrecy::ExposeSecret;
use serde_json::Value;

use crate::config::{DeliverArgs, GlobalArgs};
use crate::webhook::signature;

/// Exit 0 when the server answered 2xx; its status and body are printed either way.
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
    Ok(if status.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
