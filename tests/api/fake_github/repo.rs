//! The repositories the fake serves, built with one `git fast-import` process, and the push payloads
//! GitHub would send for a push of them.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::helpers::fixture_json;

/// Run git in `dir` and return its standard output.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 from git")
}

/// A change to the working tree in a fast-import commit.
pub enum Op {
    Write(String, String),
    Delete(String),
}

/// A bare git repository built with one `git fast-import` process.
pub struct GitRepo {
    pub dir: PathBuf,
    _tmp: tempfile::TempDir,
    stream: String,
    mark: usize,
    time: i64,
}

impl GitRepo {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("repo.git");
        git(
            tmp.path(),
            &[
                "init",
                "--bare",
                "--quiet",
                "-b",
                "main",
                &dir.display().to_string(),
            ],
        );
        Self {
            dir,
            _tmp: tmp,
            stream: String::new(),
            mark: 0,
            time: 1_767_225_600,
        }
    }

    /// Queue a commit on `branch` (from `from`, a mark or a ref, for its first commit); returns its mark.
    pub fn commit(&mut self, branch: &str, from: Option<&str>, ops: &[Op]) -> String {
        self.mark += 1;
        self.time += 60;
        let msg = format!("commit {}", self.mark);
        let s = &mut self.stream;
        let _ = write!(
            s,
            "commit refs/heads/{branch}\nmark :{}\ncommitter Test <test@example.com> {} +0000\ndata {}\n{msg}\n",
            self.mark,
            self.time,
            msg.len()
        );
        if let Some(f) = from {
            let _ = writeln!(s, "from {f}");
        }
        for op in ops {
            match op {
                Op::Write(path, content) => {
                    let _ = write!(
                        s,
                        "M 100644 inline {path}\ndata {}\n{content}\n",
                        content.len()
                    );
                }
                Op::Delete(path) => {
                    let _ = writeln!(s, "D {path}");
                }
            }
        }
        s.push('\n');
        format!(":{}", self.mark)
    }

    /// Run the queued stream; marks become SHAs.
    pub fn import(&mut self) -> HashMap<String, String> {
        let marks = self.dir.join("marks");
        let mut child = Command::new("git")
            .arg("-C")
            .arg(&self.dir)
            .args(["fast-import", "--quiet", "--force"])
            .arg(format!("--export-marks={}", marks.display()))
            .stdin(Stdio::piped())
            .spawn()
            .expect("git fast-import");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(std::mem::take(&mut self.stream).as_bytes())
            .expect("feed fast-import");
        assert!(child.wait().expect("fast-import").success());
        std::fs::read_to_string(&marks)
            .expect("marks")
            .lines()
            .filter_map(|l| l.split_once(' ').map(|(m, s)| (m.to_owned(), s.to_owned())))
            .collect()
    }

    pub fn git(&self, args: &[&str]) -> String {
        git(&self.dir, args)
    }

    /// `git diff --name-status --no-renames a b` as (path, status) pairs sorted by path.
    pub fn expected_files(&self, a: &str, b: &str) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .git(&["diff", "--name-status", "--no-renames", a, b])
            .lines()
            .filter_map(|l| {
                let (code, path) = l.split_once('\t')?;
                let status = match code {
                    "A" => "added",
                    "D" => "removed",
                    _ => "modified",
                };
                Some((path.to_owned(), status.to_owned()))
            })
            .collect();
        out.sort();
        out
    }
}

/// How GitHub cut a commit's file lists in the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// At most 3000 paths, the rest left out.
    Cap,
    /// No lists at all for a commit with more than 3000 paths.
    Empty,
}

/// What to push.
pub struct PushSpec<'a> {
    pub org: &'a str,
    pub repo: &'a str,
    pub repo_id: i64,
    pub installation_id: i64,
    pub branch: &'a str,
    /// `None`: a new branch (`before` is zeros); its commits are those not reachable from `base`.
    pub before: Option<&'a str>,
    pub base: Option<&'a str>,
    pub after: &'a str,
    pub forced: bool,
    pub pushed_at: i64,
    pub cut: Cut,
}

/// A push payload as GitHub would send it for this push of a git repository: commits oldest first, at
/// most 2048 (the oldest, here), each commit's lists cut as GitHub cuts them.
pub fn push_from_git(repo: &GitRepo, spec: &PushSpec<'_>) -> Value {
    let range = match (spec.before, spec.base) {
        (Some(b), _) => vec![format!("{b}..{}", spec.after)],
        (None, Some(base)) => vec![spec.after.to_owned(), "--not".into(), base.to_owned()],
        (None, None) => vec![spec.after.to_owned()],
    };
    let mut args = vec![
        "log",
        "--reverse",
        "--no-renames",
        "--name-status",
        "--format=@%H",
    ];
    args.extend(range.iter().map(String::as_str));
    let mut commits: Vec<(String, BTreeMap<&'static str, Vec<String>>)> = Vec::new();
    let log = repo.git(&args);
    for line in log.lines().filter(|l| !l.is_empty()) {
        if let Some(sha) = line.strip_prefix('@') {
            commits.push((sha.to_owned(), BTreeMap::new()));
        } else if let (Some((code, path)), Some(c)) = (line.split_once('\t'), commits.last_mut()) {
            let key = match code {
                "A" => "added",
                "D" => "removed",
                _ => "modified",
            };
            c.1.entry(key).or_default().push(path.to_owned());
        }
    }
    let mut p = fixture_json("octokit-webhooks/push/with-new-branch.payload.json");
    let template = p["commits"][0].clone();
    let list: Vec<Value> = commits
        .iter()
        .take(2048)
        .map(|(sha, lists)| {
            let total: usize = lists.values().map(Vec::len).sum();
            let mut c = template.clone();
            c["id"] = json!(sha);
            c["tree_id"] = json!(sha);
            let mut left = 3000usize;
            for key in ["added", "removed", "modified"] {
                let paths = lists.get(key).cloned().unwrap_or_default();
                let shown: Vec<String> = match spec.cut {
                    Cut::Empty if total > 3000 => Vec::new(),
                    _ => paths.into_iter().take(left).collect(),
                };
                left -= shown.len();
                c[key] = json!(shown);
            }
            c
        })
        .collect();
    let zeros = "0".repeat(40);
    p["ref"] = json!(format!("refs/heads/{}", spec.branch));
    p["before"] = json!(spec.before.map_or(zeros.clone(), |b| repo
        .git(&["rev-parse", b])
        .trim()
        .to_owned()));
    p["after"] = json!(spec.after);
    p["created"] = json!(spec.before.is_none());
    p["forced"] = json!(spec.forced);
    p["head_commit"] = list.last().cloned().unwrap_or(Value::Null);
    p["commits"] = json!(list);
    p["repository"]["name"] = json!(spec.repo);
    p["repository"]["full_name"] = json!(format!("{}/{}", spec.org, spec.repo));
    p["repository"]["id"] = json!(spec.repo_id);
    p["repository"]["owner"]["login"] = json!(spec.org);
    p["repository"]["pushed_at"] = json!(spec.pushed_at);
    p["repository"]["default_branch"] = json!("main");
    p["organization"] = json!({ "login": spec.org, "id": 9000 });
    p["installation"] = json!({ "id": spec.installation_id });
    p
}
