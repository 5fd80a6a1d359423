//! `rotor fmt [--check] [--diff]`: the spec's `.hcl` files in the canonical
//! style (see `rotor_hcl::format`), comments kept.
//!
//! Like `terraform fmt`: the names of the files it changed go to stdout (or,
//! with `--diff`, a unified diff of each). With `--check` nothing is written;
//! the names of the files that are not formatted are printed and the exit
//! code is 3 when there is any, so that CI can fail on it.
//!
//! Every file is formatted in memory first: if one does not parse, its syntax
//! errors are reported and nothing is written at all (exit 1).

use super::{ERROR, OK};
use crate::context::{Reported, Workspace};
use crate::render;
use rotor_engine::diagnostics::{Diagnostic, SourceFile, SourceMap, Span};
use rotor_hcl::{FormatError, format};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `--check` found files that are not formatted.
pub const UNFORMATTED: u8 = 3;

pub fn run(ws: &Workspace, check: bool, diff: bool) -> Result<u8, Reported> {
    let files = ws.read_files()?;
    if files.is_empty() {
        render::error(
            &format!("no .hcl files found in {}", ws.dir.display()),
            Some("pass the spec's directory with -C DIR"),
        );
        return Ok(ERROR);
    }
    let mut changed: Vec<(PathBuf, String, String)> = Vec::new();
    let mut sources = SourceMap::default();
    let mut errors = Vec::new();
    for (path, text) in files {
        match format(&text) {
            Ok(formatted) if formatted == text => {}
            Ok(formatted) => changed.push((path, text, formatted)),
            Err(FormatError::Syntax {
                line,
                column,
                message,
            }) => {
                let file = SourceFile::new(path, text);
                let at = file.offset(line, column);
                errors.push(
                    Diagnostic::error(
                        format!("syntax error: {message}"),
                        Some(Span {
                            file: sources.files.len(),
                            range: at..at,
                        }),
                    )
                    .hint("check for a missing quote, brace or `=` on or before this line"),
                );
                sources.files.push(Arc::new(file));
            }
            Err(e @ FormatError::Unsafe { .. }) => {
                render::error(
                    &format!("cannot format {}: {e}", path.display()),
                    Some("please report it with the file; the file was left as it is"),
                );
                return Err(Reported);
            }
        }
    }
    if !errors.is_empty() {
        let mut out = String::new();
        for d in &errors {
            out.push_str(&render::diagnostics::render_one(d, &sources));
            out.push('\n');
        }
        eprint!("{out}");
        render::error(
            &format!(
                "{} file{} could not be parsed; nothing was formatted",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            ),
            None,
        );
        return Ok(ERROR);
    }

    for (path, before, after) in &changed {
        if diff {
            let name = path.display().to_string();
            print!(
                "{}",
                similar::TextDiff::from_lines(before.as_str(), after.as_str())
                    .unified_diff()
                    .context_radius(3)
                    .header(&name, &name)
            );
        } else {
            println!("{}", path.display());
        }
        if !check {
            write_atomically(path, after)?;
        }
    }
    if check && !changed.is_empty() {
        eprintln!(
            "{} file{} not formatted; run `rotor fmt` to format {}.",
            changed.len(),
            if changed.len() == 1 { " is" } else { "s are" },
            if changed.len() == 1 { "it" } else { "them" }
        );
        return Ok(UNFORMATTED);
    }
    Ok(OK)
}

/// Replaces a file atomically and durably, keeping its permissions: a
/// reader sees the old text or the new, never half of one.
fn write_atomically(path: &Path, text: &str) -> Result<(), Reported> {
    rotor_providers::replace_file(path, text.as_bytes()).map_err(|e| {
        render::error(&format!("cannot write {}: {e}", path.display()), None);
        Reported
    })
}
