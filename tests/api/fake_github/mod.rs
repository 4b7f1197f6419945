//! A fake GitHub REST API (wiremock) backed by real git repositories built with `git fast-import`, as
//! strict as GitHub where labtrail depends on it:
//! - [`app`]: App JWTs, installations and their access tokens (only for installations that exist, valid
//!   only for their own repositories);
//! - [`git_data`]: compare, commit and tree calls (Link pagination, the 300/3000 file caps, `recursive`
//!   and truncated trees);
//! - [`checks`]: check runs (the list honours `check_name`, `filter`, `app_id` and paginates);
//! - [`deliveries`]: the App webhook's configuration, deliveries (cursor pages) and redeliveries;
//! - [`manifests`]: the App manifest flow's code exchange (one use per code);
//! - [`oauth`]: the OAuth web flow and a user token's user and membership reads (the web view's
//!   sign-in);
//! - [`rate_limit`]: `x-ratelimit-*` headers on every answer, primary limits (403) and GitHub's
//!   secondary-limit answers.
//!
//! [`state`] holds what the endpoints share. Each area lists its endpoints (method and path), mounted
//! with wiremock matchers; one [`Endpoint`] wrapper injects faults, authenticates, spends the rate limit and
//! records every request. Tests can also make it fail on demand. [`repo`] builds the git repositories
//! and the push payloads GitHub would send for them.

#![allow(dead_code)]

mod app;
mod checks;
mod conformance;
mod deliveries;
mod git_data;
mod manifests;
mod oauth;
mod rate_limit;
mod repo;
#[cfg(test)]
mod schema;
mod shapes;
mod state;
mod templates;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::json;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub use rate_limit::{rate_limited, secondary_rate_limited};
pub use repo::{git, push_from_git, Cut, GitRepo, Op, PushSpec};
pub use state::{CheckRun, HookAttempt, Route, Seen};

use state::{Bucket, Fault, Quota, Repo, Shared, State};

/// The App id the fake knows.
pub const APP_ID: u64 = 4242;
/// Where the REST API lives under the fake's address, as on GitHub Enterprise Server.
pub const API_PREFIX: &str = "/api/v3";

/// The test-only App key (PEM).
pub fn app_key_pem() -> String {
    String::from_utf8(crate::helpers::fixture("test-only-github-app-key.pem")).expect("pem")
}

/// GitHub's plain error answer.
pub fn server_error() -> ResponseTemplate {
    ResponseTemplate::new(500).set_body_json(json!({ "message": "Server Error" }))
}

/// A status and the answer carrying it.
type Answer = (u16, ResponseTemplate);

fn message(status: u16, msg: &str) -> Answer {
    (
        status,
        ResponseTemplate::new(status).set_body_json(json!({
            "message": msg,
            "documentation_url": "https://docs.github.com/rest",
        })),
    )
}

fn not_found() -> Answer {
    message(404, "Not Found")
}

/// A JSON answer of `status`, noted so that the fake's own answer can be checked against GitHub's schema
/// (every `2xx` answer must be made with it).
fn reply(st: &mut State, status: u16, body: serde_json::Value) -> ResponseTemplate {
    let template = ResponseTemplate::new(status).set_body_json(&body);
    st.answered = Some(body);
    template
}

/// How an endpoint authenticates its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    /// The App's JWT.
    App,
    /// An installation token, for a repository of that installation.
    Repo,
    /// No credentials needed (the manifest conversion: its code is the credential); no rate limit.
    Public,
    /// Nothing (the catch-all).
    None,
}

/// One authenticated request, as an endpoint's answer function sees it.
struct Call<'a> {
    req: &'a Request,
    /// The path after [`API_PREFIX`], percent-decoded.
    path: String,
    query: HashMap<String, String>,
    /// For [`Auth::Repo`]: the repository named by the path.
    repo: Option<Repo>,
}

impl Call<'_> {
    fn repo(&self) -> &Repo {
        self.repo.as_ref().expect("a repository route")
    }

    /// The path segment after `key` (`"/commits/"` → the SHA).
    fn segment_after(&self, key: &str) -> &str {
        self.path
            .split(key)
            .nth(1)
            .unwrap_or("")
            .split('/')
            .next()
            .unwrap_or("")
    }

    /// The last path segment as a number.
    fn last_id(&self) -> Option<i64> {
        self.path.rsplit('/').next().and_then(|s| s.parse().ok())
    }

    /// `…/repositories/{id}` of the repository, for `Link` URLs.
    fn repo_base(&self, st: &State) -> String {
        format!("{}{API_PREFIX}/repositories/{}", st.origin, self.repo().id)
    }
}

/// What an endpoint answers to a call.
type Answerer = fn(&mut State, &Call<'_>) -> Answer;

/// An endpoint an area serves: its route, method, path (a regex, after the prefix) and answer.
type Served = (Route, &'static str, String, Answerer);

/// The endpoint `route`, answering `method` requests to `path` with `answer`.
fn serve(route: Route, method: &'static str, path: impl Into<String>, answer: Answerer) -> Served {
    (route, method, path.into(), answer)
}

/// One mounted endpoint: fault injection, authentication, the rate limit and the request log around
/// its answer function.
struct Endpoint {
    state: Shared,
    route: Route,
    auth: Auth,
    answer: Answerer,
}

impl Endpoint {
    fn new(state: &Shared, route: Route, auth: Auth, answer: Answerer) -> Self {
        Self {
            state: Arc::clone(state),
            route,
            auth,
            answer,
        }
    }

    /// Mount it for `method` requests whose path (after the prefix) matches `path_regex`.
    async fn mount(self, server: &MockServer, method: &str, path_regex: &str) {
        Mock::given(wiremock::matchers::method(method))
            .and(wiremock::matchers::path_regex(format!(
                "^{API_PREFIX}{path_regex}$"
            )))
            .respond_with(self)
            .mount(server)
            .await;
    }

    fn authenticated(&self, st: &mut State, req: &Request, token: Option<&str>) -> Answer {
        let path = req.url.path();
        let path = path.strip_prefix(API_PREFIX).unwrap_or(path);
        let path = percent_decode(path);
        let mut call = Call {
            req,
            path,
            query: req
                .url
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
            repo: None,
        };
        let bucket = match self.auth {
            Auth::None => return not_found(),
            Auth::Public => return self.answer_checked(st, &call),
            Auth::App => {
                if let Err(refusal) = app::verify_jwt(st, token) {
                    return message(401, &refusal);
                }
                Bucket::App
            }
            Auth::Repo => {
                let Some(installation) = app::authorize(st, token) else {
                    return message(401, "Bad credentials");
                };
                // A token sees only its own installation's repositories; any other is "not found".
                match st.repo_of(&call.path) {
                    Some(r) if r.installation == installation => call.repo = Some(r.clone()),
                    _ => return not_found(),
                }
                Bucket::Installation(installation)
            }
        };
        if let Some(limited) = rate_limit::spend(st, bucket) {
            return limited;
        }
        let (status, response) = self.answer_checked(st, &call);
        (status, rate_limit::headers(st, bucket, response))
    }

    /// The answer, held to GitHub's OpenAPI description: a request body GitHub would refuse gets its
    /// `422`, an answer of the fake's that breaks the response schema a `500`; both are noted as
    /// violations (the test fails when the fake is dropped).
    fn answer_checked(&self, st: &mut State, call: &Call<'_>) -> Answer {
        let op = conformance::operation(self.route);
        if let Some(op) = op.filter(|op| conformance::has_request_schema(op)) {
            let checked = match call.req.body_json::<serde_json::Value>() {
                Ok(body) => conformance::check_request(op, &body),
                Err(e) => Err(format!("{op}: the request body is not JSON: {e}")),
            };
            if let Err(e) = checked {
                eprintln!("fake GitHub: {e}");
                st.violations.push(e.clone());
                return message(422, &format!("Invalid request.\n\n{e}"));
            }
        }
        st.answered = None;
        let (status, response) = (self.answer)(st, call);
        let body = st.answered.take();
        // A `204` has no body to check (`repos/add-collaborator` for a collaborator already).
        if let Some(op) = op.filter(|_| (200..300).contains(&status) && status != 204) {
            if let Err(e) = conformance::check_response(op, status, body.as_ref()) {
                eprintln!("fake GitHub: {e}");
                st.violations.push(e.clone());
                return message(500, &format!("fake GitHub: {e}"));
            }
        }
        (status, response)
    }
}

impl Respond for Endpoint {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut st = self.state.lock().expect("fake state");
        let token = bearer(req);
        let (status, response) = match st.take_fault(self.route) {
            Some(r) => (599, r),
            None => self.authenticated(&mut st, req, token.as_deref()),
        };
        let path = req.url.path().to_owned();
        let job = (self.route == Route::Redeliver && status == 202)
            .then(|| deliveries::redelivery_job(&st, &path))
            .flatten();
        st.seen.push(Seen {
            route: self.route,
            method: req.method.to_string(),
            path,
            query: req.url.query().map(str::to_owned),
            // App routes carry the App's JWT, not an installation token.
            token: (self.auth != Auth::App).then_some(token).flatten(),
            status,
        });
        drop(st);
        if let Some(job) = job {
            // GitHub redelivers after answering 202, from elsewhere.
            tokio::spawn(deliveries::redeliver_to_target(
                Arc::clone(&self.state),
                job,
            ));
        }
        response
    }
}

fn bearer(req: &Request) -> Option<String> {
    let v = req.headers.get("authorization")?.to_str().ok()?;
    v.strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("token "))
        .map(str::to_owned)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = (b[i] == b'%' && i + 2 < b.len())
            .then(|| std::str::from_utf8(&b[i + 1..i + 3]).ok())
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `per_page` (default `default`, at most `max`) and `page` (from 1).
fn page_params(q: &HashMap<String, String>, default: usize, max: usize) -> (usize, usize) {
    let per = q
        .get("per_page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
        .clamp(1, max);
    let page = q
        .get("page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1usize)
        .max(1);
    (per, page)
}

/// GitHub's `Link` header for page `page` of `last`: `next` and `last` while there are more.
fn link(url: &str, extra: &str, page: usize, last: usize) -> Option<String> {
    (page < last).then(|| {
        format!(
            "<{url}?{extra}page={}>; rel=\"next\", <{url}?{extra}page={last}>; rel=\"last\"",
            page + 1
        )
    })
}

fn with_link(t: ResponseTemplate, link: Option<String>) -> ResponseTemplate {
    match link {
        Some(l) => t.insert_header("link", l.as_str()),
        None => t,
    }
}

/// The running fake.
pub struct FakeGithub {
    pub server: MockServer,
    state: Shared,
    oauth: oauth::SharedOauth,
}

impl FakeGithub {
    /// Start a fake that knows the test-only App key.
    pub async fn start() -> Self {
        let public = crate::helpers::fixture("test-only-github-app-key.pub.pem");
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(&public).expect("public key");
        let state: Shared = Arc::new(Mutex::new(State::new(key)));
        let server = MockServer::start().await;
        state.lock().expect("fake state").origin = server.uri();
        for (auth, endpoints) in [
            (Auth::App, app::endpoints()),
            (Auth::Repo, git_data::endpoints()),
            (Auth::Repo, checks::endpoints()),
            (Auth::Repo, templates::endpoints()),
            (Auth::App, deliveries::endpoints()),
            (Auth::Public, manifests::endpoints()),
        ] {
            for (route, method, path, answer) in endpoints {
                Endpoint::new(&state, route, auth, answer)
                    .mount(&server, method, &path)
                    .await;
            }
        }
        let oauth: oauth::SharedOauth = Arc::default();
        oauth::mount_all(&server, &oauth).await;
        // Anything else: recorded, and 404 as GitHub answers an unknown route.
        Mock::given(wiremock::matchers::any())
            .respond_with(Endpoint::new(&state, Route::Other, Auth::None, |_, _| {
                not_found()
            }))
            .with_priority(u8::MAX)
            .mount(&server)
            .await;
        Self {
            server,
            state,
            oauth,
        }
    }

    /// GitHub's web (`GITHUB_WEB_URL`): the OAuth pages live at its root.
    pub fn web_url(&self) -> String {
        self.server.uri()
    }

    fn oauth(&self) -> std::sync::MutexGuard<'_, oauth::OauthState> {
        self.oauth.lock().expect("oauth state")
    }

    /// The App's OAuth client and its callback URL.
    pub fn set_oauth_client(&self, client_id: &str, secret: &str, callback: &str) {
        self.oauth().client = Some((client_id.into(), secret.into(), callback.into()));
    }

    /// A GitHub user, signed in to GitHub in the (test's) browser from now on.
    pub fn sign_in_browser(&self, id: i64, login: &str) {
        let mut st = self.oauth();
        if !st.users.iter().any(|u| u.login == login) {
            st.users.push(oauth::User {
                id,
                login: login.into(),
            });
        }
        st.browser_user = Some(login.into());
    }

    /// `login`'s active membership of `org` with `role` (`admin`: an owner; `member`).
    pub fn set_org_role(&self, org: &str, login: &str, role: &str) {
        self.oauth().org_roles.insert(
            (org.to_ascii_lowercase(), login.into()),
            (role.into(), "active".into()),
        );
    }

    /// `login` is an active member of `org/team`.
    pub fn add_team_member(&self, org: &str, team: &str, login: &str) {
        self.oauth().team_roles.insert(
            (
                org.to_ascii_lowercase(),
                team.to_ascii_lowercase(),
                login.into(),
            ),
            ("member".into(), "active".into()),
        );
    }

    /// OAuth and membership requests seen: (method, path).
    pub fn oauth_seen(&self) -> Vec<(String, String)> {
        self.oauth().seen.clone()
    }

    /// `GITHUB_API_URL` for the app.
    pub fn api_url(&self) -> String {
        format!("{}{API_PREFIX}", self.server.uri())
    }

    fn st(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("fake state")
    }

    /// Serve `full_name` (with `id`), installed on `installation`, from the git repository at `dir`.
    pub fn add_repo(&self, installation: i64, full_name: &str, id: i64, dir: &Path) {
        let mut st = self.st();
        st.installations.entry(installation).or_insert(None);
        st.repos
            .retain(|r| !r.full_name.eq_ignore_ascii_case(full_name));
        st.repos.push(Repo {
            full_name: full_name.to_owned(),
            id,
            dir: dir.to_owned(),
            installation,
        });
    }

    /// Serve `full_name` (with `id`), installed on `installation`, with no git behind it: check runs on
    /// any SHA.
    pub fn add_repo_without_git(&self, installation: i64, full_name: &str, id: i64) {
        self.add_repo(
            installation,
            full_name,
            id,
            &PathBuf::from("/nonexistent/labtrail-fake"),
        );
    }

    /// `full_name` (with `id`, on `installation`) is a template repository.
    pub fn add_template(&self, installation: i64, full_name: &str, id: i64, dir: &Path) {
        self.add_repo(installation, full_name, id, dir);
        self.st().templates.insert(full_name.to_ascii_lowercase());
    }

    /// `full_name` exists (not generated from a template): a name taken.
    pub fn add_plain_repo(&self, installation: i64, full_name: &str, id: i64) {
        self.add_repo_without_git(installation, full_name, id);
    }

    /// The installation's permissions, as GitHub reports them (`GET /app/installations/{id}`) and
    /// enforces them (generate and collaborators need `administration: write`).
    pub fn set_permissions(&self, installation: i64, permissions: serde_json::Value) {
        self.st().permissions.insert(installation, permissions);
    }

    /// The repositories generated from `template`, by full name.
    pub fn generated_from(&self, template: &str) -> Vec<String> {
        let st = self.st();
        st.repos
            .iter()
            .filter(|r| {
                st.generated_from
                    .get(&r.full_name.to_ascii_lowercase())
                    .is_some_and(|t| t.eq_ignore_ascii_case(template))
            })
            .map(|r| r.full_name.clone())
            .collect()
    }

    /// `(repository, login, permission)` of the collaborators added.
    pub fn collaborators(&self) -> Vec<(String, String, String)> {
        self.st().collaborators.clone()
    }

    /// The id of repository `full_name`, if the fake serves it.
    pub fn repo_id(&self, full_name: &str) -> Option<i64> {
        self.st()
            .repos
            .iter()
            .find(|r| r.full_name.eq_ignore_ascii_case(full_name))
            .map(|r| r.id)
    }

    /// Answer `route` with `response` the next `times` times, before anything else.
    pub fn fail_next(&self, route: Route, times: usize, response: ResponseTemplate) {
        self.st().faults.push_back(Fault {
            route,
            remaining: Some(times),
            response,
        });
    }

    /// Answer `route` with `response` until [`FakeGithub::heal`].
    pub fn fail_always(&self, route: Route, response: ResponseTemplate) {
        self.st().faults.push_back(Fault {
            route,
            remaining: None,
            response,
        });
    }

    /// Say how GitHub sees an installation now (`GET /app/installations/{id}`); it exists from now on.
    pub fn set_installation(&self, id: i64, suspended_at: Option<DateTime<Utc>>) {
        self.st().installations.insert(id, suspended_at);
    }

    /// The installation is deleted: GitHub answers 404 for it, and its tokens stop working.
    pub fn delete_installation(&self, id: i64) {
        let mut st = self.st();
        st.installations.remove(&id);
        st.tokens.retain(|_, t| t.installation_id != id);
    }

    /// GitHub hands out `code` when it created an App from the manifest; converting it answers that App
    /// (with the test-only key), changed by `edit`.
    pub fn add_manifest_code(&self, code: &str, edit: impl FnOnce(&mut serde_json::Value)) {
        let mut st = self.st();
        let mut app = manifests::new_app(&st, APP_ID, &app_key_pem());
        edit(&mut app);
        st.manifest_codes.insert(code.to_owned(), app);
    }

    /// Run `f` when the next manifest code is converted, before GitHub answers.
    pub fn on_conversion(&self, f: impl FnOnce() + Send + 'static) {
        self.st().on_conversion = Some(Box::new(f));
    }

    /// The App webhook's URL and content type as GitHub has them (`GET /app/hook/config`).
    pub fn set_hook_config(&self, url: &str, content_type: &str) {
        self.st().hook_config = (url.to_owned(), content_type.to_owned());
    }

    /// Stop failing.
    pub fn heal(&self) {
        self.st().faults.clear();
    }

    /// New tokens expire this long after they are minted.
    pub fn set_token_lifetime(&self, d: chrono::Duration) {
        self.st().token_lifetime = d;
    }

    /// Tokens stop working (401) after this many uses.
    pub fn set_token_uses(&self, n: Option<u32>) {
        self.st().token_uses = n;
    }

    /// `installation` has used up its hourly 5000 requests; the quota resets `reset_in` from now. Until
    /// then GitHub's primary-limit 403 with `x-ratelimit-remaining: 0`.
    pub fn exhaust_rate_limit(&self, installation: i64, reset_in: chrono::Duration) {
        let mut quota = Quota::new(5000, chrono::Duration::hours(1));
        quota.used = quota.limit;
        quota.reset_at = Utc::now() + reset_in;
        self.st()
            .quotas
            .insert(Bucket::Installation(installation), quota);
    }

    /// A recursive tree is truncated after this many entries (GitHub: 100,000).
    pub fn set_tree_limit(&self, n: usize) {
        self.st().tree_limit = n;
    }

    /// A check run of another App (`app_id`) on `repo`'s `sha`, as another CI would create it.
    pub fn add_foreign_check_run(
        &self,
        repo: &str,
        sha: &str,
        name: &str,
        external_id: &str,
        app_id: u64,
    ) -> i64 {
        self.add_completed_run(|id| CheckRun {
            external_id: Some(external_id.to_owned()),
            title: "elsewhere".into(),
            ..CheckRun::succeeded(id, (repo, sha, name), app_id)
        })
    }

    /// A completed run of another App (GitHub Actions' autograding) whose output summary is `summary`
    /// (the autograding reporter writes `Points 7/10`), as `GET …/commits/{sha}/check-runs` lists it.
    pub fn add_graded_check_run(&self, repo: &str, sha: &str, name: &str, summary: &str) -> i64 {
        self.add_completed_run(|id| CheckRun {
            title: "Autograding".into(),
            summary: summary.to_owned(),
            ..CheckRun::succeeded(id, (repo, sha, name), 15368)
        })
    }

    /// Store the run `run` makes of the next check run id; that id.
    fn add_completed_run(&self, run: impl FnOnce(i64) -> CheckRun) -> i64 {
        let mut st = self.st();
        let id = checks::next_id(&st);
        st.check_runs.push(run(id));
        id
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.st().seen.clone()
    }

    /// Requests to one route.
    pub fn count(&self, route: Route) -> usize {
        self.st().seen.iter().filter(|s| s.route == route).count()
    }

    /// Compare, commit and tree requests: the enrichment's calls.
    pub fn enrichment_calls(&self) -> usize {
        self.st()
            .seen
            .iter()
            .filter(|s| matches!(s.route, Route::Compare | Route::Commit | Route::Tree))
            .count()
    }

    /// This App's check runs (not other Apps').
    pub fn check_runs(&self) -> Vec<CheckRun> {
        self.st()
            .check_runs
            .iter()
            .filter(|r| r.app_id == APP_ID)
            .cloned()
            .collect()
    }

    /// Every check run, other Apps' too.
    pub fn all_check_runs(&self) -> Vec<CheckRun> {
        self.st().check_runs.clone()
    }

    /// Record a delivery attempt of the App's webhook; returns its id.
    pub fn add_hook_attempt(&self, attempt: HookAttempt) -> i64 {
        self.st().add_attempt(attempt)
    }

    /// At most `n` deliveries per page.
    pub fn set_delivery_page_cap(&self, n: usize) {
        self.st().delivery_page_cap = n.max(1);
    }

    /// Redeliver to `url`, signed with `secret`, when asked.
    pub fn set_hook_target(&self, url: &str, secret: &str) {
        self.st().hook_target = Some((url.to_owned(), secret.to_owned()));
    }

    /// The attempt ids of accepted redelivery requests, in order.
    pub fn redelivery_requests(&self) -> Vec<i64> {
        self.st()
            .seen
            .iter()
            .filter(|s| s.route == Route::Redeliver && s.status == 202)
            .filter_map(|s| deliveries::delivery_id_of(&s.path))
            .collect()
    }

    /// Requests GitHub would refuse and answers GitHub would not give, as found by the schema checks.
    pub fn violations(&self) -> Vec<String> {
        let mut v = self
            .state
            .lock()
            .map(|st| st.violations.clone())
            .unwrap_or_default();
        v.extend(
            self.oauth
                .lock()
                .map(|st| st.violations.clone())
                .unwrap_or_default(),
        );
        v
    }

    /// [`Self::violations`], forgotten (for a test of the checks themselves).
    pub fn take_violations(&self) -> Vec<String> {
        let v = self.violations();
        self.st().violations.clear();
        self.oauth().violations.clear();
        v
    }

    /// The status codes of `guid`'s attempts, newest first.
    pub fn hook_attempts_of(&self, guid: &str) -> Vec<u16> {
        self.st()
            .hook_attempts
            .iter()
            .filter(|(_, a)| a.guid == guid)
            .map(|(_, a)| a.status_code)
            .collect()
    }
}

impl Drop for FakeGithub {
    /// A test whose fake saw a request GitHub would refuse, or gave an answer GitHub would not give, fails.
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let violations = self.violations();
        assert!(
            violations.is_empty(),
            "the fake GitHub found breaches of GitHub's OpenAPI description:\n{}",
            violations.join("\n")
        );
    }
}
