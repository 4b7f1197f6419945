//! Every audit action: the one place its stored name is written (docs/audit.md lists them all).

use serde::{Serialize, Serializer};

/// What an audit entry records. The names are permanent: hashed entries carry them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    LabAttemptRecorded,
    LabAttemptFilesCompleted,
    LabAttemptErased,
    LabSessionCreated,
    LabSessionArchived,
    LabSessionEdited,
    LabSessionExtended,
    LabSessionUnarchived,
    ApiTokenCreated,
    ApiTokenRevoked,
    InstallationCreated,
    InstallationDeleted,
    InstallationSuspended,
    InstallationUnsuspended,
    InstallationPermissionsAccepted,
    InstallationRepositoriesAdded,
    InstallationRepositoriesRemoved,
    DeliveryDead,
    DeliveryRejected,
    RetentionPayloadsDropped,
    AuditArchived,
    ApiAttemptsExported,
    ApiAttemptRead,
    ApiProofRead,
    ApiConsistencyRead,
    ApiAuditRead,
    ApiCheckpointRead,
    RosterImported,
    ApiSummaryRead,
    ApiGradesExported,
    WebSessionCreated,
    WebSessionEnded,
    WebSummaryRead,
    WebAttemptRead,
    WebAttemptsExported,
    WebGradesExported,
    WebProofRead,
    WebAuditRead,
    WebStudentRead,
    /// A completed score check run recorded for an attempt (issue 22).
    LabAttemptScored,
    ApiGradebookExported,
    WebGradebookExported,
    CheckRunUpdated,
    RosterRemoved,
    LabSessionExtensionRemoved,
    /// A roster entry linked to a GitHub account (issue 25).
    RosterLinked,
    /// A roster entry's GitHub account link removed (issue 25).
    RosterUnlinked,
    /// A student's repository made from the session's template (issue 25).
    RepositoryProvisioned,
    /// A session's invitation code made or replaced (issue 25).
    InvitationRotated,
    /// A session's invitation settings set (template, prefix, visibility, open or closed).
    InvitationEdited,
}

impl Action {
    /// Every action, in the order docs/audit.md lists them.
    pub const ALL: [Self; 50] = [
        Self::LabAttemptRecorded,
        Self::LabAttemptFilesCompleted,
        Self::LabAttemptErased,
        Self::LabSessionCreated,
        Self::LabSessionArchived,
        Self::LabSessionEdited,
        Self::LabSessionExtended,
        Self::LabSessionUnarchived,
        Self::ApiTokenCreated,
        Self::ApiTokenRevoked,
        Self::InstallationCreated,
        Self::InstallationDeleted,
        Self::InstallationSuspended,
        Self::InstallationUnsuspended,
        Self::InstallationPermissionsAccepted,
        Self::InstallationRepositoriesAdded,
        Self::InstallationRepositoriesRemoved,
        Self::DeliveryDead,
        Self::DeliveryRejected,
        Self::RetentionPayloadsDropped,
        Self::AuditArchived,
        Self::ApiAttemptsExported,
        Self::ApiAttemptRead,
        Self::ApiProofRead,
        Self::ApiConsistencyRead,
        Self::ApiAuditRead,
        Self::ApiCheckpointRead,
        Self::RosterImported,
        Self::ApiSummaryRead,
        Self::ApiGradesExported,
        Self::WebSessionCreated,
        Self::WebSessionEnded,
        Self::WebSummaryRead,
        Self::WebAttemptRead,
        Self::WebAttemptsExported,
        Self::WebGradesExported,
        Self::WebProofRead,
        Self::WebAuditRead,
        Self::WebStudentRead,
        Self::LabAttemptScored,
        Self::ApiGradebookExported,
        Self::WebGradebookExported,
        Self::CheckRunUpdated,
        Self::RosterRemoved,
        Self::LabSessionExtensionRemoved,
        Self::RosterLinked,
        Self::RosterUnlinked,
        Self::RepositoryProvisioned,
        Self::InvitationRotated,
        Self::InvitationEdited,
    ];

    /// The stored name (`audit_log.action`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::LabAttemptRecorded => "lab_attempt.recorded",
            Self::LabAttemptFilesCompleted => "lab_attempt.files_completed",
            Self::LabAttemptErased => "lab_attempt.erased",
            Self::LabSessionCreated => "lab_session.created",
            Self::LabSessionArchived => "lab_session.archived",
            Self::LabSessionEdited => "lab_session.edited",
            Self::LabSessionExtended => "lab_session.extended",
            Self::LabSessionUnarchived => "lab_session.unarchived",
            Self::ApiTokenCreated => "api_token.created",
            Self::ApiTokenRevoked => "api_token.revoked",
            Self::InstallationCreated => "installation.created",
            Self::InstallationDeleted => "installation.deleted",
            Self::InstallationSuspended => "installation.suspended",
            Self::InstallationUnsuspended => "installation.unsuspended",
            Self::InstallationPermissionsAccepted => "installation.permissions_accepted",
            Self::InstallationRepositoriesAdded => "installation.repositories_added",
            Self::InstallationRepositoriesRemoved => "installation.repositories_removed",
            Self::DeliveryDead => "delivery.dead",
            Self::DeliveryRejected => "delivery.rejected",
            Self::RetentionPayloadsDropped => "retention.payloads_dropped",
            Self::AuditArchived => "audit.archived",
            Self::ApiAttemptsExported => "api.attempts_exported",
            Self::ApiAttemptRead => "api.attempt_read",
            Self::ApiProofRead => "api.proof_read",
            Self::ApiConsistencyRead => "api.consistency_read",
            Self::ApiAuditRead => "api.audit_read",
            Self::ApiCheckpointRead => "api.checkpoint_read",
            Self::RosterImported => "roster.imported",
            Self::ApiSummaryRead => "api.summary_read",
            Self::ApiGradesExported => "api.grades_exported",
            Self::WebSessionCreated => "web_session.created",
            Self::WebSessionEnded => "web_session.ended",
            Self::WebSummaryRead => "web.summary_read",
            Self::WebAttemptRead => "web.attempt_read",
            Self::WebAttemptsExported => "web.attempts_exported",
            Self::WebGradesExported => "web.grades_exported",
            Self::WebProofRead => "web.proof_read",
            Self::WebAuditRead => "web.audit_read",
            Self::WebStudentRead => "web.student_read",
            Self::LabAttemptScored => "lab_attempt.scored",
            Self::ApiGradebookExported => "api.gradebook_exported",
            Self::WebGradebookExported => "web.gradebook_exported",
            Self::CheckRunUpdated => "check_run.updated",
            Self::RosterRemoved => "roster.removed",
            Self::LabSessionExtensionRemoved => "lab_session.extension_removed",
            Self::RosterLinked => "roster.linked",
            Self::RosterUnlinked => "roster.unlinked",
            Self::RepositoryProvisioned => "repository.provisioned",
            Self::InvitationRotated => "invitation.rotated",
            Self::InvitationEdited => "invitation.edited",
        }
    }

    /// The action of a stored name, `None` for a name no version of labtrail wrote.
    pub fn from_stored(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Action {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct_and_read_back() {
        for a in Action::ALL {
            assert_eq!(Action::from_stored(a.as_str()), Some(a));
        }
        let mut names: Vec<_> = Action::ALL.iter().map(|a| a.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Action::ALL.len());
        assert_eq!(Action::from_stored("lab_attempt.deleted"), None);
    }

    #[test]
    fn docs_list_every_action() {
        let docs = include_str!("../../docs/audit.md");
        for a in Action::ALL {
            assert!(
                docs.contains(&format!("| `{a}` |")),
                "docs/audit.md has no row for `{a}`"
            );
        }
    }
}
