//! rotor's engine: pure logic for outage-free secret rotation.
//!
//! Data flows one way: `.hcl` files → [`spec::load`] (typed, located,
//! resolved into a graph, checked against the rules from the field) →
//! [`refresh`] (providers read live state) → [`plan::plan`] (per family, a DAG
//! of actions with gates) → [`safety::check_plan`] → [`apply::apply`] →
//! [`state::State`].
//!
//! The engine owns the traits in [`provider`] and touches nothing outside
//! through any other path: no network, no files, no wall clock. It is tested
//! with the in-memory fakes in `testing` and a fake clock; that module is
//! compiled only for the engine's own tests, or for another crate's tests
//! that turn on the `testing` feature, never into the `rotor` binary.
//!
//! The promise every module serves: a version is never revoked before its
//! successor has been accepted by every verifier (with evidence), emitted, and
//! held for an overlap longer than every consumer's cache.

#![deny(missing_docs)]

pub mod apply;
pub mod diagnostics;
pub mod inventory;
pub mod jwk;
pub mod names;
pub mod plan;
pub mod provider;
pub mod refresh;
pub mod runbook;
pub mod safety;
pub mod secret;
pub mod session;
pub mod spec;
pub mod state;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod time;

pub use async_trait::async_trait;
pub use diagnostics::{Diagnostic, Diagnostics, Severity, SourceMap, Span};
pub use jwk::Jwk;
pub use names::{ConsumerName, FamilyName, VersionId};
pub use provider::{Clock, Generator, Probe, Providers, Publisher, StateBackend, Store};
pub use secret::SecretValue;
pub use state::{Phase, State};
pub use time::{Duration, Timestamp};
#[cfg(test)]
mod tests;
