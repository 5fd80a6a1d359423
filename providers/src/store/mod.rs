//! Stores: where material lives and where consumers pull it from.
//!
//! Each store kind is one file here and implements [`rotor_engine::Store`].
//! [`mod@file`] is the embedded default; [`mod@vault`] keeps material in a
//! Vault or OpenBao KV v2 engine.

pub mod file;
pub mod vault;

pub use file::FileStore;
pub use vault::VaultStore;
