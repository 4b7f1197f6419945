//! Which lab session a push belongs to: repository pattern, branch policy, precedence, lateness.

use chrono::{DateTime, Utc};
use entity::lab_session;
use globset::{Glob, GlobBuilder, GlobMatcher};

/// A session rule that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RuleError {
    #[error("invalid repository pattern {0:?}: {1}")]
    Pattern(String, String),
    #[error("invalid branch policy {0:?}: use all, default or a glob such as main or release/*")]
    Branch(String),
}

/// Which branches of a matched repository count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BranchPolicy {
    All,
    Default,
    Glob(String),
}

impl BranchPolicy {
    /// Parse `all`, `default` or a glob.
    pub fn parse(s: &str) -> Result<Self, RuleError> {
        match s.trim() {
            "" => Err(RuleError::Branch(s.to_owned())),
            "all" => Ok(Self::All),
            "default" => Ok(Self::Default),
            glob => {
                Glob::new(glob).map_err(|_| RuleError::Branch(s.to_owned()))?;
                Ok(Self::Glob(glob.to_owned()))
            }
        }
    }

    /// Does this branch count? `default_branch` is the repository's.
    pub fn allows(&self, branch: &str, default_branch: Option<&str>) -> bool {
        match self {
            Self::All => true,
            Self::Default => default_branch == Some(branch),
            Self::Glob(g) => Glob::new(g).is_ok_and(|g| g.compile_matcher().is_match(branch)),
        }
    }
}

/// A compiled, case-insensitive glob on repository names (GitHub names are case-insensitive).
pub fn repo_matcher(pattern: &str) -> Result<GlobMatcher, RuleError> {
    if pattern.trim().is_empty() || pattern.contains('/') {
        return Err(RuleError::Pattern(
            pattern.to_owned(),
            "a pattern matches the repository name without the owner".into(),
        ));
    }
    GlobBuilder::new(pattern)
        .case_insensitive(true)
        .literal_separator(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| RuleError::Pattern(pattern.to_owned(), e.kind().to_string()))
}

/// Characters before the first glob metacharacter: the more, the more specific the pattern.
pub fn literal_prefix_len(pattern: &str) -> usize {
    pattern
        .chars()
        .take_while(|c| !matches!(c, '*' | '?' | '[' | '{' | '\\'))
        .count()
}

/// Pick the session for a push among the organisation's sessions: unarchived, pattern matches the
/// repository name, branch allowed; then the longest literal prefix wins, then the latest `opens_at`.
pub fn select_session<'a>(
    sessions: &'a [lab_session::Model],
    repo_name: &str,
    branch: &str,
    default_branch: Option<&str>,
) -> Option<&'a lab_session::Model> {
    sessions
        .iter()
        .filter(|s| s.archived_at.is_none())
        .filter(|s| repo_matcher(&s.repo_pattern).is_ok_and(|m| m.is_match(repo_name)))
        .filter(|s| {
            BranchPolicy::parse(&s.branch_policy).is_ok_and(|p| p.allows(branch, default_branch))
        })
        .max_by_key(|s| (literal_prefix_len(&s.repo_pattern), s.opens_at, s.id))
}

/// A push is late when its push time is after the deadline.
pub fn is_late(pushed_at: DateTime<Utc>, closes_at: DateTime<Utc>) -> bool {
    pushed_at > closes_at
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn session(id: i64, pattern: &str, branches: &str, opens_day: u32) -> lab_session::Model {
        let t = |d| Utc.with_ymd_and_hms(2026, 11, d, 0, 0, 0).unwrap();
        lab_session::Model {
            id,
            org: "course".into(),
            slug: format!("s{id}"),
            title: "t".into(),
            repo_pattern: pattern.into(),
            branch_policy: branches.into(),
            opens_at: t(opens_day),
            closes_at: t(opens_day + 7),
            archived_at: None,
            created_at: t(1),
        }
    }

    #[test]
    fn most_specific_pattern_then_latest_opening_wins() {
        let s = vec![
            session(1, "lab*", "all", 1),
            session(2, "lab3-*", "all", 1),
            session(3, "lab3-*", "all", 5),
            session(4, "other-*", "all", 9),
        ];
        assert_eq!(
            select_session(&s, "lab3-alice", "main", None).map(|s| s.id),
            Some(3)
        );
        assert_eq!(
            select_session(&s, "LAB1-bob", "main", None).map(|s| s.id),
            Some(1)
        );
        assert_eq!(select_session(&s, "nothing", "main", None), None);
    }

    #[test]
    fn exact_name_is_a_pattern_and_archived_match_nothing() {
        let mut s = vec![
            session(1, "lab3-alice", "all", 1),
            session(2, "lab3-*", "all", 1),
        ];
        assert_eq!(
            select_session(&s, "lab3-alice", "x", None).map(|s| s.id),
            Some(1)
        );
        s[0].archived_at = Some(s[0].opens_at);
        assert_eq!(
            select_session(&s, "lab3-alice", "x", None).map(|s| s.id),
            Some(2)
        );
    }

    #[test]
    fn branch_policies() {
        let s = vec![
            session(1, "lab*", "default", 1),
            session(2, "l*", "release/*", 1),
        ];
        assert_eq!(
            select_session(&s, "lab1", "main", Some("main")).map(|s| s.id),
            Some(1)
        );
        assert_eq!(
            select_session(&s, "lab1", "release/v1", Some("main")).map(|s| s.id),
            Some(2)
        );
        assert_eq!(select_session(&s, "lab1", "feature", Some("main")), None);
        assert!(BranchPolicy::parse("[").is_err());
        assert!(repo_matcher("org/lab").is_err());
    }
}
