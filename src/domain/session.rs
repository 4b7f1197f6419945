//! Which lab session a push belongs to: repository pattern, branch policy, precedence, lateness,
//! earliness; whether two sessions' rules overlap; a session's time zone.

use std::collections::{HashSet, VecDeque};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use entity::lab_session;
use globset::{Glob, GlobBuilder, GlobMatcher};
use regex_automata::dfa::StartKind;
use regex_automata::dfa::{dense, Automaton};
use regex_automata::util::{start, syntax};
use regex_automata::Anchored;

/// A session rule that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RuleError {
    #[error("invalid repository pattern {0:?}: {1}")]
    Pattern(String, String),
    #[error("invalid branch policy {0:?}: use all, default or a glob such as main or release/*")]
    Branch(String),
    #[error(
        "unknown time zone {0:?}: use an IANA name such as Europe/Paris, America/New_York or UTC"
    )]
    Timezone(String),
}

/// A session's time zone: an IANA name, checked against chrono-tz's database.
pub fn parse_timezone(name: &str) -> Result<Tz, RuleError> {
    name.trim()
        .parse::<Tz>()
        .map_err(|_| RuleError::Timezone(name.to_owned()))
}

/// `t` in the session's time zone with the offset, to the minute: `2026-11-30 23:59 +01:00`. A zone that
/// no longer parses (it was validated when stored) shows UTC.
pub fn local_time(t: DateTime<Utc>, timezone: &str) -> String {
    let tz = parse_timezone(timezone).unwrap_or(Tz::UTC);
    t.with_timezone(&tz)
        .format("%Y-%m-%d %H:%M %:z")
        .to_string()
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
}

/// A [`BranchPolicy`] compiled for matching.
#[derive(Debug, Clone)]
enum Branches {
    All,
    Default,
    Glob(GlobMatcher),
}

impl Branches {
    fn compile(policy: &str) -> Option<Self> {
        Some(match BranchPolicy::parse(policy).ok()? {
            BranchPolicy::All => Self::All,
            BranchPolicy::Default => Self::Default,
            BranchPolicy::Glob(g) => Self::Glob(Glob::new(&g).ok()?.compile_matcher()),
        })
    }

    /// Does this branch count? `default_branch` is the repository's.
    fn allows(&self, branch: &str, default_branch: Option<&str>) -> bool {
        match self {
            Self::All => true,
            Self::Default => default_branch == Some(branch),
            Self::Glob(g) => g.is_match(branch),
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

/// An organisation's sessions with their repository patterns and branch policies compiled once: a glob
/// compiles to a regular expression, which cost more than the rest of matching a push (a profile of the
/// workers under load), so a batch of pushes compiles each session's rules once, not once a push.
#[derive(Debug, Clone, Default)]
pub struct Candidates {
    sessions: Vec<(lab_session::Model, GlobMatcher, Branches)>,
}

impl Candidates {
    /// Archived sessions, and those whose pattern or branch policy does not compile, match nothing.
    pub fn new(sessions: Vec<lab_session::Model>) -> Self {
        let sessions = sessions
            .into_iter()
            .filter(|s| s.archived_at.is_none())
            .filter_map(|s| {
                let repo = repo_matcher(&s.repo_pattern).ok()?;
                let branches = Branches::compile(&s.branch_policy)?;
                Some((s, repo, branches))
            })
            .collect();
        Self { sessions }
    }

    /// Pick the session for a push among the organisation's sessions: unarchived, pattern matches the
    /// repository name, branch allowed; then the longest literal prefix wins, then the latest
    /// `opens_at`.
    pub fn select(
        &self,
        repo_name: &str,
        branch: &str,
        default_branch: Option<&str>,
    ) -> Option<&lab_session::Model> {
        self.sessions
            .iter()
            .filter(|(_, repo, branches)| {
                repo.is_match(repo_name) && branches.allows(branch, default_branch)
            })
            .map(|(s, _, _)| s)
            .max_by_key(|s| (literal_prefix_len(&s.repo_pattern), s.opens_at, s.id))
    }

    /// A session whose pattern matches the repository name, whatever the branch: when [`Self::select`]
    /// finds none, the push went to a branch that session does not count.
    pub fn by_repository(&self, repo_name: &str) -> Option<&lab_session::Model> {
        self.sessions
            .iter()
            .filter(|(_, repo, _)| repo.is_match(repo_name))
            .map(|(s, _, _)| s)
            .max_by_key(|s| (literal_prefix_len(&s.repo_pattern), s.opens_at, s.id))
    }
}

/// A push is late when its push time is after the deadline.
pub fn is_late(pushed_at: DateTime<Utc>, closes_at: DateTime<Utc>) -> bool {
    pushed_at > closes_at
}

/// A push is early when its push time is before the session opened: never final, never on time.
pub fn is_early(pushed_at: DateTime<Utc>, opens_at: DateTime<Utc>) -> bool {
    pushed_at < opens_at
}

/// The characters of a GitHub repository name (patterns match case-insensitively: lower case stands
/// for both).
const REPO_NAME_BYTES: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789._-";

/// Longest witness searched for; past it the patterns are taken to overlap (when in doubt, they do).
const WITNESS_MAX: usize = 100;

/// The shortest string over `alphabet` that both globs match (`Some("")` stands for "could not decide":
/// taken as overlapping), or `None` when no string matches both.
fn common_match(a: &str, b: &str, case_insensitive: bool, alphabet: &[u8]) -> Option<String> {
    let dfa = |pattern: &str| {
        let glob = GlobBuilder::new(pattern)
            .case_insensitive(case_insensitive)
            .literal_separator(true)
            .build()
            .ok()?;
        // Globs compile to byte regexes (`(?-u)`), which may match invalid UTF-8.
        dense::Builder::new()
            .syntax(syntax::Config::new().utf8(false))
            .configure(
                dense::Config::new()
                    .start_kind(StartKind::Anchored)
                    .dfa_size_limit(Some(1 << 20)),
            )
            .build(glob.regex())
            .ok()
    };
    let (Some(da), Some(db)) = (dfa(a), dfa(b)) else {
        return Some(String::new());
    };
    let config = start::Config::new().anchored(Anchored::Yes);
    let (Ok(sa), Ok(sb)) = (da.start_state(&config), db.start_state(&config)) else {
        return Some(String::new());
    };
    let accepts = |d: &dense::DFA<Vec<u32>>, s| d.is_match_state(d.next_eoi_state(s));
    let mut seen = HashSet::from([(sa, sb)]);
    let mut queue = VecDeque::from([(sa, sb, Vec::<u8>::new())]);
    while let Some((x, y, word)) = queue.pop_front() {
        if accepts(&da, x) && accepts(&db, y) {
            return Some(String::from_utf8_lossy(&word).into_owned());
        }
        if word.len() >= WITNESS_MAX {
            return Some(String::new());
        }
        for &byte in alphabet {
            let (nx, ny) = (da.next_state(x, byte), db.next_state(y, byte));
            if da.is_dead_state(nx) || db.is_dead_state(ny) || !seen.insert((nx, ny)) {
                continue;
            }
            let mut next = word.clone();
            next.push(byte);
            queue.push_back((nx, ny, next));
        }
    }
    None
}

/// Could one push match both sessions' rules? `Some(example)` names a repository name both patterns
/// match (empty when undecidable within bounds, taken as overlapping). Patterns are compared exactly
/// (as case-insensitive globs over the characters of repository names); branch policies overlap unless
/// both are globs no branch name matches together (`all` and `default` overlap every policy).
pub fn overlap(a: &lab_session::Model, b: &lab_session::Model) -> Option<String> {
    let example = common_match(&a.repo_pattern, &b.repo_pattern, true, REPO_NAME_BYTES)?;
    let branches_disjoint = match (
        BranchPolicy::parse(&a.branch_policy),
        BranchPolicy::parse(&b.branch_policy),
    ) {
        (Ok(BranchPolicy::Glob(x)), Ok(BranchPolicy::Glob(y))) => {
            let any_byte: Vec<u8> = (1..=255).collect();
            common_match(&x, &y, false, &any_byte).is_none()
        }
        _ => false,
    };
    (!branches_disjoint).then_some(example)
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
            timezone: "UTC".into(),
            score_check: "Autograding Tests".into(),
        }
    }

    /// The id of the session that `sessions` select for a push (see [`Candidates::select`]).
    fn selected(
        sessions: &[lab_session::Model],
        repo_name: &str,
        branch: &str,
        default_branch: Option<&str>,
    ) -> Option<i64> {
        Candidates::new(sessions.to_vec())
            .select(repo_name, branch, default_branch)
            .map(|s| s.id)
    }

    #[test]
    fn most_specific_pattern_then_latest_opening_wins() {
        let s = vec![
            session(1, "lab*", "all", 1),
            session(2, "lab3-*", "all", 1),
            session(3, "lab3-*", "all", 5),
            session(4, "other-*", "all", 9),
        ];
        assert_eq!(selected(&s, "lab3-alice", "main", None), Some(3));
        assert_eq!(selected(&s, "LAB1-bob", "main", None), Some(1));
        assert_eq!(selected(&s, "nothing", "main", None), None);
    }

    #[test]
    fn exact_name_is_a_pattern_and_archived_match_nothing() {
        let mut s = vec![
            session(1, "lab3-alice", "all", 1),
            session(2, "lab3-*", "all", 1),
        ];
        assert_eq!(selected(&s, "lab3-alice", "x", None), Some(1));
        s[0].archived_at = Some(s[0].opens_at);
        assert_eq!(selected(&s, "lab3-alice", "x", None), Some(2));
    }

    #[test]
    fn branch_policies() {
        let s = vec![
            session(1, "lab*", "default", 1),
            session(2, "l*", "release/*", 1),
        ];
        assert_eq!(selected(&s, "lab1", "main", Some("main")), Some(1));
        assert_eq!(selected(&s, "lab1", "release/v1", Some("main")), Some(2));
        assert_eq!(selected(&s, "lab1", "feature", Some("main")), None);
        assert!(BranchPolicy::parse("[").is_err());
        assert!(repo_matcher("org/lab").is_err());
        // A stored rule that does not compile matches nothing and hides no other session.
        let broken = vec![
            session(3, "lab*", "[", 9),
            session(4, "lab[", "all", 9),
            session(1, "lab*", "all", 1),
        ];
        assert_eq!(selected(&broken, "lab1", "main", None), Some(1));
    }

    #[test]
    fn overlapping_patterns_are_found_with_an_example() {
        let pair = |a: &str, ab: &str, b: &str, bb: &str| {
            overlap(&session(1, a, ab, 1), &session(2, b, bb, 1))
        };
        assert_eq!(
            pair("lab3-*", "all", "lab*", "all").as_deref(),
            Some("lab3-")
        );
        assert_eq!(
            pair("LAB3-*", "all", "lab3-alice", "all").as_deref(),
            Some("lab3-alice")
        );
        assert!(pair("*-{a,b}", "all", "x-?", "all").is_some());
        assert_eq!(pair("lab1-*", "all", "lab2-*", "all"), None);
        assert_eq!(pair("lab[12]-*", "all", "lab3-*", "all"), None);
        // A '/' can never be in a repository name.
        assert_eq!(pair("a*", "all", "*/b", "all"), None);
        // Same repositories, branches that never meet.
        assert_eq!(pair("lab*", "main", "lab*", "release/*"), None);
        assert!(pair("lab*", "default", "lab*", "release/*").is_some());
        assert!(pair("lab*", "release/*", "lab*", "release/v?").is_some());
    }

    #[test]
    fn local_times_carry_the_offset() {
        let t = Utc.with_ymd_and_hms(2026, 11, 30, 22, 59, 0).unwrap();
        assert_eq!(local_time(t, "Europe/Paris"), "2026-11-30 23:59 +01:00");
        assert_eq!(local_time(t, "UTC"), "2026-11-30 22:59 +00:00");
        assert!(parse_timezone("Europe/Pariss").is_err());
        assert!(parse_timezone("America/New_York").is_ok());
        assert!(is_early(t - chrono::Duration::seconds(1), t));
        assert!(!is_early(t, t));
    }
}
