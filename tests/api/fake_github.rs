//! A fake GitHub REST API (wiremock) backed by real git repositories built with `git fast-import`: it
//! mints installation tokens for valid App JWTs, answers compare, commit, tree and check-run calls the way
//! GitHub does (Link pagination, the 300/3000 file caps), lists the App webhook's deliveries (cursor
//! pages) and redelivers them on request, can be told to fail, and records every request.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::helpers::fixture_json;

/// The App id the fake knows.
pub const APP_ID: u64 = 4242;
/// Where the REST API lives under the fake's address, as on GitHub Enterprise Server.
pub const API_PREFIX: &str = "/api/v3";
/// Files per page of the commit API, and its cap.
const COMMIT_PAGE: usize = 300;
const COMMIT_CAP: usize = 3000;
/// Files listed by compare, on its first page only.
const COMPARE_FILES_CAP: usize = 300;

/// The test-only App key (PEM).
pub fn app_key_pem() -> String {
    String::from_utf8(crate::helpers::fixture("test-only-github-app-key.pem")).expect("pem")
}

/// The endpoints the fake answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
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

/// GitHub's `status` text for an answer.
fn delivery_status(code: u16) -> String {
    match code {
        200..=299 => "OK".into(),
        0 => "failed to connect".into(),
        c => format!("Invalid HTTP Response: {c}"),
    }
}

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub route: Route,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// The bearer token used (not for the token route, which uses the JWT).
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
}

#[derive(Debug, Clone)]
struct Token {
    installation_id: i64,
    expires_at: DateTime<Utc>,
    uses: u32,
}

struct Fault {
    route: Route,
    remaining: Option<usize>,
    response: ResponseTemplate,
}

struct State {
    seen: Vec<Seen>,
    /// full name → (repository id, git dir)
    repos: HashMap<String, (i64, PathBuf)>,
    tokens: HashMap<String, Token>,
    token_lifetime: chrono::Duration,
    /// A token answers 401 after this many uses (it "expired" early, as a revoked one does).
    token_uses: Option<u32>,
    check_runs: Vec<CheckRun>,
    faults: VecDeque<Fault>,
    commit_files: HashMap<String, Vec<Value>>,
    public_key: jsonwebtoken::DecodingKey,
    /// `http://127.0.0.1:port`, for the URLs in `Link` headers.
    origin: String,
    /// The App webhook's delivery attempts with their ids, newest first.
    hook_attempts: Vec<(i64, HookAttempt)>,
    next_attempt_id: i64,
    /// Most deliveries on one page, whatever `per_page` asks (GitHub: 100).
    delivery_page_cap: usize,
    /// Where redeliveries go, signed with this secret; `None`: requests are recorded only.
    hook_target: Option<(String, String)>,
    /// Installations GitHub knows, with their `suspended_at`; others answer 404 (deleted).
    installations: HashMap<i64, Option<DateTime<Utc>>>,
}

/// The running fake.
pub struct FakeGithub {
    pub server: MockServer,
    state: Arc<Mutex<State>>,
}

struct Responder(Arc<Mutex<State>>);

impl Respond for Responder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut st = self.0.lock().expect("fake state");
        let path = req.url.path().to_owned();
        let route = route_of(req.method.as_str(), &path);
        let token = bearer(req);
        let fault = take_fault(&mut st, route);
        let (status, response) = match fault {
            Some(r) => (0, r),
            None => answer(&mut st, req, route, token.as_deref()),
        };
        let status = if status == 0 { 599 } else { status };
        let app_route = matches!(
            route,
            Route::Token | Route::ListDeliveries | Route::Redeliver | Route::GetInstallation
        );
        let job = (route == Route::Redeliver && status == 202)
            .then(|| redelivery_job(&st, &path))
            .flatten();
        st.seen.push(Seen {
            route,
            method: req.method.to_string(),
            path,
            query: req.url.query().map(str::to_owned),
            // App routes carry the App's JWT, not an installation token.
            token: (!app_route).then_some(token).flatten(),
            status,
        });
        drop(st);
        if let Some(job) = job {
            // GitHub redelivers after answering 202, from elsewhere.
            tokio::spawn(redeliver_to_target(Arc::clone(&self.0), job));
        }
        response
    }
}

/// A redelivery to send: where, signed how, what.
struct RedeliveryJob {
    url: String,
    secret: String,
    attempt: HookAttempt,
}

fn redelivery_job(st: &State, path: &str) -> Option<RedeliveryJob> {
    let id = delivery_id_of(path)?;
    let (url, secret) = st.hook_target.clone()?;
    let (_, attempt) = st.hook_attempts.iter().find(|(i, _)| *i == id)?;
    attempt.payload.as_ref()?;
    Some(RedeliveryJob {
        url,
        secret,
        attempt: attempt.clone(),
    })
}

/// POST the payload again, signed, with the same GUID, and record the attempt as GitHub would.
async fn redeliver_to_target(state: Arc<Mutex<State>>, job: RedeliveryJob) {
    let body = job.attempt.payload.clone().unwrap_or_default();
    let sent = reqwest::Client::new()
        .post(&job.url)
        .header("content-type", "application/json")
        .header("user-agent", "GitHub-Hookshot/fake")
        .header("x-github-event", &job.attempt.event)
        .header("x-github-delivery", &job.attempt.guid)
        .header(
            "x-hub-signature-256",
            crate::helpers::sign(&job.secret, &body),
        )
        .body(body)
        .send()
        .await;
    let status_code = sent.map_or(0, |r| r.status().as_u16());
    let mut st = state.lock().expect("fake state");
    add_attempt(
        &mut st,
        HookAttempt {
            status_code,
            delivered_at: Utc::now(),
            redelivery: true,
            ..job.attempt
        },
    );
}

fn add_attempt(st: &mut State, attempt: HookAttempt) -> i64 {
    st.next_attempt_id += 1;
    let id = st.next_attempt_id;
    st.hook_attempts.push((id, attempt));
    // Newest first, as GitHub lists them.
    st.hook_attempts
        .sort_by_key(|(i, a)| std::cmp::Reverse((a.delivered_at, *i)));
    id
}

fn delivery_id_of(path: &str) -> Option<i64> {
    path.strip_prefix(API_PREFIX)?
        .strip_prefix("/app/hook/deliveries/")?
        .strip_suffix("/attempts")?
        .parse()
        .ok()
}

fn take_fault(st: &mut State, route: Route) -> Option<ResponseTemplate> {
    let i = st.faults.iter().position(|f| f.route == route)?;
    let f = &mut st.faults[i];
    let response = f.response.clone();
    match &mut f.remaining {
        Some(1) => {
            st.faults.remove(i);
        }
        Some(n) => *n -= 1,
        None => {}
    }
    Some(response)
}

fn bearer(req: &Request) -> Option<String> {
    let v = req.headers.get("authorization")?.to_str().ok()?;
    v.strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("token "))
        .map(str::to_owned)
}

fn route_of(method: &str, path: &str) -> Route {
    let Some(p) = path.strip_prefix(API_PREFIX) else {
        return Route::Other;
    };
    let parts: Vec<&str> = p.trim_start_matches('/').split('/').collect();
    let rest: &[&str] = match parts.as_slice() {
        ["repos", _, _, rest @ ..] | ["repositories", _, rest @ ..] => rest,
        ["app", "installations", _, "access_tokens"] if method == "POST" => return Route::Token,
        ["app", "hook", "deliveries"] if method == "GET" => return Route::ListDeliveries,
        ["app", "installations", _] if method == "GET" => return Route::GetInstallation,
        ["app", "hook", "deliveries", _, "attempts"] if method == "POST" => {
            return Route::Redeliver
        }
        _ => return Route::Other,
    };
    match (method, rest) {
        ("GET", ["compare", _]) => Route::Compare,
        ("GET", ["commits", _, "check-runs"]) => Route::ListCheckRuns,
        ("GET", ["commits", _]) => Route::Commit,
        ("GET", ["git", "trees", _]) => Route::Tree,
        ("POST", ["check-runs"]) => Route::CreateCheckRun,
        ("PATCH", ["check-runs", _]) => Route::UpdateCheckRun,
        _ => Route::Other,
    }
}

fn message(status: u16, msg: &str) -> (u16, ResponseTemplate) {
    (
        status,
        ResponseTemplate::new(status).set_body_json(json!({ "message": msg })),
    )
}

fn answer(
    st: &mut State,
    req: &Request,
    route: Route,
    token: Option<&str>,
) -> (u16, ResponseTemplate) {
    if route == Route::Token {
        return mint(st, req, token);
    }
    if matches!(
        route,
        Route::ListDeliveries | Route::Redeliver | Route::GetInstallation
    ) {
        if let Err(refusal) = verify_jwt(st, token) {
            return message(401, &refusal);
        }
        return match route {
            Route::ListDeliveries => list_deliveries(st, &query(req)),
            Route::GetInstallation => get_installation(st, req.url.path()),
            _ => redeliver(st, req.url.path()),
        };
    }
    if !authorize(st, token) {
        return message(401, "Bad credentials");
    }
    let Some((full_name, repo_id, dir)) = repo_of(st, req.url.path()) else {
        return message(404, "Not Found");
    };
    let base = format!("{}{API_PREFIX}/repositories/{repo_id}", st.origin);
    let q = query(req);
    match route {
        Route::Compare => compare(&dir, req.url.path(), &q, &base),
        Route::Commit => commit(st, &dir, req.url.path(), &q, &base),
        Route::Tree => tree(&dir, req.url.path()),
        Route::ListCheckRuns => list_check_runs(st, &full_name, req.url.path(), &q),
        Route::CreateCheckRun => create_check_run(st, &full_name, &dir, req),
        Route::UpdateCheckRun => update_check_run(st, &full_name, req),
        Route::Token
        | Route::ListDeliveries
        | Route::Redeliver
        | Route::GetInstallation
        | Route::Other => message(404, "Not Found"),
    }
}

/// `GET /app/installations/{id}`: the installation as GitHub sees it now.
fn get_installation(st: &State, path: &str) -> (u16, ResponseTemplate) {
    let id = path.rsplit('/').next().and_then(|s| s.parse::<i64>().ok());
    match id.and_then(|id| st.installations.get(&id).map(|s| (id, s))) {
        Some((id, suspended_at)) => (
            200,
            ResponseTemplate::new(200).set_body_json(json!({
                "id": id,
                "suspended_at": suspended_at.map(|t| t.to_rfc3339()),
            })),
        ),
        None => message(404, "Not Found"),
    }
}

fn query(req: &Request) -> HashMap<String, String> {
    req.url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Check the App JWT: RS256, `iss`, `iat` in the past, `exp` at most 10 min after; the 401 message if not.
fn verify_jwt(st: &State, jwt: Option<&str>) -> Result<(), String> {
    let Some(jwt) = jwt else {
        return Err("A JSON web token could not be decoded".into());
    };
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    // GitHub takes `iss` as a number (the App id) or a string (the client id); checked below.
    validation.set_required_spec_claims(&["exp", "iat"]);
    validation.leeway = 0;
    #[derive(serde::Deserialize)]
    struct Claims {
        iss: Value,
        iat: i64,
        exp: i64,
    }
    let claims = match jsonwebtoken::decode::<Claims>(jwt, &st.public_key, &validation) {
        Ok(d) => d.claims,
        Err(e) => {
            eprintln!("fake: JWT refused: {e}");
            return Err(format!("A JSON web token could not be decoded: {e}"));
        }
    };
    let now = Utc::now().timestamp();
    let iss_ok = claims.iss == json!(APP_ID) || claims.iss == json!(APP_ID.to_string());
    if !iss_ok || claims.iat > now || claims.exp - claims.iat > 660 || claims.exp > now + 600 {
        return Err("'Expiration time' claim ('exp') is too far in the future".into());
    }
    Ok(())
}

/// Mint an installation token of GitHub's shape, whose length varies, for a valid App JWT.
fn mint(st: &mut State, req: &Request, jwt: Option<&str>) -> (u16, ResponseTemplate) {
    if let Err(refusal) = verify_jwt(st, jwt) {
        return message(401, &refusal);
    }
    let installation_id: i64 = req
        .url
        .path()
        .split('/')
        .rev()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_default();
    let len = 36 + rand::random_range(0..60);
    let token: String = (0..len)
        .map(|_| {
            let c = rand::random_range(0..62u8);
            (match c {
                0..=9 => b'0' + c,
                10..=35 => b'a' + c - 10,
                _ => b'A' + c - 36,
            }) as char
        })
        .collect();
    let token = format!("ghs_{token}");
    let expires_at = Utc::now() + st.token_lifetime;
    st.tokens.insert(
        token.clone(),
        Token {
            installation_id,
            expires_at,
            uses: 0,
        },
    );
    (
        201,
        ResponseTemplate::new(201).set_body_json(json!({
            "token": token,
            "expires_at": expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "permissions": { "checks": "write", "contents": "read", "metadata": "read" },
            "repository_selection": "all",
        })),
    )
}

/// `true` when the token is known, unexpired and not used up.
fn authorize(st: &mut State, token: Option<&str>) -> bool {
    let limit = st.token_uses;
    let Some(t) = token.and_then(|t| st.tokens.get_mut(t)) else {
        return false;
    };
    t.uses += 1;
    t.expires_at > Utc::now() && limit.is_none_or(|n| t.uses <= n)
}

fn repo_of(st: &State, path: &str) -> Option<(String, i64, PathBuf)> {
    let p = path.strip_prefix(API_PREFIX)?.trim_start_matches('/');
    let parts: Vec<&str> = p.split('/').collect();
    match parts.as_slice() {
        ["repos", owner, name, ..] => {
            let full = format!("{owner}/{name}");
            let (id, dir) = st
                .repos
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(&full))
                .map(|(_, v)| v.clone())?;
            Some((full, id, dir))
        }
        ["repositories", id, ..] => {
            let id: i64 = id.parse().ok()?;
            st.repos
                .iter()
                .find(|(_, (rid, _))| *rid == id)
                .map(|(k, (rid, dir))| (k.clone(), *rid, dir.clone()))
        }
        _ => None,
    }
}

fn segment_after<'a>(path: &'a str, key: &str) -> &'a str {
    path.split(key)
        .nth(1)
        .unwrap_or("")
        .split('/')
        .next()
        .unwrap_or("")
}

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

fn compare(
    dir: &Path,
    path: &str,
    q: &HashMap<String, String>,
    base: &str,
) -> (u16, ResponseTemplate) {
    let basehead = segment_after(path, "/compare/");
    let Some((b, h)) = basehead.split_once("...") else {
        return message(404, "Not Found");
    };
    let (Some(b), Some(h)) = (rev(dir, b), rev(dir, h)) else {
        return message(404, "No common ancestor between base and head");
    };
    let mb = git(dir, &["merge-base", &b, &h]).trim().to_owned();
    let commits: Vec<String> = git(dir, &["rev-list", "--reverse", &format!("{mb}..{h}")])
        .lines()
        .map(str::to_owned)
        .collect();
    let behind = git(dir, &["rev-list", "--count", &format!("{mb}..{b}")])
        .trim()
        .parse::<usize>()
        .unwrap_or(0);
    let status = match (commits.len(), behind) {
        (0, 0) => "identical",
        (_, 0) => "ahead",
        (0, _) => "behind",
        _ => "diverged",
    };
    let paged = q.contains_key("per_page") || q.contains_key("page");
    let (per, page) = page_params(q, 250, 100);
    let per = if paged { per } else { 250 };
    let last = commits.len().div_ceil(per).max(1);
    let slice: Vec<Value> = commits
        .iter()
        .skip((page - 1) * per)
        .take(per)
        .map(|sha| json!({ "sha": sha, "parents": parents(dir, sha).iter().map(|p| json!({"sha": p})).collect::<Vec<_>>() }))
        .collect();
    let mut body = json!({
        "status": status,
        "ahead_by": commits.len(),
        "behind_by": behind,
        "total_commits": commits.len(),
        "merge_base_commit": { "sha": mb },
        "commits": slice,
    });
    if page == 1 {
        let files: Vec<Value> = name_status(dir, &["diff", "--name-status", "-M", &mb, &h])
            .into_iter()
            .take(COMPARE_FILES_CAP)
            .collect();
        body["files"] = json!(files);
    }
    let url = format!("{base}/compare/{basehead}");
    let l = if paged {
        link(&url, &format!("per_page={per}&"), page, last)
    } else {
        None
    };
    (
        200,
        with_link(ResponseTemplate::new(200).set_body_json(body), l),
    )
}

fn commit(
    st: &mut State,
    dir: &Path,
    path: &str,
    q: &HashMap<String, String>,
    base: &str,
) -> (u16, ResponseTemplate) {
    let Some(sha) = rev(dir, segment_after(path, "/commits/")) else {
        return message(422, "No commit found for SHA");
    };
    let files = st
        .commit_files
        .entry(sha.clone())
        .or_insert_with(|| {
            name_status(
                dir,
                &[
                    "diff-tree",
                    "-r",
                    "-M",
                    "--root",
                    "--no-commit-id",
                    "--name-status",
                    &sha,
                ],
            )
            .into_iter()
            .take(COMMIT_CAP)
            .collect()
        })
        .clone();
    let page = q
        .get("page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1usize)
        .max(1);
    let last = files.len().div_ceil(COMMIT_PAGE).max(1);
    let tree = git(dir, &["rev-parse", &format!("{sha}^{{tree}}")])
        .trim()
        .to_owned();
    let body = json!({
        "sha": sha,
        "commit": { "tree": { "sha": tree }, "message": "…" },
        "parents": parents(dir, &sha).iter().map(|p| json!({"sha": p})).collect::<Vec<_>>(),
        "files": files.iter().skip((page - 1) * COMMIT_PAGE).take(COMMIT_PAGE).collect::<Vec<_>>(),
    });
    let url = format!("{base}/commits/{sha}");
    (
        200,
        with_link(
            ResponseTemplate::new(200).set_body_json(body),
            link(&url, "", page, last),
        ),
    )
}

fn tree(dir: &Path, path: &str) -> (u16, ResponseTemplate) {
    let Some(sha) = rev(dir, segment_after(path, "/git/trees/")) else {
        return message(404, "Not Found");
    };
    let entries: Vec<Value> = git(dir, &["ls-tree", "-r", "-t", "--full-tree", &sha])
        .lines()
        .filter_map(|l| {
            let (meta, path) = l.split_once('\t')?;
            let mut m = meta.split(' ');
            let (mode, kind, sha) = (m.next()?, m.next()?, m.next()?);
            Some(json!({ "path": path, "mode": mode, "type": kind, "sha": sha }))
        })
        .collect();
    let tree_sha = git(dir, &["rev-parse", &format!("{sha}^{{tree}}")])
        .trim()
        .to_owned();
    (
        200,
        ResponseTemplate::new(200)
            .set_body_json(json!({ "sha": tree_sha, "tree": entries, "truncated": false })),
    )
}

/// A page of the App webhook's deliveries, newest first; `cursor` names the first delivery of the page
/// and the `Link` header the next one, as GitHub does.
fn list_deliveries(st: &State, q: &HashMap<String, String>) -> (u16, ResponseTemplate) {
    let per = q
        .get("per_page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(30usize)
        .clamp(1, 100)
        .min(st.delivery_page_cap);
    let start = match q.get("cursor") {
        Some(c) => {
            let id: Option<i64> = c.strip_prefix("v1_").and_then(|id| id.parse().ok());
            match st.hook_attempts.iter().position(|(i, _)| Some(*i) == id) {
                Some(p) => p,
                None => return message(422, "Validation Failed: cursor"),
            }
        }
        None => 0,
    };
    let page: Vec<Value> = st
        .hook_attempts
        .iter()
        .skip(start)
        .take(per)
        .map(|(id, a)| {
            json!({
                "id": id, "guid": a.guid,
                "delivered_at": a.delivered_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "redelivery": a.redelivery, "duration": 0.27, "status": delivery_status(a.status_code),
                "status_code": a.status_code, "event": a.event, "action": a.action,
                "installation_id": a.installation_id, "repository_id": a.repository_id,
                "throttled_at": null,
            })
        })
        .collect();
    let link = st.hook_attempts.get(start + per).map(|(next, _)| {
        format!(
            "<{}{API_PREFIX}/app/hook/deliveries?per_page={per}&cursor=v1_{next}>; rel=\"next\"",
            st.origin
        )
    });
    (
        200,
        with_link(ResponseTemplate::new(200).set_body_json(json!(page)), link),
    )
}

/// Accept a redelivery request for a known attempt (202); the redelivery itself happens afterwards.
fn redeliver(st: &State, path: &str) -> (u16, ResponseTemplate) {
    let known =
        delivery_id_of(path).is_some_and(|id| st.hook_attempts.iter().any(|(i, _)| *i == id));
    if !known {
        return message(404, "Not Found");
    }
    (202, ResponseTemplate::new(202).set_body_json(json!({})))
}

fn run_json(r: &CheckRun) -> Value {
    json!({
        "id": r.id, "name": r.name, "head_sha": r.head_sha, "external_id": r.external_id,
        "status": "completed", "conclusion": r.conclusion, "app": { "id": APP_ID },
        "output": { "title": r.title, "summary": r.summary },
    })
}

fn list_check_runs(
    st: &State,
    repo: &str,
    path: &str,
    q: &HashMap<String, String>,
) -> (u16, ResponseTemplate) {
    let sha = segment_after(path, "/commits/");
    let runs: Vec<&CheckRun> = st
        .check_runs
        .iter()
        .filter(|r| r.repo.eq_ignore_ascii_case(repo) && r.head_sha == sha)
        .filter(|r| q.get("check_name").is_none_or(|n| *n == r.name))
        .collect();
    let (per, page) = page_params(q, 30, 100);
    let slice: Vec<Value> = runs
        .iter()
        .skip((page - 1) * per)
        .take(per)
        .map(|r| run_json(r))
        .collect();
    let body = json!({ "total_count": runs.len(), "check_runs": slice });
    (200, ResponseTemplate::new(200).set_body_json(body))
}

/// `PATCH …/check-runs/{id}`: a new conclusion and output for a run of this repository.
fn update_check_run(st: &mut State, repo: &str, req: &Request) -> (u16, ResponseTemplate) {
    let id = req
        .url
        .path()
        .rsplit('/')
        .next()
        .and_then(|s| s.parse::<i64>().ok());
    let Ok(body) = req.body_json::<Value>() else {
        return message(400, "Problems parsing JSON");
    };
    let Some(run) = st
        .check_runs
        .iter_mut()
        .find(|r| Some(r.id) == id && r.repo == repo)
    else {
        return message(404, "Not Found");
    };
    if let Some(c) = body["conclusion"].as_str() {
        run.conclusion = Some(c.to_owned());
    }
    if let Some(t) = body["output"]["title"].as_str() {
        run.title = t.to_owned();
    }
    if let Some(summary) = body["output"]["summary"].as_str() {
        if summary.chars().count() > 65_535 {
            return message(422, "Invalid request: output.summary is too long");
        }
        run.summary = summary.to_owned();
    }
    let answer = json!({ "id": run.id, "external_id": run.external_id });
    (200, ResponseTemplate::new(200).set_body_json(answer))
}

fn create_check_run(
    st: &mut State,
    repo: &str,
    dir: &Path,
    req: &Request,
) -> (u16, ResponseTemplate) {
    let Ok(body) = req.body_json::<Value>() else {
        return message(400, "Problems parsing JSON");
    };
    let s = |k: &str| body[k].as_str().map(str::to_owned);
    let (Some(name), Some(head_sha)) = (s("name"), s("head_sha")) else {
        return message(422, "Invalid request: name and head_sha are required");
    };
    let has_git = dir.join("HEAD").exists() || dir.join(".git").exists();
    if has_git && rev(dir, &head_sha).is_none() {
        return message(422, "No commit found for SHA");
    }
    let summary = body["output"]["summary"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if summary.chars().count() > 65_535 {
        return message(
            422,
            "Invalid request: output.summary is too long (maximum is 65535 characters)",
        );
    }
    let conclusion = s("conclusion");
    let allowed = [
        "action_required",
        "cancelled",
        "failure",
        "neutral",
        "success",
        "skipped",
        "timed_out",
    ];
    if conclusion.as_deref().is_some_and(|c| !allowed.contains(&c)) {
        return message(422, "Invalid request: conclusion");
    }
    let run = CheckRun {
        id: 7_000_000_000 + st.check_runs.len() as i64 + 1,
        repo: repo.to_owned(),
        head_sha,
        name,
        external_id: s("external_id"),
        conclusion,
        title: body["output"]["title"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        summary,
    };
    let json = run_json(&run);
    st.check_runs.push(run);
    (201, ResponseTemplate::new(201).set_body_json(json))
}

fn rev(dir: &Path, name: &str) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{name}^{{commit}}"),
        ])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn parents(dir: &Path, sha: &str) -> Vec<String> {
    git(dir, &["log", "-1", "--format=%P", sha])
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// `--name-status` output as the API's file objects (renames with `previous_filename`).
fn name_status(dir: &Path, args: &[&str]) -> Vec<Value> {
    git(dir, args)
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let code = f.next()?;
            let a = f.next()?;
            Some(match code.chars().next()? {
                'A' => json!({ "filename": a, "status": "added" }),
                'D' => json!({ "filename": a, "status": "removed" }),
                'R' => {
                    json!({ "filename": f.next()?, "previous_filename": a, "status": "renamed" })
                }
                'C' => json!({ "filename": f.next()?, "status": "copied" }),
                'T' => json!({ "filename": a, "status": "changed" }),
                _ => json!({ "filename": a, "status": "modified" }),
            })
        })
        .collect()
}

/// Run git in `dir` and return its standard output.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 from git")
}

impl FakeGithub {
    /// Start a fake that knows the test-only App key.
    pub async fn start() -> Self {
        let public = crate::helpers::fixture("test-only-github-app-key.pub.pem");
        let state = Arc::new(Mutex::new(State {
            seen: Vec::new(),
            repos: HashMap::new(),
            tokens: HashMap::new(),
            token_lifetime: chrono::Duration::hours(1),
            token_uses: None,
            check_runs: Vec::new(),
            faults: VecDeque::new(),
            commit_files: HashMap::new(),
            public_key: jsonwebtoken::DecodingKey::from_rsa_pem(&public).expect("public key"),
            origin: String::new(),
            hook_attempts: Vec::new(),
            next_attempt_id: 90_000,
            delivery_page_cap: 100,
            hook_target: None,
            installations: HashMap::new(),
        }));
        let server = MockServer::start().await;
        state.lock().expect("fake state").origin = server.uri();
        Mock::given(wiremock::matchers::any())
            .respond_with(Responder(Arc::clone(&state)))
            .mount(&server)
            .await;
        Self { server, state }
    }

    /// `GITHUB_API_URL` for the app.
    pub fn api_url(&self) -> String {
        format!("{}{API_PREFIX}", self.server.uri())
    }

    fn st(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("fake state")
    }

    /// Serve `full_name` (with `id`) from the git repository at `dir`.
    pub fn add_repo(&self, full_name: &str, id: i64, dir: &Path) {
        self.st()
            .repos
            .insert(full_name.to_owned(), (id, dir.to_owned()));
    }

    /// Serve `full_name` (with `id`) with no git behind it: check runs on any SHA.
    pub fn add_repo_without_git(&self, full_name: &str, id: i64) {
        self.st().repos.insert(
            full_name.to_owned(),
            (id, PathBuf::from("/nonexistent/labtrail-fake")),
        );
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

    /// Say how GitHub sees an installation now (`GET /app/installations/{id}`).
    pub fn set_installation(&self, id: i64, suspended_at: Option<DateTime<Utc>>) {
        self.state
            .lock()
            .expect("fake state")
            .installations
            .insert(id, suspended_at);
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

    pub fn check_runs(&self) -> Vec<CheckRun> {
        self.st().check_runs.clone()
    }

    /// Record a delivery attempt of the App's webhook; returns its id.
    pub fn add_hook_attempt(&self, attempt: HookAttempt) -> i64 {
        add_attempt(&mut self.st(), attempt)
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
            .filter_map(|s| delivery_id_of(&s.path))
            .collect()
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

/// GitHub's "slow down" answer.
pub fn rate_limited(retry_after_secs: u64) -> ResponseTemplate {
    ResponseTemplate::new(429)
        .insert_header("retry-after", retry_after_secs.to_string().as_str())
        .set_body_json(json!({ "message": "You have exceeded a secondary rate limit." }))
}

pub fn server_error() -> ResponseTemplate {
    ResponseTemplate::new(500).set_body_json(json!({ "message": "Server Error" }))
}

/// A change to the working tree in a fast-import commit.
pub enum Op {
    Write(String, String),
    Delete(String),
}

/// A bare git repository built with one `git fast-import` process.
pub struct GitRepo {
    pub dir: PathBuf,
    _tmp: tempfile::TempDir,
    stream: String,
    mark: usize,
    time: i64,
}

impl GitRepo {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("repo.git");
        let out = Command::new("git")
            .args(["init", "--bare", "--quiet", "-b", "main"])
            .arg(&dir)
            .output()
            .expect("git init");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self {
            dir,
            _tmp: tmp,
            stream: String::new(),
            mark: 0,
            time: 1_767_225_600,
        }
    }

    /// Queue a commit on `branch` (from `from`, a mark or a ref, for its first commit); returns its mark.
    pub fn commit(&mut self, branch: &str, from: Option<&str>, ops: &[Op]) -> String {
        self.mark += 1;
        self.time += 60;
        let msg = format!("commit {}", self.mark);
        let s = &mut self.stream;
        let _ = write!(
            s,
            "commit refs/heads/{branch}\nmark :{}\ncommitter Test <test@example.com> {} +0000\ndata {}\n{msg}\n",
            self.mark,
            self.time,
            msg.len()
        );
        if let Some(f) = from {
            let _ = writeln!(s, "from {f}");
        }
        for op in ops {
            match op {
                Op::Write(path, content) => {
                    let _ = write!(
                        s,
                        "M 100644 inline {path}\ndata {}\n{content}\n",
                        content.len()
                    );
                }
                Op::Delete(path) => {
                    let _ = writeln!(s, "D {path}");
                }
            }
        }
        s.push('\n');
        format!(":{}", self.mark)
    }

    /// Run the queued stream; marks become SHAs.
    pub fn import(&mut self) -> HashMap<String, String> {
        let marks = self.dir.join("marks");
        let mut child = Command::new("git")
            .arg("-C")
            .arg(&self.dir)
            .args(["fast-import", "--quiet", "--force"])
            .arg(format!("--export-marks={}", marks.display()))
            .stdin(Stdio::piped())
            .spawn()
            .expect("git fast-import");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(std::mem::take(&mut self.stream).as_bytes())
            .expect("feed fast-import");
        assert!(child.wait().expect("fast-import").success());
        std::fs::read_to_string(&marks)
            .expect("marks")
            .lines()
            .filter_map(|l| l.split_once(' ').map(|(m, s)| (m.to_owned(), s.to_owned())))
            .collect()
    }

    pub fn git(&self, args: &[&str]) -> String {
        git(&self.dir, args)
    }

    /// `git diff --name-status --no-renames a b` as (path, status) pairs sorted by path.
    pub fn expected_files(&self, a: &str, b: &str) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .git(&["diff", "--name-status", "--no-renames", a, b])
            .lines()
            .filter_map(|l| {
                let (code, path) = l.split_once('\t')?;
                let status = match code {
                    "A" => "added",
                    "D" => "removed",
                    _ => "modified",
                };
                Some((path.to_owned(), status.to_owned()))
            })
            .collect();
        out.sort();
        out
    }
}

/// How GitHub cut a commit's file lists in the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// At most 3000 paths, the rest left out.
    Cap,
    /// No lists at all for a commit with more than 3000 paths.
    Empty,
}

/// What to push.
pub struct PushSpec<'a> {
    pub org: &'a str,
    pub repo: &'a str,
    pub repo_id: i64,
    pub installation_id: i64,
    pub branch: &'a str,
    /// `None`: a new branch (`before` is zeros); its commits are those not reachable from `base`.
    pub before: Option<&'a str>,
    pub base: Option<&'a str>,
    pub after: &'a str,
    pub forced: bool,
    pub pushed_at: i64,
    pub cut: Cut,
}

/// A push payload as GitHub would send it for this push of a git repository: commits oldest first, at
/// most 2048 (the oldest, here), each commit's lists cut as GitHub cuts them.
pub fn push_from_git(repo: &GitRepo, spec: &PushSpec<'_>) -> Value {
    let range = match (spec.before, spec.base) {
        (Some(b), _) => vec![format!("{b}..{}", spec.after)],
        (None, Some(base)) => vec![spec.after.to_owned(), "--not".into(), base.to_owned()],
        (None, None) => vec![spec.after.to_owned()],
    };
    let mut args = vec![
        "log",
        "--reverse",
        "--no-renames",
        "--name-status",
        "--format=@%H",
    ];
    args.extend(range.iter().map(String::as_str));
    let mut commits: Vec<(String, BTreeMap<&'static str, Vec<String>>)> = Vec::new();
    let log = repo.git(&args);
    for line in log.lines().filter(|l| !l.is_empty()) {
        if let Some(sha) = line.strip_prefix('@') {
            commits.push((sha.to_owned(), BTreeMap::new()));
        } else if let (Some((code, path)), Some(c)) = (line.split_once('\t'), commits.last_mut()) {
            let key = match code {
                "A" => "added",
                "D" => "removed",
                _ => "modified",
            };
            c.1.entry(key).or_default().push(path.to_owned());
        }
    }
    let mut p = fixture_json("octokit-webhooks/push/with-new-branch.payload.json");
    let template = p["commits"][0].clone();
    let list: Vec<Value> = commits
        .iter()
        .take(2048)
        .map(|(sha, lists)| {
            let total: usize = lists.values().map(Vec::len).sum();
            let mut c = template.clone();
            c["id"] = json!(sha);
            c["tree_id"] = json!(sha);
            let mut left = 3000usize;
            for key in ["added", "removed", "modified"] {
                let paths = lists.get(key).cloned().unwrap_or_default();
                let shown: Vec<String> = match spec.cut {
                    Cut::Empty if total > 3000 => Vec::new(),
                    _ => paths.into_iter().take(left).collect(),
                };
                left -= shown.len();
                c[key] = json!(shown);
            }
            c
        })
        .collect();
    let zeros = "0".repeat(40);
    p["ref"] = json!(format!("refs/heads/{}", spec.branch));
    p["before"] = json!(spec.before.map_or(zeros.clone(), |b| repo
        .git(&["rev-parse", b])
        .trim()
        .to_owned()));
    p["after"] = json!(spec.after);
    p["created"] = json!(spec.before.is_none());
    p["forced"] = json!(spec.forced);
    p["head_commit"] = list.last().cloned().unwrap_or(Value::Null);
    p["commits"] = json!(list);
    p["repository"]["name"] = json!(spec.repo);
    p["repository"]["full_name"] = json!(format!("{}/{}", spec.org, spec.repo));
    p["repository"]["id"] = json!(spec.repo_id);
    p["repository"]["owner"]["login"] = json!(spec.org);
    p["repository"]["pushed_at"] = json!(spec.pushed_at);
    p["repository"]["default_branch"] = json!("main");
    p["organization"] = json!({ "login": spec.org, "id": 9000 });
    p["installation"] = json!({ "id": spec.installation_id });
    p
}
