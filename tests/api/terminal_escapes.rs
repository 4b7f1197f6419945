//! Student-controlled text never reaches a terminal raw (issue 20, item 4.8): a roster name, a repository
//! name and a pusher's name holding an ANSI colour sequence and a bell come out of `roster list`,
//! `attempts list|show`, `attempts summary` and `deliveries list` escaped, as tables, CSV and JSON.

use crate::backend_tests;
use crate::helpers::cli_stdout as ok;
use crate::helpers::{push_payload, sha, spawn_app, TestDb};

backend_tests!(control_characters_are_escaped_in_cli_output);

const EVIL: &str = "\u{1b}[31mred\u{7}";
const ESCAPED: &str = "\\x1b[31mred\\x07";

fn assert_escaped(what: &str, out: &str) {
    assert!(
        !out.contains('\u{1b}') && !out.contains('\u{7}'),
        "{what}: raw control characters in {out:?}"
    );
}

async fn control_characters_are_escaped_in_cli_output(db: TestDb) {
    let app = spawn_app(&db).await;
    app.create_lab1_session().await;
    app.import_roster(&format!(
        "identifier,github_username,github_id,name\nid-1,alice,,Alice {EVIL}\n"
    ));
    // A repository of the session and one of no session, both named with the sequence; pushed by it.
    for (n, repo) in [(1, format!("lab1-{EVIL}")), (2, format!("other-{EVIL}"))] {
        let mut p = push_payload("course", &repo, 70 + n, &sha(n as u64), 1_767_225_700);
        p["pusher"]["name"] = format!("alice{EVIL}").into();
        let resp = app.deliver_push(&format!("esc-{n}"), &p).await;
        assert_eq!(resp.status().as_u16(), 202);
    }
    app.drain().await;
    assert_eq!(app.attempts().await.len(), 1);

    for format in ["table", "csv"] {
        let out = ok(&app.cli(&["roster", "list", "--org", "course", "--format", format]));
        assert!(out.contains(&format!("Alice {ESCAPED}")), "{out}");
        assert_escaped("roster list", &out);
        let out = ok(&app.cli(&["attempts", "list", "--format", format]));
        assert!(out.contains(&format!("course/lab1-{ESCAPED}")), "{out}");
        assert_escaped("attempts list", &out);
        let out = app.lab1_summary(format);
        assert!(out.contains(ESCAPED), "{out}");
        assert_escaped("attempts summary", &out);
        let out = ok(&app.cli(&["deliveries", "list", "--format", format]));
        assert_escaped("deliveries list", &out);
    }
    let id = app.attempts().await[0].id.to_string();
    let out = ok(&app.cli(&["attempts", "show", &id]));
    assert!(out.contains("\\u001b[31mred\\u0007"), "JSON escapes: {out}");
    assert_escaped("attempts show", &out);
    let out = ok(&app.cli(&["attempts", "list", "--format", "json"]));
    assert_escaped("attempts list --format json", &out);
}
