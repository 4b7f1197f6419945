//! GitHub's OAuth web flow and the membership reads of a user token, as the web view's sign-in uses them:
//! - `GET /login/oauth/authorize` (web, no prefix): the browser's user (see [`OauthState::browser_user`])
//!   approves at once: `302` to `redirect_uri?code=…&state=…`, only for the known client and a
//!   `redirect_uri` under its callback;
//! - `POST /login/oauth/access_token` (web): code → user token, single use, only with the client's
//!   secret and the same `redirect_uri`; GitHub answers errors with `200` and an `error` field;
//! - `GET /user`, `GET /user/memberships/orgs/{org}`, `GET /orgs/{org}/teams/{team}/memberships/{user}`
//!   (API, user token): `404` for a non-member, as GitHub does; their `200` answers are checked against
//!   GitHub's response schemas (`users/get-authenticated`, `orgs/get-membership-for-authenticated-user`,
//!   `teams/get-membership-for-user-in-org`) like every other API answer of the fake.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
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
    /// The JSON body of the answer being made (see [`ok`]), for its schema check.
    answered: Option<Value>,
    /// Answers that broke GitHub's schema.
    pub violations: Vec<String>,
}

/// A `200` JSON answer, noted for its schema check.
fn ok(st: &mut OauthState, body: Value) -> ResponseTemplate {
    let template = ResponseTemplate::new(200).set_body_json(&body);
    st.answered = Some(body);
    template
}

/// A `simple-user` for `login`.
fn simple_user(login: &str, id: i64) -> Value {
    let u = format!("https://api.github.com/users/{login}");
    json!({
        "login": login, "id": id, "node_id": format!("U_{id}"),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}"), "gravatar_id": "",
        "url": u, "html_url": format!("https://github.com/{login}"),
        "followers_url": format!("{u}/followers"), "following_url": format!("{u}/following{{/other_user}}"),
        "gists_url": format!("{u}/gists{{/gist_id}}"), "starred_url": format!("{u}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{u}/subscriptions"), "organizations_url": format!("{u}/orgs"),
        "repos_url": format!("{u}/repos"), "events_url": format!("{u}/events{{/privacy}}"),
        "received_events_url": format!("{u}/received_events"), "type": "User", "site_admin": false,
    })
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

type OauthAnswerer = fn(&mut OauthState, &Request) -> ResponseTemplate;

struct Handler {
    state: SharedOauth,
    /// The API operation answered (its `200` answers are schema-checked); `None`: a web page.
    op: Option<&'static str>,
    answer: OauthAnswerer,
}

impl Respond for Handler {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut st = self.state.lock().expect("oauth state");
        st.seen
            .push((req.method.to_string(), req.url.path().to_owned()));
        st.answered = None;
        let response = (self.answer)(&mut st, req);
        let Some(body) = st.answered.take() else {
            return response;
        };
        if let Some(op) = self.op {
            if let Err(e) = super::conformance::check_response(op, 200, Some(&body)) {
                eprintln!("fake GitHub: {e}");
                st.violations.push(e.clone());
                return error(500, &format!("fake GitHub: {e}"));
            }
        }
        response
    }
}

async fn mount(
    server: &MockServer,
    state: &SharedOauth,
    (method, path_regex, op): (&str, &str, Option<&'static str>),
    answer: OauthAnswerer,
) {
    Mock::given(wiremock::matchers::method(method))
        .and(wiremock::matchers::path_regex(path_regex))
        .respond_with(Handler {
            state: Arc::clone(state),
            op,
            answer,
        })
        .mount(server)
        .await;
}

/// Mount the OAuth and membership endpoints.
pub(super) async fn mount_all(server: &MockServer, state: &SharedOauth) {
    mount(
        server,
        state,
        ("GET", "^/login/oauth/authorize$", None),
        authorize,
    )
    .await;
    mount(
        server,
        state,
        ("POST", "^/login/oauth/access_token$", None),
        access_token,
    )
    .await;
    let user_path = format!("^{API_PREFIX}/user$");
    let user_op = Some("users/get-authenticated");
    mount(server, state, ("GET", &user_path, user_op), user).await;
    let org_path = format!("^{API_PREFIX}/user/memberships/orgs/[^/]+$");
    let org_op = Some("orgs/get-membership-for-authenticated-user");
    mount(server, state, ("GET", &org_path, org_op), org_membership).await;
    let team_path = format!("^{API_PREFIX}/orgs/[^/]+/teams/[^/]+/memberships/[^/]+$");
    let team_op = Some("teams/get-membership-for-user-in-org");
    mount(server, state, ("GET", &team_path, team_op), team_membership).await;
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
    // The signed-in user's own view: a `private-user`.
    let mut me = simple_user(&u.login, u.id);
    for (k, v) in [
        ("name", json!(u.login)),
        ("company", Value::Null),
        ("blog", json!("")),
        ("location", Value::Null),
        ("email", Value::Null),
        ("hireable", Value::Null),
        ("bio", Value::Null),
        ("public_repos", json!(1)),
        ("public_gists", json!(0)),
        ("followers", json!(0)),
        ("following", json!(0)),
        ("created_at", json!("2020-01-01T00:00:00Z")),
        ("updated_at", json!("2026-01-01T00:00:00Z")),
        ("private_gists", json!(0)),
        ("total_private_repos", json!(0)),
        ("owned_private_repos", json!(0)),
        ("disk_usage", json!(0)),
        ("collaborators", json!(0)),
        ("two_factor_authentication", json!(true)),
    ] {
        me[k] = v;
    }
    ok(st, me)
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
    let Some((role, state)) = st.org_roles.get(&(org.clone(), u.login.clone())).cloned() else {
        return error(404, "Not Found");
    };
    let o = format!("https://api.github.com/orgs/{org}");
    let body = json!({
        "url": format!("{o}/memberships/{}", u.login),
        "state": state, "role": role,
        "organization_url": o,
        "organization": {
            "login": org, "id": 9000, "node_id": "O_9000", "url": o,
            "repos_url": format!("{o}/repos"), "events_url": format!("{o}/events"),
            "hooks_url": format!("{o}/hooks"), "issues_url": format!("{o}/issues"),
            "members_url": format!("{o}/members{{/member}}"),
            "public_members_url": format!("{o}/public_members{{/member}}"),
            "avatar_url": "https://avatars.githubusercontent.com/u/9000", "description": null,
        },
        "user": simple_user(&u.login, u.id),
    });
    ok(st, body)
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
    let Some((role, state)) = st
        .team_roles
        .get(&(org.clone(), team.clone(), login.clone()))
        .cloned()
    else {
        return error(404, "Not Found");
    };
    let body = json!({
        "url": format!("https://api.github.com/organizations/1/team/1/memberships/{login}"),
        "role": role, "state": state,
    });
    ok(st, body)
}
