//! Accepting a verified delivery: store it durably (once per GUID) before answering.

use chrono::Utc;
use sea_orm::{ConnectionTrait, DbErr};

use crate::db::deliveries::{self, NewDelivery, Status};
use crate::webhook::event::Envelope;
use crate::webhook::extract::SignedDelivery;

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

/// Store a delivery: `queued` when its body is a JSON object, `rejected` otherwise.
pub async fn accept(db: &impl ConnectionTrait, d: SignedDelivery) -> Result<Accepted, DbErr> {
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
    let guid = new.guid.clone();
    if deliveries::insert(db, new).await? {
        Ok(outcome)
    } else if outcome == Accepted::Queued
        && deliveries::requeue_dead(db, &guid, received_at).await?
    {
        Ok(Accepted::Requeued)
    } else {
        Ok(Accepted::Duplicate)
    }
}
