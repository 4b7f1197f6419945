//! The audit entry of each read: its kind (the action, by door) and its typed details (ids and counts,
//! never names). The details keep the fields the hand-built JSON of earlier versions held.

use serde::Serialize;

use super::viewer::{Channel, Viewer};
use crate::audit::{entries, Action, AuditError, NewEntry};

/// A session export's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Json,
    Csv,
}

impl ExportFormat {
    pub fn of_csv(csv: bool) -> Self {
        if csv {
            Self::Csv
        } else {
            Self::Json
        }
    }
}

/// What a read returned, as its audit entry records it.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum ReadDetail {
    /// A session's summary (the API: with its format) or grades: how many rows left.
    SessionRows {
        session_id: i64,
        #[serde(skip_serializing_if = "Option::is_none")]
        format: Option<ExportFormat>,
        count: usize,
    },
    /// One page of a session's attempts: which ones.
    AttemptsPage {
        session_id: i64,
        format: ExportFormat,
        count: usize,
        attempt_ids: Vec<i64>,
    },
    /// A session's attempts as one streamed CSV: how many, up to which id (and after which, in the API).
    AttemptsStream {
        session_id: i64,
        format: ExportFormat,
        count: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        after_id: Option<Option<i64>>,
        upto_attempt_id: Option<i64>,
    },
    /// One attempt.
    Attempt { attempt_id: i64 },
    /// An attempt's inclusion proof.
    Proof {
        attempt_id: i64,
        leaf_index: u64,
        tree_size: u64,
    },
    /// A consistency proof between two tree sizes.
    Consistency { from: u64, to: u64 },
    /// A page of audit entries.
    AuditPage {
        after_seq: Option<i64>,
        limit: u64,
        count: usize,
    },
    /// The log's size (the audit page) or a checkpoint's.
    Size { size: i64 },
    /// A student's own page of a session (`/me` lists them) or of an attempt.
    Gradebook {
        org_sha256: String,
        session_ids: Vec<i64>,
        count: usize,
    },
    Student {
        #[serde(skip_serializing_if = "Option::is_none")]
        session_id: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        attempt_id: Option<i64>,
    },
}

/// The kinds of read, each an `api.*` and (most) a `web.*` action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    Summary,
    Grades,
    AttemptsExport,
    Attempt,
    Proof,
    Consistency,
    AuditEntries,
    Checkpoint,
    AuditOverview,
    Student,
    Gradebook,
}

impl Read {
    /// The stored action of this read through `channel`.
    pub fn action(self, channel: &Channel) -> Action {
        let api = matches!(channel, Channel::Api(_));
        match (self, api) {
            (Self::Summary, true) => Action::ApiSummaryRead,
            (Self::Summary, false) => Action::WebSummaryRead,
            (Self::Grades, true) => Action::ApiGradesExported,
            (Self::Grades, false) => Action::WebGradesExported,
            (Self::AttemptsExport, true) => Action::ApiAttemptsExported,
            (Self::AttemptsExport, false) => Action::WebAttemptsExported,
            (Self::Attempt, true) => Action::ApiAttemptRead,
            (Self::Attempt, false) => Action::WebAttemptRead,
            (Self::Proof, true) => Action::ApiProofRead,
            (Self::Proof, false) => Action::WebProofRead,
            (Self::Consistency, _) => Action::ApiConsistencyRead,
            (Self::AuditEntries, _) => Action::ApiAuditRead,
            (Self::Checkpoint, _) => Action::ApiCheckpointRead,
            (Self::AuditOverview, _) => Action::WebAuditRead,
            (Self::Student, _) => Action::WebStudentRead,
            (Self::Gradebook, true) => Action::ApiGradebookExported,
            (Self::Gradebook, false) => Action::WebGradebookExported,
        }
    }
}

/// The audit entry of `viewer`'s read of `subject`.
pub fn entry(
    viewer: &Viewer,
    read: Read,
    subject: String,
    detail: &ReadDetail,
) -> Result<NewEntry, AuditError> {
    let action = read.action(&viewer.channel);
    match &viewer.channel {
        Channel::Api(token) => entries::api_read(token, action, subject, detail),
        Channel::Web { web_session_id } => {
            entries::web_read(*web_session_id, action, subject, detail)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The typed details serialise exactly as the JSON the handlers built by hand before.
    #[test]
    fn details_keep_their_shape() {
        let cases = [
            (
                ReadDetail::SessionRows {
                    session_id: 3,
                    format: Some(ExportFormat::Csv),
                    count: 2,
                },
                json!({"session_id": 3, "format": "csv", "count": 2}),
            ),
            (
                ReadDetail::SessionRows {
                    session_id: 3,
                    format: None,
                    count: 2,
                },
                json!({"session_id": 3, "count": 2}),
            ),
            (
                ReadDetail::AttemptsPage {
                    session_id: 3,
                    format: ExportFormat::Json,
                    count: 2,
                    attempt_ids: vec![4, 5],
                },
                json!({"session_id": 3, "format": "json", "count": 2, "attempt_ids": [4, 5]}),
            ),
            (
                ReadDetail::AttemptsStream {
                    session_id: 3,
                    format: ExportFormat::Csv,
                    count: 9,
                    after_id: Some(None),
                    upto_attempt_id: Some(12),
                },
                json!({"session_id": 3, "format": "csv", "count": 9, "after_id": null, "upto_attempt_id": 12}),
            ),
            (
                ReadDetail::AttemptsStream {
                    session_id: 3,
                    format: ExportFormat::Csv,
                    count: 9,
                    after_id: None,
                    upto_attempt_id: None,
                },
                json!({"session_id": 3, "format": "csv", "count": 9, "upto_attempt_id": null}),
            ),
            (
                ReadDetail::Proof {
                    attempt_id: 7,
                    leaf_index: 8,
                    tree_size: 9,
                },
                json!({"attempt_id": 7, "leaf_index": 8, "tree_size": 9}),
            ),
            (
                ReadDetail::AuditPage {
                    after_seq: None,
                    limit: 100,
                    count: 0,
                },
                json!({"after_seq": null, "limit": 100, "count": 0}),
            ),
            (
                ReadDetail::Student {
                    session_id: None,
                    attempt_id: Some(4),
                },
                json!({"attempt_id": 4}),
            ),
        ];
        for (detail, expected) in cases {
            assert_eq!(serde_json::to_value(&detail).expect("serialise"), expected);
        }
    }

    #[test]
    fn each_read_has_its_action_by_door() {
        let web = Channel::Web { web_session_id: 1 };
        assert_eq!(Read::Summary.action(&web), Action::WebSummaryRead);
        assert_eq!(Read::Student.action(&web), Action::WebStudentRead);
    }
}
