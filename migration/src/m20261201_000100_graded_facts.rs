//! Guards for the last graded facts without one (issue 20 item 2), on both backends: a student's own
//! deadline (`session_extension`) and the class roster (`roster_student`), which decide lateness and
//! whose attempt is whose in the summary and the grades export.
//!
//! - `session_extension`: INSERT and UPDATE only under their `lab_session.extended` entry, which the
//!   transaction appends first: the newest entry of the log must be that session's `lab_session.extended`
//!   and name the row (`details.extension_id` = the row's id; `session extend` reserves the id before it
//!   appends). Its id, session, student and creation time never change; no DELETE, no TRUNCATE.
//! - `roster_student`: INSERT and UPDATE only under their `roster.imported` entry (the newest entry of the
//!   log, whose `details.rows` names the row's id; `roster import` reserves the ids of new students before
//!   it appends). Its id, organisation, identifier and creation time never change; no DELETE, no TRUNCATE.

use sea_orm_migration::prelude::*;

use crate::util::{changed, per_backend_migration, pg_no_truncate, pg_row_trigger, sqlite_guard};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Columns of `session_extension` never updated.
pub(crate) const EXTENSION_FIXED: &[&str] = &["id", "session_id", "student", "created_at"];

/// Columns of `roster_student` never updated.
pub(crate) const ROSTER_FIXED: &[&str] = &["id", "org", "identifier", "created_at"];

/// The newest entry of the log: `seq = MAX(seq)`.
pub(crate) const NEWEST: &str = "seq = (SELECT MAX(seq) FROM audit_log)";

/// PostgreSQL: the newest entry is `NEW`'s `lab_session.extended`.
pub(crate) const PG_EXTENDED: &str = "EXISTS (SELECT 1 FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log) \
     AND subject = 'lab_session:' || NEW.session_id AND action = 'lab_session.extended' \
     AND (details::jsonb ->> 'extension_id')::bigint = NEW.id)";

/// PostgreSQL: the newest entry is a `roster.imported` naming `NEW`.
pub(crate) const PG_IMPORTED: &str = "EXISTS (SELECT 1 FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log) \
     AND subject = 'roster' AND action = 'roster.imported' \
     AND details::jsonb -> 'rows' @> jsonb_build_array(jsonb_build_object('roster_student_id', NEW.id)))";

pub(crate) fn sqlite_extended() -> String {
    format!(
        "EXISTS (SELECT 1 FROM audit_log WHERE {NEWEST} \
         AND subject = 'lab_session:' || NEW.session_id AND action = 'lab_session.extended' \
         AND json_extract(details, '$.extension_id') = NEW.id)"
    )
}

pub(crate) fn sqlite_imported() -> String {
    format!(
        "EXISTS (SELECT 1 FROM audit_log WHERE {NEWEST} \
         AND subject = 'roster' AND action = 'roster.imported' \
         AND EXISTS (SELECT 1 FROM json_each(details, '$.rows') \
                     WHERE json_extract(value, '$.roster_student_id') = NEW.id))"
    )
}

/// PostgreSQL: the guard function of `table`: DELETE refused, `fixed` columns read-only, INSERT and
/// UPDATE only when `audited` holds.
pub(crate) fn pg_guard(table: &str, fixed: &[&str], audited: &str, why: &str) -> String {
    format!(
        r"CREATE OR REPLACE FUNCTION labtrail_{table}_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION '{table}: DELETE refused ({why})' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF {fixed} THEN
            RAISE EXCEPTION '{table}: UPDATE refused (its key columns are read-only)'
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
    END IF;
    IF NOT {audited} THEN
        RAISE EXCEPTION '{table}: % refused ({why})', TG_OP USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$",
        fixed = changed(fixed, "IS DISTINCT FROM"),
    )
}

pub(crate) const EXTENSION_WHY: &str = "only `session extend` changes an extension, under its audit entry";
pub(crate) const ROSTER_WHY: &str = "only `roster import` changes the roster, under its audit entry";

fn postgres_up() -> Vec<String> {
    vec![
        pg_guard(
            "session_extension",
            EXTENSION_FIXED,
            PG_EXTENDED,
            EXTENSION_WHY,
        ),
        pg_guard("roster_student", ROSTER_FIXED, PG_IMPORTED, ROSTER_WHY),
        pg_row_trigger(
            "session_extension_guard",
            "INSERT OR UPDATE OR DELETE",
            "session_extension",
            "labtrail_session_extension_guard",
        ),
        pg_row_trigger(
            "roster_student_guard",
            "INSERT OR UPDATE OR DELETE",
            "roster_student",
            "labtrail_roster_student_guard",
        ),
        pg_no_truncate("session_extension_no_truncate", "session_extension"),
        pg_no_truncate("roster_student_no_truncate", "roster_student"),
    ]
}

/// SQLite: the three triggers of `table` (`name` its short name).
pub(crate) fn sqlite_guards(table: &str, fixed: &[&str], audited: &str, why: &str) -> Vec<String> {
    vec![
        sqlite_guard(
            &format!("{table}_insert_guard"),
            "INSERT",
            table,
            Some(&format!("NOT {audited}")),
            &format!("{table}: INSERT refused ({why})"),
        ),
        sqlite_guard(
            &format!("{table}_update_guard"),
            "UPDATE",
            table,
            Some(&format!("{} OR NOT {audited}", changed(fixed, "IS NOT"))),
            &format!("{table}: UPDATE refused ({why})"),
        ),
        sqlite_guard(
            &format!("{table}_no_delete"),
            "DELETE",
            table,
            None,
            &format!("{table}: DELETE refused ({why})"),
        ),
    ]
}

fn sqlite_up() -> Vec<String> {
    let mut all = sqlite_guards(
        "session_extension",
        EXTENSION_FIXED,
        &sqlite_extended(),
        EXTENSION_WHY,
    );
    all.extend(sqlite_guards(
        "roster_student",
        ROSTER_FIXED,
        &sqlite_imported(),
        ROSTER_WHY,
    ));
    all
}

// `down` drops what `up` created, newest first.
per_backend_migration!(postgres_up(), sqlite_up());
