//! An index on `audit_log (subject, seq)`: `audit verify` walks the entries of one kind of subject
//! (`lab_attempt:…`, `lab_session:…`, `installation:…`) in subject then seq order, in pages, to compare
//! them with the rows they set (`src/audit/records.rs`); each page is then an index range scan.

use sea_orm_migration::prelude::*;

use crate::util::execute_all;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        execute_all(
            manager,
            &["CREATE INDEX IF NOT EXISTS ix_audit_log_subject_seq ON audit_log (subject, seq)"],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        execute_all(manager, &["DROP INDEX IF EXISTS ix_audit_log_subject_seq"]).await
    }
}
