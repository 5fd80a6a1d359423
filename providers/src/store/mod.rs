//! Stores: where material lives and where consumers pull it from.
//!
//! Each store kind is one file here and implements [`rotor_engine::Store`].
//! [`mod@file`] is the embedded default; [`mod@vault`] keeps material in a
//! Vault or OpenBao KV v2 engine; [`mod@aws`] (cargo feature `aws`, on by
//! default) keeps it in AWS Secrets Manager, phases as staging labels.

#[cfg(feature = "aws")]
pub mod aws;
pub mod file;
pub mod vault;

#[cfg(feature = "aws")]
pub use aws::AwsSecretsManagerStore;
pub use file::FileStore;
pub use vault::VaultStore;
