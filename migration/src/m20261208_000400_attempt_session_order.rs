//! `ix_lab_attempt_session` on `lab_attempt (session_id, id)` (issue 24): a session's attempts in recording
//! order, a page at a time (`id > cursor … ORDER BY id LIMIT n`). Without it both backends read a page
//! through `ix_lab_attempt_number` (`session_id` first) and sort every attempt of the session for each
//! page, so a streamed export cost grew with the square of the session's size.
//!
//! SQLite only. On PostgreSQL the planner, with statistics older than a new session (a new lab's first
//! pushes, before autovacuum analyses the table again), estimates the new session at one row and picks this
//! narrower index over `ix_lab_attempt_number` for the per-repository counts of every recorded batch: each
//! count then read the whole session (22 ms at 50,000 attempts, measured by the scale bench's N = 4), and
//! ingest fell to some 50 deliveries/s. PostgreSQL pages an export by `ix_lab_attempt_number` as before.

use sea_orm_migration::prelude::*;

use crate::util::create_index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LabAttempt {
    Table,
    SessionId,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != sea_orm::DatabaseBackend::Sqlite {
            return Ok(());
        }
        create_index(
            m,
            "ix_lab_attempt_session",
            LabAttempt::Table,
            [LabAttempt::SessionId, LabAttempt::Id],
            false,
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("ix_lab_attempt_session")
                .table(LabAttempt::Table)
                .if_exists()
                .to_owned(),
        )
        .await
    }
}
