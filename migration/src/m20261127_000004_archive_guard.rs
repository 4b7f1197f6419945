//! Tighter `audit_head` guard: `archived_upto` may only advance together with the `audit.archived` entry
//! that records it (the newest entry, whose `details.upto` is the new value). Without this, one UPDATE
//! of the runtime role could mark every entry archived and let the DELETE guard pass (verification
//! still caught it; now the database refuses it too).

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

const SQLITE_UP: &[&str] = &[
    "CREATE TRIGGER audit_head_archive_guard BEFORE UPDATE OF archived_upto ON audit_head \
     WHEN NEW.archived_upto > OLD.archived_upto AND NOT EXISTS ( \
       SELECT 1 FROM audit_log WHERE seq = NEW.size - 1 AND action = 'audit.archived' \
         AND json_extract(details, '$.upto') = NEW.archived_upto) BEGIN \
     SELECT RAISE(ABORT, 'audit_head: archived_upto only advances with its audit.archived entry'); END",
];

const SQLITE_DOWN: &[&str] = &["DROP TRIGGER IF EXISTS audit_head_archive_guard"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match db.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared(POSTGRES_HEAD_GUARD).await?;
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
