//! What the fake GitHub knows: installations and their repositories, tokens, check runs, webhook
//! deliveries, rate-limit quotas, injected faults and every request it saw. One `State` behind a mutex,
//! shared by every mounted endpoint.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::Value;
use wiremock::ResponseTemplate;

/// The state every endpoint of one fake shares.
pub(super) type Shared = Arc<Mutex<State>>;

/// The endpoints the fake answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// `POST /app/installations/{id}/access_tokens` (App JWT).
    Token,
    Compare,
    Commit,
    Tree,
    ListCheckRuns,
    CreateCheckRun,
    /// `PATCH /repos/{o}/{r}/check-runs/{id}`.
    UpdateCheckRun,
    /// `GET /app/hook/deliveries` (App JWT).
    ListDeliveries,
    /// `POST /app/hook/deliveries/{id}/attempts` (App JWT).
    Redeliver,
    /// `GET /app/installations/{id}` (App JWT).
    GetInstallation,
    /// `GET /app/installations` (App JWT).
    ListInstallations,
    /// `GET /app` (App JWT).
    GetApp,
    /// `GET /app/hook/config` (App JWT).
    HookConfig,
    /// `POST /app-manifests/{code}/conversions` (no authentication: the code is the credential).
    ConvertManifest,
    /// `GET /repos/{o}/{r}`.
    GetRepo,
    /// `POST /repos/{template_owner}/{template_repo}/generate`.
    GenerateRepo,
    /// `PUT /repos/{o}/{r}/collaborators/{username}`.
    AddCollaborator,
    Other,
}

/// One attempt to deliver an event to the App's webhook, as GitHub records it.
#[derive(Debug, Clone)]
pub struct HookAttempt {
    pub guid: String,
    pub event: String,
    pub action: Option<String>,
    /// What our endpoint answered; 0 when GitHub could not connect.
    pub status_code: u16,
    pub delivered_at: DateTime<Utc>,
    pub redelivery: bool,
    pub installation_id: Option<i64>,
    pub repository_id: Option<i64>,
    /// The body GitHub sends again when asked to redeliver (with a hook target set).
    pub payload: Option<Vec<u8>>,
}

impl HookAttempt {
    /// A first attempt of `event` `guid` that got `status_code`, `minutes_ago`.
    pub fn new(guid: &str, event: &str, status_code: u16, minutes_ago: i64) -> Self {
        Self {
            guid: guid.to_owned(),
            event: event.to_owned(),
            action: None,
            status_code,
            delivered_at: Utc::now() - chrono::Duration::minutes(minutes_ago),
            redelivery: false,
            installation_id: Some(7),
            repository_id: Some(500),
            payload: None,
        }
    }

    /// Mark it a redelivery.
    pub fn redelivered(mut self) -> Self {
        self.redelivery = true;
        self
    }
}

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub route: Route,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// The bearer token used (not for the App's routes, which use the JWT).
    pub token: Option<String>,
    /// What the fake answered (599 for an injected fault).
    pub status: u16,
}

/// A check run as stored by the fake.
#[derive(Debug, Clone)]
pub struct CheckRun {
    pub id: i64,
    pub repo: String,
    pub head_sha: String,
    pub name: String,
    pub external_id: Option<String>,
    pub conclusion: Option<String>,
    pub title: String,
    pub summary: String,
    /// The App that created it.
    pub app_id: u64,
    /// Where "Details" links to.
    pub details_url: Option<String>,
}

impl CheckRun {
    /// Run `id` of App `app_id` on (repository, head SHA, name), completed with `success`: no external
    /// id, title, summary or Details link.
    pub fn succeeded(id: i64, (repo, sha, name): (&str, &str, &str), app_id: u64) -> Self {
        Self {
            id,
            repo: repo.to_owned(),
            head_sha: sha.to_owned(),
            name: name.to_owned(),
            external_id: None,
            conclusion: Some("success".into()),
            title: String::new(),
            summary: String::new(),
            app_id,
            details_url: None,
        }
    }
}

/// An installation access token.
#[derive(Debug, Clone)]
pub(super) struct Token {
    pub installation_id: i64,
    pub expires_at: DateTime<Utc>,
    pub uses: u32,
}

/// An answer given instead of the real one.
pub(super) struct Fault {
    pub route: Route,
    pub remaining: Option<usize>,
    pub response: ResponseTemplate,
}

/// A repository and the installation it is installed on.
#[derive(Debug, Clone)]
pub(super) struct Repo {
    pub full_name: String,
    pub id: i64,
    pub dir: PathBuf,
    pub installation: i64,
}

/// Whose quota a request spends: an installation's (its token) or the App's own (its JWT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Bucket {
    App,
    Installation(i64),
}

/// A primary rate limit: `limit` requests per `window`, counted from `reset_at - window`.
#[derive(Debug, Clone)]
pub(super) struct Quota {
    pub limit: u32,
    pub used: u32,
    pub window: chrono::Duration,
    pub reset_at: DateTime<Utc>,
}

impl Quota {
    pub fn new(limit: u32, window: chrono::Duration) -> Self {
        Self {
            limit,
            used: 0,
            window,
            reset_at: Utc::now() + window,
        }
    }
}

pub(super) struct State {
    pub seen: Vec<Seen>,
    /// full name (as given) → repository
    pub repos: Vec<Repo>,
    pub tokens: HashMap<String, Token>,
    pub token_lifetime: chrono::Duration,
    /// A token answers 401 after this many uses (it "expired" early, as a revoked one does).
    pub token_uses: Option<u32>,
    pub check_runs: Vec<CheckRun>,
    pub faults: VecDeque<Fault>,
    pub commit_files: HashMap<String, Vec<Value>>,
    pub public_key: jsonwebtoken::DecodingKey,
    /// `http://127.0.0.1:port`, for the URLs in `Link` headers and bodies.
    pub origin: String,
    /// The App webhook's delivery attempts with their ids, newest first.
    pub hook_attempts: Vec<(i64, HookAttempt)>,
    pub next_attempt_id: i64,
    /// Most deliveries on one page, whatever `per_page` asks (GitHub: 100).
    pub delivery_page_cap: usize,
    /// Where redeliveries go, signed with this secret; `None`: requests are recorded only.
    pub hook_target: Option<(String, String)>,
    /// Installations GitHub knows, with their `suspended_at`; others answer 404 (deleted).
    pub installations: HashMap<i64, Option<DateTime<Utc>>>,
    /// Primary rate limits; a bucket without one has GitHub's 5000 an hour.
    pub quotas: HashMap<Bucket, Quota>,
    /// Most entries of a recursive tree before it is truncated (GitHub: 100,000).
    pub tree_limit: usize,
    /// The App webhook's configuration: `url` and `content_type` (`GET /app/hook/config`).
    pub hook_config: (String, String),
    /// Manifest codes GitHub handed out and the App each converts to; a code converts once.
    pub manifest_codes: HashMap<String, Value>,
    /// Run once when a manifest code is converted (after GitHub created the App, before it answers).
    pub on_conversion: Option<Box<dyn FnOnce() + Send>>,
    /// The JSON body of the answer being made (see `reply`), for its schema check.
    pub answered: Option<Value>,
    /// Requests GitHub would refuse and answers GitHub would not give (schema breaches), as found.
    pub violations: Vec<String>,
    /// Template repositories (lower-case full names).
    pub templates: std::collections::HashSet<String>,
    /// Generated repositories (lower-case full name) → their template's full name.
    pub generated_from: HashMap<String, String>,
    /// Repositories' visibility (lower-case full name → private); unlisted ones are private.
    pub private: HashMap<String, bool>,
    /// `(repository, login, permission)` of collaborators added (lower-case repository).
    pub collaborators: Vec<(String, String, String)>,
    /// Installations' permissions other than the default ([`State::permissions_of`]).
    pub permissions: HashMap<i64, Value>,
    /// The id of the last repository generated.
    pub next_repo_id: i64,
}

impl State {
    pub fn new(public_key: jsonwebtoken::DecodingKey) -> Self {
        Self {
            seen: Vec::new(),
            repos: Vec::new(),
            tokens: HashMap::new(),
            token_lifetime: chrono::Duration::hours(1),
            token_uses: None,
            check_runs: Vec::new(),
            faults: VecDeque::new(),
            commit_files: HashMap::new(),
            public_key,
            origin: String::new(),
            hook_attempts: Vec::new(),
            next_attempt_id: 90_000,
            delivery_page_cap: 100,
            hook_target: None,
            installations: HashMap::new(),
            quotas: HashMap::new(),
            tree_limit: 100_000,
            hook_config: (
                "https://labtrail.example.edu/webhooks/github".into(),
                "json".into(),
            ),
            manifest_codes: HashMap::new(),
            on_conversion: None,
            answered: None,
            violations: Vec::new(),
            templates: std::collections::HashSet::new(),
            generated_from: HashMap::new(),
            private: HashMap::new(),
            collaborators: Vec::new(),
            permissions: HashMap::new(),
            next_repo_id: 80_000,
        }
    }

    /// The permissions of `installation`: by default what the App's manifest asks for.
    pub fn permissions_of(&self, installation: i64) -> Value {
        self.permissions.get(&installation).cloned().unwrap_or_else(|| {
            serde_json::json!({
                "administration": "write", "checks": "write", "contents": "read", "metadata": "read",
            })
        })
    }

    /// The repository a `/repos/{owner}/{name}/…` or `/repositories/{id}/…` path (under the API prefix)
    /// names, whatever installation it is on.
    pub fn repo_of(&self, api_path: &str) -> Option<&Repo> {
        let parts: Vec<&str> = api_path.trim_start_matches('/').split('/').collect();
        match parts.as_slice() {
            ["repos", owner, name, ..] => {
                let full = format!("{owner}/{name}");
                self.repos
                    .iter()
                    .find(|r| r.full_name.eq_ignore_ascii_case(&full))
            }
            ["repositories", id, ..] => {
                let id: i64 = id.parse().ok()?;
                self.repos.iter().find(|r| r.id == id)
            }
            _ => None,
        }
    }

    /// Record a delivery attempt; returns its id.
    pub fn add_attempt(&mut self, attempt: HookAttempt) -> i64 {
        self.next_attempt_id += 1;
        let id = self.next_attempt_id;
        self.hook_attempts.push((id, attempt));
        // Newest first, as GitHub lists them.
        self.hook_attempts
            .sort_by_key(|(i, a)| std::cmp::Reverse((a.delivered_at, *i)));
        id
    }

    /// The answer injected for `route`, if any; counts it down.
    pub fn take_fault(&mut self, route: Route) -> Option<ResponseTemplate> {
        let i = self.faults.iter().position(|f| f.route == route)?;
        let f = &mut self.faults[i];
        let response = f.response.clone();
        match &mut f.remaining {
            Some(1) => {
                self.faults.remove(i);
            }
            Some(n) => *n -= 1,
            None => {}
        }
        Some(response)
    }
}
