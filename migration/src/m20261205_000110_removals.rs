//! Removals under their own audit entry (issue 23): a roster student (`roster remove`, `roster import
//! --replace`) and a student's extension (`session extend --remove`) may now be deleted, on both backends,
//! only when the newest entry of the log names the row:
//!
//! - `roster_student`: DELETE only under a `roster.removed` entry (subject `roster`) whose `details.rows`
//!   names the row's id (`roster_student_id`).
//! - `session_extension`: DELETE only under that session's `lab_session.extension_removed` entry whose
//!   `details.extension_id` is the row's id.
//!
//! INSERT, UPDATE and TRUNCATE stay as migration `m20261201_000100_graded_facts` guards them; `down` puts
//! its triggers and functions back.

use sea_orm_migration::prelude::*;

use crate::m20261201_000100_graded_facts as graded;
use crate::util::{changed, execute_per_backend, sqlite_guard};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// PostgreSQL: the newest entry is `OLD`'s `lab_session.extension_removed`.
const PG_EXTENSION_REMOVED: &str = "EXISTS (SELECT 1 FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log) \
     AND subject = 'lab_session:' || OLD.session_id AND action = 'lab_session.extension_removed' \
     AND (details::jsonb ->> 'extension_id')::bigint = OLD.id)";

/// PostgreSQL: the newest entry is a `roster.removed` naming `OLD`.
pub(crate) const PG_ROSTER_REMOVED: &str = "EXISTS (SELECT 1 FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log) \
     AND subject = 'roster' AND action = 'roster.removed' \
     AND details::jsonb -> 'rows' @> jsonb_build_array(jsonb_build_object('roster_student_id', OLD.id)))";

fn sqlite_extension_removed() -> String {
    format!(
        "EXISTS (SELECT 1 FROM audit_log WHERE {} \
         AND subject = 'lab_session:' || OLD.session_id AND action = 'lab_session.extension_removed' \
         AND json_extract(details, '$.extension_id') = OLD.id)",
        graded::NEWEST
    )
}

fn sqlite_roster_removed() -> String {
    format!(
        "EXISTS (SELECT 1 FROM audit_log WHERE {} \
         AND subject = 'roster' AND action = 'roster.removed' \
         AND EXISTS (SELECT 1 FROM json_each(details, '$.rows') \
                     WHERE json_extract(value, '$.roster_student_id') = OLD.id))",
        graded::NEWEST
    )
}

const EXTENSION_WHY: &str =
    "only `session extend` changes or removes an extension, under its audit entry";
pub(crate) const ROSTER_WHY: &str =
    "only `roster import` and `roster remove` change the roster, under their audit entry";

/// PostgreSQL: the guard function of `table`: DELETE only when `removed` holds, `fixed` columns
/// read-only, INSERT and UPDATE only when `audited` holds.
pub(crate) fn pg_guard(table: &str, fixed: &[&str], audited: &str, removed: &str, why: &str) -> String {
    format!(
        r"CREATE OR REPLACE FUNCTION labtrail_{table}_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF NOT {removed} THEN
            RAISE EXCEPTION '{table}: DELETE refused ({why})' USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN OLD;
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

fn postgres_up() -> Vec<String> {
    vec![
        pg_guard(
            "session_extension",
            graded::EXTENSION_FIXED,
            graded::PG_EXTENDED,
            PG_EXTENSION_REMOVED,
            EXTENSION_WHY,
        ),
        pg_guard(
            "roster_student",
            graded::ROSTER_FIXED,
            graded::PG_IMPORTED,
            PG_ROSTER_REMOVED,
            ROSTER_WHY,
        ),
    ]
}

/// PostgreSQL `down`: the functions as `m20261201_000100` wrote them.
fn postgres_down() -> Vec<String> {
    vec![
        graded::pg_guard(
            "session_extension",
            graded::EXTENSION_FIXED,
            graded::PG_EXTENDED,
            graded::EXTENSION_WHY,
        ),
        graded::pg_guard(
            "roster_student",
            graded::ROSTER_FIXED,
            graded::PG_IMPORTED,
            graded::ROSTER_WHY,
        ),
    ]
}

fn sqlite_up() -> Vec<String> {
    vec![
        "DROP TRIGGER IF EXISTS session_extension_no_delete".to_owned(),
        sqlite_guard(
            "session_extension_delete_guard",
            "DELETE",
            "session_extension",
            Some(&format!("NOT {}", sqlite_extension_removed())),
            &format!("session_extension: DELETE refused ({EXTENSION_WHY})"),
        ),
        "DROP TRIGGER IF EXISTS roster_student_no_delete".to_owned(),
        sqlite_guard(
            "roster_student_delete_guard",
            "DELETE",
            "roster_student",
            Some(&format!("NOT {}", sqlite_roster_removed())),
            &format!("roster_student: DELETE refused ({ROSTER_WHY})"),
        ),
    ]
}

/// SQLite `down`: the delete guards dropped, `m20261201_000100`'s `*_no_delete` triggers back.
fn sqlite_down() -> Vec<String> {
    let old_no_delete = |table: &str, fixed: &[&str], audited: &str, why: &str| {
        graded::sqlite_guards(table, fixed, audited, why)
            .into_iter()
            .find(|t| t.contains("_no_delete"))
            .unwrap_or_default()
    };
    vec![
        "DROP TRIGGER IF EXISTS roster_student_delete_guard".to_owned(),
        old_no_delete(
            "roster_student",
            graded::ROSTER_FIXED,
            &graded::sqlite_imported(),
            graded::ROSTER_WHY,
        ),
        "DROP TRIGGER IF EXISTS session_extension_delete_guard".to_owned(),
        old_no_delete(
            "session_extension",
            graded::EXTENSION_FIXED,
            &graded::sqlite_extended(),
            graded::EXTENSION_WHY,
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        execute_per_backend(manager, &postgres_up(), &sqlite_up()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        execute_per_backend(manager, &postgres_down(), &sqlite_down()).await
    }
}
