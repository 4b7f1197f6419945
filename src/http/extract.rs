//! The axum extractor that admits a delivery: headers and size checked before any body byte is read,
//! the body received (its bytes counted as they arrive, at a minimum rate), a place in the edge's
//! concurrency cap once it is complete, then its signature and its decoding.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequest, Request};
use axum::http::{header, HeaderMap};
use http_body::Body as _;

use crate::http::edge::{Admission, Edge, Peer};
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
    /// The body exactly as received (stored as the payload of a JSON body, or kept for inspection when
    /// the delivery is rejected).
    pub raw: Vec<u8>,
    /// What the body is.
    pub payload: Payload,
    /// Its place in the edge's concurrency cap, its bytes (every copy) in the body-memory budget and its
    /// place in its peer's limit, released when dropped: after the delivery is committed.
    pub admission: Admission,
}

/// A delivery body, decoded.
#[derive(Debug)]
pub enum Payload {
    /// A JSON body: the raw body is the document.
    Json,
    /// A form body (`payload=<json>`), decoded (its bytes are counted in the admission).
    Form(Vec<u8>),
    /// Why the body could not be decoded.
    Undecodable(String),
}

impl SignedDelivery {
    /// The JSON document, or why there is none.
    pub fn document(&self) -> Result<&[u8], &str> {
        match &self.payload {
            Payload::Json => Ok(&self.raw),
            Payload::Form(decoded) => Ok(decoded),
            Payload::Undecodable(e) => Err(e),
        }
    }
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
        let edge = Arc::<Edge>::from_ref(state);
        let checked = check_headers(&headers, state).and_then(|checked| {
            let receiving = edge.start_receiving(req.extensions().get::<Peer>())?;
            Ok((checked, receiving))
        });
        let ((secrets, guid, event, declared), mut receiving) = match checked {
            Ok(checked) => checked,
            Err(e) => {
                discard_body(req);
                return Err(e);
            }
        };
        // No place in the cap and no bytes reserved until the bytes arrive.
        let raw = edge
            .receive(&mut receiving, req.into_body(), declared, MAX_BODY_BYTES)
            .await?;
        let mut admission = edge.admit(receiving)?;
        let signature = headers.get("x-hub-signature-256").map(|v| v.as_bytes());
        secrets
            .verify(signature, &raw)
            .map_err(|e| AppError::Unauthorized(e.to_string()))?;
        let payload = decode_body(&edge, &headers, &raw, &mut admission).await?;
        Ok(Self {
            guid,
            event,
            raw,
            payload,
            admission,
        })
    }
}

/// Everything checked before any body byte is read: a secret is configured, the signature header is
/// well-formed, the delivery and event headers are valid, the declared size is within GitHub's limit.
fn check_headers<S>(
    headers: &HeaderMap,
    state: &S,
) -> Result<(WebhookSecrets, String, String, Option<usize>), AppError>
where
    SecretsState: FromRef<S>,
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
    Ok((secrets, guid, event, declared))
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

/// JSON bodies as they are; form bodies (`payload=<json>`) decoded, the decoded copy counted in the
/// admission. The HMAC was over the raw body.
async fn decode_body(
    edge: &Edge,
    headers: &HeaderMap,
    body: &[u8],
    admission: &mut Admission,
) -> Result<Payload, AppError> {
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
    Ok(match mime.as_str() {
        "application/json" => Payload::Json,
        "application/x-www-form-urlencoded" => {
            // The decoded value is at most as long as the body.
            admission.hold(edge.reserve_copy(body.len()).await?);
            match form_urlencoded::parse(body).find(|(k, _)| k == "payload") {
                Some((_, v)) => Payload::Form(v.into_owned().into_bytes()),
                None => Payload::Undecodable("form body has no payload field".to_owned()),
            }
        }
        other => Payload::Undecodable(format!("unsupported content type {other:?}")),
    })
}
