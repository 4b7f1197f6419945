//! One constructor per audit action: typed details, written in the current details encoding.
//!
//! Details version 2 (every entry written since): `details.v = 2`, and every instant is an RFC 3339 string
//! in UTC with exactly six fractional digits and `Z` (`2026-12-01T08:00:00.000000Z`), in a field named
//! `*_at` or `*_before`. Version 1 entries (no `v` in their details) mixed RFC 3339 with nanoseconds, with
//! seconds, and integer microseconds (`*_us`); they stay as written and still verify. docs/audit.md §1.

use chrono::{DateTime, SecondsFormat, Utc};
use entity::states::{DeliveryStatus as Status, FilesSource};
use entity::{api_token, lab_attempt, lab_session, webhook_delivery};
use serde::{Serialize, Serializer};

use super::{content_digest, Action, AuditError, NewEntry};
use crate::domain::files::ChangedFile;
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
    content_sha256: String,
}

/// `lab_session.created`: the window; names and rules only as a digest.
pub fn session_created(actor: &str, s: &lab_session::Model) -> Result<NewEntry, AuditError> {
    let content = serde_json::json!({
        "org": s.org, "slug": s.slug, "title": s.title,
        "repo_pattern": s.repo_pattern, "branch_policy": s.branch_policy,
    });
    let details = SessionCreated {
        session_id: s.id,
        opens_at: s.opens_at,
        closes_at: s.closes_at,
        timezone: s.timezone.clone(),
        content_sha256: content_digest(&content)?,
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

/// An entry whose details are assembled by its one caller (the roster import, the web view's sign-in and
/// reads): written in the current details version like every other constructor.
pub fn other<T: Serialize>(
    actor: String,
    action: Action,
    subject: String,
    details: T,
) -> Result<NewEntry, AuditError> {
    entry(actor, action, subject, details)
}
