//! End-to-end tests: signed HTTP deliveries into a running server on a real database (SQLite file, and
//! PostgreSQL when `LABTRAIL_TEST_POSTGRES_URL` is set). One test binary; one file per feature.

mod fake_github;
mod helpers;

mod audit_chain;
mod cli;
mod github_app;
mod github_checks;
mod github_files;
mod github_installations;
mod idempotency;
mod push;
mod retry;
mod webhook;
