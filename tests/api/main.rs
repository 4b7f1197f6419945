//! End-to-end tests: signed HTTP deliveries into a running server on a real database (SQLite file, and
//! PostgreSQL at `LABTRAIL_TEST_POSTGRES_URL` or the local default, unless `LABTRAIL_SKIP_POSTGRES=1`).
//! One test binary; one file per feature.

mod fail_fast;
mod fake_github;
mod helpers;

mod audit_archive;
mod audit_chain;
mod audit_checkpoint;
mod audit_concurrency;
mod audit_guards;
mod audit_proofs;
mod audit_records;
mod audit_retention;
mod audit_support;
mod audit_tamper;
mod batch;
mod browser;
mod claim_plan;
mod cli;
mod crash;
mod differential;
mod doctor;
mod edge;
mod file_modes;
mod github_app;
mod github_checks;
mod github_files;
mod github_installations;
mod github_rate_limits;
mod graded_guards;
mod grader;
mod idempotency;
mod known_answers;
mod layers;
mod merkle_vectors;
mod net_diff;
mod note_vectors;
mod openapi;
mod operators;
mod parity;
mod proof_api;
mod push;
mod read_api;
mod redeliver;
mod retry;
mod rfc9162;
mod schema_docs;
mod serve;
mod session_rules;
mod setup;
mod strict_states;
mod tokens;
mod web;
mod webhook;
mod witness;
