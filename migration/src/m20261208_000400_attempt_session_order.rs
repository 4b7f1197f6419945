//! `ix_lab_attempt_session` on `lab_attempt (session_id, id)` (issue 24): a session's attempts in recording
//! order, a page at a time (`id > cursor … ORDER BY id LIMIT n`). Without it both backends read a page
//! through `ix_lab_attempt_number` (`session_id` first) and sort every attempt of the session for each
//! page, so a streamed export cost grew with the square of the session's size.

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
                .to_owned(),
        )
        .await
    }
}
