//! Repositories from a template and their collaborators (issue 25): `GET /repos/{owner}/{repo}` (with
//! `template_repository`), `POST /repos/{template_owner}/{template_repo}/generate` (`422` when the name is
//! taken or the repository is not a template, `403` when the installation lacks `administration: write`)
//! and `PUT /repos/{owner}/{repo}/collaborators/{username}` (`201` with the invitation, `204` for a
//! collaborator already).

use serde_json::{json, Value};

use super::shapes;
use super::state::{Repo, State};
use super::{message, reply, serve, Answer, Call, Route, Served};

/// The endpoints (an installation token, for a repository of the installation).
pub(super) fn endpoints() -> Vec<Served> {
    vec![
        serve(Route::GetRepo, "GET", r"/repos/[^/]+/[^/]+", get),
        serve(
            Route::GenerateRepo,
            "POST",
            r"/repos/[^/]+/[^/]+/generate",
            generate,
        ),
        serve(
            Route::AddCollaborator,
            "PUT",
            r"/repos/[^/]+/[^/]+/collaborators/[^/]+",
            add_collaborator,
        ),
    ]
}

const CREATED: &str = "2026-01-01T00:00:00Z";

/// A repository with every field `full-repository`, `nullable-repository` and `minimal-repository`
/// require.
fn repository(st: &State, full_name: &str, id: i64, private: bool) -> Value {
    let (owner, name) = full_name.split_once('/').unwrap_or(("course", full_name));
    let u = format!("{}/repos/{full_name}", shapes::api(st));
    let html = format!("{}/{full_name}", st.origin);
    let mut r = json!({
        "id": id, "node_id": format!("R_{id}"), "name": name, "full_name": full_name,
        "owner": shapes::simple_user(st, owner, 9000, "Organization"), "private": private,
        "html_url": html, "description": null, "fork": false, "url": u,
        "homepage": null, "language": null, "mirror_url": null, "license": null,
        "default_branch": "main", "clone_url": format!("{html}.git"), "git_url": format!("git:{html}.git"),
        "ssh_url": format!("git@example:{full_name}.git"), "svn_url": html,
        "forks": 0, "forks_count": 0, "open_issues": 0, "open_issues_count": 0, "size": 0,
        "stargazers_count": 0, "watchers": 0, "watchers_count": 0, "network_count": 0,
        "subscribers_count": 0, "has_issues": true, "has_projects": false, "has_wiki": false,
        "has_pages": false, "has_discussions": false, "has_downloads": true, "archived": false,
        "disabled": false, "pushed_at": CREATED, "created_at": CREATED, "updated_at": CREATED,
    });
    for (key, tail) in [
        ("archive_url", "/{archive_format}{/ref}"),
        ("assignees_url", "/assignees{/user}"),
        ("blobs_url", "/git/blobs{/sha}"),
        ("branches_url", "/branches{/branch}"),
        ("collaborators_url", "/collaborators{/collaborator}"),
        ("comments_url", "/comments{/number}"),
        ("commits_url", "/commits{/sha}"),
        ("compare_url", "/compare/{base}...{head}"),
        ("contents_url", "/contents/{+path}"),
        ("contributors_url", "/contributors"),
        ("deployments_url", "/deployments"),
        ("downloads_url", "/downloads"),
        ("events_url", "/events"),
        ("forks_url", "/forks"),
        ("git_commits_url", "/git/commits{/sha}"),
        ("git_refs_url", "/git/refs{/sha}"),
        ("git_tags_url", "/git/tags{/sha}"),
        ("hooks_url", "/hooks"),
        ("issue_comment_url", "/issues/comments{/number}"),
        ("issue_events_url", "/issues/events{/number}"),
        ("issues_url", "/issues{/number}"),
        ("keys_url", "/keys{/key_id}"),
        ("labels_url", "/labels{/name}"),
        ("languages_url", "/languages"),
        ("merges_url", "/merges"),
        ("milestones_url", "/milestones{/number}"),
        (
            "notifications_url",
            "/notifications{?since,all,participating}",
        ),
        ("pulls_url", "/pulls{/number}"),
        ("releases_url", "/releases{/id}"),
        ("stargazers_url", "/stargazers"),
        ("statuses_url", "/statuses/{sha}"),
        ("subscribers_url", "/subscribers"),
        ("subscription_url", "/subscription"),
        ("tags_url", "/tags"),
        ("teams_url", "/teams"),
        ("trees_url", "/git/trees{/sha}"),
    ] {
        r[key] = json!(format!("{u}{tail}"));
    }
    r
}

/// `repo` as `GET /repos/{owner}/{repo}` answers it: its template, if it was generated from one.
fn full(st: &State, repo: &Repo) -> Value {
    let key = repo.full_name.to_ascii_lowercase();
    let private = st.private.get(&key).copied().unwrap_or(true);
    let mut body = repository(st, &repo.full_name, repo.id, private);
    let template = st.generated_from.get(&key).and_then(|t| {
        st.repos
            .iter()
            .find(|r| r.full_name.eq_ignore_ascii_case(t))
    });
    body["template_repository"] = match template {
        Some(t) => repository(st, &t.full_name, t.id, true),
        None => Value::Null,
    };
    body["is_template"] = json!(st.templates.contains(&key));
    body
}

fn get(st: &mut State, call: &Call<'_>) -> Answer {
    let body = full(st, call.repo());
    (200, reply(st, 200, body))
}

/// Does the installation of `repo` have `administration: write`?
fn may_administer(st: &State, repo: &Repo) -> bool {
    st.permissions_of(repo.installation)["administration"] == "write"
}

fn forbidden() -> Answer {
    message(403, "Resource not accessible by integration")
}

fn generate(st: &mut State, call: &Call<'_>) -> Answer {
    let template = call.repo().clone();
    if !st
        .templates
        .contains(&template.full_name.to_ascii_lowercase())
    {
        return message(422, "template repository is not a template");
    }
    if !may_administer(st, &template) {
        return forbidden();
    }
    let body: Value = call.req.body_json().unwrap_or(Value::Null);
    let (Some(owner), Some(name)) = (body["owner"].as_str(), body["name"].as_str()) else {
        return message(422, "Invalid request.");
    };
    let full_name = format!("{owner}/{name}");
    if st.repo_of(&format!("/repos/{full_name}")).is_some() {
        return (
            422,
            super::ResponseTemplate::new(422).set_body_json(json!({
                "message": "Repository creation failed.",
                "errors": [{ "resource": "Repository", "code": "custom", "field": "name",
                             "message": "name already exists on this account" }],
                "documentation_url": "https://docs.github.com/rest/repos/repos#create-a-repository-using-a-template",
            })),
        );
    }
    st.next_repo_id += 1;
    let repo = Repo {
        full_name: full_name.clone(),
        id: st.next_repo_id,
        // The new repository holds the template's content.
        dir: template.dir.clone(),
        installation: template.installation,
    };
    let key = full_name.to_ascii_lowercase();
    st.private
        .insert(key.clone(), body["private"].as_bool().unwrap_or(false));
    st.generated_from.insert(key, template.full_name.clone());
    st.repos.push(repo.clone());
    let body = full(st, &repo);
    (201, reply(st, 201, body))
}

fn add_collaborator(st: &mut State, call: &Call<'_>) -> Answer {
    let repo = call.repo().clone();
    if !may_administer(st, &repo) {
        return forbidden();
    }
    let login = call.path.rsplit('/').next().unwrap_or("").to_owned();
    let body: Value = call.req.body_json().unwrap_or(Value::Null);
    let permission = body["permission"].as_str().unwrap_or("push").to_owned();
    let key = repo.full_name.to_ascii_lowercase();
    if st
        .collaborators
        .iter()
        .any(|(r, l, _)| *r == key && l.eq_ignore_ascii_case(&login))
    {
        return (204, super::ResponseTemplate::new(204));
    }
    st.collaborators
        .push((key, login.clone(), permission.clone()));
    let id = 70_000 + st.collaborators.len() as i64;
    let invitation = json!({
        "id": id, "node_id": format!("RI_{id}"),
        "repository": repository(st, &repo.full_name, repo.id, true),
        "invitee": shapes::simple_user(st, &login, 31_000 + id, "User"),
        "inviter": shapes::simple_user(st, "teacher", 31, "User"),
        "permissions": if permission == "push" { "write" } else { "read" },
        "created_at": CREATED, "expired": false,
        "url": format!("{}/user/repository_invitations/{id}", shapes::api(st)),
        "html_url": format!("{}/{}/invitations", st.origin, repo.full_name),
    });
    (201, reply(st, 201, invitation))
}
