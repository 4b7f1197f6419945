//! Lab sessions: creation, edits, per-student extensions, archiving and unarchiving (each audited in
//! its transaction), listing, and lookup by organisation.

use chrono::{DateTime, Utc};
use entity::lab_session::{self, Column, Entity};
use entity::{roster_student, session_extension};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};

use crate::audit::{self, entries, AuditError};
use crate::domain::session::{overlap, parse_timezone, repo_matcher, BranchPolicy, RuleError};

/// Why a session could not be created.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("invalid organisation login {0:?}")]
    Org(String),
    #[error("invalid slug {0:?}: use lower-case letters, digits, '.', '_' and '-' (at most 64)")]
    Slug(String),
    #[error("the title must not be empty")]
    Title,
    #[error(transparent)]
    Rule(#[from] RuleError),
    #[error("the session must close after it opens")]
    Window,
    #[error("organisation {org} already has a session {slug:?}")]
    Exists { org: String, slug: String },
    #[error("organisation {org} has no session {slug:?}")]
    NotFound { org: String, slug: String },
    #[error("no session {0:?}")]
    NoSlug(String),
    #[error("several organisations have a session {0:?}: pass --org")]
    Ambiguous(String),
    #[error("session {slug:?} of {org} was archived already")]
    Archived { org: String, slug: String },
    #[error("session {slug:?} of {org} is not archived")]
    NotArchived { org: String, slug: String },
    #[error(
        "the rules overlap those of active session {other:?} of {org} (a push to a repository named \
         {example:?} could match both): change the pattern or branches, archive {other:?}, or pass \
         --allow-overlap (the more specific pattern, then the later opening, takes the push)"
    )]
    Overlap {
        org: String,
        other: String,
        example: String,
    },
    #[error("invalid score check {0:?}: give the name of a check run (1 to 255 characters)")]
    ScoreCheck(String),
    #[error("nothing to change: give --title, --opens, --closes, --timezone or --score-check")]
    NoChange,
    #[error("invalid student {0:?}: give a GitHub login or a roster identifier")]
    Student(String),
    /// With a roster: a name neither on it nor among the session's pushers (a typo?).
    #[error(
        "{student:?} is neither on the roster of {org} nor has pushed to session {slug:?}{hint}; nothing was \
         changed (pass --force to extend it anyway)"
    )]
    UnknownStudent {
        org: String,
        slug: String,
        student: String,
        /// `: did you mean x?` or empty.
        hint: String,
    },
    /// An extension that would end before the session's own deadline.
    #[error(
        "the extension ({closes}) would end before the session's deadline ({session_closes}); pass --shorten \
         to give this student an earlier deadline"
    )]
    Shortens {
        closes: String,
        session_closes: String,
    },
    /// `--remove` of a student without an extension.
    #[error("{student:?} has no extension in session {slug:?}{hint}")]
    NoExtension {
        slug: String,
        student: String,
        hint: String,
    },
    #[error(transparent)]
    Audit(#[from] AuditError),
}

audit::db_error_via_audit!(SessionError);

/// The score check of a session created without `--score-check`: the check run GitHub Classroom's
/// autograding workflows (`education/autograding-grading-reporter`) report points under.
pub const DEFAULT_SCORE_CHECK: &str = "Autograding Tests";

/// A check run name as a score check: trimmed, not empty, at most 255 characters (GitHub's limit).
fn score_check_name(name: &str) -> Result<String, SessionError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 255 {
        return Err(SessionError::ScoreCheck(name.to_owned()));
    }
    Ok(name.to_owned())
}

/// A session to create, as given by an instructor.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub org: String,
    pub slug: String,
    pub title: String,
    pub repo_pattern: String,
    pub branch_policy: String,
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
    /// IANA time zone name local times are shown in.
    pub timezone: String,
    /// The check run whose `Points X/Y` is a score (`None`: [`DEFAULT_SCORE_CHECK`]).
    pub score_check: Option<String>,
    /// Create it even when its rules overlap another active session's.
    pub allow_overlap: bool,
}

fn valid_login(s: &str) -> bool {
    !s.is_empty() && s.len() <= 39 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn valid_slug(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.len() <= 64
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}

impl NewSession {
    fn validate(&self) -> Result<(), SessionError> {
        if !valid_login(&self.org) {
            return Err(SessionError::Org(self.org.clone()));
        }
        if !valid_slug(&self.slug) {
            return Err(SessionError::Slug(self.slug.clone()));
        }
        if self.title.trim().is_empty() {
            return Err(SessionError::Title);
        }
        repo_matcher(&self.repo_pattern)?;
        BranchPolicy::parse(&self.branch_policy)?;
        parse_timezone(&self.timezone)?;
        if let Some(name) = &self.score_check {
            score_check_name(name)?;
        }
        if self.closes_at <= self.opens_at {
            return Err(SessionError::Window);
        }
        Ok(())
    }
}

/// Create a session and its `lab_session.created` audit entry in one transaction.
pub async fn create(
    db: &impl TransactionTrait,
    origin: &str,
    actor: &str,
    new: NewSession,
) -> Result<lab_session::Model, SessionError> {
    new.validate()?;
    let org = new.org.to_ascii_lowercase();
    audit::write(db, origin, async |txn, log| {
        let exists = Entity::find()
            .filter(Column::Org.eq(&org))
            .filter(Column::Slug.eq(&new.slug))
            .one(txn)
            .await?;
        if exists.is_some() {
            return Err(SessionError::Exists {
                org,
                slug: new.slug,
            });
        }
        let session = lab_session::ActiveModel {
            org: Set(org),
            slug: Set(new.slug),
            title: Set(new.title.trim().to_owned()),
            repo_pattern: Set(new.repo_pattern.trim().to_owned()),
            branch_policy: Set(new.branch_policy.trim().to_owned()),
            opens_at: Set(new.opens_at),
            closes_at: Set(new.closes_at),
            archived_at: Set(None),
            created_at: Set(Utc::now()),
            timezone: Set(parse_timezone(&new.timezone)?.name().to_owned()),
            score_check: Set(match &new.score_check {
                Some(name) => score_check_name(name)?,
                None => DEFAULT_SCORE_CHECK.to_owned(),
            }),
            ..Default::default()
        }
        .insert(txn)
        .await?;
        if !new.allow_overlap {
            refuse_overlap(txn, &session).await?;
        }
        log.append(entries::session_created(actor, &session)?)
            .await?;
        Ok(session)
    })
    .await
}

/// Archive a session (it matches no push any more) and audit that, in one transaction.
pub async fn archive(
    db: &impl TransactionTrait,
    origin: &str,
    actor: &str,
    org: &str,
    slug: &str,
) -> Result<lab_session::Model, SessionError> {
    let org = org.to_ascii_lowercase();
    audit::write(db, origin, async |txn, log| {
        let Some(session) = Entity::find()
            .filter(Column::Org.eq(&org))
            .filter(Column::Slug.eq(slug))
            .one(txn)
            .await?
        else {
            return Err(SessionError::NotFound {
                org,
                slug: slug.to_owned(),
            });
        };
        if session.archived_at.is_some() {
            return Err(SessionError::Archived {
                org,
                slug: slug.to_owned(),
            });
        }
        let now = Utc::now();
        // The entry first: the database guard lets `archived_at` change only under it.
        log.append(entries::session_archived(actor, session.id, now)?)
            .await?;
        let mut active: lab_session::ActiveModel = session.into();
        active.archived_at = Set(Some(now));
        let session = active.update(txn).await?;
        Ok(session)
    })
    .await
}

/// Sessions, optionally of one organisation, by org then slug.
pub async fn list(
    db: &impl ConnectionTrait,
    org: Option<&str>,
) -> Result<Vec<lab_session::Model>, DbErr> {
    within(Entity::find(), org)
        .order_by_asc(Column::Org)
        .order_by_asc(Column::Slug)
        .all(db)
        .await
}

/// Unarchived sessions of an organisation (login compared case-insensitively).
pub async fn active_for_org(
    db: &impl ConnectionTrait,
    org: &str,
) -> Result<Vec<lab_session::Model>, DbErr> {
    Entity::find()
        .filter(Column::Org.eq(org.to_ascii_lowercase()))
        .filter(Column::ArchivedAt.is_null())
        .all(db)
        .await
}

/// Every session named `slug`, within `org` when given.
pub async fn with_slug(
    db: &impl ConnectionTrait,
    slug: &str,
    org: Option<&str>,
) -> Result<Vec<lab_session::Model>, DbErr> {
    within(Entity::find().filter(Column::Slug.eq(slug)), org)
        .all(db)
        .await
}

/// `q` narrowed to organisation `org` (login compared case-insensitively), when given.
fn within(q: sea_orm::Select<Entity>, org: Option<&str>) -> sea_orm::Select<Entity> {
    match org {
        Some(org) => q.filter(Column::Org.eq(org.to_ascii_lowercase())),
        None => q,
    }
}

/// The organisations that have lab sessions, sorted.
pub async fn orgs(db: &impl ConnectionTrait) -> Result<Vec<String>, DbErr> {
    Entity::find()
        .select_only()
        .column(Column::Org)
        .distinct()
        .order_by_asc(Column::Org)
        .into_tuple()
        .all(db)
        .await
}

/// The one session `slug` names, within `org` when given.
pub async fn find_by_slug(
    db: &impl ConnectionTrait,
    slug: &str,
    org: Option<&str>,
) -> Result<lab_session::Model, SessionError> {
    let mut found = within(Entity::find().filter(Column::Slug.eq(slug)), org)
        .limit(2)
        .all(db)
        .await?;
    match found.len() {
        0 => Err(SessionError::NoSlug(slug.to_owned())),
        1 => Ok(found.remove(0)),
        _ => Err(SessionError::Ambiguous(slug.to_owned())),
    }
}

/// Refuse when `session`'s rules overlap another active session's of its organisation (docs/design.md
/// §4: overlap rule), naming the first such session by slug.
async fn refuse_overlap(
    db: &impl ConnectionTrait,
    session: &lab_session::Model,
) -> Result<(), SessionError> {
    for other in active_for_org(db, &session.org).await? {
        if other.id == session.id {
            continue;
        }
        if let Some(example) = overlap(session, &other) {
            return Err(SessionError::Overlap {
                org: session.org.clone(),
                other: other.slug,
                example,
            });
        }
    }
    Ok(())
}

/// What `session edit` changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct SessionEdit {
    pub title: Option<String>,
    pub opens_at: Option<DateTime<Utc>>,
    pub closes_at: Option<DateTime<Utc>>,
    pub timezone: Option<String>,
    /// The check run whose `Points X/Y` is a score.
    pub score_check: Option<String>,
    /// Keep an active session whose rules overlap another's.
    pub allow_overlap: bool,
}

/// Change a session's title, window or time zone, audited as `lab_session.edited` with the changed
/// fields' new values in one transaction. Recorded attempts keep their recorded `late` and `early`;
/// read-time lateness follows the new deadline.
pub async fn edit(
    db: &impl TransactionTrait,
    origin: &str,
    actor: &str,
    slug: &str,
    org: Option<&str>,
    change: SessionEdit,
) -> Result<lab_session::Model, SessionError> {
    let title = change.title.as_deref().map(str::trim);
    if title.is_some_and(str::is_empty) {
        return Err(SessionError::Title);
    }
    let timezone = change
        .timezone
        .as_deref()
        .map(parse_timezone)
        .transpose()?
        .map(|tz| tz.name().to_owned());
    let score_check = change
        .score_check
        .as_deref()
        .map(score_check_name)
        .transpose()?;
    audit::write(db, origin, async |txn, log| {
        let old = find_by_slug(txn, slug, org).await?;
        let mut new = old.clone();
        if let Some(t) = title {
            t.clone_into(&mut new.title);
        }
        new.opens_at = change.opens_at.unwrap_or(old.opens_at);
        new.closes_at = change.closes_at.unwrap_or(old.closes_at);
        if let Some(tz) = timezone {
            new.timezone = tz;
        }
        if let Some(name) = &score_check {
            name.clone_into(&mut new.score_check);
        }
        if new == old {
            return Err(SessionError::NoChange);
        }
        if new.closes_at <= new.opens_at {
            return Err(SessionError::Window);
        }
        if old.archived_at.is_none() && !change.allow_overlap {
            refuse_overlap(txn, &old).await?;
        }
        // The entry first: the database guard lets these columns change only under it.
        log.append(entries::session_edited(actor, &old, &new)?)
            .await?;
        let mut active: lab_session::ActiveModel = old.clone().into();
        if new.title != old.title {
            active.title = Set(new.title);
        }
        if new.opens_at != old.opens_at {
            active.opens_at = Set(new.opens_at);
        }
        if new.closes_at != old.closes_at {
            active.closes_at = Set(new.closes_at);
        }
        if new.timezone != old.timezone {
            active.timezone = Set(new.timezone);
        }
        if new.score_check != old.score_check {
            active.score_check = Set(new.score_check);
        }
        let before = Deadlines::load(txn, &old).await?;
        let updated = active.update(txn).await?;
        let after = Deadlines::load(txn, &updated).await?;
        crate::db::check_runs::queue_changed_verdicts(txn, updated.id, &before, &after).await?;
        Ok(updated)
    })
    .await
}

/// A student's extension as `session extend` set it.
#[derive(Debug, Clone)]
pub struct Extended {
    pub session: lab_session::Model,
    pub extension: session_extension::Model,
    /// The roster student the name matched, if any.
    pub roster_student: Option<roster_student::Model>,
}

/// Set (or move) `student`'s own deadline in a session, audited as `lab_session.extended` in one
/// transaction. With a roster, a name neither on it nor among the session's pushers is refused with the
/// closest known one (unless `force`); a deadline before the session's needs `shorten`. `student` is a GitHub login or a roster identifier (stored lower-case); the audit entry
/// names the roster student by id when the name matches one, else holds a digest of the name, never the
/// name itself.
pub async fn extend(
    db: &impl TransactionTrait,
    origin: &str,
    actor: &str,
    slug: &str,
    org: Option<&str>,
    student: &str,
    deadline: NewDeadline,
) -> Result<Extended, SessionError> {
    let name = student_name(student)?;
    let NewDeadline {
        closes_at,
        force,
        shorten,
    } = deadline;
    audit::write(db, origin, async |txn, log| {
        let session = find_by_slug(txn, slug, org).await?;
        if closes_at < session.closes_at && !shorten {
            let local = |t| crate::domain::session::local_time(t, &session.timezone);
            return Err(SessionError::Shortens {
                closes: local(closes_at),
                session_closes: local(session.closes_at),
            });
        }
        let roster = crate::db::roster::list(txn, &session.org).await?;
        let roster_student = roster.iter().find(|s| {
            s.identifier.to_lowercase() == name
                || (!s.github_username.is_empty() && s.github_username.to_lowercase() == name)
        });
        let roster_student = roster_student.cloned();
        if roster_student.is_none() && !roster.is_empty() && !force {
            let pushers = pusher_logins(txn, session.id).await?;
            if !pushers.iter().any(|p| p.to_lowercase() == name) {
                let known = roster
                    .iter()
                    .flat_map(|s| [s.github_username.as_str(), s.identifier.as_str()])
                    .chain(pushers.iter().map(String::as_str));
                return Err(SessionError::UnknownStudent {
                    org: session.org.clone(),
                    slug: session.slug.clone(),
                    student: student.trim().to_owned(),
                    hint: crate::domain::suggest::closest(&name, known)
                        .map(|c| format!(": did you mean {c}?"))
                        .unwrap_or_default(),
                });
            }
        }
        let now = Utc::now();
        let before = Deadlines::load(txn, &session).await?;
        let existing = session_extension::Entity::find()
            .filter(session_extension::Column::SessionId.eq(session.id))
            .filter(session_extension::Column::Student.eq(&name))
            .one(txn)
            .await?;
        let new_id = match existing {
            Some(_) => None,
            // The entry names the row's id, and goes first: reserve the id.
            None => crate::db::reserve_ids(txn, crate::db::IdTable::SessionExtension, 1)
                .await?
                .first()
                .copied(),
        };
        let extension = match (&existing, new_id) {
            (Some(e), _) => session_extension::Model {
                closes_at,
                updated_at: now,
                ..e.clone()
            },
            (None, id) => session_extension::Model {
                id: id.ok_or_else(|| DbErr::Custom("no id reserved".into()))?,
                session_id: session.id,
                student: name.clone(),
                closes_at,
                created_at: now,
                updated_at: now,
            },
        };
        // The entry first: the database guard lets the row change only under it.
        log.append(entries::session_extended(
            actor,
            &extension,
            roster_student.as_ref(),
        )?)
        .await?;
        let extension = match existing {
            Some(e) => {
                let mut e: session_extension::ActiveModel = e.into();
                e.closes_at = Set(closes_at);
                e.updated_at = Set(now);
                e.update(txn).await?
            }
            None => {
                session_extension::ActiveModel {
                    id: Set(extension.id),
                    session_id: Set(extension.session_id),
                    student: Set(extension.student),
                    closes_at: Set(extension.closes_at),
                    created_at: Set(extension.created_at),
                    updated_at: Set(extension.updated_at),
                }
                .insert(txn)
                .await?
            }
        };
        let after = Deadlines::load(txn, &session).await?;
        crate::db::check_runs::queue_changed_verdicts(txn, session.id, &before, &after).await?;
        Ok(Extended {
            session,
            extension,
            roster_student,
        })
    })
    .await
}

/// A student's new deadline, and what `session extend` lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewDeadline {
    pub closes_at: DateTime<Utc>,
    /// Extend a name that is neither on the roster nor among the session's pushers.
    pub force: bool,
    /// Allow a deadline earlier than the session's.
    pub shorten: bool,
}

/// A student's name as an extension stores it (trimmed, lower-case), or why it cannot be one.
fn student_name(student: &str) -> Result<String, SessionError> {
    let name = student.trim().to_lowercase();
    if name.is_empty() || name.len() > 320 || name.chars().any(char::is_control) {
        return Err(SessionError::Student(student.to_owned()));
    }
    Ok(name)
}

/// The distinct pusher logins of a session's attempts.
pub async fn pusher_logins(
    db: &impl ConnectionTrait,
    session_id: i64,
) -> Result<Vec<String>, DbErr> {
    use entity::lab_attempt::{Column as A, Entity as Attempts};
    let logins: Vec<Option<String>> = Attempts::find()
        .select_only()
        .column(A::PusherLogin)
        .filter(A::SessionId.eq(session_id))
        .distinct()
        .into_tuple()
        .all(db)
        .await?;
    Ok(logins.into_iter().flatten().collect())
}

/// An extension as `session extend --remove` removed it.
#[derive(Debug, Clone)]
pub struct Unextended {
    pub session: lab_session::Model,
    pub extension: session_extension::Model,
}

/// Remove `student`'s own deadline in a session (the session's applies again), audited as
/// `lab_session.extension_removed` in one transaction, the entry first.
pub async fn remove_extension(
    db: &impl TransactionTrait,
    origin: &str,
    actor: &str,
    slug: &str,
    org: Option<&str>,
    student: &str,
) -> Result<Unextended, SessionError> {
    let name = student_name(student)?;
    audit::write(db, origin, async |txn, log| {
        let session = find_by_slug(txn, slug, org).await?;
        let all = extensions(txn, session.id).await?;
        let Some(extension) = all.iter().find(|e| e.student == name).cloned() else {
            return Err(SessionError::NoExtension {
                slug: session.slug,
                student: student.trim().to_owned(),
                hint: crate::domain::suggest::closest(
                    &name,
                    all.iter().map(|e| e.student.as_str()),
                )
                .map(|c| format!(": did you mean {c}?"))
                .unwrap_or_default(),
            });
        };
        // The entry first: the database guard lets the row go only under it.
        log.append(entries::extension_removed(actor, &extension)?)
            .await?;
        session_extension::Entity::delete_by_id(extension.id)
            .exec(txn)
            .await?;
        Ok(Unextended { session, extension })
    })
    .await
}

/// Unarchive a session (it matches pushes again), audited as `lab_session.unarchived` in one transaction;
/// refused when its rules overlap another active session's unless `allow_overlap`.
pub async fn unarchive(
    db: &impl TransactionTrait,
    origin: &str,
    actor: &str,
    slug: &str,
    org: Option<&str>,
    allow_overlap: bool,
) -> Result<lab_session::Model, SessionError> {
    audit::write(db, origin, async |txn, log| {
        let session = find_by_slug(txn, slug, org).await?;
        if session.archived_at.is_none() {
            return Err(SessionError::NotArchived {
                org: session.org,
                slug: session.slug,
            });
        }
        if !allow_overlap {
            refuse_overlap(txn, &session).await?;
        }
        // The entry first: the database guard lets `archived_at` change only under it.
        log.append(entries::session_unarchived(actor, session.id)?)
            .await?;
        let mut active: lab_session::ActiveModel = session.into();
        active.archived_at = Set(None);
        Ok(active.update(txn).await?)
    })
    .await
}

/// A session's per-student extensions, by student.
pub async fn extensions(
    db: &impl ConnectionTrait,
    session_id: i64,
) -> Result<Vec<session_extension::Model>, DbErr> {
    session_extension::Entity::find()
        .filter(session_extension::Column::SessionId.eq(session_id))
        .order_by_asc(session_extension::Column::Student)
        .all(db)
        .await
}

/// What judging the deadline of a session's pushes needs, read once: its extensions and, when it has
/// some, its organisation's roster.
#[derive(Debug, Clone)]
pub struct Deadlines {
    session: lab_session::Model,
    extensions: Vec<session_extension::Model>,
    students: Vec<crate::domain::summary::StudentKey>,
}

impl Deadlines {
    /// Read the extensions (and the roster, only when there are extensions) of `session`.
    pub async fn load(
        db: &impl ConnectionTrait,
        session: &lab_session::Model,
    ) -> Result<Self, DbErr> {
        let extensions = extensions(db, session.id).await?;
        let students = if extensions.is_empty() {
            Vec::new()
        } else {
            crate::db::roster::list(db, &session.org)
                .await?
                .into_iter()
                .map(|s| crate::domain::summary::StudentKey {
                    identifier: s.identifier,
                    github_username: s.github_username,
                    github_id: s.github_id,
                })
                .collect()
        };
        Ok(Self {
            session: session.clone(),
            extensions,
            students,
        })
    }

    /// The verdict of one push as a check run shows it: (pushed before the session opened, pushed after
    /// its student's deadline).
    pub fn verdict(
        &self,
        repo_name: &str,
        pusher_login: Option<&str>,
        sender_id: Option<i64>,
        pushed_at: DateTime<Utc>,
    ) -> (bool, bool) {
        let deadline = self.of_push(repo_name, pusher_login, sender_id);
        (
            crate::domain::session::is_early(pushed_at, self.session.opens_at),
            crate::domain::session::is_late(pushed_at, deadline),
        )
    }

    /// The deadline of one push to `repo_name` (a name without the owner): the session's, or the
    /// extension of the roster student the push matches (by sender id, login or repository name, as the
    /// summary matches), or, with no roster student, of the pusher's login. See
    /// [`crate::domain::summary::deadline_for`].
    pub fn of_push(
        &self,
        repo_name: &str,
        pusher_login: Option<&str>,
        sender_id: Option<i64>,
    ) -> DateTime<Utc> {
        use crate::domain::summary::{deadline_for, match_student, Pusher};
        if self.extensions.is_empty() {
            return self.session.closes_at;
        }
        let pushers = [Pusher {
            login: pusher_login.map(str::to_owned),
            id: sender_id,
        }];
        let student = match_student(&self.students, repo_name, &pushers).map(|i| &self.students[i]);
        deadline_for(&self.session, &self.extensions, student, &pushers)
    }
}

/// The deadline of one push to `repo_name` in `session` ([`Deadlines::of_push`]).
pub async fn deadline_of_push(
    db: &impl ConnectionTrait,
    session: &lab_session::Model,
    repo_name: &str,
    pusher_login: Option<&str>,
    sender_id: Option<i64>,
) -> Result<DateTime<Utc>, DbErr> {
    Ok(Deadlines::load(db, session)
        .await?
        .of_push(repo_name, pusher_login, sender_id))
}

/// The extensions of these sessions, by session then student.
pub async fn extensions_of(
    db: &impl ConnectionTrait,
    session_ids: &[i64],
) -> Result<Vec<session_extension::Model>, DbErr> {
    session_extension::Entity::find()
        .filter(session_extension::Column::SessionId.is_in(session_ids.iter().copied()))
        .order_by_asc(session_extension::Column::SessionId)
        .order_by_asc(session_extension::Column::Student)
        .all(db)
        .await
}

/// One session by id.
pub async fn get(db: &impl ConnectionTrait, id: i64) -> Result<Option<lab_session::Model>, DbErr> {
    Entity::find_by_id(id).one(db).await
}
