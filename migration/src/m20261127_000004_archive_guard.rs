//! Tighter guards. `archived_upto` may only advance together with the `audit.archived` entry that records
//! it (the newest entry, whose `details.upto` is the new value): without this, one UPDATE of the runtime
//! role could mark every entry archived and let the DELETE guard pass. And inserts: an `audit_log` row
//! only at the head (`seq = size`, `prev_hash = head_hash`), no second `audit_head` row — SQLite's
//! `INSERT OR REPLACE` would otherwise replace a row without firing the UPDATE or DELETE guards.

use sea_orm_migration::prelude::*;

use crate::m20261127_000003_audit_guards::postgres_head_guard;
use crate::util::{drops, execute_per_backend, pg_row_trigger, sqlite_guard};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// What `labtrail_audit_head_guard` checks on top of its first version (m20261127_000003).
const POSTGRES_ARCHIVE_CHECK: &str = r"    IF NEW.archived_upto > OLD.archived_upto AND NOT EXISTS (
        SELECT 1 FROM audit_log
        WHERE seq = NEW.size - 1 AND action = 'audit.archived'
          AND (details::jsonb ->> 'upto')::bigint = NEW.archived_upto) THEN
        RAISE EXCEPTION 'audit_head: archived_upto only advances with its audit.archived entry'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
";

/// `labtrail_audit_log_append` as this migration writes it: an entry only at the head (m20261130_000090
/// widens it for batches and puts this text back on the way down).
pub(crate) const POSTGRES_APPEND_GUARD: &str = r"CREATE OR REPLACE FUNCTION labtrail_audit_log_append() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    head audit_head%ROWTYPE;
BEGIN
    SELECT * INTO head FROM audit_head WHERE id = 1;
    IF NEW.seq <> head.size OR (head.head_hash IS NOT NULL AND NEW.prev_hash <> head.head_hash) THEN
        RAISE EXCEPTION 'audit_log: an entry is appended at the head only'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$";

/// When SQLite's `audit_log_append_only` refuses an insert (as for [`POSTGRES_APPEND_GUARD`]).
pub(crate) const SQLITE_APPEND_REFUSED_WHEN: &str =
    "NEW.seq <> (SELECT size FROM audit_head WHERE id = 1) \
                 OR ((SELECT head_hash FROM audit_head WHERE id = 1) IS NOT NULL \
                 AND NEW.prev_hash <> (SELECT head_hash FROM audit_head WHERE id = 1))";

/// The PostgreSQL function and triggers this migration adds (dropped again on the way down).
fn postgres_created() -> Vec<String> {
    vec![
        POSTGRES_APPEND_GUARD.to_owned(),
        pg_row_trigger(
            "audit_log_append_only",
            "INSERT",
            "audit_log",
            "labtrail_audit_log_append",
        ),
        pg_row_trigger(
            "audit_head_no_insert",
            "INSERT",
            "audit_head",
            "labtrail_append_only",
        ),
    ]
}

fn postgres_up() -> Vec<String> {
    let mut statements = vec![postgres_head_guard(POSTGRES_ARCHIVE_CHECK)];
    statements.extend(postgres_created());
    statements
}

fn sqlite_up() -> Vec<String> {
    vec![
        sqlite_guard(
            "audit_log_append_only",
            "INSERT",
            "audit_log",
            Some(SQLITE_APPEND_REFUSED_WHEN),
            "audit_log: an entry is appended at the head only",
        ),
        sqlite_guard(
            "audit_head_no_insert",
            "INSERT",
            "audit_head",
            None,
            "audit_head: INSERT refused",
        ),
        sqlite_guard(
            "audit_head_archive_guard",
            "UPDATE OF archived_upto",
            "audit_head",
            Some(
                "NEW.archived_upto > OLD.archived_upto AND NOT EXISTS ( \
                 SELECT 1 FROM audit_log WHERE seq = NEW.size - 1 AND action = 'audit.archived' \
                 AND json_extract(details, '$.upto') = NEW.archived_upto)",
            ),
            "audit_head: archived_upto only advances with its audit.archived entry",
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        execute_per_backend(manager, &postgres_up(), &sqlite_up()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Drop the insert guards, then restore the first version of the head guard.
        let mut postgres = drops(&postgres_created(), true)?;
        postgres.push(postgres_head_guard(""));
        execute_per_backend(manager, &postgres, &drops(&sqlite_up(), false)?).await
    }
}
