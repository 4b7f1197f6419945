//! Database guards of the audit log (docs/design.md §6): triggers that refuse UPDATE, DELETE and TRUNCATE of
//! `audit_log` (except deleting rows already archived, `seq < audit_head.archived_upto`), refuse rolling
//! `audit_head` back, and keep `audit_checkpoint` append-only. Same behaviour on SQLite and PostgreSQL.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const POSTGRES_UP: &[&str] = &[
    r"CREATE OR REPLACE FUNCTION labtrail_audit_log_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND OLD.seq < (SELECT archived_upto FROM audit_head WHERE id = 1) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % refused (only archived rows may be deleted)', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END
$$",
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
    RETURN NEW;
END
$$",
    r"CREATE OR REPLACE FUNCTION labtrail_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%: % refused (append-only)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END
$$",
    "CREATE TRIGGER audit_log_guard BEFORE UPDATE OR DELETE ON audit_log \
     FOR EACH ROW EXECUTE FUNCTION labtrail_audit_log_guard()",
    "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log \
     FOR EACH STATEMENT EXECUTE FUNCTION labtrail_append_only()",
    "CREATE TRIGGER audit_head_guard BEFORE UPDATE OR DELETE ON audit_head \
     FOR EACH ROW EXECUTE FUNCTION labtrail_audit_head_guard()",
    "CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head \
     FOR EACH STATEMENT EXECUTE FUNCTION labtrail_append_only()",
    "CREATE TRIGGER audit_checkpoint_guard BEFORE UPDATE OR DELETE ON audit_checkpoint \
     FOR EACH ROW EXECUTE FUNCTION labtrail_append_only()",
    "CREATE TRIGGER audit_checkpoint_no_truncate BEFORE TRUNCATE ON audit_checkpoint \
     FOR EACH STATEMENT EXECUTE FUNCTION labtrail_append_only()",
];

const POSTGRES_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS audit_checkpoint_no_truncate ON audit_checkpoint",
    "DROP TRIGGER IF EXISTS audit_checkpoint_guard ON audit_checkpoint",
    "DROP TRIGGER IF EXISTS audit_head_no_truncate ON audit_head",
    "DROP TRIGGER IF EXISTS audit_head_guard ON audit_head",
    "DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log",
    "DROP TRIGGER IF EXISTS audit_log_guard ON audit_log",
    "DROP FUNCTION IF EXISTS labtrail_append_only()",
    "DROP FUNCTION IF EXISTS labtrail_audit_head_guard()",
    "DROP FUNCTION IF EXISTS labtrail_audit_log_guard()",
];

// SQLite has no TRUNCATE: `DELETE` without `WHERE` runs row triggers too (they disable the truncate
// optimisation), so the DELETE trigger covers it.
const SQLITE_UP: &[&str] = &[
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN \
     SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END",
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log \
     WHEN OLD.seq >= (SELECT archived_upto FROM audit_head WHERE id = 1) BEGIN \
     SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused (only archived rows may be deleted)'); END",
    "CREATE TRIGGER audit_head_guard BEFORE UPDATE ON audit_head \
     WHEN NEW.id <> OLD.id OR NEW.size < OLD.size OR NEW.archived_upto < OLD.archived_upto \
       OR NEW.archived_upto > NEW.size \
       OR (OLD.origin IS NOT NULL AND NEW.origin IS NOT OLD.origin) \
       OR (NEW.size = OLD.size AND NEW.head_hash IS NOT OLD.head_hash) BEGIN \
     SELECT RAISE(ABORT, 'audit_head may only move forward'); END",
    "CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head BEGIN \
     SELECT RAISE(ABORT, 'audit_head: DELETE refused'); END",
    "CREATE TRIGGER audit_checkpoint_no_update BEFORE UPDATE ON audit_checkpoint BEGIN \
     SELECT RAISE(ABORT, 'audit_checkpoint: UPDATE refused (append-only)'); END",
    "CREATE TRIGGER audit_checkpoint_no_delete BEFORE DELETE ON audit_checkpoint BEGIN \
     SELECT RAISE(ABORT, 'audit_checkpoint: DELETE refused (append-only)'); END",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS audit_checkpoint_no_delete",
    "DROP TRIGGER IF EXISTS audit_checkpoint_no_update",
    "DROP TRIGGER IF EXISTS audit_head_no_delete",
    "DROP TRIGGER IF EXISTS audit_head_guard",
    "DROP TRIGGER IF EXISTS audit_log_no_delete",
    "DROP TRIGGER IF EXISTS audit_log_no_update",
];

async fn run_all(
    manager: &SchemaManager<'_>,
    postgres: &[&str],
    sqlite: &[&str],
) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let statements = match db.get_database_backend() {
        DbBackend::Postgres => postgres,
        DbBackend::Sqlite => sqlite,
        DbBackend::MySql => {
            return Err(DbErr::Migration(
                "labtrail supports SQLite and PostgreSQL only".into(),
            ))
        }
    };
    for sql in statements {
        db.execute_unprepared(sql).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_all(manager, POSTGRES_UP, SQLITE_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_all(manager, POSTGRES_DOWN, SQLITE_DOWN).await
    }
}
