//! The HTTP edge: the accept loop (connection cap, header read timeout), the body read deadline,
//! webhook admission (concurrency and body-memory budget), the `/metrics` token and its cached queue
//! counts, and shutdown with a deadline. Limits: docs/security.md.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::db::{self, DbErr, Pool};
use crate::http::error::AppError;
use crate::metrics::EdgeGauges;

/// The edge's limits (`serve` flags / `LABTRAIL_*` variables; tests set small values).
#[derive(Debug, Clone)]
pub struct EdgeLimits {
    /// A connection must send a request's complete headers within this time (idle keep-alive
    /// connections included), or it is closed.
    pub header_timeout: Duration,
    /// A request's whole body must arrive within this time after its headers.
    pub body_timeout: Duration,
    /// Open connections at most; beyond, new connections wait in the listen backlog.
    pub max_connections: usize,
    /// Webhook requests handled at once; beyond, `503` with `Retry-After`.
    pub max_webhook_concurrency: usize,
    /// Bytes of webhook bodies held at once, reserved by `Content-Length` (25 MiB when unknown)
    /// before any body byte is read; beyond, `503` with `Retry-After`.
    pub max_body_memory: usize,
    /// At shutdown, requests still incomplete after this time are dropped.
    pub shutdown_timeout: Duration,
    /// `Authorization: Bearer <token>` required on `/metrics`; `None`: open.
    pub metrics_token: Option<SecretString>,
    /// How long `/metrics` reuses the stored deliveries' counts.
    pub metrics_cache_ttl: Duration,
}

impl Default for EdgeLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            max_connections: 1024,
            max_webhook_concurrency: 64,
            max_body_memory: 256 * 1024 * 1024,
            shutdown_timeout: Duration::from_secs(10),
            metrics_token: None,
            metrics_cache_ttl: Duration::from_secs(10),
        }
    }
}

/// Stored deliveries per status, and when they were counted.
type CachedCounts = (Instant, Vec<(String, i64)>);

/// The edge's shared state: its limits, budgets and gauges.
#[derive(Debug)]
pub struct Edge {
    limits: EdgeLimits,
    webhooks: Arc<Semaphore>,
    body_memory: Arc<Semaphore>,
    connections: AtomicUsize,
    queue: tokio::sync::Mutex<Option<CachedCounts>>,
}

/// A webhook request's place in the concurrency cap and its reserved body bytes; released on drop.
#[derive(Debug)]
pub struct Admission {
    _webhook: OwnedSemaphorePermit,
    _memory: OwnedSemaphorePermit,
}

impl Edge {
    pub fn new(limits: EdgeLimits) -> Self {
        Self {
            webhooks: Arc::new(Semaphore::new(limits.max_webhook_concurrency.max(1))),
            body_memory: Arc::new(Semaphore::new(
                limits.max_body_memory.min(Semaphore::MAX_PERMITS),
            )),
            connections: AtomicUsize::new(0),
            queue: tokio::sync::Mutex::new(None),
            limits,
        }
    }

    pub fn limits(&self) -> &EdgeLimits {
        &self.limits
    }

    /// Admit a webhook request whose body will hold at most `body_bytes`, before reading it: `503`
    /// when too many are in flight or the body-memory budget cannot hold it now.
    pub fn admit(&self, body_bytes: usize) -> Result<Admission, AppError> {
        let busy = |what: &str| AppError::Unavailable {
            message: format!("too many {what} in flight, retry later"),
            retry_after_secs: Some(5),
        };
        let webhook = Arc::clone(&self.webhooks)
            .try_acquire_owned()
            .map_err(|_| busy("webhook requests"))?;
        let bytes = u32::try_from(body_bytes.max(1)).map_err(|_| AppError::PayloadTooLarge)?;
        let memory = Arc::clone(&self.body_memory)
            .try_acquire_many_owned(bytes)
            .map_err(|_| busy("webhook body bytes"))?;
        Ok(Admission {
            _webhook: webhook,
            _memory: memory,
        })
    }

    pub fn gauges(&self) -> EdgeGauges {
        let max_body_memory = self.limits.max_body_memory.min(Semaphore::MAX_PERMITS);
        EdgeGauges {
            connections: self.connections.load(Ordering::Relaxed),
            webhooks_in_flight: self
                .limits
                .max_webhook_concurrency
                .max(1)
                .saturating_sub(self.webhooks.available_permits()),
            body_bytes_reserved: max_body_memory
                .saturating_sub(self.body_memory.available_permits()),
            max_body_memory,
        }
    }

    /// The stored deliveries per status, counted at most once per `metrics_cache_ttl` whatever the
    /// scrape rate (concurrent scrapes wait for one count).
    pub async fn queue_counts(&self, db: &Pool) -> Result<Vec<(String, i64)>, DbErr> {
        let mut cached = self.queue.lock().await;
        if let Some((at, counts)) = cached.as_ref() {
            if at.elapsed() < self.limits.metrics_cache_ttl {
                return Ok(counts.clone());
            }
        }
        let counts = db::deliveries::count_by_status(db).await?;
        *cached = Some((Instant::now(), counts.clone()));
        Ok(counts)
    }

    /// `Ok` when no token is configured or the request carries it as a bearer token.
    pub fn check_metrics_token(&self, headers: &HeaderMap) -> Result<(), AppError> {
        let Some(token) = &self.limits.metrics_token else {
            return Ok(());
        };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if bool::from(given.as_bytes().ct_eq(token.expose_secret().as_bytes())) {
            Ok(())
        } else {
            Err(AppError::Unauthorized(
                "GET /metrics needs Authorization: Bearer <LABTRAIL_METRICS_TOKEN>".into(),
            ))
        }
    }
}

/// Middleware: the request body must arrive completely within `body_timeout`.
pub async fn body_deadline(State(edge): State<Arc<Edge>>, req: Request, next: Next) -> Response {
    let deadline = tokio::time::Instant::now() + edge.limits.body_timeout;
    next.run(req.map(|body| Body::new(DeadlineBody::new(body, deadline))))
        .await
}

/// A body that fails once its deadline passes before its end.
struct DeadlineBody {
    inner: Body,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl DeadlineBody {
    fn new(inner: Body, deadline: tokio::time::Instant) -> Self {
        Self {
            inner,
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
        }
    }
}

/// The body did not arrive within the body read timeout.
#[derive(Debug, thiserror::Error)]
#[error("the request body was not received within the body read timeout")]
pub struct BodyTimeout;

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Serve `router` on `listener` under the edge's limits until `shutdown` completes; then stop
/// accepting, let open requests finish for at most `shutdown_timeout`, and drop the rest.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    edge: Arc<Edge>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = edge.limits.clone();
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (closing_tx, closing_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    tokio::pin!(shutdown);
    loop {
        // Reap finished connections so the set does not grow.
        while connections.try_join_next().is_some() {}
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let (stream, _peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment instead of spinning.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let conn = builder.serve_connection(
            TokioIo::new(stream),
            TowerToHyperService::new(router.clone()),
        );
        let edge = Arc::clone(&edge);
        let mut closing = closing_rx.clone();
        connections.spawn(async move {
            let _slot = slot;
            let _open = OpenConnection::new(edge);
            tokio::pin!(conn);
            let result = tokio::select! {
                result = conn.as_mut() => result,
                _ = async { closing.wait_for(|c| *c).await.map(|_| ()) } => {
                    // Finish the request in progress, then close.
                    conn.as_mut().graceful_shutdown();
                    conn.as_mut().await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let _ = closing_tx.send(true);
    let finished = tokio::time::timeout(limits.shutdown_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if finished.is_err() {
        tracing::warn!(
            open = connections.len(),
            "requests still incomplete at the shutdown deadline are dropped"
        );
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }
    Ok(())
}

/// Counts an open connection in the gauge until dropped (also when its task is aborted).
struct OpenConnection(Arc<Edge>);

impl OpenConnection {
    fn new(edge: Arc<Edge>) -> Self {
        edge.connections.fetch_add(1, Ordering::Relaxed);
        Self(edge)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::Relaxed);
    }
}
