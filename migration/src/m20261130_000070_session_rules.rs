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

use crate::m20261129_000011_graded_row_guards::{
    postgres_attempt_guard, sqlite_attempt_graded_guard, ATTEMPT_GRADED,
};
use crate::util::{
    add_column, boolean, changed, execute_all, execute_per_backend, sqlite_guard, table, text,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

table! {
    SessionExtension {
        Id: id_auto,
        SessionId: bigint,
        Student: text,
        ClosesAt: time,
        CreatedAt: time,
        UpdatedAt: time,
    }
    foreign_keys: [("fk_session_extension_session", SessionId, LabSession::Id)],
    indexes: [("ux_session_extension_student", [SessionId, Student], true)],
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

/// Graded columns of `lab_attempt`, never updated: m20261129_000011's list with `early` after `late`.
fn attempt_graded() -> Vec<&'static str> {
    let mut cols = ATTEMPT_GRADED.to_vec();
    let late = cols
        .iter()
        .position(|c| *c == "late")
        .expect("late is graded");
    cols.insert(late + 1, "early");
    cols
}

/// The attempt's `lab_attempt.erased` entry exists (as first written here: the line break is part of
/// the stored function body).
const ERASED: &str = "EXISTS (SELECT 1 FROM audit_log WHERE subject = 'lab_attempt:' || OLD.id
                       AND action = 'lab_attempt.erased')";

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
    vec![
        postgres_attempt_guard(&attempt_graded(), ERASED),
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
            refused = session_refused("IS DISTINCT FROM"),
        ),
    ]
}

fn sqlite_guards() -> Vec<String> {
    vec![
        "DROP TRIGGER IF EXISTS lab_attempt_graded_guard".into(),
        sqlite_attempt_graded_guard(&attempt_graded()),
        "DROP TRIGGER IF EXISTS lab_session_guard".into(),
        sqlite_guard(
            "lab_session_guard",
            "UPDATE",
            "lab_session",
            Some(&session_refused("IS NOT")),
            "lab_session: UPDATE refused (only audited edits, archiving and unarchiving change a session)",
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_column(
            manager,
            LabSession::Table,
            text(LabSession::Timezone).default("UTC").to_owned(),
        )
        .await?;
        add_column(
            manager,
            LabAttempt::Table,
            boolean(LabAttempt::Early).default(false).to_owned(),
        )
        .await?;
        SessionExtension::create(manager).await?;
        execute_all(
            manager,
            &[
                "DROP INDEX IF EXISTS ux_lab_attempt_number",
                "CREATE INDEX ix_lab_attempt_number ON lab_attempt (session_id, repository_id, attempt_number)",
            ],
        )
        .await?;
        execute_per_backend(manager, &postgres_guards(), &sqlite_guards()).await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // The guards of m20261129_000011 cannot be restored once sessions were edited; forward only.
        Err(DbErr::Migration(
            "m20261130_000070_session_rules cannot be reverted".into(),
        ))
    }
}
