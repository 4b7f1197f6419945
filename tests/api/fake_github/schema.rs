//! The fake answers as GitHub's published REST description says GitHub does: every endpoint labtrail
//! calls, answered by the fake, validated against the response schema vendored in
//! `tests/github-openapi/responses.json`; and the strictness labtrail must not rely on being absent.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::{FakeGithub, GitRepo, HookAttempt, Op, APP_ID};

/// `op`'s vendored response schema, with the shared definitions, as one validator.
fn validator(op: &str) -> (jsonschema::Validator, u16) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/github-openapi/responses.json"
    );
    let doc: Value = serde_json::from_slice(&std::fs::read(path).expect("vendored schemas"))
        .expect("schemas are JSON");
    let endpoint = &doc["endpoints"][op];
    let mut schema = endpoint["schema"].clone();
    schema["definitions"] = doc["definitions"].clone();
    let status = endpoint["status"].as_u64().expect("status") as u16;
    (
        jsonschema::draft7::new(&schema).expect("a valid schema"),
        status,
    )
}

/// The App's JWT, as labtrail makes it.
fn app_jwt() -> String {
    let now = chrono::Utc::now().timestamp();
    let key =
        jsonwebtoken::EncodingKey::from_rsa_pem(super::app_key_pem().as_bytes()).expect("key");
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &json!({ "iss": APP_ID, "iat": now - 30, "exp": now + 500 }),
        &key,
    )
    .expect("jwt")
}

struct Client {
    http: reqwest::Client,
    api: String,
}

impl Client {
    async fn call(
        &self,
        method: &str,
        path: &str,
        auth: &str,
        body: Option<Value>,
    ) -> (u16, HashMap<String, String>, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.api))
            .bearer_auth(auth);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("fake answers");
        let status = r.status().as_u16();
        let headers = r
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
            .collect();
        let body = r.json().await.unwrap_or(Value::Null);
        (status, headers, body)
    }

    /// Call, and check the answer against `op`'s schema.
    async fn conforming(
        &self,
        op: &str,
        method: &str,
        path: &str,
        auth: &str,
        body: Option<Value>,
    ) -> (HashMap<String, String>, Value) {
        let (validator, want) = validator(op);
        let (status, headers, body) = self.call(method, path, auth, body).await;
        assert_eq!(status, want, "{op} {path}: {body}");
        let errors: Vec<String> = validator
            .iter_errors(&body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .take(10)
            .collect();
        assert!(
            errors.is_empty(),
            "{op}: the fake's answer breaks GitHub's schema:\n{}",
            errors.join("\n")
        );
        (headers, body)
    }
}

/// A fake with one repository of installation 7 (two commits, a subdirectory) and one of installation 8.
async fn setup() -> (FakeGithub, GitRepo, String, String, Client) {
    let fake = FakeGithub::start().await;
    let mut repo = GitRepo::new();
    let c0 = repo.commit("main", None, &[Op::Write("a.txt".into(), "1".into())]);
    let c1 = repo.commit(
        "main",
        None,
        &[
            Op::Write("a.txt".into(), "2".into()),
            Op::Write("dir/b.txt".into(), "b".into()),
            Op::Write("dir/sub/c.txt".into(), "c".into()),
        ],
    );
    let marks = repo.import();
    let (c0, c1) = (marks[&c0].clone(), marks[&c1].clone());
    fake.add_repo(7, "course/lab1-alice", 500, &repo.dir);
    fake.add_repo(8, "course/lab1-bob", 501, &repo.dir);
    let client = Client {
        http: reqwest::Client::new(),
        api: fake.api_url(),
    };
    (fake, repo, c0, c1, client)
}

async fn token(client: &Client, installation: i64) -> String {
    let (_, body) = client
        .conforming(
            "apps/create-installation-access-token",
            "POST",
            &format!("/app/installations/{installation}/access_tokens"),
            &app_jwt(),
            None,
        )
        .await;
    body["token"].as_str().expect("token").to_owned()
}

#[tokio::test]
async fn every_answer_labtrail_reads_matches_githubs_openapi_schema() {
    // The schemas bite: the fake's answers before it was checked (a bare check run) are refused.
    let (bare, _) = validator("checks/create");
    assert!(!bare
        .is_valid(&json!({ "id": 1, "name": "labtrail", "head_sha": "0", "status": "completed" })));

    let (fake, _repo, c0, c1, client) = setup().await;
    let jwt = app_jwt();
    let t = token(&client, 7).await;
    fake.set_installation(9, Some(chrono::Utc::now()));
    for id in [7, 9] {
        client
            .conforming(
                "apps/get-installation",
                "GET",
                &format!("/app/installations/{id}"),
                &jwt,
                None,
            )
            .await;
    }
    let id = fake.add_hook_attempt(HookAttempt::new("g-1", "push", 200, 5));
    fake.add_hook_attempt(HookAttempt::new("g-2", "push", 0, 4));
    client
        .conforming(
            "apps/list-webhook-deliveries",
            "GET",
            "/app/hook/deliveries?per_page=100",
            &jwt,
            None,
        )
        .await;
    client
        .conforming(
            "apps/redeliver-webhook-delivery",
            "POST",
            &format!("/app/hook/deliveries/{id}/attempts"),
            &jwt,
            None,
        )
        .await;

    let repo = "/repos/course/lab1-alice";
    let (_, cmp) = client
        .conforming(
            "repos/compare-commits-with-basehead",
            "GET",
            &format!("{repo}/compare/{c0}...{c1}?per_page=100"),
            &t,
            None,
        )
        .await;
    assert_eq!(cmp["files"].as_array().map(Vec::len), Some(3));
    let (_, commit) = client
        .conforming(
            "repos/get-commit",
            "GET",
            &format!("{repo}/commits/{c1}"),
            &t,
            None,
        )
        .await;
    assert_eq!(commit["parents"][0]["sha"], json!(c0));
    for q in ["", "?recursive=1"] {
        client
            .conforming(
                "git/get-tree",
                "GET",
                &format!("{repo}/git/trees/{c1}{q}"),
                &t,
                None,
            )
            .await;
    }
    let output = json!({ "title": "Attempt #1", "summary": "s" });
    let (_, run) = client
        .conforming(
            "checks/create",
            "POST",
            &format!("{repo}/check-runs"),
            &t,
            Some(
                json!({ "name": "labtrail", "head_sha": c1, "external_id": "1",
                "status": "completed", "conclusion": "neutral", "output": output }),
            ),
        )
        .await;
    client
        .conforming(
            "checks/update",
            "PATCH",
            &format!("{repo}/check-runs/{}", run["id"]),
            &t,
            Some(json!({ "conclusion": "success", "output": output })),
        )
        .await;
    client
        .conforming(
            "checks/list-for-ref",
            "GET",
            &format!("{repo}/commits/{c1}/check-runs?check_name=labtrail&filter=all&per_page=100"),
            &t,
            None,
        )
        .await;
}

#[tokio::test]
async fn tokens_exist_only_for_installations_and_open_only_their_repositories() {
    let (fake, _repo, _c0, c1, client) = setup().await;
    let jwt = app_jwt();
    let (status, _, _) = client
        .call("POST", "/app/installations/1234/access_tokens", &jwt, None)
        .await;
    assert_eq!(status, 404, "no such installation");
    fake.set_installation(8, Some(chrono::Utc::now()));
    let (status, _, _) = client
        .call("POST", "/app/installations/8/access_tokens", &jwt, None)
        .await;
    assert_eq!(status, 403, "a suspended installation");
    let t7 = token(&client, 7).await;
    let (status, _, _) = client
        .call(
            "GET",
            &format!("/repos/course/lab1-bob/commits/{c1}"),
            &t7,
            None,
        )
        .await;
    assert_eq!(
        status, 404,
        "installation 8's repository, with installation 7's token"
    );
    let (status, _, _) = client
        .call("GET", &format!("/repositories/501/commits/{c1}"), &t7, None)
        .await;
    assert_eq!(status, 404, "the same by repository id");
    let (status, headers, _) = client
        .call("GET", &format!("/repositories/500/commits/{c1}"), &t7, None)
        .await;
    assert_eq!(status, 200);
    for h in ["limit", "remaining", "reset", "used", "resource"] {
        assert!(
            headers.contains_key(&format!("x-ratelimit-{h}")),
            "{headers:?}"
        );
    }
    fake.delete_installation(7);
    let (status, _, _) = client
        .call("GET", &format!("/repositories/500/commits/{c1}"), &t7, None)
        .await;
    assert_eq!(status, 401, "a deleted installation's token");
}

#[tokio::test]
async fn check_run_list_filters_by_app_and_latest_and_paginates() {
    let (fake, _repo, _c0, c1, client) = setup().await;
    let t = token(&client, 7).await;
    let repo = "/repos/course/lab1-alice";
    for k in 0..3 {
        let (status, _, _) = client
            .call(
                "POST",
                &format!("{repo}/check-runs"),
                &t,
                Some(json!({ "name": "labtrail", "head_sha": c1, "external_id": k.to_string() })),
            )
            .await;
        assert_eq!(status, 201);
    }
    fake.add_foreign_check_run("course/lab1-alice", &c1, "labtrail", "0", 99);
    let base = format!("{repo}/commits/{c1}/check-runs");
    let list = |q: String| {
        let path = format!("{base}?{q}");
        let (client, t) = (&client, &t);
        async move { client.call("GET", &path, t, None).await }
    };
    let (_, _, latest) = list("check_name=labtrail".into()).await;
    assert_eq!(
        latest["total_count"],
        json!(2),
        "the newest run of each App: {latest}"
    );
    let (_, _, mine) = list(format!("filter=all&app_id={APP_ID}")).await;
    assert_eq!(mine["total_count"], json!(3));
    let (_, headers, page1) = list("filter=all&per_page=2".into()).await;
    assert_eq!(page1["total_count"], json!(4));
    assert_eq!(page1["check_runs"].as_array().map(Vec::len), Some(2));
    let next = headers.get("link").expect("a Link header");
    assert!(next.contains("page=2>; rel=\"next\""), "{next}");
    let (_, headers, page2) = list("filter=all&per_page=2&page=2".into()).await;
    assert_eq!(page2["check_runs"].as_array().map(Vec::len), Some(2));
    assert!(!headers.contains_key("link"), "the last page");
}

#[tokio::test]
async fn trees_are_recursive_only_when_asked_and_truncate() {
    let (fake, _repo, _c0, c1, client) = setup().await;
    let t = token(&client, 7).await;
    let base = format!("/repos/course/lab1-alice/git/trees/{c1}");
    let tree = |q: &str| {
        let path = format!("{base}{q}");
        let (client, t) = (&client, &t);
        async move { client.call("GET", &path, t, None).await.2 }
    };
    let paths = |v: &Value| -> Vec<String> {
        v["tree"]
            .as_array()
            .expect("tree")
            .iter()
            .map(|e| e["path"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(paths(&tree("").await), ["a.txt", "dir"]);
    let all = tree("?recursive=1").await;
    assert_eq!(
        paths(&all),
        ["a.txt", "dir", "dir/b.txt", "dir/sub", "dir/sub/c.txt"]
    );
    assert_eq!(all["truncated"], json!(false));
    fake.set_tree_limit(3);
    let cut = tree("?recursive=1").await;
    assert_eq!(paths(&cut).len(), 3);
    assert_eq!(cut["truncated"], json!(true));
}

#[tokio::test]
async fn refused_bodies_are_noted_and_unpaged_compare_lists_the_newest_250() {
    let (fake, _repo, _c0, _c1, client) = setup().await;
    let t = token(&client, 7).await;
    let runs = "/repos/course/lab1-alice/check-runs";
    // `head_sha` missing, and a conclusion GitHub does not know: GitHub's 422, and a noted breach.
    let (status, _, _) = client
        .call(
            "POST",
            runs,
            &t,
            Some(json!({ "name": "labtrail", "conclusion": "green" })),
        )
        .await;
    assert_eq!(status, 422);
    let found = fake.take_violations();
    assert!(
        found.iter().any(|v| v.contains("checks/create")),
        "{found:?}"
    );

    let mut repo = GitRepo::new();
    let first = repo.commit("main", None, &[Op::Write("n.txt".into(), "0".into())]);
    for k in 1..=260 {
        repo.commit("main", None, &[Op::Write("n.txt".into(), k.to_string())]);
    }
    let marks = repo.import();
    let tip = repo.git(&["rev-parse", "main"]).trim().to_owned();
    fake.add_repo(7, "course/lab1-long", 502, &repo.dir);
    let (headers, cmp) = client
        .conforming(
            "repos/compare-commits-with-basehead",
            "GET",
            &format!("/repos/course/lab1-long/compare/{}...{tip}", marks[&first]),
            &t,
            None,
        )
        .await;
    let commits = cmp["commits"].as_array().expect("commits");
    assert_eq!(
        (cmp["total_commits"].clone(), commits.len()),
        (json!(260), 250)
    );
    assert_eq!(
        commits[249]["sha"],
        json!(tip),
        "the last one listed is the head"
    );
    assert!(!headers.contains_key("link"), "unpaged: no Link");
    assert!(fake.violations().is_empty());
}

#[tokio::test]
async fn template_generation_and_collaborators_match_githubs_schema_and_refuse_as_github_does() {
    let (fake, repo, _, _, client) = setup().await;
    fake.add_template(7, "course/lab3-template", 600, &repo.dir);
    let t = token(&client, 7).await;
    let body = json!({ "owner": "course", "name": "lab3-alice", "private": true, "include_all_branches": false });
    let (_, made) = client
        .conforming(
            "repos/create-using-template",
            "POST",
            "/repos/course/lab3-template/generate",
            &t,
            Some(body.clone()),
        )
        .await;
    assert_eq!(
        made["template_repository"]["full_name"],
        "course/lab3-template"
    );
    let (_, got) = client
        .conforming("repos/get", "GET", "/repos/course/lab3-alice", &t, None)
        .await;
    assert_eq!(got["id"], made["id"]);
    // A name taken: GitHub's 422.
    let (status, _, err) = client
        .call(
            "POST",
            "/repos/course/lab3-template/generate",
            &t,
            Some(body),
        )
        .await;
    assert_eq!(status, 422, "{err}");
    // Not a template: 422 too.
    let (status, _, _) = client
        .call(
            "POST",
            "/repos/course/lab1-alice/generate",
            &t,
            Some(json!({ "owner": "course", "name": "x" })),
        )
        .await;
    assert_eq!(status, 422);
    let perm = Some(json!({ "permission": "push" }));
    let path = "/repos/course/lab3-alice/collaborators/alice";
    let (_, invitation) = client
        .conforming("repos/add-collaborator", "PUT", path, &t, perm.clone())
        .await;
    assert_eq!(invitation["permissions"], "write");
    // A collaborator already: 204, no body.
    let (status, _, _) = client.call("PUT", path, &t, perm.clone()).await;
    assert_eq!(status, 204);
    // Without `administration: write`: GitHub's 403.
    fake.set_permissions(
        7,
        json!({ "checks": "write", "contents": "read", "metadata": "read" }),
    );
    let (status, _, _) = client
        .call(
            "POST",
            "/repos/course/lab3-template/generate",
            &t,
            Some(json!({ "owner": "course", "name": "lab3-bob" })),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _, _) = client
        .call(
            "PUT",
            "/repos/course/lab3-alice/collaborators/bob",
            &t,
            perm,
        )
        .await;
    assert_eq!(status, 403);
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}
