//! Stores: where material lives and where consumers pull it from.
//!
//! Each store kind is one file here and implements [`rotor_engine::Store`].
//! [`mod@file`] is the embedded default; [`mod@vault`] keeps material in a
//! Vault or OpenBao KV v2 engine; [`mod@postgres`] rotates database logins
//! with alternating users (cargo feature `postgres`, on by default);
//! [`mod@aws`] keeps material in AWS Secrets Manager, phases as staging labels
//! (cargo feature `aws`, on by default).

#[cfg(feature = "aws")]
pub mod aws;
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
