//! Commits, comparisons and trees, answered from the repository's git directory: compare (pages of
//! commits, files on the first page only, at most 300), a commit (pages of 300 files, at most 3000), a
//! tree (one level, or all of it with `recursive`, truncated past GitHub's limit).

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use super::repo::git;
use super::shapes;
use super::state::State;
use super::{
    link, message, not_found, page_params, reply, serve, with_link, Answer, Call, Route, Served,
};

/// Files per page of the commit API, and its cap.
const COMMIT_PAGE: usize = 300;
const COMMIT_CAP: usize = 3000;
/// Commits an unpaged compare lists: the newest ones.
const UNPAGED_COMMITS: usize = 250;
/// Files listed by compare, on its first page only.
const COMPARE_FILES_CAP: usize = 300;

/// A repository path: by owner and name, or by id (as in `Link` headers).
pub(super) const REPO: &str = r"/(?:repos/[^/]+/[^/]+|repositories/\d+)";

/// The compare, commit and tree endpoints (an installation token).
pub(super) fn endpoints() -> Vec<Served> {
    vec![
        serve(Route::Compare, "GET", format!("{REPO}/compare/.+"), compare),
        serve(
            Route::Commit,
            "GET",
            format!("{REPO}/commits/[^/]+"),
            commit,
        ),
        serve(Route::Tree, "GET", format!("{REPO}/git/trees/[^/]+"), tree),
    ]
}

fn compare(st: &mut State, call: &Call<'_>) -> Answer {
    let dir = &call.repo().dir;
    let Some(basehead) = call.path.split_once("/compare/").map(|(_, b)| b) else {
        return not_found();
    };
    let Some((b, h)) = basehead.split_once("...") else {
        return not_found();
    };
    let (Some(b), Some(h)) = (rev(dir, b), rev(dir, h)) else {
        return message(404, "No common ancestor between base and head");
    };
    let mb = git(dir, &["merge-base", &b, &h]).trim().to_owned();
    let commits: Vec<String> = git(dir, &["rev-list", "--reverse", &format!("{mb}..{h}")])
        .lines()
        .map(str::to_owned)
        .collect();
    let behind = git(dir, &["rev-list", "--count", &format!("{mb}..{b}")])
        .trim()
        .parse::<usize>()
        .unwrap_or(0);
    let status = match (commits.len(), behind) {
        (0, 0) => "identical",
        (_, 0) => "ahead",
        (0, _) => "behind",
        _ => "diverged",
    };
    let q = &call.query;
    let paged = q.contains_key("per_page") || q.contains_key("page");
    let (per, page) = page_params(q, UNPAGED_COMMITS, 100);
    let last = commits.len().div_ceil(per).max(1);
    let base = call.repo_base(st);
    // Unpaged: the newest 250, so that the last one listed is the head (GitHub's documented answer).
    let slice: Vec<&String> = if paged {
        commits.iter().skip((page - 1) * per).take(per).collect()
    } else {
        let skipped = commits.len().saturating_sub(UNPAGED_COMMITS);
        commits.iter().skip(skipped).collect()
    };
    let mut wanted: Vec<&str> = vec![&b, &mb];
    wanted.extend(slice.iter().map(|s| s.as_str()));
    let meta = commit_meta(dir, &wanted);
    let shape = |sha: &str| {
        let (tree, parents) = &meta[sha];
        shapes::commit(st, &base, sha, tree, parents)
    };
    let web = format!("{}/{}", st.origin, call.repo().full_name);
    let mut body = json!({
        "url": format!("{base}/compare/{basehead}"),
        "html_url": format!("{web}/compare/{basehead}"),
        "permalink_url": format!("{web}/compare/{b}...{h}"),
        "diff_url": format!("{web}/compare/{basehead}.diff"),
        "patch_url": format!("{web}/compare/{basehead}.patch"),
        "base_commit": shape(&b),
        "merge_base_commit": shape(&mb),
        "status": status,
        "ahead_by": commits.len(),
        "behind_by": behind,
        "total_commits": commits.len(),
        "commits": slice.iter().map(|sha| shape(sha)).collect::<Vec<_>>(),
    });
    if page == 1 {
        let files: Vec<Value> = name_status(dir, &["diff", "--name-status", "-M", &mb, &h])
            .into_iter()
            .take(COMPARE_FILES_CAP)
            .map(|f| shapes::diff_entry(&base, &h, f))
            .collect();
        body["files"] = json!(files);
    }
    let url = format!("{base}/compare/{basehead}");
    let l = if paged {
        link(&url, &format!("per_page={per}&"), page, last)
    } else {
        None
    };
    (200, with_link(reply(st, 200, body), l))
}

fn commit(st: &mut State, call: &Call<'_>) -> Answer {
    let dir = call.repo().dir.clone();
    let Some(sha) = rev(&dir, call.segment_after("/commits/")) else {
        return message(422, "No commit found for SHA");
    };
    let files = st
        .commit_files
        .entry(sha.clone())
        .or_insert_with(|| {
            name_status(
                &dir,
                &[
                    "diff-tree",
                    "-r",
                    "-M",
                    "--root",
                    "--no-commit-id",
                    "--name-status",
                    &sha,
                ],
            )
            .into_iter()
            .take(COMMIT_CAP)
            .collect()
        })
        .clone();
    let page = call
        .query
        .get("page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1usize)
        .max(1);
    let last = files.len().div_ceil(COMMIT_PAGE).max(1);
    let base = call.repo_base(st);
    let meta = commit_meta(&dir, &[&sha]);
    let (tree, parents) = &meta[&sha];
    let mut body = shapes::commit(st, &base, &sha, tree, parents);
    body["files"] = files
        .into_iter()
        .skip((page - 1) * COMMIT_PAGE)
        .take(COMMIT_PAGE)
        .map(|f| shapes::diff_entry(&base, &sha, f))
        .collect();
    let url = format!("{base}/commits/{sha}");
    (
        200,
        with_link(reply(st, 200, body), link(&url, "", page, last)),
    )
}

/// Each commit's tree and parents, in one git call.
fn commit_meta(dir: &Path, shas: &[&str]) -> HashMap<String, (String, Vec<String>)> {
    let mut args = vec!["log", "--no-walk=unsorted", "--format=%H %T %P"];
    args.extend(shas);
    git(dir, &args)
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let sha = f.next()?.to_owned();
            let tree = f.next()?.to_owned();
            Some((sha, (tree, f.map(str::to_owned).collect())))
        })
        .collect()
}

/// `GET …/git/trees/{sha}`: its entries; with `recursive` (any value) every entry below it too, cut
/// at the tree limit with `truncated: true`.
fn tree(st: &mut State, call: &Call<'_>) -> Answer {
    let dir = &call.repo().dir;
    let Some(sha) = rev(dir, call.segment_after("/git/trees/")) else {
        return not_found();
    };
    let recursive = call.query.contains_key("recursive");
    let mut args = vec!["ls-tree", "--full-tree"];
    if recursive {
        args.extend(["-r", "-t"]);
    }
    args.push(&sha);
    let mut entries: Vec<Value> = git(dir, &args)
        .lines()
        .filter_map(|l| {
            let (meta, path) = l.split_once('\t')?;
            let mut m = meta.split(' ');
            let (mode, kind, sha) = (m.next()?, m.next()?, m.next()?);
            Some(json!({ "path": path, "mode": mode, "type": kind, "sha": sha }))
        })
        .collect();
    let truncated = recursive && entries.len() > st.tree_limit;
    entries.truncate(if recursive { st.tree_limit } else { usize::MAX });
    let tree_sha = git(dir, &["rev-parse", &format!("{sha}^{{tree}}")])
        .trim()
        .to_owned();
    (
        200,
        reply(
            st,
            200,
            json!({ "sha": tree_sha, "tree": entries, "truncated": truncated }),
        ),
    )
}

pub(super) fn rev(dir: &Path, name: &str) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{name}^{{commit}}"),
        ])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `--name-status` output as the API's file objects (renames with `previous_filename`).
fn name_status(dir: &Path, args: &[&str]) -> Vec<Value> {
    git(dir, args)
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let code = f.next()?;
            let a = f.next()?;
            Some(match code.chars().next()? {
                'A' => json!({ "filename": a, "status": "added" }),
                'D' => json!({ "filename": a, "status": "removed" }),
                'R' => {
                    json!({ "filename": f.next()?, "previous_filename": a, "status": "renamed" })
                }
                'C' => json!({ "filename": f.next()?, "status": "copied" }),
                'T' => json!({ "filename": a, "status": "changed" }),
                _ => json!({ "filename": a, "status": "modified" }),
            })
        })
        .collect()
}
