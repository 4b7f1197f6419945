//! "Sign in with GitHub": the App's OAuth web flow. `state` is random and bound to the browser by a
//! cookie the server signs with its expiry (ten minutes): nothing is stored for an anonymous visitor, and
//! the cookie is cleared once the sign-in is done. The user's token serves only during the
//! callback, to ask GitHub who the user is and which organisations they own (`GET
//! /user/memberships/orgs/{org}`, role `admin`) or teach (`LABTRAIL_INSTRUCTOR_TEAM`, `GET
//! /orgs/{org}/teams/{team}/memberships/{login}`); it is never stored. A GitHub sign-in holds for an hour
//! at most before the browser is sent through GitHub again, so access is re-checked at least hourly
//! (docs/security.md).

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use secrecy::ExposeSecret as _;
use serde::Deserialize;

use super::auth::{
    cookie_value, remove_cookie, same_origin_path, same_secret, set_cookie, start_session_to,
    NextQuery, WebError,
};
use super::{OauthClient, WebApp};
use crate::db;
use crate::db::web_sessions::{self, SignIn};
use crate::metrics::SignInFailure;

/// The cookie binding a pending `state` to the browser: `{state}.{expires}.{mac}`
/// ([`super::signed::CookieKey::state_cookie`]).
pub const STATE_COOKIE: &str = "lt_oauth_state";
/// How long a sign-in at GitHub may take.
const STATE_LIFETIME_SECS: i64 = 600;

fn client(state: &WebApp) -> Result<&OauthClient, WebError> {
    state.web.cfg.oauth.as_ref().ok_or_else(|| {
        WebError::NotFound("Sign in with GitHub is not configured on this server".into())
    })
}

fn callback_url(state: &WebApp) -> String {
    format!("{}/login/callback", state.web.cfg.base())
}

/// `GET /login/github`: a new `state` in a signed, expiring cookie (no row is written), and the browser
/// to GitHub's authorize page; a same-origin `?next=` rides in the state (see [`state_with_return`]).
pub async fn start(
    State(state): State<WebApp>,
    Query(next): Query<NextQuery>,
) -> Result<Response, WebError> {
    let client = client(&state)?;
    let nonce = web_sessions::random_secret()?;
    let nonce = state_with_return(&nonce, next.path());
    let expires = Utc::now().timestamp() + STATE_LIFETIME_SECS;
    let cookie = state.web.cookie_key.state_cookie(&nonce, expires);
    let mut url = url::Url::parse(&format!(
        "{}/login/oauth/authorize",
        state.web.cfg.github_web()
    ))
    .map_err(WebError::internal)?;
    url.query_pairs_mut()
        .append_pair("client_id", &client.client_id)
        .append_pair("redirect_uri", &callback_url(&state))
        .append_pair("state", &nonce);
    let mut response = Redirect::to(url.as_str()).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            &state.web.cfg,
            STATE_COOKIE,
            &cookie,
            Some(STATE_LIFETIME_SECS),
        ),
    );
    Ok(response)
}

/// GitHub's redirect back.
#[derive(Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /login/callback`: check `state` first, then GitHub's answer (an error is shown in fixed words,
/// never the query's), exchange the code, find the organisations, start the session.
pub async fn callback(
    State(state): State<WebApp>,
    headers: HeaderMap,
    Query(q): Query<Callback>,
) -> Result<Response, WebError> {
    let client = client(&state)?;
    let presented = q.state.unwrap_or_default();
    // The state this browser's cookie carries, if the server signed it and it has not expired.
    let bound = cookie_value(&state.web.cfg, &headers, STATE_COOKIE)
        .and_then(|c| {
            state
                .web
                .cookie_key
                .open_state_cookie(&c, Utc::now().timestamp())
        })
        .unwrap_or_default();
    // Bound to this browser and unexpired: a foreign, forged, expired or cleared state is refused.
    if !same_secret(&presented, &bound) {
        state.app.metrics.sign_in_failed(SignInFailure::OauthState);
        return Err(WebError::Forbidden(
            "this sign-in link is not valid any more: start again from the sign-in page".into(),
        ));
    }
    if q.error.is_some() {
        return Err(WebError::Forbidden(
            "GitHub did not sign you in: start again from the sign-in page".into(),
        ));
    }
    let code = q
        .code
        .filter(|c| !c.is_empty())
        .ok_or_else(|| WebError::BadRequest("GitHub sent no code".into()))?;
    let github = GithubUser::new(&state);
    let token = github
        .exchange(client, &code, &callback_url(&state))
        .await?;
    let user = github.user(&token).await?;
    let orgs = github.instructor_orgs(&state, &token, &user.login).await?;
    let next = return_of(&presented);
    let mut response = start_session_to(&state, &sign_in_of(user, orgs), next.as_deref()).await?;
    remove_cookie(&mut response, &state.web.cfg, STATE_COOKIE);
    Ok(response)
}

/// Who the GitHub user is here: an instructor of the organisations they own or teach, or — owning and
/// teaching none — a student, who sees only their own attempts.
fn sign_in_of(user: User, orgs: Vec<String>) -> SignIn {
    if orgs.is_empty() {
        tracing::info!(github_user_id = user.id, "web sign-in: a student");
        SignIn::Student {
            user_id: user.id,
            login: user.login,
        }
    } else {
        SignIn::Github {
            user_id: user.id,
            login: user.login,
            orgs,
        }
    }
}

/// The OAuth `state` for `nonce` carrying a return path: `nonce.base64url(path)`. The whole value is
/// what is remembered and bound to the browser, so the path cannot be changed on the way.
fn state_with_return(nonce: &str, next: Option<&str>) -> zeroize::Zeroizing<String> {
    use base64::Engine as _;
    zeroize::Zeroizing::new(match next.filter(|n| *n != "/") {
        Some(path) => format!(
            "{nonce}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(path)
        ),
        None => nonce.to_owned(),
    })
}

/// The return path a checked `state` carries, if it is (still) a same-origin path.
fn return_of(state: &str) -> Option<String> {
    use base64::Engine as _;
    let (_, encoded) = state.split_once('.')?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .ok()?;
    let path = String::from_utf8(bytes).ok()?;
    same_origin_path(&path).map(str::to_owned)
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct User {
    id: i64,
    login: String,
}

#[derive(Deserialize)]
struct Membership {
    state: String,
    role: String,
}

/// GitHub as the signing-in user sees it.
struct GithubUser<'a> {
    http: &'a reqwest::Client,
    web: &'a str,
    api: &'a str,
}

impl<'a> GithubUser<'a> {
    fn new(state: &'a WebApp) -> Self {
        Self {
            http: &state.web.http,
            web: state.web.cfg.github_web(),
            api: state.web.cfg.github_api_url.as_str().trim_end_matches('/'),
        }
    }

    /// `POST {web}/login/oauth/access_token`: the code for the user's token.
    async fn exchange(
        &self,
        client: &OauthClient,
        code: &str,
        redirect_uri: &str,
    ) -> Result<String, WebError> {
        let answer: TokenAnswer = self
            .http
            .post(format!("{}/login/oauth/access_token", self.web))
            .header(header::ACCEPT, "application/json")
            .form(&[
                ("client_id", client.client_id.as_str()),
                ("client_secret", client.client_secret.expose_secret()),
                ("code", code),
                ("redirect_uri", redirect_uri),
            ])
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| WebError::Github(e.without_url().to_string()))?
            .json()
            .await
            .map_err(|e| WebError::Github(e.to_string()))?;
        match (answer.access_token, answer.error) {
            (Some(t), None) if !t.is_empty() => Ok(t),
            (_, Some(error)) => Err(WebError::Forbidden(format!(
                "GitHub refused the sign-in code ({error}): start again"
            ))),
            _ => Err(WebError::Github("no access token in the answer".into())),
        }
    }

    async fn get(&self, token: &str, path: &str) -> Result<reqwest::Response, WebError> {
        self.http
            .get(format!("{}{path}", self.api))
            .bearer_auth(token)
            .header(header::ACCEPT, "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28")
            .send()
            .await
            .map_err(|e| WebError::Github(e.without_url().to_string()))
    }

    /// `GET /user`.
    async fn user(&self, token: &str) -> Result<User, WebError> {
        self.get(token, "/user")
            .await?
            .error_for_status()
            .map_err(|e| WebError::Github(e.without_url().to_string()))?
            .json()
            .await
            .map_err(|e| WebError::Github(e.to_string()))
    }

    /// An active membership answer with one of `roles`; 404/403 (not a member, or not visible): no.
    async fn membership(&self, token: &str, path: &str, roles: &[&str]) -> Result<bool, WebError> {
        let response = self.get(token, path).await?;
        match response.status().as_u16() {
            200 => {
                let m: Membership = response
                    .json()
                    .await
                    .map_err(|e| WebError::Github(e.to_string()))?;
                Ok(m.state == "active" && roles.contains(&m.role.as_str()))
            }
            403 | 404 => Ok(false),
            other => Err(WebError::Github(format!("GitHub answered {other}"))),
        }
    }

    /// The organisations with lab sessions (and the team's) that `login` owns or teaches.
    async fn instructor_orgs(
        &self,
        state: &WebApp,
        token: &str,
        login: &str,
    ) -> Result<Vec<String>, WebError> {
        let mut orgs = db::sessions::orgs(&state.app.db).await?;
        let team = state.web.cfg.instructor_team.clone();
        if let Some((team_org, _)) = &team {
            orgs.push(team_org.clone());
        }
        orgs.sort();
        orgs.dedup();
        let mut visible = Vec::new();
        for org in orgs {
            if !valid_login(&org) {
                continue;
            }
            let owner = self
                .membership(token, &format!("/user/memberships/orgs/{org}"), &["admin"])
                .await?;
            let teaches = match &team {
                Some((team_org, slug)) if *team_org == org && !owner && valid_login(login) => {
                    self.membership(
                        token,
                        &format!("/orgs/{org}/teams/{slug}/memberships/{login}"),
                        &["member", "maintainer"],
                    )
                    .await?
                }
                _ => false,
            };
            if owner || teaches {
                visible.push(org);
            }
        }
        Ok(visible)
    }
}

/// A GitHub login as it may appear in a URL path.
fn valid_login(s: &str) -> bool {
    !s.is_empty() && s.len() <= 39 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_carries_a_same_origin_return_path_only() {
        let s = state_with_return("abc", Some("/attempts/98"));
        assert_eq!(return_of(&s).as_deref(), Some("/attempts/98"));
        assert_eq!(return_of(&state_with_return("abc", None)), None);
        assert_eq!(return_of(&state_with_return("abc", Some("/"))), None);
        // A forged state naming another site: ignored.
        let forged = state_with_return("abc", Some("//evil.example"));
        assert_eq!(return_of(&forged), None);
    }
}
