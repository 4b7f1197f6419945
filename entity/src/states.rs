//! The status-like columns as Rust enums, stored as the same lower-case strings they always were.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// `Display` and comparison with a stored string, for every state enum (both are its stored value).
macro_rules! stored_as_text {
    ($($t:ty),*) => {$(
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.to_value())
            }
        }

        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                self.to_value() == *other
            }
        }
    )*};
}

stored_as_text!(
    DeliveryStatus,
    Role,
    FilesSource,
    FileStatus,
    SignInMethod,
    ProvisionState
);

/// Processing states of a webhook delivery (`webhook_delivery.status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    #[sea_orm(string_value = "queued")]
    Queued,
    #[sea_orm(string_value = "processing")]
    Processing,
    #[sea_orm(string_value = "processed")]
    Processed,
    #[sea_orm(string_value = "ignored")]
    Ignored,
    #[sea_orm(string_value = "retrying")]
    Retrying,
    #[sea_orm(string_value = "dead")]
    Dead,
    #[sea_orm(string_value = "rejected")]
    Rejected,
}

/// What a read-API token may read (`api_token.role`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything.
    #[sea_orm(string_value = "admin")]
    Admin,
    /// Sessions and attempts of its organisation.
    #[sea_orm(string_value = "instructor")]
    Instructor,
    /// The audit log, checkpoints, sessions and attempts.
    #[sea_orm(string_value = "auditor")]
    Auditor,
    /// A student signed in with GitHub (web sessions only, never a token): their own attempts.
    #[sea_orm(string_value = "student")]
    Student,
}

/// Where an attempt's file list came from (`lab_attempt.files_source`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "lowercase")]
pub enum FilesSource {
    /// The push payload's commit lists.
    #[sea_orm(string_value = "payload")]
    Payload,
    /// GitHub's compare or commit API.
    #[sea_orm(string_value = "api")]
    Api,
}

/// The net status of a path over a push (`lab_attempt_file.status`).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    #[sea_orm(string_value = "added")]
    Added,
    #[sea_orm(string_value = "modified")]
    Modified,
    #[sea_orm(string_value = "removed")]
    Removed,
}

/// How a browser signed in to the web view (`web_session.method`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "lowercase")]
pub enum SignInMethod {
    /// With a read-API token, pasted into the sign-in form.
    #[sea_orm(string_value = "token")]
    Token,
    /// "Sign in with GitHub" (OAuth).
    #[sea_orm(string_value = "github")]
    Github,
}

/// How far an accepted invitation's repository is (`provisioned_repository.state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "lowercase")]
pub enum ProvisionState {
    /// Recorded before labtrail calls GitHub; a retry finishes it.
    #[sea_orm(string_value = "pending")]
    Pending,
    /// The repository exists from the template and the student is a collaborator (audited).
    #[sea_orm(string_value = "provisioned")]
    Provisioned,
}
