//! Probes: evidence that a consumer accepts or emits a version.
//!
//! Each `verify` kind is one file here and implements [`rotor_engine::Probe`].
//! `manual` gates have no probe: the engine records approvals itself.

pub mod command;
#[cfg(feature = "postgres")]
pub mod postgres;

pub use command::CommandProbe;
#[cfg(feature = "postgres")]
pub use postgres::PostgresProbe;
