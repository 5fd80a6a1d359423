//! The drill: demo services for rotating keys under live traffic.
//!
//! rotor promises that a rotation causes no authentication failures. The
//! drill checks that with real traffic: a [verifier] that caches the JWKS
//! for its `cache_ttl` as an API gateway does, an [`Emitter`] that signs with
//! the file store's primary as an auth service does, a load generator
//! ([`run_load`]) that counts every failed request, and a [webhook] receiver
//! for shared HMAC secrets. The services export `drill_verifications_total`
//! for Prometheus, so that rotor's prometheus probes can gate a rotation on
//! what the services actually saw. [`naive::rotate`] is the flag-day swap
//! the drill compares rotor with.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use rotor_drill::{LoadConfig, Mode, VerifierConfig, run_load, verifier};
//! use std::time::Duration;
//!
//! let server = verifier::start(VerifierConfig {
//!     jwks: "public/jwks.json".into(),
//!     cache_ttl: Duration::from_secs(3),
//!     listen: "127.0.0.1:0".into(),
//!     port_file: None,
//! })
//! .await?;
//! let (stop, stopped) = tokio::sync::watch::channel(false);
//! let load = tokio::spawn(run_load(
//!     LoadConfig {
//!         target: format!("{}/verify", server.url()),
//!         rps: 50,
//!         store: ".rotor/secrets".into(),
//!         family: "drill_signing_key".into(),
//!         refresh: Duration::from_secs(1),
//!         token_ttl: Duration::from_secs(5),
//!         clients: 5,
//!         mode: Mode::Jwt,
//!     },
//!     stopped,
//! ));
//! tokio::time::sleep(Duration::from_secs(20)).await;
//! stop.send(true).unwrap();
//! let summary = load.await.unwrap();
//! println!("{} requests, {} failed", summary.sent, summary.failed);
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

mod jwt;
mod load;
mod metrics;
pub mod naive;
mod server;
mod store;
pub mod verifier;
pub mod webhook;

pub use jwt::{KeySet, Rejection, TokenSigner};
pub use load::{Emitter, LoadConfig, Mode, Summary, run as run_load};
pub use metrics::{METRIC, Verifications};
pub use server::Server;
pub use store::{FamilyDir, Material};
pub use verifier::VerifierConfig;
pub use webhook::ReceiverConfig;
