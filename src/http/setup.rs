//! `GET /setup` and `GET /setup/callback`: create the GitHub App from the manifest (setup mode only).

use std::collections::HashSet;
use std::sync::Mutex;

use axum::extract::{Query, State};
use axum::response::Html;
use serde::Deserialize;

use super::AppState;
use crate::error::AppError;
use crate::setup::{self, SetupConfig};

/// Most pending `state` values kept (one per opened setup page).
const MAX_PENDING: usize = 64;

/// The flow's settings and the `state` values handed out (CSRF protection for the callback).
#[derive(Debug)]
pub struct SetupState {
    pub cfg: SetupConfig,
    pending: Mutex<HashSet<String>>,
}

impl SetupState {
    pub fn new(cfg: SetupConfig) -> Self {
        Self {
            cfg,
            pending: Mutex::new(HashSet::new()),
        }
    }

    fn issue(&self) -> String {
        let state = uuid::Uuid::new_v4().simple().to_string();
        if let Ok(mut pending) = self.pending.lock() {
            if pending.len() >= MAX_PENDING {
                pending.clear();
            }
            pending.insert(state.clone());
        }
        state
    }

    fn redeem(&self, state: &str) -> bool {
        self.pending.lock().is_ok_and(|mut p| p.remove(state))
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn setup_state(state: &AppState) -> Result<&SetupState, AppError> {
    match (&state.secrets, &state.setup) {
        (None, Some(setup)) => Ok(setup),
        _ => Err(AppError::NotFound(
            "setup is only available before a webhook secret is configured".into(),
        )),
    }
}

/// `?org=` creates the App under an organisation instead of the signed-in user.
#[derive(Debug, Deserialize)]
pub struct SetupQuery {
    org: Option<String>,
}

/// The page with the manifest form that posts to GitHub.
pub async fn page(
    State(state): State<AppState>,
    Query(q): Query<SetupQuery>,
) -> Result<Html<String>, AppError> {
    let setup = setup_state(&state)?;
    let manifest = setup::manifest(&setup.cfg.public_url).map_err(AppError::internal)?;
    let action = setup::form_action(&setup.cfg, q.org.as_deref(), &setup.issue())
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    Ok(Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>labtrail setup</title></head><body>\
         <h1>Create the labtrail GitHub App</h1>\
         <p>GitHub will create an App that receives push events at <code>{hook}</code> with read access to \
         contents and metadata and write access to checks. Afterwards labtrail writes its credentials to \
         <code>.env</code>; restart <code>labtrail serve</code> to use them.</p>\
         <form action=\"{action}\" method=\"post\">\
         <input type=\"hidden\" name=\"manifest\" value=\"{manifest}\">\
         <button type=\"submit\">Create GitHub App</button></form>\
         <p>For an organisation, open <code>/setup?org=ORG</code>.</p></body></html>",
        hook = escape(manifest["hook_attributes"]["url"].as_str().unwrap_or_default()),
        action = escape(&action),
        manifest = escape(&manifest.to_string()),
    )))
}

/// GitHub's redirect after the App was created.
#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
}

/// Exchange the code for the App's credentials and write `.env`.
pub async fn callback(
    State(state): State<AppState>,
    Query(q): Query<CallbackQuery>,
) -> Result<Html<String>, AppError> {
    let setup = setup_state(&state)?;
    let (Some(code), Some(st)) = (q.code, q.state) else {
        return Err(AppError::BadRequest("missing code or state".into()));
    };
    if !setup.redeem(&st) {
        return Err(AppError::BadRequest(
            "unknown or used state: start again at /setup".into(),
        ));
    }
    let app = setup::convert(&setup.cfg, &code)
        .await
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    let env_path = setup::write_credentials(&setup.cfg, &app)
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    tracing::info!(app_id = app.id, env = %env_path.display(), "GitHub App created; credentials written");
    let install = app
        .html_url
        .as_deref()
        .map(|u| format!("{}/installations/new", u.trim_end_matches('/')))
        .unwrap_or_default();
    Ok(Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>labtrail setup</title></head><body>\
         <h1>GitHub App {id} created</h1><p>Credentials were written to <code>{env}</code>. Restart \
         <code>labtrail serve</code>, then install the App on your course organisation: \
         <a href=\"{install}\">{install}</a></p></body></html>",
        id = app.id,
        env = escape(&env_path.display().to_string()),
        install = escape(&install),
    )))
}
