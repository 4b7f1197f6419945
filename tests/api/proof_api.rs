//! Proofs anyone can check: `GET /api/v1/attempts/{id}/proof` (409 before a checkpoint, org scoping)
//! checked by the `audit check-proof` binary with only the published key and by the suite's independent
//! RFC 9162 implementation; `audit prove` writes the same document; `GET /api/v1/audit/consistency`
//! checked against RFC 9162 PROOF(m, D[n]); altered proof files exit 1, unusable ones exit 2.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use labtrail::audit::Hash;
use serde_json::Value;

use crate::audit_support::{checkpoint, cli, more, record};
use crate::backend_tests;
use crate::helpers::{spawn_app, spawn_app_with, AppOptions, TestApp, TestDb};
use crate::rfc9162;
use crate::tokens::{assert_status, create_token, get, two_orgs};

backend_tests!(
    proof_endpoint_round_trip_checked_offline_and_independently,
    consistency_endpoint_matches_rfc_9162,
    a_proof_of_a_read_receipt_is_no_attempt_proof,
);

/// The canonical bytes of every stored entry, by seq (the leaves' data).
async fn leaves(app: &TestApp) -> Vec<Vec<u8>> {
    app.audit_entries()
        .await
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            assert_eq!(e.seq, i as i64, "entries from seq 0");
            e.canonical
        })
        .collect()
}

fn hashes(list: &Value) -> Vec<Hash> {
    list.as_array()
        .expect("array")
        .iter()
        .map(|h| Hash::from_base64(h.as_str().expect("string")).expect("32 bytes of base64"))
        .collect()
}

/// `labtrail audit check-proof FILE --public-key KEY` with no database or configuration in reach.
fn check_proof(dir: &std::path::Path, file: &std::path::Path, key: &str) -> (Option<i32>, String) {
    let out = crate::helpers::output_of(
        std::process::Command::new(env!("CARGO_BIN_EXE_labtrail"))
            .args(["audit", "check-proof"])
            .arg(file)
            .args(["--public-key", key])
            .env_remove("DATABASE_URL")
            .env_remove("LABTRAIL_AUDIT_KEY_PATH")
            .env_remove("LABTRAIL_AUDIT_ORIGIN")
            .current_dir(dir),
    );
    crate::helpers::code_and_output(&out)
}

async fn proof_endpoint_round_trip_checked_offline_and_independently(db: TestDb) {
    // A checkpoint writer that will not fire during the test: serve loads the key and publishes it.
    let opts = AppOptions {
        checkpoint_interval: Some(Duration::from_secs(3600)),
        ..AppOptions::default()
    };
    let app = spawn_app_with(&db, opts).await;
    let pub_path = db.scratch_dir().join("labtrail-audit.key.pub");
    let published = std::fs::read_to_string(&pub_path).expect("serve wrote <key path>.pub");
    let (code, printed) = cli(&app, &["audit", "public-key"]);
    assert_eq!(code, Some(0), "{printed}");
    assert_eq!(printed.trim(), published.trim());
    assert!(published.starts_with("labtrail.test+"), "{published}");

    let (mine, theirs) = two_orgs(&app).await;
    let instructor = create_token(&app, "ta", "instructor", Some("course"));
    let admin = create_token(&app, "root", "admin", None);
    let proof_path = |id: i64| format!("/api/v1/attempts/{id}/proof");

    // Before any checkpoint: 409, and when to come back.
    let resp = app.get_as(&proof_path(mine), &instructor).await;
    assert_eq!(resp.status().as_u16(), 409);
    assert_eq!(
        resp.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("3600")
    );
    let (code, out) = cli(&app, &["audit", "prove", "--attempt", &mine.to_string()]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("no signed checkpoint covers"), "{out}");

    checkpoint(&app);
    let (status, proof) = get(&app, &format!("/attempts/{mine}/proof"), Some(&instructor)).await;
    assert_eq!(status, 200, "{proof}");
    // Another organisation's attempt is not found, exactly like a missing one; an admin sees both.
    assert_status(
        &app,
        &format!("/attempts/{theirs}/proof"),
        Some(&instructor),
        404,
    )
    .await;
    assert_status(&app, "/attempts/999999/proof", Some(&instructor), 404).await;
    assert_status(&app, &format!("/attempts/{theirs}/proof"), None, 401).await;
    let (status, other) = get(&app, &format!("/attempts/{theirs}/proof"), Some(&admin)).await;
    assert_eq!(status, 200, "{other}");
    assert_eq!(
        app.audit_count("api.proof_read", Some(&format!("lab_attempt:{mine}")))
            .await,
        1
    );

    // The independent RFC 9162 tree of the stored entries agrees with every field.
    let d = leaves(&app).await;
    let size = proof["tree_size"].as_u64().expect("size") as usize;
    let leaf = proof["leaf_index"].as_u64().expect("index") as usize;
    assert_eq!(proof["attempt_id"], mine);
    assert_eq!(
        B64.decode(proof["entry"].as_str().expect("entry"))
            .expect("b64"),
        d[leaf]
    );
    assert_eq!(hashes(&proof["inclusion"]), rfc9162::path(leaf, &d[..size]));
    let note = proof["checkpoint"].as_str().expect("note");
    let lines: Vec<&str> = note.lines().collect();
    assert_eq!(lines[0], "labtrail.test");
    assert_eq!(lines[1], size.to_string());
    assert_eq!(lines[2], B64.encode(rfc9162::mth(&d[..size])));

    // `audit prove` writes the same document; `audit check-proof` needs only it and the key.
    let dir = db.scratch_dir();
    let file = dir.join("proof.json");
    let (code, out) = cli(
        &app,
        &[
            "audit",
            "prove",
            "--attempt",
            &mine.to_string(),
            "--out",
            "proof.json",
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    let saved: Value = serde_json::from_slice(&std::fs::read(&file).expect("file")).expect("json");
    assert_eq!(saved, proof);
    let elsewhere = std::env::temp_dir();
    let (code, out) = check_proof(&elsewhere, &file, pub_path.to_str().expect("path"));
    assert_eq!(code, Some(0), "{out}");
    assert!(out.starts_with("valid:"), "{out}");
    let (code, out) = check_proof(&elsewhere, &file, published.trim());
    assert_eq!(code, Some(0), "the key given inline: {out}");

    // One flipped bit in any proof field: exit 1.
    let flip = |text: &str| {
        let mut raw = B64.decode(text).expect("b64");
        let last = raw.len() - 1;
        raw[last] ^= 1;
        B64.encode(raw)
    };
    let mut altered = Vec::new();
    let mut p = proof.clone();
    p["inclusion"][0] = flip(p["inclusion"][0].as_str().expect("hash")).into();
    altered.push(p);
    let mut p = proof.clone();
    p["leaf_index"] = (leaf as u64 ^ 1).into();
    altered.push(p);
    let mut p = proof.clone();
    p["tree_size"] = (size as u64 + 1).into();
    altered.push(p);
    let mut p = proof.clone();
    p["attempt_id"] = (mine ^ 1).into();
    altered.push(p);
    let mut p = proof.clone();
    let mut entry = B64
        .decode(proof["entry"].as_str().expect("entry"))
        .expect("b64");
    let at = entry
        .iter()
        .position(u8::is_ascii_digit)
        .expect("a digit in the entry");
    entry[at] ^= 1;
    p["entry"] = B64.encode(entry).into();
    altered.push(p);
    let mut p = proof.clone();
    let (text, sig) = note.rsplit_once("— ").expect("a signature line");
    let (name, b64) = sig.trim_end().split_once(' ').expect("name and signature");
    p["checkpoint"] = format!("{text}— {name} {}\n", flip(b64)).into();
    altered.push(p);
    for (i, p) in altered.iter().enumerate() {
        let bad = dir.join(format!("bad-{i}.json"));
        std::fs::write(&bad, serde_json::to_vec(p).expect("json")).expect("write");
        let (code, out) = check_proof(&elsewhere, &bad, pub_path.to_str().expect("path"));
        assert_eq!(code, Some(1), "altered field #{i}: {out}");
    }

    // Input that cannot be checked: exit 2.
    let garbage = dir.join("garbage.json");
    std::fs::write(&garbage, b"\x00not a proof").expect("write");
    let key = pub_path.to_str().expect("path");
    for (file, key) in [
        (garbage.as_path(), key),
        (dir.join("missing.json").as_path(), key),
        (file.as_path(), "not a key"),
    ] {
        let (code, out) = check_proof(&elsewhere, file, key);
        assert_eq!(code, Some(2), "{out}");
    }
}

async fn consistency_endpoint_matches_rfc_9162(db: TestDb) {
    let app = spawn_app(&db).await;
    record(&app, 6).await;
    let first = leaves(&app).await.len();
    more(&app, 6, 5).await;
    let auditor = create_token(&app, "witness", "auditor", None);
    let instructor = create_token(&app, "ta", "instructor", Some("course"));
    let d = leaves(&app).await;
    let n = d.len();
    for (from, to) in [
        (first, n),
        (1, n),
        (1, 1),
        (n, n),
        (3, 7),
        (4, 8),
        (first - 1, first),
    ] {
        let (status, body) = get(
            &app,
            &format!("/audit/consistency?from={from}&to={to}"),
            Some(&auditor),
        )
        .await;
        assert_eq!(status, 200, "{from}..{to}: {body}");
        assert_eq!(
            (body["from"].as_u64(), body["to"].as_u64()),
            (Some(from as u64), Some(to as u64))
        );
        assert_eq!(
            hashes(&body["proof"]),
            rfc9162::proof(from, &d[..to]),
            "PROOF({from}, D[{to}])"
        );
    }
    assert!(app.audit_count("api.consistency_read", None).await >= 7);
    assert_status(
        &app,
        "/audit/consistency?from=1&to=2",
        Some(&instructor),
        403,
    )
    .await;
    let size = leaves(&app).await.len();
    for bad in [
        "from=0&to=3".to_owned(),
        "from=5&to=4".to_owned(),
        format!("from=1&to={}", size + 1),
        "from=1".to_owned(),
        "from=x&to=2".to_owned(),
    ] {
        let (status, body) = get(&app, &format!("/audit/consistency?{bad}"), Some(&auditor)).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}

/// An attacker proves the log's `api.proof_read` entry about an attempt (a genuine entry, subject
/// `lab_attempt:N`, in a signed tree) with the prover itself: `audit check-proof` exits 1 naming the
/// action, while the attempt's own proof is valid and names `lab_attempt.recorded`.
async fn a_proof_of_a_read_receipt_is_no_attempt_proof(db: TestDb) {
    let opts = AppOptions {
        checkpoint_interval: Some(Duration::from_secs(3600)),
        ..AppOptions::default()
    };
    let app = spawn_app_with(&db, opts).await;
    record(&app, 1).await;
    let attempt = app.attempts().await[0].id;
    let token = create_token(&app, "ta", "instructor", Some("course"));
    checkpoint(&app);
    let (status, _) = get(&app, &format!("/attempts/{attempt}/proof"), Some(&token)).await;
    assert_eq!(status, 200);
    let receipt = app
        .audit_entries()
        .await
        .into_iter()
        .find(|e| e.action == "api.proof_read")
        .expect("the read receipt");
    assert_eq!(receipt.subject, format!("lab_attempt:{attempt}"));
    checkpoint(&app);
    let forged = labtrail::audit::proof::build_for_entry(&app.db, attempt, receipt.seq)
        .await
        .expect("a proof of the receipt");
    let dir = db.scratch_dir();
    let pub_path = dir.join("labtrail-audit.key.pub");
    let key = pub_path.to_str().expect("path");
    let file = dir.join("receipt-proof.json");
    std::fs::write(&file, serde_json::to_vec(&forged).expect("json")).expect("write");
    let elsewhere = std::env::temp_dir();
    let (code, out) = check_proof(&elsewhere, &file, key);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("not an attempt entry: api.proof_read"),
        "{out}"
    );
    assert!(!out.contains("valid:"), "{out}");

    let genuine = labtrail::audit::proof::build(&app.db, attempt)
        .await
        .expect("the attempt's proof");
    let file = dir.join("attempt-proof.json");
    std::fs::write(&file, serde_json::to_vec(&genuine).expect("json")).expect("write");
    let (code, out) = check_proof(&elsewhere, &file, key);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("action lab_attempt.recorded"), "{out}");
}
