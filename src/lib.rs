//! labtrail: a GitHub App that records every push to a student's lab repository as a LabAttempt and
//! appends it to a tamper-evident audit log.

pub mod app;
pub mod audit;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod github;
pub mod http;
pub mod intake;
pub mod metrics;
pub mod redeliver;
pub mod report;
pub mod retention;
pub mod server;
pub mod setup;
pub mod telemetry;
pub mod webhook;
pub mod worker;
