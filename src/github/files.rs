//! Completing a push's changed-file list through the API when GitHub truncated the payload
//! (docs/design.md §4): the compare API for the full commit list, the commit API for a commit's files, and a
//! diff of two recursive git trees past the commit API's 3000 files. Everything goes through the same
//! [`FileFold`] as payload lists; where the fold cannot give a path's net status (a change undone, a
//! merge, a force push), git's own diff of the push's two trees replaces it.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use super::{repo_path, GithubApp, GithubError};
use crate::domain::files::{ChangedFile, FileFold};
use crate::webhook::event::{Push, PushCommit, MAX_PAYLOAD_COMMITS, MAX_PAYLOAD_COMMIT_FILES};

/// Commits per compare page (the API's maximum).
const COMPARE_PAGE: usize = 100;
/// The commit API lists at most this many files of one commit.
const COMMIT_API_MAX_FILES: usize = 3000;
/// Past this many commits whose files must be fetched one by one, diff the trees of the merge base and
/// the head instead (two calls; the same answer for a history that does not revert its own changes).
pub const COMMIT_FETCH_BUDGET: usize = 250;

/// A push's complete file list, as far as GitHub can say.
#[derive(Debug, Clone)]
pub struct Enriched {
    pub files: Vec<ChangedFile>,
    /// False where GitHub itself could not say (a truncated tree, a short commit list).
    pub complete: bool,
}

/// One commit's changes as three lists, ready for the fold.
#[derive(Debug, Default, Clone)]
struct Lists {
    added: Vec<String>,
    removed: Vec<String>,
    modified: Vec<String>,
    complete: bool,
    /// A merge commit: its lists (against one parent) do not chain with its parents' lists.
    merge: bool,
}

impl Lists {
    fn len(&self) -> usize {
        self.added.len() + self.removed.len() + self.modified.len()
    }

    fn apply_to(&self, fold: &mut FileFold) {
        fold.apply_commit(&self.added, &self.removed, &self.modified);
    }
}

#[derive(Deserialize)]
struct ShaRef {
    sha: String,
}

#[derive(Deserialize)]
struct ComparePage {
    #[serde(default)]
    total_commits: usize,
    #[serde(default)]
    commits: Vec<ShaRef>,
    merge_base_commit: Option<ShaRef>,
}

#[derive(Deserialize)]
struct CommitFile {
    filename: String,
    status: String,
    previous_filename: Option<String>,
}

#[derive(Deserialize)]
struct CommitPage {
    #[serde(default)]
    parents: Vec<ShaRef>,
    #[serde(default)]
    files: Vec<CommitFile>,
}

#[derive(Deserialize)]
struct TreeEntry {
    path: String,
    mode: String,
    #[serde(rename = "type")]
    kind: String,
    sha: String,
}

#[derive(Deserialize)]
struct Tree {
    #[serde(default)]
    tree: Vec<TreeEntry>,
    #[serde(default)]
    truncated: bool,
}

/// The API calls of one enrichment.
struct Repo<'a> {
    app: &'a GithubApp,
    installation_id: i64,
    repo: &'a str,
}

/// Build the complete file list of a truncated push. Makes no call for a commit whose payload lists are
/// complete.
#[tracing::instrument(skip(app, push), fields(repo = %push.repository_full_name, after = %push.after.as_str()))]
pub async fn enrich(app: &GithubApp, push: &Push) -> Result<Enriched, GithubError> {
    let r = Repo {
        app,
        installation_id: push.installation_id.unwrap_or_default(),
        repo: repo_path(&push.repository_full_name)?,
    };
    let after = push.after.as_str();
    if push.commits.is_empty() && !push.created {
        // The ref moved without new commits (a force push back): git's own diff of the two heads.
        let lists = r.tree_diff(Some(push.before.as_str()), after).await?;
        return Ok(folded(&[lists]).enriched);
    }
    let out = if push.commits.len() >= MAX_PAYLOAD_COMMITS {
        match r.full_commit_list(push).await? {
            FullList::Commits(list, complete) => {
                let by_sha: HashMap<&str, &PushCommit> =
                    push.commits.iter().map(|c| (c.id.as_str(), c)).collect();
                let list: Vec<_> = list
                    .into_iter()
                    .map(|sha| {
                        let listed = by_sha.get(sha.as_str()).copied();
                        (sha, listed)
                    })
                    .collect();
                let mut out = r.fold_commits(&list).await?;
                out.enriched.complete &= complete;
                out
            }
            FullList::Diff(lists) => return Ok(folded(&[lists]).enriched),
        }
    } else {
        let commits: Vec<(String, Option<&PushCommit>)> = push
            .commits
            .iter()
            .map(|c| (c.id.clone(), Some(c)))
            .collect();
        r.fold_commits(&commits).await?
    };
    // A force push of an existing branch may have dropped commits the lists never show.
    let dropped_commits = push.forced && !push.created;
    if out.exact && !dropped_commits {
        return Ok(out.enriched);
    }
    // The lists cannot say (a path changed and changed back, a merge), or a force push dropped
    // commits: git's own diff of the push, from the trees of its base and its head.
    tracing::debug!(
        forced = push.forced,
        "the commits' lists are not the net diff; diffing the trees"
    );
    let base = r.net_base(push).await?;
    let net = r.tree_diff(base.as_deref(), after).await?;
    if net.complete {
        return Ok(folded(&[net]).enriched);
    }
    // GitHub truncated a tree: keep the fold, and say it may differ from git's diff.
    Ok(Enriched {
        complete: false,
        ..out.enriched
    })
}

/// A fold's result, and whether it is git's net diff.
struct Folded {
    enriched: Enriched,
    /// Every path's net status follows from the lists and no commit was a merge.
    exact: bool,
}

fn folded(parts: &[Lists]) -> Folded {
    let mut fold = FileFold::default();
    for p in parts {
        p.apply_to(&mut fold);
    }
    let exact = fold.is_exact() && !parts.iter().any(|p| p.merge);
    Folded {
        enriched: Enriched {
            files: fold.into_files(),
            complete: parts.iter().all(|p| p.complete),
        },
        exact,
    }
}

/// The full commit list of a push, or (past the fetch budget, or with no earlier history) a tree diff.
enum FullList {
    Commits(Vec<String>, bool),
    Diff(Lists),
}

impl Repo<'_> {
    /// Fold commits oldest first: payload lists where complete, the API elsewhere.
    async fn fold_commits(
        &self,
        commits: &[(String, Option<&PushCommit>)],
    ) -> Result<Folded, GithubError> {
        let mut parts = Vec::with_capacity(commits.len());
        for (sha, listed) in commits {
            let lists = match listed {
                Some(c) if !c.files_truncated() => Lists {
                    added: c.added.clone(),
                    removed: c.removed.clone(),
                    modified: c.modified.clone(),
                    complete: true,
                    merge: false,
                },
                Some(c) => {
                    let shown = c.added.len() + c.removed.len() + c.modified.len();
                    self.commit_files(sha, shown).await?
                }
                None => self.commit_files(sha, 0).await?,
            };
            parts.push(lists);
        }
        Ok(folded(&parts))
    }

    /// Every commit of the push through the compare API, paged by commits.
    async fn full_commit_list(&self, push: &Push) -> Result<FullList, GithubError> {
        let after = push.after.as_str();
        let base = if !push.before.is_zero() {
            Some(push.before.as_str().to_owned())
        } else {
            // A new branch: its commits are those not on the default branch, unless it is the default
            // branch itself (the repository's first push), where every file is new.
            push.default_branch
                .as_deref()
                .filter(|d| Some(*d) != push.branch())
                .map(encode_ref)
        };
        let Some(base) = base else {
            return Ok(FullList::Diff(self.tree_diff(None, after).await?));
        };
        let mut path = Some(format!(
            "/repos/{}/compare/{base}...{after}?per_page={COMPARE_PAGE}",
            self.repo
        ));
        let (mut shas, mut total, mut merge_base) = (Vec::new(), 0, None);
        while let Some(p) = path.take() {
            let (page, response): (ComparePage, _) =
                self.app.get_json(self.installation_id, &p).await?;
            total = total.max(page.total_commits);
            merge_base = merge_base.or(page.merge_base_commit.map(|m| m.sha));
            shas.extend(page.commits.into_iter().map(|c| c.sha));
            path = self.app.next_page(&response)?;
        }
        let listed: std::collections::HashSet<&str> =
            push.commits.iter().map(|c| c.id.as_str()).collect();
        let to_fetch = shas.iter().filter(|s| !listed.contains(s.as_str())).count();
        if to_fetch > COMMIT_FETCH_BUDGET {
            tracing::info!(
                commits = shas.len(),
                to_fetch,
                "too many commits to fetch one by one; diffing the trees instead"
            );
            let base = merge_base.unwrap_or(base);
            return Ok(FullList::Diff(self.tree_diff(Some(&base), after).await?));
        }
        let complete = shas.len() >= total;
        Ok(FullList::Commits(shas, complete))
    }

    /// One commit's changes through the commit API (300 files a page, up to 3000), or past that a diff of
    /// its tree against its first parent's. `shown` is how many paths the payload listed.
    async fn commit_files(&self, sha: &str, shown: usize) -> Result<Lists, GithubError> {
        let first = format!("/repos/{}/commits/{sha}", self.repo);
        let (page, response): (CommitPage, _) =
            self.app.get_json(self.installation_id, &first).await?;
        let parent = page.parents.first().map(|p| p.sha.clone());
        let merge = page.parents.len() > 1;
        let mut lists = Lists {
            complete: true,
            merge,
            ..Lists::default()
        };
        add_commit_files(&mut lists, page.files);
        // The payload already showed the cap: the commit API cannot say more.
        if shown < MAX_PAYLOAD_COMMIT_FILES {
            let mut next = self.app.next_page(&response)?;
            while let Some(p) = next.take() {
                let (page, response): (CommitPage, _) =
                    self.app.get_json(self.installation_id, &p).await?;
                add_commit_files(&mut lists, page.files);
                next = self.app.next_page(&response)?;
            }
        }
        if shown >= MAX_PAYLOAD_COMMIT_FILES || lists.len() >= COMMIT_API_MAX_FILES {
            let diff = self.tree_diff(parent.as_deref(), sha).await?;
            if diff.complete {
                return Ok(Lists { merge, ..diff });
            }
            // GitHub truncated a tree: keep what the commit API said, and say it is incomplete.
            lists.complete = false;
        }
        Ok(lists)
    }

    /// What the push's net diff is taken against: `before`; for a new branch, where it leaves the default
    /// branch (the merge base, as GitHub's compare view); for a repository's first push, nothing.
    async fn net_base(&self, push: &Push) -> Result<Option<String>, GithubError> {
        if !push.before.is_zero() {
            return Ok(Some(push.before.as_str().to_owned()));
        }
        let Some(default) = push
            .default_branch
            .as_deref()
            .filter(|d| Some(*d) != push.branch())
        else {
            return Ok(None);
        };
        let path = format!(
            "/repos/{}/compare/{}...{}?per_page=1",
            self.repo,
            encode_ref(default),
            push.after.as_str()
        );
        let (page, _): (ComparePage, _) = self.app.get_json(self.installation_id, &path).await?;
        Ok(Some(
            page.merge_base_commit
                .map_or_else(|| encode_ref(default), |m| m.sha),
        ))
    }

    /// `git diff --no-renames base head` from the two recursive trees (`None`: the empty tree). A tree
    /// GitHub truncated lists only some of its paths: a path missing from it may be there all the same, so
    /// it cannot make another path added (base truncated) or removed (head truncated); the list is then
    /// incomplete, never wrong.
    async fn tree_diff(&self, base: Option<&str>, head: &str) -> Result<Lists, GithubError> {
        let (head_tree, head_complete) = self.tree(head).await?;
        let (base_tree, base_complete) = match base {
            Some(b) => self.tree(b).await?,
            None => (BTreeMap::new(), true),
        };
        let mut lists = Lists {
            complete: head_complete && base_complete,
            ..Lists::default()
        };
        for (path, entry) in &head_tree {
            match base_tree.get(path) {
                None if base_complete => lists.added.push(path.clone()),
                None => {}
                Some(old) if old != entry => lists.modified.push(path.clone()),
                Some(_) => {}
            }
        }
        if head_complete {
            lists.removed = base_tree
                .keys()
                .filter(|p| !head_tree.contains_key(*p))
                .cloned()
                .collect();
        }
        Ok(lists)
    }

    /// The files of a commit's tree (blobs and submodules) with their mode and object id.
    async fn tree(
        &self,
        commit: &str,
    ) -> Result<(BTreeMap<String, (String, String)>, bool), GithubError> {
        let path = format!("/repos/{}/git/trees/{commit}?recursive=1", self.repo);
        let (tree, _): (Tree, _) = self.app.get_json(self.installation_id, &path).await?;
        let files = tree
            .tree
            .into_iter()
            .filter(|e| e.kind != "tree")
            .map(|e| (e.path, (e.mode, e.sha)))
            .collect();
        Ok((files, !tree.truncated))
    }
}

/// The commit API's statuses as the fold's lists: a rename is a removal and an addition.
fn add_commit_files(lists: &mut Lists, files: Vec<CommitFile>) {
    for f in files {
        match f.status.as_str() {
            "added" | "copied" => lists.added.push(f.filename),
            "removed" => lists.removed.push(f.filename),
            "renamed" => {
                if let Some(old) = f.previous_filename {
                    lists.removed.push(old);
                }
                lists.added.push(f.filename);
            }
            "unchanged" => {}
            // "modified", "changed" (mode or type)
            _ => lists.modified.push(f.filename),
        }
    }
}

/// A branch name as a compare path segment ('/' kept, everything unusual escaped).
fn encode_ref(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::files::FileStatus;

    #[test]
    fn renames_fold_as_removal_and_addition() {
        let mut lists = Lists::default();
        add_commit_files(
            &mut lists,
            vec![
                CommitFile {
                    filename: "b.txt".into(),
                    status: "renamed".into(),
                    previous_filename: Some("a.txt".into()),
                },
                CommitFile {
                    filename: "c.txt".into(),
                    status: "changed".into(),
                    previous_filename: None,
                },
            ],
        );
        let out = folded(&[Lists {
            complete: true,
            ..lists
        }]);
        assert!(out.exact);
        let got: Vec<(&str, FileStatus)> = out
            .enriched
            .files
            .iter()
            .map(|f| (f.path.as_str(), f.status))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a.txt", FileStatus::Removed),
                ("b.txt", FileStatus::Added),
                ("c.txt", FileStatus::Modified)
            ]
        );
    }

    #[test]
    fn refs_are_escaped_for_paths() {
        assert_eq!(encode_ref("feature/x y"), "feature/x%20y");
        assert_eq!(encode_ref("main"), "main");
    }
}
