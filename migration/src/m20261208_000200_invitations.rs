//! Invitations (issue 25), on both backends.
//!
//! - `session_invitation`: a session's template, repository prefix and visibility, whether its invitation
//!   is open, and the SHA-256 of its invitation code (never the code). One row per session.
//! - `provisioned_repository`: one row per session and GitHub user who accepted: written as an intent
//!   (`pending`) before labtrail calls GitHub, and `provisioned` (with the repository's id) once the
//!   repository exists and the student is a collaborator. Unique per session and user, and per session
//!   and repository name, so that two accepts at once share one row.
//! - `roster_student`: INSERT and UPDATE also under a `roster.linked` or `roster.unlinked` entry (the
//!   newest entry of the log, whose `details.rows` names the row's id), besides `roster.imported`.

use sea_orm_migration::prelude::*;

use crate::m20261201_000100_graded_facts as graded;
use crate::m20261205_000110_removals as removals;
use crate::util::{drop_tables, execute_per_backend, table};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LabSession {
    Table,
    Id,
}

table!(SessionInvitation {
    SessionId: bigint.primary_key(),
    Template: text,
    RepoPrefix: text,
    Private: boolean,
    Open: boolean,
    CodeSha256: text_null,
    CreatedAt: time,
    UpdatedAt: time,
}
foreign_keys: [("fk_session_invitation_session", SessionId, LabSession::Id)],
indexes: [("ux_session_invitation_code", [CodeSha256], true)],
);

table!(ProvisionedRepository {
    Id: id_auto,
    SessionId: bigint,
    GithubUserId: bigint,
    GithubLogin: text,
    RosterStudentId: bigint_null,
    RepositoryName: text,
    RepositoryId: bigint_null,
    State: text,
    CreatedAt: time,
    UpdatedAt: time,
}
foreign_keys: [("fk_provisioned_repository_session", SessionId, LabSession::Id)],
indexes: [
    ("ux_provisioned_repository_user", [SessionId, GithubUserId], true),
    ("ux_provisioned_repository_name", [SessionId, RepositoryName], true),
],
);

/// The roster actions a row may change under.
const ROSTER_ACTIONS: &str = "('roster.imported', 'roster.linked', 'roster.unlinked')";

/// PostgreSQL: the newest entry is a `roster.imported`, `roster.linked` or `roster.unlinked` naming `NEW`.
fn pg_set() -> String {
    format!(
        "EXISTS (SELECT 1 FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log) \
         AND subject = 'roster' AND action IN {ROSTER_ACTIONS} \
         AND details::jsonb -> 'rows' @> jsonb_build_array(jsonb_build_object('roster_student_id', NEW.id)))"
    )
}

fn sqlite_set() -> String {
    format!(
        "EXISTS (SELECT 1 FROM audit_log WHERE {} \
         AND subject = 'roster' AND action IN {ROSTER_ACTIONS} \
         AND EXISTS (SELECT 1 FROM json_each(details, '$.rows') \
                     WHERE json_extract(value, '$.roster_student_id') = NEW.id))",
        graded::NEWEST
    )
}

const ROSTER_WHY: &str = "only `roster import`, `roster remove`, `roster link`, `roster unlink` and an \
     accepted invitation change the roster, under their audit entry";

/// The roster guard with `audited` and `why`: PostgreSQL's function, SQLite's INSERT and UPDATE triggers.
fn roster_guard(pg: bool, audited: &str, why: &str) -> Vec<String> {
    if pg {
        return vec![removals::pg_guard(
            "roster_student",
            graded::ROSTER_FIXED,
            audited,
            removals::PG_ROSTER_REMOVED,
            why,
        )];
    }
    let mut out = vec![
        "DROP TRIGGER IF EXISTS roster_student_insert_guard".to_owned(),
        "DROP TRIGGER IF EXISTS roster_student_update_guard".to_owned(),
    ];
    out.extend(
        graded::sqlite_guards("roster_student", graded::ROSTER_FIXED, audited, why)
            .into_iter()
            .filter(|t| !t.contains("_no_delete")),
    );
    out
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        SessionInvitation::create(m).await?;
        ProvisionedRepository::create(m).await?;
        execute_per_backend(
            m,
            &roster_guard(true, &pg_set(), ROSTER_WHY),
            &roster_guard(false, &sqlite_set(), ROSTER_WHY),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        execute_per_backend(
            m,
            &roster_guard(true, graded::PG_IMPORTED, removals::ROSTER_WHY),
            &roster_guard(false, &graded::sqlite_imported(), graded::ROSTER_WHY),
        )
        .await?;
        drop_tables!(m, ProvisionedRepository, SessionInvitation).await
    }
}
