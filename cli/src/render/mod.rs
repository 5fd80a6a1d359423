//! Everything users read. Logic stays in the engine; this only formats.
//! Data (plans, JSON) goes to stdout; messages and progress go to stderr.

pub mod diagnostics;
pub mod events;
pub mod graph;
pub mod markdown;
pub mod plan;
pub mod runbook;
pub mod show;
pub mod status;

use crate::style;

/// `error: …` and an optional `hint: …` on stderr.
pub fn error(message: &str, hint: Option<&str>) {
    eprintln!("{} {message}", style::red(&style::bold("error:")));
    if let Some(h) = hint {
        eprintln!("  {} {h}", style::cyan("hint:"));
    }
}

/// `warning: …` on stderr.
pub fn warning(message: &str, hint: Option<&str>) {
    eprintln!("{} {message}", style::yellow(&style::bold("warning:")));
    if let Some(h) = hint {
        eprintln!("  {} {h}", style::cyan("hint:"));
    }
}
