//! Session rules and deadlines (issue 9, second half), on both backends.
//!
//! - `lab_session.timezone`: the IANA time zone local times are shown in (`UTC` for existing sessions).
//! - `lab_attempt.early`: pushed before the session opened (recorded fact, read-only like `late`).
//! - `session_extension`: a student's own deadline in a session, one per (session, student key).
//! - Attempt numbers follow push time (docs/design.md §4): a push that arrives after a later-pushed one
//!   earns the number its push time gives, which that one may hold already, and numbers are in the log
//!   and never renumbered; `ux_lab_attempt_number` becomes a plain index.
//! - Guards: a session's title, window (`opens_at`, `closes_at`) and time zone may now change, and
//!   `archived_at` back to null, but only together with their audit entry, which the transaction appends
//!   first: the newest entry of the log must be `lab_session.edited` (title, window, time zone),
//!   `lab_session.archived` (null to a time) or `lab_session.unarchived` (a time to null) of that session.
//!   Org, slug, patterns and creation time stay read-only; an archive time never changes to another one.
//!   `early` joins the read-only columns of `lab_attempt`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SessionExtension {
    Table,
    Id,
    SessionId,
    Student,
    ClosesAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum LabSession {
    Table,
    Id,
    Timezone,
}

#[derive(DeriveIden)]
enum LabAttempt {
    Table,
    Early,
}

/// Graded columns of `lab_attempt`, never updated (m20261129_000011's list and `early`).
const ATTEMPT_GRADED: &[&str] = &[
    "id",
    "session_id",
    "installation_id",
    "repository_id",
    "repository_full_name",
    "git_ref",
    "before_sha",
    "after_sha",
    "forced",
    "created_branch",
    "pusher_login",
    "sender_id",
    "pushed_at",
    "received_at",
    "delivery_id",
    "attempt_number",
    "late",
    "early",
    "audit_seq",
];

/// Columns of `lab_session` that `session edit` changes.
const SESSION_EDITED: &[&str] = &["title", "opens_at", "closes_at", "timezone"];

/// Columns of `lab_session` never updated.
const SESSION_FIXED: &[&str] = &[
    "id",
    "org",
    "slug",
    "repo_pattern",
    "branch_policy",
    "created_at",
];

fn changed(cols: &[&str], distinct: &str) -> String {
    cols.iter()
        .map(|c| format!("NEW.{c} {distinct} OLD.{c}"))
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// The newest audit entry is `action` on this session.
fn newest_is(action: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log) \
         AND subject = 'lab_session:' || NEW.id AND action = '{action}')"
    )
}

/// When an UPDATE of `lab_session` is refused (`distinct`: the backend's "is distinct from").
fn session_refused(distinct: &str) -> String {
    let changed_to =
        |old: &str, new: &str| format!("OLD.archived_at IS {old} AND NEW.archived_at IS {new}");
    format!(
        "({fixed}) OR (({edited}) AND NOT {edit}) \
         OR ({archiving} AND NOT {archive}) OR ({unarchiving} AND NOT {unarchive}) \
         OR ({both} AND NEW.archived_at {distinct} OLD.archived_at)",
        fixed = changed(SESSION_FIXED, distinct),
        edited = changed(SESSION_EDITED, distinct),
        edit = newest_is("lab_session.edited"),
        archiving = changed_to("NULL", "NOT NULL"),
        archive = newest_is("lab_session.archived"),
        unarchiving = changed_to("NOT NULL", "NULL"),
        unarchive = newest_is("lab_session.unarchived"),
        both = changed_to("NOT NULL", "NOT NULL"),
    )
}

fn postgres_guards() -> Vec<String> {
    let d = "IS DISTINCT FROM";
    vec![
        format!(
            r"CREATE OR REPLACE FUNCTION labtrail_lab_attempt_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF NOT EXISTS (SELECT 1 FROM audit_log WHERE subject = 'lab_attempt:' || OLD.id
                       AND action = 'lab_attempt.erased') THEN
            RAISE EXCEPTION 'lab_attempt: DELETE refused (only retention erases attempts, with their audit entry)'
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN OLD;
    END IF;
    IF {graded} THEN
        RAISE EXCEPTION 'lab_attempt: graded columns are read-only' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF OLD.files_retry_at IS NULL AND (NEW.files_retry_at IS NOT NULL OR {files}) THEN
        RAISE EXCEPTION 'lab_attempt: the file list is final' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$",
            graded = changed(ATTEMPT_GRADED, d),
            files = changed(&["file_count", "files_source", "files_complete"], d),
        ),
        format!(
            r"CREATE OR REPLACE FUNCTION labtrail_lab_session_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' OR {refused} THEN
        RAISE EXCEPTION 'lab_session: % refused (only audited edits, archiving and unarchiving change a session)', TG_OP
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$",
            refused = session_refused(d),
        ),
    ]
}

fn sqlite_guards() -> Vec<String> {
    let d = "IS NOT";
    vec![
        "DROP TRIGGER IF EXISTS lab_attempt_graded_guard".into(),
        format!(
            "CREATE TRIGGER lab_attempt_graded_guard BEFORE UPDATE ON lab_attempt WHEN {} BEGIN \
             SELECT RAISE(ABORT, 'lab_attempt: graded columns are read-only'); END",
            changed(ATTEMPT_GRADED, d)
        ),
        "DROP TRIGGER IF EXISTS lab_session_guard".into(),
        format!(
            "CREATE TRIGGER lab_session_guard BEFORE UPDATE ON lab_session WHEN {} BEGIN \
             SELECT RAISE(ABORT, 'lab_session: UPDATE refused (only audited edits, archiving and unarchiving change a session)'); END",
            session_refused(d)
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(LabSession::Table)
                    .add_column(
                        ColumnDef::new(LabSession::Timezone)
                            .text()
                            .not_null()
                            .default("UTC"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(LabAttempt::Table)
                    .add_column(
                        ColumnDef::new(LabAttempt::Early)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SessionExtension::Table)
                    .col(
                        ColumnDef::new(SessionExtension::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(SessionExtension::SessionId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(SessionExtension::Student).text().not_null())
                    .col(
                        ColumnDef::new(SessionExtension::ClosesAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SessionExtension::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SessionExtension::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_session_extension_session")
                            .from(SessionExtension::Table, SessionExtension::SessionId)
                            .to(LabSession::Table, LabSession::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_session_extension_student")
                    .table(SessionExtension::Table)
                    .col(SessionExtension::SessionId)
                    .col(SessionExtension::Student)
                    .unique()
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS ux_lab_attempt_number")
            .await?;
        db.execute_unprepared(
            "CREATE INDEX ix_lab_attempt_number ON lab_attempt (session_id, repository_id, attempt_number)",
        )
        .await?;
        let guards = match db.get_database_backend() {
            DbBackend::Postgres => postgres_guards(),
            _ => sqlite_guards(),
        };
        for sql in guards {
            db.execute_unprepared(&sql).await?;
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // The guards of m20261129_000011 cannot be restored once sessions were edited; forward only.
        Err(DbErr::Migration(
            "m20261130_000070_session_rules cannot be reverted".into(),
        ))
    }
}
