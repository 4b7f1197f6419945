//! `labtrail serve`: settings from the command line and environment, then [`App`].

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use secrecy::ExposeSecret;

use super::github_config;
use crate::app::{App, CheckpointSettings, Settings};
use crate::cli::config::{GlobalArgs, ServeArgs};
use crate::github::app_setup::SetupConfig;
use crate::jobs::redeliver::RedeliverPolicy;
use crate::web::{OauthClient, WebConfig};

/// The app's settings from `serve`'s flags and environment.
pub(super) fn settings(g: &GlobalArgs, args: &ServeArgs) -> anyhow::Result<Settings> {
    let mut settings = Settings::new(g.database_url.clone(), g.origin());
    settings.webhook_secrets = args.webhook_secrets().unwrap_or_default();
    settings.github = github_config(&args.github)?;
    settings.workers = usize::from(args.workers);
    settings.worker.batch = args.worker_batch;
    settings.setup = Some(SetupConfig {
        public_url: g.public_url.clone(),
        github_web_url: args.github_web_url.clone(),
        github_api_url: args.github.github_api_url.clone(),
        dir: std::env::current_dir().context("Cannot read the working directory")?,
        code: crate::github::app_setup::new_code(),
    });
    settings.checkpoints = Some(CheckpointSettings {
        key_path: g.audit_key_path.clone(),
        file: g.checkpoint_file.clone(),
        interval: Duration::from_secs(args.checkpoint_interval),
    });
    if let Some(path) = &g.witnesses {
        settings.witnesses =
            crate::audit::witness::read_list(path, crate::audit::witness::parse_witnesses)
                .with_context(|| {
                    format!(
                        "Cannot read the witnesses file {} (LABTRAIL_WITNESSES)",
                        path.display()
                    )
                })?;
    }
    settings.public_log = args.public_log;
    settings.redeliver = (args.redeliver_interval > 0).then(|| RedeliverPolicy {
        interval: Duration::from_secs(args.redeliver_interval),
        ..RedeliverPolicy::default()
    });
    settings.edge = args.edge_limits();
    settings.web = web_config(g, args);
    Ok(settings)
}

/// The web view: public URL, GitHub's web and API, and "Sign in with GitHub" when both OAuth values are set.
fn web_config(g: &GlobalArgs, args: &ServeArgs) -> WebConfig {
    let mut web = WebConfig::new(g.public_url.clone());
    web.github_web_url = args.github_web_url.clone();
    web.github_api_url = args.github.github_api_url.clone();
    let id = args.client_id.clone().filter(|s| !s.trim().is_empty());
    let secret = args
        .client_secret
        .clone()
        .filter(|s| !s.expose_secret().is_empty());
    web.oauth = match (id, secret) {
        (Some(client_id), Some(client_secret)) => Some(OauthClient {
            client_id,
            client_secret,
        }),
        (None, None) => None,
        _ => {
            tracing::warn!(
                "only one of GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET is set: Sign in with GitHub is off"
            );
            None
        }
    };
    web.instructor_team = args.instructor_team.clone();
    web.cookie_secret = args.cookie_key.clone();
    web
}

pub(super) async fn serve(g: &GlobalArgs, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let settings = settings(g, &args)?;
    if let Some(soft) = crate::http::edge::raise_file_limit(settings.edge.max_connections) {
        tracing::debug!(open_file_limit = soft, "open-file limit");
    }
    let setup_mode = settings
        .webhook_secrets
        .is_empty()
        .then(|| settings.setup.clone())
        .flatten();
    if settings.webhook_secrets.is_empty() {
        tracing::warn!(
            "GITHUB_WEBHOOK_SECRET is not set: /webhooks/github answers 503 until it is"
        );
    }
    let app = App::build(settings).await?;
    match app.github() {
        Some(github) => {
            tracing::info!(
                app_id = github.app_id(),
                api = %args.github.github_api_url,
                redeliver_interval_s = args.redeliver_interval,
                "GitHub App configured"
            )
        }
        None => tracing::warn!(
            "GitHub App credentials are not set: attempts are recorded from payloads only, \
             truncated file lists are marked incomplete, and no check runs are posted"
        ),
    }
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("Cannot listen on {}", args.bind))?;
    let address = listener
        .local_addr()
        .with_context(|| format!("Cannot read the address bound for {}", args.bind))?;
    tracing::info!(%address, origin = %g.origin(), workers = args.workers, "labtrail listening");
    // The address actually bound (a port 0 in LABTRAIL_BIND picks a free one), on standard output
    // whatever the log level: what scripts and tests read to reach this instance.
    {
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), "labtrail listening on http://{address}");
    }
    if let Some(setup) = &setup_mode {
        announce_setup(setup);
    }
    // At every start, not only in setup mode: a local or http:// public URL gets no push from GitHub.
    for warning in crate::github::app_setup::public_url_warnings(&g.public_url) {
        tracing::warn!(
            "{warning} Expose the server (a tunnel: cloudflared, ngrok or smee.io while developing; a reverse \
             proxy with TLS in production) and set LABTRAIL_PUBLIC_URL to its https URL"
        );
    }
    app.run(listener, shutdown_signal())
        .await
        .context("Server failed")?;
    Ok(ExitCode::SUCCESS)
}

/// Setup mode: the one-time link to `/setup` (the Jupyter way).
fn announce_setup(setup: &SetupConfig) {
    let link = format!(
        "{}/setup?code={}",
        setup.public_url.as_str().trim_end_matches('/'),
        setup.code.expose_secret()
    );
    tracing::warn!(
        "setup mode: to create the GitHub App, open {link} (the code works once, in one browser)"
    );
}

pub(super) async fn shutdown_signal() {
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
