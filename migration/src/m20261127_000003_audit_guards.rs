//! Database guards of the audit log (docs/design.md §6): triggers that refuse UPDATE, DELETE and TRUNCATE of
//! `audit_log` (except deleting rows already archived, `seq < audit_head.archived_upto`), refuse rolling
//! `audit_head` back, and keep `audit_checkpoint` append-only. Same behaviour on SQLite and PostgreSQL.

use sea_orm_migration::prelude::*;

use crate::util::{
    append_only, per_backend_migration, pg_no_truncate, pg_row_trigger, sqlite_guard,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// `labtrail_audit_head_guard`; m20261127_000004 adds `extra` checks before `RETURN NEW` (and restores
/// this first version, `extra` empty, when reverted).
pub(crate) fn postgres_head_guard(extra: &str) -> String {
    format!(
        r"CREATE OR REPLACE FUNCTION labtrail_audit_head_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION 'audit_head: % refused', TG_OP USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.id <> OLD.id OR NEW.size < OLD.size OR NEW.archived_upto < OLD.archived_upto
        OR NEW.archived_upto > NEW.size
        OR (OLD.origin IS NOT NULL AND NEW.origin IS DISTINCT FROM OLD.origin)
        OR (NEW.size = OLD.size AND NEW.head_hash IS DISTINCT FROM OLD.head_hash) THEN
        RAISE EXCEPTION 'audit_head may only move forward' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
{extra}    RETURN NEW;
END
$$"
    )
}

fn postgres_up() -> Vec<String> {
    let mut statements = vec![
        r"CREATE OR REPLACE FUNCTION labtrail_audit_log_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND OLD.seq < (SELECT archived_upto FROM audit_head WHERE id = 1) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % refused (only archived rows may be deleted)', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END
$$"
        .to_owned(),
        postgres_head_guard(""),
        r"CREATE OR REPLACE FUNCTION labtrail_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%: % refused (append-only)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END
$$"
        .to_owned(),
        pg_row_trigger(
            "audit_log_guard",
            "UPDATE OR DELETE",
            "audit_log",
            "labtrail_audit_log_guard",
        ),
        pg_no_truncate("audit_log_no_truncate", "audit_log"),
        pg_row_trigger(
            "audit_head_guard",
            "UPDATE OR DELETE",
            "audit_head",
            "labtrail_audit_head_guard",
        ),
        pg_no_truncate("audit_head_no_truncate", "audit_head"),
    ];
    statements.extend(append_only("audit_checkpoint").0);
    statements
}

// SQLite has no TRUNCATE: `DELETE` without `WHERE` runs row triggers too (they disable the truncate
// optimisation), so the DELETE trigger covers it.
fn sqlite_up() -> Vec<String> {
    let mut statements = vec![
        sqlite_guard(
            "audit_log_no_update",
            "UPDATE",
            "audit_log",
            None,
            "audit_log is append-only: UPDATE refused",
        ),
        sqlite_guard(
            "audit_log_no_delete",
            "DELETE",
            "audit_log",
            Some("OLD.seq >= (SELECT archived_upto FROM audit_head WHERE id = 1)"),
            "audit_log is append-only: DELETE refused (only archived rows may be deleted)",
        ),
        sqlite_guard(
            "audit_head_guard",
            "UPDATE",
            "audit_head",
            Some(
                "NEW.id <> OLD.id OR NEW.size < OLD.size OR NEW.archived_upto < OLD.archived_upto \
                 OR NEW.archived_upto > NEW.size \
                 OR (OLD.origin IS NOT NULL AND NEW.origin IS NOT OLD.origin) \
                 OR (NEW.size = OLD.size AND NEW.head_hash IS NOT OLD.head_hash)",
            ),
            "audit_head may only move forward",
        ),
        sqlite_guard(
            "audit_head_no_delete",
            "DELETE",
            "audit_head",
            None,
            "audit_head: DELETE refused",
        ),
    ];
    statements.extend(append_only("audit_checkpoint").1);
    statements
}

// `down` drops what `up` created, newest first.
per_backend_migration!(postgres_up(), sqlite_up());
