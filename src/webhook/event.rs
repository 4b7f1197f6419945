//! Pure parsing of webhook payloads into typed events; `None` means "nothing to record".

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::domain::files::{ChangedFile, FileFold};

/// GitHub caps `commits` at this many entries; a push with exactly this many may hold more.
pub const MAX_PAYLOAD_COMMITS: usize = 2048;
/// GitHub caps one commit's `added`+`removed`+`modified` at this many paths.
pub const MAX_PAYLOAD_COMMIT_FILES: usize = 3000;

/// A payload that cannot be what its event says.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The parser's message is part of this one, so it is not also a source (printed once).
    #[error("payload is not valid JSON: {0}")]
    Json(serde_json::Error),
    #[error("invalid {field}: {value:?}")]
    Invalid { field: &'static str, value: String },
}

impl From<serde_json::Error> for EventError {
    fn from(e: serde_json::Error) -> Self {
        Self::Json(e)
    }
}

/// The payload with every `\u0000` escape (a NUL character in a JSON string) turned into `\ufffd`, the
/// replacement character, so that NUL never reaches a text column: PostgreSQL cannot store it in `text`,
/// SQLite can, and both must record the same thing. The stored payload keeps the bytes GitHub signed.
pub fn without_nul(payload: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    const NUL: &[u8] = b"\\u0000";
    if !payload.windows(NUL.len()).any(|w| w == NUL) {
        return std::borrow::Cow::Borrowed(payload);
    }
    let mut out = Vec::with_capacity(payload.len());
    let mut i = 0;
    while i < payload.len() {
        if payload[i] == b'\\' {
            // An escape: `\u0000` is a NUL; any other (`\\`, `\"`, `\u00e9`) is copied whole, so an
            // escaped backslash followed by `u0000` stays text.
            if payload[i..].starts_with(NUL) {
                out.extend_from_slice(b"\\ufffd");
                i += NUL.len();
            } else {
                let end = (i + 2).min(payload.len());
                out.extend_from_slice(&payload[i..end]);
                i = end;
            }
        } else {
            out.push(payload[i]);
            i += 1;
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The few fields every event may carry, read at accept time.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    pub action: Option<String>,
    pub installation: Option<InstallationRef>,
}

/// `installation: {id}`.
#[derive(Debug, Deserialize, Clone)]
pub struct InstallationRef {
    pub id: i64,
}

/// An account (`sender`, `organization`, `repository.owner`).
#[derive(Debug, Deserialize, Clone)]
pub struct Account {
    pub id: Option<i64>,
    pub login: Option<String>,
    pub name: Option<String>,
}

/// Unix seconds in push payloads, ISO 8601 elsewhere.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
enum Timestamp {
    Unix(i64),
    Iso(DateTime<Utc>),
}

impl Timestamp {
    fn to_utc(&self) -> Option<DateTime<Utc>> {
        match self {
            Self::Unix(s) => DateTime::from_timestamp(*s, 0),
            Self::Iso(t) => Some(*t),
        }
    }
}

/// A payload's `repository` (push and check_run payloads alike).
#[derive(Debug, Deserialize)]
pub(super) struct RawRepository {
    pub(super) id: i64,
    pub(super) name: String,
    pub(super) full_name: String,
    pub(super) owner: Account,
    pub(super) default_branch: Option<String>,
}

/// A push payload's `repository`: [`RawRepository`] and when it was pushed.
#[derive(Debug, Deserialize)]
struct RawPushRepository {
    #[serde(flatten)]
    repo: RawRepository,
    pushed_at: Option<Timestamp>,
}

#[derive(Debug, Deserialize)]
struct RawCommit {
    id: String,
    #[serde(default)]
    added: Vec<String>,
    #[serde(default)]
    removed: Vec<String>,
    #[serde(default)]
    modified: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct RawPusher {
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawPush {
    #[serde(rename = "ref")]
    git_ref: String,
    before: String,
    after: String,
    #[serde(default)]
    created: bool,
    #[serde(default)]
    deleted: bool,
    #[serde(default)]
    forced: bool,
    #[serde(default)]
    commits: Vec<RawCommit>,
    repository: RawPushRepository,
    pusher: Option<RawPusher>,
    sender: Option<Account>,
    installation: Option<InstallationRef>,
    organization: Option<Account>,
}

/// A commit SHA: 40 (SHA-1) or 64 (SHA-256) lower-case hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CommitSha(String);

impl CommitSha {
    /// Check and normalise.
    pub fn parse(field: &'static str, s: &str) -> Result<Self, EventError> {
        let ok = matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit());
        if ok {
            Ok(Self(s.to_ascii_lowercase()))
        } else {
            Err(EventError::Invalid {
                field,
                value: s.chars().take(80).collect(),
            })
        }
    }

    /// All zeros: the ref did not exist (before) or no longer exists (after).
    pub fn is_zero(&self) -> bool {
        self.0.bytes().all(|b| b == b'0')
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One commit of a push, as listed in the payload.
#[derive(Debug, Clone)]
pub struct PushCommit {
    pub id: String,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub modified: Vec<String>,
}

impl PushCommit {
    /// GitHub may have cut or left out this commit's file lists.
    pub fn files_truncated(&self) -> bool {
        let n = self.added.len() + self.removed.len() + self.modified.len();
        n >= MAX_PAYLOAD_COMMIT_FILES || n == 0
    }
}

/// A push event, typed.
#[derive(Debug, Clone)]
pub struct Push {
    pub git_ref: String,
    pub before: CommitSha,
    pub after: CommitSha,
    pub created: bool,
    pub deleted: bool,
    pub forced: bool,
    pub commits: Vec<PushCommit>,
    pub repository_id: i64,
    pub repository_name: String,
    pub repository_full_name: String,
    /// Organisation login (or the owner's login for a personal account), as sent.
    pub owner_login: String,
    pub default_branch: Option<String>,
    /// `repository.pushed_at`; `None` only if GitHub left it out.
    pub pushed_at: Option<DateTime<Utc>>,
    pub pusher_login: Option<String>,
    pub sender_id: Option<i64>,
    /// `None` when the payload has no `installation` (a repository or organisation hook, not the App's):
    /// recorded all the same, from the payload alone.
    pub installation_id: Option<i64>,
}

/// The payload's file lists, folded, and whether GitHub may have truncated them.
#[derive(Debug, Clone)]
pub struct PayloadFiles {
    pub files: Vec<ChangedFile>,
    /// True when the list may differ from `git diff --no-renames before after`: GitHub capped the commit
    /// list or a commit's file lists, the lists cannot give a path's net status (a change undone, a
    /// merge: [`FileFold::is_exact`]), or a force push dropped commits the payload does not list.
    pub truncated: bool,
}

impl Push {
    /// Parse a push payload.
    pub fn parse(payload: &[u8]) -> Result<Self, EventError> {
        let raw: RawPush = serde_json::from_slice(&without_nul(payload))?;
        let owner_login = raw
            .organization
            .as_ref()
            .and_then(|o| o.login.clone())
            .or_else(|| raw.repository.repo.owner.login.clone())
            .or_else(|| raw.repository.repo.owner.name.clone())
            .ok_or(EventError::Invalid {
                field: "repository.owner",
                value: "no login".into(),
            })?;
        Ok(Self {
            before: CommitSha::parse("before", &raw.before)?,
            after: CommitSha::parse("after", &raw.after)?,
            git_ref: raw.git_ref,
            created: raw.created,
            deleted: raw.deleted,
            forced: raw.forced,
            commits: raw
                .commits
                .into_iter()
                .map(|c| PushCommit {
                    id: c.id,
                    added: c.added,
                    removed: c.removed,
                    modified: c.modified,
                })
                .collect(),
            repository_id: raw.repository.repo.id,
            repository_name: raw.repository.repo.name,
            repository_full_name: raw.repository.repo.full_name,
            owner_login,
            default_branch: raw.repository.repo.default_branch,
            pushed_at: raw.repository.pushed_at.and_then(|t| t.to_utc()),
            // In push payloads `pusher.name` is the GitHub login; `sender.login` is the same user.
            pusher_login: raw
                .pusher
                .and_then(|p| p.name)
                .or_else(|| raw.sender.as_ref().and_then(|s| s.login.clone())),
            sender_id: raw.sender.and_then(|s| s.id),
            installation_id: raw.installation.map(|i| i.id),
        })
    }

    /// The branch name, or `None` for tags and other refs.
    pub fn branch(&self) -> Option<&str> {
        self.git_ref.strip_prefix("refs/heads/")
    }

    /// Why this push records nothing, before any session is looked up.
    pub fn ignore_reason(&self) -> Option<&'static str> {
        if self.deleted || self.after.is_zero() {
            Some("ref deleted")
        } else if self.git_ref.starts_with("refs/tags/") {
            Some("tag push")
        } else if self.branch().is_none() {
            Some("not a branch ref")
        } else {
            None
        }
    }

    /// Fold the payload's commits, oldest first (GitHub lists them that way).
    pub fn payload_files(&self) -> PayloadFiles {
        let mut fold = FileFold::default();
        // No commits on an existing branch (a force push back to an older commit): the payload
        // cannot say which files changed.
        let mut truncated = self.commits.len() >= MAX_PAYLOAD_COMMITS
            || (self.commits.is_empty() && !self.created && self.before != self.after);
        for c in &self.commits {
            truncated |= c.files_truncated();
            fold.apply_commit(&c.added, &c.removed, &c.modified);
        }
        truncated |= !fold.is_exact() || (self.forced && !self.created);
        PayloadFiles {
            files: fold.into_files(),
            truncated,
        }
    }
}

/// What happened to an installation (`installation` and `installation_repositories` events).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallationChange {
    Created,
    Deleted,
    Suspended,
    Unsuspended,
    PermissionsAccepted,
    RepositoriesAdded,
    RepositoriesRemoved,
}

impl InstallationChange {
    /// Changes whether the installation is suspended (deletion is final and needs no check).
    pub fn changes_state(self) -> bool {
        matches!(self, Self::Created | Self::Suspended | Self::Unsuspended)
    }
}

/// A repository named in an installation event.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct InstalledRepository {
    pub id: i64,
    pub full_name: String,
}

#[derive(Debug, Deserialize)]
struct RawInstallation {
    id: i64,
    account: Account,
    #[serde(default)]
    target_type: Option<String>,
    repository_selection: Option<String>,
    suspended_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
struct RawInstallationEvent {
    action: String,
    installation: RawInstallation,
    #[serde(default)]
    repositories: Option<Vec<InstalledRepository>>,
    #[serde(default)]
    repositories_added: Vec<InstalledRepository>,
    #[serde(default)]
    repositories_removed: Vec<InstalledRepository>,
    repository_selection: Option<String>,
}

/// An installation event, typed.
#[derive(Debug, Clone)]
pub struct InstallationEvent {
    pub change: InstallationChange,
    pub installation_id: i64,
    pub account_login: String,
    pub account_id: i64,
    /// `User` or `Organization`.
    pub account_type: String,
    pub repository_selection: Option<String>,
    pub suspended_at: Option<DateTime<Utc>>,
    /// Repositories the installation has now (`created`), or gained (`added`).
    pub repositories: Vec<InstalledRepository>,
    /// Repositories it lost (`removed`).
    pub removed: Vec<InstalledRepository>,
}

impl InstallationEvent {
    /// Parse an `installation` or `installation_repositories` payload; `None` for actions that change
    /// nothing labtrail keeps.
    pub fn parse(event: &str, payload: &[u8]) -> Result<Option<Self>, EventError> {
        let raw: RawInstallationEvent = serde_json::from_slice(&without_nul(payload))?;
        let change = match (event, raw.action.as_str()) {
            ("installation", "created") => InstallationChange::Created,
            ("installation", "deleted") => InstallationChange::Deleted,
            ("installation", "suspend") => InstallationChange::Suspended,
            ("installation", "unsuspend") => InstallationChange::Unsuspended,
            ("installation", "new_permissions_accepted") => InstallationChange::PermissionsAccepted,
            ("installation_repositories", "added") => InstallationChange::RepositoriesAdded,
            ("installation_repositories", "removed") => InstallationChange::RepositoriesRemoved,
            _ => return Ok(None),
        };
        let i = raw.installation;
        let account_login = i.account.login.clone().ok_or(EventError::Invalid {
            field: "installation.account.login",
            value: "missing".into(),
        })?;
        let repositories = match change {
            InstallationChange::RepositoriesAdded => raw.repositories_added,
            _ => raw.repositories.unwrap_or_default(),
        };
        Ok(Some(Self {
            change,
            installation_id: i.id,
            account_login,
            account_id: i.account.id.unwrap_or_default(),
            account_type: i.target_type.unwrap_or_else(|| "User".into()),
            repository_selection: raw.repository_selection.or(i.repository_selection),
            suspended_at: i.suspended_at,
            repositories,
            removed: raw.repositories_removed,
        }))
    }
}
