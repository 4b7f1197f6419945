//! `POST /webhooks/github`: answer at once; the workers do the rest.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::AppState;
use crate::db::deliveries::Status;
use crate::http::error::AppError;
use crate::http::extract::SignedDelivery;
use crate::http::intake::Accepted;
use crate::metrics::{IntakeResult, WebhookRefusal};

/// How long storing a delivery may take before the answer is 503.
const ACCEPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(8);

/// The counted reason of a refusal by the extractor.
fn refusal(e: &AppError) -> WebhookRefusal {
    match e {
        AppError::Unauthorized(_) => WebhookRefusal::BadSignature,
        AppError::PayloadTooLarge => WebhookRefusal::TooLarge,
        AppError::Unavailable { .. } => WebhookRefusal::Unavailable,
        _ => WebhookRefusal::BadRequest,
    }
}

/// Store the verified delivery and answer `202` (new), `200` (duplicate) or `400` (unparseable).
pub async fn receive(
    State(state): State<AppState>,
    delivery: Result<SignedDelivery, AppError>,
) -> Result<Response, AppError> {
    // Counted, not logged a line each: `jobs::refusals` logs one summary a minute.
    let delivery = delivery.inspect_err(|e| {
        tracing::debug!(error = %e, "webhook refused");
        state.metrics.webhook_refused(refusal(e));
    })?;
    let guid = delivery.guid.clone();
    let event = delivery.event.clone();
    // GitHub gives up after 10 s: a database that cannot take the row in time gets a 503, which the
    // catch-up redelivery recovers, rather than an answer GitHub never sees.
    let accepted = tokio::time::timeout(ACCEPT_TIMEOUT, state.intake.accept(delivery))
        .await
        .map_err(|_| AppError::Unavailable {
            message: "the database is too slow to take the delivery now, retry later".into(),
            retry_after_secs: Some(30),
        })??;
    tracing::info!(delivery_id = %guid, %event, outcome = ?accepted, "webhook received");
    Ok(match accepted {
        Accepted::Queued | Accepted::Requeued => {
            state.metrics.intake(IntakeResult::Accepted);
            state.wake.notify_one();
            (
                StatusCode::ACCEPTED,
                Json(json!({ "delivery_id": guid, "status": Status::Queued.to_string() })),
            )
                .into_response()
        }
        Accepted::Duplicate => {
            state.metrics.intake(IntakeResult::Duplicate);
            (
                StatusCode::OK,
                Json(json!({ "delivery_id": guid, "status": "duplicate" })),
            )
                .into_response()
        }
        Accepted::Rejected(error) => {
            state.metrics.intake(IntakeResult::Rejected);
            return Err(AppError::BadRequest(error));
        }
    })
}
