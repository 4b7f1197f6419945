//! Refused webhooks and failed sign-ins are counted, not logged a line each (issue 20, item 4.2): through
//! a real `labtrail serve` at `RUST_LOG=info`, N refusals show as N in `/metrics`, and its log holds a
//! summary line (at shutdown here; once a minute in service), never a line a refusal.

use std::io::Read as _;
use std::sync::{Arc, Mutex};

use crate::backend_tests;
use crate::helpers::{serve_command, ServeProcess, TestDb, CHILD_TIMEOUT};

backend_tests!(refusals_are_counted_and_summarised_not_logged_each,);

const BAD_SIGNATURES: usize = 60;
const MISSING_HEADERS: usize = 30;
const BAD_TOKENS: usize = 25;

/// The sample `name` of the exposition, as a number.
fn sample(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{metrics}"))
}

async fn refusals_are_counted_and_summarised_not_logged_each(db: TestDb) {
    let mut command = serve_command(&db);
    command
        .env("RUST_LOG", "info")
        .env_remove("LABTRAIL_LOG_FORMAT")
        .stderr(std::process::Stdio::piped());
    let mut serve = ServeProcess::start(command).await;
    let stderr = serve.child.stderr.take().expect("stderr is piped");
    let log = Arc::new(Mutex::new(String::new()));
    let reader = {
        let log = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::BufReader::new(stderr).read_to_string(&mut text);
            log.lock().expect("log").push_str(&text);
        })
    };
    let client = reqwest::Client::new();
    let hook = format!("{}/webhooks/github", serve.base_url);
    for i in 0..BAD_SIGNATURES {
        let answer = client
            .post(&hook)
            .header("content-type", "application/json")
            .header("x-github-event", "push")
            .header("x-github-delivery", format!("forged-{i}"))
            .header("x-hub-signature-256", format!("sha256={}", "0".repeat(64)))
            .body("{}")
            .send()
            .await
            .expect("an answer");
        assert_eq!(answer.status().as_u16(), 401);
    }
    for _ in 0..MISSING_HEADERS {
        let answer = client
            .post(&hook)
            .header("x-hub-signature-256", format!("sha256={}", "0".repeat(64)))
            .body("{}")
            .send()
            .await
            .expect("an answer");
        assert_eq!(answer.status().as_u16(), 400);
    }
    for _ in 0..BAD_TOKENS {
        let answer = client
            .get(format!("{}/api/v1/sessions", serve.base_url))
            .bearer_auth("lt_not-a-token")
            .send()
            .await
            .expect("an answer");
        assert_eq!(answer.status().as_u16(), 401);
    }
    let metrics = client
        .get(format!("{}/metrics", serve.base_url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for (name, want) in [
        (
            "labtrail_webhook_refusals_total{reason=\"bad_signature\"}",
            BAD_SIGNATURES,
        ),
        (
            "labtrail_webhook_refusals_total{reason=\"bad_request\"}",
            MISSING_HEADERS,
        ),
        (
            "labtrail_webhook_requests_total{result=\"refused\"}",
            BAD_SIGNATURES + MISSING_HEADERS,
        ),
        (
            "labtrail_sign_in_failures_total{reason=\"api_token\"}",
            BAD_TOKENS,
        ),
    ] {
        assert_eq!(sample(&metrics, name), want as u64, "{name}");
    }

    // A graceful stop logs the last summary; then the whole log is read.
    assert!(serve.stop(), "serve exits 0 at SIGTERM");
    let started = std::time::Instant::now();
    while !reader.is_finished() {
        assert!(started.elapsed() < CHILD_TIMEOUT, "the log did not end");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let log = log.lock().expect("log").clone();
    let summary = format!(
        "refused {} webhook requests in the last ",
        BAD_SIGNATURES + MISSING_HEADERS
    );
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(&summary)).collect();
    assert_eq!(lines.len(), 1, "one summary line:\n{log}");
    assert!(
        lines[0].contains(&format!(
            "{BAD_SIGNATURES} bad signature, {MISSING_HEADERS} bad request"
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!("{BAD_TOKENS} failed sign-ins in the last ")),
        "{log}"
    );
    let mentions = log
        .lines()
        .filter(|l| {
            l.contains("refused")
                || l.contains("forged-")
                || l.contains("token")
                || l.contains("401")
        })
        .count();
    assert!(
        mentions < 5,
        "{mentions} log lines about {} refusals:\n{log}",
        BAD_SIGNATURES + MISSING_HEADERS + BAD_TOKENS
    );
}
