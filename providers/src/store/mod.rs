//! Stores: where material lives and where consumers pull it from.
//!
//! Each store kind is one file here and implements [`rotor_engine::Store`].
//! Only the embedded default, [`mod@file`], exists so far.

pub mod file;

pub use file::FileStore;
