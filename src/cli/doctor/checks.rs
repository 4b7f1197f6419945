//! `labtrail doctor`: the operator's self-check. Each check reads (the database, the key file, GitHub's view
//! of the App) and says ✓ or ✗ with the fix; nothing is created or changed (docs/design.md §7).

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait};
use serde::Deserialize;

use crate::audit::checkpoint::{self, AuditKey};
use crate::audit::witness::Witness;
use crate::audit::AuditError;
use crate::db;
use crate::github::{deliveries, GithubApp, GithubAppConfig, GithubError};

/// One check's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckOutcome {
    Pass,
    /// A problem, and how to fix it.
    Fail {
        fix: String,
    },
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was found.
    pub finding: String,
    pub outcome: CheckOutcome,
}

impl Check {
    fn pass(finding: impl Into<String>) -> Self {
        Self {
            finding: finding.into(),
            outcome: CheckOutcome::Pass,
        }
    }

    fn fail(finding: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            finding: finding.into(),
            outcome: CheckOutcome::Fail { fix: fix.into() },
        }
    }

    pub fn passed(&self) -> bool {
        self.outcome == CheckOutcome::Pass
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.outcome {
            CheckOutcome::Pass => write!(f, "✓ {}", self.finding),
            CheckOutcome::Fail { fix } => write!(f, "✗ {} — fix: {fix}", self.finding),
        }
    }
}

/// The GitHub App settings as configured: absent, unusable (why), or usable.
#[derive(Clone)]
pub enum GithubSetting {
    NotSet,
    Unusable(String),
    Ready(GithubAppConfig),
}

/// What the checks look at.
pub struct DoctorConfig {
    pub database_url: String,
    pub origin: String,
    pub public_url: url::Url,
    pub audit_key_path: PathBuf,
    pub webhook_secret_set: bool,
    pub github: GithubSetting,
    /// `LABTRAIL_CHECKPOINT_INTERVAL`: a checkpoint older than twice this, with entries it does not cover,
    /// means nobody is signing.
    pub checkpoint_interval: Duration,
    /// `LABTRAIL_WITNESSES`: the witnesses (or why the file is unusable); none when not set.
    pub witnesses: Result<Vec<Witness>, String>,
}

/// Run every check, in order.
pub async fn run(cfg: &DoctorConfig) -> Vec<Check> {
    let mut checks = Vec::new();
    let db = check_database(cfg, &mut checks).await;
    if let Some(db) = &db {
        checks.push(check_origin(db, &cfg.origin).await);
    }
    checks.push(check_audit_key(cfg, db.as_ref()).await);
    if let Some(db) = &db {
        checks.push(check_checkpoint_age(db, cfg.checkpoint_interval).await);
    }
    match (&cfg.witnesses, &db) {
        (Err(why), _) => checks.push(Check::fail(
            format!("the witnesses file (LABTRAIL_WITNESSES) is unusable: {why}"),
            "one `witness <verifier key> <URL>` a line; the key is the witness's (type 0x04)",
        )),
        (Ok(list), Some(db)) => {
            for w in list {
                checks.push(check_witness(db, w, cfg.checkpoint_interval).await);
            }
        }
        (Ok(_), None) => {}
    }
    checks.push(if cfg.webhook_secret_set {
        Check::pass("webhook secret is set (GITHUB_WEBHOOK_SECRET)")
    } else {
        Check::fail(
            "GITHUB_WEBHOOK_SECRET is not set: deliveries are refused (setup mode)",
            "start `labtrail serve` and open the setup link it prints, or set GITHUB_WEBHOOK_SECRET to \
             the App's webhook secret",
        )
    });
    checks.push(check_public_url(&cfg.public_url));
    checks.extend(check_github(cfg).await);
    if let Some(db) = db {
        db.close().await.ok();
    }
    checks
}

/// Reachable and migrated; the connection for the checks that read the database.
async fn check_database(cfg: &DoctorConfig, checks: &mut Vec<Check>) -> Option<DatabaseConnection> {
    if let Some(path) = db::sqlite_path(&cfg.database_url).filter(|p| !p.exists()) {
        checks.push(Check::fail(
            format!(
                "database {} does not exist (nothing was created)",
                path.display()
            ),
            "check DATABASE_URL and the working directory, or create it with `labtrail migrate`",
        ));
        return None;
    }
    let db = match db::connect_read_only(&cfg.database_url).await {
        Ok(db) => db,
        Err(e) => {
            checks.push(Check::fail(
                format!("cannot open the database: {e}"),
                "check DATABASE_URL and that the database server is running",
            ));
            return None;
        }
    };
    match db::pending_migrations(&db).await {
        Ok(pending) if pending.is_empty() => {
            let backend = match db.get_database_backend() {
                sea_orm::DbBackend::Postgres => "PostgreSQL",
                sea_orm::DbBackend::Sqlite => "SQLite",
                sea_orm::DbBackend::MySql => "MySQL",
            };
            checks.push(Check::pass(format!(
                "database reachable ({backend}), schema current"
            )));
            Some(db)
        }
        Ok(pending) => {
            checks.push(Check::fail(
                format!(
                    "database reachable, {} migrations pending: {}",
                    pending.len(),
                    pending.join(", ")
                ),
                "run `labtrail migrate` as the role that owns the tables (`labtrail serve` applies them too, when its role may: docs/security.md)",
            ));
            None
        }
        Err(e) => {
            checks.push(Check::fail(
                format!("database reachable, but its schema cannot be read: {e}"),
                "run `labtrail migrate` to create the schema",
            ));
            None
        }
    }
}

async fn check_origin(db: &DatabaseConnection, origin: &str) -> Check {
    match crate::audit::check_origin(db, origin).await {
        Ok(()) => Check::pass(format!("audit origin {origin} matches the log")),
        Err(AuditError::OriginMismatch { stored, configured }) => Check::fail(
            format!("the log's audit origin is {stored}, but this configuration gives {configured}"),
            format!(
                "set LABTRAIL_AUDIT_ORIGIN={stored} (or change LABTRAIL_PUBLIC_URL back); `serve` refuses \
                 to start until they agree"
            ),
        ),
        Err(e) => Check::fail(
            format!("cannot read the audit origin: {e}"),
            "run `labtrail audit verify`",
        ),
    }
}

/// "about 3 h", "12 min", "40 s".
fn ago(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        s if s >= 3600 => format!("{} h", s / 3600),
        s if s >= 60 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// The witness cosigned the newest checkpoint, or that checkpoint is younger than two intervals.
async fn check_witness(db: &DatabaseConnection, w: &Witness, interval: Duration) -> Check {
    let name = &w.verifier.name;
    let fix = format!(
        "check that {} answers POST /add-checkpoint and witnesses this log (its logs file must list \
         our key); the server's log and labtrail_witness_submissions_total say why it failed",
        w.url
    );
    let newest = match checkpoint::latest(db).await {
        Ok(Some(cp)) => cp,
        Ok(None) => return Check::pass(format!("witness {name}: no checkpoint to cosign yet")),
        Err(e) => {
            return Check::fail(
                format!("cannot read the checkpoints: {e}"),
                "check the database",
            )
        }
    };
    if w.verifier.find_in(&newest.note).ok().flatten().is_some() {
        return Check::pass(format!(
            "witness {name} cosigned the newest checkpoint (size {})",
            newest.size
        ));
    }
    let now = chrono::Utc::now();
    let recent = now.signed_duration_since(newest.created_at)
        < chrono::Duration::from_std(interval * 2).unwrap_or_default();
    if recent {
        return Check::pass(format!(
            "witness {name}: the newest checkpoint (size {}) is recent, not cosigned yet",
            newest.size
        ));
    }
    match crate::audit::witness::newest_cosignature(db, &w.verifier).await {
        Ok(Some(c)) => Check::fail(
            format!(
                "witness {name} has not cosigned for {} (newest cosignature: size {})",
                ago(now.signed_duration_since(c.cosigned_at)),
                c.size
            ),
            fix,
        ),
        Ok(None) => Check::fail(format!("witness {name} has never cosigned this log"), fix),
        Err(e) => Check::fail(
            format!("cannot read the cosignatures: {e}"),
            "check the database",
        ),
    }
}

/// Present, private, and the key of the log's newest checkpoint.
async fn check_audit_key(cfg: &DoctorConfig, db: Option<&DatabaseConnection>) -> Check {
    let path = &cfg.audit_key_path;
    let shown = path.display();
    if !path.exists() {
        return Check::fail(
            format!("no audit key at {shown}"),
            "copy the key file of the instance that signed the log's checkpoints to \
             LABTRAIL_AUDIT_KEY_PATH, or (only for a log without checkpoints) run `labtrail audit keygen`",
        );
    }
    if let Some(mode) = wider_than_private(path) {
        return Check::fail(
            format!("audit key {shown} is readable by others (mode {mode:04o})"),
            format!("chmod 600 {shown}"),
        );
    }
    let key = match AuditKey::load(path) {
        Ok(key) => key,
        Err(e) => {
            return Check::fail(
                format!("cannot load the audit key {shown}: {e}"),
                "restore the key file from a backup",
            )
        }
    };
    let newest = match db.map(checkpoint::latest) {
        Some(f) => match f.await {
            Ok(newest) => newest,
            Err(e) => {
                return Check::fail(
                    format!("cannot read the checkpoints: {e}"),
                    "check the database",
                )
            }
        },
        None => return Check::pass(format!("audit key {shown} present, mode 0600")),
    };
    match newest {
        None => Check::pass(format!("audit key {shown} present, mode 0600 (no checkpoint signed yet)")),
        Some(cp) => match checkpoint::open_note(&cp.note, &key.verifier()) {
            Ok(_) => Check::pass(format!(
                "audit key {shown} present, mode 0600, signed the newest checkpoint #{}",
                cp.id
            )),
            Err(_) => Check::fail(
                format!(
                    "audit key {shown} ({}) did not sign the newest checkpoint #{}",
                    key.verifier().to_vkey(),
                    cp.id
                ),
                "use the key file of the instance that signed the checkpoints (LABTRAIL_AUDIT_KEY_PATH); a \
                 new key cannot continue this log",
            ),
        },
    }
}

/// The file's mode when group or others have any right on it.
fn wider_than_private(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// A checkpoint that leaves entries uncovered for more than two intervals means no `serve` is signing.
async fn check_checkpoint_age(db: &DatabaseConnection, interval: Duration) -> Check {
    let head = entity::audit_head::Entity::find_by_id(1).one(db).await;
    let size = match head {
        Ok(Some(h)) => h.size,
        Ok(None) => 0,
        Err(e) => {
            return Check::fail(
                format!("cannot read the audit head: {e}"),
                "check the database",
            )
        }
    };
    let newest = match checkpoint::latest(db).await {
        Ok(n) => n,
        Err(e) => {
            return Check::fail(
                format!("cannot read the checkpoints: {e}"),
                "check the database",
            )
        }
    };
    let limit = chrono::Duration::from_std(interval * 2).unwrap_or(chrono::Duration::MAX);
    let fix = "start `labtrail serve` (it signs a checkpoint every LABTRAIL_CHECKPOINT_INTERVAL when the \
               log grew), or run `labtrail audit checkpoint --write`";
    match newest {
        None if size == 0 => Check::pass("audit log empty: no checkpoint needed yet"),
        None => Check::fail(
            format!("no signed checkpoint covers the log's {size} entries"),
            fix,
        ),
        Some(cp) => {
            let age = Utc::now() - cp.created_at;
            let described = format!(
                "newest checkpoint #{} is {} old and covers {} of {size} entries",
                cp.id,
                human(age),
                cp.size
            );
            if cp.size < size && age > limit {
                Check::fail(
                    format!(
                        "{described} (more than twice the {} s interval)",
                        interval.as_secs()
                    ),
                    fix,
                )
            } else {
                Check::pass(described)
            }
        }
    }
}

fn human(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        7200..=172_799 => format!("{} h", s / 3600),
        _ => format!("{} days", s / 86_400),
    }
}

/// The App as GitHub sees it: credentials, webhook configuration, installations, failed deliveries.
async fn check_github(cfg: &DoctorConfig) -> Vec<Check> {
    let app_cfg = match &cfg.github {
        GithubSetting::NotSet => {
            return vec![Check::fail(
            "GitHub App credentials are not set (GITHUB_APP_ID and a private key)",
            "set GITHUB_APP_ID and GITHUB_PRIVATE_KEY_PATH (the setup flow writes both to .env)",
        )]
        }
        GithubSetting::Unusable(why) => {
            return vec![Check::fail(
            format!("GitHub App credentials unusable: {why}"),
            "point GITHUB_PRIVATE_KEY_PATH at the App's private key (App settings → Private keys)",
        )]
        }
        GithubSetting::Ready(c) => c.clone(),
    };
    let api = app_cfg.api_url.to_string();
    let app = match GithubApp::new(app_cfg) {
        Ok(app) => app,
        Err(e) => {
            return vec![Check::fail(
            format!("GitHub App credentials unusable: {e}"),
            "point GITHUB_PRIVATE_KEY_PATH at the App's private key (App settings → Private keys)",
        )]
        }
    };
    let me = match app
        .app_get("/app")
        .await
        .and_then(|r| r.json::<AppInfo>("/app"))
    {
        Ok(me) => me,
        Err(e @ GithubError::Status { status: 401, .. }) => {
            return vec![Check::fail(
            format!("GitHub refused the App's credentials at {api}: {e}"),
            "check GITHUB_APP_ID and that the private key is one of the App's current keys (App \
                 settings → Private keys)",
        )]
        }
        Err(e @ (GithubError::Transport { .. } | GithubError::ApiUrl { .. })) => {
            return vec![Check::fail(
                format!("cannot reach GitHub at {api}: {e}"),
                "check GITHUB_API_URL and this machine's network access to it",
            )]
        }
        Err(e) => return vec![github_failure("cannot read the App from GitHub", &e)],
    };
    let mut checks = vec![if me.id == app.app_id() {
        Check::pass(format!(
            "GitHub App {} (id {}) authenticated at {api}",
            me.slug.as_deref().unwrap_or("?"),
            me.id
        ))
    } else {
        Check::fail(
            format!(
                "GitHub answered for App {} instead of {}",
                me.id,
                app.app_id()
            ),
            "check GITHUB_APP_ID",
        )
    }];
    checks.push(check_hook_config(&app, &cfg.public_url).await);
    checks.extend(check_installations(&app, me.html_url.as_deref()).await);
    checks.push(check_deliveries(&app).await);
    checks
}

#[derive(Deserialize)]
struct AppInfo {
    id: u64,
    slug: Option<String>,
    html_url: Option<String>,
}

#[derive(Deserialize)]
struct HookConfig {
    url: Option<String>,
    content_type: Option<String>,
}

/// GitHub must reach the webhook URL, over TLS: a local or `http://` public URL gets no push.
fn check_public_url(public_url: &url::Url) -> Check {
    let hook = webhook_url(public_url);
    let problems = crate::github::app_setup::public_url_warnings(public_url);
    if problems.is_empty() {
        return Check::pass(format!("the webhook URL {hook} is public and https"));
    }
    let local = public_url.host().is_none() || problems.iter().any(|p| p.contains("is local"));
    let what = match (local, public_url.scheme() == "https") {
        (true, true) => "local: GitHub cannot reach it, no push will be delivered",
        (true, false) => "local and http://: GitHub cannot reach it, no push will be delivered",
        (false, _) => "http://: deliveries would travel unencrypted",
    };
    Check::fail(
        format!("the webhook URL {hook} is {what} (LABTRAIL_PUBLIC_URL)"),
        "put the server behind a tunnel (`cloudflared tunnel --url http://127.0.0.1:3000`, `ngrok http 3000`) \
         or a reverse proxy with TLS (docs/security.md), set LABTRAIL_PUBLIC_URL to its https:// URL, and the \
         App's webhook URL to <that URL>/webhooks/github",
    )
}

/// Where this server takes deliveries: `<public URL>/webhooks/github`.
pub fn webhook_url(public_url: &url::Url) -> String {
    format!(
        "{}/webhooks/github",
        public_url.as_str().trim_end_matches('/')
    )
}

async fn check_hook_config(app: &GithubApp, public_url: &url::Url) -> Check {
    let path = "/app/hook/config";
    let config = match app
        .app_get(path)
        .await
        .and_then(|r| r.json::<HookConfig>(path))
    {
        Ok(c) => c,
        Err(e) => return github_failure("cannot read the App's webhook configuration", &e),
    };
    let want = webhook_url(public_url);
    let url = config.url.unwrap_or_default();
    let content_type = config.content_type.unwrap_or_default();
    if url != want {
        return Check::fail(
            format!("GitHub delivers to {url:?}, but this server takes deliveries at {want}"),
            format!(
                "set the App's webhook URL to {want} (App settings → Webhook), or LABTRAIL_PUBLIC_URL to \
                 the server's public base URL"
            ),
        );
    }
    if content_type != "json" {
        return Check::fail(
            format!("GitHub sends deliveries as {content_type:?}; labtrail reads json"),
            "set the App's webhook content type to application/json (App settings → Webhook)",
        );
    }
    Check::pass(format!("GitHub delivers to {url} as json"))
}

#[derive(Deserialize)]
struct Installation {
    id: i64,
    account: Option<Account>,
    suspended_at: Option<DateTime<Utc>>,
    html_url: Option<String>,
    /// What the account granted (`{"administration": "write", …}`).
    #[serde(default)]
    permissions: std::collections::HashMap<String, String>,
}

/// The permissions labtrail needs of an installation, and the access each needs at least (`write`
/// includes `read`): check runs, file lists, and invitations (repositories from a template and their
/// collaborators).
const NEEDED: &[(&str, &str)] = &[
    ("checks", "write"),
    ("contents", "read"),
    ("metadata", "read"),
    ("administration", "write"),
];

/// The permissions `i` lacks, as `name: access` (`none` when not granted at all).
fn missing_permissions(i: &Installation) -> Vec<String> {
    NEEDED
        .iter()
        .filter(|(name, need)| {
            let has = i.permissions.get(*name).map(String::as_str);
            !matches!((has, *need), (Some("write"), _) | (Some("read"), "read"))
        })
        .map(|(name, need)| {
            let has = i.permissions.get(*name).map_or("none", String::as_str);
            format!("{name}: {need} (has {has})")
        })
        .collect()
}

/// Each active installation grants what labtrail needs; the missing permission is named.
fn check_permissions(all: &[Installation]) -> Check {
    let lacking: Vec<String> = all
        .iter()
        .filter(|i| i.suspended_at.is_none())
        .filter_map(|i| {
            let missing = missing_permissions(i);
            (!missing.is_empty()).then(|| {
                let who = i.account.as_ref().map_or("?", |a| a.login.as_str());
                format!("{who} ({}) lacks {}", i.id, missing.join(", "))
            })
        })
        .collect();
    if lacking.is_empty() {
        return Check::pass(
            "installations grant checks: write, contents: read, metadata: read, administration: write",
        );
    }
    Check::fail(
        format!("installation permissions: {}", lacking.join("; ")),
        "add the permission in the App's settings (Permissions & events; app-manifest.json lists them),          then accept the new permissions in each account's installation settings",
    )
}

#[derive(Deserialize)]
struct Account {
    login: String,
}

/// The App's installations (at most 10 pages: 1,000).
async fn list_installations(app: &GithubApp) -> Result<Vec<Installation>, GithubError> {
    let mut all: Vec<Installation> = Vec::new();
    let mut next = Some("/app/installations?per_page=100".to_owned());
    // At most 10 pages: 1,000 installations.
    for _ in 0..10 {
        let Some(path) = next.take() else { break };
        let page = app.app_get(&path).await.and_then(|r| {
            let page: Vec<Installation> = r.json(&path)?;
            Ok((page, app.next_page(&r)?))
        });
        let (page, more) = page?;
        all.extend(page);
        next = more;
    }
    Ok(all)
}

/// The installations' checks: where the App is installed and not suspended, and what it may do there.
async fn check_installations(app: &GithubApp, app_html_url: Option<&str>) -> Vec<Check> {
    match list_installations(app).await {
        Ok(all) => vec![check_installed(&all, app_html_url), check_permissions(&all)],
        Err(e) => vec![github_failure("cannot list the App's installations", &e)],
    }
}

fn check_installed(all: &[Installation], app_html_url: Option<&str>) -> Check {
    let name = |i: &Installation| {
        format!(
            "{} ({})",
            i.account.as_ref().map_or("?", |a| a.login.as_str()),
            i.id
        )
    };
    if all.is_empty() {
        let link = app_html_url
            .map(|u| format!("{}/installations/new", u.trim_end_matches('/')))
            .unwrap_or_else(|| "the App's public page".into());
        return Check::fail(
            "the App is not installed on any account: no push will be delivered",
            format!("install it on the course organisation: {link}"),
        );
    }
    let suspended: Vec<&Installation> = all.iter().filter(|i| i.suspended_at.is_some()).collect();
    if suspended.is_empty() {
        let names: Vec<String> = all.iter().map(name).collect();
        return Check::pass(format!("installed on {}: {}", all.len(), names.join(", ")));
    }
    let names: Vec<String> = suspended
        .iter()
        .map(|i| {
            format!(
                "{} since {}",
                name(i),
                i.suspended_at.map(|t| t.to_rfc3339()).unwrap_or_default()
            )
        })
        .collect();
    let places: Vec<&str> = suspended
        .iter()
        .filter_map(|i| i.html_url.as_deref())
        .collect();
    Check::fail(
        format!(
            "{} of {} installations suspended (their pushes are not delivered): {}",
            suspended.len(),
            all.len(),
            names.join(", ")
        ),
        format!(
            "unsuspend them in the account's settings: {}",
            places.join(" ")
        ),
    )
}

/// Deliveries GitHub could not deliver in the last 24 hours (`status` not `OK`), the newest named.
async fn check_deliveries(app: &GithubApp) -> Check {
    let since = Utc::now() - chrono::Duration::hours(24);
    let listing = match deliveries::list_since(app, since, 20).await {
        Ok(l) => l,
        Err(e) => return github_failure("cannot list the App's recent deliveries", &e),
    };
    let failed: Vec<&deliveries::HookDelivery> = listing
        .deliveries
        .iter()
        .filter(|d| d.status != "OK")
        .collect();
    let Some(newest) = failed.first() else {
        return Check::pass(match listing.deliveries.len() {
            0 => "GitHub sent no delivery in the last 24 h".to_owned(),
            1 => "GitHub delivered the 1 delivery of the last 24 h".to_owned(),
            n => format!("GitHub delivered all {n} deliveries of the last 24 h"),
        });
    };
    let undelivered = {
        let mut guids: Vec<&str> = failed
            .iter()
            .map(|d| d.guid.as_str())
            .filter(|g| {
                !listing
                    .deliveries
                    .iter()
                    .any(|d| d.guid == *g && d.status == "OK")
            })
            .collect();
        guids.sort_unstable();
        guids.dedup();
        guids.len()
    };
    Check::fail(
        format!(
            "GitHub could not deliver {} of {} in the last 24 h ({} still undelivered); newest: {} {} at \
             {}: {}",
            failed.len(),
            crate::report::plural(listing.deliveries.len() as u64, "delivery", "deliveries"),
            crate::report::plural(undelivered as u64, "event", "events"),
            newest.event,
            newest.guid,
            newest.delivered_at.to_rfc3339(),
            newest.status
        ),
        "make sure GitHub reaches the webhook URL (public URL, TLS, reverse proxy) and that `labtrail serve` \
         runs; then `labtrail redeliver` asks GitHub to send them again",
    )
}

fn github_failure(what: &str, e: &GithubError) -> Check {
    Check::fail(
        format!("{what}: {e}"),
        "check the App's permissions and GITHUB_API_URL; try again if GitHub is unavailable",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_carry_their_mark_and_fix() {
        assert_eq!(Check::pass("fine").to_string(), "✓ fine");
        assert_eq!(
            Check::fail("broken", "mend it").to_string(),
            "✗ broken — fix: mend it"
        );
    }

    #[test]
    fn a_missing_or_weaker_permission_is_named() {
        let with = |p: &[(&str, &str)]| Installation {
            id: 7,
            account: None,
            suspended_at: None,
            html_url: None,
            permissions: p
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        let all = [
            ("checks", "write"),
            ("contents", "write"),
            ("metadata", "read"),
            ("administration", "write"),
        ];
        assert!(missing_permissions(&with(&all)).is_empty());
        let weaker = with(&[
            ("checks", "write"),
            ("contents", "read"),
            ("administration", "read"),
        ]);
        assert_eq!(
            missing_permissions(&weaker),
            vec![
                "metadata: read (has none)".to_owned(),
                "administration: write (has read)".to_owned()
            ]
        );
    }

    #[test]
    fn the_webhook_url_is_under_the_public_url() {
        let u = |s: &str| webhook_url(&url::Url::parse(s).unwrap());
        assert_eq!(u("https://a.example/"), "https://a.example/webhooks/github");
        assert_eq!(
            u("https://a.example/lt/"),
            "https://a.example/lt/webhooks/github"
        );
    }
}
