//! The rows instructors grade from (`lab_attempt` with its files, `lab_session`, `installation`,
//! `session_extension`, `roster_student`), checked against the newest audit entries that set them: pure
//! comparison functions and a streaming driver that merge-joins pages of entries (found through the
//! `(subject, seq)` index) with the rows. Extensions and roster rows (a course has hundreds, where it has
//! hundreds of thousands of attempts) are folded in memory, all at once.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, SecondsFormat, Utc};
use entity::{
    audit_log, installation, lab_attempt, lab_attempt_file, lab_attempt_score, lab_session,
    provisioned_repository, roster_student, session_extension, session_invitation,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::{json, Value};

use super::{content_digest, entries, Action};

/// Entries and rows read per query.
const PAGE: u64 = 1000;
/// Problems kept for the report; further ones are only counted.
const MAX_PROBLEMS: usize = 1000;

/// A kind of row the log sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Attempt,
    Session,
    Installation,
    /// A student's own deadline (`session_extension`), set by `lab_session.extended` entries, whose
    /// subject is the session: the row is named by `details.extension_id`.
    Extension,
    /// A roster row, set by `roster.imported` entries (subject `roster`): the row is named by each
    /// `details.rows[].roster_student_id`.
    RosterStudent,
    /// A `lab_attempt_score` row (issue 22).
    Score,
    /// A `session_invitation` row (issue 25), set by `invitation.rotated` / `invitation.edited` entries
    /// (subject `invitation:<session id>`).
    Invitation,
    /// A `provisioned_repository` row once `provisioned` (issue 25), set by its `repository.provisioned`
    /// entry (subject `provisioned_repository:<id>`); a `pending` one is an intent, not yet recorded.
    Provision,
}

/// How a field's value is read from an entry's `details`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Int,
    Bool,
    Text,
    /// An instant: RFC 3339 text (any precision, any offset) or integer microseconds.
    Instant,
}

/// A row field and the `details` keys that set it (the first present, non-null one; with `nullable`, a
/// present `null` sets it to null).
#[derive(Debug)]
struct Field {
    name: &'static str,
    keys: &'static [&'static str],
    ty: Ty,
    nullable: bool,
}

const fn field(name: &'static str, keys: &'static [&'static str], ty: Ty) -> Field {
    Field {
        name,
        keys,
        ty,
        nullable: false,
    }
}

const fn nullable(name: &'static str, ty: Ty) -> Field {
    Field {
        name,
        keys: &[],
        ty,
        nullable: true,
    }
}

const ATTEMPT_FIELDS: &[Field] = &[
    field("session_id", &["session_id"], Ty::Int),
    field("installation_id", &["installation_id"], Ty::Int),
    field("repository_id", &["repository_id"], Ty::Int),
    field("delivery_id", &["delivery_id"], Ty::Text),
    field("before_sha", &["before_sha", "before"], Ty::Text),
    field("after_sha", &["after_sha", "after"], Ty::Text),
    field("pushed_at", &["pushed_at", "pushed_at_us"], Ty::Instant),
    field(
        "received_at",
        &["received_at", "received_at_us"],
        Ty::Instant,
    ),
    field("attempt_number", &["attempt_number"], Ty::Int),
    field("late", &["late"], Ty::Bool),
    field("early", &["early"], Ty::Bool),
    field("forced", &["forced"], Ty::Bool),
    field("file_count", &["file_count"], Ty::Int),
    field("files_source", &["files_source"], Ty::Text),
    field("files_complete", &["files_complete"], Ty::Bool),
    field("content_sha256", &["content_sha256"], Ty::Text),
    // Whose attempt it is (entries written since issue 20).
    nullable("sender_id", Ty::Int),
    field(
        "repository_full_name_sha256",
        &["repository_full_name_sha256"],
        Ty::Text,
    ),
    field("pusher_login_sha256", &["pusher_login_sha256"], Ty::Text),
];

const EXTENSION_FIELDS: &[Field] = &[
    field("session_id", &["session_id"], Ty::Int),
    field("closes_at", &["closes_at"], Ty::Instant),
    field("student_sha256", &["student_sha256"], Ty::Text),
];

const ROSTER_FIELDS: &[Field] = &[field("row_sha256", &["row_sha256"], Ty::Text)];

const INVITATION_FIELDS: &[Field] = &[field("row_sha256", &["row_sha256"], Ty::Text)];

const PROVISION_FIELDS: &[Field] = &[
    field("session_id", &["session_id"], Ty::Int),
    nullable("repository_id", Ty::Int),
    field("github_user_id", &["github_user_id"], Ty::Int),
    nullable("roster_student_id", Ty::Int),
    field(
        "repository_full_name_sha256",
        &["repository_full_name_sha256"],
        Ty::Text,
    ),
];

const SESSION_FIELDS: &[Field] = &[
    field("session_id", &["session_id"], Ty::Int),
    field("org", &["org"], Ty::Text),
    field("slug", &["slug"], Ty::Text),
    field("title", &["title"], Ty::Text),
    field("repo_pattern", &["repo_pattern"], Ty::Text),
    field("branch_policy", &["branch_policy"], Ty::Text),
    field("opens_at", &["opens_at", "opens_at_us"], Ty::Instant),
    field("closes_at", &["closes_at", "closes_at_us"], Ty::Instant),
    field(
        "archived_at",
        &["archived_at", "archived_at_us"],
        Ty::Instant,
    ),
    field("content_sha256", &["content_sha256"], Ty::Text),
];

const INSTALLATION_FIELDS: &[Field] = &[
    field("installation_id", &["installation_id"], Ty::Int),
    field("account_id", &["account_id"], Ty::Int),
    field("repository_selection", &["repository_selection"], Ty::Text),
];

const SCORE_FIELDS: &[Field] = &[
    field("attempt_id", &["attempt_id"], Ty::Int),
    field("check_run_id", &["check_run_id"], Ty::Int),
    field("app_id", &["app_id"], Ty::Int),
    field("points", &["points"], Ty::Text),
    field("points_available", &["points_available"], Ty::Text),
    field("conclusion", &["conclusion"], Ty::Text),
    field("completed_at", &["completed_at"], Ty::Instant),
];

const SCORE_ACTIONS: &[&str] = &[Action::LabAttemptScored.as_str()];

const ATTEMPT_ERASED: &str = Action::LabAttemptErased.as_str();
const SESSION_CREATED: &str = Action::LabSessionCreated.as_str();
const SESSION_UNARCHIVED: &str = Action::LabSessionUnarchived.as_str();

const ATTEMPT_ACTIONS: &[&str] = &[
    Action::LabAttemptRecorded.as_str(),
    Action::LabAttemptFilesCompleted.as_str(),
    ATTEMPT_ERASED,
];

const SESSION_ACTIONS: &[&str] = &[
    SESSION_CREATED,
    Action::LabSessionArchived.as_str(),
    Action::LabSessionEdited.as_str(),
    SESSION_UNARCHIVED,
];

const EXTENSION_ACTIONS: &[&str] = &[
    Action::LabSessionExtended.as_str(),
    Action::LabSessionExtensionRemoved.as_str(),
];
const ROSTER_ACTIONS: &[&str] = &[
    Action::RosterImported.as_str(),
    Action::RosterRemoved.as_str(),
    Action::RosterLinked.as_str(),
    Action::RosterUnlinked.as_str(),
];
const INVITATION_ACTIONS: &[&str] = &[
    Action::InvitationRotated.as_str(),
    Action::InvitationEdited.as_str(),
];
const PROVISION_ACTIONS: &[&str] = &[Action::RepositoryProvisioned.as_str()];
/// Entries that erase a row: after them, the row is legitimately gone.
const ERASING: &[&str] = &[
    ATTEMPT_ERASED,
    Action::LabSessionExtensionRemoved.as_str(),
    Action::RosterRemoved.as_str(),
];

const INSTALLATION_ACTIONS: &[&str] = &[
    Action::InstallationCreated.as_str(),
    Action::InstallationDeleted.as_str(),
    Action::InstallationSuspended.as_str(),
    Action::InstallationUnsuspended.as_str(),
    Action::InstallationPermissionsAccepted.as_str(),
    Action::InstallationRepositoriesAdded.as_str(),
    Action::InstallationRepositoriesRemoved.as_str(),
];

impl Kind {
    /// The kinds whose entries name their row in `subject` (walked page by page).
    pub const ALL: [Kind; 4] = [
        Kind::Attempt,
        Kind::Session,
        Kind::Installation,
        Kind::Score,
    ];

    /// The word used in messages.
    pub fn noun(self) -> &'static str {
        match self {
            Self::Attempt => "attempt",
            Self::Session => "session",
            Self::Installation => "installation",
            Self::Extension => "extension",
            Self::RosterStudent => "roster student",
            Self::Score => "score",
            Self::Invitation => "invitation",
            Self::Provision => "provisioned repository",
        }
    }

    /// The entries' subject is this prefix and the row id (for extensions: the session's id; roster
    /// entries have the subject `roster`).
    fn prefix(self) -> &'static str {
        match self {
            Self::Attempt => "lab_attempt:",
            Self::Session | Self::Extension => "lab_session:",
            Self::Installation => "installation:",
            Self::RosterStudent => "roster",
            Self::Score => "lab_attempt_score:",
            Self::Invitation => "invitation:",
            Self::Provision => "provisioned_repository:",
        }
    }

    /// The first string after every subject of this kind (`:` + 1 is `;`).
    fn prefix_end(self) -> String {
        let p = self.prefix();
        format!("{};", &p[..p.len() - 1])
    }

    /// The actions whose entries set (or erase) rows of this kind; reads (`api.proof_read`) do not.
    /// `lab_session.edited` fields override older ones like any other entry's; `lab_session.extended`
    /// sets a student's own deadline (a `session_extension` row), not the session's, so it is not read here.
    fn actions(self) -> &'static [&'static str] {
        match self {
            Self::Attempt => ATTEMPT_ACTIONS,
            Self::Session => SESSION_ACTIONS,
            Self::Installation => INSTALLATION_ACTIONS,
            Self::Extension => EXTENSION_ACTIONS,
            Self::RosterStudent => ROSTER_ACTIONS,
            Self::Score => SCORE_ACTIONS,
            Self::Invitation => INVITATION_ACTIONS,
            Self::Provision => PROVISION_ACTIONS,
        }
    }

    fn fields(self) -> &'static [Field] {
        match self {
            Self::Attempt => ATTEMPT_FIELDS,
            Self::Session => SESSION_FIELDS,
            Self::Installation => INSTALLATION_FIELDS,
            Self::Extension => EXTENSION_FIELDS,
            Self::RosterStudent => ROSTER_FIELDS,
            Self::Score => SCORE_FIELDS,
            Self::Invitation => INVITATION_FIELDS,
            Self::Provision => PROVISION_FIELDS,
        }
    }

    fn subject(self, id: i64) -> String {
        format!("{}{id}", self.prefix())
    }
}

/// A field's value, compared by meaning (instants to the microsecond, whatever their encoding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact {
    Null,
    Bool(bool),
    Int(i64),
    Text(String),
    /// Microseconds since the Unix epoch.
    Instant(i64),
    /// A value in an entry that is not of the field's type (shown as JSON).
    Unreadable(String),
}

impl Fact {
    fn instant(t: DateTime<Utc>) -> Self {
        Self::Instant(t.timestamp_micros())
    }

    fn maybe_instant(t: Option<DateTime<Utc>>) -> Self {
        t.map_or(Self::Null, Self::instant)
    }

    fn maybe_text(s: Option<&str>) -> Self {
        s.map_or(Self::Null, |s| Self::Text(s.to_owned()))
    }
}

impl std::fmt::Display for Fact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Null => f.write_str("null"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Int(i) => write!(f, "{i}"),
            Self::Text(s) | Self::Unreadable(s) => f.write_str(s),
            Self::Instant(us) => match DateTime::from_timestamp_micros(*us) {
                Some(t) => f.write_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
                None => write!(f, "{us} µs"),
            },
        }
    }
}

/// Read a `details` value as a field of type `ty`: by value, so every encoding of an instant works.
fn read(ty: Ty, v: &Value) -> Fact {
    let parsed = match (ty, v) {
        (Ty::Int, Value::Number(n)) => n.as_i64().map(Fact::Int),
        (Ty::Bool, Value::Bool(b)) => Some(Fact::Bool(*b)),
        (Ty::Text, Value::String(s)) => Some(Fact::Text(s.clone())),
        (Ty::Instant, Value::Number(n)) => n.as_i64().map(Fact::Instant),
        (Ty::Instant, Value::String(s)) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| Fact::instant(t.with_timezone(&Utc))),
        _ => None,
    };
    parsed.unwrap_or_else(|| Fact::Unreadable(v.to_string()))
}

/// What the log says about one row: per field the newest value and the seq of the entry that set it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFacts {
    pub fields: BTreeMap<&'static str, (Fact, i64)>,
    /// The seq of an erase entry newer than every entry that set a field.
    pub erased: Option<i64>,
    /// The newest entry folded in.
    pub last_seq: i64,
}

impl LogFacts {
    /// Fold in the next entry (in seq order): each field it sets overrides what older entries said; a
    /// `null` sets nothing.
    pub fn apply(&mut self, kind: Kind, seq: i64, action: &str, details: &Value) {
        self.last_seq = seq;
        if ERASING.contains(&action) {
            self.erased = Some(seq);
            return;
        }
        self.erased = None;
        if action == SESSION_CREATED || action == SESSION_UNARCHIVED {
            self.fields.insert("archived_at", (Fact::Null, seq));
        }
        for f in kind.fields() {
            if f.nullable {
                match details.get(f.name) {
                    Some(Value::Null) => {
                        self.fields.insert(f.name, (Fact::Null, seq));
                    }
                    Some(v) => {
                        self.fields.insert(f.name, (read(f.ty, v), seq));
                    }
                    None => {}
                }
                continue;
            }
            let value = f
                .keys
                .iter()
                .find_map(|k| details.get(*k).filter(|v| !v.is_null()));
            if let Some(v) = value {
                self.fields.insert(f.name, (read(f.ty, v), seq));
            }
        }
    }
}

/// One row's differences from the log, in the report's shape:
/// `attempt 16: late is false, the log says true (seq 41)`.
pub fn compare(kind: Kind, id: i64, row: &[(&'static str, Fact)], log: &LogFacts) -> Vec<String> {
    let noun = kind.noun();
    if let Some(seq) = log.erased {
        return vec![format!(
            "{noun} {id}: the row exists, but the log says it was erased (seq {seq})"
        )];
    }
    row.iter()
        .filter_map(|(name, value)| {
            let (want, seq) = log.fields.get(name)?;
            (want != value).then(|| {
                let name = label(kind, name);
                format!("{noun} {id}: {name} is {value}, the log says {want} (seq {seq})")
            })
        })
        .collect()
}

/// A field's name in messages: a digest says what it covers.
fn label(kind: Kind, name: &'static str) -> &'static str {
    match (kind, name) {
        (Kind::Attempt, "content_sha256") => "content_sha256 (of the ref and the file list)",
        (Kind::Session, "content_sha256") => {
            "content_sha256 (of org, slug, title, repo_pattern and branch_policy)"
        }
        (Kind::Attempt, "repository_full_name_sha256") => {
            "repository_full_name_sha256 (of the repository's owner/name)"
        }
        (Kind::Attempt, "pusher_login_sha256") => "pusher_login_sha256 (of the pusher's login)",
        (Kind::Extension, "student_sha256") => "student_sha256 (of the student's name)",
        (Kind::RosterStudent, "row_sha256") => {
            "row_sha256 (of org, identifier, github_username, github_id and name)"
        }
        (Kind::Invitation, "row_sha256") => {
            "row_sha256 (of template, repo_prefix, private, open and code_sha256)"
        }
        (Kind::Provision, "repository_full_name_sha256") => {
            "repository_full_name_sha256 (of the repository's owner/name)"
        }
        _ => name,
    }
}

/// A row the log set but that is gone: legal only after an erase entry.
pub fn gone(kind: Kind, id: i64, log: &LogFacts) -> Option<String> {
    log.erased.is_none().then(|| {
        format!(
            "{} {id}: the row is gone, and the log has no erase entry for it (its newest entry is seq {})",
            kind.noun(),
            log.last_seq
        )
    })
}

/// A row no entry sets (inserted by hand).
pub fn unrecorded(kind: Kind, id: i64) -> String {
    format!("{} {id}: no audit entry records it", kind.noun())
}

/// The digest a `lab_attempt.recorded` / `files_completed` entry holds: the canonical JSON of the ref
/// and the file list in recording order (as `db::attempts` computes it).
pub fn attempt_digest(git_ref: &str, files: &[(String, String)]) -> Fact {
    let files: Vec<Value> = files
        .iter()
        .map(|(path, status)| json!({ "path": path, "status": status }))
        .collect();
    digest(&json!({ "ref": git_ref, "files": files }))
}

/// The digest a `lab_session.created` entry holds.
pub fn session_digest(s: &lab_session::Model) -> Fact {
    digest(&json!({
        "org": s.org, "slug": s.slug, "title": s.title,
        "repo_pattern": s.repo_pattern, "branch_policy": s.branch_policy,
    }))
}

fn digest(v: &Value) -> Fact {
    match content_digest(v) {
        Ok(d) => Fact::Text(d),
        Err(e) => Fact::Unreadable(format!("(cannot digest: {e})")),
    }
}

/// An attempt's row as facts; `files` are its `(path, status)` rows in id order.
pub fn attempt_facts(
    a: &lab_attempt::Model,
    files: &[(String, String)],
) -> Vec<(&'static str, Fact)> {
    vec![
        ("session_id", Fact::Int(a.session_id)),
        ("installation_id", Fact::Int(a.installation_id)),
        ("repository_id", Fact::Int(a.repository_id)),
        ("delivery_id", Fact::Text(a.delivery_id.clone())),
        ("before_sha", Fact::Text(a.before_sha.clone())),
        ("after_sha", Fact::Text(a.after_sha.clone())),
        ("pushed_at", Fact::instant(a.pushed_at)),
        ("received_at", Fact::instant(a.received_at)),
        ("attempt_number", Fact::Int(i64::from(a.attempt_number))),
        ("late", Fact::Bool(a.late)),
        ("early", Fact::Bool(a.early)),
        ("forced", Fact::Bool(a.forced)),
        ("file_count", Fact::Int(i64::from(a.file_count))),
        ("files_source", Fact::Text(a.files_source.to_string())),
        ("files_complete", Fact::Bool(a.files_complete)),
        ("content_sha256", attempt_digest(&a.git_ref, files)),
        ("sender_id", a.sender_id.map_or(Fact::Null, Fact::Int)),
        (
            "repository_full_name_sha256",
            name_digest(Some(&a.repository_full_name)),
        ),
        (
            "pusher_login_sha256",
            name_digest(a.pusher_login.as_deref()),
        ),
    ]
}

/// [`entries::name_sha256`] as a fact.
fn name_digest(name: Option<&str>) -> Fact {
    match entries::name_sha256(name) {
        Ok(d) => Fact::Text(d),
        Err(e) => Fact::Unreadable(format!("(cannot digest: {e})")),
    }
}

/// An extension's row as facts.
pub fn extension_facts(e: &session_extension::Model) -> Vec<(&'static str, Fact)> {
    vec![
        ("session_id", Fact::Int(e.session_id)),
        ("closes_at", Fact::instant(e.closes_at)),
        ("student_sha256", name_digest(Some(&e.student))),
    ]
}

/// A roster row as facts.
pub fn roster_facts(s: &roster_student::Model) -> Vec<(&'static str, Fact)> {
    let digest = match entries::roster_row_sha256(s) {
        Ok(d) => Fact::Text(d),
        Err(e) => Fact::Unreadable(format!("(cannot digest: {e})")),
    };
    vec![("row_sha256", digest)]
}

/// A session's row as facts.
pub fn session_facts(s: &lab_session::Model) -> Vec<(&'static str, Fact)> {
    vec![
        ("session_id", Fact::Int(s.id)),
        ("org", Fact::Text(s.org.clone())),
        ("slug", Fact::Text(s.slug.clone())),
        ("title", Fact::Text(s.title.clone())),
        ("repo_pattern", Fact::Text(s.repo_pattern.clone())),
        ("branch_policy", Fact::Text(s.branch_policy.clone())),
        ("opens_at", Fact::instant(s.opens_at)),
        ("closes_at", Fact::instant(s.closes_at)),
        ("archived_at", Fact::maybe_instant(s.archived_at)),
        ("content_sha256", session_digest(s)),
    ]
}

/// An installation's row as facts.
pub fn installation_facts(i: &installation::Model) -> Vec<(&'static str, Fact)> {
    vec![
        ("installation_id", Fact::Int(i.id)),
        ("account_id", Fact::Int(i.account_id)),
        (
            "repository_selection",
            Fact::maybe_text(i.repository_selection.as_deref()),
        ),
    ]
}

/// A score's row as facts.
pub fn score_facts(s: &lab_attempt_score::Model) -> Vec<(&'static str, Fact)> {
    vec![
        ("attempt_id", Fact::Int(s.attempt_id)),
        ("check_run_id", Fact::Int(s.check_run_id)),
        ("app_id", s.app_id.map_or(Fact::Null, Fact::Int)),
        ("points", Fact::maybe_text(s.points.as_deref())),
        (
            "points_available",
            Fact::maybe_text(s.points_available.as_deref()),
        ),
        ("conclusion", Fact::maybe_text(s.conclusion.as_deref())),
        ("completed_at", Fact::instant(s.completed_at)),
    ]
}

/// The outcome of the records check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordsSummary {
    /// Rows checked: attempts, sessions, installations.
    pub attempts: u64,
    pub sessions: u64,
    pub installations: u64,
    pub extensions: u64,
    pub roster_students: u64,
    /// Attempts whose `lab_attempt.recorded` entry predates issue 20: their sender, repository name and
    /// pusher were not compared (no entry holds them).
    pub attempts_not_covered: u64,
    /// Roster rows set only by imports that predate issue 20 (no per-row digest): not compared.
    pub roster_not_covered: u64,
    pub scores: u64,
    /// Invitations and provisioned repositories checked (issue 25); `pending` ones are intents that an
    /// accept has not finished: no entry records them yet.
    pub invitations: u64,
    pub provisions: u64,
    pub provisions_pending: u64,
    /// Differences, in the report's shape (at most [`MAX_PROBLEMS`]).
    pub problems: Vec<String>,
    /// Differences beyond those kept.
    pub more_problems: u64,
    /// Rows without a stored entry whose entries may be archived (not checked).
    pub unchecked_archived: u64,
}

impl RecordsSummary {
    fn problem(&mut self, p: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(p);
        } else {
            self.more_problems += 1;
        }
    }

    /// Every difference found, kept or not.
    pub fn problem_count(&self) -> u64 {
        self.problems.len() as u64 + self.more_problems
    }
}

/// Check every attempt, session and installation row against the stored entries; `archived_upto`
/// is the first stored seq (entries below it were archived).
pub async fn check(db: &impl ConnectionTrait, archived_upto: i64) -> Result<RecordsSummary, DbErr> {
    let mut summary = RecordsSummary::default();
    for kind in Kind::ALL {
        entries_to_rows(db, kind, &mut summary).await?;
        rows_to_entries(db, kind, archived_upto, &mut summary).await?;
    }
    check_extensions(db, archived_upto, &mut summary).await?;
    check_roster(db, archived_upto, &mut summary).await?;
    check_invitations(db, archived_upto, &mut summary).await?;
    Ok(summary)
}

/// The `(seq, details)` of the entries of `kind` (extensions or roster), in seq order.
async fn fold_all(
    db: &impl ConnectionTrait,
    kind: Kind,
) -> Result<Vec<(i64, String, Value)>, DbErr> {
    use audit_log::Column as C;
    let q = audit_log::Entity::find()
        .select_only()
        .columns([C::Seq, C::Action, C::Details])
        .filter(C::Action.is_in(kind.actions().iter().copied()));
    let q = match kind {
        Kind::RosterStudent => q.filter(C::Subject.eq(kind.prefix())),
        _ => q
            .filter(C::Subject.gt(kind.prefix()))
            .filter(C::Subject.lt(kind.prefix_end().as_str())),
    };
    Ok(q.order_by_asc(C::Seq)
        .into_tuple::<(i64, String, String)>()
        .all(db)
        .await?
        .into_iter()
        .map(|(seq, a, d)| (seq, a, serde_json::from_str(&d).unwrap_or(Value::Null)))
        .collect())
}

/// Compare folded entries with rows (both by id): differences, rows gone, rows without an entry
/// (`uncovered`: whether such a row is merely not covered instead of unrecorded).
fn compare_all(
    kind: Kind,
    logs: &BTreeMap<i64, LogFacts>,
    mut rows: BTreeMap<i64, Vec<(&'static str, Fact)>>,
    uncovered: bool,
    summary: &mut RecordsSummary,
) -> u64 {
    for (id, facts) in logs {
        let problems = match rows.remove(id) {
            Some(row) => compare(kind, *id, &row, facts),
            None => gone(kind, *id, facts).into_iter().collect(),
        };
        for p in problems {
            summary.problem(p);
        }
    }
    let mut not_covered = 0;
    for id in rows.keys() {
        if uncovered {
            not_covered += 1;
        } else {
            summary.problem(unrecorded(kind, *id));
        }
    }
    not_covered
}

/// Every `session_extension` row against the `lab_session.extended` entries naming it.
async fn check_extensions(
    db: &impl ConnectionTrait,
    archived_upto: i64,
    summary: &mut RecordsSummary,
) -> Result<(), DbErr> {
    let kind = Kind::Extension;
    let mut logs: BTreeMap<i64, LogFacts> = BTreeMap::new();
    for (seq, action, details) in fold_all(db, kind).await? {
        match details.get("extension_id").and_then(Value::as_i64) {
            Some(id) => logs
                .entry(id)
                .or_default()
                .apply(kind, seq, &action, &details),
            None => summary.problem(format!(
                "extension entry seq {seq} names no extension (no extension_id)"
            )),
        }
    }
    let rows: BTreeMap<i64, _> = facts_of(db, session_extension::Entity::find(), |e| {
        (e.id, extension_facts(e))
    })
    .await?;
    summary.extensions = rows.len() as u64;
    summary.unchecked_archived += compare_all(kind, &logs, rows, archived_upto > 0, summary);
    Ok(())
}

/// Every `roster_student` row against the `roster.imported` entries naming it (`details.rows`).
async fn check_roster(
    db: &impl ConnectionTrait,
    archived_upto: i64,
    summary: &mut RecordsSummary,
) -> Result<(), DbErr> {
    let kind = Kind::RosterStudent;
    let mut logs: BTreeMap<i64, LogFacts> = BTreeMap::new();
    let mut old_imports = false;
    for (seq, action, details) in fold_all(db, kind).await? {
        let Some(rows) = details.get("rows").and_then(Value::as_array) else {
            old_imports = true;
            continue;
        };
        for row in rows {
            match row.get("roster_student_id").and_then(Value::as_i64) {
                Some(id) => logs.entry(id).or_default().apply(kind, seq, &action, row),
                None => summary.problem(format!(
                    "roster entry seq {seq} has a row without roster_student_id"
                )),
            }
        }
    }
    let rows: BTreeMap<i64, _> = facts_of(db, roster_student::Entity::find(), |s| {
        (s.id, roster_facts(s))
    })
    .await?;
    summary.roster_students = rows.len() as u64;
    let uncovered = old_imports || archived_upto > 0;
    summary.roster_not_covered += compare_all(kind, &logs, rows, uncovered, summary);
    Ok(())
}

/// Fold the entries of `kind` (invitations or provisioned repositories) by the row id their subject
/// names.
async fn fold_by_subject(
    db: &impl ConnectionTrait,
    kind: Kind,
    summary: &mut RecordsSummary,
) -> Result<BTreeMap<i64, LogFacts>, DbErr> {
    let mut logs: BTreeMap<i64, LogFacts> = BTreeMap::new();
    use audit_log::Column as C;
    let entries = audit_log::Entity::find()
        .select_only()
        .columns([C::Seq, C::Subject, C::Action, C::Details])
        .filter(C::Action.is_in(kind.actions().iter().copied()))
        .filter(C::Subject.gt(kind.prefix()))
        .filter(C::Subject.lt(kind.prefix_end().as_str()))
        .order_by_asc(C::Seq)
        .into_tuple::<(i64, String, String, String)>()
        .all(db)
        .await?;
    for (seq, subject, action, details) in entries {
        let details = serde_json::from_str(&details).unwrap_or(Value::Null);
        match subject
            .strip_prefix(kind.prefix())
            .and_then(|id| id.parse().ok())
        {
            Some(id) => logs
                .entry(id)
                .or_default()
                .apply(kind, seq, &action, &details),
            None => summary.problem(format!(
                "{} entry seq {seq} names no row ({subject})",
                kind.noun()
            )),
        }
    }
    Ok(logs)
}

/// Every `session_invitation` row and every `provisioned` `provisioned_repository` row against the
/// entries naming it (issue 25); `pending` repositories are intents, counted but not compared.
async fn check_invitations(
    db: &impl ConnectionTrait,
    archived_upto: i64,
    summary: &mut RecordsSummary,
) -> Result<(), DbErr> {
    let logs = fold_by_subject(db, Kind::Invitation, summary).await?;
    let rows: BTreeMap<i64, _> = facts_of(db, session_invitation::Entity::find(), |i| {
        (i.session_id, invitation_facts(i))
    })
    .await?;
    summary.invitations = rows.len() as u64;
    summary.unchecked_archived +=
        compare_all(Kind::Invitation, &logs, rows, archived_upto > 0, summary);
    let mut logs = fold_by_subject(db, Kind::Provision, summary).await?;
    let mut rows = BTreeMap::new();
    for r in provisioned_repository::Entity::find().all(db).await? {
        if r.state == entity::states::ProvisionState::Provisioned {
            rows.insert(r.id, provision_facts(&r));
        } else if !logs.contains_key(&r.id) {
            summary.provisions_pending += 1;
        } else {
            logs.remove(&r.id);
            summary.problem(format!(
                "provisioned repository {}: the row is pending, the log says it was provisioned",
                r.id
            ));
        }
    }
    summary.provisions = rows.len() as u64;
    summary.unchecked_archived +=
        compare_all(Kind::Provision, &logs, rows, archived_upto > 0, summary);
    Ok(())
}

/// An invitation's row as facts.
pub fn invitation_facts(i: &session_invitation::Model) -> Vec<(&'static str, Fact)> {
    let digest = match entries::invitation_row_sha256(i) {
        Ok(d) => Fact::Text(d),
        Err(e) => Fact::Unreadable(format!("(cannot digest: {e})")),
    };
    vec![("row_sha256", digest)]
}

/// A provisioned repository's row as facts.
pub fn provision_facts(r: &provisioned_repository::Model) -> Vec<(&'static str, Fact)> {
    vec![
        ("session_id", Fact::Int(r.session_id)),
        (
            "repository_id",
            r.repository_id.map_or(Fact::Null, Fact::Int),
        ),
        ("github_user_id", Fact::Int(r.github_user_id)),
        (
            "roster_student_id",
            r.roster_student_id.map_or(Fact::Null, Fact::Int),
        ),
        (
            "repository_full_name_sha256",
            name_digest(Some(&r.repository_name)),
        ),
    ]
}

/// `(seq, subject, action, details)` of setting entries.
type EntryRow = (i64, String, String, String);
/// One subject's `(seq, action, details)`, in seq order.
type Group = (String, Vec<(i64, String, String)>);

/// Pass 1: walk the entries of `kind` in (subject, seq) order, a page at a time, fold each subject's
/// entries and compare them with its row (or its absence).
async fn entries_to_rows(
    db: &impl ConnectionTrait,
    kind: Kind,
    summary: &mut RecordsSummary,
) -> Result<(), DbErr> {
    let end = kind.prefix_end();
    let mut after = kind.prefix().to_owned();
    loop {
        let page = setting_entries(kind, audit_log::Column::Subject.gt(after.as_str()))
            .filter(audit_log::Column::Subject.lt(end.as_str()))
            .limit(PAGE)
            .into_tuple::<EntryRow>()
            .all(db)
            .await?;
        let full = page.len() as u64 == PAGE;
        let Some(last) = page.last().map(|e| e.1.clone()) else {
            return Ok(());
        };
        let mut groups = group(page);
        if full && groups.len() > 1 {
            // The last subject may go on in the next page: it starts that page.
            groups.pop();
        } else if full {
            // One subject fills the page: read all of its entries.
            let all = setting_entries(kind, audit_log::Column::Subject.eq(last.as_str()))
                .into_tuple::<EntryRow>()
                .all(db)
                .await?;
            groups = group(all);
        }
        if let Some((subject, _)) = groups.last() {
            after.clone_from(subject);
        }
        check_groups(db, kind, groups, summary).await?;
        if !full {
            return Ok(());
        }
    }
}

fn setting_entries(
    kind: Kind,
    subject: sea_orm::sea_query::SimpleExpr,
) -> sea_orm::Select<audit_log::Entity> {
    use audit_log::Column as C;
    audit_log::Entity::find()
        .select_only()
        .columns([C::Seq, C::Subject, C::Action, C::Details])
        .filter(subject)
        .filter(C::Action.is_in(kind.actions().iter().copied()))
        .order_by_asc(C::Subject)
        .order_by_asc(C::Seq)
}

/// Consecutive entries of one subject together, in order.
fn group(page: Vec<EntryRow>) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for (seq, subject, action, details) in page {
        match groups.last_mut() {
            Some((s, entries)) if *s == subject => entries.push((seq, action, details)),
            _ => groups.push((subject, vec![(seq, action, details)])),
        }
    }
    groups
}

/// Fold each subject's entries, read the rows they name, compare.
async fn check_groups(
    db: &impl ConnectionTrait,
    kind: Kind,
    groups: Vec<Group>,
    summary: &mut RecordsSummary,
) -> Result<(), DbErr> {
    let mut logs: Vec<(i64, LogFacts)> = Vec::with_capacity(groups.len());
    for (subject, entries) in groups {
        let id = subject
            .strip_prefix(kind.prefix())
            .and_then(|s| s.parse::<i64>().ok());
        let Some(id) = id else {
            let seq = entries.first().map_or(0, |e| e.0);
            summary.problem(format!(
                "{} entry seq {seq} has the subject {subject:?}, which names no row",
                kind.noun()
            ));
            continue;
        };
        let mut facts = LogFacts::default();
        for (seq, action, details) in entries {
            let details: Value = serde_json::from_str(&details).unwrap_or(Value::Null);
            facts.apply(kind, seq, &action, &details);
        }
        if kind == Kind::Attempt
            && facts.erased.is_none()
            && !facts.fields.contains_key("repository_full_name_sha256")
        {
            summary.attempts_not_covered += 1;
        }
        logs.push((id, facts));
    }
    let ids: Vec<i64> = logs.iter().map(|(id, _)| *id).collect();
    let mut rows = row_facts(db, kind, &ids).await?;
    let erased = erased_attempts_of_gone_scores(db, kind, &logs, &rows).await?;
    for (id, facts) in &logs {
        let problems = match rows.remove(id) {
            Some(row) => compare(kind, *id, &row, facts),
            None if score_attempt(facts).is_some_and(|a| erased.contains(&a)) => Vec::new(),
            None => gone(kind, *id, facts).into_iter().collect(),
        };
        for p in problems {
            summary.problem(p);
        }
    }
    Ok(())
}

/// The attempt a score's entries name.
fn score_attempt(facts: &LogFacts) -> Option<i64> {
    match facts.fields.get("attempt_id") {
        Some((Fact::Int(id), _)) => Some(*id),
        _ => None,
    }
}

/// Scores go with their attempt when retention erases it: the attempts (of the gone score rows among
/// `logs`) whose `lab_attempt.erased` entry is in the log.
async fn erased_attempts_of_gone_scores(
    db: &impl ConnectionTrait,
    kind: Kind,
    logs: &[(i64, LogFacts)],
    rows: &HashMap<i64, Vec<(&'static str, Fact)>>,
) -> Result<HashSet<i64>, DbErr> {
    if kind != Kind::Score {
        return Ok(HashSet::new());
    }
    let subjects: Vec<String> = logs
        .iter()
        .filter(|(id, _)| !rows.contains_key(id))
        .filter_map(|(_, facts)| score_attempt(facts))
        .map(|a| Kind::Attempt.subject(a))
        .collect();
    if subjects.is_empty() {
        return Ok(HashSet::new());
    }
    Ok(audit_log::Entity::find()
        .select_only()
        .column(audit_log::Column::Subject)
        .filter(audit_log::Column::Subject.is_in(subjects))
        .filter(audit_log::Column::Action.eq(ATTEMPT_ERASED))
        .into_tuple::<String>()
        .all(db)
        .await?
        .iter()
        .filter_map(|s| s.strip_prefix(Kind::Attempt.prefix())?.parse().ok())
        .collect())
}

/// The rows of `ids` (those that exist) as facts.
async fn row_facts(
    db: &impl ConnectionTrait,
    kind: Kind,
    ids: &[i64],
) -> Result<HashMap<i64, Vec<(&'static str, Fact)>>, DbErr> {
    let ids = ids.iter().copied();
    Ok(match kind {
        Kind::Attempt => {
            let attempts = lab_attempt::Entity::find()
                .filter(lab_attempt::Column::Id.is_in(ids))
                .all(db)
                .await?;
            let mut files = attempt_files(db, attempts.iter().map(|a| a.id)).await?;
            attempts
                .iter()
                .map(|a| {
                    let f = files.remove(&a.id).unwrap_or_default();
                    (a.id, attempt_facts(a, &f))
                })
                .collect()
        }
        Kind::Session => {
            let q = lab_session::Entity::find().filter(lab_session::Column::Id.is_in(ids));
            facts_of(db, q, |s| (s.id, session_facts(s))).await?
        }
        Kind::Installation => {
            let q = installation::Entity::find().filter(installation::Column::Id.is_in(ids));
            facts_of(db, q, |i| (i.id, installation_facts(i))).await?
        }
        // Not walked page by page: `check_extensions`, `check_roster`, `check_invitations`.
        Kind::Extension | Kind::RosterStudent | Kind::Invitation | Kind::Provision => {
            HashMap::new()
        }
        Kind::Score => {
            let q =
                lab_attempt_score::Entity::find().filter(lab_attempt_score::Column::Id.is_in(ids));
            facts_of(db, q, |s| (s.id, score_facts(s))).await?
        }
    })
}

/// The rows `q` selects, each as its id and facts (`facts` gives both).
async fn facts_of<E: EntityTrait, C: FromIterator<(i64, Vec<(&'static str, Fact)>)>>(
    db: &impl ConnectionTrait,
    q: sea_orm::Select<E>,
    facts: impl Fn(&E::Model) -> (i64, Vec<(&'static str, Fact)>),
) -> Result<C, DbErr> {
    Ok(q.all(db).await?.iter().map(facts).collect())
}

/// The `(path, status)` rows of these attempts, each list in id (recording) order.
async fn attempt_files(
    db: &impl ConnectionTrait,
    ids: impl Iterator<Item = i64>,
) -> Result<HashMap<i64, Vec<(String, String)>>, DbErr> {
    use lab_attempt_file::Column as C;
    let rows: Vec<(i64, String, String)> = lab_attempt_file::Entity::find()
        .select_only()
        .columns([C::AttemptId, C::Path, C::Status])
        .filter(C::AttemptId.is_in(ids))
        .order_by_asc(C::AttemptId)
        .order_by_asc(C::Id)
        .into_tuple()
        .all(db)
        .await?;
    let mut by_attempt: HashMap<i64, Vec<(String, String)>> = HashMap::new();
    for (attempt, path, status) in rows {
        by_attempt.entry(attempt).or_default().push((path, status));
    }
    Ok(by_attempt)
}

/// The subjects of `page` whose row's `audit_seq` points at a setting entry naming that row.
async fn witnessed(
    db: &impl ConnectionTrait,
    kind: Kind,
    page: &[(i64, Option<i64>)],
) -> Result<HashSet<String>, DbErr> {
    let seqs: Vec<i64> = page.iter().filter_map(|(_, seq)| *seq).collect();
    if seqs.is_empty() {
        return Ok(HashSet::new());
    }
    let entries: HashMap<i64, (String, String)> = audit_log::Entity::find()
        .select_only()
        .columns([
            audit_log::Column::Seq,
            audit_log::Column::Subject,
            audit_log::Column::Action,
        ])
        .filter(audit_log::Column::Seq.is_in(seqs))
        .into_tuple::<(i64, String, String)>()
        .all(db)
        .await?
        .into_iter()
        .map(|(seq, subject, action)| (seq, (subject, action)))
        .collect();
    Ok(page
        .iter()
        .filter_map(|(id, seq)| {
            let (subject, action) = entries.get(&(*seq)?)?;
            (*subject == kind.subject(*id) && kind.actions().contains(&action.as_str()))
                .then(|| subject.clone())
        })
        .collect())
}

/// Pass 2: walk the rows by id, a page at a time, and find those no setting entry names.
async fn rows_to_entries(
    db: &impl ConnectionTrait,
    kind: Kind,
    archived_upto: i64,
    summary: &mut RecordsSummary,
) -> Result<(), DbErr> {
    let mut after = i64::MIN;
    loop {
        let page = row_ids(db, kind, after).await?;
        let Some(&(last, _)) = page.last() else {
            return Ok(());
        };
        after = last;
        match kind {
            Kind::Attempt => summary.attempts += page.len() as u64,
            Kind::Session => summary.sessions += page.len() as u64,
            Kind::Installation => summary.installations += page.len() as u64,
            // Not walked page by page: `check_extensions`, `check_roster`, `check_invitations`.
            Kind::Extension | Kind::RosterStudent | Kind::Invitation | Kind::Provision => {
                return Ok(())
            }
            Kind::Score => summary.scores += page.len() as u64,
        }
        // A row's `audit_seq` names its entry: read by primary key, it is a witness when that entry
        // names the row with a setting action. Only rows without one (an edited or absent `audit_seq`,
        // sessions and installations) are looked up by subject.
        let mut found = witnessed(db, kind, &page).await?;
        let subjects: Vec<String> = page
            .iter()
            .map(|(id, _)| kind.subject(*id))
            .filter(|s| !found.contains(s))
            .collect();
        if !subjects.is_empty() {
            found.extend(
                audit_log::Entity::find()
                    .select_only()
                    .column(audit_log::Column::Subject)
                    .distinct()
                    .filter(audit_log::Column::Subject.is_in(subjects))
                    .filter(audit_log::Column::Action.is_in(kind.actions().iter().copied()))
                    .into_tuple::<String>()
                    .all(db)
                    .await?,
            );
        }
        for (id, audit_seq) in &page {
            if found.contains(&kind.subject(*id)) {
                continue;
            }
            // Entries below archived_upto are in the archive, not the database.
            let maybe_archived = match audit_seq {
                Some(seq) => *seq < archived_upto,
                None => archived_upto > 0,
            };
            if maybe_archived {
                summary.unchecked_archived += 1;
            } else {
                summary.problem(unrecorded(kind, *id));
            }
        }
        if (page.len() as u64) < PAGE {
            return Ok(());
        }
    }
}

/// The next page of row ids after `after` (attempts and scores with their `audit_seq`).
async fn row_ids(
    db: &impl ConnectionTrait,
    kind: Kind,
    after: i64,
) -> Result<Vec<(i64, Option<i64>)>, DbErr> {
    match kind {
        Kind::Attempt => {
            use lab_attempt::Column as C;
            ids_after::<lab_attempt::Entity>(C::Id, Some(C::AuditSeq), after, db).await
        }
        Kind::Session => {
            ids_after::<lab_session::Entity>(lab_session::Column::Id, None, after, db).await
        }
        Kind::Score => {
            use lab_attempt_score::Column as C;
            ids_after::<lab_attempt_score::Entity>(C::Id, Some(C::AuditSeq), after, db).await
        }
        Kind::Installation => {
            ids_after::<installation::Entity>(installation::Column::Id, None, after, db).await
        }
        // Not walked page by page: `check_extensions`, `check_roster`, `check_invitations`.
        Kind::Extension | Kind::RosterStudent | Kind::Invitation | Kind::Provision => {
            Ok(Vec::new())
        }
    }
}

/// A page of `E`'s ids after `after`, in id order, each with its `seq` column when it has one.
async fn ids_after<E: EntityTrait>(
    id: E::Column,
    seq: Option<E::Column>,
    after: i64,
    db: &impl ConnectionTrait,
) -> Result<Vec<(i64, Option<i64>)>, DbErr> {
    let q = E::find()
        .select_only()
        .column(id)
        .filter(id.gt(after))
        .order_by_asc(id)
        .limit(PAGE);
    Ok(match seq {
        Some(seq) => q
            .column(seq)
            .into_tuple::<(i64, i64)>()
            .all(db)
            .await?
            .into_iter()
            .map(|(id, seq)| (id, Some(seq)))
            .collect(),
        None => q
            .into_tuple::<i64>()
            .all(db)
            .await?
            .into_iter()
            .map(|id| (id, None))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(late: bool, pushed_at: &str) -> Value {
        json!({ "attempt_id": 16, "session_id": 1, "late": late, "pushed_at": pushed_at,
                "received_at_us": 1_767_225_600_123_456_i64, "file_count": 2,
                "files_source": "payload", "content_sha256": "aa" })
    }

    #[test]
    fn a_flipped_field_is_reported_in_the_documented_shape() {
        let mut log = LogFacts::default();
        log.apply(
            Kind::Attempt,
            41,
            "lab_attempt.recorded",
            &recorded(true, "2026-01-01T00:00:05Z"),
        );
        let row = [("late", Fact::Bool(false)), ("session_id", Fact::Int(1))];
        assert_eq!(
            compare(Kind::Attempt, 16, &row, &log),
            ["attempt 16: late is false, the log says true (seq 41)"]
        );
    }

    #[test]
    fn instants_compare_by_value_in_every_encoding() {
        let t = DateTime::parse_from_rfc3339("2026-01-01T00:00:05Z")
            .expect("time")
            .with_timezone(&Utc);
        for v in [
            json!("2026-01-01T00:00:05Z"),
            json!("2026-01-01T00:00:05.000000000Z"),
            json!("2026-01-01T01:00:05+01:00"),
            json!(t.timestamp_micros()),
        ] {
            assert_eq!(read(Ty::Instant, &v), Fact::instant(t), "{v}");
        }
        assert_ne!(
            read(Ty::Instant, &json!("2026-01-01T00:00:06Z")),
            Fact::instant(t)
        );
        assert!(matches!(
            read(Ty::Instant, &json!("tomorrow")),
            Fact::Unreadable(_)
        ));
    }

    #[test]
    fn the_newest_entry_that_sets_a_field_wins() {
        let mut log = LogFacts::default();
        log.apply(
            Kind::Attempt,
            4,
            "lab_attempt.recorded",
            &recorded(false, "2026-01-01T00:00:05Z"),
        );
        log.apply(
            Kind::Attempt,
            9,
            "lab_attempt.files_completed",
            &json!({ "attempt_id": 16, "file_count": 5, "files_source": "api", "content_sha256": "bb" }),
        );
        assert_eq!(log.fields["file_count"], (Fact::Int(5), 9));
        assert_eq!(log.fields["content_sha256"], (Fact::Text("bb".into()), 9));
        assert_eq!(log.fields["late"], (Fact::Bool(false), 4));
        // A later session edit (issue 9) overrides the deadline, in another encoding.
        let mut s = LogFacts::default();
        s.apply(
            Kind::Session,
            1,
            "lab_session.created",
            &json!({ "session_id": 3, "closes_at": "2026-02-01T00:00:00+00:00" }),
        );
        s.apply(
            Kind::Session,
            7,
            Action::LabSessionEdited.as_str(),
            &json!({ "session_id": 3, "closes_at_us": 1_770_000_000_000_000_i64, "note": null }),
        );
        assert_eq!(
            s.fields["closes_at"],
            (Fact::Instant(1_770_000_000_000_000), 7)
        );
        assert_eq!(s.fields["archived_at"], (Fact::Null, 1));
    }

    #[test]
    fn an_erase_explains_a_missing_row_and_forbids_a_present_one() {
        let mut log = LogFacts::default();
        log.apply(
            Kind::Attempt,
            4,
            "lab_attempt.recorded",
            &recorded(false, "2026-01-01T00:00:05Z"),
        );
        assert_eq!(
            gone(Kind::Attempt, 16, &log).as_deref(),
            Some("attempt 16: the row is gone, and the log has no erase entry for it (its newest entry is seq 4)")
        );
        log.apply(
            Kind::Attempt,
            30,
            ATTEMPT_ERASED,
            &json!({ "attempt_id": 16 }),
        );
        assert_eq!(gone(Kind::Attempt, 16, &log), None);
        assert_eq!(
            compare(Kind::Attempt, 16, &[("late", Fact::Bool(false))], &log),
            ["attempt 16: the row exists, but the log says it was erased (seq 30)"]
        );
    }

    #[test]
    fn nulls_set_nothing_and_unset_fields_are_not_compared() {
        let mut log = LogFacts::default();
        log.apply(
            Kind::Installation,
            2,
            "installation.created",
            &json!({ "installation_id": 5, "account_id": 9, "repository_selection": "all" }),
        );
        log.apply(
            Kind::Installation,
            3,
            "installation.suspended",
            &json!({ "installation_id": 5, "account_id": 9, "repository_selection": null }),
        );
        assert_eq!(
            log.fields["repository_selection"],
            (Fact::Text("all".into()), 2)
        );
        let row = [
            ("repository_selection", Fact::Text("all".into())),
            ("other", Fact::Int(1)),
        ];
        assert!(compare(Kind::Installation, 5, &row, &log).is_empty());
    }

    #[test]
    fn the_file_digest_matches_the_recording_path() {
        use crate::domain::files::{ChangedFile, FileStatus};
        let files = vec![
            ChangedFile {
                path: "b.txt".into(),
                status: FileStatus::Added,
            },
            ChangedFile {
                path: "a.txt".into(),
                status: FileStatus::Removed,
            },
        ];
        let recorded =
            content_digest(&json!({ "ref": "refs/heads/main", "files": files })).expect("digest");
        let rows = [
            ("b.txt".to_owned(), "added".to_owned()),
            ("a.txt".to_owned(), "removed".to_owned()),
        ];
        assert_eq!(
            attempt_digest("refs/heads/main", &rows),
            Fact::Text(recorded)
        );
        let renamed = [("c.txt".to_owned(), "added".to_owned()), rows[1].clone()];
        assert_ne!(
            attempt_digest("refs/heads/main", &renamed),
            attempt_digest("refs/heads/main", &rows)
        );
    }

    #[test]
    fn instants_print_as_rfc3339() {
        assert_eq!(
            Fact::Instant(1_767_225_605_000_000).to_string(),
            "2026-01-01T00:00:05Z"
        );
        assert_eq!(
            Fact::Instant(1_767_225_605_000_001).to_string(),
            "2026-01-01T00:00:05.000001Z"
        );
    }
}
