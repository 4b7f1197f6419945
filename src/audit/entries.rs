//! One constructor per audit action: typed details, written in the current details encoding.
//!
//! Details version 2 (every entry written since): `details.v = 2`, and every instant is an RFC 3339 string
//! in UTC with exactly six fractional digits and `Z` (`2026-12-01T08:00:00.000000Z`), in a field named
//! `*_at` or `*_before`. Version 1 entries (no `v` in their details) mixed RFC 3339 with nanoseconds, with
//! seconds, and integer microseconds (`*_us`); they stay as written and still verify. docs/audit.md §1.

use chrono::{DateTime, SecondsFormat, Utc};
use entity::states::{DeliveryStatus as Status, FilesSource, SignInMethod};
use entity::{
    api_token, lab_attempt, lab_attempt_score, lab_session, provisioned_repository, roster_student,
    session_extension, session_invitation, webhook_delivery,
};
use serde::{Serialize, Serializer};
use sha2::{Digest, Sha256};

use super::{content_digest, Action, AuditError, NewEntry};
use crate::domain::files::ChangedFile;
use crate::domain::roster::ImportCounts;
use crate::webhook::event::{InstallationChange, InstallationEvent, InstalledRepository};

/// The `v` of the details every constructor here writes.
pub const DETAILS_VERSION: u32 = 2;

/// The actor of changes nobody asked for at that moment (the worker, sweeps).
pub const SYSTEM_ACTOR: &str = "system";

/// An instant as version 2 details write it: RFC 3339, UTC, microseconds, `Z`.
pub fn instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn ser_instant<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&instant(*t))
}

#[derive(Serialize)]
struct Versioned<T> {
    v: u32,
    #[serde(flatten)]
    details: T,
}

fn entry<T: Serialize>(
    actor: String,
    action: Action,
    subject: String,
    details: T,
) -> Result<NewEntry, AuditError> {
    let details = serde_json::to_value(Versioned {
        v: DETAILS_VERSION,
        details,
    })
    .map_err(|e| AuditError::Canonical(e.to_string()))?;
    Ok(NewEntry {
        actor,
        action,
        subject,
        details,
    })
}

fn delivery_actor(guid: &str) -> String {
    format!("github:delivery:{guid}")
}

/// The digest of a push's ref and file list (the list itself stays out of the log).
fn files_digest(git_ref: &str, files: &[ChangedFile]) -> Result<String, AuditError> {
    content_digest(&serde_json::json!({ "ref": git_ref, "files": files }))
}

#[derive(Serialize)]
struct AttemptRecorded<'a> {
    attempt_id: i64,
    session_id: i64,
    installation_id: i64,
    repository_id: i64,
    delivery_id: &'a str,
    before: &'a str,
    after: &'a str,
    #[serde(serialize_with = "ser_instant")]
    pushed_at: DateTime<Utc>,
    #[serde(serialize_with = "ser_instant")]
    received_at: DateTime<Utc>,
    attempt_number: i32,
    late: bool,
    early: bool,
    forced: bool,
    file_count: i32,
    files_source: FilesSource,
    files_complete: bool,
    content_sha256: String,
    /// Whose attempt it is (issue 20): GitHub's user id of the sender (null when the push had none), and
    /// digests of the repository's full name and of the pusher's login (names stay out of the log).
    /// Entries written before these fields existed lack them: their attempts are not covered.
    sender_id: Option<i64>,
    repository_full_name_sha256: String,
    pusher_login_sha256: String,
}

/// The digest a name is held as in the log: SHA-256 of its canonical JSON (a JSON string, or `null`
/// when there is none). Names are guessable, so this hides a name from a casual reader of the log, not
/// from someone who can guess it; it lets `audit verify` check the row against the entry.
pub fn name_sha256(name: Option<&str>) -> Result<String, AuditError> {
    content_digest(&serde_json::json!(name))
}

/// The digest a `roster.imported` entry holds for one roster row it set: SHA-256 of the canonical JSON
/// of its organisation, identifier, GitHub login and id, and name.
pub fn roster_row_sha256(s: &roster_student::Model) -> Result<String, AuditError> {
    content_digest(&serde_json::json!({
        "org": s.org, "identifier": s.identifier, "github_username": s.github_username,
        "github_id": s.github_id, "name": s.name,
    }))
}

/// `lab_attempt.recorded`: ids and facts; the ref and file list only as a digest.
pub fn attempt_recorded(
    a: &lab_attempt::Model,
    files: &[ChangedFile],
) -> Result<NewEntry, AuditError> {
    let details = AttemptRecorded {
        attempt_id: a.id,
        session_id: a.session_id,
        installation_id: a.installation_id,
        repository_id: a.repository_id,
        delivery_id: &a.delivery_id,
        before: &a.before_sha,
        after: &a.after_sha,
        pushed_at: a.pushed_at,
        received_at: a.received_at,
        attempt_number: a.attempt_number,
        late: a.late,
        early: a.early,
        forced: a.forced,
        file_count: a.file_count,
        files_source: a.files_source,
        files_complete: a.files_complete,
        content_sha256: files_digest(&a.git_ref, files)?,
        sender_id: a.sender_id,
        repository_full_name_sha256: name_sha256(Some(&a.repository_full_name))?,
        pusher_login_sha256: name_sha256(a.pusher_login.as_deref())?,
    };
    entry(
        delivery_actor(&a.delivery_id),
        Action::LabAttemptRecorded,
        attempt_subject(a.id),
        details,
    )
}

fn attempt_subject(id: i64) -> String {
    format!("lab_attempt:{id}")
}

#[derive(Serialize)]
struct FilesCompleted {
    attempt_id: i64,
    file_count: i32,
    files_source: FilesSource,
    files_complete: bool,
    content_sha256: String,
}

/// `lab_attempt.files_completed`: the list GitHub gave later replaced the recorded one.
pub fn files_completed(
    a: &lab_attempt::Model,
    files: &[ChangedFile],
    file_count: i32,
    complete: bool,
) -> Result<NewEntry, AuditError> {
    let details = FilesCompleted {
        attempt_id: a.id,
        file_count,
        files_source: FilesSource::Api,
        files_complete: complete,
        content_sha256: files_digest(&a.git_ref, files)?,
    };
    entry(
        SYSTEM_ACTOR.to_owned(),
        Action::LabAttemptFilesCompleted,
        attempt_subject(a.id),
        details,
    )
}

#[derive(Serialize)]
struct AttemptScored<'a> {
    score_id: i64,
    attempt_id: i64,
    check_run_id: i64,
    app_id: Option<i64>,
    /// Decimal text (no floats in the log), or null when the run reported no points.
    points: Option<&'a str>,
    points_available: Option<&'a str>,
    conclusion: Option<&'a str>,
    #[serde(serialize_with = "ser_instant")]
    completed_at: DateTime<Utc>,
}

/// `lab_attempt.scored`: a completed score check run on the attempt's head commit (ids, points and the
/// conclusion; no names: the App's slug stays in the row). Actor: the `check_run` delivery, or `actor`
/// when the run was read from GitHub by a catch-up.
pub fn attempt_scored(s: &lab_attempt_score::Model, actor: &str) -> Result<NewEntry, AuditError> {
    let details = AttemptScored {
        score_id: s.id,
        attempt_id: s.attempt_id,
        check_run_id: s.check_run_id,
        app_id: s.app_id,
        points: s.points.as_deref(),
        points_available: s.points_available.as_deref(),
        conclusion: s.conclusion.as_deref(),
        completed_at: s.completed_at,
    };
    let actor = match &s.delivery_id {
        Some(guid) => delivery_actor(guid),
        None => actor.to_owned(),
    };
    entry(
        actor,
        Action::LabAttemptScored,
        score_subject(s.id),
        details,
    )
}

/// The subject of a score's entry.
pub fn score_subject(id: i64) -> String {
    format!("lab_attempt_score:{id}")
}

#[derive(Serialize)]
struct CheckRunUpdated<'a> {
    attempt_id: i64,
    check_run_id: i64,
    conclusion: &'a str,
    late: bool,
    early: bool,
}

/// `check_run.updated`: an attempt's existing check run rewritten because a session edit or extension
/// changed its verdict (the sweep, actor `labtrail`).
pub fn check_run_updated(
    attempt_id: i64,
    check_run_id: i64,
    conclusion: &str,
    late: bool,
    early: bool,
) -> Result<NewEntry, AuditError> {
    entry(
        SYSTEM_ACTOR.to_owned(),
        Action::CheckRunUpdated,
        attempt_subject(attempt_id),
        CheckRunUpdated {
            attempt_id,
            check_run_id,
            conclusion,
            late,
            early,
        },
    )
}

#[derive(Serialize)]
struct AttemptErased {
    attempt_id: i64,
    session_id: i64,
    recorded_seq: i64,
    reason: &'static str,
}

/// `lab_attempt.erased` by retention.
pub fn attempt_erased(actor: &str, a: &lab_attempt::Model) -> Result<NewEntry, AuditError> {
    let details = AttemptErased {
        attempt_id: a.id,
        session_id: a.session_id,
        recorded_seq: a.audit_seq,
        reason: "retention",
    };
    entry(
        actor.to_owned(),
        Action::LabAttemptErased,
        attempt_subject(a.id),
        details,
    )
}

#[derive(Serialize)]
struct SessionCreated {
    session_id: i64,
    #[serde(serialize_with = "ser_instant")]
    opens_at: DateTime<Utc>,
    #[serde(serialize_with = "ser_instant")]
    closes_at: DateTime<Utc>,
    timezone: String,
    score_check: String,
    content_sha256: String,
}

/// `lab_session.created`: the window; names and rules only as a digest.
pub fn session_created(actor: &str, s: &lab_session::Model) -> Result<NewEntry, AuditError> {
    let details = SessionCreated {
        session_id: s.id,
        opens_at: s.opens_at,
        closes_at: s.closes_at,
        timezone: s.timezone.clone(),
        score_check: s.score_check.clone(),
        content_sha256: session_content_digest(s)?,
    };
    entry(
        actor.to_owned(),
        Action::LabSessionCreated,
        session_subject(s.id),
        details,
    )
}

fn session_subject(id: i64) -> String {
    format!("lab_session:{id}")
}

/// The digest of a session's names and rules, which stay out of the log: `content_sha256` of
/// `lab_session.created`, and of `lab_session.edited` when the title changes (the newest digest matches
/// the row).
fn session_content_digest(s: &lab_session::Model) -> Result<String, AuditError> {
    content_digest(&serde_json::json!({
        "org": s.org, "slug": s.slug, "title": s.title,
        "repo_pattern": s.repo_pattern, "branch_policy": s.branch_policy,
    }))
}

#[derive(Serialize)]
struct SessionEdited<'a> {
    session_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    opens_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    closes_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timezone: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    score_check: Option<&'a str>,
}

/// `lab_session.edited`: the fields `new` changes from `old`, with their new values (a new title with the
/// new content digest).
pub fn session_edited(
    actor: &str,
    old: &lab_session::Model,
    new: &lab_session::Model,
) -> Result<NewEntry, AuditError> {
    let title = new.title != old.title;
    let details = SessionEdited {
        session_id: old.id,
        title: title.then_some(new.title.as_str()),
        content_sha256: title.then(|| session_content_digest(new)).transpose()?,
        opens_at: (new.opens_at != old.opens_at).then(|| instant(new.opens_at)),
        closes_at: (new.closes_at != old.closes_at).then(|| instant(new.closes_at)),
        timezone: (new.timezone != old.timezone).then_some(new.timezone.as_str()),
        score_check: (new.score_check != old.score_check).then_some(new.score_check.as_str()),
    };
    entry(
        actor.to_owned(),
        Action::LabSessionEdited,
        session_subject(old.id),
        details,
    )
}

#[derive(Serialize)]
struct SessionExtended {
    session_id: i64,
    extension_id: i64,
    #[serde(serialize_with = "ser_instant")]
    closes_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    roster_student_id: Option<i64>,
    student_sha256: String,
}

/// `lab_session.extended`: the extension's deadline, its student as a digest of the (lower-case) name
/// (never the name itself) and, when the name matched a roster student, that student's id. (Entries
/// written before issue 20 held the digest only when no roster student matched.)
pub fn session_extended(
    actor: &str,
    extension: &session_extension::Model,
    roster_student: Option<&roster_student::Model>,
) -> Result<NewEntry, AuditError> {
    let details = SessionExtended {
        session_id: extension.session_id,
        extension_id: extension.id,
        closes_at: extension.closes_at,
        roster_student_id: roster_student.map(|s| s.id),
        student_sha256: name_sha256(Some(&extension.student))?,
    };
    entry(
        actor.to_owned(),
        Action::LabSessionExtended,
        session_subject(extension.session_id),
        details,
    )
}

#[derive(Serialize)]
struct SessionId {
    session_id: i64,
}

/// `lab_session.unarchived`: it matches pushes again.
pub fn session_unarchived(actor: &str, session_id: i64) -> Result<NewEntry, AuditError> {
    entry(
        actor.to_owned(),
        Action::LabSessionUnarchived,
        session_subject(session_id),
        SessionId { session_id },
    )
}

#[derive(Serialize)]
struct RosterImported {
    org_sha256: String,
    file_sha256: String,
    students: usize,
    #[serde(flatten)]
    counts: ImportCounts,
    rows: Vec<RosterRow>,
}

#[derive(Serialize)]
struct RosterRow {
    roster_student_id: i64,
    row_sha256: String,
}

/// `roster.imported`: counts and digests only (the file holds names and logins); `rows` are the roster
/// rows the import adds or changes, as they will be, each as its id and [`roster_row_sha256`].
pub fn roster_imported(
    actor: &str,
    org: &str,
    file: &[u8],
    students: usize,
    counts: ImportCounts,
    rows: &[roster_student::Model],
) -> Result<NewEntry, AuditError> {
    let details = RosterImported {
        org_sha256: hex::encode(Sha256::digest(org.as_bytes())),
        file_sha256: hex::encode(Sha256::digest(file)),
        students,
        counts,
        rows: roster_rows(rows)?,
    };
    entry(
        actor.to_owned(),
        Action::RosterImported,
        "roster".into(),
        details,
    )
}

/// Each roster row as its id and [`roster_row_sha256`].
fn roster_rows(rows: &[roster_student::Model]) -> Result<Vec<RosterRow>, AuditError> {
    rows.iter()
        .map(|s| {
            Ok(RosterRow {
                roster_student_id: s.id,
                row_sha256: roster_row_sha256(s)?,
            })
        })
        .collect()
}

#[derive(Serialize)]
struct RosterRemoved {
    org_sha256: String,
    removed: usize,
    rows: Vec<RosterRow>,
}

/// `roster.removed`: the roster rows removed (by `roster remove` or `roster import --replace`), each as
/// its id and [`roster_row_sha256`] as it was; digests only.
pub fn roster_removed(
    actor: &str,
    org: &str,
    rows: &[roster_student::Model],
) -> Result<NewEntry, AuditError> {
    let details = RosterRemoved {
        org_sha256: hex::encode(Sha256::digest(org.as_bytes())),
        removed: rows.len(),
        rows: roster_rows(rows)?,
    };
    entry(
        actor.to_owned(),
        Action::RosterRemoved,
        "roster".into(),
        details,
    )
}

#[derive(Serialize)]
struct RosterLink {
    org_sha256: String,
    roster_student_id: i64,
    github_id: Option<i64>,
    rows: Vec<RosterRow>,
}

/// `roster.linked` (`linked`) or `roster.unlinked`: the roster row by id (its identifier may be an
/// e-mail address), the GitHub id linked or unlinked, and the row as it will be, as its id and
/// [`roster_row_sha256`] (`rows`, like `roster.imported`, so the guard and `audit verify` read it alike).
pub fn roster_link(
    actor: &str,
    row: &roster_student::Model,
    github_id: Option<i64>,
    linked: bool,
) -> Result<NewEntry, AuditError> {
    let details = RosterLink {
        org_sha256: hex::encode(Sha256::digest(row.org.as_bytes())),
        roster_student_id: row.id,
        github_id,
        rows: vec![RosterRow {
            roster_student_id: row.id,
            row_sha256: roster_row_sha256(row)?,
        }],
    };
    let action = if linked {
        Action::RosterLinked
    } else {
        Action::RosterUnlinked
    };
    entry(actor.to_owned(), action, "roster".into(), details)
}

/// The digest an invitation entry holds for the row it sets: SHA-256 of the canonical JSON of its
/// session, template, prefix, visibility, open flag and code digest.
pub fn invitation_row_sha256(i: &session_invitation::Model) -> Result<String, AuditError> {
    content_digest(&serde_json::json!({
        "session_id": i.session_id, "template": i.template, "repo_prefix": i.repo_prefix,
        "private": i.private, "open": i.open, "code_sha256": i.code_sha256,
    }))
}

#[derive(Serialize)]
struct InvitationSet {
    session_id: i64,
    row_sha256: String,
}

/// `invitation.rotated` (`rotated`: a new code) or `invitation.edited` (its settings): the session and
/// [`invitation_row_sha256`] of the row as it will be; subject `invitation:<session id>`.
pub fn invitation_set(
    actor: &str,
    row: &session_invitation::Model,
    rotated: bool,
) -> Result<NewEntry, AuditError> {
    let action = if rotated {
        Action::InvitationRotated
    } else {
        Action::InvitationEdited
    };
    entry(
        actor.to_owned(),
        action,
        format!("invitation:{}", row.session_id),
        InvitationSet {
            session_id: row.session_id,
            row_sha256: invitation_row_sha256(row)?,
        },
    )
}

#[derive(Serialize)]
struct RepositoryProvisioned<'a> {
    provision_id: i64,
    session_id: i64,
    repository_id: Option<i64>,
    template: &'a str,
    github_user_id: i64,
    roster_student_id: Option<i64>,
    repository_full_name_sha256: String,
}

/// `repository.provisioned`: the student's repository exists from `template` and they are a
/// collaborator; ids, the template (the course's, not a person's) and a digest of the repository's name
/// (it holds the login); subject `provisioned_repository:<id>`.
pub fn repository_provisioned(
    actor: &str,
    row: &provisioned_repository::Model,
    template: &str,
) -> Result<NewEntry, AuditError> {
    entry(
        actor.to_owned(),
        Action::RepositoryProvisioned,
        format!("provisioned_repository:{}", row.id),
        RepositoryProvisioned {
            provision_id: row.id,
            session_id: row.session_id,
            repository_id: row.repository_id,
            template,
            github_user_id: row.github_user_id,
            roster_student_id: row.roster_student_id,
            repository_full_name_sha256: name_sha256(Some(&row.repository_name))?,
        },
    )
}

#[derive(Serialize)]
struct ExtensionRemoved {
    session_id: i64,
    extension_id: i64,
    student_sha256: String,
}

/// `lab_session.extension_removed`: a student's own deadline removed; the session's applies again.
pub fn extension_removed(
    actor: &str,
    extension: &session_extension::Model,
) -> Result<NewEntry, AuditError> {
    let details = ExtensionRemoved {
        session_id: extension.session_id,
        extension_id: extension.id,
        student_sha256: name_sha256(Some(&extension.student))?,
    };
    entry(
        actor.to_owned(),
        Action::LabSessionExtensionRemoved,
        session_subject(extension.session_id),
        details,
    )
}

#[derive(Serialize)]
struct SessionArchived {
    session_id: i64,
    #[serde(serialize_with = "ser_instant")]
    archived_at: DateTime<Utc>,
}

/// `lab_session.archived` at `archived_at`.
pub fn session_archived(
    actor: &str,
    session_id: i64,
    archived_at: DateTime<Utc>,
) -> Result<NewEntry, AuditError> {
    let details = SessionArchived {
        session_id,
        archived_at,
    };
    entry(
        actor.to_owned(),
        Action::LabSessionArchived,
        session_subject(session_id),
        details,
    )
}

#[derive(Serialize)]
struct TokenCreated {
    token_id: i64,
    role: entity::states::Role,
}

#[derive(Serialize)]
struct TokenRevoked {
    token_id: i64,
}

/// `api_token.created`: id and role, never the name or the token.
pub fn token_created(actor: &str, t: &api_token::Model) -> Result<NewEntry, AuditError> {
    let details = TokenCreated {
        token_id: t.id,
        role: t.role,
    };
    entry(
        actor.to_owned(),
        Action::ApiTokenCreated,
        token_subject(t.id),
        details,
    )
}

/// `api_token.revoked`.
pub fn token_revoked(actor: &str, t: &api_token::Model) -> Result<NewEntry, AuditError> {
    entry(
        actor.to_owned(),
        Action::ApiTokenRevoked,
        token_subject(t.id),
        TokenRevoked { token_id: t.id },
    )
}

fn token_subject(id: i64) -> String {
    format!("api_token:{id}")
}

#[derive(Serialize)]
struct InstallationChanged<'a> {
    installation_id: i64,
    account_id: i64,
    repository_selection: Option<&'a str>,
    repository_ids_added: Vec<i64>,
    repository_ids_removed: Vec<i64>,
    delivery_id: &'a str,
}

/// The action of an installation event.
pub fn installation_action(change: InstallationChange) -> Action {
    match change {
        InstallationChange::Created => Action::InstallationCreated,
        InstallationChange::Deleted => Action::InstallationDeleted,
        InstallationChange::Suspended => Action::InstallationSuspended,
        InstallationChange::Unsuspended => Action::InstallationUnsuspended,
        InstallationChange::PermissionsAccepted => Action::InstallationPermissionsAccepted,
        InstallationChange::RepositoriesAdded => Action::InstallationRepositoriesAdded,
        InstallationChange::RepositoriesRemoved => Action::InstallationRepositoriesRemoved,
    }
}

/// `installation.*`: ids only, no account or repository names.
pub fn installation_changed(
    delivery_guid: &str,
    ev: &InstallationEvent,
) -> Result<NewEntry, AuditError> {
    let ids = |rs: &[InstalledRepository]| -> Vec<i64> { rs.iter().map(|r| r.id).collect() };
    let added = match ev.change {
        InstallationChange::Created | InstallationChange::RepositoriesAdded => {
            ids(&ev.repositories)
        }
        _ => Vec::new(),
    };
    let details = InstallationChanged {
        installation_id: ev.installation_id,
        account_id: ev.account_id,
        repository_selection: ev.repository_selection.as_deref(),
        repository_ids_added: added,
        repository_ids_removed: ids(&ev.removed),
        delivery_id: delivery_guid,
    };
    entry(
        delivery_actor(delivery_guid),
        installation_action(ev.change),
        format!("installation:{}", ev.installation_id),
        details,
    )
}

#[derive(Serialize)]
struct DeliveryGivenUp<'a> {
    delivery_id: &'a str,
    event: &'a str,
    attempts: i32,
    payload_sha256: &'a str,
}

/// `delivery.dead` or `delivery.rejected` (`None` for the states a worker does not give up in).
pub fn delivery_given_up(
    d: &webhook_delivery::Model,
    status: Status,
) -> Result<Option<NewEntry>, AuditError> {
    let action = match status {
        Status::Dead => Action::DeliveryDead,
        Status::Rejected => Action::DeliveryRejected,
        _ => return Ok(None),
    };
    let details = DeliveryGivenUp {
        delivery_id: &d.guid,
        event: &d.event,
        attempts: d.attempts,
        payload_sha256: &d.payload_sha256,
    };
    entry(
        SYSTEM_ACTOR.to_owned(),
        action,
        format!("delivery:{}", d.guid),
        details,
    )
    .map(Some)
}

#[derive(Serialize)]
struct PayloadsDropped {
    count: u64,
    #[serde(serialize_with = "ser_instant")]
    processed_before: DateTime<Utc>,
    payload_days: u32,
}

/// `retention.payloads_dropped`: how many payloads settled before `cutoff` lost their bytes.
pub fn payloads_dropped(
    actor: &str,
    count: u64,
    cutoff: DateTime<Utc>,
    days: u32,
) -> Result<NewEntry, AuditError> {
    let details = PayloadsDropped {
        count,
        processed_before: cutoff,
        payload_days: days,
    };
    entry(
        actor.to_owned(),
        Action::RetentionPayloadsDropped,
        "webhook_delivery".into(),
        details,
    )
}

/// The facts of an `audit.archived` entry.
#[derive(Debug, Serialize)]
pub struct LogArchived<'a> {
    pub first_seq: i64,
    pub upto: i64,
    pub head_hash: &'a str,
    pub segment_sha256: &'a str,
    pub manifest_sha256: &'a str,
    /// Signed: an attacker with database access but not the key cannot append an archive record of
    /// their own and delete entries under it.
    pub statement: String,
}

/// `audit.archived`: entries `first_seq..upto` went to an archive segment.
pub fn log_archived(actor: &str, details: LogArchived<'_>) -> Result<NewEntry, AuditError> {
    let subject = format!("audit_log:{}-{}", details.first_seq, details.upto - 1);
    entry(actor.to_owned(), Action::AuditArchived, subject, details)
}

#[derive(Serialize)]
struct ApiRead<T> {
    token_id: i64,
    #[serde(flatten)]
    details: T,
}

/// `api.*`: a read through the API, by the token (its id in the details, its name as the actor).
pub fn api_read<T: Serialize>(
    token: &api_token::Model,
    action: Action,
    subject: String,
    details: T,
) -> Result<NewEntry, AuditError> {
    let details = ApiRead {
        token_id: token.id,
        details,
    };
    entry(format!("token:{}", token.name), action, subject, details)
}

fn web_session_subject(id: i64) -> String {
    format!("web_session:{id}")
}

#[derive(Serialize)]
struct WebSessionCreated {
    web_session_id: i64,
    method: SignInMethod,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    github_user_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    org_count: Option<usize>,
    /// `student` for a student's GitHub sign-in (absent for staff, as before issue 21).
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<entity::states::Role>,
}

/// `web_session.created` by a sign-in with an API token (the actor is the token).
pub fn web_session_by_token(
    web_session_id: i64,
    token: &api_token::Model,
) -> Result<NewEntry, AuditError> {
    let details = WebSessionCreated {
        web_session_id,
        method: SignInMethod::Token,
        token_id: Some(token.id),
        github_user_id: None,
        org_count: None,
        role: None,
    };
    entry(
        format!("token:{}", token.name),
        Action::WebSessionCreated,
        web_session_subject(web_session_id),
        details,
    )
}

/// `web_session.created` by a student's "Sign in with GitHub" (the actor is the GitHub user, by id).
pub fn web_session_by_github_student(
    web_session_id: i64,
    github_user_id: i64,
) -> Result<NewEntry, AuditError> {
    github_sign_in(
        web_session_id,
        github_user_id,
        None,
        Some(entity::states::Role::Student),
    )
}

/// `web_session.created` by "Sign in with GitHub": the user's GitHub id, and how many of the App's
/// organisations they may see (not which).
pub fn web_session_by_github(
    web_session_id: i64,
    github_user_id: i64,
    org_count: usize,
) -> Result<NewEntry, AuditError> {
    github_sign_in(web_session_id, github_user_id, Some(org_count), None)
}

fn github_sign_in(
    web_session_id: i64,
    github_user_id: i64,
    org_count: Option<usize>,
    role: Option<entity::states::Role>,
) -> Result<NewEntry, AuditError> {
    let details = WebSessionCreated {
        web_session_id,
        method: SignInMethod::Github,
        token_id: None,
        github_user_id: Some(github_user_id),
        org_count,
        role,
    };
    entry(
        format!("github_user:{github_user_id}"),
        Action::WebSessionCreated,
        web_session_subject(web_session_id),
        details,
    )
}

#[derive(Serialize)]
struct WebSessionEnded<'a> {
    web_session_id: i64,
    reason: &'a str,
}

/// `web_session.ended`, by the session itself (sign-out, or `reason`).
pub fn web_session_ended(web_session_id: i64, reason: &str) -> Result<NewEntry, AuditError> {
    entry(
        web_session_subject(web_session_id),
        Action::WebSessionEnded,
        web_session_subject(web_session_id),
        WebSessionEnded {
            web_session_id,
            reason,
        },
    )
}

#[derive(Serialize)]
struct WebRead<T> {
    web_session_id: i64,
    #[serde(flatten)]
    details: T,
}

/// `web.*`: a read through the web view, by its session (its id in the details and as the actor).
pub fn web_read<T: Serialize>(
    web_session_id: i64,
    action: Action,
    subject: String,
    details: T,
) -> Result<NewEntry, AuditError> {
    entry(
        web_session_subject(web_session_id),
        action,
        subject,
        WebRead {
            web_session_id,
            details,
        },
    )
}

#[cfg(test)]
mod tests {
    //! The constructors that replaced details assembled by hand in `db` and `web` write exactly what was
    //! written before (the hand-built JSON is spelled out here as it was), so entries keep one shape.

    use serde_json::{json, Value};

    use super::*;

    /// `2026-02-01` at hour `h`, UTC.
    fn at(h: u32) -> DateTime<Utc> {
        format!("2026-02-01T{h:02}:00:00Z")
            .parse()
            .expect("an RFC 3339 time")
    }

    fn session() -> lab_session::Model {
        lab_session::Model {
            id: 7,
            org: "course".into(),
            slug: "lab1".into(),
            title: "Lab 1".into(),
            repo_pattern: "lab1-*".into(),
            branch_policy: "default".into(),
            opens_at: at(1),
            closes_at: at(23),
            archived_at: None,
            created_at: at(0),
            timezone: "UTC".into(),
            score_check: "Autograding Tests".into(),
        }
    }

    /// What the hand-built entries held: their JSON plus the details version.
    fn v2(mut details: Value) -> Value {
        details["v"] = json!(DETAILS_VERSION);
        details
    }

    fn check(e: &NewEntry, actor: &str, action: Action, subject: &str, details: Value) {
        assert_eq!(e.actor, actor);
        assert_eq!(e.action, action);
        assert_eq!(e.subject, subject);
        assert_eq!(e.details, v2(details));
    }

    #[test]
    fn session_edited_holds_the_changed_fields_only() {
        let old = session();
        let mut new = old.clone();
        new.closes_at = at(3);
        let e = session_edited("cli:ada", &old, &new).expect("entry");
        let closes = json!({ "session_id": 7, "closes_at": "2026-02-01T03:00:00.000000Z" });
        check(
            &e,
            "cli:ada",
            Action::LabSessionEdited,
            "lab_session:7",
            closes,
        );

        new.title = "Lab 1 (linked lists)".into();
        new.opens_at = at(2);
        new.timezone = "Europe/Paris".into();
        let content = json!({
            "org": "course", "slug": "lab1", "title": "Lab 1 (linked lists)",
            "repo_pattern": "lab1-*", "branch_policy": "default",
        });
        let e = session_edited("cli:ada", &old, &new).expect("entry");
        let all = json!({
            "session_id": 7,
            "title": "Lab 1 (linked lists)",
            "content_sha256": content_digest(&content).expect("digest"),
            "opens_at": "2026-02-01T02:00:00.000000Z",
            "closes_at": "2026-02-01T03:00:00.000000Z",
            "timezone": "Europe/Paris",
        });
        check(
            &e,
            "cli:ada",
            Action::LabSessionEdited,
            "lab_session:7",
            all,
        );
    }

    #[test]
    fn session_extended_names_a_digest_and_a_roster_id() {
        let ext = session_extension::Model {
            id: 3,
            session_id: 7,
            student: "zed".into(),
            closes_at: at(5),
            created_at: at(0),
            updated_at: at(0),
        };
        let off_roster = session_extended("cli:ada", &ext, None).expect("entry");
        let digest = content_digest(&json!("zed")).expect("digest");
        let expected = json!({
            "session_id": 7, "extension_id": 3, "closes_at": "2026-02-01T05:00:00.000000Z",
            "student_sha256": digest,
        });
        check(
            &off_roster,
            "cli:ada",
            Action::LabSessionExtended,
            "lab_session:7",
            expected,
        );
        let student = roster_student::Model {
            id: 11,
            org: "course".into(),
            identifier: "s-11".into(),
            github_username: "zed".into(),
            github_id: None,
            name: "Zed".into(),
            created_at: at(0),
            updated_at: at(0),
        };
        let on_roster = session_extended("cli:ada", &ext, Some(&student)).expect("entry");
        let expected = json!({
            "session_id": 7, "extension_id": 3, "closes_at": "2026-02-01T05:00:00.000000Z",
            "roster_student_id": 11, "student_sha256": digest,
        });
        check(
            &on_roster,
            "cli:ada",
            Action::LabSessionExtended,
            "lab_session:7",
            expected,
        );
    }

    #[test]
    fn session_unarchived_and_roster_imported() {
        let e = session_unarchived("cli:ada", 7).expect("entry");
        let id = json!({ "session_id": 7 });
        check(
            &e,
            "cli:ada",
            Action::LabSessionUnarchived,
            "lab_session:7",
            id,
        );

        let counts = ImportCounts {
            added: 2,
            updated: 1,
            unchanged: 4,
        };
        let row = roster_student::Model {
            id: 12,
            org: "course".into(),
            identifier: "s-12".into(),
            github_username: "ada".into(),
            github_id: Some(5),
            name: "Ada".into(),
            created_at: at(0),
            updated_at: at(0),
        };
        let e = roster_imported(
            "cli:ada",
            "course",
            b"file",
            7,
            counts,
            std::slice::from_ref(&row),
        )
        .expect("entry");
        let row_digest = content_digest(&json!({
            "org": "course", "identifier": "s-12", "github_username": "ada", "github_id": 5, "name": "Ada",
        }))
        .expect("digest");
        let expected = json!({
            "org_sha256": hex::encode(Sha256::digest(b"course")),
            "file_sha256": hex::encode(Sha256::digest(b"file")),
            "students": 7, "added": 2, "updated": 1, "unchanged": 4,
            "rows": [{ "roster_student_id": 12, "row_sha256": row_digest }],
        });
        check(&e, "cli:ada", Action::RosterImported, "roster", expected);
    }

    #[test]
    fn web_session_entries() {
        let token = api_token::Model {
            id: 5,
            name: "grader".into(),
            role: entity::states::Role::Instructor,
            org: None,
            token_sha256: String::new(),
            created_at: at(0),
            last_used_at: None,
            revoked_at: None,
        };
        let e = web_session_by_token(9, &token).expect("entry");
        let by_token = json!({ "method": "token", "token_id": 5, "web_session_id": 9 });
        check(
            &e,
            "token:grader",
            Action::WebSessionCreated,
            "web_session:9",
            by_token,
        );
        let e = web_session_by_github(9, 4242, 2).expect("entry");
        let by_github = json!({
            "method": "github", "github_user_id": 4242, "org_count": 2, "web_session_id": 9,
        });
        check(
            &e,
            "github_user:4242",
            Action::WebSessionCreated,
            "web_session:9",
            by_github,
        );
        let e = web_session_ended(9, "signed out").expect("entry");
        let ended = json!({ "web_session_id": 9, "reason": "signed out" });
        check(
            &e,
            "web_session:9",
            Action::WebSessionEnded,
            "web_session:9",
            ended,
        );
        let e = web_read(
            9,
            Action::WebSummaryRead,
            "lab_session:7".into(),
            json!({ "count": 3 }),
        )
        .expect("entry");
        let read = json!({ "count": 3, "web_session_id": 9 });
        check(
            &e,
            "web_session:9",
            Action::WebSummaryRead,
            "lab_session:7",
            read,
        );
    }
}
