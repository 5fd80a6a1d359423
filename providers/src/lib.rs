//! rotor's providers: the outside world behind the engine's traits.
//!
//! The engine (`rotor-engine`) owns the traits and knows no file system,
//! network or wall clock; this crate implements them, one module per system:
//!
//! | trait | implementation | spec block |
//! |---|---|---|
//! | [`Store`](rotor_engine::Store) | [`FileStore`] | `store "file" "NAME" { path = ".rotor/secrets" }` |
//! | [`Store`](rotor_engine::Store) | [`VaultStore`](store::VaultStore) | `store "vault" "NAME" { address, token, mount, path, namespace }` |
//! | [`Store`](rotor_engine::Store) | [`store::PostgresStore`] | `store "postgres" "NAME" { host, dbname, user, password, sslmode }` (feature `postgres`) |
//! | [`Store`](rotor_engine::Store) | [`store::AwsSecretsManagerStore`] | `store "aws_secretsmanager" "NAME" { region, endpoint, prefix }` (feature `aws`) |
//! | [`Publisher`](rotor_engine::Publisher) | [`JwksFile`] | `publish "jwks" "NAME" { path = "…/jwks.json" }` |
//! | [`Publisher`](rotor_engine::Publisher) | [`publish::AwsS3Object`] | `publish "aws_s3_object" "NAME" { bucket, key, region, endpoint, cache_control }` (feature `aws`) |
//! | [`Probe`](rotor_engine::Probe) | [`CommandProbe`] | `verify "command" { command = [...] }` |
//! | | [`HttpProbe`] | `verify "http" { url = "…", credential = "bearer_jwt" }` |
//! | | [`JwksProbe`] | `verify "jwks" { url = "…/jwks.json" }` |
//! | | [`PrometheusProbe`] | `verify "prometheus" { address = "…", query = "…", above = 0 }` |
//! | | [`probe::PostgresProbe`] | `verify "postgres" { host, dbname, sslmode }` (feature `postgres`) |
//! | [`Generator`](rotor_engine::Generator) | [`KeyGenerator`] | `generate "rsa"`, `"ec"`, `"random"`, `"login"` |
//! | [`StateBackend`](rotor_engine::StateBackend) | [`SqliteState`], `PgState` | `.rotor/state.db`, PostgreSQL |
//! | [`Clock`](rotor_engine::Clock) | [`SystemClock`] | |
//!
//! The CLI calls [`build_providers`] once per command to turn a resolved spec
//! into the [`Providers`](rotor_engine::Providers) that refresh and apply use:
//!
//! ```no_run
//! # fn demo(resolved: &rotor_engine::spec::Resolved) {
//! let dir = std::path::Path::new(".");
//! match rotor_providers::build_providers(resolved, dir) {
//!     Ok(providers) => { /* refresh, plan, apply */ }
//!     Err(diagnostics) => { /* render them like spec errors */ }
//! }
//! # }
//! ```
//!
//! Material passes through this crate only inside
//! [`SecretValue`](rotor_engine::SecretValue), from the generator to a store's
//! files, or to an `http` probe that makes a credential with it. No error
//! message, `Debug` output, probe detail or probe environment carries it.

#![deny(missing_docs)]

mod clock;
mod config;
mod fsutil;
pub use fsutil::replace_file;
mod generate;
mod login;
mod net;
#[cfg(feature = "postgres")]
pub mod postgres;
mod registry;
#[cfg(feature = "aws")]
mod sigv4;

pub mod probe;
pub mod publish;
pub mod state;
pub mod store;

pub use clock::{SystemClock, now};
pub use config::ConfigError;
pub use generate::KeyGenerator;
pub use probe::{CommandProbe, HttpProbe, JwksProbe, PrometheusProbe};
pub use publish::JwksFile;
pub use registry::{build_providers, publish_kinds, store_kinds, verify_kinds};
pub use state::{SqliteState, actor, holder, new_lineage};

/// Describes a value rotor did not generate (`rotor import`): a PKCS#8 PEM
/// key pair or a text secret, with its fingerprint (and public JWK).
pub fn describe(
    material: &[u8],
) -> Result<rotor_engine::provider::Generated, rotor_engine::provider::ProviderError> {
    generate::describe(material)
}
pub use store::FileStore;
