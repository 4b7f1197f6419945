//! Known answers: the audit hashing checked against values computed once, outside labtrail, so that a
//! change to the construction (`leaf = SHA-256(0x00 ‖ canonical)`, `entry_hash = SHA-256(0x02 ‖ prev ‖
//! leaf)`, genesis `SHA-256("labtrail-audit-v1\n" ‖ origin)`, RFC 8785 canonical JSON) cannot pass silently.
//!
//! How the constants were computed (Python 3 hashlib, the canonical JSON written out by hand, not by any
//! JSON library; the same values from coreutils `sha256sum`):
//!
//! ```text
//! printf 'labtrail-audit-v1\nlabtrail.example.edu' | sha256sum         # GENESIS_EXAMPLE
//! printf 'labtrail-audit-v1\nlabtrail.test' | sha256sum                # GENESIS_TEST
//! { printf '\x00'; printf '%s' "$ENTRY_0"; } | sha256sum               # LEAF_0 ($ENTRY_0 = ENTRY_0 below)
//! { printf '\x02'; printf %s "$GENESIS_EXAMPLE" | xxd -r -p;
//!   printf %s "$LEAF_0" | xxd -r -p; } | sha256sum                     # HASH_0_EXAMPLE
//!
//! python3 - labtrail.example.edu <<'EOF'      # and again with labtrail.test for the *_TEST values
//! import hashlib, sys
//! gen = hashlib.sha256(b"labtrail-audit-v1\n" + sys.argv[1].encode()).digest()
//! e0 = rb'<ENTRY_0 exactly as below>'
//! e1 = r'<ENTRY_1 exactly as below>'.encode("utf-8")
//! l0 = hashlib.sha256(b"\x00" + e0).digest(); h0 = hashlib.sha256(b"\x02" + gen + l0).digest()
//! l1 = hashlib.sha256(b"\x00" + e1).digest(); h1 = hashlib.sha256(b"\x02" + h0 + l1).digest()
//! print(gen.hex(), l0.hex(), h0.hex(), l1.hex(), h1.hex())
//! EOF
//! ```

use chrono::{TimeZone, Utc};
use labtrail::audit::{self, entries, Action, Hash, NewEntry};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::backend_tests;
use crate::helpers::{push_payload, run_cli, sha, spawn_app, TestDb, ORIGIN};

const GENESIS_EXAMPLE: &str = "4137eb3e47646d630a17b4ec34191cf6ef533d743e0a77d8383fb87ee00ac150";
const GENESIS_TEST: &str = "85ccc48abdfca33a2fccfe70759b9fac0928d61057b68d4a504d92c66ae1fdca";

/// The canonical bytes of entry 0, written by hand: keys sorted, no whitespace.
const ENTRY_0: &str = r#"{"action":"lab_attempt.recorded","actor":"github:delivery:72d3162e-cc78-11e3-81ab-4c9367dc0958","details":{"attempt_no":1,"content_sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","late":false,"session_id":3},"entry_id":"5f0c6b1e-8d2a-4c3e-9b7a-1d2e3f4a5b6c","occurred_at_us":1767225600000000,"seq":0,"subject":"lab_attempt:1","v":1}"#;
/// Entry 1: non-ASCII kept as UTF-8, control characters and `"`/`\` escaped, `/` not (RFC 8785 §3.2.2.2).
const ENTRY_1: &str = r#"{"action":"api.audit_read","actor":"token:grader","details":{"after_seq":-1,"limit":100,"note":"é€😀\t\n\u001f\"\\/"},"entry_id":"00000000-0000-4000-8000-000000000001","occurred_at_us":1767225600000001,"seq":1,"subject":"audit_log","v":1}"#;

const LEAF_0: &str = "a9d96ba2dc53db95e4bfeeb69e649ab9c5a1adae0d3e2d3bab6f2c831dc16b61";
const LEAF_1: &str = "8fc4eabf048d58d599c18f75e5825063180021b03d4586b2245b81922618f17b";
const HASH_0_EXAMPLE: &str = "65e04172bf2c0f92d86fa858b1950267f1fc8b1c410e4eb16199e832bbd218a2";
const HASH_1_EXAMPLE: &str = "28ebdf75e4da04f0fca5943f77c20587ef1db1157ab0fc9b99be6899d13ecf5d";
const HASH_0_TEST: &str = "326fa2552579ef2f54d491da62b6dfd5eeb5c059ffc3c18157f072308f175a81";
const HASH_1_TEST: &str = "4d2b0ead58eace9e7cbd209f71d79ed40e406099f5755219c86deeae7902fffd";

fn entry_0() -> (i64, &'static str, i64, NewEntry) {
    (
        0,
        "5f0c6b1e-8d2a-4c3e-9b7a-1d2e3f4a5b6c",
        1_767_225_600_000_000,
        NewEntry {
            actor: "github:delivery:72d3162e-cc78-11e3-81ab-4c9367dc0958".into(),
            action: Action::LabAttemptRecorded,
            subject: "lab_attempt:1".into(),
            // Deliberately out of order: the canonical form sorts the keys.
            details: json!({
                "session_id": 3,
                "late": false,
                "content_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                "attempt_no": 1,
            }),
        },
    )
}

fn entry_1() -> (i64, &'static str, i64, NewEntry) {
    (
        1,
        "00000000-0000-4000-8000-000000000001",
        1_767_225_600_000_001,
        NewEntry {
            actor: "token:grader".into(),
            action: Action::ApiAuditRead,
            subject: "audit_log".into(),
            details: json!({ "note": "é€😀\t\n\u{1f}\"\\/", "limit": 100, "after_seq": -1 }),
        },
    )
}

/// Details version 2 (docs/audit.md §1), as its constructors write it: `details.v = 2`, instants as RFC 3339
/// UTC with six fractional digits and `Z` (nanoseconds truncated). Written by hand, like the ones above.
const ENTRY_2_V2: &str = r#"{"action":"lab_session.archived","actor":"cli:ada","details":{"archived_at":"2026-12-01T08:00:00.123456Z","session_id":7,"v":2},"entry_id":"00000000-0000-4000-8000-000000000002","occurred_at_us":1796112000123456,"seq":2,"subject":"lab_session:7","v":1}"#;
const ENTRY_3_V2: &str = r#"{"action":"retention.payloads_dropped","actor":"system","details":{"count":3,"payload_days":30,"processed_before":"2026-11-01T00:00:00.000000Z","v":2},"entry_id":"00000000-0000-4000-8000-000000000003","occurred_at_us":1796112000123457,"seq":3,"subject":"webhook_delivery","v":1}"#;
const LEAF_2_V2: &str = "531fd0b2e0df151c642f8299c6c63c0374c9b3bc92e7e6375d99c8a0cec4eef7";
const LEAF_3_V2: &str = "04fcd61694b44c71c383217bf9d2afdddc09c31adb764020909924c872550f42";

#[test]
fn version_2_details_canonicalise_to_the_documented_bytes() {
    let archived_at = Utc
        .with_ymd_and_hms(2026, 12, 1, 8, 0, 0)
        .single()
        .expect("instant")
        + chrono::Duration::nanoseconds(123_456_789);
    let archived = entries::session_archived("cli:ada", 7, archived_at).expect("entry");
    let at = archived_at.timestamp_micros();
    let bytes = canonical_of((2, "00000000-0000-4000-8000-000000000002", at, archived));
    assert_eq!(String::from_utf8(bytes).expect("utf-8"), ENTRY_2_V2);
    let cutoff = Utc
        .with_ymd_and_hms(2026, 11, 1, 0, 0, 0)
        .single()
        .expect("instant");
    let dropped = entries::payloads_dropped("system", 3, cutoff, 30).expect("entry");
    let bytes = canonical_of((3, "00000000-0000-4000-8000-000000000003", at + 1, dropped));
    assert_eq!(String::from_utf8(bytes).expect("utf-8"), ENTRY_3_V2);
    assert_eq!(
        audit::leaf_hash(ENTRY_2_V2.as_bytes()).to_string(),
        LEAF_2_V2
    );
    assert_eq!(
        audit::leaf_hash(ENTRY_3_V2.as_bytes()).to_string(),
        LEAF_3_V2
    );
}

fn canonical_of((seq, id, at, entry): (i64, &str, i64, NewEntry)) -> Vec<u8> {
    audit::canonical_bytes(&audit::entry_document(seq, id, at, &entry)).expect("canonical")
}

fn unhex(s: &str) -> [u8; 32] {
    hex::decode(s).expect("hex").try_into().expect("32 bytes")
}

#[test]
fn genesis_matches_the_known_answer() {
    assert_eq!(
        audit::genesis_hash("labtrail.example.edu").to_string(),
        GENESIS_EXAMPLE
    );
    assert_eq!(audit::genesis_hash(ORIGIN).to_string(), GENESIS_TEST);
}

#[test]
fn entry_documents_canonicalise_to_the_hand_written_bytes() {
    assert_eq!(
        String::from_utf8(canonical_of(entry_0())).expect("utf-8"),
        ENTRY_0
    );
    assert_eq!(
        String::from_utf8(canonical_of(entry_1())).expect("utf-8"),
        ENTRY_1
    );
}

#[test]
fn leaf_hashes_match_the_known_answers() {
    assert_eq!(audit::leaf_hash(ENTRY_0.as_bytes()).to_string(), LEAF_0);
    assert_eq!(audit::leaf_hash(ENTRY_1.as_bytes()).to_string(), LEAF_1);
    // Through the canonicaliser too: entry document → bytes → leaf.
    assert_eq!(
        audit::leaf_hash(&canonical_of(entry_0())).to_string(),
        LEAF_0
    );
}

#[test]
fn chain_hashes_match_the_known_answers() {
    for (genesis, h0, h1) in [
        (GENESIS_EXAMPLE, HASH_0_EXAMPLE, HASH_1_EXAMPLE),
        (GENESIS_TEST, HASH_0_TEST, HASH_1_TEST),
    ] {
        let got0 = audit::chain_hash(&Hash::new(unhex(genesis)), &Hash::new(unhex(LEAF_0)));
        assert_eq!(got0.to_string(), h0);
        let got1 = audit::chain_hash(&got0, &Hash::new(unhex(LEAF_1)));
        assert_eq!(got1.to_string(), h1);
    }
}

#[test]
fn content_digest_is_the_sha256_of_the_canonical_json() {
    // printf '%s' '{"a":null,"b":[1,"x",{"c":true,"d":-2}]}' | sha256sum
    let digest =
        audit::content_digest(&json!({ "b": [1, "x", { "d": -2, "c": true }], "a": null }))
            .expect("digest");
    assert_eq!(
        digest,
        "9b99d6e82fc0778be09c97fa933550bc3c4a93a609f6541d4ce6d62a53acb3b4"
    );
}

/// RFC 8785 §3.2.2: the example of the whole transformation (numbers, string escapes, literals).
#[test]
fn rfc8785_example_of_section_3_2_2() {
    let input: Value = serde_json::from_str(
        r#"{
          "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
          "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
          "literals": [null, true, false]
        }"#,
    )
    .expect("json");
    // The RFC's expected output, as the UTF-8 bytes it lists in §3.2.4.
    let want: Vec<u8> = "7b 22 6c 69 74 65 72 61 6c 73 22 3a 5b 6e 75 6c 6c 2c 74 72 \
         75 65 2c 66 61 6c 73 65 5d 2c 22 6e 75 6d 62 65 72 73 22 3a \
         5b 33 33 33 33 33 33 33 33 33 2e 33 33 33 33 33 33 33 2c 31 \
         65 2b 33 30 2c 34 2e 35 2c 30 2e 30 30 32 2c 31 65 2d 32 37 \
         5d 2c 22 73 74 72 69 6e 67 22 3a 22 e2 82 ac 24 5c 75 30 30 \
         30 66 5c 6e 41 27 42 5c 22 5c 5c 5c 5c 5c 22 2f 22 7d"
        .split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).expect("hex"))
        .collect();
    let got = audit::canonical_bytes(&input).expect("canonical");
    assert_eq!(got, want);
    assert_eq!(
        String::from_utf8(got).expect("utf-8"),
        r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
    );
}

/// RFC 8785 §3.2.3: properties sorted by their UTF-16 code units (so U+1F600, a surrogate pair, sorts
/// before U+FB33), not by UTF-8 bytes or code points.
#[test]
fn rfc8785_sorting_example_of_section_3_2_3() {
    let input: Value = serde_json::from_str(
        r#"{
          "\u20ac": "Euro Sign",
          "\r": "Carriage Return",
          "\ufb33": "Hebrew Letter Dalet With Dagesh",
          "1": "One",
          "\ud83d\ude00": "Emoji: Grinning Face",
          "\u0080": "Control",
          "\u00f6": "Latin Small Letter O With Diaeresis"
        }"#,
    )
    .expect("json");
    let got = String::from_utf8(audit::canonical_bytes(&input).expect("canonical")).expect("utf-8");
    assert_eq!(
        got,
        "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\
         \"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\
         \"\u{1f600}\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}"
    );
}

/// RFC 8785 Appendix B: IEEE 754 doubles (as bit patterns) and their serialisation.
#[test]
fn rfc8785_number_examples_of_appendix_b() {
    let cases: &[(u64, &str)] = &[
        (0x0000000000000000, "0"),
        (0x8000000000000000, "0"),
        (0x0000000000000001, "5e-324"),
        (0x8000000000000001, "-5e-324"),
        (0x7fefffffffffffff, "1.7976931348623157e+308"),
        (0xffefffffffffffff, "-1.7976931348623157e+308"),
        (0x4340000000000000, "9007199254740992"),
        (0xc340000000000000, "-9007199254740992"),
        (0x4430000000000000, "295147905179352830000"),
        (0x44b52d02c7e14af5, "9.999999999999997e+22"),
        (0x44b52d02c7e14af6, "1e+23"),
        (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
        (0x444b1ae4d6e2ef4e, "999999999999999700000"),
        (0x444b1ae4d6e2ef4f, "999999999999999900000"),
        (0x444b1ae4d6e2ef50, "1e+21"),
        (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
        (0x3eb0c6f7a0b5ed8d, "0.000001"),
        (0x41b3de4355555553, "333333333.3333332"),
        (0x41b3de4355555554, "333333333.33333325"),
        (0x41b3de4355555555, "333333333.3333333"),
        (0x41b3de4355555556, "333333333.3333334"),
        (0x41b3de4355555557, "333333333.33333343"),
        (0xbecbf647612f3696, "-0.0000033333333333333333"),
        (0x43143ff3c1cb0959, "1424953923781206.2"),
    ];
    for (bits, want) in cases {
        let value = json!([f64::from_bits(*bits)]);
        let got =
            String::from_utf8(audit::canonical_bytes(&value).expect("canonical")).expect("utf-8");
        assert_eq!(got, format!("[{want}]"), "IEEE 754 {bits:#018x}");
    }
}

backend_tests!(
    appended_entries_hash_as_specified,
    hand_built_entries_with_the_known_hashes_verify,
);

/// What `append` stores is recomputed here with `sha2` alone, from the genesis constant on.
async fn appended_entries_hash_as_specified(db: TestDb) {
    let app = spawn_app(&db).await;
    app.create_lab1_session().await;
    let p = push_payload("course", "lab1-alice", 7, &sha(1), 1767225600);
    app.deliver_push("known-1", &p).await;
    app.drain().await;
    let rows = app.audit_entries().await;
    assert!(rows.len() >= 2, "a session and an attempt: {}", rows.len());
    let mut prev = unhex(GENESIS_TEST);
    for row in &rows {
        assert_eq!(row.prev_hash, hex::encode(prev), "seq {}", row.seq);
        let leaf: [u8; 32] = Sha256::new()
            .chain_update([0x00])
            .chain_update(&row.canonical)
            .finalize()
            .into();
        let hash: [u8; 32] = Sha256::new()
            .chain_update([0x02])
            .chain_update(prev)
            .chain_update(leaf)
            .finalize()
            .into();
        assert_eq!(row.entry_hash, hex::encode(hash), "seq {}", row.seq);
        // The hashed bytes are the canonical form of themselves (RFC 8785 is idempotent).
        let doc: Value = serde_json::from_slice(&row.canonical).expect("json");
        assert_eq!(
            audit::canonical_bytes(&doc).expect("canonical"),
            row.canonical
        );
        assert_eq!(doc["v"], 1);
        assert_eq!(doc["details"]["v"], 2, "new entries use details version 2");
        assert_eq!(doc["seq"], row.seq);
        prev = hash;
    }
    app.stop().await;
}

/// The verifier accepts the hand-computed chain: its construction is the one of the constants.
async fn hand_built_entries_with_the_known_hashes_verify(db: TestDb) {
    let conn = db.connect().await;
    let backend = conn.get_database_backend();
    let rows = [
        (entry_0(), ENTRY_0, GENESIS_TEST, HASH_0_TEST),
        (entry_1(), ENTRY_1, HASH_0_TEST, HASH_1_TEST),
    ];
    for ((seq, id, at, entry), canonical, prev, hash) in rows {
        let details = audit::canonical_bytes(&entry.details).expect("details");
        let sql = match backend {
            sea_orm::DbBackend::Postgres => {
                "INSERT INTO audit_log (seq, entry_id, occurred_at_us, actor, action, subject, details, \
                 canonical, prev_hash, entry_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            }
            _ => {
                "INSERT INTO audit_log (seq, entry_id, occurred_at_us, actor, action, subject, details, \
                 canonical, prev_hash, entry_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            }
        };
        conn.execute(Statement::from_sql_and_values(
            backend,
            sql,
            [
                seq.into(),
                id.into(),
                at.into(),
                entry.actor.into(),
                entry.action.as_str().into(),
                entry.subject.into(),
                String::from_utf8(details).expect("utf-8").into(),
                canonical.as_bytes().to_vec().into(),
                prev.into(),
                hash.into(),
            ],
        ))
        .await
        .expect("insert a hand-built entry");
        // As `append` does: the head moves with every entry (a trigger refuses inserts elsewhere).
        let head = match backend {
            sea_orm::DbBackend::Postgres => {
                "UPDATE audit_head SET size = $1, head_hash = $2, origin = $3 WHERE id = 1"
            }
            _ => "UPDATE audit_head SET size = ?, head_hash = ?, origin = ? WHERE id = 1",
        };
        conn.execute(Statement::from_sql_and_values(
            backend,
            head,
            [(seq + 1).into(), hash.into(), ORIGIN.into()],
        ))
        .await
        .expect("advance the head");
    }
    let out = run_cli(&db, &["audit", "verify"]);
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("audit log intact: 2 entries"), "{text}");
    // The entries were written without the attempt row they record: the chain verifies, and the
    // records check (rightly) names the row as missing, which alone makes the exit code 1.
    assert!(
        text.contains("attempt 1: the row is gone, and the log has no erase entry for it"),
        "{text}"
    );
    assert!(text.contains("records TAMPERED: 1 differences"), "{text}");
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(HASH_1_TEST),
        "the head is the known answer: {text}"
    );
}
