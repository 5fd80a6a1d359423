//! Stores: where material lives and where consumers pull it from.
//!
//! Each store kind is one file here and implements [`rotor_engine::Store`].
//! [`mod@file`] is the embedded default; [`mod@vault`] keeps material in a
//! Vault or OpenBao KV v2 engine; [`mod@postgres`] rotates database logins
//! with alternating users (cargo feature `postgres`, on by default).

pub mod file;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod vault;

pub use file::FileStore;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
pub use vault::VaultStore;
