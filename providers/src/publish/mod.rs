//! Publishers: public artifacts derived from a family's accepted set.
//!
//! Each kind is one file here and implements [`rotor_engine::Publisher`];
//! all of them write the same JWKS document (`document.rs`), only to
//! different places.

#[cfg(feature = "aws")]
pub mod aws_s3;
pub(crate) mod document;
pub mod jwks;

#[cfg(feature = "aws")]
pub use aws_s3::AwsS3Object;
pub use jwks::JwksFile;
