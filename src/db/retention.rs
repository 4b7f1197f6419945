//! Retention: drop the raw payload bytes of settled deliveries after N days (their SHA-256 stays), and
//! erase the attempts of sessions archived more than N days ago (each erasure audited; audit entries stay,
//! they hold ids only, so the chain still verifies).

use chrono::{DateTime, Duration, Utc};
use entity::{lab_attempt, lab_attempt_file, lab_session, webhook_delivery};
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait, Value,
};

use crate::audit::{self, entries, AuditError};
use crate::db::deliveries::Status;

/// How long things are kept.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Days after processing before a delivery's raw payload bytes are dropped.
    pub payload_days: u32,
    /// Days after a session's archiving before its attempts are erased.
    pub attempt_days: u32,
}

/// What a run removed (or, in a dry run, would remove).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionOutcome {
    pub payloads_dropped: u64,
    /// (session id, attempts erased) per session.
    pub attempts_erased: Vec<(i64, u64)>,
}

/// Why a run stopped (what was committed before stays): the audited write's error.
pub type RetentionError = AuditError;

const SETTLED: [Status; 2] = [Status::Processed, Status::Ignored];
const BATCH: u64 = 500;

/// Apply `policy` as of `now`; with `dry_run` only count.
pub async fn run<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    origin: &str,
    actor: &str,
    policy: Policy,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<RetentionOutcome, RetentionError> {
    let payload_cutoff = now - Duration::days(i64::from(policy.payload_days));
    let payloads_dropped = if dry_run {
        payloads_due(payload_cutoff).count(db).await?
    } else {
        drop_payloads(db, origin, actor, payload_cutoff, policy.payload_days).await?
    };
    let attempt_cutoff = now - Duration::days(i64::from(policy.attempt_days));
    let sessions = lab_session::Entity::find()
        .filter(lab_session::Column::ArchivedAt.lt(attempt_cutoff))
        .order_by_asc(lab_session::Column::Id)
        .all(db)
        .await?;
    let mut attempts_erased = Vec::new();
    for s in sessions {
        let n = if dry_run {
            attempts_of(s.id).count(db).await?
        } else {
            erase_attempts(db, origin, actor, s.id).await?
        };
        if n > 0 {
            attempts_erased.push((s.id, n));
        }
    }
    Ok(RetentionOutcome {
        payloads_dropped,
        attempts_erased,
    })
}

fn payloads_due(cutoff: DateTime<Utc>) -> sea_orm::Select<webhook_delivery::Entity> {
    use webhook_delivery::Column as C;
    webhook_delivery::Entity::find()
        .filter(C::Payload.is_not_null())
        .filter(C::Status.is_in(SETTLED))
        .filter(C::ProcessedAt.lt(cutoff))
}

fn attempts_of(session_id: i64) -> sea_orm::Select<lab_attempt::Entity> {
    lab_attempt::Entity::find().filter(lab_attempt::Column::SessionId.eq(session_id))
}

fn null_payload() -> SimpleExpr {
    Expr::value(Value::Bytes(None))
}

/// Drop due payloads and audit how many, in one transaction.
async fn drop_payloads(
    db: &impl TransactionTrait,
    origin: &str,
    actor: &str,
    cutoff: DateTime<Utc>,
    days: u32,
) -> Result<u64, RetentionError> {
    use webhook_delivery::Column as C;
    audit::write(db, origin, async |txn, log| {
        let dropped = webhook_delivery::Entity::update_many()
            .col_expr(C::Payload, null_payload())
            .filter(C::Payload.is_not_null())
            .filter(C::Status.is_in(SETTLED))
            .filter(C::ProcessedAt.lt(cutoff))
            .exec(txn)
            .await?
            .rows_affected;
        if dropped > 0 {
            log.append(entries::payloads_dropped(actor, dropped, cutoff, days)?)
                .await?;
        }
        Ok(dropped)
    })
    .await
}

/// Erase a session's attempts in batches: files, attempt, the delivery's payload bytes, and one
/// `lab_attempt.erased` entry each, per transaction.
async fn erase_attempts<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    origin: &str,
    actor: &str,
    session_id: i64,
) -> Result<u64, RetentionError> {
    let mut erased = 0;
    loop {
        let n = audit::write(db, origin, async |txn, log| {
            let batch = attempts_of(session_id)
                .order_by_asc(lab_attempt::Column::Id)
                .limit(BATCH)
                .all(txn)
                .await?;
            if batch.is_empty() {
                log.roll_back();
                return Ok(0);
            }
            let ids: Vec<i64> = batch.iter().map(|a| a.id).collect();
            let guids: Vec<String> = batch.iter().map(|a| a.delivery_id.clone()).collect();
            // The entries first: the database guards let an attempt go only once its erase is logged.
            for a in &batch {
                log.append(entries::attempt_erased(actor, a)?).await?;
            }
            lab_attempt_file::Entity::delete_many()
                .filter(lab_attempt_file::Column::AttemptId.is_in(ids.clone()))
                .exec(txn)
                .await?;
            // Scores go with their attempt (their `lab_attempt.scored` entries stay; audit verify
            // accepts a gone score whose attempt's erase entry is in the log).
            entity::lab_attempt_score::Entity::delete_many()
                .filter(entity::lab_attempt_score::Column::AttemptId.is_in(ids.clone()))
                .exec(txn)
                .await?;
            lab_attempt::Entity::delete_many()
                .filter(lab_attempt::Column::Id.is_in(ids))
                .exec(txn)
                .await?;
            webhook_delivery::Entity::update_many()
                .col_expr(webhook_delivery::Column::Payload, null_payload())
                .filter(webhook_delivery::Column::Guid.is_in(guids))
                .exec(txn)
                .await?;
            let repos: Vec<i64> = batch.iter().map(|a| a.repository_id).collect();
            if let Some(session) = crate::db::sessions::get(txn, session_id).await? {
                crate::db::student_state::rebuild_repositories(txn, &session, &repos).await?;
            }
            Ok::<_, RetentionError>(batch.len() as u64)
        })
        .await?;
        if n == 0 {
            return Ok(erased);
        }
        erased += n;
    }
}
