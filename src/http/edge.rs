//! The HTTP edge: the accept loop (connection cap and per-peer limit, the slowest connection closed
//! when full, header read timeouts), the body read deadline, webhook bodies received under a minimum
//! rate and counted in the body-memory budget as they arrive, admission to the concurrency cap once a
//! body is complete, the `/metrics` token and its cached queue
//! counts, and shutdown with a deadline. Limits: docs/security.md.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use http_body::Body as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::db::{self, DbErr, Pool};
use crate::http::error::AppError;
use crate::metrics::EdgeGauges;

/// The edge's limits (`serve` flags / `LABTRAIL_*` variables; tests set small values).
#[derive(Debug, Clone)]
pub struct EdgeLimits {
    /// A kept-alive connection must send its next request's complete headers within this time after
    /// the previous response, or it is closed.
    pub header_timeout: Duration,
    /// A new connection must send its first request's complete headers within this time (shorter than
    /// `header_timeout`: a socket that never says anything is closed sooner).
    pub new_connection_header_timeout: Duration,
    /// A request's whole body must arrive within this time after its headers.
    pub body_timeout: Duration,
    /// A webhook body may arrive at any pace for this long after its headers; from then on it must
    /// keep up with `min_body_rate`.
    pub body_grace: Duration,
    /// Bytes per second a webhook body must average after `body_grace`: by `grace + t`, at least
    /// `t × min_body_rate` bytes must have arrived, or the request is dropped.
    pub min_body_rate: usize,
    /// Open connections at most; when full, the slowest open connection (fewest bytes received for
    /// its age, not busy with an admitted delivery) is closed for the new one, or the new one waits.
    pub max_connections: usize,
    /// Open connections from one peer address at most; beyond, that peer's slowest connection is
    /// closed for the new one (or the new one is, when none can be).
    pub max_connections_per_peer: usize,
    /// Webhook requests whose body has arrived, handled at once (HMAC, storing); beyond, `503` with
    /// `Retry-After`. A request takes a place only once its whole body has been received.
    pub max_webhook_concurrency: usize,
    /// Webhook requests from one peer address in flight at once (receiving or handled); beyond, that
    /// peer's slowest body being received (past `body_grace`) is dropped for the new one.
    pub max_webhooks_per_peer: usize,
    /// Bytes of webhook bodies held at once, counted as they arrive (every copy until the delivery
    /// is committed); when a chunk does not fit, the slowest body being received is dropped for it,
    /// or the request gets `503` with `Retry-After`.
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
            new_connection_header_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(10),
            body_grace: Duration::from_secs(2),
            min_body_rate: 64 * 1024,
            max_connections: 1024,
            max_connections_per_peer: 64,
            max_webhook_concurrency: 64,
            max_webhooks_per_peer: 16,
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
    /// Open connections and webhook bodies being received, for the per-peer limits and eviction.
    tracked: Mutex<Tracked>,
    next_id: AtomicU64,
    queue: tokio::sync::Mutex<Option<CachedCounts>>,
}

/// What the edge tracks to find the slowest connection or body.
#[derive(Debug, Default)]
struct Tracked {
    connections: HashMap<u64, Tracker>,
    receiving: HashMap<u64, Tracker>,
    /// Webhook requests in flight per peer (receiving or admitted).
    webhooks_per_peer: HashMap<IpAddr, usize>,
}

/// One connection or body being received: whose, since when, how many bytes so far, how to end it.
#[derive(Debug, Clone)]
struct Tracker {
    ip: IpAddr,
    since: Instant,
    bytes: Arc<AtomicU64>,
    evict: Arc<Notify>,
    /// Admitted deliveries on this connection: it is not evicted while one is being stored.
    busy: Arc<AtomicUsize>,
}

impl Tracker {
    fn new(ip: IpAddr) -> Self {
        Self {
            ip,
            since: Instant::now(),
            bytes: Arc::new(AtomicU64::new(0)),
            evict: Arc::new(Notify::new()),
            busy: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Bytes received per second of age: the lower, the slower.
    fn rate(&self, now: Instant) -> f64 {
        let age = now.saturating_duration_since(self.since).as_secs_f64();
        // Lossy only beyond 2^53 bytes.
        #[allow(clippy::cast_precision_loss)]
        let bytes = self.bytes.load(Ordering::Relaxed) as f64;
        bytes / age.max(1e-3)
    }
}

/// From `candidates`, the slowest one old enough to judge (at least `grace`), removed from `map` and
/// told to end: the bytes it had received, or `None` when there is none.
fn evict_slowest(
    map: &mut HashMap<u64, Tracker>,
    grace: Duration,
    keep: impl Fn(u64, &Tracker) -> bool,
) -> Option<u64> {
    let now = Instant::now();
    let victim = map
        .iter()
        .filter(|(id, t)| {
            keep(**id, t)
                && now.saturating_duration_since(t.since) >= grace
                && t.busy.load(Ordering::Relaxed) == 0
        })
        .min_by(|(_, a), (_, b)| {
            a.rate(now)
                .total_cmp(&b.rate(now))
                .then(a.since.cmp(&b.since))
        })
        .map(|(id, _)| *id);
    let t = victim.and_then(|id| map.remove(&id))?;
    t.evict.notify_one();
    Some(t.bytes.load(Ordering::Relaxed))
}

/// The connection a request came in on (a request extension set by [`serve`]).
#[derive(Debug, Clone)]
pub struct Peer {
    ip: IpAddr,
    busy: Arc<AtomicUsize>,
}

/// A webhook request's place in the concurrency cap, its body bytes in the memory budget and its place
/// in its peer's limit; released on drop (after the delivery is committed).
#[derive(Debug)]
pub struct Admission {
    _webhook: OwnedSemaphorePermit,
    memory: OwnedSemaphorePermit,
    _peer: PeerWebhook,
    _busy: Option<Busy>,
}

impl Admission {
    /// Count `more` bytes (a decoded copy of the body) until the delivery is committed.
    pub fn hold(&mut self, more: HeldBytes) {
        self.memory.merge(more.0);
    }
}

/// Body bytes counted in the edge's memory budget until dropped.
#[derive(Debug)]
pub struct HeldBytes(OwnedSemaphorePermit);

impl HeldBytes {
    /// How many.
    pub fn len(&self) -> usize {
        self.0.num_permits()
    }

    /// Whether none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Add `other`'s bytes to these.
    pub fn merge(&mut self, other: HeldBytes) {
        self.0.merge(other.0);
    }
}

/// Marks a connection busy with an admitted delivery until dropped.
#[derive(Debug)]
struct Busy(Arc<AtomicUsize>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A webhook request counted in its peer's limit until dropped.
#[derive(Debug)]
struct PeerWebhook {
    edge: Arc<Edge>,
    ip: Option<IpAddr>,
}

impl Drop for PeerWebhook {
    fn drop(&mut self) {
        let Some(ip) = self.ip else { return };
        let mut tracked = self.edge.lock();
        if let Some(n) = tracked.webhooks_per_peer.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                tracked.webhooks_per_peer.remove(&ip);
            }
        }
    }
}

/// A webhook body being received: evictable while it is registered.
#[derive(Debug)]
pub struct Receiving {
    edge: Arc<Edge>,
    id: u64,
    tracker: Tracker,
    peer: PeerWebhook,
    busy: Option<Arc<AtomicUsize>>,
    held: Option<HeldBytes>,
    started: tokio::time::Instant,
}

impl Drop for Receiving {
    fn drop(&mut self) {
        self.edge.lock().receiving.remove(&self.id);
    }
}

fn dropped_for_room() -> AppError {
    AppError::Unavailable {
        message: "dropped to make room for requests further along, retry later".into(),
        retry_after_secs: Some(5),
    }
}

fn busy_error(what: &str) -> AppError {
    AppError::Unavailable {
        message: format!("too many {what} in flight, retry later"),
        retry_after_secs: Some(5),
    }
}

impl Edge {
    pub fn new(limits: EdgeLimits) -> Self {
        Self {
            webhooks: Arc::new(Semaphore::new(limits.max_webhook_concurrency.max(1))),
            body_memory: Arc::new(Semaphore::new(
                limits.max_body_memory.min(Semaphore::MAX_PERMITS),
            )),
            connections: AtomicUsize::new(0),
            tracked: Mutex::new(Tracked::default()),
            next_id: AtomicU64::new(0),
            queue: tokio::sync::Mutex::new(None),
            limits,
        }
    }

    pub fn limits(&self) -> &EdgeLimits {
        &self.limits
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tracked> {
        self.tracked.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Start receiving a webhook body from `peer` (no place in the cap, no bytes reserved yet). When the
    /// peer already has `max_webhooks_per_peer` requests in flight, its slowest body being received (past
    /// the grace period) is dropped for this one; the newest is not refused.
    pub fn start_receiving(self: &Arc<Self>, peer: Option<&Peer>) -> Result<Receiving, AppError> {
        let ip = peer.map(|p| p.ip);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let tracker = Tracker::new(ip.unwrap_or(IpAddr::from([0, 0, 0, 0])));
        {
            let mut tracked = self.lock();
            if let Some(ip) = ip {
                let n = tracked.webhooks_per_peer.get(&ip).copied().unwrap_or(0);
                if n >= self.limits.max_webhooks_per_peer.max(1) {
                    evict_slowest(&mut tracked.receiving, self.limits.body_grace, |_, t| {
                        t.ip == ip
                    });
                }
                *tracked.webhooks_per_peer.entry(ip).or_insert(0) += 1;
            }
            tracked.receiving.insert(id, tracker.clone());
        }
        Ok(Receiving {
            edge: Arc::clone(self),
            id,
            tracker,
            peer: PeerWebhook {
                edge: Arc::clone(self),
                ip,
            },
            busy: peer.map(|p| Arc::clone(&p.busy)),
            held: None,
            started: tokio::time::Instant::now(),
        })
    }

    /// `n` bytes from the memory budget, waiting at most until `until`. When they do not fit, a body
    /// being received is dropped to make room: the slowest one past its grace period (other than
    /// `except`), else the one with the fewest bytes so far, so that the bodies furthest along finish;
    /// when that is `except` itself, or there is none, `503` at once.
    async fn reserve(
        &self,
        n: usize,
        except: Option<u64>,
        until: tokio::time::Instant,
    ) -> Result<HeldBytes, AppError> {
        let n = u32::try_from(n).map_err(|_| AppError::PayloadTooLarge)?;
        if let Ok(p) = Arc::clone(&self.body_memory).try_acquire_many_owned(n) {
            return Ok(HeldBytes(p));
        }
        if !self.make_room(except) {
            return Err(busy_error("webhook body bytes"));
        }
        match tokio::time::timeout_at(until, Arc::clone(&self.body_memory).acquire_many_owned(n))
            .await
        {
            Ok(Ok(p)) => Ok(HeldBytes(p)),
            _ => Err(busy_error("webhook body bytes")),
        }
    }

    /// Drop one body being received to free memory (see [`Self::reserve`]); `false` when none is
    /// dropped.
    fn make_room(&self, except: Option<u64>) -> bool {
        self.drop_one_body(except).is_some()
    }

    /// Drop one body being received (see [`Self::reserve`]): the bytes it had received, or `None` when
    /// none is dropped.
    fn drop_one_body(&self, except: Option<u64>) -> Option<u64> {
        let mut tracked = self.lock();
        let receiving = &mut tracked.receiving;
        if let Some(bytes) = evict_slowest(receiving, self.limits.body_grace, |id, _| {
            Some(id) != except
        }) {
            return Some(bytes);
        }
        let fewest = receiving
            .iter()
            .min_by_key(|(id, t)| {
                (
                    t.bytes.load(Ordering::Relaxed),
                    Some(**id) != except,
                    std::cmp::Reverse(t.since),
                )
            })
            .map(|(id, _)| *id);
        match fewest {
            Some(id) if Some(id) != except => receiving.remove(&id).map(|t| {
                t.evict.notify_one();
                t.bytes.load(Ordering::Relaxed)
            }),
            _ => None,
        }
    }

    /// `n` bytes from the memory budget for a copy of an admitted body (waiting at most `body_timeout`).
    pub async fn reserve_copy(&self, n: usize) -> Result<HeldBytes, AppError> {
        let until = tokio::time::Instant::now() + self.limits.body_timeout;
        self.reserve(n, None, until).await
    }

    /// `n` bytes from the memory budget for copies made of an admitted body, all at once: bodies being
    /// received are dropped until they and the free bytes cover `n` (as in [`Self::reserve`]: the
    /// slowest past the grace period, else those with the fewest bytes), then their bytes are waited
    /// for, at most `wait`. `503` when even dropping every body being received would not make room
    /// (the rest is held by admitted deliveries).
    pub async fn reserve_within(&self, n: usize, wait: Duration) -> Result<HeldBytes, AppError> {
        let permits = u32::try_from(n).map_err(|_| AppError::PayloadTooLarge)?;
        let mut room = self.body_memory.available_permits();
        while room < n {
            match self.drop_one_body(None) {
                Some(bytes) => room = room.saturating_add(usize::try_from(bytes).unwrap_or(n)),
                None => return Err(busy_error("webhook body bytes")),
            }
        }
        match tokio::time::timeout(
            wait,
            Arc::clone(&self.body_memory).acquire_many_owned(permits),
        )
        .await
        {
            Ok(Ok(p)) => Ok(HeldBytes(p)),
            _ => Err(busy_error("webhook body bytes")),
        }
    }

    /// Read a webhook body, each chunk counted in the memory budget as it arrives: written straight
    /// into one buffer when its length is declared (the untouched part of the buffer takes no memory),
    /// else gathered and joined at the end (both copies counted meanwhile). At most `max` bytes;
    /// dropped when it falls behind the minimum rate after the grace period, or when it is dropped to
    /// make room. No place in the concurrency cap is held meanwhile.
    pub async fn receive(
        &self,
        receiving: &mut Receiving,
        body: axum::body::Body,
        declared: Option<usize>,
        max: usize,
    ) -> Result<Vec<u8>, AppError> {
        let mut body = body;
        let mut raw = Vec::new();
        let mut chunks = Vec::new();
        if let Some(n) = declared {
            raw.try_reserve_exact(n)
                .map_err(|_| busy_error("webhook body bytes"))?;
        }
        let max = declared.map_or(max, |n| n.min(max));
        let mut received = 0usize;
        let until = receiving.started + self.limits.body_timeout;
        let rate = self.limits.min_body_rate.max(1);
        let evict = Arc::clone(&receiving.tracker.evict);
        loop {
            // By `grace + t`, `t × rate` bytes: the instant the bytes received so far stop sufficing.
            #[allow(clippy::cast_precision_loss)]
            let behind = receiving.started
                + self.limits.body_grace
                + Duration::from_secs_f64(received as f64 / rate as f64);
            let frame = tokio::select! {
                () = evict.notified() => return Err(dropped_for_room()),
                () = tokio::time::sleep_until(behind) => {
                    return Err(AppError::BadRequest(format!(
                        "the body arrived more slowly than {rate} bytes per second"
                    )));
                }
                frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)) => frame,
            };
            let data = match frame {
                None => break,
                Some(Err(e)) => return Err(AppError::BadRequest(format!("cannot read body: {e}"))),
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => data,
                    Err(_) => continue,
                },
            };
            received = received.saturating_add(data.len());
            if received > max {
                return Err(AppError::PayloadTooLarge);
            }
            let held = tokio::select! {
                () = evict.notified() => return Err(dropped_for_room()),
                held = self.reserve(data.len(), Some(receiving.id), until) => held?,
            };
            match &mut receiving.held {
                Some(h) => h.merge(held),
                None => receiving.held = Some(held),
            }
            receiving.tracker.bytes.store(
                u64::try_from(received).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
            if declared.is_some() {
                raw.extend_from_slice(&data);
            } else {
                chunks.push(data);
            }
        }
        if declared.is_none() {
            let copy = tokio::select! {
                () = evict.notified() => return Err(dropped_for_room()),
                copy = self.reserve(received, Some(receiving.id), until) => copy?,
            };
            raw.try_reserve_exact(received)
                .map_err(|_| busy_error("webhook body bytes"))?;
            for chunk in chunks {
                raw.extend_from_slice(&chunk);
            }
            if let Some(held) = &mut receiving.held {
                drop(held.0.split(received));
                held.merge(copy);
            }
        }
        Ok(raw)
    }

    /// Admit a webhook request whose body has arrived (held in `receiving`): a place in the
    /// concurrency cap, or `503` when it is full. The body's bytes and the peer's place move into the
    /// admission.
    pub fn admit(&self, mut receiving: Receiving) -> Result<Admission, AppError> {
        let webhook = Arc::clone(&self.webhooks)
            .try_acquire_owned()
            .map_err(|_| busy_error("webhook requests"))?;
        let memory = match receiving.held.take() {
            Some(h) => h.0,
            None => Arc::clone(&self.body_memory)
                .try_acquire_many_owned(0)
                .map_err(|_| busy_error("webhook body bytes"))?,
        };
        let busy = receiving.busy.take().map(|b| {
            b.fetch_add(1, Ordering::Relaxed);
            Busy(b)
        });
        let peer = PeerWebhook {
            edge: Arc::clone(&receiving.edge),
            ip: receiving.peer.ip.take(),
        };
        Ok(Admission {
            _webhook: webhook,
            memory,
            _peer: peer,
            _busy: busy,
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
            webhooks_receiving: self.lock().receiving.len(),
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
        let (stream, peer) = tokio::select! {
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
        let ip = peer.ip();
        if !edge.room_for_peer(ip) {
            tracing::debug!(%ip, "connection refused: too many from this address");
            drop(stream);
            continue;
        }
        // Full: the slowest connection makes room; when none can (all young or busy), wait for a slot.
        let slot = match Arc::clone(&slots).try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                edge.evict_slowest_connection(None);
                tokio::select! {
                    () = &mut shutdown => break,
                    slot = Arc::clone(&slots).acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => break,
                    },
                }
            }
        };
        let open = OpenConnection::new(Arc::clone(&edge), ip);
        let tracker = open.tracker.clone();
        let first_head = Arc::new(Notify::new());
        let service = {
            let router = router.clone();
            let first_head = Arc::clone(&first_head);
            let peer = Peer {
                ip,
                busy: Arc::clone(&tracker.busy),
            };
            hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
                first_head.notify_one();
                req.extensions_mut().insert(peer.clone());
                tower::ServiceExt::oneshot(router.clone(), req.map(Body::new))
            })
        };
        let conn = builder.serve_connection(
            TokioIo::new(CountingStream {
                inner: stream,
                bytes: Arc::clone(&tracker.bytes),
            }),
            service,
        );
        let mut closing = closing_rx.clone();
        let first_timeout = limits.new_connection_header_timeout;
        connections.spawn(async move {
            let _slot = slot;
            let _open = open;
            tokio::pin!(conn);
            let first_head_late = async {
                tokio::select! {
                    () = tokio::time::sleep(first_timeout) => {}
                    () = first_head.notified() => std::future::pending().await,
                }
            };
            let result = tokio::select! {
                result = conn.as_mut() => result,
                () = tracker.evict.notified() => {
                    tracing::debug!("connection closed to make room");
                    Ok(())
                }
                () = first_head_late => {
                    tracing::debug!("connection closed: no request head in time");
                    Ok(())
                }
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

impl Edge {
    /// Whether `ip` may open another connection: below its limit, or one of its connections was closed
    /// to make room.
    fn room_for_peer(&self, ip: IpAddr) -> bool {
        let mut tracked = self.lock();
        let open = tracked.connections.values().filter(|t| t.ip == ip).count();
        open < self.limits.max_connections_per_peer.max(1)
            || evict_slowest(&mut tracked.connections, self.limits.body_grace, |_, t| {
                t.ip == ip
            })
            .is_some()
    }

    /// Close the slowest connection (of `ip`, or of anyone) old enough to judge and not busy.
    fn evict_slowest_connection(&self, ip: Option<IpAddr>) -> bool {
        evict_slowest(
            &mut self.lock().connections,
            self.limits.body_grace,
            |_, t| ip.is_none_or(|ip| t.ip == ip),
        )
        .is_some()
    }
}

/// A connection's stream, counting the bytes received (the slowest connection is closed first).
struct CountingStream {
    inner: TcpStream,
    bytes: Arc<AtomicU64>,
}

impl AsyncRead for CountingStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len().saturating_sub(before);
        self.bytes
            .fetch_add(u64::try_from(read).unwrap_or(0), Ordering::Relaxed);
        polled
    }
}

impl AsyncWrite for CountingStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// An open connection: counted in the gauge and tracked for the per-peer limit and eviction until
/// dropped (also when its task is aborted).
struct OpenConnection {
    edge: Arc<Edge>,
    id: u64,
    tracker: Tracker,
}

impl OpenConnection {
    fn new(edge: Arc<Edge>, ip: IpAddr) -> Self {
        edge.connections.fetch_add(1, Ordering::Relaxed);
        let id = edge.next_id.fetch_add(1, Ordering::Relaxed);
        let tracker = Tracker::new(ip);
        edge.lock().connections.insert(id, tracker.clone());
        Self { edge, id, tracker }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.edge.connections.fetch_sub(1, Ordering::Relaxed);
        self.edge.lock().connections.remove(&self.id);
    }
}

/// Raise the soft limit on open files (`RLIMIT_NOFILE`) to cover `max_connections` plus a margin for
/// the database, the listener and outgoing calls, up to the hard limit; warn naming both numbers when
/// that is not enough. Returns the soft limit in force.
pub fn raise_file_limit(max_connections: usize) -> Option<u64> {
    const MARGIN: u64 = 256;
    let wanted = u64::try_from(max_connections)
        .unwrap_or(u64::MAX)
        .saturating_add(MARGIN);
    match rlimit::increase_nofile_limit(wanted) {
        Ok(soft) if soft >= wanted => Some(soft),
        Ok(soft) => {
            tracing::warn!(
                soft_limit = soft,
                wanted,
                max_connections,
                "the open-file limit ({soft}) is below LABTRAIL_MAX_CONNECTIONS plus {MARGIN} \
                 ({wanted}) and the hard limit does not allow more: lower LABTRAIL_MAX_CONNECTIONS \
                 or raise the hard limit (ulimit -Hn, LimitNOFILE=)"
            );
            Some(soft)
        }
        Err(e) => {
            tracing::warn!(error = %e, wanted, "cannot read or raise the open-file limit");
            None
        }
    }
}
