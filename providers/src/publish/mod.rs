//! Publishers: public artifacts derived from a family's accepted set.
//!
//! Each kind is one file here and implements [`rotor_engine::Publisher`];
//! all of them write the same JWKS document (`document.rs`), only to
//! different places.

pub(crate) mod document;
pub mod jwks;

pub use jwks::JwksFile;
