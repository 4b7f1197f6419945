//! `labtrail witness serve`: a c2sp.org/tlog-witness witness of other logs (labtrail or any
//! `tlog-checkpoint` log with an Ed25519 key). One route, `POST /add-checkpoint`: the log's signature is
//! checked against the key of the logs file, the consistency proof from the size last cosigned against
//! the stored root, the new size and root are stored (one conditional write: never a rollback), then a
//! `cosignature/v1` line by the witness key is the answer. Refusals use the spec's status codes: `400`
//! a malformed request or an old size above the checkpoint's, `403` no valid signature by the log's key,
//! `404` an unknown origin, `409` (body: the size cosigned, `text/x.tlog.size`) an old size that is not
//! the witness's, `422` a proof that does not verify or a root that differs at the same size.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use tokio::net::TcpListener;

use crate::audit::checkpoint::{open_note, parse_note, Checkpoint, NoteError, Verifier};
use crate::audit::merkle::{self, Hash};
use crate::audit::witness::{AddCheckpoint, CosignerKey};
use crate::db::{self, Pool};

/// The largest request accepted (a checkpoint with its signatures and 63 proof lines is a few KiB).
const MAX_BODY: usize = 64 * 1024;

/// The witness's key, the logs it witnesses (by origin) and its database.
#[derive(Clone)]
pub struct WitnessState {
    key: Arc<CosignerKey>,
    logs: Arc<HashMap<String, Verifier>>,
    db: Pool,
}

impl WitnessState {
    pub fn new(key: CosignerKey, logs: Vec<Verifier>, db: Pool) -> Self {
        let logs = logs.into_iter().map(|v| (v.name.clone(), v)).collect();
        Self {
            key: Arc::new(key),
            logs: Arc::new(logs),
            db,
        }
    }
}

/// Why a checkpoint was not cosigned, with the status the spec gives it.
#[derive(Debug, thiserror::Error)]
pub enum WitnessRefusal {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("unknown log {0:?}")]
    UnknownLog(String),
    #[error("{0}")]
    Conflict(u64),
    #[error("{0}")]
    Unprocessable(String),
    #[error("cannot read or write the witness state")]
    Db(#[from] db::DbErr),
}

impl IntoResponse for WitnessRefusal {
    fn into_response(self) -> Response {
        let plain = |status: StatusCode, text: String| {
            (
                status,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!("{text}\n"),
            )
                .into_response()
        };
        match self {
            Self::Conflict(size) => (
                StatusCode::CONFLICT,
                [(header::CONTENT_TYPE, "text/x.tlog.size")],
                format!("{size}\n"),
            )
                .into_response(),
            Self::BadRequest(m) => plain(StatusCode::BAD_REQUEST, m),
            Self::Forbidden(m) => plain(StatusCode::FORBIDDEN, m),
            e @ Self::UnknownLog(_) => plain(StatusCode::NOT_FOUND, e.to_string()),
            Self::Unprocessable(m) => plain(StatusCode::UNPROCESSABLE_ENTITY, m),
            Self::Db(e) => {
                let error = crate::error::Chain(&e);
                tracing::error!(%error, "witness state");
                plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
            }
        }
    }
}

/// The witness's routes.
pub fn router(state: WitnessState) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

async fn add_checkpoint(State(s): State<WitnessState>, body: String) -> Response {
    match cosign(&s, &body).await {
        Ok(line) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{line}\n"),
        )
            .into_response(),
        Err(refusal) => {
            tracing::info!(%refusal, "checkpoint not cosigned");
            refusal.into_response()
        }
    }
}

/// Check one `add-checkpoint` request and, when it holds, record it and cosign it.
pub async fn cosign(s: &WitnessState, body: &str) -> Result<String, WitnessRefusal> {
    let req = AddCheckpoint::parse(body).map_err(WitnessRefusal::BadRequest)?;
    let note = parse_note(&req.note).map_err(|e| WitnessRefusal::BadRequest(e.to_string()))?;
    let origin = note.text.lines().next().unwrap_or_default().to_owned();
    let log = s
        .logs
        .get(&origin)
        .ok_or_else(|| WitnessRefusal::UnknownLog(origin.clone()))?;
    let text = open_note(&req.note, log).map_err(|e| match e {
        NoteError::Malformed(m) => WitnessRefusal::BadRequest(m),
        other => WitnessRefusal::Forbidden(other.to_string()),
    })?;
    let checkpoint =
        Checkpoint::parse_body(&text).map_err(|e| WitnessRefusal::BadRequest(e.to_string()))?;
    let (Some(root), Ok(size)) = (checkpoint.root(), u64::try_from(checkpoint.size)) else {
        return Err(WitnessRefusal::BadRequest(
            "the checkpoint has no root".into(),
        ));
    };
    if req.old > size {
        return Err(WitnessRefusal::BadRequest(format!(
            "old size {} is above the checkpoint's size {size}",
            req.old
        )));
    }
    let state = db::witness::state(&s.db, &origin).await?;
    if req.old != state.0 {
        return Err(WitnessRefusal::Conflict(state.0));
    }
    if size == 0 && root != merkle::empty_root() {
        return Err(WitnessRefusal::Unprocessable(
            "a checkpoint of size 0 must have the empty tree's root".into(),
        ));
    }
    let stored_root = state.1.as_deref().and_then(|r| Hash::from_base64(r).ok());
    match (req.old, stored_root) {
        (0, _) if !req.proof.is_empty() => {
            return Err(WitnessRefusal::Unprocessable(
                "a consistency proof from size 0 must be empty".into(),
            ))
        }
        (0, _) => {}
        (old, Some(stored)) if old == size => {
            if stored != root {
                return Err(WitnessRefusal::Unprocessable(format!(
                    "another root for size {size} than the one cosigned: a fork"
                )));
            }
        }
        (old, Some(stored)) => {
            merkle::verify_consistency(old, size, &stored, &root, &req.proof).map_err(|e| {
                WitnessRefusal::Unprocessable(format!(
                    "the tree of size {size} is not an extension of the one cosigned at size \
                     {old}: {e}"
                ))
            })?;
        }
        (_, None) => {
            return Err(WitnessRefusal::Unprocessable(
                "the stored root of this log is unreadable".into(),
            ))
        }
    }
    // The state is written before answering; if another request moved it meanwhile, nothing is written.
    if !db::witness::advance(&s.db, &origin, &state, size, &root.to_base64(), &req.note).await? {
        let now = db::witness::state(&s.db, &origin).await?;
        return Err(WitnessRefusal::Conflict(now.0));
    }
    let timestamp = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
    Ok(s.key.cosign(&text, timestamp))
}

/// Serve the witness on `listener` until `shutdown` completes.
pub async fn run(
    listener: TcpListener,
    state: WitnessState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Bind `addr` and report the bound address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    Ok((listener, bound))
}
