//! Accepting a verified delivery: store it durably (once per GUID) before answering.
//!
//! Group commit at the edge: requests hand their delivery to [`Intake`], whose writer tasks store
//! whatever has arrived meanwhile in one transaction and answer each request only after that commit —
//! one disk flush for many deliveries, and a `2xx` still means the row is on disk.

use std::sync::Arc;

use chrono::Utc;
use tokio::sync::{mpsc, oneshot, Mutex};

use crate::db::deliveries::{self, NewDelivery, Status, Stored};
use crate::db::{DbErr, Pool};
use crate::http::extract::SignedDelivery;
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

/// The row a delivery becomes — `queued` when its body is a JSON object, `rejected` otherwise — and the
/// outcome when it is new.
fn classify(d: SignedDelivery) -> (NewDelivery, Accepted) {
    let received_at = Utc::now();
    let parsed = d.payload.and_then(|bytes| {
        serde_json::from_slice::<Envelope>(&crate::webhook::event::without_nul(&bytes))
            .map(|env| (bytes, env))
            .map_err(|e| format!("payload is not a JSON object: {e}"))
    });
    let (new, outcome) = match parsed {
        Ok((payload, env)) => (
            NewDelivery {
                guid: d.guid,
                event: d.event,
                action: env.action,
                installation_id: env.installation.map(|i| i.id),
                payload,
                status: Status::Queued,
                error: None,
                received_at,
            },
            Accepted::Queued,
        ),
        Err(error) => (
            NewDelivery {
                guid: d.guid,
                event: d.event,
                action: None,
                installation_id: None,
                payload: d.raw.to_vec(),
                status: Status::Rejected,
                error: Some(error.clone()),
                received_at,
            },
            Accepted::Rejected(error),
        ),
    };
    (new, outcome)
}

/// Deliveries one commit carries at most.
const GROUP_MAX: usize = 256;

type Job = (
    NewDelivery,
    Accepted,
    oneshot::Sender<Result<Accepted, DbErr>>,
);

/// The edge's group committer: [`Intake::accept`] answers once the delivery is committed, together with
/// the others that arrived while the previous commit was being written.
#[derive(Clone)]
pub struct Intake {
    db: Pool,
    tx: mpsc::Sender<Job>,
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
        for _ in 0..writers {
            tokio::spawn(write_groups(db.clone(), Arc::clone(&rx)));
        }
        Self { db, tx }
    }

    /// Store a delivery once per GUID (a `dead` one is queued again), committed with whatever else is
    /// waiting; the answer comes after the commit.
    pub async fn accept(&self, d: SignedDelivery) -> Result<Accepted, DbErr> {
        let (new, outcome) = classify(d);
        let (done, answer) = oneshot::channel();
        match self.tx.send((new, outcome, done)).await {
            Ok(()) => match answer.await {
                Ok(result) => result,
                Err(_) => Err(DbErr::Custom("the intake writer stopped".into())),
            },
            // No writer left (shutting down): store it alone.
            Err(mpsc::error::SendError((new, outcome, _))) => {
                store_one(&self.db, &new, &outcome).await
            }
        }
    }
}

async fn write_groups(db: Pool, rx: Arc<Mutex<mpsc::Receiver<Job>>>) {
    loop {
        let mut group = Vec::new();
        {
            let mut rx = rx.lock().await;
            if rx.recv_many(&mut group, GROUP_MAX).await == 0 {
                return;
            }
        }
        write_group(&db, group).await;
    }
}

/// Store a group in one transaction and answer each request after the commit. When the group fails,
/// each delivery is stored on its own, so one bad row costs only its own request.
async fn write_group(db: &Pool, group: Vec<Job>) {
    if group.len() > 1 {
        let jobs: Vec<(&NewDelivery, &Accepted)> = group.iter().map(|(n, o, _)| (n, o)).collect();
        if let Ok(outcomes) = store_group(db, &jobs).await {
            for ((_, _, done), outcome) in group.into_iter().zip(outcomes) {
                let _ = done.send(Ok(outcome));
            }
            return;
        }
    }
    for (new, outcome, done) in group {
        let _ = done.send(store_one(db, &new, &outcome).await);
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
