//! Tighter guards. `archived_upto` may only advance together with the `audit.archived` entry that records
//! it (the newest entry, whose `details.upto` is the new value): without this, one UPDATE of the runtime
//! role could mark every entry archived and let the DELETE guard pass. And inserts: an `audit_log` row
//! only at the head (`seq = size`, `prev_hash = head_hash`), no second `audit_head` row — SQLite's
//! `INSERT OR REPLACE` would otherwise replace a row without firing the UPDATE or DELETE guards.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const POSTGRES_HEAD_GUARD: &str = r"CREATE OR REPLACE FUNCTION labtrail_audit_head_guard() RETURNS trigger LANGUAGE plpgsql AS $$
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
    IF NEW.archived_upto > OLD.archived_upto AND NOT EXISTS (
        SELECT 1 FROM audit_log
        WHERE seq = NEW.size - 1 AND action = 'audit.archived'
          AND (details::jsonb ->> 'upto')::bigint = NEW.archived_upto) THEN
        RAISE EXCEPTION 'audit_head: archived_upto only advances with its audit.archived entry'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$";

const POSTGRES_HEAD_GUARD_V1: &str = r"CREATE OR REPLACE FUNCTION labtrail_audit_head_guard() RETURNS trigger LANGUAGE plpgsql AS $$
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
$$";

const POSTGRES_INSERT_GUARDS: &[&str] = &[
    r"CREATE OR REPLACE FUNCTION labtrail_audit_log_append() RETURNS trigger LANGUAGE plpgsql AS $$
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
$$",
    "CREATE TRIGGER audit_log_append_only BEFORE INSERT ON audit_log \
     FOR EACH ROW EXECUTE FUNCTION labtrail_audit_log_append()",
    "CREATE TRIGGER audit_head_no_insert BEFORE INSERT ON audit_head \
     FOR EACH ROW EXECUTE FUNCTION labtrail_append_only()",
];

const POSTGRES_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS audit_head_no_insert ON audit_head",
    "DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log",
    "DROP FUNCTION IF EXISTS labtrail_audit_log_append()",
];

const SQLITE_UP: &[&str] = &[
    "CREATE TRIGGER audit_log_append_only BEFORE INSERT ON audit_log \
     WHEN NEW.seq <> (SELECT size FROM audit_head WHERE id = 1) \
       OR ((SELECT head_hash FROM audit_head WHERE id = 1) IS NOT NULL \
           AND NEW.prev_hash <> (SELECT head_hash FROM audit_head WHERE id = 1)) BEGIN \
     SELECT RAISE(ABORT, 'audit_log: an entry is appended at the head only'); END",
    "CREATE TRIGGER audit_head_no_insert BEFORE INSERT ON audit_head BEGIN \
     SELECT RAISE(ABORT, 'audit_head: INSERT refused'); END",
    "CREATE TRIGGER audit_head_archive_guard BEFORE UPDATE OF archived_upto ON audit_head \
     WHEN NEW.archived_upto > OLD.archived_upto AND NOT EXISTS ( \
       SELECT 1 FROM audit_log WHERE seq = NEW.size - 1 AND action = 'audit.archived' \
         AND json_extract(details, '$.upto') = NEW.archived_upto) BEGIN \
     SELECT RAISE(ABORT, 'audit_head: archived_upto only advances with its audit.archived entry'); END",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS audit_head_archive_guard",
    "DROP TRIGGER IF EXISTS audit_head_no_insert",
    "DROP TRIGGER IF EXISTS audit_log_append_only",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match db.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared(POSTGRES_HEAD_GUARD).await?;
                for sql in POSTGRES_INSERT_GUARDS {
                    db.execute_unprepared(sql).await?;
                }
            }
            _ => {
                for sql in SQLITE_UP {
                    db.execute_unprepared(sql).await?;
                }
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match db.get_database_backend() {
            DbBackend::Postgres => {
                for sql in POSTGRES_DOWN {
                    db.execute_unprepared(sql).await?;
                }
                db.execute_unprepared(POSTGRES_HEAD_GUARD_V1).await?;
            }
            _ => {
                for sql in SQLITE_DOWN {
                    db.execute_unprepared(sql).await?;
                }
            }
        }
        Ok(())
    }
}
