//! Accepting a verified delivery: store it durably (once per GUID) before answering.
//!
//! Group commit at the edge: requests hand their delivery to [`Intake`], whose writer tasks store
//! whatever has arrived meanwhile in one transaction and answer each request only after that commit —
//! one disk flush for many deliveries, and a `2xx` still means the row is on disk. A delivery's admission
//! (its body bytes in the edge's memory budget) travels with it and is released after the commit; the
//! payload bytes being inserted at once are bounded by [`INSERT_WINDOW`]. A large payload is stored
//! alone, moved into its statement, and the driver's copies of it are counted in the edge's budget
//! while it is inserted.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{mpsc, oneshot, Mutex, OwnedSemaphorePermit, Semaphore};

use crate::db::deliveries::{self, NewDelivery, Status, Stored};
use crate::db::{DbErr, Pool};
use crate::http::edge::{Admission, Edge};
use crate::http::error::AppError;
use crate::http::extract::{Payload, SignedDelivery, MAX_BODY_BYTES};
use crate::webhook::event::Envelope;

/// What happened to an incoming delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// Stored and queued for processing.
    Queued,
    /// The GUID was already stored; nothing changed.
    Duplicate,
    /// The GUID was stored as `dead`: queued again with fresh tries (its stored payload is kept).
    Requeued,
    /// Signed but unparseable: stored as `rejected` with the error, for inspection.
    Rejected(String),
}

/// The row a delivery becomes — `queued` when its body is a JSON object, `rejected` otherwise — the
/// outcome when it is new, and its admission (held until the row is committed). The payload is moved,
/// not copied.
fn classify(d: SignedDelivery) -> (NewDelivery, Accepted, Admission) {
    let received_at = Utc::now();
    // NUL escapes parse like any other; only the stored `action` must not carry one (PostgreSQL `text`).
    let envelope = d.document().map_err(str::to_owned).and_then(|bytes| {
        serde_json::from_slice::<Envelope>(bytes)
            .map_err(|e| format!("payload is not a JSON object: {e}"))
    });
    let SignedDelivery {
        guid,
        event,
        raw,
        payload,
        admission,
    } = d;
    let (new, outcome) = match envelope {
        Ok(env) => (
            NewDelivery {
                guid,
                event,
                action: env.action.map(|a| a.replace('\0', "\u{fffd}")),
                installation_id: env.installation.map(|i| i.id),
                payload: match payload {
                    Payload::Form(decoded) => decoded,
                    Payload::Json | Payload::Undecodable(_) => raw,
                },
                status: Status::Queued,
                error: None,
                received_at,
            },
            Accepted::Queued,
        ),
        Err(error) => (
            NewDelivery {
                guid,
                event,
                action: None,
                installation_id: None,
                payload: raw,
                status: Status::Rejected,
                error: Some(error.clone()),
                received_at,
            },
            Accepted::Rejected(error),
        ),
    };
    (new, outcome, admission)
}

/// Deliveries one commit carries at most.
const GROUP_MAX: usize = 256;

/// Payload bytes being inserted at once, across the writers: the database driver copies a payload
/// several times while inserting it (statement values, the encoded arguments), copies the edge's budget
/// does not count, so they are bounded here instead (GitHub's largest payload fits alone).
const INSERT_WINDOW: usize = MAX_BODY_BYTES;

/// How long a large payload's insert waits for the driver's copies to fit in the edge's budget
/// (bodies being received are dropped for it first) before its request gets `503` (within the
/// webhook's 8 s answer deadline).
const COPIES_WAIT: Duration = Duration::from_secs(5);

/// A delivery to store, its outcome when new, its admission (released once answered) and where to
/// answer.
struct Job {
    new: NewDelivery,
    outcome: Accepted,
    _admission: Option<Admission>,
    done: oneshot::Sender<Result<Accepted, AppError>>,
}

/// The edge's group committer: [`Intake::accept`] answers once the delivery is committed, together with
/// the others that arrived while the previous commit was being written.
#[derive(Clone)]
pub struct Intake {
    db: Pool,
    edge: Arc<Edge>,
    tx: mpsc::Sender<Job>,
    window: Arc<Semaphore>,
}

impl Intake {
    /// Start the writer tasks: one on SQLite (one writer at a time anyway), four on PostgreSQL (commits
    /// overlap). They stop when every [`Intake`] clone is dropped.
    pub fn start(db: Pool, edge: Arc<Edge>) -> Self {
        let (tx, rx) = mpsc::channel::<Job>(4 * GROUP_MAX);
        let rx = Arc::new(Mutex::new(rx));
        let writers = if deliveries::concurrent_writers(&db) {
            4
        } else {
            1
        };
        let window = Arc::new(Semaphore::new(INSERT_WINDOW));
        for _ in 0..writers {
            tokio::spawn(write_groups(
                db.clone(),
                Arc::clone(&edge),
                Arc::clone(&rx),
                Arc::clone(&window),
            ));
        }
        Self {
            db,
            edge,
            tx,
            window,
        }
    }

    /// Store a delivery once per GUID (a `dead` one is queued again), committed with whatever else is
    /// waiting; the answer comes after the commit.
    pub async fn accept(&self, d: SignedDelivery) -> Result<Accepted, AppError> {
        let (new, outcome, admission) = classify(d);
        let (done, answer) = oneshot::channel();
        let job = Job {
            new,
            outcome,
            _admission: Some(admission),
            done,
        };
        match self.tx.send(job).await {
            Ok(()) => match answer.await {
                Ok(result) => result,
                Err(_) => Err(AppError::database(DbErr::Custom(
                    "the intake writer stopped".into(),
                ))),
            },
            // No writer left (shutting down): store it alone.
            Err(mpsc::error::SendError(job)) => {
                let (done, answer) = oneshot::channel();
                write_one(&self.db, &self.edge, &self.window, Job { done, ..job }).await;
                answer.await.unwrap_or_else(|_| {
                    Err(AppError::database(DbErr::Custom(
                        "storing a delivery gave no outcome".into(),
                    )))
                })
            }
        }
    }
}

/// `bytes` of the insert window (all of it for a payload larger than the window).
async fn acquire_window(window: &Arc<Semaphore>, bytes: usize) -> Option<OwnedSemaphorePermit> {
    let n = u32::try_from(bytes.clamp(1, INSERT_WINDOW)).unwrap_or(u32::MAX);
    Arc::clone(window).acquire_many_owned(n).await.ok()
}

async fn write_groups(
    db: Pool,
    edge: Arc<Edge>,
    rx: Arc<Mutex<mpsc::Receiver<Job>>>,
    window: Arc<Semaphore>,
) {
    loop {
        let mut received = Vec::new();
        {
            let mut rx = rx.lock().await;
            if rx.recv_many(&mut received, GROUP_MAX).await == 0 {
                return;
            }
        }
        // Large payloads alone, without copies; the others in groups of at most the insert window's
        // bytes, one after another.
        let (large, small): (Vec<Job>, Vec<Job>) = received
            .into_iter()
            .partition(|j| j.new.payload.len() >= deliveries::LARGE_PAYLOAD);
        for job in large {
            write_one(&db, &edge, &window, job).await;
        }
        let mut jobs = small.into_iter().peekable();
        while jobs.peek().is_some() {
            let mut group = Vec::new();
            let mut bytes = 0usize;
            while let Some(job) = jobs.next_if(|j| {
                group.is_empty() || bytes.saturating_add(j.new.payload.len()) <= INSERT_WINDOW
            }) {
                bytes = bytes.saturating_add(job.new.payload.len());
                group.push(job);
            }
            let _window = acquire_window(&window, bytes).await;
            write_group(&db, group).await;
        }
    }
}

/// Store a large payload's delivery alone ([`deliveries::store_alone`]: moved into the statement, not
/// copied), the driver's copies of it counted in the edge's body budget meanwhile (at most what the
/// budget has beside the payload itself, so a lone delivery always fits). When they do not fit within
/// [`COPIES_WAIT`], the request gets `503` and nothing is stored.
async fn write_one(db: &Pool, edge: &Edge, window: &Arc<Semaphore>, job: Job) {
    let Job {
        new,
        outcome,
        _admission,
        done,
    } = job;
    let n = new.payload.len();
    let _window = acquire_window(window, n).await;
    let copies = deliveries::insert_copies(db)
        .saturating_mul(n)
        .min(edge.limits().max_body_memory.saturating_sub(n));
    let stored = match edge.reserve_within(copies, COPIES_WAIT).await {
        Ok(_copies) => deliveries::store_alone(db, new)
            .await
            .map(|stored| outcome_of(stored, &outcome))
            .map_err(AppError::database),
        Err(busy) => Err(busy),
    };
    let _ = done.send(stored);
}

/// Store a group in one transaction and answer each request after the commit. When the group fails,
/// each delivery is stored on its own, so one bad row costs only its own request.
async fn write_group(db: &Pool, group: Vec<Job>) {
    if group.len() > 1 {
        let jobs: Vec<(&NewDelivery, &Accepted)> =
            group.iter().map(|j| (&j.new, &j.outcome)).collect();
        if let Ok(outcomes) = store_group(db, &jobs).await {
            for (job, outcome) in group.into_iter().zip(outcomes) {
                let _ = job.done.send(Ok(outcome));
            }
            return;
        }
    }
    for job in group {
        let stored = store_one(db, &job.new, &job.outcome)
            .await
            .map_err(AppError::database);
        let _ = job.done.send(stored);
    }
}

/// Store one delivery in its own transaction ([`store_group`] of one).
async fn store_one(db: &Pool, new: &NewDelivery, outcome: &Accepted) -> Result<Accepted, DbErr> {
    store_group(db, &[(new, outcome)])
        .await?
        .pop()
        .ok_or_else(|| DbErr::Custom("storing a delivery gave no outcome".into()))
}

/// Store deliveries (each with its outcome when new) in one transaction ([`deliveries::store_incoming`]).
async fn store_group(
    db: &Pool,
    group: &[(&NewDelivery, &Accepted)],
) -> Result<Vec<Accepted>, DbErr> {
    let news: Vec<&NewDelivery> = group.iter().map(|(new, _)| *new).collect();
    let stored = deliveries::store_incoming(db, &news).await?;
    Ok(group
        .iter()
        .zip(stored)
        .map(|((_, outcome), stored)| outcome_of(stored, outcome))
        .collect())
}

/// The outcome of a stored delivery, `new` when it is new.
fn outcome_of(stored: Stored, new: &Accepted) -> Accepted {
    match stored {
        Stored::New => new.clone(),
        Stored::Requeued => Accepted::Requeued,
        Stored::Duplicate => Accepted::Duplicate,
    }
}
