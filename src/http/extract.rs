//! The axum extractor that admits a delivery: headers and size checked before any body byte is read,
//! a place in the edge's budgets, then the body within its deadline, its signature, its decoding.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, Request};
use axum::http::{header, HeaderMap, StatusCode};
use http_body::Body as _;

use crate::http::edge::{Admission, Edge};
use crate::http::error::AppError;
use crate::webhook::signature::{SignatureError, WebhookSecrets};

/// GitHub caps webhook payloads at 25 MB.
pub const MAX_BODY_BYTES: usize = 25 * 1024 * 1024;

/// A delivery whose signature verified, with its headers checked.
#[derive(Debug)]
pub struct SignedDelivery {
    /// `X-GitHub-Delivery`.
    pub guid: String,
    /// `X-GitHub-Event`.
    pub event: String,
    /// The JSON document (decoded from a form body), or why it could not be decoded.
    pub payload: Result<Vec<u8>, String>,
    /// The body exactly as received (kept for inspection when it is rejected).
    pub raw: Bytes,
    /// Its place in the edge's concurrency cap and body-memory budget, released when dropped.
    pub admission: Admission,
}

/// The secrets in force, or `None` in setup mode.
#[derive(Clone, Debug)]
pub struct SecretsState(pub Option<WebhookSecrets>);

impl<S> FromRequest<S> for SignedDelivery
where
    S: Send + Sync,
    SecretsState: FromRef<S>,
    Arc<Edge>: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let headers = req.headers().clone();
        let (secrets, guid, event, admission) = match admit(&headers, state) {
            Ok(admitted) => admitted,
            Err(e) => {
                discard_body(req);
                return Err(e);
            }
        };
        let body = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                AppError::PayloadTooLarge
            } else {
                AppError::BadRequest(format!("cannot read body: {e}"))
            }
        })?;
        let signature = headers.get("x-hub-signature-256").map(|v| v.as_bytes());
        secrets
            .verify(signature, &body)
            .map_err(|e| AppError::Unauthorized(e.to_string()))?;
        Ok(Self {
            guid,
            event,
            payload: decode_body(&headers, &body),
            raw: body,
            admission,
        })
    }
}

/// Everything checked before any body byte is read: a secret is configured, the signature header is
/// well-formed, the delivery and event headers are valid, the declared size is within GitHub's limit, and
/// the edge admits the request (concurrency and body-memory budget).
fn admit<S>(
    headers: &HeaderMap,
    state: &S,
) -> Result<(WebhookSecrets, String, String, Admission), AppError>
where
    SecretsState: FromRef<S>,
    Arc<Edge>: FromRef<S>,
{
    let SecretsState(secrets) = SecretsState::from_ref(state);
    let secrets = secrets.ok_or_else(|| AppError::Unavailable {
        message: "no webhook secret is configured: finish the setup first".into(),
        retry_after_secs: None,
    })?;
    check_signature_header(headers.get("x-hub-signature-256").map(|v| v.as_bytes()))
        .map_err(|e| AppError::Unauthorized(e.to_string()))?;
    let guid = header_token(headers, "x-github-delivery", 128, |c| {
        c.is_ascii_alphanumeric() || c == '-'
    })?;
    let event = header_token(headers, "x-github-event", 64, |c| {
        c.is_ascii_lowercase() || c == '_'
    })?;
    let declared = declared_length(headers)?;
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(AppError::PayloadTooLarge);
    }
    let admission = Arc::<Edge>::from_ref(state).admit(declared.unwrap_or(MAX_BODY_BYTES))?;
    Ok((secrets, guid, event, admission))
}

/// After a refusal sent before the body was read, read and drop what the client still sends (at most
/// [`MAX_BODY_BYTES`], within the body deadline), so that closing the connection does not reset it
/// before the client has read the answer. Nothing is kept. A client waiting for `100 Continue` is not
/// invited to send its body.
fn discard_body(req: Request) {
    if req.headers().contains_key(header::EXPECT) {
        return;
    }
    let mut body = req.into_body();
    tokio::spawn(async move {
        let mut seen = 0usize;
        while let Some(Ok(frame)) =
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
        {
            seen += frame.data_ref().map_or(0, |d| d.len());
            if seen > MAX_BODY_BYTES {
                break;
            }
        }
    });
}

/// `sha256=<64 hex>`, checked for its form only (the body is not read yet).
fn check_signature_header(value: Option<&[u8]>) -> Result<(), SignatureError> {
    let value = value.ok_or(SignatureError::Missing)?;
    let hex = value
        .strip_prefix(b"sha256=")
        .ok_or(SignatureError::UnsupportedAlgorithm)?
        .trim_ascii();
    if hex.len() == 64 && hex.iter().all(u8::is_ascii_hexdigit) {
        Ok(())
    } else {
        Err(SignatureError::Malformed)
    }
}

/// The declared `Content-Length`, if any.
fn declared_length(headers: &HeaderMap) -> Result<Option<usize>, AppError> {
    headers
        .get(header::CONTENT_LENGTH)
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
                .ok_or_else(|| AppError::BadRequest("invalid content-length header".into()))
        })
        .transpose()
}

fn header_token(
    headers: &HeaderMap,
    name: &'static str,
    max_len: usize,
    allowed: impl Fn(char) -> bool,
) -> Result<String, AppError> {
    let value = headers
        .get(name)
        .ok_or_else(|| AppError::BadRequest(format!("missing {name} header")))?;
    let value = value
        .to_str()
        .map_err(|_| AppError::BadRequest(format!("invalid {name} header")))?
        .trim();
    if value.is_empty() || value.len() > max_len || !value.chars().all(allowed) {
        return Err(AppError::BadRequest(format!("invalid {name} header")));
    }
    Ok(value.to_owned())
}

/// JSON bodies as they are; form bodies (`payload=<json>`) decoded. The HMAC was over the raw body.
fn decode_body(headers: &HeaderMap, body: &[u8]) -> Result<Vec<u8>, String> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/json" => Ok(body.to_vec()),
        "application/x-www-form-urlencoded" => form_urlencoded::parse(body)
            .find(|(k, _)| k == "payload")
            .map(|(_, v)| v.into_owned().into_bytes())
            .ok_or_else(|| "form body has no payload field".to_owned()),
        other => Err(format!("unsupported content type {other:?}")),
    }
}
