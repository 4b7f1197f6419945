//! Accepting a verified delivery: store it durably (once per GUID) before answering.
//!
//! Group commit at the edge: requests hand their delivery to [`Intake`], whose writer tasks store
//! whatever has arrived meanwhile in one transaction and answer each request only after that commit —
//! one disk flush for many deliveries, and a `2xx` still means the row is on disk. A delivery's admission
//! (its body bytes in the edge's memory budget) travels with it and is released after the commit; the
//! payload bytes being inserted at once are bounded by [`INSERT_WINDOW`].

use std::sync::Arc;

use chrono::Utc;
use tokio::sync::{mpsc, oneshot, Mutex, OwnedSemaphorePermit, Semaphore};

use crate::db::deliveries::{self, NewDelivery, Status, Stored};
use crate::db::{DbErr, Pool};
use crate::http::edge::Admission;
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

/// A delivery to store, its outcome when new, its admission (released once answered) and where to
/// answer.
struct Job {
    new: NewDelivery,
    outcome: Accepted,
    _admission: Option<Admission>,
    done: oneshot::Sender<Result<Accepted, DbErr>>,
}

/// The edge's group committer: [`Intake::accept`] answers once the delivery is committed, together with
/// the others that arrived while the previous commit was being written.
#[derive(Clone)]
pub struct Intake {
    db: Pool,
    tx: mpsc::Sender<Job>,
    window: Arc<Semaphore>,
}

impl Intake {
    /// Start the writer tasks: one on SQLite (one writer at a time anyway), four on PostgreSQL (commits
    /// overlap). They stop when every [`Intake`] clone is dropped.
    pub fn start(db: Pool) -> Self {
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
                Arc::clone(&rx),
                Arc::clone(&window),
            ));
        }
        Self { db, tx, window }
    }

    /// Store a delivery once per GUID (a `dead` one is queued again), committed with whatever else is
    /// waiting; the answer comes after the commit.
    pub async fn accept(&self, d: SignedDelivery) -> Result<Accepted, DbErr> {
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
                Err(_) => Err(DbErr::Custom("the intake writer stopped".into())),
            },
            // No writer left (shutting down): store it alone.
            Err(mpsc::error::SendError(job)) => {
                let _window = acquire_window(&self.window, job.new.payload.len()).await;
                store_one(&self.db, &job.new, &job.outcome).await
            }
        }
    }
}

/// `bytes` of the insert window (all of it for a payload larger than the window).
async fn acquire_window(window: &Arc<Semaphore>, bytes: usize) -> Option<OwnedSemaphorePermit> {
    let n = u32::try_from(bytes.clamp(1, INSERT_WINDOW)).unwrap_or(u32::MAX);
    Arc::clone(window).acquire_many_owned(n).await.ok()
}

async fn write_groups(db: Pool, rx: Arc<Mutex<mpsc::Receiver<Job>>>, window: Arc<Semaphore>) {
    loop {
        let mut received = Vec::new();
        {
            let mut rx = rx.lock().await;
            if rx.recv_many(&mut received, GROUP_MAX).await == 0 {
                return;
            }
        }
        // Groups of at most the insert window's bytes (a larger payload alone), one after another.
        let mut jobs = received.into_iter().peekable();
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
        let stored = store_one(db, &job.new, &job.outcome).await;
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
        .map(|((_, outcome), stored)| match stored {
            Stored::New => (*outcome).clone(),
            Stored::Requeued => Accepted::Requeued,
            Stored::Duplicate => Accepted::Duplicate,
        })
        .collect())
}
