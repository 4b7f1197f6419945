//! Folding the per-commit file lists of a push into one net status per path.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The net status of a path over a push.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    Added,
    Modified,
    Removed,
}

impl FileStatus {
    /// The stored and printed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "added",
            Self::Modified => "modified",
            Self::Removed => "removed",
        }
    }

    /// Parse a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "added" => Some(Self::Added),
            "modified" => Some(Self::Modified),
            "removed" => Some(Self::Removed),
            _ => None,
        }
    }
}

/// Combine an earlier net status with a later change; `None` means the path drops out.
pub fn combine(earlier: Option<FileStatus>, later: FileStatus) -> Option<FileStatus> {
    use FileStatus::*;
    match (earlier, later) {
        (Some(Added), Modified) => Some(Added),
        (Some(Added), Removed) => None,
        (Some(Removed), Added) => Some(Modified),
        (Some(Modified), Removed) => Some(Removed),
        (_, later) => Some(later),
    }
}

/// One path with its net status.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ChangedFile {
    pub path: String,
    pub status: FileStatus,
}

/// Accumulates commits, oldest first.
#[derive(Debug, Default, Clone)]
pub struct FileFold {
    paths: BTreeMap<String, FileStatus>,
}

impl FileFold {
    /// Apply one path change.
    pub fn apply(&mut self, path: &str, status: FileStatus) {
        match combine(self.paths.get(path).copied(), status) {
            Some(net) => {
                self.paths.insert(path.to_owned(), net);
            }
            None => {
                self.paths.remove(path);
            }
        }
    }

    /// Apply one commit's lists as GitHub reports them.
    pub fn apply_commit<S: AsRef<str>>(&mut self, added: &[S], removed: &[S], modified: &[S]) {
        for (paths, status) in [
            (removed, FileStatus::Removed),
            (added, FileStatus::Added),
            (modified, FileStatus::Modified),
        ] {
            for path in paths {
                self.apply(path.as_ref(), status);
            }
        }
    }

    /// The net changes, sorted by path.
    pub fn into_files(self) -> Vec<ChangedFile> {
        self.paths
            .into_iter()
            .map(|(path, status)| ChangedFile { path, status })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::FileStatus::*;
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeSet, HashMap};

    fn fold(commits: &[Commit]) -> Vec<(String, FileStatus)> {
        let mut f = FileFold::default();
        for (a, r, m) in commits {
            f.apply_commit(a, r, m);
        }
        f.into_files()
            .into_iter()
            .map(|c| (c.path, c.status))
            .collect()
    }

    type Commit<'a> = (&'a [&'a str], &'a [&'a str], &'a [&'a str]);
    type Case<'a> = (&'a str, Vec<Commit<'a>>, Vec<(&'a str, FileStatus)>);

    #[test]
    fn table_of_cases() {
        let none: &[&str] = &[];
        let cases: Vec<Case> = vec![
            (
                "add then modify",
                vec![(&["a"], none, none), (none, none, &["a"])],
                vec![("a", Added)],
            ),
            (
                "add then remove",
                vec![(&["a"], none, none), (none, &["a"], none)],
                vec![],
            ),
            (
                "remove then add",
                vec![(none, &["a"], none), (&["a"], none, none)],
                vec![("a", Modified)],
            ),
            (
                "modify then remove",
                vec![(none, none, &["a"]), (none, &["a"], none)],
                vec![("a", Removed)],
            ),
            (
                "modify twice",
                vec![(none, none, &["a"]), (none, none, &["a"])],
                vec![("a", Modified)],
            ),
            (
                "rename a to b",
                vec![(&["b"], &["a"], none)],
                vec![("a", Removed), ("b", Added)],
            ),
            (
                "rename and back",
                vec![(&["b"], &["a"], none), (&["a"], &["b"], none)],
                vec![("a", Modified)],
            ),
            (
                "add remove add",
                vec![
                    (&["a"], none, none),
                    (none, &["a"], none),
                    (&["a"], none, none),
                ],
                vec![("a", Added)],
            ),
        ];
        for (name, commits, want) in cases {
            let want: Vec<(String, FileStatus)> =
                want.into_iter().map(|(p, s)| (p.to_owned(), s)).collect();
            assert_eq!(fold(&commits), want, "case {name}");
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Add(u8),
        Modify(u8),
        Remove(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..12).prop_map(Op::Add),
            (0u8..12).prop_map(Op::Modify),
            (0u8..12).prop_map(Op::Remove)
        ]
    }

    proptest! {
        // Model: a repository of versioned files; commits are valid git changes; the fold must equal
        // the difference between the first and the last tree.
        #[test]
        fn fold_matches_tree_diff(
            initial in proptest::collection::btree_set(0u8..12, 0..8),
            commits in proptest::collection::vec(proptest::collection::vec(op(), 1..5), 0..12),
        ) {
            let mut tree: HashMap<u8, u32> = initial.iter().map(|p| (*p, 0)).collect();
            let start = tree.clone();
            let mut version = 0u32;
            let mut fold = FileFold::default();
            for ops in commits {
                let (mut added, mut removed, mut modified) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
                for op in ops {
                    version += 1;
                    match op {
                        Op::Add(p) if !tree.contains_key(&p) && !removed.contains(&p) => { tree.insert(p, version); added.insert(p); }
                        Op::Modify(p) if tree.contains_key(&p) && !added.contains(&p) => { tree.insert(p, version); modified.insert(p); }
                        Op::Remove(p) if tree.contains_key(&p) && !added.contains(&p) && !modified.contains(&p) => { tree.remove(&p); removed.insert(p); }
                        _ => {}
                    }
                }
                let names = |s: &BTreeSet<u8>| s.iter().map(|p| format!("f{p}")).collect::<Vec<_>>();
                fold.apply_commit(&names(&added), &names(&removed), &names(&modified));
            }
            let mut want = Vec::new();
            let all: BTreeSet<u8> = start.keys().chain(tree.keys()).copied().collect();
            for p in all {
                let status = match (start.get(&p), tree.get(&p)) {
                    (None, Some(_)) => Some(Added),
                    (Some(_), None) => Some(Removed),
                    (Some(a), Some(b)) if a != b => Some(Modified),
                    _ => None,
                };
                if let Some(s) = status { want.push(ChangedFile { path: format!("f{p}"), status: s }); }
            }
            want.sort();
            prop_assert_eq!(fold.into_files(), want);
        }
    }
}
