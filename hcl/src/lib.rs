//! rotor's HCL text tools: what rotor does to a spec's `.hcl` files as text,
//! apart from reading their meaning (that is `rotor_engine::spec`).
//!
//! - [`format()`]: the canonical layout `rotor fmt` writes, comments kept,
//!   refused rather than written if it would change the file's meaning.
//! - [`edit`]: the format-preserving edits of `rotor rotate`, `retire` and
//!   `rollback`, which splice new text into the original and leave every
//!   other byte as it was.
//! - [`split_top_level`]: where a large file can be cut between top-level
//!   blocks, so that the pieces can be parsed in parallel.
//!
//! Nothing here knows rotor's spec model: the functions take and return
//! plain text, so that the engine and the CLI can both use them without
//! either depending on the other.
//!
//! ```
//! let text = "secret \"k\" {\nowner=\"me\"\n}\n";
//! assert_eq!(rotor_hcl::format(text).unwrap(), "secret \"k\" {\n  owner = \"me\"\n}\n");
//!
//! let text = rotor_hcl::edit::set_active(text, "k", "v2").unwrap();
//! assert_eq!(rotor_hcl::edit::active(&text, "k").unwrap().as_deref(), Some("v2"));
//! ```

#![deny(missing_docs)]

pub mod edit;
mod format;
mod scan;

pub use edit::EditError;
pub use format::{FormatError, format};
pub use scan::split_top_level;
