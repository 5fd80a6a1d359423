//! Publishers: public artifacts derived from a family's accepted set.
//!
//! Each kind is one file here and implements [`rotor_engine::Publisher`].

pub mod jwks;

pub use jwks::JwksFile;
