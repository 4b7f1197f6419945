//! The durable delivery queue in `webhook_delivery`: insert once, claim with a lease, settle.

use chrono::{DateTime, Utc};
use entity::webhook_delivery::{self, Column};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter,
    Set, Statement, TransactionTrait,
};
use sha2::{Digest, Sha256};

/// Processing states of a delivery.
pub use entity::states::DeliveryStatus as Status;

/// A delivery as accepted at the edge.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub guid: String,
    pub event: String,
    pub action: Option<String>,
    pub installation_id: Option<i64>,
    pub payload: Vec<u8>,
    /// `Queued`, or `Rejected` for a signed but unparseable body.
    pub status: Status,
    pub error: Option<String>,
    pub received_at: DateTime<Utc>,
}

/// Store a delivery once; `false` when its GUID was already known (nothing changed).
pub async fn insert(db: &impl ConnectionTrait, d: NewDelivery) -> Result<bool, DbErr> {
    let rows = webhook_delivery::Entity::insert(row(d))
        .on_conflict(OnConflict::column(Column::Guid).do_nothing().to_owned())
        .exec_without_returning(db)
        .await?;
    Ok(rows == 1)
}

/// What storing an incoming delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// A new GUID: the row was inserted.
    New,
    /// The GUID was already stored; nothing changed.
    Duplicate,
    /// The GUID was stored as `dead`: queued again with fresh tries.
    Requeued,
}

/// Store incoming deliveries in one transaction: one multi-row insert; a GUID already stored is a
/// duplicate, or — for a queued delivery whose GUID is `dead` — queued again.
pub async fn store_incoming(
    db: &impl TransactionTrait,
    news: &[&NewDelivery],
) -> Result<Vec<Stored>, DbErr> {
    let txn = db.begin().await?;
    let inserted = insert_many(&txn, news).await?;
    let mut outcomes = Vec::with_capacity(news.len());
    for (new, inserted) in news.iter().zip(inserted) {
        outcomes.push(if inserted {
            Stored::New
        } else if new.status == Status::Queued
            && requeue_dead(&txn, &new.guid, new.received_at).await?
        {
            Stored::Requeued
        } else {
            Stored::Duplicate
        });
    }
    txn.commit().await?;
    Ok(outcomes)
}

/// Payloads from this size on are stored alone by [`store_alone`], which does not copy them.
pub const LARGE_PAYLOAD: usize = 1024 * 1024;

/// Copies of a payload the database driver holds while [`store_alone`] inserts it, beyond the
/// payload itself: on SQLite the bound value (SQLite copies it) and the record it builds; on PostgreSQL
/// the encoded message (the encoded argument replaces the payload, which is moved into it).
pub fn insert_copies(db: &sea_orm::DatabaseConnection) -> usize {
    match db.get_database_backend() {
        DbBackend::Postgres => 1,
        _ => 2,
    }
}

const INSERT_ONE_SQLITE: &str =
    "INSERT INTO webhook_delivery (guid, event, action, installation_id, \
     payload_sha256, payload, status, attempts, claims, next_attempt_at, locked_until, last_error, \
     received_at, processed_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, ?, NULL, ?, ?, ?) \
     ON CONFLICT (guid) DO NOTHING RETURNING guid";
const INSERT_ONE_POSTGRES: &str = "INSERT INTO webhook_delivery (guid, event, action, \
     installation_id, payload_sha256, payload, status, attempts, claims, next_attempt_at, \
     locked_until, last_error, received_at, processed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 0, \
     $8, NULL, $9, $10, $11) ON CONFLICT (guid) DO NOTHING RETURNING guid";
// What [`requeue_dead`] does. Bound: queued, now, guid, dead.
const REQUEUE_SQLITE: &str = "UPDATE webhook_delivery SET status = ?, attempts = 0, \
     next_attempt_at = ?, locked_until = NULL, processed_at = NULL WHERE guid = ? AND status = ?";
const REQUEUE_POSTGRES: &str = "UPDATE webhook_delivery SET status = $1, attempts = 0, \
     next_attempt_at = $2, locked_until = NULL, processed_at = NULL WHERE guid = $3 AND status = $4";

fn sqlx_err(e: sea_orm::sqlx::Error) -> DbErr {
    DbErr::Query(sea_orm::RuntimeErr::SqlxError(e))
}

/// Store one delivery in its own transaction, like [`store_incoming`], its payload moved into the
/// statement: sea-orm's statements copy every value (the statement's values, then the bound
/// arguments), which for a payload of 25 MB is 50 MB more. On PostgreSQL the connection's buffers
/// are shrunk afterwards (they would keep the payload's size).
pub async fn store_alone(
    db: &sea_orm::DatabaseConnection,
    d: NewDelivery,
) -> Result<Stored, DbErr> {
    use sea_orm::sqlx::Connection;
    use sea_orm::ActiveEnum;
    let sha = hex::encode(Sha256::digest(&d.payload));
    let processed_at = (d.status == Status::Rejected).then_some(d.received_at);
    let status = d.status.to_value();
    macro_rules! store {
        ($pool:expr, $insert:expr, $requeue:expr) => {{
            let mut conn = $pool.acquire().await.map_err(sqlx_err)?;
            let mut txn = Connection::begin(&mut *conn).await.map_err(sqlx_err)?;
            let inserted = sea_orm::sqlx::query($insert)
                .bind(d.guid.as_str())
                .bind(d.event.as_str())
                .bind(d.action.as_deref())
                .bind(d.installation_id)
                .bind(sha.as_str())
                .bind(d.payload)
                .bind(status.as_str())
                .bind(d.received_at)
                .bind(d.error.as_deref())
                .bind(d.received_at)
                .bind(processed_at)
                .fetch_optional(&mut *txn)
                .await
                .map_err(sqlx_err)?
                .is_some();
            let stored = if inserted {
                Stored::New
            } else if d.status == Status::Queued
                && sea_orm::sqlx::query($requeue)
                    .bind(Status::Queued.to_value())
                    .bind(d.received_at)
                    .bind(d.guid.as_str())
                    .bind(Status::Dead.to_value())
                    .execute(&mut *txn)
                    .await
                    .map_err(sqlx_err)?
                    .rows_affected()
                    == 1
            {
                Stored::Requeued
            } else {
                Stored::Duplicate
            };
            txn.commit().await.map_err(sqlx_err)?;
            conn.shrink_buffers();
            Ok(stored)
        }};
    }
    match db.get_database_backend() {
        DbBackend::Postgres => store!(
            db.get_postgres_connection_pool(),
            INSERT_ONE_POSTGRES,
            REQUEUE_POSTGRES
        ),
        DbBackend::Sqlite => store!(
            db.get_sqlite_connection_pool(),
            INSERT_ONE_SQLITE,
            REQUEUE_SQLITE
        ),
        _ => store_incoming(db, &[&d])
            .await?
            .pop()
            .ok_or_else(|| DbErr::Custom("storing a delivery gave no outcome".into())),
    }
}

/// Whether the database runs several writers at once (PostgreSQL) or one at a time (SQLite).
pub fn concurrent_writers(db: &sea_orm::DatabaseConnection) -> bool {
    matches!(db.get_database_backend(), sea_orm::DbBackend::Postgres)
}

/// Store deliveries with one multi-row insert, each once: for each, whether it was stored (`false`: its
/// GUID was already known, or came earlier in `ds`).
pub async fn insert_many(
    db: &impl ConnectionTrait,
    ds: &[&NewDelivery],
) -> Result<Vec<bool>, DbErr> {
    use sea_orm::sea_query::{IntoColumnRef, Query, ReturningClause};
    let mut stored = std::collections::HashSet::new();
    // 14 values a row; SQLite allows 32,766 a statement.
    for chunk in ds.chunks(1000) {
        let mut insert = Query::insert();
        insert
            .into_table(webhook_delivery::Entity)
            .columns([
                Column::Guid,
                Column::Event,
                Column::Action,
                Column::InstallationId,
                Column::PayloadSha256,
                Column::Payload,
                Column::Status,
                Column::Attempts,
                Column::Claims,
                Column::NextAttemptAt,
                Column::LockedUntil,
                Column::LastError,
                Column::ReceivedAt,
                Column::ProcessedAt,
            ])
            .on_conflict(OnConflict::column(Column::Guid).do_nothing().to_owned())
            .returning(ReturningClause::Columns(vec![
                Column::Guid.into_column_ref()
            ]));
        for d in chunk {
            insert
                .values([
                    d.guid.clone().into(),
                    d.event.clone().into(),
                    d.action.clone().into(),
                    d.installation_id.into(),
                    hex::encode(Sha256::digest(&d.payload)).into(),
                    Some(d.payload.clone()).into(),
                    d.status.into(),
                    0i32.into(),
                    0i32.into(),
                    d.received_at.into(),
                    Option::<DateTime<Utc>>::None.into(),
                    d.error.clone().into(),
                    d.received_at.into(),
                    (d.status == Status::Rejected)
                        .then_some(d.received_at)
                        .into(),
                ])
                .map_err(|e| DbErr::Custom(e.to_string()))?;
        }
        let stmt = db.get_database_backend().build(&insert);
        for r in db.query_all(stmt).await? {
            stored.insert(r.try_get::<String>("", "guid")?);
        }
    }
    // The first of equal GUIDs is the stored one.
    Ok(ds.iter().map(|d| stored.remove(&d.guid)).collect())
}

fn row(d: NewDelivery) -> webhook_delivery::ActiveModel {
    webhook_delivery::ActiveModel {
        guid: Set(d.guid),
        event: Set(d.event),
        action: Set(d.action),
        installation_id: Set(d.installation_id),
        payload_sha256: Set(hex::encode(Sha256::digest(&d.payload))),
        payload: Set(Some(d.payload)),
        status: Set(d.status),
        attempts: Set(0),
        claims: Set(0),
        next_attempt_at: Set(d.received_at),
        locked_until: Set(None),
        last_error: Set(d.error),
        received_at: Set(d.received_at),
        processed_at: Set((d.status == Status::Rejected).then_some(d.received_at)),
    }
}

/// A delivery's *claimable time*: `next_attempt_at` while it is queued or retrying, its lease
/// (`locked_until`) while it is processing, NULL once settled. `ix_webhook_delivery_claimable`
/// (migration `m20261130_000080_claim_index`) indexes exactly this expression, partial on it being
/// non-NULL, so a claim is one index range scan in order of this time, stopped at the first row: no
/// sort of the queue, and settled rows are not in the index. Both SQLite and PostgreSQL match an
/// expression index only against the same expression, so the state names are written here as
/// literals (the unit test `claimable_at_names_the_states` checks them against `Status`).
macro_rules! claimable_at {
    () => {
        "(CASE WHEN status IN ('queued', 'retrying') THEN next_attempt_at \
         WHEN status = 'processing' THEN locked_until END)"
    };
}

// A processing delivery's lease is over only strictly after `locked_until`: the extra condition keeps
// that (it filters rows of the range, it does not change the scan). Bound: $1 until, $2 now,
// $3 processing, $4 how many.
const CLAIM_POSTGRES: &str = concat!(
    "UPDATE webhook_delivery \
     SET status = $3, locked_until = $1, attempts = attempts + 1, claims = claims + 1 \
     WHERE guid IN (SELECT guid FROM webhook_delivery WHERE ",
    claimable_at!(),
    " <= $2 AND (status <> $3 OR locked_until < $2) ORDER BY ",
    claimable_at!(),
    " LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING *"
);

// The batch claim: up to $4 due deliveries, locked in claim order, of which those whose preceding
// payloads total less than $5 bytes (so at least one): a batch holds a bounded number of payload bytes.
// The window sum sits outside the locking subquery (PostgreSQL allows no window function beside FOR
// UPDATE); rows locked but left out stay queued.
const CLAIM_BATCH_POSTGRES: &str = concat!(
    "UPDATE webhook_delivery \
     SET status = $3, locked_until = $1, attempts = attempts + 1, claims = claims + 1 \
     WHERE guid IN (SELECT guid FROM (SELECT guid, SUM(len) OVER (ORDER BY at, guid ROWS UNBOUNDED \
     PRECEDING) - len AS before FROM (SELECT guid, ",
    claimable_at!(),
    " AS at, COALESCE(octet_length(payload), 0) AS len FROM webhook_delivery WHERE ",
    claimable_at!(),
    " <= $2 AND (status <> $3 OR locked_until < $2) ORDER BY ",
    claimable_at!(),
    " LIMIT $4 FOR UPDATE SKIP LOCKED) AS due) AS sized WHERE before < $5) RETURNING *"
);

// SQLite serialises writers, so a single UPDATE … RETURNING is already exclusive. One delivery a statement:
// `guid = (…)` is always a primary-key lookup, where SQLite's planner may scan a small analysed table for
// `guid IN (…)`; a batch is this statement repeated in one transaction (see [`claim_batch`]). Bound in
// order: processing, until, now, processing, now.
const CLAIM_SQLITE: &str = concat!(
    "UPDATE webhook_delivery \
     SET status = ?, locked_until = ?, attempts = attempts + 1, claims = claims + 1 \
     WHERE guid = (SELECT guid FROM webhook_delivery WHERE ",
    claimable_at!(),
    " <= ? AND (status <> ? OR locked_until < ?) ORDER BY ",
    claimable_at!(),
    " LIMIT 1) RETURNING *"
);

/// A redelivery of a `dead` delivery (GitHub's "Redeliver", or `labtrail redeliver`) queues it again with
/// fresh tries; `false` when the GUID is not dead.
pub async fn requeue_dead(
    db: &impl ConnectionTrait,
    guid: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let model = webhook_delivery::ActiveModel {
        status: Set(Status::Queued),
        attempts: Set(0),
        next_attempt_at: Set(now),
        locked_until: Set(None),
        processed_at: Set(None),
        ..Default::default()
    };
    let result = webhook_delivery::Entity::update_many()
        .set(model)
        .filter(Column::Guid.eq(guid))
        .filter(Column::Status.eq(Status::Dead))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// The claim statement of [`claim_next`] on `backend`, with its values bound (tests `EXPLAIN` it).
pub fn claim_statement(
    backend: DbBackend,
    now: DateTime<Utc>,
    lease: chrono::Duration,
) -> Statement {
    claim_batch_statement(backend, now, lease, 1)
}

/// The claim statement for up to `limit` deliveries (PostgreSQL; SQLite's claims one, see
/// `CLAIM_SQLITE`).
fn claim_batch_statement(
    backend: DbBackend,
    now: DateTime<Utc>,
    lease: chrono::Duration,
    limit: u32,
) -> Statement {
    let until = now + lease;
    let processing = Status::Processing;
    match backend {
        DbBackend::Postgres => Statement::from_sql_and_values(
            backend,
            CLAIM_POSTGRES,
            [
                until.into(),
                now.into(),
                processing.into(),
                i64::from(limit.max(1)).into(),
            ],
        ),
        _ => Statement::from_sql_and_values(
            backend,
            CLAIM_SQLITE,
            [
                processing.into(),
                until.into(),
                now.into(),
                processing.into(),
                now.into(),
            ],
        ),
    }
}

/// Claim the next due delivery (or one whose lease expired) until `now + lease`: the one with the
/// earliest claimable time (see `claimable_at!`), through its index.
pub async fn claim_next(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    lease: chrono::Duration,
) -> Result<Option<webhook_delivery::Model>, DbErr> {
    webhook_delivery::Entity::find()
        .from_raw_sql(claim_statement(db.get_database_backend(), now, lease))
        .one(db)
        .await
}

/// Claim up to `limit` due deliveries at once, the earliest claimable first, each with its own lease
/// and claim count, stopping once their payloads reach `max_bytes` (always at least one, so a batch
/// holds at most `max_bytes` plus one payload): one statement on PostgreSQL, one transaction of single
/// claims on SQLite (one commit). Returned in order of when they became due.
pub async fn claim_batch(
    db: &(impl ConnectionTrait + TransactionTrait),
    now: DateTime<Utc>,
    lease: chrono::Duration,
    limit: u32,
    max_bytes: usize,
) -> Result<Vec<webhook_delivery::Model>, DbErr> {
    let backend = db.get_database_backend();
    let mut claimed = if backend == DbBackend::Postgres {
        let until = now + lease;
        let stmt = Statement::from_sql_and_values(
            backend,
            CLAIM_BATCH_POSTGRES,
            [
                until.into(),
                now.into(),
                Status::Processing.into(),
                i64::from(limit.max(1)).into(),
                i64::try_from(max_bytes).unwrap_or(i64::MAX).into(),
            ],
        );
        webhook_delivery::Entity::find()
            .from_raw_sql(stmt)
            .all(db)
            .await?
    } else {
        let txn = db.begin().await?;
        let mut claimed = Vec::new();
        let mut bytes = 0usize;
        while claimed.len() < usize::try_from(limit.max(1)).unwrap_or(1) && bytes < max_bytes {
            match claim_next(&txn, now, lease).await? {
                Some(d) => {
                    bytes = bytes.saturating_add(d.payload.as_ref().map_or(0, Vec::len));
                    claimed.push(d);
                }
                None => break,
            }
        }
        txn.commit().await?;
        claimed
    };
    claimed.sort_by(|a, b| {
        (a.next_attempt_at, a.received_at, &a.guid).cmp(&(
            b.next_attempt_at,
            b.received_at,
            &b.guid,
        ))
    });
    Ok(claimed)
}

/// Mark recorded deliveries `processed` in one statement (inside the recording transaction).
pub async fn settle_processed(db: &impl ConnectionTrait, guids: &[&str]) -> Result<(), DbErr> {
    let now = Utc::now();
    for chunk in guids.chunks(500) {
        let model = webhook_delivery::ActiveModel {
            status: Set(Status::Processed),
            locked_until: Set(None),
            last_error: Set(None),
            processed_at: Set(Some(now)),
            ..Default::default()
        };
        webhook_delivery::Entity::update_many()
            .set(model)
            .filter(Column::Guid.is_in(chunk.iter().copied()))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Settle a delivery: final status (or `Retrying` with its next time), and a note or error.
pub async fn settle(
    db: &impl ConnectionTrait,
    guid: &str,
    status: Status,
    message: Option<String>,
    next_attempt_at: Option<DateTime<Utc>>,
) -> Result<(), DbErr> {
    settle_where(db, guid, None, status, message, next_attempt_at).await?;
    Ok(())
}

/// Settle a delivery only if this worker's claim still holds: it is `processing` with the `claims`
/// count the claim set. A worker whose lease ran out and whose delivery was claimed again changes
/// nothing; `false` then.
pub async fn settle_claimed(
    db: &impl ConnectionTrait,
    claimed: &webhook_delivery::Model,
    status: Status,
    message: Option<String>,
    next_attempt_at: Option<DateTime<Utc>>,
) -> Result<bool, DbErr> {
    let claim = Some(claimed.claims);
    settle_where(db, &claimed.guid, claim, status, message, next_attempt_at)
        .await
        .map(|rows| rows == 1)
}

/// Settle inside a transaction: guarded by the claim when one is given (see [`settle_claimed`]).
pub async fn settle_for_claim(
    db: &impl ConnectionTrait,
    guid: &str,
    claim: Option<i32>,
    status: Status,
) -> Result<bool, DbErr> {
    let rows = settle_where(db, guid, claim, status, None, None).await?;
    Ok(claim.is_none() || rows == 1)
}

/// Push this worker's lease forward while it still holds the claim (long GitHub enrichment).
pub async fn extend_lease(
    db: &impl ConnectionTrait,
    claimed: &webhook_delivery::Model,
    until: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let result = webhook_delivery::Entity::update_many()
        .set(webhook_delivery::ActiveModel {
            locked_until: Set(Some(until)),
            ..Default::default()
        })
        .filter(Column::Guid.eq(claimed.guid.as_str()))
        .filter(Column::Status.eq(Status::Processing))
        .filter(Column::Claims.eq(claimed.claims))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

async fn settle_where(
    db: &impl ConnectionTrait,
    guid: &str,
    claim: Option<i32>,
    status: Status,
    message: Option<String>,
    next_attempt_at: Option<DateTime<Utc>>,
) -> Result<u64, DbErr> {
    let now = Utc::now();
    let finished = !matches!(status, Status::Retrying | Status::Queued);
    let model = webhook_delivery::ActiveModel {
        status: Set(status),
        locked_until: Set(None),
        last_error: Set(message),
        next_attempt_at: next_attempt_at.map_or(NotSet, Set),
        processed_at: if finished { Set(Some(now)) } else { NotSet },
        ..Default::default()
    };
    let mut update = webhook_delivery::Entity::update_many()
        .set(model)
        .filter(Column::Guid.eq(guid));
    if let Some(claims) = claim {
        update = update
            .filter(Column::Status.eq(Status::Processing))
            .filter(Column::Claims.eq(claims));
    }
    Ok(update.exec(db).await?.rows_affected)
}

/// The stored payload bytes of a delivery (`None` when unknown or dropped by retention).
pub async fn payload_of(db: &impl ConnectionTrait, guid: &str) -> Result<Option<Vec<u8>>, DbErr> {
    Ok(webhook_delivery::Entity::find_by_id(guid.to_owned())
        .one(db)
        .await?
        .and_then(|d| d.payload))
}

/// Row counts per status (for metrics and the CLI).
pub async fn count_by_status(db: &impl ConnectionTrait) -> Result<Vec<(String, i64)>, DbErr> {
    let backend = db.get_database_backend();
    let rows = db
        .query_all(Statement::from_string(
            backend,
            "SELECT status, COUNT(*) FROM webhook_delivery GROUP BY status ORDER BY status",
        ))
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get_by_index(0)?, r.try_get_by_index(1)?)))
        .collect()
}

/// Which of `guids` are stored (in any status).
pub async fn known_guids(
    db: &impl ConnectionTrait,
    guids: &[String],
) -> Result<std::collections::HashSet<String>, DbErr> {
    use sea_orm::QuerySelect;
    let mut known = std::collections::HashSet::new();
    // Well below the bind-parameter limits of SQLite and PostgreSQL.
    for chunk in guids.chunks(500) {
        let rows: Vec<String> = webhook_delivery::Entity::find()
            .select_only()
            .column(Column::Guid)
            .filter(Column::Guid.is_in(chunk.iter().cloned()))
            .into_tuple()
            .all(db)
            .await?;
        known.extend(rows);
    }
    Ok(known)
}

/// A delivery as operators see it (no payload bytes).
#[derive(Debug, Clone, sea_orm::FromQueryResult)]
pub struct DeliveryInfo {
    pub guid: String,
    pub event: String,
    pub action: Option<String>,
    pub status: Status,
    /// Processing tries since the delivery was (re)queued.
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    /// Why it was ignored, retried or given up, or a note (`duplicate of attempt N`).
    pub last_error: Option<String>,
    pub received_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
}

fn info_select() -> sea_orm::Select<webhook_delivery::Entity> {
    use sea_orm::QuerySelect;
    webhook_delivery::Entity::find().select_only().columns([
        Column::Guid,
        Column::Event,
        Column::Action,
        Column::Status,
        Column::Attempts,
        Column::NextAttemptAt,
        Column::LastError,
        Column::ReceivedAt,
        Column::ProcessedAt,
    ])
}

/// Deliveries for operators, newest first, optionally of one status.
pub async fn list(
    db: &impl ConnectionTrait,
    status: Option<Status>,
    limit: u64,
) -> Result<Vec<DeliveryInfo>, DbErr> {
    use sea_orm::{QueryOrder, QuerySelect};
    let mut q = info_select();
    if let Some(status) = status {
        q = q.filter(Column::Status.eq(status));
    }
    q.order_by_desc(Column::ReceivedAt)
        .order_by_desc(Column::Guid)
        .limit(limit)
        .into_model::<DeliveryInfo>()
        .all(db)
        .await
}

/// One delivery by GUID.
pub async fn get(db: &impl ConnectionTrait, guid: &str) -> Result<Option<DeliveryInfo>, DbErr> {
    info_select()
        .filter(Column::Guid.eq(guid))
        .into_model::<DeliveryInfo>()
        .one(db)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::ActiveEnum;

    /// The literals of `claimable_at!` are the stored names of the states they stand for.
    #[test]
    fn claimable_at_names_the_states() {
        let expr = claimable_at!();
        for (status, literal) in [
            (Status::Queued, "'queued'"),
            (Status::Retrying, "'retrying'"),
            (Status::Processing, "'processing'"),
        ] {
            assert_eq!(format!("'{}'", status.to_value()), literal);
            assert!(expr.contains(literal), "{literal} in {expr}");
        }
    }
}
