//! Probes: evidence that a consumer accepts or emits a version.
//!
//! Each `verify` kind is one file here and implements [`rotor_engine::Probe`].
//! `manual` gates have no probe: the engine records approvals itself.
//!
//! | kind | asks | file |
//! |---|---|---|
//! | `command` | a program's exit status | [`command`] |
//! | `http` | a consumer's answer to a request carrying a credential made with the version | [`http`] |
//! | `jwks` | whether a key set holds the version's `kid` | [`jwks`] |
//! | `prometheus` | an instant query, compared with a threshold or a baseline | [`prometheus`] |
//! | `postgres` | whether a new session with the version's login runs `SELECT 1`; on drain, whether the old login's sessions are gone | `postgres` (feature `postgres`) |
//!
//! The three network probes share their client, placeholders and failure
//! messages ([`net`]).

pub mod command;
pub mod credential;
pub mod http;
pub mod jwks;
pub mod net;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod prometheus;

pub use command::CommandProbe;
pub use http::HttpProbe;
pub use jwks::JwksProbe;
#[cfg(feature = "postgres")]
pub use postgres::PostgresProbe;
pub use prometheus::PrometheusProbe;
