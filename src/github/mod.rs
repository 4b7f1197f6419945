//! The GitHub App client: App JWT, one cached client per installation, a rate-limit-aware call policy
//! and per-installation call counters. Everything goes to the configured API base URL (GitHub Enterprise
//! Server, tests).

pub mod app_setup;
pub mod checks;
pub mod deliveries;
pub mod files;
pub mod provision;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use http::header::{HeaderName, ACCEPT};
use http::{HeaderMap, Method, StatusCode};
use octocrab::models::AppId;
use octocrab::Octocrab;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::domain::backoff::Backoff;
use crate::metrics::{ApiCallCounters, CallResult, APP_CALLS};

/// REST API version sent with every request.
const API_VERSION: &str = "2022-11-28";

/// What is needed to act as the App.
#[derive(Clone)]
pub struct GithubAppConfig {
    pub app_id: u64,
    /// The App's private key, PEM (PKCS#1 as GitHub issues it, or PKCS#8).
    pub private_key_pem: SecretString,
    /// REST base URL, e.g. `https://api.github.com` or `https://ghe.example.com/api/v3`.
    pub api_url: url::Url,
    pub policy: CallPolicy,
}

/// How calls are tried, waited for and given up.
#[derive(Debug, Clone)]
pub struct CallPolicy {
    /// Tries of one call before it fails (at least 1).
    pub max_tries: u32,
    /// First backoff after a failure without a rate-limit hint; doubles per try, with jitter.
    pub base_backoff: Duration,
    /// Longest backoff.
    pub max_backoff: Duration,
    /// Longest rate-limit wait served inside a call; a longer one fails the call (retried later).
    pub max_wait: Duration,
    /// Time limit of one request, answer included.
    pub request_timeout: Duration,
    /// A cached installation token is replaced this long before it expires.
    pub token_refresh_margin: Duration,
}

impl Default for CallPolicy {
    fn default() -> Self {
        Self {
            max_tries: 5,
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            max_wait: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
            token_refresh_margin: Duration::from_secs(300),
        }
    }
}

/// Why a GitHub call failed.
#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    #[error("cannot use the GitHub App private key: {0}")]
    Key(String),
    #[error("cannot use the GitHub API URL {url}: {reason}")]
    ApiUrl { url: String, reason: String },
    #[error("cannot build the GitHub client: {0}")]
    Client(String),
    #[error("GitHub answered {status} to {method} {path} after {tries} tries: {message}")]
    Status {
        method: Method,
        path: String,
        status: u16,
        tries: u32,
        message: String,
    },
    #[error("GitHub rate limit on {path}: retry after {until}")]
    RateLimited { path: String, until: DateTime<Utc> },
    #[error("cannot reach GitHub for {path} after {tries} tries: {message}")]
    Transport {
        path: String,
        tries: u32,
        message: String,
    },
    #[error("unexpected answer from GitHub to {path}: {message}")]
    Decode { path: String, message: String },
}

impl GithubError {
    /// Worth trying again later (GitHub or the network may recover, a rate limit resets, an admin may
    /// fix the App's permissions); `false` for answers that will not change (404, 422).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Status { status, .. } => matches!(status, 401 | 403 | 429) || *status >= 500,
            Self::RateLimited { .. } | Self::Transport { .. } => true,
            Self::Key(_) | Self::ApiUrl { .. } | Self::Client(_) | Self::Decode { .. } => false,
        }
    }

    /// When a retry can succeed at the earliest (rate limits).
    pub fn not_before(&self) -> Option<DateTime<Utc>> {
        match self {
            Self::RateLimited { until, .. } => Some(*until),
            _ => None,
        }
    }
}

/// An answer from GitHub, read whole.
#[derive(Debug)]
pub struct ApiResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl ApiResponse {
    /// The body as `T`.
    pub fn json<T: DeserializeOwned>(&self, path: &str) -> Result<T, GithubError> {
        serde_json::from_str(&self.body).map_err(|e| GithubError::Decode {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }
}

/// What to do after one try of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallVerdict {
    /// Use the answer.
    Done,
    /// The token was refused: get a fresh one and try again.
    Refresh,
    /// Try again after this long.
    Retry(Duration),
    /// Give up with this answer.
    Fail,
}

/// How one try ended, as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub enum TryOutcome<'a> {
    Answer {
        status: StatusCode,
        headers: &'a HeaderMap,
        /// The body mentions a rate limit (GitHub's secondary limits say so only there).
        says_rate_limit: bool,
    },
    /// No answer: connection failure or timeout.
    NoAnswer,
}

impl CallPolicy {
    /// Decide after try number `tries` (1-based). `idempotent` calls may be repeated after an answer
    /// that may have had effects (5xx, no answer); others only after a rate-limit refusal.
    /// `jitter` in `[0, 1)` spreads backoffs.
    pub fn decide(
        &self,
        outcome: TryOutcome<'_>,
        tries: u32,
        idempotent: bool,
        now: DateTime<Utc>,
        jitter: f64,
    ) -> CallVerdict {
        let last = tries >= self.max_tries.max(1);
        match outcome {
            TryOutcome::Answer { status, .. } if status.is_success() || status.is_redirection() => {
                CallVerdict::Done
            }
            TryOutcome::Answer { status, .. } if status == StatusCode::UNAUTHORIZED => {
                CallVerdict::Refresh
            }
            TryOutcome::Answer {
                status,
                headers,
                says_rate_limit,
            } if status == StatusCode::FORBIDDEN || status == StatusCode::TOO_MANY_REQUESTS => {
                match rate_limit_wait(headers, now) {
                    _ if last => CallVerdict::Fail,
                    Some(wait) => CallVerdict::Retry(wait),
                    None if status == StatusCode::TOO_MANY_REQUESTS || says_rate_limit => {
                        CallVerdict::Retry(self.backoff(tries, jitter))
                    }
                    // A plain 403 is a permission refusal, not a limit.
                    None => CallVerdict::Fail,
                }
            }
            TryOutcome::Answer { status, .. }
                if status.is_server_error() && idempotent && !last =>
            {
                CallVerdict::Retry(self.backoff(tries, jitter))
            }
            TryOutcome::NoAnswer if idempotent && !last => {
                CallVerdict::Retry(self.backoff(tries, jitter))
            }
            _ => CallVerdict::Fail,
        }
    }

    /// Exponential backoff for try `tries`, jittered into `[d/2, d]`.
    pub fn backoff(&self, tries: u32, jitter: f64) -> Duration {
        Backoff::new(self.base_backoff, self.max_backoff)
            .jittered()
            .delay_with(tries.saturating_sub(1), jitter)
    }
}

/// The wait a rate-limited answer asks for: `retry-after` (seconds), else `x-ratelimit-reset` (epoch
/// seconds) when `x-ratelimit-remaining` is 0.
pub fn rate_limit_wait(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(secs) = header("retry-after").and_then(|v| v.parse::<u64>().ok()) {
        return Some(Duration::from_secs(secs));
    }
    if header("x-ratelimit-remaining") == Some("0") {
        let reset = header("x-ratelimit-reset")?.parse::<i64>().ok()?;
        let secs = (reset - now.timestamp()).max(0);
        // One second more: the reset time is rounded down.
        return Some(Duration::from_secs(u64::try_from(secs).unwrap_or(0) + 1));
    }
    None
}

/// A token's client is used while the token has more than `margin` left.
pub fn token_is_fresh(expires_at: DateTime<Utc>, now: DateTime<Utc>, margin: Duration) -> bool {
    let margin = chrono::Duration::from_std(margin).unwrap_or(chrono::Duration::minutes(5));
    expires_at - now > margin
}

/// A client authenticated as one installation, and when its token expires.
#[derive(Clone)]
struct InstallationClient {
    client: Octocrab,
    expires_at: DateTime<Utc>,
}

type TokenSlot = Arc<tokio::sync::Mutex<Option<InstallationClient>>>;

struct Inner {
    app_id: u64,
    api_url: url::Url,
    /// Authenticated as the App (a fresh RS256 JWT per request).
    app: Octocrab,
    policy: CallPolicy,
    counters: Arc<ApiCallCounters>,
    /// One slot per installation, so concurrent calls wait for one token instead of minting many.
    tokens: Mutex<HashMap<i64, TokenSlot>>,
}

/// The GitHub App: cheap to clone, shared by all workers.
#[derive(Clone)]
pub struct GithubApp {
    inner: Arc<Inner>,
}

impl fmt::Debug for GithubApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key nor a token.
        f.debug_struct("GithubApp")
            .field("app_id", &self.inner.app_id)
            .field("api_url", &self.inner.api_url.as_str())
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct AccessToken {
    token: String,
    expires_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct ErrorBody {
    message: Option<String>,
}

/// Who a call authenticates as.
#[derive(Debug, Clone, Copy)]
enum Auth {
    /// The App itself, with a fresh JWT per request; counted under `count_as` (the installation a token
    /// is minted for, or [`APP_CALLS`]).
    App { count_as: i64 },
    /// An installation, with its cached token.
    Installation(i64),
}

impl Auth {
    /// The key of the call counters.
    fn counted_as(self) -> i64 {
        match self {
            Self::App { count_as } => count_as,
            Self::Installation(id) => id,
        }
    }
}

/// What a call needs to know about itself.
#[derive(Clone, Copy)]
struct Call<'a> {
    auth: Auth,
    method: &'a Method,
    path: &'a str,
    body: Option<&'a serde_json::Value>,
    idempotent: bool,
}

impl GithubApp {
    /// Build the App client: check the key (by signing a JWT once) and the base URL.
    pub fn new(cfg: GithubAppConfig) -> Result<Self, GithubError> {
        let key =
            jsonwebtoken::EncodingKey::from_rsa_pem(cfg.private_key_pem.expose_secret().as_bytes())
                .map_err(|e| {
                    GithubError::Key(format!("not an RSA private key in PEM form ({e})"))
                })?;
        octocrab::auth::create_jwt(AppId(cfg.app_id), &key)
            .map_err(|e| GithubError::Key(format!("cannot sign a JWT with it ({e})")))?;
        let api_url = cfg.api_url;
        if !matches!(api_url.scheme(), "http" | "https") || api_url.host_str().is_none() {
            return Err(GithubError::ApiUrl {
                url: api_url.to_string(),
                reason: "use an http(s) URL with a host".into(),
            });
        }
        let base = api_url.as_str().trim_end_matches('/').to_owned();
        let app = Octocrab::builder()
            .base_uri(base.as_str())
            .map_err(|e| GithubError::ApiUrl {
                url: base.clone(),
                reason: e.to_string(),
            })?
            .add_header(ACCEPT, "application/vnd.github+json".into())
            .add_header(
                HeaderName::from_static("x-github-api-version"),
                API_VERSION.into(),
            )
            .set_connect_timeout(Some(cfg.policy.request_timeout))
            .set_read_timeout(Some(cfg.policy.request_timeout))
            .app(AppId(cfg.app_id), key)
            .build()
            .map_err(|e| GithubError::Client(e.to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                app_id: cfg.app_id,
                api_url,
                app,
                policy: cfg.policy,
                counters: Arc::new(ApiCallCounters::default()),
                tokens: Mutex::new(HashMap::new()),
            }),
        })
    }

    pub fn app_id(&self) -> u64 {
        self.inner.app_id
    }

    /// The API call counters (rendered at `/metrics`).
    pub fn counters(&self) -> Arc<ApiCallCounters> {
        Arc::clone(&self.inner.counters)
    }

    /// GET as an installation; retried per the policy.
    pub async fn get(&self, installation_id: i64, path: &str) -> Result<ApiResponse, GithubError> {
        self.call(Call {
            auth: Auth::Installation(installation_id),
            method: &Method::GET,
            path,
            body: None,
            idempotent: true,
        })
        .await
    }

    /// GET as the App itself (a JWT, for `/app/…` endpoints); retried per the policy and counted under
    /// [`APP_CALLS`].
    pub async fn app_get(&self, path: &str) -> Result<ApiResponse, GithubError> {
        self.call(Call {
            auth: Auth::App {
                count_as: APP_CALLS,
            },
            method: &Method::GET,
            path,
            body: None,
            idempotent: true,
        })
        .await
    }

    /// POST as the App itself. `idempotent`: repeating it after an answer that may have had effects (5xx,
    /// no answer) is harmless.
    pub async fn app_post(
        &self,
        path: &str,
        body: &serde_json::Value,
        idempotent: bool,
    ) -> Result<ApiResponse, GithubError> {
        self.call(Call {
            auth: Auth::App {
                count_as: APP_CALLS,
            },
            method: &Method::POST,
            path,
            body: Some(body),
            idempotent,
        })
        .await
    }

    /// GET as an installation and decode the body.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        installation_id: i64,
        path: &str,
    ) -> Result<(T, ApiResponse), GithubError> {
        let response = self.get(installation_id, path).await?;
        Ok((response.json(path)?, response))
    }

    /// POST as an installation. Not repeated after an answer that may have had effects: the caller
    /// makes such calls idempotent itself (check runs are looked up by `external_id` first).
    pub async fn post_json<T: DeserializeOwned>(
        &self,
        installation_id: i64,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, GithubError> {
        self.send_json(installation_id, &Method::POST, path, body, false)
            .await
    }

    /// PATCH as an installation (an update that is safe to repeat) and decode the body.
    pub async fn patch_json<T: DeserializeOwned>(
        &self,
        installation_id: i64,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, GithubError> {
        self.send_json(installation_id, &Method::PATCH, path, body, true)
            .await
    }

    /// PUT as an installation (an update that is safe to repeat); the answer as it is (`201` or `204`).
    pub async fn put(
        &self,
        installation_id: i64,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<ApiResponse, GithubError> {
        self.call(Call {
            auth: Auth::Installation(installation_id),
            method: &Method::PUT,
            path,
            body: Some(body),
            idempotent: true,
        })
        .await
    }

    async fn send_json<T: DeserializeOwned>(
        &self,
        installation_id: i64,
        method: &Method,
        path: &str,
        body: &serde_json::Value,
        idempotent: bool,
    ) -> Result<T, GithubError> {
        let response = self
            .call(Call {
                auth: Auth::Installation(installation_id),
                method,
                path,
                body: Some(body),
                idempotent,
            })
            .await?;
        response.json(path)
    }

    /// The path of the `rel="next"` page, if the answer has one on this API's origin.
    pub fn next_page(&self, response: &ApiResponse) -> Result<Option<String>, GithubError> {
        let Some(link) = response.headers.get(http::header::LINK) else {
            return Ok(None);
        };
        let link = link.to_str().unwrap_or_default();
        let Some(next) = next_link(link) else {
            return Ok(None);
        };
        let url = url::Url::parse(&next).map_err(|e| GithubError::Decode {
            path: next.clone(),
            message: format!("bad Link URL: {e}"),
        })?;
        let base = &self.inner.api_url;
        // Tokens go to the configured API only.
        if url.origin() != base.origin()
            || !url.path().starts_with(base.path().trim_end_matches('/'))
        {
            return Err(GithubError::Decode {
                path: next,
                message: "the next page is on another host".into(),
            });
        }
        Ok(Some(match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }))
    }

    #[tracing::instrument(skip(self, call), fields(installation_id = call.auth.counted_as(), method = %call.method, path = call.path))]
    async fn call(&self, call: Call<'_>) -> Result<ApiResponse, GithubError> {
        let policy = &self.inner.policy;
        let mut tries = 0u32;
        let mut refreshed = false;
        loop {
            tries += 1;
            let sent = match call.auth {
                Auth::App { .. } => self.send(&self.inner.app, &call).await,
                Auth::Installation(id) => {
                    let client = self.installation_client(id).await?;
                    self.send(&client.client, &call).await
                }
            };
            match self.judge(&call, sent, tries) {
                Judged::Done(response) => return Ok(response),
                Judged::Refresh => match call.auth {
                    Auth::Installation(id) if !refreshed => {
                        // An expired or revoked token: mint another once, and do not count this try.
                        refreshed = true;
                        tries -= 1;
                        self.forget_token(id).await;
                    }
                    Auth::Installation(_) => {
                        return Err(refused(&call, tries, "the installation token was refused"))
                    }
                    // Each request carries a fresh JWT: another would be refused the same way.
                    Auth::App { .. } => {
                        return Err(refused(
                            &call,
                            tries,
                            "the App's JWT was refused (check GITHUB_APP_ID and the key)",
                        ))
                    }
                },
                Judged::Wait(wait) => {
                    if wait > policy.max_wait {
                        return Err(GithubError::RateLimited {
                            path: call.path.to_owned(),
                            until: Utc::now()
                                + chrono::Duration::from_std(wait)
                                    .unwrap_or(chrono::Duration::hours(1)),
                        });
                    }
                    tracing::info!(
                        wait_ms = wait.as_millis() as u64,
                        tries,
                        "GitHub call will be retried"
                    );
                    tokio::time::sleep(wait).await;
                }
                Judged::Fail(e) => return Err(e),
            }
        }
    }

    /// Classify one try, count it, and turn it into what the loop does next.
    fn judge(&self, call: &Call<'_>, sent: Result<ApiResponse, String>, tries: u32) -> Judged {
        let policy = &self.inner.policy;
        let now = Utc::now();
        let jitter: f64 = rand::random();
        match sent {
            Ok(response) => {
                let says_rate_limit = response.body.to_ascii_lowercase().contains("rate limit");
                let outcome = TryOutcome::Answer {
                    status: response.status,
                    headers: &response.headers,
                    says_rate_limit,
                };
                let verdict = policy.decide(outcome, tries, call.idempotent, now, jitter);
                let limited = matches!(response.status.as_u16(), 403 | 429)
                    && (says_rate_limit
                        || response.status == StatusCode::TOO_MANY_REQUESTS
                        || rate_limit_wait(&response.headers, now).is_some());
                self.count(call.auth.counted_as(), response.status, limited);
                match verdict {
                    CallVerdict::Done => Judged::Done(response),
                    CallVerdict::Refresh => Judged::Refresh,
                    CallVerdict::Retry(wait) => Judged::Wait(wait),
                    CallVerdict::Fail if limited => Judged::Fail(GithubError::RateLimited {
                        path: call.path.to_owned(),
                        until: now
                            + chrono::Duration::from_std(
                                rate_limit_wait(&response.headers, now)
                                    .unwrap_or(policy.max_backoff),
                            )
                            .unwrap_or(chrono::Duration::minutes(1)),
                    }),
                    CallVerdict::Fail => Judged::Fail(GithubError::Status {
                        method: call.method.clone(),
                        path: call.path.to_owned(),
                        status: response.status.as_u16(),
                        tries,
                        message: error_message(&response.body),
                    }),
                }
            }
            Err(message) => {
                self.inner
                    .counters
                    .record(call.auth.counted_as(), CallResult::Transport);
                match policy.decide(TryOutcome::NoAnswer, tries, call.idempotent, now, jitter) {
                    CallVerdict::Retry(wait) => Judged::Wait(wait),
                    _ => Judged::Fail(GithubError::Transport {
                        path: call.path.to_owned(),
                        tries,
                        message,
                    }),
                }
            }
        }
    }

    fn count(&self, installation_id: i64, status: StatusCode, limited: bool) {
        let result = match status.as_u16() {
            _ if limited => CallResult::RateLimited,
            200..=399 => CallResult::Ok,
            401 => CallResult::Unauthorized,
            500.. => CallResult::ServerError,
            _ => CallResult::ClientError,
        };
        self.inner.counters.record(installation_id, result);
    }

    /// Send one request and read the whole answer, within the request timeout.
    async fn send(&self, client: &Octocrab, call: &Call<'_>) -> Result<ApiResponse, String> {
        let timeout = self.inner.policy.request_timeout;
        let exchange = async {
            let response = match *call.method {
                Method::POST => client._post(call.path, call.body).await,
                Method::PATCH => client._patch(call.path, call.body).await,
                Method::PUT => client._put(call.path, call.body).await,
                Method::GET => client._get(call.path).await,
                ref other => return Err(format!("unsupported method {other}")),
            }
            .map_err(|e| e.to_string())?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = client
                .body_to_string(response)
                .await
                .map_err(|e| e.to_string())?;
            Ok(ApiResponse {
                status,
                headers,
                body,
            })
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
        }
    }

    fn slot(&self, installation_id: i64) -> TokenSlot {
        let mut tokens = match self.inner.tokens.lock() {
            Ok(t) => t,
            Err(poisoned) => poisoned.into_inner(),
        };
        Arc::clone(tokens.entry(installation_id).or_default())
    }

    /// The installation's client, minting a token when there is none or it expires soon.
    async fn installation_client(
        &self,
        installation_id: i64,
    ) -> Result<InstallationClient, GithubError> {
        let slot = self.slot(installation_id);
        let mut cached = slot.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| {
            token_is_fresh(
                c.expires_at,
                Utc::now(),
                self.inner.policy.token_refresh_margin,
            )
        }) {
            return Ok(c.clone());
        }
        let fresh = self.mint_token(installation_id).await?;
        *cached = Some(fresh.clone());
        Ok(fresh)
    }

    async fn forget_token(&self, installation_id: i64) {
        *self.slot(installation_id).lock().await = None;
    }

    /// `POST /app/installations/{id}/access_tokens` as the App, under the same policy.
    #[tracing::instrument(skip(self))]
    async fn mint_token(&self, installation_id: i64) -> Result<InstallationClient, GithubError> {
        let path = format!("/app/installations/{installation_id}/access_tokens");
        let body = serde_json::Value::Object(Default::default());
        let call = Call {
            auth: Auth::App {
                count_as: installation_id,
            },
            method: &Method::POST,
            path: &path,
            body: Some(&body),
            // Minting twice is harmless.
            idempotent: true,
        };
        // Boxed: an installation call mints through `call`, which may mint.
        let response = Box::pin(self.call(call)).await?;
        let token: AccessToken = response.json(&path)?;
        tracing::debug!(expires_at = %token.expires_at, "installation token minted");
        let client = self
            .inner
            .app
            .user_access_token(SecretString::from(token.token))
            .map_err(|e| GithubError::Client(e.to_string()))?;
        Ok(InstallationClient {
            client,
            expires_at: token.expires_at,
        })
    }
}

/// The error of a call whose credentials GitHub refused.
fn refused(call: &Call<'_>, tries: u32, message: &str) -> GithubError {
    GithubError::Status {
        method: call.method.clone(),
        path: call.path.to_owned(),
        status: 401,
        tries,
        message: message.into(),
    }
}

/// What the call loop does after a judged try.
enum Judged {
    Done(ApiResponse),
    Refresh,
    Wait(Duration),
    Fail(GithubError),
}

/// GitHub's `message`, or the start of the body.
fn error_message(body: &str) -> String {
    serde_json::from_str::<ErrorBody>(body)
        .ok()
        .and_then(|b| b.message)
        .unwrap_or_else(|| body.chars().take(200).collect())
}

/// The `rel="next"` URL of a `Link` header.
pub fn next_link(link: &str) -> Option<String> {
    parse_link_header::parse_with_rel(link)
        .ok()?
        .remove("next")
        .map(|l| l.raw_uri)
}

/// Check `owner/name` before it goes into a URL path.
pub fn repo_path(full_name: &str) -> Result<&str, GithubError> {
    let ok = full_name.split('/').count() == 2
        && full_name.split('/').all(|p| {
            !p.is_empty()
                && p != "."
                && p != ".."
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        });
    if ok {
        Ok(full_name)
    } else {
        Err(GithubError::Decode {
            path: full_name.to_owned(),
            message: "not a repository full name".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn policy() -> CallPolicy {
        CallPolicy {
            max_tries: 3,
            base_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(10),
            ..CallPolicy::default()
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).expect("header"));
        }
        h
    }

    fn answer(status: u16, h: &HeaderMap, says: bool) -> TryOutcome<'_> {
        TryOutcome::Answer {
            status: StatusCode::from_u16(status).expect("status"),
            headers: h,
            says_rate_limit: says,
        }
    }

    #[test]
    fn retry_after_wins_over_reset() {
        let now = Utc::now();
        let reset = (now.timestamp() + 500).to_string();
        let h = headers(&[
            ("retry-after", "7"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", &reset),
        ]);
        let v = policy().decide(answer(429, &h, false), 1, true, now, 0.0);
        assert_eq!(v, CallVerdict::Retry(Duration::from_secs(7)));
    }

    #[test]
    fn reset_is_honoured_when_remaining_is_zero() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).expect("time");
        let h = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1800000042"),
        ]);
        let v = policy().decide(answer(403, &h, false), 1, false, now, 0.0);
        assert_eq!(v, CallVerdict::Retry(Duration::from_secs(43)));
    }

    #[test]
    fn secondary_limit_without_headers_backs_off_exponentially() {
        let h = HeaderMap::new();
        let p = policy();
        let now = Utc::now();
        assert_eq!(
            p.decide(answer(403, &h, true), 1, true, now, 1.0),
            CallVerdict::Retry(Duration::from_secs(2))
        );
        assert_eq!(
            p.decide(answer(429, &h, false), 2, true, now, 1.0),
            CallVerdict::Retry(Duration::from_secs(4))
        );
        assert_eq!(
            p.decide(answer(429, &h, false), 3, true, now, 1.0),
            CallVerdict::Fail,
            "tries are bounded"
        );
    }

    #[test]
    fn plain_forbidden_is_not_retried() {
        let h = HeaderMap::new();
        assert_eq!(
            policy().decide(answer(403, &h, false), 1, true, Utc::now(), 0.5),
            CallVerdict::Fail
        );
    }

    #[test]
    fn server_errors_and_timeouts_retry_only_idempotent_calls() {
        let h = HeaderMap::new();
        let p = policy();
        let now = Utc::now();
        assert!(
            matches!(p.decide(answer(502, &h, false), 1, true, now, 0.0), CallVerdict::Retry(d) if d == Duration::from_secs(1))
        );
        assert_eq!(
            p.decide(answer(502, &h, false), 1, false, now, 0.0),
            CallVerdict::Fail
        );
        assert!(
            matches!(p.decide(TryOutcome::NoAnswer, 2, true, now, 0.0), CallVerdict::Retry(d) if d == Duration::from_secs(2))
        );
        assert_eq!(
            p.decide(TryOutcome::NoAnswer, 1, false, now, 0.0),
            CallVerdict::Fail
        );
        assert_eq!(
            p.decide(answer(404, &h, false), 1, true, now, 0.0),
            CallVerdict::Fail
        );
        assert_eq!(
            p.decide(answer(401, &h, false), 1, true, now, 0.0),
            CallVerdict::Refresh
        );
    }

    #[test]
    fn backoff_is_capped_and_jittered() {
        let p = policy();
        assert_eq!(p.backoff(10, 1.0), Duration::from_secs(10));
        assert_eq!(p.backoff(10, 0.0), Duration::from_secs(5));
    }

    #[test]
    fn tokens_are_replaced_before_they_expire() {
        let now = Utc::now();
        let margin = Duration::from_secs(300);
        assert!(token_is_fresh(
            now + chrono::Duration::minutes(59),
            now,
            margin
        ));
        assert!(!token_is_fresh(
            now + chrono::Duration::minutes(4),
            now,
            margin
        ));
        assert!(!token_is_fresh(
            now - chrono::Duration::minutes(1),
            now,
            margin
        ));
    }

    #[test]
    fn next_link_is_found_among_others() {
        let link = r#"<https://api.github.com/repositories/1/commits/abc?page=2>; rel="next", <https://api.github.com/repositories/1/commits/abc?page=10>; rel="last""#;
        assert_eq!(
            next_link(link).as_deref(),
            Some("https://api.github.com/repositories/1/commits/abc?page=2")
        );
        assert_eq!(next_link(r#"<https://x/?page=1>; rel="prev""#), None);
    }

    #[test]
    fn repository_names_are_checked_before_use_in_paths() {
        assert!(repo_path("course/lab1-alice.v2").is_ok());
        for bad in ["course", "a/b/c", "../x", "a/..", "a/b?c", "a/b c", "/b"] {
            assert!(repo_path(bad).is_err(), "{bad}");
        }
    }
}
