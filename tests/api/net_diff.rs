//! The recorded file list is `git diff --no-renames --name-status before after` of the push, also when
//! the history undoes itself: an exact revert, a file modified and restored, a file deleted and re-added
//! with the same bytes, a file added and deleted, a merge. Each history is made with git in a real
//! repository (a clone, pushed to the bare repository the fake GitHub serves) and delivered twice:
//! (a) with the payload's lists as GitHub sends them (each commit against its first parent), where the
//! fold either knows the net diff or says it cannot and the API completes it; (b) with every list left
//! out, so that the commit, compare and tree APIs give the whole answer.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::backend_tests;
use crate::fake_github::{git, push_from_git, GitRepo, Route};
use crate::github_files::{app_with_fake, deliver, recorded_for, spec, INSTALLATION};
use crate::helpers::TestDb;

backend_tests!(
    exact_revert,
    file_modified_then_restored,
    file_deleted_then_readded_with_the_same_bytes,
    file_added_then_deleted,
    merge_commit,
);

/// A working clone of the bare repository the fake serves.
struct Work {
    dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Work {
    fn clone_of(bare: &Path) -> Self {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("work");
        let (from, to) = (bare.display().to_string(), dir.display().to_string());
        git(tmp.path(), &["clone", "--quiet", &from, &to]);
        let w = Self { dir, _tmp: tmp };
        w.git(&["symbolic-ref", "HEAD", "refs/heads/main"]);
        w.git(&["config", "user.name", "Student"]);
        w.git(&["config", "user.email", "student@example.com"]);
        w.git(&["config", "commit.gpgsign", "false"]);
        w
    }

    /// A fresh repository and a working clone of it with its [`base`](Self::base) pushed: the
    /// repository, the clone and the base's SHA.
    fn on_fresh_repo() -> (GitRepo, Self, String) {
        let repo = GitRepo::new();
        let w = Self::clone_of(&repo.dir);
        let base = w.base();
        (repo, w, base)
    }

    fn git(&self, args: &[&str]) -> String {
        git(&self.dir, args)
    }

    fn put(&self, path: &str, content: &str) {
        let p = self.dir.join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(p, content).expect("write");
    }

    fn rm(&self, path: &str) {
        std::fs::remove_file(self.dir.join(path)).expect("rm");
    }

    /// Commit everything in the working tree; returns the SHA.
    fn commit(&self, msg: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "--quiet", "-m", msg]);
        self.head()
    }

    fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"]).trim().to_owned()
    }

    fn push(&self) {
        self.git(&["push", "--quiet", "origin", "HEAD:refs/heads/main"]);
    }

    /// A pushed first commit: a.txt, b.txt, c.txt and src/lib.rs.
    fn base(&self) -> String {
        for (p, c) in [
            ("a.txt", "a\n"),
            ("b.txt", "b\n"),
            ("c.txt", "c\n"),
            ("src/lib.rs", "pub fn f() {}\n"),
        ] {
            self.put(p, c);
        }
        let sha = self.commit("base");
        self.push();
        sha
    }
}

/// How the payload lists a commit's files.
#[derive(Clone, Copy)]
enum Lists {
    /// As GitHub shows a commit: against its first parent (a merge too).
    FirstParent,
    /// Left out (as GitHub does past 3000 paths): the API must give them.
    Empty,
}

/// The push `before..after` of `main` as GitHub delivers it: its commits oldest first (parents before
/// children), each with its lists.
fn payload(
    repo: &GitRepo,
    name: &str,
    repo_id: i64,
    before: &str,
    after: &str,
    lists: Lists,
) -> Value {
    let mut s = spec(name, Some(before), after);
    s.repo_id = repo_id;
    let mut p = push_from_git(repo, &s);
    let template = p["head_commit"].clone();
    let range = format!("{before}..{after}");
    let commits: Vec<Value> = repo
        .git(&["rev-list", "--reverse", "--topo-order", &range])
        .lines()
        .map(|sha| {
            let mut c = template.clone();
            c["id"] = json!(sha);
            c["tree_id"] = json!(sha);
            let (mut added, mut removed, mut modified) = (vec![], vec![], vec![]);
            if let Lists::FirstParent = lists {
                let parent = format!("{sha}^1");
                for line in repo
                    .git(&["diff", "--no-renames", "--name-status", &parent, sha])
                    .lines()
                {
                    match line.split_once('\t') {
                        Some(("A", path)) => added.push(path.to_owned()),
                        Some(("D", path)) => removed.push(path.to_owned()),
                        Some((_, path)) => modified.push(path.to_owned()),
                        None => {}
                    }
                }
            }
            c["added"] = json!(added);
            c["removed"] = json!(removed);
            c["modified"] = json!(modified);
            c
        })
        .collect();
    p["head_commit"] = commits.last().cloned().unwrap_or(Value::Null);
    p["commits"] = json!(commits);
    p
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(p, s)| ((*p).to_owned(), (*s).to_owned()))
        .collect()
}

/// Deliver the push `before..after` both ways and compare each recorded list with git's diff.
/// `fold_knows`: the payload's lists alone give the net diff (no API call is needed).
async fn check(
    db: TestDb,
    repo: &GitRepo,
    before: &str,
    after: &str,
    want: &[(&str, &str)],
    fold_knows: bool,
) {
    let expected = repo.expected_files(before, after);
    assert_eq!(expected, pairs(want), "git's own diff of the history");
    let (app, fake) = app_with_fake(&db).await;
    fake.add_repo(INSTALLATION, "course/lab1-lists", 500, &repo.dir);
    fake.add_repo(INSTALLATION, "course/lab1-api", 501, &repo.dir);

    // (a) The payload's lists: the fold's answer, or the API's where the fold cannot know.
    let p = payload(repo, "lab1-lists", 500, before, after, Lists::FirstParent);
    let d = deliver(&app, "lists-1", &p).await;
    assert_eq!(d.status, "processed", "{:?}", d.last_error);
    let (files, source, complete) = recorded_for(&app, 500).await;
    assert_eq!(files, expected, "from the payload's lists");
    assert!(complete);
    if fold_knows {
        assert_eq!(source, "payload");
        assert_eq!(fake.enrichment_calls(), 0, "{:?}", fake.seen());
    } else {
        assert_eq!(source, "api", "the fold must not guess");
        assert_eq!(fake.count(Route::Tree), 2, "before's tree and after's");
        assert_eq!(
            fake.count(Route::Commit),
            0,
            "the payload listed every commit"
        );
    }

    // (b) No lists: commits through the commit API, then the trees where their fold cannot know.
    let trees = fake.count(Route::Tree);
    let p = payload(repo, "lab1-api", 501, before, after, Lists::Empty);
    let d = deliver(&app, "api-1", &p).await;
    assert_eq!(d.status, "processed", "{:?}", d.last_error);
    let (files, source, complete) = recorded_for(&app, 501).await;
    assert_eq!(files, expected, "through the API");
    assert_eq!((source.as_str(), complete), ("api", true));
    let commits = p["commits"].as_array().map_or(0, Vec::len);
    assert!(fake.count(Route::Commit) >= commits);
    if fold_knows {
        assert_eq!(fake.count(Route::Tree), trees, "the commits' lists suffice");
    }
    app.stop().await;
}

/// `git revert` of a commit that changed a.txt and added n.txt; b.txt changed in between.
async fn exact_revert(db: TestDb) {
    let (repo, w, before) = Work::on_fresh_repo();
    w.put("a.txt", "a, changed\n");
    w.put("n.txt", "new\n");
    let c1 = w.commit("change a, add n");
    w.put("b.txt", "b, changed\n");
    w.commit("change b");
    w.git(&["revert", "--no-edit", &c1]);
    let after = w.head();
    w.push();
    check(db, &repo, &before, &after, &[("b.txt", "modified")], false).await;
}

/// a.txt changed, then written back to its original bytes by hand; c.txt changed.
async fn file_modified_then_restored(db: TestDb) {
    let (repo, w, before) = Work::on_fresh_repo();
    w.put("a.txt", "x\n");
    w.commit("change a");
    w.put("a.txt", "a\n");
    w.put("c.txt", "c, changed\n");
    let after = w.commit("restore a, change c");
    w.push();
    check(db, &repo, &before, &after, &[("c.txt", "modified")], false).await;
}

/// b.txt and c.txt deleted; b.txt re-added with the same bytes, c.txt with others; d.txt added.
async fn file_deleted_then_readded_with_the_same_bytes(db: TestDb) {
    let (repo, w, before) = Work::on_fresh_repo();
    w.rm("b.txt");
    w.rm("c.txt");
    w.commit("delete b and c");
    w.put("b.txt", "b\n");
    w.put("c.txt", "c, other bytes\n");
    w.put("d.txt", "d\n");
    let after = w.commit("b and c back, d");
    w.push();
    check(
        db,
        &repo,
        &before,
        &after,
        &[("c.txt", "modified"), ("d.txt", "added")],
        false,
    )
    .await;
}

/// t.txt added, then deleted; a.txt changed: the lists alone know (t.txt did not exist before).
async fn file_added_then_deleted(db: TestDb) {
    let (repo, w, before) = Work::on_fresh_repo();
    w.put("t.txt", "temporary\n");
    w.commit("add t");
    w.rm("t.txt");
    w.put("a.txt", "a, changed\n");
    let after = w.commit("delete t, change a");
    w.push();
    check(db, &repo, &before, &after, &[("a.txt", "modified")], true).await;
}

/// A feature branch (a.txt changed twice, f.txt added, c.txt deleted) merged into main, which changed
/// b.txt meanwhile (already pushed): the push is the merge and the branch's commits.
async fn merge_commit(db: TestDb) {
    let (repo, w, _) = Work::on_fresh_repo();
    w.git(&["checkout", "--quiet", "-b", "feature"]);
    w.put("a.txt", "a, feature 1\n");
    w.put("f.txt", "feature\n");
    w.commit("feature 1");
    w.put("a.txt", "a, feature 2\n");
    w.rm("c.txt");
    w.commit("feature 2");
    w.git(&["checkout", "--quiet", "main"]);
    w.put("b.txt", "b, main\n");
    let before = w.commit("main moves on");
    w.push();
    w.git(&["merge", "--quiet", "--no-ff", "--no-edit", "feature"]);
    let after = w.head();
    w.push();
    assert_eq!(
        repo.git(&["log", "-1", "--format=%P", &after])
            .split_whitespace()
            .count(),
        2,
        "a merge commit"
    );
    check(
        db,
        &repo,
        &before,
        &after,
        &[
            ("a.txt", "modified"),
            ("c.txt", "removed"),
            ("f.txt", "added"),
        ],
        false,
    )
    .await;
}
