//! labtrail: a GitHub App that records every push to a student's lab repository as a LabAttempt and
//! appends it to a tamper-evident audit log.
//!
//! The binary (`main.rs`), the integration tests and the benchmark use what is exported here; modules
//! they do not need are private to the crate. Layers: docs/architecture.md.

pub mod app;
pub mod audit;
mod cli;
pub mod config;
pub mod db;
pub mod domain;
mod error;
pub mod github;
mod http;
mod intake;
mod metrics;
pub mod redeliver;
mod report;
mod retention;
mod server;
pub mod setup;
mod telemetry;
pub mod webhook;
pub mod worker;

pub use app::{App, BuildError, CheckpointSettings, KeyLoadError, Settings};
pub use cli::run;
pub use error::AppError;
pub use metrics::Metrics;
pub use report::{AttemptRow, FileRow, Format, ReportError, Row, SessionRow, TokenRow};
pub use telemetry::init as init_tracing;
