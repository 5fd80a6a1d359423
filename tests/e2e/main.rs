//! End-to-end tests: the real `rotor` binary, run in a fresh temporary
//! directory per test, against the local file store and JWKS publisher.
//!
//! Every module builds into this one test binary (see `harness` for the
//! builder). Windows in these specs are seconds long, so a whole rotation
//! takes about ten seconds; tests that wait run in parallel.

#[cfg(feature = "aws")]
mod aws;
#[cfg(feature = "aws")]
mod aws_s3;
#[cfg(feature = "postgres")]
mod ci;
mod completions;
mod crash;
mod deb;
mod drill;
mod exit_codes;
mod fmt;
mod graph;
mod harness;
mod import;
mod leaks;
mod locking;
#[cfg(feature = "postgres")]
mod postgres;
mod probes;
mod promise;
mod resume;
mod rotate;
mod rotation;
mod runbook;
mod saved_plans;
mod snapshots;
mod spec_errors;
mod state;
mod status;
#[cfg(feature = "postgres")]
mod team;
mod vault;
