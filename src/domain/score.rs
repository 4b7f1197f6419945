//! Points from autograding (issue 22): `Points X/Y` as the autograding reporter writes it, and which of an
//! attempt's scores counts.

use chrono::{DateTime, Utc};

/// Points awarded and available, as decimal text (`7`, `7.5`): exact, and no float ever reaches the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Points {
    pub awarded: String,
    pub available: String,
}

/// A decimal number as written (`7`, `07.50`), normalised (`7`, `7.5`); `None` when it is not one.
fn decimal(s: &str) -> Option<String> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty()
        || int.len() > 12
        || frac.len() > 6
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || (s.contains('.') && frac.is_empty())
    {
        return None;
    }
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let frac = frac.trim_end_matches('0');
    Some(if frac.is_empty() {
        int.to_owned()
    } else {
        format!("{int}.{frac}")
    })
}

/// The first `Points X/Y` in `text` (the autograding reporter's summary, text and annotation message:
/// `Points 7/10`), with `X` and `Y` non-negative decimals and `Y` not zero (`X` above `Y`, extra credit,
/// is the course's business). A malformed one is no points: the run then gives its conclusion only.
pub fn parse_points(text: &str) -> Option<Points> {
    let mut rest = text;
    while let Some(at) = rest.find("Points") {
        let after = &rest[at + "Points".len()..];
        rest = after;
        let Some(tail) = after.strip_prefix(' ') else {
            continue;
        };
        let tail = tail.trim_start_matches(' ');
        let end = tail
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '/'))
            .unwrap_or(tail.len());
        let Some((x, y)) = tail[..end].split_once('/') else {
            continue;
        };
        if let (Some(awarded), Some(available)) = (decimal(x), decimal(y)) {
            if available != "0" {
                return Some(Points { awarded, available });
            }
        }
    }
    None
}

/// The order of an attempt's scores: the one that counts is the greatest (the latest completion, then
/// the greatest check run id: a re-run replaces the score the grades use; the earlier ones stay in the log).
pub fn score_order(completed_at: DateTime<Utc>, check_run_id: i64) -> (DateTime<Utc>, i64) {
    (completed_at, check_run_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(a: &str, b: &str) -> Option<Points> {
        Some(Points {
            awarded: a.into(),
            available: b.into(),
        })
    }

    #[test]
    fn the_reporters_text_is_read() {
        assert_eq!(parse_points("Points 7/10"), p("7", "10"));
        assert_eq!(parse_points("🏆 Points 7.50/10"), p("7.5", "10"));
        assert_eq!(
            parse_points("Grand total tests passed: 3/4\n\nPoints 03/4"),
            p("3", "4")
        );
        assert_eq!(parse_points("Points 0/10"), p("0", "10"));
        assert_eq!(parse_points("Points bad Points 2/3"), p("2", "3"));
    }

    #[test]
    fn malformed_points_are_none() {
        for text in [
            "",
            "Points",
            "Points 7",
            "Points 7/",
            "Points /10",
            "Points 7/0",
            "Points 7./10",
            "Points -1/10",
            "Points 1e3/10",
            "Points7/10",
            "points 7/10",
        ] {
            assert_eq!(parse_points(text), None, "{text:?}");
        }
    }
}
