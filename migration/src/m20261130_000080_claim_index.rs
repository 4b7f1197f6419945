//! An index on the time a delivery becomes claimable, so that a worker's claim
//! (`src/db/deliveries.rs::claim_next`) is one index range scan in order, with no sort of the queue.
//!
//! The indexed expression is the delivery's *claimable time*: `next_attempt_at` while it is `queued` or
//! `retrying`, `locked_until` (its lease) while it is `processing`, and NULL in every final state, which
//! keeps settled deliveries out of this partial index. The claim query repeats the expression exactly
//! (`CLAIMABLE_AT` there): both SQLite and PostgreSQL use an index on an expression only for the same
//! expression. The older `ix_webhook_delivery_due (status, next_attempt_at)` stays for lookups by status.

use sea_orm_migration::prelude::*;

use crate::util::execute_all;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The same text as `CLAIMABLE_AT` in `src/db/deliveries.rs`.
const CLAIMABLE_AT: &str = "(CASE WHEN status IN ('queued', 'retrying') THEN next_attempt_at \
    WHEN status = 'processing' THEN locked_until END)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        execute_all(
            manager,
            &[format!(
                "CREATE INDEX IF NOT EXISTS ix_webhook_delivery_claimable \
                 ON webhook_delivery ({CLAIMABLE_AT}) WHERE {CLAIMABLE_AT} IS NOT NULL"
            )],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        execute_all(
            manager,
            &["DROP INDEX IF EXISTS ix_webhook_delivery_claimable"],
        )
        .await
    }
}
