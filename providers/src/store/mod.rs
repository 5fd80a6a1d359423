//! Stores: where material lives and where consumers pull it from.
//!
//! Each store kind is one file here and implements [`rotor_engine::Store`].
//! [`mod@file`] is the embedded default; [`mod@vault`] keeps material in a
//! Vault or OpenBao KV v2 engine; [`mod@postgres`] rotates database logins
//! with alternating users (cargo feature `postgres`, on by default);
//! [`mod@aws`] keeps material in AWS Secrets Manager, phases as staging labels
//! (cargo feature `aws`, on by default).
//!
//! # Adding a store
//!
//! A new kind `x` is one module, one table line and one test line:
//!
//! 1. **`store/x.rs`** (declared below with its `pub use`, behind a cargo
//!    feature if it brings a heavy dependency), a type implementing
//!    [`rotor_engine::Store`] and a `from_spec` that reads its block's
//!    settings through `crate::config::Settings` (unknown settings, types,
//!    durations: one API, one set of messages). The contract: a family is
//!    a set of versions, each written once by `put` (enabled, not primary;
//!    writing an id the store knows is `Conflict`, material is never
//!    replaced) and listed by `read` in id order with the fingerprint it was
//!    written with; `set_primary` takes only an enabled version, `disable`
//!    refuses the primary and is idempotent, `enable` restores a disabled
//!    version, `destroy` takes only a disabled one, removes its material and
//!    answers `Ok` when asked again; after a destroy the version is gone from
//!    `read`, and `enable`, `set_primary` (and `read_material`, where the
//!    store keeps material) are `NotFound`, as is every operation on an id
//!    never written (destroy too, where the store keeps a tombstone of
//!    destroyed ids). `public_keys` lists the enabled key pairs. Error
//!    messages never contain material; their
//!    [`ErrorKind`](rotor_engine::provider::ErrorKind) is what the engine
//!    acts on (a retry, a conflict to report, a version already gone). A
//!    store spoken to over HTTP says why a request failed through
//!    `crate::net` (the probes' words, and the `ErrorKind` of a transport
//!    failure or of a status) rather than with words of its own.
//! 2. **One line in the `STORES` table** in `providers/src/registry.rs`:
//!
//!    ```text
//!    StoreEntry { kind: "x", build: |s, _, _| Ok(Arc::new(XStore::from_spec(s)?)) },
//!    ```
//!
//!    under the module's `#[cfg]` if it has one. `store "x" "NAME" { … }` in
//!    a spec then builds it, and `x` is listed wherever the known kinds are.
//! 3. **The conformance suite** (`store/conformance.rs`), which the new
//!    store must pass: one line in the store's test module,
//!
//!    ```text
//!    crate::store::conformance::store_conformance!(subject);
//!    ```
//!
//!    where `async fn subject() -> conformance::Subject` gives a fresh store
//!    against the real system (a server `scripts/test` starts), the material
//!    it keeps, and its declared `Capabilities` where it legitimately differs
//!    (no key pairs, no readable material, no tombstones). The suite is the
//!    contract above as tests; what only the new store does is tested beside
//!    it in `x.rs`.

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(test)]
mod conformance;
mod family_locks;
pub mod file;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod vault;

#[cfg(feature = "aws")]
pub use aws::AwsSecretsManagerStore;
pub use file::FileStore;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
pub use vault::VaultStore;
