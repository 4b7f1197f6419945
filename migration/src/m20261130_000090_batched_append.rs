//! Group commit appends a batch of audit entries with one multi-row insert and moves the head once. The
//! insert guard of m20261127_000004 accepts an entry only at the head (`seq = size`, `prev_hash =
//! head_hash`), which a multi-row insert cannot meet for its second row. It now also accepts the entry
//! right after one inserted beyond the head and chained to it (`seq - 1` is at or past the head and its
//! `entry_hash` is this entry's `prev_hash`): a batch must still start at the head and stay one unbroken
//! chain, so an entry can still not be put anywhere else. The head then moves to the end of the batch in
//! the same transaction (`audit verify` checks that the head and the entries agree).

use sea_orm_migration::prelude::*;

use crate::m20261127_000004_archive_guard::{POSTGRES_APPEND_GUARD, SQLITE_APPEND_REFUSED_WHEN};
use crate::util::{execute_per_backend, sqlite_guard};

#[derive(DeriveMigrationName)]
pub struct Migration;

const POSTGRES_UP: &str = r"CREATE OR REPLACE FUNCTION labtrail_audit_log_append() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    head audit_head%ROWTYPE;
BEGIN
    SELECT * INTO head FROM audit_head WHERE id = 1;
    IF NEW.seq = head.size AND (head.head_hash IS NULL OR NEW.prev_hash = head.head_hash) THEN
        RETURN NEW;
    END IF;
    IF NEW.seq > head.size AND EXISTS (
        SELECT 1 FROM audit_log
        WHERE seq = NEW.seq - 1 AND seq >= head.size AND entry_hash = NEW.prev_hash) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_log: an entry is appended at the head only'
        USING ERRCODE = 'integrity_constraint_violation';
END
$$";

/// When the widened SQLite guard refuses an insert: neither at the head nor chained right after an entry
/// beyond it.
const SQLITE_REFUSED_WHEN: &str = "NOT ((NEW.seq = (SELECT size FROM audit_head WHERE id = 1) \
     AND ((SELECT head_hash FROM audit_head WHERE id = 1) IS NULL \
          OR NEW.prev_hash = (SELECT head_hash FROM audit_head WHERE id = 1))) \
     OR (NEW.seq > (SELECT size FROM audit_head WHERE id = 1) \
     AND EXISTS (SELECT 1 FROM audit_log WHERE seq = NEW.seq - 1 \
          AND seq >= (SELECT size FROM audit_head WHERE id = 1) AND entry_hash = NEW.prev_hash)))";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        execute_per_backend(manager, &[POSTGRES_UP], &sqlite(SQLITE_REFUSED_WHEN)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        execute_per_backend(
            manager,
            &[POSTGRES_APPEND_GUARD],
            &sqlite(SQLITE_APPEND_REFUSED_WHEN),
        )
        .await
    }
}

/// SQLite: the insert guard again, refusing when `refused_when` holds.
fn sqlite(refused_when: &str) -> [String; 2] {
    [
        "DROP TRIGGER IF EXISTS audit_log_append_only".to_owned(),
        sqlite_guard(
            "audit_log_append_only",
            "INSERT",
            "audit_log",
            Some(refused_when),
            "audit_log: an entry is appended at the head only",
        ),
    ]
}
