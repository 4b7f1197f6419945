//! SeaORM entities of labtrail: one module per table, and the column enums in `states`; no logic.

pub mod api_token;
pub mod audit_checkpoint;
pub mod audit_cosignature;
pub mod audit_head;
pub mod audit_log;
pub mod audit_tree_hash;
pub mod installation;
pub mod installation_repository;
pub mod lab_attempt;
pub mod lab_attempt_file;
pub mod lab_attempt_score;
pub mod lab_session;
pub mod pending_score;
pub mod provisioned_repository;
pub mod roster_student;
pub mod session_extension;
pub mod session_invitation;
pub mod states;
pub mod student_state;
pub mod web_login_state;
pub mod web_session;
pub mod webhook_delivery;
pub mod witness_log;
