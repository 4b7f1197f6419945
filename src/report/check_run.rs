//! The text of the `labtrail` check run on a pushed commit: a pure Markdown summary of the attempt, its
//! session's deadline, its files and the repository's recent attempts (the GitHub calls that post it are
//! `github::checks`, the outbox that publishes it at most once per attempt `jobs::check_runs`).

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use entity::states::{FileStatus, FilesSource};

use crate::db::check_runs::SummaryFacts;
use crate::domain::session::{is_early, is_late, local_time, parse_timezone};

/// GitHub's limit on `output.summary`, in characters.
pub const SUMMARY_LIMIT: usize = 65_535;
/// Paths listed in the summary; the rest are counted.
pub const FILES_SHOWN: usize = 50;
/// Recent attempts of the repository shown.
pub const RECENT_SHOWN: usize = 10;
/// Longest path or title shown whole.
const SHOWN_CHARS: usize = 300;

/// One earlier (or this) attempt of the same repository and session.
#[derive(Debug, Clone)]
pub struct RecentAttempt {
    pub number: i32,
    pub after_sha: String,
    pub pushed_at: DateTime<Utc>,
    pub late: bool,
    pub early: bool,
    pub file_count: i32,
}

/// Everything a summary shows: one attempt, its session, its repository's history, its receipt.
#[derive(Debug, Clone)]
pub struct CheckRunSummary {
    pub session_title: String,
    /// The student's own deadline (the session's, or their extension).
    pub closes_at: DateTime<Utc>,
    /// The session's deadline (differs from `closes_at` with an extension).
    pub session_closes_at: DateTime<Utc>,
    /// The session's IANA time zone: times are shown in it, with the offset.
    pub timezone: String,
    pub pushed_at: DateTime<Utc>,
    /// Judged now against `closes_at` (a deadline edited or extended after recording counts).
    pub late: bool,
    /// Pushed before the session opened.
    pub early: bool,
    pub attempt_number: i32,
    pub git_ref: String,
    pub before_sha: String,
    pub after_sha: String,
    pub forced: bool,
    pub created_branch: bool,
    pub file_count: usize,
    /// The first files by path: (path, status).
    pub files: Vec<(String, FileStatus)>,
    pub files_source: FilesSource,
    pub files_complete: bool,
    /// Latest first, this attempt included.
    pub recent: Vec<RecentAttempt>,
    pub audit_seq: i64,
    pub entry_hash: String,
    /// The attempt's id (what its inclusion proof is asked for by).
    pub attempt_id: i64,
}

/// What goes into the check run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutput {
    pub conclusion: &'static str,
    pub title: String,
    pub summary: String,
}

/// "2 d 3 h 5 min", "45 s".
pub fn human_duration(d: chrono::Duration) -> String {
    let secs = d.num_seconds().max(0);
    let (days, hours, mins, s) = (
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    let parts: Vec<String> = [(days, "d"), (hours, "h"), (mins, "min")]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, u)| format!("{n} {u}"))
        .collect();
    if parts.is_empty() {
        format!("{s} s")
    } else {
        parts.join(" ")
    }
}

/// Text made safe for Markdown prose: control characters shown as `?`, Markdown punctuation escaped,
/// and cut to `max` characters.
pub fn md_text(s: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        match c {
            c if c.is_control() => out.push('?'),
            // What can start emphasis, code, links, HTML, tables, mentions or issue references
            // anywhere in a line (the text is never at a line start).
            '\\' | '`' | '*' | '_' | '{' | '}' | '[' | ']' | '<' | '>' | '|' | '~' | '&' | '@'
            | '#' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// A push time in the session's zone, to the second, with the offset.
fn local_secs(t: DateTime<Utc>, timezone: &str) -> String {
    let tz = parse_timezone(timezone).unwrap_or(chrono_tz::Tz::UTC);
    t.with_timezone(&tz)
        .format("%Y-%m-%d %H:%M:%S %:z")
        .to_string()
}

/// Render the check run, written to the student: conclusion, title and a Markdown summary under GitHub's
/// limit. The conclusion is `success` for a push on time by the student's own deadline and `neutral` for
/// a late or early one: a fact the student can no longer change, not a failure they are asked to fix. No
/// line asks the student to run a command: "Details" leads to the attempt's page and its proof.
pub fn render(s: &CheckRunSummary) -> CheckOutput {
    let (timing, verdict) = if s.early {
        (
            "early (before the session opened)".to_owned(),
            "**early**: before the session opened, it does not count".to_owned(),
        )
    } else if s.late {
        let by = human_duration(s.pushed_at - s.closes_at);
        (format!("late by {by}"), format!("**late** by {by}"))
    } else {
        ("on time".to_owned(), "**on time**".to_owned())
    };
    let title = format!("Attempt #{}: {timing}", s.attempt_number);
    let mut md = String::new();
    let _ = writeln!(md, "### {}\n", md_text(&s.session_title, SHOWN_CHARS));
    md.push_str("| | |\n|---|---|\n");
    if s.closes_at == s.session_closes_at {
        let _ = writeln!(
            md,
            "| Your deadline | {} ({}) |",
            local_time(s.closes_at, &s.timezone),
            md_text(&s.timezone, 64)
        );
    } else {
        let _ = writeln!(
            md,
            "| Your deadline | {} ({}; extended, the session's is {}) |",
            local_time(s.closes_at, &s.timezone),
            md_text(&s.timezone, 64),
            local_time(s.session_closes_at, &s.timezone)
        );
    }
    let _ = writeln!(
        md,
        "| Pushed | {} ({verdict}) |",
        local_secs(s.pushed_at, &s.timezone)
    );
    let _ = writeln!(md, "| Attempt | #{} |", s.attempt_number);
    let branch = s.git_ref.strip_prefix("refs/heads/").unwrap_or(&s.git_ref);
    let _ = writeln!(
        md,
        "| Commit | `{}` on {}{} |",
        short(&s.after_sha),
        md_text(branch, SHOWN_CHARS),
        if s.created_branch {
            " (new branch)"
        } else {
            ""
        }
    );
    let completeness = if s.files_complete {
        ""
    } else {
        ", list incomplete"
    };
    let _ = writeln!(
        md,
        "| Changed files | {} (from the {}{completeness}) |",
        s.file_count,
        if s.files_source == FilesSource::Api {
            "GitHub API"
        } else {
            "push payload"
        }
    );
    if s.forced {
        let _ = writeln!(
            md,
            "\n> [!WARNING]\n> This was a **forced push**: it replaced the branch's history (it was at `{}`).",
            short(&s.before_sha)
        );
    }
    files_section(&mut md, s);
    recent_section(&mut md, s);
    // The entry's seq is its Merkle leaf index; the smallest tree holding it has seq + 1 leaves.
    let _ = writeln!(
        md,
        "\n#### Your receipt\nThis push is entry **{}** of the labtrail audit log, entry hash `{}` \
         (Merkle leaf index **{}**: every signed checkpoint of at least **{}** entries proves it). \
         Nobody can change or remove it unnoticed.\n\n\
         **Details → download your proof**: open *Details* on this check run, sign in with GitHub, and \
         download `labtrail-proof-{}.json`; the page shows how anyone checks it offline with the log's \
         public key.",
        s.audit_seq,
        md_text(&s.entry_hash, 64),
        s.audit_seq,
        s.audit_seq.saturating_add(1),
        s.attempt_id,
    );
    CheckOutput {
        conclusion: if s.late || s.early {
            "neutral"
        } else {
            "success"
        },
        title,
        summary: within_limit(md),
    }
}

fn files_section(md: &mut String, s: &CheckRunSummary) {
    let _ = writeln!(md, "\n#### Changed files ({})", s.file_count);
    if s.files.is_empty() {
        md.push_str("No file changed.\n");
        return;
    }
    for (path, status) in s.files.iter().take(FILES_SHOWN) {
        let _ = writeln!(md, "- {status}: {}", md_text(path, SHOWN_CHARS));
    }
    let shown = s.files.len().min(FILES_SHOWN);
    if s.file_count > shown {
        let _ = writeln!(md, "- and {} more", s.file_count - shown);
    }
}

fn recent_section(md: &mut String, s: &CheckRunSummary) {
    md.push_str("\n#### Recent attempts in this repository\n");
    md.push_str("| Attempt | Commit | Pushed | Files | |\n|---|---|---|---|---|\n");
    for r in s.recent.iter().take(RECENT_SHOWN) {
        let _ = writeln!(
            md,
            "| #{} | `{}` | {} | {} | {} |",
            r.number,
            short(&r.after_sha),
            local_secs(r.pushed_at, &s.timezone),
            r.file_count,
            if r.early {
                "early"
            } else if r.late {
                "late"
            } else {
                "on time"
            }
        );
    }
}

/// Cut at a character boundary, saying so, when over GitHub's limit.
fn within_limit(md: String) -> String {
    if md.chars().count() <= SUMMARY_LIMIT {
        return md;
    }
    let note = "\n\n*(summary shortened to fit GitHub's limit)*\n";
    let keep = SUMMARY_LIMIT - note.chars().count();
    let mut out: String = md.chars().take(keep).collect();
    out.push_str(note);
    out
}

impl From<SummaryFacts> for CheckRunSummary {
    fn from(f: SummaryFacts) -> Self {
        let a = f.attempt;
        let judge = |pushed_at| {
            (
                is_late(pushed_at, f.closes_at),
                is_early(pushed_at, f.opens_at),
            )
        };
        let (late, early) = judge(a.pushed_at);
        Self {
            session_title: f.session_title,
            closes_at: f.closes_at,
            session_closes_at: f.session_closes_at,
            timezone: f.timezone,
            pushed_at: a.pushed_at,
            late,
            early,
            attempt_number: a.attempt_number,
            git_ref: a.git_ref,
            before_sha: a.before_sha,
            after_sha: a.after_sha,
            forced: a.forced,
            created_branch: a.created_branch,
            file_count: usize::try_from(a.file_count).unwrap_or(0),
            files: f.files,
            files_source: a.files_source,
            files_complete: a.files_complete,
            recent: f
                .recent
                .into_iter()
                .map(|r| RecentAttempt {
                    number: r.attempt_number,
                    after_sha: r.after_sha,
                    pushed_at: r.pushed_at,
                    late: judge(r.pushed_at).0,
                    early: judge(r.pushed_at).1,
                    file_count: r.file_count,
                })
                .collect(),
            audit_seq: a.audit_seq,
            entry_hash: f.entry_hash,
            attempt_id: a.id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    fn base() -> CheckRunSummary {
        CheckRunSummary {
            session_title: "Lab 3: linked lists".into(),
            closes_at: t("2026-02-01T23:59:00Z"),
            session_closes_at: t("2026-02-01T23:59:00Z"),
            timezone: "UTC".into(),
            pushed_at: t("2026-02-01T21:15:07Z"),
            late: false,
            early: false,
            attempt_number: 3,
            git_ref: "refs/heads/main".into(),
            before_sha: "1111111111111111111111111111111111111111".into(),
            after_sha: "abcdef0123456789abcdef0123456789abcdef01".into(),
            forced: false,
            created_branch: false,
            file_count: 2,
            files: vec![
                ("src/list.c".into(), FileStatus::Modified),
                ("tests/test_list.c".into(), FileStatus::Added),
            ],
            files_source: FilesSource::Payload,
            files_complete: true,
            recent: vec![
                RecentAttempt {
                    number: 3,
                    after_sha: "abcdef0123456789abcdef0123456789abcdef01".into(),
                    pushed_at: t("2026-02-01T21:15:07Z"),
                    late: false,
                    early: false,
                    file_count: 2,
                },
                RecentAttempt {
                    number: 2,
                    after_sha: "1111111111111111111111111111111111111111".into(),
                    pushed_at: t("2026-01-30T10:00:00Z"),
                    late: false,
                    early: false,
                    file_count: 5,
                },
            ],
            audit_seq: 41,
            entry_hash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
            attempt_id: 16,
        }
    }

    #[test]
    fn normal_push() {
        let out = render(&base());
        assert_eq!(out.conclusion, "success");
        assert_eq!(out.title, "Attempt #3: on time");
        insta::assert_snapshot!(out.summary, @r#"
        ### Lab 3: linked lists

        | | |
        |---|---|
        | Your deadline | 2026-02-01 23:59 +00:00 (UTC) |
        | Pushed | 2026-02-01 21:15:07 +00:00 (**on time**) |
        | Attempt | #3 |
        | Commit | `abcdef012345` on main |
        | Changed files | 2 (from the push payload) |

        #### Changed files (2)
        - modified: src/list.c
        - added: tests/test\_list.c

        #### Recent attempts in this repository
        | Attempt | Commit | Pushed | Files | |
        |---|---|---|---|---|
        | #3 | `abcdef012345` | 2026-02-01 21:15:07 +00:00 | 2 | on time |
        | #2 | `111111111111` | 2026-01-30 10:00:00 +00:00 | 5 | on time |

        #### Your receipt
        This push is entry **41** of the labtrail audit log, entry hash `9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08` (Merkle leaf index **41**: every signed checkpoint of at least **42** entries proves it). Nobody can change or remove it unnoticed.

        **Details → download your proof**: open *Details* on this check run, sign in with GitHub, and download `labtrail-proof-16.json`; the page shows how anyone checks it offline with the log's public key.
    "#);
    }

    /// `summary` is the normal push's but for each `(from, to)` replaced.
    fn assert_normal_but(summary: &str, changes: &[(&str, &str)]) {
        let expected = changes
            .iter()
            .fold(render(&base()).summary, |normal, (from, to)| {
                assert!(normal.contains(from), "{from:?} is in the normal summary");
                normal.replacen(from, to, 1)
            });
        assert_eq!(summary, expected);
    }

    #[test]
    fn late_push() {
        let mut s = base();
        s.pushed_at = t("2026-02-03T02:04:09Z");
        s.late = true;
        s.recent[0].late = true;
        s.recent[0].pushed_at = s.pushed_at;
        let out = render(&s);
        assert_eq!(out.conclusion, "neutral");
        assert_eq!(out.title, "Attempt #3: late by 1 d 2 h 5 min");
        assert_normal_but(
            &out.summary,
            &[
                (
                    "| Pushed | 2026-02-01 21:15:07 +00:00 (**on time**) |",
                    "| Pushed | 2026-02-03 02:04:09 +00:00 (**late** by 1 d 2 h 5 min) |",
                ),
                (
                    "| #3 | `abcdef012345` | 2026-02-01 21:15:07 +00:00 | 2 | on time |",
                    "| #3 | `abcdef012345` | 2026-02-03 02:04:09 +00:00 | 2 | late |",
                ),
            ],
        );
    }

    #[test]
    fn local_time_extension_and_early() {
        let mut s = base();
        s.timezone = "Europe/Paris".into();
        s.closes_at = t("2026-02-02T22:59:00Z");
        s.pushed_at = t("2026-02-02T10:00:00Z");
        let out = render(&s);
        assert_eq!(out.title, "Attempt #3: on time");
        assert!(out.summary.contains(
            "| Your deadline | 2026-02-02 23:59 +01:00 (Europe/Paris; extended, the session's is 2026-02-02 00:59 +01:00) |"
        ), "{}", out.summary);
        assert!(out
            .summary
            .contains("| Pushed | 2026-02-02 11:00:00 +01:00 (**on time**) |"));
        s.pushed_at = t("2026-02-03T01:04:00Z");
        s.late = true;
        assert_eq!(render(&s).title, "Attempt #3: late by 2 h 5 min");
        assert_eq!(render(&s).conclusion, "neutral");
        s.early = true;
        let out = render(&s);
        assert_eq!(out.title, "Attempt #3: early (before the session opened)");
        assert_eq!(out.conclusion, "neutral");
    }

    #[test]
    fn forced_push() {
        let mut s = base();
        s.forced = true;
        let out = render(&s);
        assert_normal_but(
            &out.summary,
            &[(
                "| Changed files | 2 (from the push payload) |\n",
                "| Changed files | 2 (from the push payload) |\n\n\
                 > [!WARNING]\n\
                 > This was a **forced push**: it replaced the branch's history (it was at `111111111111`).\n",
            )],
        );
    }

    #[test]
    fn huge_push() {
        let mut s = base();
        s.attempt_number = 12;
        s.file_count = 5000;
        s.files = (0..FILES_SHOWN)
            .map(|i| (format!("gen/f{i:04}.txt"), FileStatus::Added))
            .collect();
        s.files_source = FilesSource::Api;
        s.recent = (0..RECENT_SHOWN as i32)
            .map(|i| RecentAttempt {
                number: 12 - i,
                after_sha: format!("{:x}", 12 - i).repeat(40)[..40].to_owned(),
                pushed_at: s.pushed_at - chrono::Duration::hours(i64::from(i) * 5),
                late: false,
                early: false,
                file_count: 5000 - i,
            })
            .collect();
        let out = render(&s);
        assert!(out
            .summary
            .contains("- added: gen/f0049.txt\n- and 4950 more\n"));
        insta::assert_snapshot!(out.summary, @r#"
        ### Lab 3: linked lists

        | | |
        |---|---|
        | Your deadline | 2026-02-01 23:59 +00:00 (UTC) |
        | Pushed | 2026-02-01 21:15:07 +00:00 (**on time**) |
        | Attempt | #12 |
        | Commit | `abcdef012345` on main |
        | Changed files | 5000 (from the GitHub API) |

        #### Changed files (5000)
        - added: gen/f0000.txt
        - added: gen/f0001.txt
        - added: gen/f0002.txt
        - added: gen/f0003.txt
        - added: gen/f0004.txt
        - added: gen/f0005.txt
        - added: gen/f0006.txt
        - added: gen/f0007.txt
        - added: gen/f0008.txt
        - added: gen/f0009.txt
        - added: gen/f0010.txt
        - added: gen/f0011.txt
        - added: gen/f0012.txt
        - added: gen/f0013.txt
        - added: gen/f0014.txt
        - added: gen/f0015.txt
        - added: gen/f0016.txt
        - added: gen/f0017.txt
        - added: gen/f0018.txt
        - added: gen/f0019.txt
        - added: gen/f0020.txt
        - added: gen/f0021.txt
        - added: gen/f0022.txt
        - added: gen/f0023.txt
        - added: gen/f0024.txt
        - added: gen/f0025.txt
        - added: gen/f0026.txt
        - added: gen/f0027.txt
        - added: gen/f0028.txt
        - added: gen/f0029.txt
        - added: gen/f0030.txt
        - added: gen/f0031.txt
        - added: gen/f0032.txt
        - added: gen/f0033.txt
        - added: gen/f0034.txt
        - added: gen/f0035.txt
        - added: gen/f0036.txt
        - added: gen/f0037.txt
        - added: gen/f0038.txt
        - added: gen/f0039.txt
        - added: gen/f0040.txt
        - added: gen/f0041.txt
        - added: gen/f0042.txt
        - added: gen/f0043.txt
        - added: gen/f0044.txt
        - added: gen/f0045.txt
        - added: gen/f0046.txt
        - added: gen/f0047.txt
        - added: gen/f0048.txt
        - added: gen/f0049.txt
        - and 4950 more

        #### Recent attempts in this repository
        | Attempt | Commit | Pushed | Files | |
        |---|---|---|---|---|
        | #12 | `cccccccccccc` | 2026-02-01 21:15:07 +00:00 | 5000 | on time |
        | #11 | `bbbbbbbbbbbb` | 2026-02-01 16:15:07 +00:00 | 4999 | on time |
        | #10 | `aaaaaaaaaaaa` | 2026-02-01 11:15:07 +00:00 | 4998 | on time |
        | #9 | `999999999999` | 2026-02-01 06:15:07 +00:00 | 4997 | on time |
        | #8 | `888888888888` | 2026-02-01 01:15:07 +00:00 | 4996 | on time |
        | #7 | `777777777777` | 2026-01-31 20:15:07 +00:00 | 4995 | on time |
        | #6 | `666666666666` | 2026-01-31 15:15:07 +00:00 | 4994 | on time |
        | #5 | `555555555555` | 2026-01-31 10:15:07 +00:00 | 4993 | on time |
        | #4 | `444444444444` | 2026-01-31 05:15:07 +00:00 | 4992 | on time |
        | #3 | `333333333333` | 2026-01-31 00:15:07 +00:00 | 4991 | on time |

        #### Your receipt
        This push is entry **41** of the labtrail audit log, entry hash `9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08` (Merkle leaf index **41**: every signed checkpoint of at least **42** entries proves it). Nobody can change or remove it unnoticed.

        **Details → download your proof**: open *Details* on this check run, sign in with GitHub, and download `labtrail-proof-16.json`; the page shows how anyone checks it offline with the log's public key.
    "#);
    }

    #[test]
    fn summary_stays_under_the_limit_whatever_the_input() {
        let mut s = base();
        s.session_title = "T`|<x>".repeat(100_000);
        s.git_ref = format!("refs/heads/{}", "b".repeat(100_000));
        s.file_count = 1_000_000;
        s.files = (0..FILES_SHOWN)
            .map(|i| {
                (
                    format!("{i}/{}", "é\n`|*".repeat(20_000)),
                    FileStatus::Added,
                )
            })
            .collect();
        let out = render(&s);
        assert!(out.summary.chars().count() <= SUMMARY_LIMIT);
        assert!(out.summary.contains("and 999950 more"));
        assert!(
            out.summary.contains("Your receipt"),
            "the receipt survives long input"
        );
        assert!(!out.summary.contains("é\n"), "no raw newline from a path");
    }

    #[test]
    fn markdown_in_names_is_escaped() {
        assert_eq!(md_text("a|b`c\nd", 100), "a\\|b\\`c?d");
        assert_eq!(md_text("abcdef", 3), "abc…");
    }

    #[test]
    fn durations_read_like_a_person_writes_them() {
        assert_eq!(human_duration(chrono::Duration::seconds(45)), "45 s");
        assert_eq!(
            human_duration(chrono::Duration::seconds(3 * 3600 + 61)),
            "3 h 1 min"
        );
        assert_eq!(human_duration(chrono::Duration::seconds(86_400 * 2)), "2 d");
    }
}
