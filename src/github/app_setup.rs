//! The GitHub App manifest flow: build the manifest for this server's public URL, exchange GitHub's code
//! for the new App's credentials, check them, and merge them into `.env` (docs/design.md §3). The HTTP side
//! (setup code, browser binding, pages) is `crate::http::setup`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

/// The manifest shipped with the app; its `http://localhost:3000` URLs are rebased on the public URL.
pub const MANIFEST_TEMPLATE: &str = include_str!("../../app-manifest.json");
const TEMPLATE_BASE: &str = "http://localhost:3000";

/// The file the credentials go to, in [`SetupConfig::dir`].
pub const ENV_FILE: &str = ".env";
/// The App's private key, beside `.env`.
pub const KEY_FILE: &str = "labtrail-app.pem";

/// The keys setup writes; an existing `.env`'s lines for them are replaced, every other line is kept.
/// `GITHUB_PRIVATE_KEY` is only removed: an inline key would take precedence over the new key file.
pub const MANAGED_KEYS: [&str; 7] = [
    "GITHUB_APP_ID",
    "GITHUB_PRIVATE_KEY_PATH",
    "GITHUB_PRIVATE_KEY",
    "GITHUB_WEBHOOK_SECRET",
    "GITHUB_CLIENT_ID",
    "GITHUB_CLIENT_SECRET",
    "LABTRAIL_PUBLIC_URL",
];

/// Where the flow talks to and writes.
#[derive(Debug, Clone)]
pub struct SetupConfig {
    pub public_url: url::Url,
    pub github_web_url: url::Url,
    pub github_api_url: url::Url,
    /// Directory receiving `.env` and the App's private key.
    pub dir: PathBuf,
    /// The one-time setup code `serve` prints in its log; `/setup` opens only with it.
    pub code: SecretString,
}

/// A fresh random setup code (128 bits, hex).
pub fn new_code() -> SecretString {
    SecretString::from(hex::encode(
        crate::secrets::random_or_panic::<16>().as_slice(),
    ))
}

/// Why setup failed. Messages name `.env` and the key file by their names only, never by absolute path.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("the manifest template is not valid JSON: {0}")]
    Template(serde_json::Error),
    #[error("an organisation login has only letters, digits and '-'")]
    Org,
    #[error("GitHub did not convert the manifest code: {0}")]
    Conversion(String),
    #[error("GitHub's answer is not usable: {0}")]
    Invalid(String),
    #[error(
        "{ENV_FILE} in the server's working directory cannot be merged: {0}; fix or remove it, then \
         start again"
    )]
    EnvUnmergeable(String),
    #[error(
        "the server's working directory is not writable ({0}): labtrail must write {ENV_FILE} and \
         {KEY_FILE} there; fix the permissions, then start again"
    )]
    NotWritable(String),
    #[error("cannot write {0}: {1}")]
    Write(&'static str, std::io::Error),
}

/// Public URLs GitHub cannot deliver to, or delivers to without TLS: what the setup page warns about.
pub fn public_url_warnings(public_url: &url::Url) -> Vec<String> {
    let mut warnings = Vec::new();
    let local = match public_url.host() {
        Some(url::Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost") || d.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback() || ip.is_private() || ip.is_unspecified(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback() || ip.is_unspecified(),
        None => true,
    };
    if local {
        warnings.push(format!(
            "The public URL {public_url} is local: GitHub cannot reach it, so no push will be delivered."
        ));
    }
    if public_url.scheme() != "https" {
        warnings.push(format!(
            "The public URL {public_url} is not https: deliveries and the setup redirect would travel \
             unencrypted."
        ));
    }
    warnings
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

/// What GitHub returns for a converted manifest (only the fields we keep), unchecked.
#[derive(Deserialize)]
pub struct NewApp {
    pub id: Value,
    pub slug: Option<String>,
    pub html_url: Option<String>,
    pub webhook_secret: Option<String>,
    /// The App's OAuth client (the web view's "Sign in with GitHub").
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub pem: String,
}

impl std::fmt::Debug for NewApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewApp")
            .field("id", &self.id)
            .field("slug", &self.slug)
            .finish_non_exhaustive()
    }
}

/// The new App's credentials, checked: a numeric id, values without control characters, an RSA key in
/// PEM form.
pub struct Credentials {
    pub app_id: u64,
    pub slug: Option<String>,
    pub html_url: Option<String>,
    pub webhook_secret: SecretString,
    pub client_id: String,
    pub client_secret: SecretString,
    pub pem: SecretString,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("app_id", &self.app_id)
            .field("slug", &self.slug)
            .finish_non_exhaustive()
    }
}

/// A one-line value: present, printable, no whitespace at its ends, no quote or backslash (which `.env`
/// parsers read differently).
fn one_line(name: &str, value: Option<&str>) -> Result<String, SetupError> {
    let v = value.ok_or_else(|| SetupError::Invalid(format!("{name} is missing")))?;
    let bad = v.is_empty()
        || v.trim() != v
        || v.chars()
            .any(|c| c.is_control() || matches!(c, '\'' | '"' | '\\'));
    if bad {
        return Err(SetupError::Invalid(format!(
            "{name} is empty or has a newline, control character, quote or backslash"
        )));
    }
    Ok(v.to_owned())
}

impl Credentials {
    /// Check GitHub's answer before anything is written.
    pub fn check(app: NewApp) -> Result<Self, SetupError> {
        let app_id = match &app.id {
            Value::Number(n) => n.as_u64(),
            _ => None,
        }
        .filter(|id| *id > 0)
        .ok_or_else(|| SetupError::Invalid("the App id is not a positive number".into()))?;
        let optional = |name: &str, v: &Option<String>| {
            v.as_deref().map(|v| one_line(name, Some(v))).transpose()
        };
        let pem = app.pem.trim_end().to_owned() + "\n";
        let pem_shape = pem.starts_with("-----BEGIN ")
            && pem.trim_end().ends_with("PRIVATE KEY-----")
            && !pem.contains('\r')
            && pem.chars().all(|c| c == '\n' || !c.is_control());
        if !pem_shape || jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).is_err() {
            return Err(SetupError::Invalid(
                "the private key is not an RSA private key in PEM form".into(),
            ));
        }
        Ok(Self {
            app_id,
            slug: optional("slug", &app.slug)?,
            html_url: optional("html_url", &app.html_url)?,
            webhook_secret: one_line("webhook_secret", app.webhook_secret.as_deref())?.into(),
            client_id: one_line("client_id", app.client_id.as_deref())?,
            client_secret: one_line("client_secret", app.client_secret.as_deref())?.into(),
            pem: pem.into(),
        })
    }

    /// The `.env` lines, in [`MANAGED_KEYS`] order (no inline key).
    pub fn env_lines(&self, public_url: &url::Url, key_path: &Path) -> Vec<(&'static str, String)> {
        vec![
            ("GITHUB_APP_ID", self.app_id.to_string()),
            ("GITHUB_PRIVATE_KEY_PATH", key_path.display().to_string()),
            (
                "GITHUB_WEBHOOK_SECRET",
                self.webhook_secret.expose_secret().to_owned(),
            ),
            ("GITHUB_CLIENT_ID", self.client_id.clone()),
            (
                "GITHUB_CLIENT_SECRET",
                self.client_secret.expose_secret().to_owned(),
            ),
            ("LABTRAIL_PUBLIC_URL", public_url.to_string()),
        ]
    }
}

/// `POST /app-manifests/{code}/conversions`.
#[tracing::instrument(skip(cfg, code))]
pub async fn convert(cfg: &SetupConfig, code: &str) -> Result<NewApp, SetupError> {
    if code.is_empty()
        || code.len() > 256
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
        .timeout(std::time::Duration::from_secs(30))
        .send()
        .await
        .map_err(|e| SetupError::Conversion(e.without_url().to_string()))?;
    let status = response.status();
    if !status.is_success() {
        return Err(SetupError::Conversion(format!("GitHub answered {status}")));
    }
    response
        .json::<NewApp>()
        .await
        .map_err(|e| SetupError::Conversion(e.without_url().to_string()))
}

/// The `KEY` of a `.env` line (`KEY=…` or `export KEY=…`), if it is an assignment.
fn line_key(line: &str) -> Option<&str> {
    let l = line.trim_start();
    let l = l.strip_prefix("export ").unwrap_or(l).trim_start();
    let (key, _) = l.split_once('=')?;
    let key = key.trim_end();
    (!key.is_empty() && !key.starts_with('#')).then_some(key)
}

/// Whether a value that starts on this line goes on past it (an unclosed quote).
fn opens_multiline(line: &str) -> Option<char> {
    let (_, value) = line.split_once('=')?;
    let value = value.trim_start();
    let quote = value.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let rest = &value[1..];
    (!rest.contains(quote)).then_some(quote)
}

/// `existing` with the lines (and multi-line values) of [`MANAGED_KEYS`] removed and `ours` appended.
pub fn merge_env(existing: &str, ours: &[(&str, String)], comment: &str) -> String {
    let mut out = String::new();
    let mut skipping: Option<char> = None;
    for line in existing.lines() {
        if let Some(quote) = skipping {
            if line.contains(quote) {
                skipping = None;
            }
            continue;
        }
        if line_key(line).is_some_and(|k| MANAGED_KEYS.contains(&k)) {
            skipping = opens_multiline(line);
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if !out.is_empty() && !out.ends_with("\n\n") {
        out.push('\n');
    }
    out.push_str(&format!("# {comment}\n"));
    for (k, v) in ours {
        out.push_str(&format!("{k}={v}\n"));
    }
    out
}

/// The existing `.env` as text, `None` when absent; an error when it cannot be merged (not a file, not
/// UTF-8, not parseable as a dotenv file).
fn read_existing_env(path: &Path) -> Result<Option<String>, SetupError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(SetupError::EnvUnmergeable(e.kind().to_string())),
    };
    if !meta.is_file() {
        return Err(SetupError::EnvUnmergeable(
            "it is not a regular file".into(),
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| SetupError::EnvUnmergeable(format!("cannot read it ({})", e.kind())))?;
    for item in dotenvy::from_read_iter(text.as_bytes()) {
        item.map_err(|e| SetupError::EnvUnmergeable(format!("it does not parse ({e})")))?;
    }
    Ok(Some(text))
}

/// Before sending the browser to GitHub: `.env` is absent or mergeable, and the directory takes new files
/// (a probe file is created and removed).
pub fn check_writable(cfg: &SetupConfig) -> Result<(), SetupError> {
    read_existing_env(&cfg.dir.join(ENV_FILE))?;
    let probe = tempfile::Builder::new()
        .prefix(".labtrail-probe")
        .tempfile_in(&cfg.dir)
        .map_err(|e| SetupError::NotWritable(e.kind().to_string()))?;
    probe
        .close()
        .map_err(|e| SetupError::NotWritable(e.kind().to_string()))
}

/// Write the App's key (0600) and merge the credentials into `.env` (0600, replaced atomically).
pub fn write_credentials(cfg: &SetupConfig, creds: &Credentials) -> Result<(), SetupError> {
    let env_path = cfg.dir.join(ENV_FILE);
    let key_path = cfg.dir.join(KEY_FILE);
    let existing = read_existing_env(&env_path)?;
    write_private(&cfg.dir, &key_path, creds.pem.expose_secret().as_bytes())
        .map_err(|e| SetupError::Write(KEY_FILE, e))?;
    let comment = format!(
        "Written by labtrail's /setup for GitHub App {} (id {})",
        creds.slug.as_deref().unwrap_or("labtrail"),
        creds.app_id
    );
    let lines = creds.env_lines(&cfg.public_url, &key_path);
    let text = merge_env(existing.as_deref().unwrap_or(""), &lines, &comment);
    // What a dotenv parser reads back must be exactly what was meant.
    let parsed: Vec<(String, String)> = dotenvy::from_read_iter(text.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| SetupError::Invalid(format!("the merged {ENV_FILE} does not parse ({e})")))?;
    for (k, v) in &lines {
        if parsed
            .iter()
            .rev()
            .find(|(pk, _)| pk == k)
            .map(|(_, pv)| pv)
            != Some(v)
        {
            return Err(SetupError::Invalid(format!(
                "{k} would not read back unchanged from {ENV_FILE}"
            )));
        }
    }
    write_private(&cfg.dir, &env_path, text.as_bytes()).map_err(|e| SetupError::Write(ENV_FILE, e))
}

/// Replace `path` with `bytes` atomically: a temporary file in `dir` (tempfile creates it 0600), synced,
/// renamed over it.
fn write_private(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = tempfile::Builder::new()
        .prefix(".labtrail-setup")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    crate::secrets::tighten(path)
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
        // Invitations make repositories from a template and add collaborators (issue 25).
        assert_eq!(m["default_permissions"]["administration"], "write");
        assert_eq!(
            m["default_events"],
            serde_json::json!(["push", "check_run"])
        );
        // The web view's sign-in: its callback, and reading org and team memberships.
        assert_eq!(
            m["callback_urls"],
            serde_json::json!(["https://labtrail.example.edu/login/callback"])
        );
        assert_eq!(m["default_permissions"]["members"], "read");
    }

    #[test]
    fn merging_keeps_other_keys_and_replaces_ours_with_their_multiline_values() {
        let existing = "# mine\nDATABASE_URL=postgres://x/y\nGITHUB_APP_ID=1\nexport GITHUB_PRIVATE_KEY=\"-----BEGIN\nabc\n-----END\"\nRUST_LOG=info\n";
        let merged = merge_env(existing, &[("GITHUB_APP_ID", "2".into())], "new");
        assert_eq!(
            merged,
            "# mine\nDATABASE_URL=postgres://x/y\nRUST_LOG=info\n\n# new\nGITHUB_APP_ID=2\n"
        );
    }

    #[test]
    fn local_and_plain_http_public_urls_are_warned_about() {
        let w = |u: &str| public_url_warnings(&url::Url::parse(u).unwrap()).len();
        assert_eq!(w("https://labtrail.example.edu"), 0);
        assert_eq!(w("http://labtrail.example.edu"), 1);
        assert_eq!(w("https://localhost:3000"), 1);
        assert_eq!(w("http://127.0.0.1:3000"), 2);
    }
}
