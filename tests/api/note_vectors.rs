//! Known answers from Go's `golang.org/x/mod/sumdb/note` (the reference of c2sp.org/signed-note), run
//! through labtrail's signed-note code (`audit::checkpoint`: `Verifier::parse`, `parse_note`,
//! `open_note`, `AuditKey::from_private_text`). The keys, signatures and malformed inputs are those of
//! `sumdb/note/note_test.go` in <https://github.com/golang/mod> at commit
//! `fe2ec04f7c3c3aa6fad97631aafcff6e49e2d1db` (BSD-3-Clause: `tests/vectors/golang-mod/LICENSE`), each
//! test naming the Go test it follows. The PeterNeumann signing example itself is checked byte for byte
//! by the unit tests of `checkpoint.rs`.

use labtrail::audit::checkpoint::{
    open_note, parse_note, AuditKey, NoteError, Verifier, MAX_SIGNATURES,
};

const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const PETER_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n";
const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";
const PETER_B64: &str =
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=";
const ENOCH_B64: &str =
    "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=";

fn peter() -> Verifier {
    Verifier::parse(PETER_VKEY).expect("Peter's key")
}

fn enoch() -> Verifier {
    Verifier::parse(ENOCH_VKEY).expect("Enoch's key")
}

/// `(name, key id, base64 of the signature line)` of each parsed signature, as Go's `note.Signature`.
fn sigs(note: &str) -> Vec<(String, String, String)> {
    use base64::engine::general_purpose::STANDARD as B64;
    use base64::Engine as _;
    parse_note(note)
        .expect("parse")
        .signatures
        .iter()
        .map(|s| {
            let mut raw = s.key_id.to_vec();
            raw.extend_from_slice(&s.signature);
            (s.name.clone(), hex::encode(s.key_id), B64.encode(raw))
        })
        .collect()
}

// TestVerifierList, TestOpen: the second key.
#[test]
fn the_second_key_parses_with_its_name_and_id() {
    let v = enoch();
    assert_eq!(v.name, "EnochRoot");
    assert_eq!(hex::encode(v.id), "af0cfe78");
    assert_eq!(v.to_vkey(), ENOCH_VKEY);
    let note = format!("{TEXT}\n{ENOCH_SIG}");
    assert_eq!(open_note(&note, &v).as_deref(), Ok(TEXT));
    assert!(matches!(
        open_note(&note, &peter()),
        Err(NoteError::NotSigned(_))
    ));
}

// TestOpen: "one signature verified, one not" and "both verified".
#[test]
fn a_note_signed_by_two_keys_opens_with_either() {
    let note = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");
    assert_eq!(open_note(&note, &peter()).as_deref(), Ok(TEXT));
    assert_eq!(open_note(&note, &enoch()).as_deref(), Ok(TEXT));
    assert_eq!(
        sigs(&note),
        vec![
            ("PeterNeumann".into(), "c74f20a3".into(), PETER_B64.into()),
            ("EnochRoot".into(), "af0cfe78".into(), ENOCH_B64.into()),
        ]
    );
    // "Both unverified": a key that signed neither.
    let other = AuditKey::generate("EnochRoot").expect("key").verifier();
    assert!(matches!(
        open_note(&note, &other),
        Err(NoteError::NotSigned(_))
    ));
}

// TestOpen: "Check too many signatures" (Go refuses more than 100, verified or not).
#[test]
fn more_than_100_signatures_are_refused() {
    assert_eq!(MAX_SIGNATURES, 100);
    let hundred = format!("{TEXT}\n{}", PETER_SIG.repeat(100));
    assert_eq!(open_note(&hundred, &peter()).as_deref(), Ok(TEXT));
    let too_many = format!("{TEXT}\n{}", PETER_SIG.repeat(101));
    assert!(matches!(
        parse_note(&too_many),
        Err(NoteError::Malformed(_))
    ));
    assert!(matches!(
        open_note(&too_many, &peter()),
        Err(NoteError::Malformed(_))
    ));
    assert!(matches!(
        open_note(&too_many, &enoch()),
        Err(NoteError::Malformed(_))
    ));
    let mixed = format!("{TEXT}\n{}{}", ENOCH_SIG.repeat(50), PETER_SIG.repeat(51));
    assert!(matches!(
        open_note(&mixed, &peter()),
        Err(NoteError::Malformed(_))
    ));
}

// TestOpen: "Invalid signature" and "Duplicated verified and unverified signatures".
#[test]
fn invalid_and_duplicated_signatures() {
    let (p, e) = (PETER_SIG, ENOCH_SIG);
    let bad_peter = format!("{}ABCD{}", &p[..60], &p[60..]);
    let note = format!("{TEXT}\n{bad_peter}");
    assert!(matches!(
        open_note(&note, &peter()),
        Err(NoteError::BadSignature(_))
    ));
    let bad_enoch = format!("{}ABCD{}", &e[..60], &e[60..]);
    let note = format!("{TEXT}\n{p}{p}{e}{e}{bad_enoch}");
    assert_eq!(open_note(&note, &peter()).as_deref(), Ok(TEXT));
    // Go drops repeated signatures by one key before verifying them: the first of Enoch's verifies.
    assert_eq!(open_note(&note, &enoch()).as_deref(), Ok(TEXT));
    assert_eq!(sigs(&note).len(), 5);
}

// TestOpen: "Invalid encoded message syntax" and the misnamed / wrong-hash signatures.
#[test]
fn malformed_notes_are_refused() {
    let p = PETER_SIG;
    let malformed = [
        TEXT.to_owned(),
        format!("{TEXT}\n"),
        format!("{TEXT}\n{}", &p[..p.len() - 1]),
        format!("\x01{TEXT}\n{p}"),
        format!("{TEXT}\n\u{2014} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="),
        format!("{TEXT}\n{p}Unexpected line.\n"),
    ];
    for msg in &malformed {
        assert!(
            matches!(open_note(msg, &peter()), Err(NoteError::Malformed(_))),
            "accepted {msg:?}"
        );
        assert!(parse_note(msg).is_err());
    }
    // Go's "\xff" + text: not UTF-8, so it cannot even become the &str labtrail reads notes as.
    let mut bytes = b"\xff".to_vec();
    bytes.extend_from_slice(format!("{TEXT}\n{p}").as_bytes());
    assert!(std::str::from_utf8(&bytes).is_err());
    // Go's rule is "no control character below U+0020 but the newline": DEL and C1 controls pass.
    for ok in ['\u{7f}', '\u{85}'] {
        let text = format!("{ok}{TEXT}");
        let signed = AuditKey::from_private_text(PETER_SKEY)
            .expect("key")
            .sign_note(&text);
        assert_eq!(open_note(&signed, &peter()).as_deref(), Ok(text.as_str()));
    }
    for bad in ['\r', '\t', '\u{0}'] {
        let note = format!("{bad}{TEXT}\n{p}");
        assert!(matches!(parse_note(&note), Err(NoteError::Malformed(_))));
    }
    let misnamed = p.replace("PeterNeumann", "CarmenSandiego");
    let note = format!("{TEXT}\n{misnamed}");
    assert!(matches!(
        open_note(&note, &peter()),
        Err(NoteError::NotSigned(_))
    ));
    let wrong_hash = p.replace("x08g", "xxxx");
    let note = format!("{TEXT}\n{wrong_hash}");
    assert!(matches!(
        open_note(&note, &peter()),
        Err(NoteError::NotSigned(_))
    ));
}

/// Every proper substring of `key`, and `key` with each byte incremented (Go's manglings).
fn manglings(key: &str) -> Vec<String> {
    let b = key.as_bytes();
    let mut out = Vec::new();
    for i in 0..=b.len() {
        for j in i + 1..=b.len() {
            if i != 0 || j != b.len() {
                out.push(String::from_utf8(b[i..j].to_vec()).expect("ascii"));
            }
        }
    }
    for i in 0..b.len() {
        let mut m = b.to_vec();
        m[i] += 1;
        out.push(String::from_utf8(m).expect("ascii"));
    }
    out
}

// TestNewVerifier.
#[test]
fn mangled_and_bad_verifier_keys_are_refused() {
    let all = manglings(PETER_VKEY);
    assert_eq!(
        all.len(),
        PETER_VKEY.len() * (PETER_VKEY.len() + 1) / 2 - 1 + PETER_VKEY.len()
    );
    for k in &all {
        assert!(Verifier::parse(k).is_err(), "accepted {k:?}");
    }
    // Wrong key length and unknown algorithm, each with a key id computed for it.
    for k in [
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ] {
        assert!(
            matches!(Verifier::parse(k), Err(NoteError::PublicKey(_))),
            "accepted {k:?}"
        );
    }
    // Go reads the key id with strconv.ParseUint(id, 16, 32): upper-case hex is the same id.
    let upper = PETER_VKEY.replace("c74f20a3", "C74F20A3");
    assert_eq!(Verifier::parse(&upper), Ok(peter()));
    assert!(Verifier::parse(&PETER_VKEY.replace("c74f20a3", "0c74f20a3")).is_err());
}

// TestNewSigner.
#[test]
fn mangled_private_keys_are_refused() {
    let key = AuditKey::from_private_text(PETER_SKEY).expect("Peter's private key");
    assert_eq!(key.verifier(), peter());
    for k in manglings(PETER_SKEY) {
        assert!(AuditKey::from_private_text(&k).is_none(), "accepted {k:?}");
    }
    let upper = PETER_SKEY.replace("c74f20a3", "C74F20A3");
    assert!(AuditKey::from_private_text(&upper).is_some());
}
