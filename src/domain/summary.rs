//! The grader's view of one session: which roster student a repository belongs to, each student's
//! deadline, and per repository the final attempt (the latest pushed by the deadline), the late ones
//! and the status (`on_time`, `late_only`, `missing`).

use chrono::{DateTime, Utc};
use entity::{lab_attempt, lab_session, session_extension};

/// A roster student as matching needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StudentKey {
    pub identifier: String,
    /// Empty: not linked to a GitHub account (matched by nothing).
    pub github_username: String,
    pub github_id: Option<i64>,
}

/// Who pushed to a repository: the pusher's login and the sender's id, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pusher {
    pub login: Option<String>,
    pub id: Option<i64>,
}

/// The deadline that counts for a repository's attempts in `session`: the session's, or a later one of
/// the student's extensions. Every lateness decision made at read time (summary, grades export, lists,
/// check runs) goes through here.
///
/// An extension names its student by roster identifier or GitHub login (both compared lower-case): it
/// applies to the roster student matched to the repository, or, when none matched, to a repository one
/// of whose pushers has that login. The extension is the student's deadline as given: later than the
/// session's, or earlier (`session extend --shorten`, refused without it); when several match (identifier
/// and login), the latest. A later `session edit --closes` does not move an extended student.
pub fn deadline_for(
    session: &lab_session::Model,
    extensions: &[session_extension::Model],
    student: Option<&StudentKey>,
    pushers: &[Pusher],
) -> DateTime<Utc> {
    let keys: Vec<String> = match student {
        Some(s) => [&s.identifier, &s.github_username]
            .into_iter()
            .filter(|k| !k.is_empty())
            .map(|k| k.to_lowercase())
            .collect(),
        None => pushers
            .iter()
            .filter_map(|p| p.login.as_ref().map(|l| l.to_lowercase()))
            .collect(),
    };
    extensions
        .iter()
        .filter(|e| e.session_id == session.id && keys.contains(&e.student.to_lowercase()))
        .map(|e| e.closes_at)
        .max()
        .unwrap_or(session.closes_at)
}

/// The roster student a repository belongs to, by (in this order) a pusher's GitHub id, a pusher's
/// login (case-insensitive), or the repository name containing the login (Classroom names repositories
/// `assignment-login`; the longest matching login wins, so `al` never takes `lab1-alice`'s repository
/// from `alice`).
pub fn match_student(
    students: &[StudentKey],
    repo_name: &str,
    pushers: &[Pusher],
) -> Option<usize> {
    let linked = || {
        students
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.github_username.is_empty() || s.github_id.is_some())
    };
    let by_id = linked().find(|(_, s)| {
        s.github_id
            .is_some_and(|id| pushers.iter().any(|p| p.id == Some(id)))
    });
    let by_login = || {
        linked().find(|(_, s)| {
            !s.github_username.is_empty()
                && pushers.iter().any(|p| {
                    p.login
                        .as_deref()
                        .is_some_and(|l| l.eq_ignore_ascii_case(&s.github_username))
                })
        })
    };
    let by_name = || {
        let repo = repo_name.to_ascii_lowercase();
        linked()
            .filter(|(_, s)| {
                !s.github_username.is_empty()
                    && repo.contains(&s.github_username.to_ascii_lowercase())
            })
            .max_by_key(|(i, s)| (s.github_username.len(), std::cmp::Reverse(*i)))
    };
    by_id.or_else(by_login).or_else(by_name).map(|(i, _)| i)
}

/// What the summary needs of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptFacts {
    pub id: i64,
    pub number: i32,
    pub after: String,
    pub git_ref: String,
    pub pushed_at: DateTime<Utc>,
    pub forced: bool,
}

impl AttemptFacts {
    /// The facts of a recorded attempt.
    pub fn of(a: &lab_attempt::Model) -> Self {
        Self {
            id: a.id,
            number: a.attempt_number,
            after: a.after_sha.clone(),
            git_ref: a.git_ref.clone(),
            pushed_at: a.pushed_at,
            forced: a.forced,
        }
    }
}

/// A student repository's standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// At least one attempt pushed by the deadline.
    OnTime,
    /// Pushed, but none in the window: only after the deadline (or before the session opened).
    LateOnly,
    /// A roster student with no attempt.
    Missing,
}

impl Status {
    /// The stored and exported name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OnTime => "on_time",
            Self::LateOnly => "late_only",
            Self::Missing => "missing",
        }
    }
}

/// The attempts of one repository folded one at a time, in any order: constant memory per repository.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepoFold {
    pub attempts: u64,
    pub first_pushed_at: Option<DateTime<Utc>>,
    pub last_pushed_at: Option<DateTime<Utc>>,
    /// The latest attempt pushed by the deadline (by push time, then recording order).
    pub final_attempt: Option<AttemptFacts>,
    /// Attempts pushed after the deadline.
    pub late_attempts: u64,
    /// Attempts pushed before the session opened.
    pub early_attempts: u64,
    /// Any forced push.
    pub forced: bool,
    /// Forced pushes.
    pub forced_attempts: u64,
}

impl RepoFold {
    /// Count `a` against the window `opens_at`..=`deadline` (`early` = pushed before it opened, `late`
    /// = pushed after the deadline, docs/design.md §4); only attempts in the window can be final.
    pub fn add(&mut self, a: AttemptFacts, opens_at: DateTime<Utc>, deadline: DateTime<Utc>) {
        self.attempts += 1;
        self.forced |= a.forced;
        self.forced_attempts += u64::from(a.forced);
        self.first_pushed_at = Some(
            self.first_pushed_at
                .map_or(a.pushed_at, |t| t.min(a.pushed_at)),
        );
        self.last_pushed_at = Some(
            self.last_pushed_at
                .map_or(a.pushed_at, |t| t.max(a.pushed_at)),
        );
        if a.pushed_at < opens_at {
            self.early_attempts += 1;
        } else if a.pushed_at > deadline {
            self.late_attempts += 1;
        } else if self
            .final_attempt
            .as_ref()
            .is_none_or(|f| (a.pushed_at, a.id) > (f.pushed_at, f.id))
        {
            self.final_attempt = Some(a);
        }
    }

    /// The standing: `missing` without attempts, `on_time` with a final attempt, else `late_only`.
    pub fn status(&self) -> Status {
        match (self.attempts, &self.final_attempt) {
            (0, _) => Status::Missing,
            (_, Some(_)) => Status::OnTime,
            (_, None) => Status::LateOnly,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 10, h, 0, 0)
            .single()
            .expect("time")
    }

    fn attempt(id: i64, h: u32, forced: bool) -> AttemptFacts {
        AttemptFacts {
            id,
            number: i32::try_from(id).expect("small"),
            after: format!("{id:040x}"),
            git_ref: "refs/heads/main".into(),
            pushed_at: at(h),
            forced,
        }
    }

    fn student(identifier: &str, login: &str, id: Option<i64>) -> StudentKey {
        StudentKey {
            identifier: identifier.into(),
            github_username: login.into(),
            github_id: id,
        }
    }

    fn pusher(login: &str, id: Option<i64>) -> Pusher {
        Pusher {
            login: Some(login.into()),
            id,
        }
    }

    #[test]
    fn final_is_the_latest_by_the_deadline_in_any_order() {
        let deadline = at(12);
        let mut fold = RepoFold::default();
        for a in [
            attempt(3, 13, false),
            attempt(2, 11, true),
            attempt(1, 9, false),
        ] {
            fold.add(a, at(0), deadline);
        }
        assert_eq!(fold.attempts, 3);
        assert_eq!(fold.late_attempts, 1);
        assert!(fold.forced);
        assert_eq!(fold.first_pushed_at, Some(at(9)));
        assert_eq!(fold.last_pushed_at, Some(at(13)));
        assert_eq!(fold.final_attempt.as_ref().map(|f| f.id), Some(2));
        assert_eq!(fold.status(), Status::OnTime);
    }

    #[test]
    fn a_push_at_the_deadline_counts_and_ties_go_to_the_later_recording() {
        let mut fold = RepoFold::default();
        fold.add(attempt(5, 12, false), at(0), at(12));
        fold.add(attempt(4, 12, false), at(0), at(12));
        assert_eq!(fold.final_attempt.map(|f| f.id), Some(5));
        assert_eq!(fold.late_attempts, 0);
    }

    #[test]
    fn only_late_pushes_and_no_pushes() {
        let mut fold = RepoFold::default();
        assert_eq!(fold.status(), Status::Missing);
        fold.add(attempt(1, 13, false), at(0), at(12));
        assert_eq!(fold.status(), Status::LateOnly);
        assert_eq!(fold.final_attempt, None);
    }

    #[test]
    fn early_pushes_are_never_final() {
        let mut fold = RepoFold::default();
        fold.add(attempt(1, 7, false), at(8), at(12));
        assert_eq!((fold.early_attempts, fold.late_attempts), (1, 0));
        assert_eq!(fold.final_attempt, None);
        assert_eq!(fold.status(), Status::LateOnly);
        fold.add(attempt(2, 8, false), at(8), at(12));
        assert_eq!(fold.final_attempt.map(|f| f.id), Some(2));
    }

    #[test]
    fn extensions_apply_to_their_student_only_as_given() {
        let session = lab_session::Model {
            id: 1,
            org: "course".into(),
            slug: "lab1".into(),
            title: "t".into(),
            repo_pattern: "lab1-*".into(),
            branch_policy: "default".into(),
            opens_at: at(0),
            closes_at: at(12),
            archived_at: None,
            created_at: at(0),
            timezone: "UTC".into(),
            score_check: "Autograding Tests".into(),
        };
        let ext = |student: &str, h| session_extension::Model {
            id: 1,
            session_id: 1,
            student: student.into(),
            closes_at: at(h),
            created_at: at(0),
            updated_at: at(0),
        };
        let exts = [ext("alice", 20), ext("b@x", 18), ext("carol", 10)];
        let alice = student("a@x", "Alice", None);
        let bob = student("B@X", "bob", None);
        let carol = student("c@x", "carol", None);
        assert_eq!(deadline_for(&session, &exts, Some(&alice), &[]), at(20));
        assert_eq!(deadline_for(&session, &exts, Some(&bob), &[]), at(18));
        // An earlier extension (`--shorten`) is the student's deadline too.
        assert_eq!(deadline_for(&session, &exts, Some(&carol), &[]), at(10));
        // No roster student: the pushers' logins.
        assert_eq!(
            deadline_for(&session, &exts, None, &[pusher("ALICE", None)]),
            at(20)
        );
        // A roster student is not extended by a pusher's extension: carol keeps her own.
        assert_eq!(
            deadline_for(&session, &exts, Some(&carol), &[pusher("alice", None)]),
            at(10)
        );
    }

    #[test]
    fn students_match_by_id_then_login_then_repository_name() {
        let roster = [
            student("a@x", "al", None),
            student("b@x", "alice", Some(7)),
            student("c@x", "Carol", None),
            student("d@x", "", None),
        ];
        // Id beats everything, even a login that names someone else.
        assert_eq!(
            match_student(&roster, "lab1-x", &[pusher("carol", Some(7))]),
            Some(1)
        );
        // Login, case-insensitive.
        assert_eq!(
            match_student(&roster, "lab1-x", &[pusher("CAROL", None)]),
            Some(2)
        );
        // Repository name: the longest login contained wins.
        assert_eq!(
            match_student(&roster, "lab1-Alice", &[pusher("teacher", None)]),
            Some(1)
        );
        assert_eq!(match_student(&roster, "lab1-al", &[]), Some(0));
        // Unlinked students match nothing.
        assert_eq!(
            match_student(&roster, "lab1-zed", &[pusher("zed", None)]),
            None
        );
    }
}
