//! GitHub's OAuth web flow and the membership reads of a user token, as the web view's sign-in uses them:
//! - `GET /login/oauth/authorize` (web, no prefix): the browser's user (see [`OauthState::browser_user`])
//!   approves at once: `302` to `redirect_uri?code=…&state=…`, only for the known client and a
//!   `redirect_uri` under its callback;
//! - `POST /login/oauth/access_token` (web): code → user token, single use, only with the client's
//!   secret and the same `redirect_uri`; GitHub answers errors with `200` and an `error` field;
//! - `GET /user`, `GET /user/memberships/orgs/{org}`, `GET /orgs/{org}/teams/{team}/memberships/{user}`
//!   (API, user token): `404` for a non-member, as GitHub does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::json;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::API_PREFIX;

/// A GitHub user of the fake.
#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub login: String,
}

/// What the OAuth endpoints share.
#[derive(Debug, Default)]
pub struct OauthState {
    /// The App's OAuth client: (client id, client secret, callback URL).
    pub client: Option<(String, String, String)>,
    pub users: Vec<User>,
    /// Who is signed in to GitHub in the browser (authorize approves as them).
    pub browser_user: Option<String>,
    /// code → (login, redirect_uri), until exchanged.
    codes: HashMap<String, (String, String)>,
    /// token → login.
    tokens: HashMap<String, String>,
    /// (org, login) → (role, state): `admin`/`member`, `active`/`pending`.
    pub org_roles: HashMap<(String, String), (String, String)>,
    /// (org, team slug, login) → (role, state).
    pub team_roles: HashMap<(String, String, String), (String, String)>,
    next: u64,
    /// Requests seen: (method, path).
    pub seen: Vec<(String, String)>,
}

/// Shared state of the OAuth endpoints.
pub type SharedOauth = Arc<Mutex<OauthState>>;

fn error(status: u16, msg: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "message": msg,
        "documentation_url": "https://docs.github.com/rest",
    }))
}

fn query(req: &Request) -> HashMap<String, String> {
    req.url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn form(req: &Request) -> HashMap<String, String> {
    form_urlencoded::parse(&req.body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

struct Handler {
    state: SharedOauth,
    answer: fn(&mut OauthState, &Request) -> ResponseTemplate,
}

impl Respond for Handler {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut st = self.state.lock().expect("oauth state");
        st.seen
            .push((req.method.to_string(), req.url.path().to_owned()));
        (self.answer)(&mut st, req)
    }
}

async fn mount(
    server: &MockServer,
    state: &SharedOauth,
    method: &str,
    path_regex: &str,
    answer: fn(&mut OauthState, &Request) -> ResponseTemplate,
) {
    Mock::given(wiremock::matchers::method(method))
        .and(wiremock::matchers::path_regex(path_regex))
        .respond_with(Handler {
            state: Arc::clone(state),
            answer,
        })
        .mount(server)
        .await;
}

/// Mount the OAuth and membership endpoints.
pub(super) async fn mount_all(server: &MockServer, state: &SharedOauth) {
    mount(server, state, "GET", "^/login/oauth/authorize$", authorize).await;
    mount(
        server,
        state,
        "POST",
        "^/login/oauth/access_token$",
        access_token,
    )
    .await;
    mount(server, state, "GET", &format!("^{API_PREFIX}/user$"), user).await;
    mount(
        server,
        state,
        "GET",
        &format!("^{API_PREFIX}/user/memberships/orgs/[^/]+$"),
        org_membership,
    )
    .await;
    mount(
        server,
        state,
        "GET",
        &format!("^{API_PREFIX}/orgs/[^/]+/teams/[^/]+/memberships/[^/]+$"),
        team_membership,
    )
    .await;
}

/// The browser's user approves; GitHub redirects to the callback with a code and the same state.
fn authorize(st: &mut OauthState, req: &Request) -> ResponseTemplate {
    let q = query(req);
    let Some((client_id, _, callback)) = st.client.clone() else {
        return error(404, "Not Found");
    };
    if q.get("client_id") != Some(&client_id) {
        return error(404, "Not Found");
    }
    let redirect = q.get("redirect_uri").cloned().unwrap_or(callback.clone());
    if !redirect.starts_with(&callback) {
        return ResponseTemplate::new(400).set_body_string("redirect_uri mismatch");
    }
    let Some(login) = st.browser_user.clone() else {
        return ResponseTemplate::new(200).set_body_string("sign in to GitHub");
    };
    st.next += 1;
    let code = format!("code{:016x}", st.next);
    st.codes.insert(code.clone(), (login, redirect.clone()));
    let mut to = url::Url::parse(&redirect).expect("redirect url");
    to.query_pairs_mut().append_pair("code", &code);
    if let Some(state) = q.get("state") {
        to.query_pairs_mut().append_pair("state", state);
    }
    ResponseTemplate::new(302).insert_header("location", to.as_str())
}

/// Exchange a code for a user token: once, with the client's secret, for the same redirect_uri.
fn access_token(st: &mut OauthState, req: &Request) -> ResponseTemplate {
    let f = form(req);
    let oauth_error = |e: &str| {
        ResponseTemplate::new(200).set_body_json(json!({
            "error": e,
            "error_description": e.replace('_', " "),
            "error_uri": "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors",
        }))
    };
    let Some((client_id, secret, _)) = st.client.clone() else {
        return error(404, "Not Found");
    };
    if f.get("client_id") != Some(&client_id) || f.get("client_secret") != Some(&secret) {
        return oauth_error("incorrect_client_credentials");
    }
    let Some((login, redirect)) = f.get("code").and_then(|c| st.codes.remove(c)) else {
        return oauth_error("bad_verification_code");
    };
    if f.get("redirect_uri").is_some_and(|r| *r != redirect) {
        return oauth_error("redirect_uri_mismatch");
    }
    st.next += 1;
    let token = format!("ghu_fake{:032x}", st.next);
    st.tokens.insert(token.clone(), login);
    ResponseTemplate::new(200).set_body_json(json!({
        "access_token": token,
        "token_type": "bearer",
        "scope": "",
    }))
}

/// The user a request's token belongs to.
fn token_user(st: &OauthState, req: &Request) -> Option<User> {
    let v = req.headers.get("authorization")?.to_str().ok()?;
    let token = v
        .strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("token "))?;
    let login = st.tokens.get(token)?;
    st.users.iter().find(|u| u.login == *login).cloned()
}

fn user(st: &mut OauthState, req: &Request) -> ResponseTemplate {
    let Some(u) = token_user(st, req) else {
        return error(401, "Bad credentials");
    };
    ResponseTemplate::new(200).set_body_json(json!({
        "login": u.login, "id": u.id, "node_id": format!("U_{}", u.id),
        "avatar_url": "", "url": format!("https://api.github.com/users/{}", u.login),
        "html_url": format!("https://github.com/{}", u.login), "type": "User", "site_admin": false,
    }))
}

fn org_membership(st: &mut OauthState, req: &Request) -> ResponseTemplate {
    let Some(u) = token_user(st, req) else {
        return error(401, "Bad credentials");
    };
    let org = req
        .url
        .path()
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    match st.org_roles.get(&(org.clone(), u.login.clone())) {
        Some((role, state)) => ResponseTemplate::new(200).set_body_json(json!({
            "url": format!("https://api.github.com/orgs/{org}/memberships/{}", u.login),
            "state": state, "role": role,
            "organization_url": format!("https://api.github.com/orgs/{org}"),
            "organization": { "login": org },
            "user": { "login": u.login, "id": u.id },
        })),
        None => error(404, "Not Found"),
    }
}

fn team_membership(st: &mut OauthState, req: &Request) -> ResponseTemplate {
    if token_user(st, req).is_none() {
        return error(401, "Bad credentials");
    }
    let parts: Vec<&str> = req.url.path().split('/').collect();
    // …/orgs/{org}/teams/{team}/memberships/{login}
    let n = parts.len();
    let (org, team, login) = (
        parts[n - 5].to_ascii_lowercase(),
        parts[n - 3].to_ascii_lowercase(),
        parts[n - 1].to_owned(),
    );
    match st
        .team_roles
        .get(&(org.clone(), team.clone(), login.clone()))
    {
        Some((role, state)) => ResponseTemplate::new(200).set_body_json(json!({
            "url": format!("https://api.github.com/organizations/1/team/1/memberships/{login}"),
            "role": role, "state": state,
        })),
        None => error(404, "Not Found"),
    }
}
