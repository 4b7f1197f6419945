//! The GitHub App manifest flow: build the manifest for this server's public URL, exchange GitHub's code
//! for the new App's credentials, and write them to `.env` (docs/design.md §3).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

/// The manifest shipped with the app; its `http://localhost:3000` URLs are rebased on the public URL.
pub const MANIFEST_TEMPLATE: &str = include_str!("../app-manifest.json");
const TEMPLATE_BASE: &str = "http://localhost:3000";

/// Where the flow talks to and writes.
#[derive(Debug, Clone)]
pub struct SetupConfig {
    pub public_url: url::Url,
    pub github_web_url: url::Url,
    pub github_api_url: url::Url,
    /// Directory receiving `.env` and the App's private key.
    pub dir: PathBuf,
}

/// Why setup failed.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("the manifest template is not valid JSON: {0}")]
    Template(serde_json::Error),
    #[error("an organisation login has only letters, digits and '-'")]
    Org,
    #[error("GitHub did not convert the manifest code: {0}")]
    Conversion(String),
    #[error("{0} exists already: this server was set up before; remove it to start again")]
    AlreadyConfigured(PathBuf),
    #[error("cannot write {0}: {1}")]
    Write(PathBuf, std::io::Error),
}

/// The manifest with every URL pointing at `public_url`.
pub fn manifest(public_url: &url::Url) -> Result<Value, SetupError> {
    let base = public_url.as_str().trim_end_matches('/');
    let text = MANIFEST_TEMPLATE.replace(TEMPLATE_BASE, base);
    serde_json::from_str(&text).map_err(SetupError::Template)
}

/// Where the manifest form posts: the user's or an organisation's "new App" page.
pub fn form_action(
    cfg: &SetupConfig,
    org: Option<&str>,
    state: &str,
) -> Result<String, SetupError> {
    let base = cfg.github_web_url.as_str().trim_end_matches('/');
    let path = match org {
        Some(org)
            if !org.is_empty() && org.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') =>
        {
            format!("{base}/organizations/{org}/settings/apps/new")
        }
        Some(_) => return Err(SetupError::Org),
        None => format!("{base}/settings/apps/new"),
    };
    Ok(format!("{path}?state={state}"))
}

/// What GitHub returns for a converted manifest (only the fields we keep).
#[derive(Deserialize)]
pub struct NewApp {
    pub id: u64,
    pub slug: Option<String>,
    pub html_url: Option<String>,
    pub webhook_secret: Option<String>,
    pub pem: String,
    /// The App's OAuth client (the web view's "Sign in with GitHub").
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

impl std::fmt::Debug for NewApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewApp")
            .field("id", &self.id)
            .field("slug", &self.slug)
            .finish_non_exhaustive()
    }
}

/// `POST /app-manifests/{code}/conversions`.
#[tracing::instrument(skip(cfg, code))]
pub async fn convert(cfg: &SetupConfig, code: &str) -> Result<NewApp, SetupError> {
    if code.is_empty()
        || !code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(SetupError::Conversion("invalid code".into()));
    }
    let url = format!(
        "{}/app-manifests/{code}/conversions",
        cfg.github_api_url.as_str().trim_end_matches('/')
    );
    let response = reqwest::Client::new()
        .post(url)
        .header("accept", "application/vnd.github+json")
        .header("user-agent", "labtrail")
        .send()
        .await
        .map_err(|e| SetupError::Conversion(e.to_string()))?;
    let status = response.status();
    if !status.is_success() {
        return Err(SetupError::Conversion(format!("GitHub answered {status}")));
    }
    response
        .json::<NewApp>()
        .await
        .map_err(|e| SetupError::Conversion(e.to_string()))
}

/// Write the App's key (mode 0600) and a new `.env`; refuses to overwrite an existing `.env`.
pub fn write_credentials(cfg: &SetupConfig, app: &NewApp) -> Result<PathBuf, SetupError> {
    let env_path = cfg.dir.join(".env");
    let key_path = cfg.dir.join("labtrail-app.pem");
    let mut env = create_private(&env_path)?;
    write_private(&key_path, app.pem.as_bytes())?;
    let mut text = format!(
        "# Written by labtrail's /setup for GitHub App {}\nGITHUB_APP_ID={}\nGITHUB_PRIVATE_KEY_PATH={}\nLABTRAIL_PUBLIC_URL={}\n",
        app.slug.as_deref().unwrap_or("labtrail"),
        app.id,
        key_path.display(),
        cfg.public_url,
    );
    if let Some(secret) = &app.webhook_secret {
        text.push_str(&format!("GITHUB_WEBHOOK_SECRET={secret}\n"));
    }
    if let (Some(id), Some(secret)) = (&app.client_id, &app.client_secret) {
        text.push_str(&format!(
            "GITHUB_CLIENT_ID={id}\nGITHUB_CLIENT_SECRET={secret}\n"
        ));
    }
    env.write_all(text.as_bytes())
        .map_err(|e| SetupError::Write(env_path.clone(), e))?;
    Ok(env_path)
}

fn create_private(path: &Path) -> Result<std::fs::File, SetupError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => SetupError::AlreadyConfigured(path.to_owned()),
        _ => SetupError::Write(path.to_owned(), e),
    })
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), SetupError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(path)
        .map_err(|e| SetupError::Write(path.to_owned(), e))?;
    // An existing file keeps its mode: tighten it before the key goes in.
    crate::private_file::tighten(path).map_err(|e| SetupError::Write(path.to_owned(), e))?;
    f.write_all(bytes)
        .map_err(|e| SetupError::Write(path.to_owned(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_is_rebased_on_the_public_url() {
        let m = manifest(&url::Url::parse("https://labtrail.example.edu/").unwrap()).unwrap();
        assert_eq!(
            m["hook_attributes"]["url"],
            "https://labtrail.example.edu/webhooks/github"
        );
        assert_eq!(
            m["redirect_url"],
            "https://labtrail.example.edu/setup/callback"
        );
        assert_eq!(m["default_permissions"]["checks"], "write");
        assert_eq!(m["default_permissions"]["contents"], "read");
        assert_eq!(m["default_permissions"]["metadata"], "read");
        assert_eq!(m["default_events"], serde_json::json!(["push"]));
        // The web view's sign-in: its callback, and reading org and team memberships.
        assert_eq!(
            m["callback_urls"],
            serde_json::json!(["https://labtrail.example.edu/login/callback"])
        );
        assert_eq!(m["default_permissions"]["members"], "read");
    }
}
