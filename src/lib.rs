//! labtrail: a GitHub App that records every push to a student's lab repository as a LabAttempt and
//! appends it to a tamper-evident audit log.
//!
//! The binary (`main.rs`), the integration tests and the benchmark use what is public here; modules none
//! of them reaches into are private to the crate. Layers: docs/architecture.md.

pub mod app;
pub mod audit;
pub mod cli;
pub mod db;
pub mod domain;
pub mod error;
pub mod github;
pub mod http;
pub mod jobs;
pub mod metrics;
pub mod reads;
pub mod report;
mod secrets;
pub mod web;
pub mod webhook;
pub mod witness;

pub use app::{App, BuildError, CheckpointSettings, KeyLoadError, Settings};
pub use cli::run;
pub use report::{AttemptRow, FileRow, Format, ReportError, Row, SessionRow, TokenRow};
