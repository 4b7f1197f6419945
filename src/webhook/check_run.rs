//! `check_run` payloads (issue 22): a completed run, with what a score needs. Pure.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::event::{EventError, InstallationRef, RawRepository};
use crate::domain::score::{parse_points, Points};

/// A completed check run, as a score needs it (from a `check_run` delivery or GitHub's check-runs list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedRun {
    pub check_run_id: i64,
    pub name: String,
    pub head_sha: String,
    /// The branch of its check suite (`None` for runs GitHub files under no branch).
    pub head_branch: Option<String>,
    pub app_id: Option<i64>,
    pub app_slug: Option<String>,
    pub conclusion: Option<String>,
    pub completed_at: DateTime<Utc>,
    /// Read from the output's summary, then its text (`None`: none there, see `annotations_count`).
    pub points: Option<Points>,
    /// Annotations GitHub holds for the run: the reporter's `Points X/Y` notice may be only there.
    pub annotations_count: u64,
}

/// A `check_run` delivery's completed run and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRunEvent {
    pub run: CompletedRun,
    pub installation_id: Option<i64>,
    pub repository_id: i64,
    pub repository_name: String,
    pub repository_full_name: String,
    pub owner_login: String,
    pub default_branch: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawApp {
    id: Option<i64>,
    slug: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawOutput {
    summary: Option<String>,
    text: Option<String>,
    #[serde(default)]
    annotations_count: u64,
}

#[derive(Debug, Deserialize)]
struct RawSuite {
    head_branch: Option<String>,
}

/// A check run as webhooks and `GET …/check-runs` give it.
#[derive(Debug, Deserialize)]
pub struct RawCheckRun {
    id: i64,
    name: String,
    head_sha: String,
    status: Option<String>,
    conclusion: Option<String>,
    completed_at: Option<DateTime<Utc>>,
    output: Option<RawOutput>,
    app: Option<RawApp>,
    check_suite: Option<RawSuite>,
}

impl RawCheckRun {
    /// The run when it is completed (with a completion time), else `None`.
    pub fn completed(self) -> Option<CompletedRun> {
        if self.status.as_deref() != Some("completed") {
            return None;
        }
        let completed_at = self.completed_at?;
        let output = self.output;
        let points = output.as_ref().and_then(|o| {
            [o.summary.as_deref(), o.text.as_deref()]
                .into_iter()
                .flatten()
                .find_map(parse_points)
        });
        Some(CompletedRun {
            check_run_id: self.id,
            name: self.name,
            head_sha: self.head_sha,
            head_branch: self.check_suite.and_then(|s| s.head_branch),
            app_id: self.app.as_ref().and_then(|a| a.id),
            app_slug: self.app.and_then(|a| a.slug),
            conclusion: self.conclusion,
            completed_at,
            points,
            annotations_count: output.map_or(0, |o| o.annotations_count),
        })
    }
}

#[derive(Debug, Deserialize)]
struct RawEvent {
    action: String,
    check_run: RawCheckRun,
    repository: RawRepository,
    installation: Option<InstallationRef>,
}

/// One annotation of `GET …/check-runs/{id}/annotations`.
#[derive(Debug, Deserialize)]
pub struct RawAnnotation {
    pub message: Option<String>,
    pub title: Option<String>,
}

/// The points of a run's annotations: the first message with `Points X/Y`.
pub fn points_of_annotations(annotations: &[RawAnnotation]) -> Option<Points> {
    annotations
        .iter()
        .filter_map(|a| a.message.as_deref())
        .find_map(parse_points)
}

impl CheckRunEvent {
    /// Parse a `check_run` payload: `Ok(None)` unless the action is `completed` and the run is
    /// completed (`created`, `rerequested`, `requested_action` record nothing).
    pub fn parse(payload: &[u8]) -> Result<Option<Self>, EventError> {
        let payload = super::event::without_nul(payload);
        let raw: RawEvent = serde_json::from_slice(&payload)?;
        if raw.action != "completed" {
            return Ok(None);
        }
        let owner_login = raw
            .repository
            .owner
            .login
            .clone()
            .ok_or(EventError::Invalid {
                field: "repository.owner.login",
                value: String::new(),
            })?;
        let Some(run) = raw.check_run.completed() else {
            return Ok(None);
        };
        Ok(Some(Self {
            run,
            installation_id: raw.installation.map(|i| i.id),
            repository_id: raw.repository.id,
            repository_name: raw.repository.name,
            repository_full_name: raw.repository.full_name,
            owner_login,
            default_branch: raw.repository.default_branch,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &[u8] = include_bytes!(
        "../../tests/fixtures/octokit-webhooks/check_run/completed.with-organization.payload.json"
    );

    #[test]
    fn githubs_example_parses() {
        let ev = CheckRunEvent::parse(EXAMPLE)
            .expect("parse")
            .expect("completed");
        assert_eq!(ev.run.check_run_id, 128_620_228);
        assert_eq!(ev.run.name, "Octocoders-linter");
        assert_eq!(ev.run.conclusion.as_deref(), Some("success"));
        assert_eq!(ev.run.points, None);
        assert_eq!(ev.repository_full_name, "Codertocat/Hello-World");
        assert_eq!(ev.run.head_branch.as_deref(), Some("changes"));
    }

    #[test]
    fn the_reporters_output_gives_points() {
        let mut v: serde_json::Value = serde_json::from_slice(EXAMPLE).expect("json");
        v["check_run"]["output"]["summary"] = "Points 7/10".into();
        let ev = CheckRunEvent::parse(v.to_string().as_bytes())
            .expect("parse")
            .expect("completed");
        assert_eq!(
            ev.run.points,
            Some(Points {
                awarded: "7".into(),
                available: "10".into()
            })
        );
        v["action"] = "created".into();
        assert_eq!(
            CheckRunEvent::parse(v.to_string().as_bytes()).expect("parse"),
            None
        );
    }
}
