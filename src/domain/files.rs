//! Folding the per-commit file lists of a push into one net status per path.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The net status of a path over a push: stored as `lab_attempt_file.status`.
pub use entity::states::FileStatus;

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

/// What the fold knows of one path.
#[derive(Debug, Clone, Copy)]
struct PathState {
    /// The net status so far (`None`: no net change).
    net: Option<FileStatus>,
    /// The path exists after the commits applied so far.
    exists: bool,
    /// The path existed before the first commit (known from its first change).
    existed: bool,
    /// How many changes touched it.
    touches: u32,
    /// Every change was possible in a linear history (no addition of a present path, no change of an
    /// absent one): false for the double listings of a merge commit listed against its first parent.
    linear: bool,
}

/// Accumulates commits, oldest first.
///
/// The lists say which paths a commit touched, never their content, so the fold knows a path's net
/// status only where it does not depend on content: a path that existed before and still exists after
/// the push, touched more than once (modified then modified back, deleted then re-added with the same
/// bytes), may not have changed at all; and lists that do not chain (a merge commit) say nothing
/// reliable. [`FileFold::is_exact`] says whether the result is git's net diff; where it is not, the
/// caller must ask git (the trees of `before` and `after`) for the net status.
#[derive(Debug, Default, Clone)]
pub struct FileFold {
    paths: BTreeMap<String, PathState>,
}

impl FileFold {
    /// Apply one path change.
    pub fn apply(&mut self, path: &str, status: FileStatus) {
        let present_after = status != FileStatus::Removed;
        match self.paths.get_mut(path) {
            Some(p) => {
                p.linear &= (status == FileStatus::Added) != p.exists;
                p.net = combine(p.net, status);
                p.exists = present_after;
                p.touches += 1;
            }
            None => {
                self.paths.insert(
                    path.to_owned(),
                    PathState {
                        net: Some(status),
                        exists: present_after,
                        existed: status != FileStatus::Added,
                        touches: 1,
                        linear: true,
                    },
                );
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

    /// The paths whose net status the lists cannot give (see [`FileFold`]), sorted.
    pub fn uncertain_paths(&self) -> impl Iterator<Item = &str> {
        self.paths
            .iter()
            .filter(|(_, p)| !p.linear || (p.existed && p.exists && p.touches > 1))
            .map(|(path, _)| path.as_str())
    }

    /// The folded lists are exactly `git diff --no-renames` of the first parent and the last commit.
    pub fn is_exact(&self) -> bool {
        self.uncertain_paths().next().is_none()
    }

    /// The net changes, sorted by path. For an uncertain path, its status as if no content came back.
    pub fn into_files(self) -> Vec<ChangedFile> {
        self.paths
            .into_iter()
            .filter_map(|(path, p)| p.net.map(|status| ChangedFile { path, status }))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::FileStatus::*;
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeSet, HashMap};

    fn fold(commits: &[Commit]) -> (Vec<(String, FileStatus)>, Vec<String>) {
        let mut f = FileFold::default();
        for (a, r, m) in commits {
            f.apply_commit(a, r, m);
        }
        let uncertain = f.uncertain_paths().map(str::to_owned).collect();
        let files = f
            .into_files()
            .into_iter()
            .map(|c| (c.path, c.status))
            .collect();
        (files, uncertain)
    }

    type Commit<'a> = (&'a [&'a str], &'a [&'a str], &'a [&'a str]);
    /// Name, commits, the folded list, the paths whose net status the lists cannot give.
    type Case<'a> = (
        &'a str,
        Vec<Commit<'a>>,
        Vec<(&'a str, FileStatus)>,
        &'a [&'a str],
    );

    #[test]
    fn table_of_cases() {
        let none: &[&str] = &[];
        let cases: Vec<Case> = vec![
            (
                "add then modify",
                vec![(&["a"], none, none), (none, none, &["a"])],
                vec![("a", Added)],
                none,
            ),
            (
                "add then remove",
                vec![(&["a"], none, none), (none, &["a"], none)],
                vec![],
                none,
            ),
            (
                "remove then add: the same bytes again, or not",
                vec![(none, &["a"], none), (&["a"], none, none)],
                vec![("a", Modified)],
                &["a"],
            ),
            (
                "modify then remove",
                vec![(none, none, &["a"]), (none, &["a"], none)],
                vec![("a", Removed)],
                none,
            ),
            (
                "modify once",
                vec![(none, none, &["a"]), (&["b"], none, none)],
                vec![("a", Modified), ("b", Added)],
                none,
            ),
            (
                "modify twice: perhaps back to the original",
                vec![(none, none, &["a"]), (none, none, &["a"])],
                vec![("a", Modified)],
                &["a"],
            ),
            (
                "rename a to b",
                vec![(&["b"], &["a"], none)],
                vec![("a", Removed), ("b", Added)],
                none,
            ),
            (
                "rename and back",
                vec![(&["b"], &["a"], none), (&["a"], &["b"], none)],
                vec![("a", Modified)],
                &["a"],
            ),
            (
                "add remove add",
                vec![
                    (&["a"], none, none),
                    (none, &["a"], none),
                    (&["a"], none, none),
                ],
                vec![("a", Added)],
                none,
            ),
            (
                "remove add remove",
                vec![
                    (none, &["a"], none),
                    (&["a"], none, none),
                    (none, &["a"], none),
                ],
                vec![("a", Removed)],
                none,
            ),
            (
                "lists that do not chain (a merge listed against its first parent)",
                vec![(&["a"], none, none), (&["a"], none, none)],
                vec![("a", Added)],
                &["a"],
            ),
        ];
        for (name, commits, want, uncertain) in cases {
            let want: Vec<(String, FileStatus)> =
                want.into_iter().map(|(p, s)| (p.to_owned(), s)).collect();
            let (got, got_uncertain) = fold(&commits);
            assert_eq!(got, want, "case {name}");
            assert_eq!(got_uncertain, uncertain, "case {name}");
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// Write version `v` of a path (adds it when absent; may restore an earlier version).
        Write(u8, u8),
        Remove(u8),
    }

    #[derive(Debug, Clone)]
    enum Step {
        Commit(Vec<Op>),
        /// Reset the tree to the one after an earlier step (`git revert` of every commit since, in one).
        Restore(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..8, 0u8..3).prop_map(|(p, v)| Op::Write(p, v)),
            (0u8..8).prop_map(Op::Remove),
        ]
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => proptest::collection::vec(op(), 1..4).prop_map(Step::Commit),
            1 => (0usize..16).prop_map(Step::Restore),
        ]
    }

    type Tree = HashMap<u8, u8>;

    /// `git diff --no-renames` of two trees: path → status.
    fn diff(a: &Tree, b: &Tree) -> Vec<ChangedFile> {
        let all: BTreeSet<u8> = a.keys().chain(b.keys()).copied().collect();
        let mut out: Vec<ChangedFile> = all
            .into_iter()
            .filter_map(|p| {
                let status = match (a.get(&p), b.get(&p)) {
                    (None, Some(_)) => Added,
                    (Some(_), None) => Removed,
                    (Some(x), Some(y)) if x != y => Modified,
                    _ => return None,
                };
                Some(ChangedFile {
                    path: format!("f{p}"),
                    status,
                })
            })
            .collect();
        out.sort();
        out
    }

    proptest! {
        // Model: files with a few possible contents, so histories revert, restore and re-add the same
        // bytes; each commit's lists are git's diff of its tree against the previous one. The fold
        // must equal the diff of the first and the last tree wherever it does not say "uncertain", and
        // say "exact" only when it equals it everywhere.
        #[test]
        fn fold_matches_tree_diff(
            initial in proptest::collection::btree_set(0u8..8, 0..6),
            steps in proptest::collection::vec(step(), 0..10),
        ) {
            let start: Tree = initial.iter().map(|p| (*p, 0)).collect();
            let mut trees = vec![start.clone()];
            let mut fold = FileFold::default();
            let mut touched: HashMap<u8, usize> = HashMap::new();
            for s in steps {
                let prev = trees.last().cloned().unwrap_or_default();
                let next = match s {
                    Step::Commit(ops) => {
                        let mut t = prev.clone();
                        for op in ops {
                            match op {
                                Op::Write(p, v) => { t.insert(p, v); }
                                Op::Remove(p) => { t.remove(&p); }
                            }
                        }
                        t
                    }
                    Step::Restore(k) => trees[k % trees.len()].clone(),
                };
                let lists = diff(&prev, &next);
                if lists.is_empty() {
                    continue; // git makes no empty commits here
                }
                let names = |st: FileStatus| lists.iter().filter(|c| c.status == st).map(|c| c.path.clone()).collect::<Vec<_>>();
                fold.apply_commit(&names(Added), &names(Removed), &names(Modified));
                for c in &lists {
                    let p: u8 = c.path[1..].parse().expect("path");
                    *touched.entry(p).or_default() += 1;
                }
                trees.push(next);
            }
            let want = diff(&start, trees.last().expect("a tree"));
            let exact = fold.is_exact();
            let uncertain: BTreeSet<String> = fold.uncertain_paths().map(str::to_owned).collect();
            let got = fold.into_files();
            let certain = |files: &[ChangedFile]| -> Vec<ChangedFile> {
                files.iter().filter(|c| !uncertain.contains(&c.path)).cloned().collect()
            };
            prop_assert_eq!(certain(&got), certain(&want));
            if exact {
                prop_assert_eq!(&got, &want);
            }
            // Never uncertain without cause: a path changed by one commit only is always known.
            for path in &uncertain {
                let p: u8 = path[1..].parse().expect("path");
                prop_assert!(touched.get(&p).copied().unwrap_or(0) > 1, "{} uncertain", path);
            }
        }
    }
}
