//! From `.hcl` text to a typed [`Spec`], with every value located.
//!
//! hcl-edit keeps byte spans on blocks, attributes and expressions; we
//! evaluate rotor's small expression language (literals, lists, references,
//! `env("NAME")`) ourselves so that each error points at the exact expression.
//!
//! One file per block kind: `store`, `publish`, `state` (with `policy`: the
//! two blocks a spec has at most once), `secret` (with its `generate` and
//! `version` blocks) and `consumer` (with its `verify` blocks), each an
//! `impl Parser` block. What they share lives here (the `Parser`, labels, the
//! top-level dispatch), in `body` (reading a block's attributes, typed) and in
//! `expr` (evaluating one expression). `chunks` cuts a large file between
//! top-level blocks so that its pieces parse on every core.

mod body;
mod chunks;
mod consumer;
mod expr;
mod publish;
mod secret;
mod state;
mod store;

use super::*;
use crate::diagnostics::{Diagnostic, SourceFile, did_you_mean};
use hcl_edit::structure::{Block, Body};
use std::path::PathBuf;

use chunks::parse_file;
use state::{merge_policy, merge_state};

/// Reads configuration for `env("NAME")`. The engine reads no environment of its own.
pub type EnvLookup<'a> = dyn Fn(&str) -> Option<String> + Sync + 'a;

/// What [`parse_files`] made of a spec's files.
#[derive(Debug)]
pub struct Parsed {
    /// Every block of the files that parsed.
    pub spec: Spec,
    /// Every error and warning found on the way.
    pub diags: Diagnostics,
    /// How many files are not valid HCL: their blocks are missing from `spec`.
    pub unparsed: usize,
}

/// Parses every file (already read, sorted by path) into one spec.
pub fn parse_files(files: Vec<(PathBuf, String)>, env: &EnvLookup<'_>) -> Parsed {
    let mut spec = Spec::default();
    let mut diags = Diagnostics::default();
    let mut unparsed = 0;
    if files.is_empty() {
        diags.push(
            Diagnostic::error("no .hcl files found", None)
                .hint("run `rotor init` to write a starter spec, or pass `-C DIR`"),
        );
    }
    for (path, text) in files {
        let index = spec.sources.files.len();
        spec.sources
            .files
            .push(std::sync::Arc::new(SourceFile::new(path, text)));
        let file = &spec.sources.files[index];
        match parse_file(index, &file.text, env) {
            Ok((part, part_diags)) => {
                spec.stores.extend(part.stores);
                spec.secrets.extend(part.secrets);
                spec.publishers.extend(part.publishers);
                spec.consumers.extend(part.consumers);
                diags.0.extend(part_diags.0);
                merge_policy(&mut spec, part.policy, &mut diags);
                merge_state(&mut spec, part.state, &mut diags);
            }
            Err(e) => {
                unparsed += 1;
                let loc = e.location();
                let at = file.offset(loc.line(), loc.column());
                diags.push(
                    Diagnostic::error(
                        format!("syntax error: {}", e.message()),
                        Some(Span {
                            file: index,
                            range: at..at,
                        }),
                    )
                    .hint("check for a missing quote, brace or `=` on or before this line"),
                );
            }
        }
    }
    Parsed {
        spec,
        diags,
        unparsed,
    }
}

const TOP_LEVEL: &[&str] = &["store", "secret", "publish", "consumer", "policy", "state"];

struct Parser<'a, 'e> {
    file: usize,
    /// Where the parsed piece starts in the file: hcl-edit's spans are relative to the piece.
    base: usize,
    /// The whole file, for line numbers in messages.
    text: &'a str,
    env: &'a EnvLookup<'e>,
    diags: &'a mut Diagnostics,
    /// Inside a `verify` block, where `${version}`, `${kid}`, `${family}` and
    /// `${consumer}` are kept for the probe to fill in.
    placeholders: bool,
}

fn range_of(x: &impl hcl_edit::Span) -> std::ops::Range<usize> {
    x.span().unwrap_or(0..0)
}

impl Parser<'_, '_> {
    fn span(&self, range: std::ops::Range<usize>) -> Span {
        Span {
            file: self.file,
            range: range.start + self.base..range.end + self.base,
        }
    }

    /// The 1-based line of a byte offset in the whole file.
    fn line_of(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .matches('\n')
            .count()
            + 1
    }

    fn error(
        &mut self,
        summary: impl Into<String>,
        range: std::ops::Range<usize>,
    ) -> &mut Diagnostic {
        let span = self.span(range);
        self.diags.push(Diagnostic::error(summary, Some(span)));
        self.diags.0.last_mut().expect("just pushed")
    }

    /// The span of a block's header: `secret "name"`.
    fn header(&self, block: &Block) -> Span {
        let start = range_of(&block.ident).start;
        let end = block
            .labels
            .last()
            .map_or(range_of(&block.ident).end, |l| range_of(l).end);
        self.span(start..end)
    }

    fn labels(&mut self, block: &Block, names: &[&str]) -> Option<Vec<String>> {
        let kw = block.ident.as_str();
        if block.labels.len() != names.len() {
            let expected = names
                .iter()
                .map(|n| format!("\"{}\"", n.to_uppercase()))
                .collect::<Vec<_>>()
                .join(" ");
            let range = self.header(block).range;
            self.error(
                format!(
                    "`{kw}` takes {} label{}, found {}",
                    names.len(),
                    if names.len() == 1 { "" } else { "s" },
                    block.labels.len()
                ),
                range,
            )
            .hint = Some(format!("write it as `{kw} {expected} {{ … }}`"));
            return None;
        }
        let mut out = Vec::new();
        for label in &block.labels {
            let text = label.as_str().to_string();
            if !is_name(&text) {
                let range = range_of(label);
                self.error(format!("`{text}` is not a valid name"), range)
                    .hint = Some(
                    "names use letters, digits, `_`, `-` and `.`, and start with a letter or digit"
                        .into(),
                );
                return None;
            }
            out.push(text);
        }
        Some(out)
    }

    fn top_level(&mut self, body: &Body, spec: &mut Spec) {
        for structure in body.iter() {
            if let Some(attr) = structure.as_attribute() {
                let range = range_of(attr);
                self.error(
                    format!(
                        "unexpected attribute `{}` at the top level",
                        attr.key.as_str()
                    ),
                    range,
                )
                .hint = Some(
                    "attributes belong inside a `secret`, `store`, `publish` or `consumer` block"
                        .into(),
                );
                continue;
            }
            let Some(block) = structure.as_block() else {
                continue;
            };
            match block.ident.as_str() {
                "store" => self.store(block, spec),
                "secret" => self.secret(block, spec),
                "publish" => self.publish(block, spec),
                "consumer" => self.consumer(block, spec),
                "policy" => self.policy(block, spec),
                "state" => self.state(block, spec),
                other => {
                    let range = range_of(&block.ident);
                    let d = self.error(format!("unknown block type `{other}`"), range);
                    d.hint = Some(match did_you_mean(other, TOP_LEVEL.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("top-level blocks are {}", TOP_LEVEL.join(", ")),
                    });
                }
            }
        }
    }
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}
