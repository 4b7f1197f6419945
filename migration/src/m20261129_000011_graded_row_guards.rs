//! Guards for the rows instructors grade from (issue 7 item 2), on both backends.
//!
//! - `lab_attempt`: what was pushed, when and by whom, its session, attempt number, lateness and
//!   recording entry never change. Bookkeeping stays writable (`check_run_*`, `files_tries`,
//!   `files_retry_at` except from "not scheduled" back to "scheduled"). The file list's summary
//!   (`file_count`, `files_source`, `files_complete`) changes only while a completion is scheduled
//!   (`files_retry_at` not null): the audited `lab_attempt.files_completed` path, which clears the
//!   schedule in the same UPDATE, so a final list stays final.
//! - `lab_attempt_file`: no UPDATE; DELETE only of a list being completed (its attempt scheduled) or of
//!   an attempt whose `lab_attempt.erased` entry exists.
//! - `lab_session`: only `archived_at` changes, and only from null (archiving); no DELETE.
//! - `lab_attempt` DELETE only once its `lab_attempt.erased` entry is in the log (retention appends the
//!   entry, then deletes, in one transaction). An index on `audit_log.subject` keeps that check cheap.

use sea_orm_migration::prelude::*;

use crate::util::{changed, per_backend_migration, pg_no_truncate, pg_row_trigger, sqlite_guard};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Graded columns of `lab_attempt`, never updated.
pub(crate) const ATTEMPT_GRADED: &[&str] = &[
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
    "audit_seq",
];

/// The file list's summary: changed only by a scheduled completion.
pub(crate) const ATTEMPT_FILE_LIST: &[&str] = &["file_count", "files_source", "files_complete"];

/// Columns of `lab_session` never updated (all but `archived_at`).
const SESSION_GRADED: &[&str] = &[
    "id",
    "org",
    "slug",
    "title",
    "repo_pattern",
    "branch_policy",
    "opens_at",
    "closes_at",
    "created_at",
];

fn erased(id: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM audit_log WHERE subject = 'lab_attempt:' || {id} \
         AND action = 'lab_attempt.erased')"
    )
}

/// `labtrail_lab_attempt_guard`: DELETE only if `erased` holds, `graded` columns read-only, the file list
/// final. m20261130_000070 replaces it (with `early` among the graded columns).
pub(crate) fn postgres_attempt_guard(graded: &[&str], erased: &str) -> String {
    let d = "IS DISTINCT FROM";
    format!(
        r"CREATE OR REPLACE FUNCTION labtrail_lab_attempt_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF NOT {erased} THEN
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
        graded = changed(graded, d),
        files = changed(ATTEMPT_FILE_LIST, d),
    )
}

/// SQLite: `lab_attempt_graded_guard`, the `graded` columns read-only. m20261130_000070 replaces it.
pub(crate) fn sqlite_attempt_graded_guard(graded: &[&str]) -> String {
    sqlite_guard(
        "lab_attempt_graded_guard",
        "UPDATE",
        "lab_attempt",
        Some(&changed(graded, "IS NOT")),
        "lab_attempt: graded columns are read-only",
    )
}

const AUDIT_SUBJECT_INDEX: &str =
    "CREATE INDEX IF NOT EXISTS ix_audit_log_subject ON audit_log (subject)";

fn postgres_up() -> Vec<String> {
    vec![
        AUDIT_SUBJECT_INDEX.into(),
        postgres_attempt_guard(ATTEMPT_GRADED, &erased("OLD.id")),
        format!(
            r"CREATE OR REPLACE FUNCTION labtrail_lab_attempt_file_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND (
        EXISTS (SELECT 1 FROM lab_attempt WHERE id = OLD.attempt_id AND files_retry_at IS NOT NULL)
        OR {erased}) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'lab_attempt_file: % refused (the file list is graded)', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END
$$",
            erased = erased("OLD.attempt_id"),
        ),
        format!(
            r"CREATE OR REPLACE FUNCTION labtrail_lab_session_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' OR {graded}
        OR (OLD.archived_at IS NOT NULL AND NEW.archived_at IS DISTINCT FROM OLD.archived_at) THEN
        RAISE EXCEPTION 'lab_session: % refused (only archiving changes a session)', TG_OP
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$",
            graded = changed(SESSION_GRADED, "IS DISTINCT FROM"),
        ),
        pg_row_trigger(
            "lab_attempt_guard",
            "UPDATE OR DELETE",
            "lab_attempt",
            "labtrail_lab_attempt_guard",
        ),
        pg_row_trigger(
            "lab_attempt_file_guard",
            "UPDATE OR DELETE",
            "lab_attempt_file",
            "labtrail_lab_attempt_file_guard",
        ),
        pg_row_trigger(
            "lab_session_guard",
            "UPDATE OR DELETE",
            "lab_session",
            "labtrail_lab_session_guard",
        ),
        pg_no_truncate("lab_graded_no_truncate", "lab_attempt"),
        pg_no_truncate("lab_attempt_file_no_truncate", "lab_attempt_file"),
        pg_no_truncate("lab_session_no_truncate", "lab_session"),
    ]
}

fn sqlite_up() -> Vec<String> {
    let d = "IS NOT";
    vec![
        AUDIT_SUBJECT_INDEX.into(),
        sqlite_attempt_graded_guard(ATTEMPT_GRADED),
        sqlite_guard(
            "lab_attempt_files_guard",
            "UPDATE",
            "lab_attempt",
            Some(&format!(
                "OLD.files_retry_at IS NULL AND (NEW.files_retry_at IS NOT NULL OR {})",
                changed(ATTEMPT_FILE_LIST, d)
            )),
            "lab_attempt: the file list is final",
        ),
        sqlite_guard(
            "lab_attempt_no_delete",
            "DELETE",
            "lab_attempt",
            Some(&format!("NOT {}", erased("OLD.id"))),
            "lab_attempt: DELETE refused (only retention erases attempts, with their audit entry)",
        ),
        sqlite_guard(
            "lab_attempt_file_no_update",
            "UPDATE",
            "lab_attempt_file",
            None,
            "lab_attempt_file: UPDATE refused (the file list is graded)",
        ),
        sqlite_guard(
            "lab_attempt_file_no_delete",
            "DELETE",
            "lab_attempt_file",
            Some(&format!(
                "NOT EXISTS (SELECT 1 FROM lab_attempt WHERE id = OLD.attempt_id \
                 AND files_retry_at IS NOT NULL) AND NOT {}",
                erased("OLD.attempt_id")
            )),
            "lab_attempt_file: DELETE refused (the file list is graded)",
        ),
        sqlite_guard(
            "lab_session_guard",
            "UPDATE",
            "lab_session",
            Some(&format!(
                "{} OR (OLD.archived_at IS NOT NULL AND NEW.archived_at IS NOT OLD.archived_at)",
                changed(SESSION_GRADED, d)
            )),
            "lab_session: UPDATE refused (only archiving changes a session)",
        ),
        sqlite_guard(
            "lab_session_no_delete",
            "DELETE",
            "lab_session",
            None,
            "lab_session: DELETE refused",
        ),
    ]
}

// `down` drops what `up` created, newest first.
per_backend_migration!(postgres_up(), sqlite_up());
