//! Diagnostics: every problem with a spec, with where it is and how to fix it.
//!
//! As in Terraform, diagnostics are a list returned beside results, so one run
//! reports every error at once. Rendering lives in the CLI; this module only
//! knows positions.

use serde::Serialize;
use std::ops::Range;
use std::path::PathBuf;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Rotation can go ahead, but someone should look.
    Warning,
    /// Nothing is planned or applied until it is fixed.
    Error,
}

/// A byte range in one source file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Span {
    /// Index into [`SourceMap::files`].
    pub file: usize,
    /// Byte offsets.
    pub range: Range<usize>,
}

/// One `.hcl` file as read.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path as the user would type it (relative to the working directory when possible).
    pub path: PathBuf,
    /// The text.
    pub text: String,
    line_starts: Vec<usize>,
}

/// A resolved position: 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
    /// 0-based byte offset.
    pub byte: usize,
}

impl SourceFile {
    /// Indexes a file's text.
    pub fn new(path: PathBuf, text: String) -> SourceFile {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SourceFile {
            path,
            text,
            line_starts,
        }
    }

    /// Line and column of a byte offset.
    pub fn pos(&self, byte: usize) -> Pos {
        let byte = byte.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= byte) - 1;
        let start = self.line_starts[line];
        let column = self.text[start..byte].chars().count() + 1;
        Pos {
            line: line + 1,
            column,
            byte,
        }
    }

    /// The text of a 1-based line, without its newline.
    pub fn line_text(&self, line: usize) -> &str {
        let start = self.line_starts[line - 1];
        let end = self
            .line_starts
            .get(line)
            .map_or(self.text.len(), |e| e - 1);
        self.text[start..end].trim_end_matches('\r')
    }

    /// Byte offset of a 1-based line and column.
    pub fn offset(&self, line: usize, column: usize) -> usize {
        let start = self.line_starts[(line.max(1) - 1).min(self.line_starts.len() - 1)];
        self.text[start..]
            .char_indices()
            .nth(column.saturating_sub(1))
            .map_or(self.text.len(), |(i, _)| start + i)
    }
}

/// All files of a spec.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    /// The files, in the order read (sorted by name).
    /// Shared, so that cloning a spec does not copy its text.
    pub files: Vec<std::sync::Arc<SourceFile>>,
}

impl SourceMap {
    /// The file a span points into.
    pub fn file(&self, span: &Span) -> &SourceFile {
        &self.files[span.file]
    }

    /// `path:line:column` of a span's start.
    pub fn locate(&self, span: &Span) -> String {
        let file = self.file(span);
        let pos = file.pos(span.range.start);
        format!("{}:{}:{}", file.path.display(), pos.line, pos.column)
    }
}

/// One problem found in a spec, or a warning about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// One line: what is wrong.
    pub summary: String,
    /// Where; `None` for problems of the spec as a whole (no files, say).
    pub span: Option<Span>,
    /// A label under the caret.
    pub label: Option<String>,
    /// Longer explanation.
    pub detail: Option<String>,
    /// How to fix it, rendered as `hint: …`.
    pub hint: Option<String>,
    /// The source at the span may hold secret material: render its location, never its text.
    pub conceal: bool,
}

impl Diagnostic {
    /// An error at a span.
    pub fn error(summary: impl Into<String>, span: Option<Span>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            summary: summary.into(),
            span,
            label: None,
            detail: None,
            hint: None,
            conceal: false,
        }
    }

    /// A warning at a span.
    pub fn warning(summary: impl Into<String>, span: Option<Span>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(summary, span)
        }
    }

    /// Adds a label under the caret.
    pub fn label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = Some(label.into());
        self
    }

    /// Adds a detail paragraph.
    pub fn detail(mut self, detail: impl Into<String>) -> Diagnostic {
        self.detail = Some(detail.into());
        self
    }

    /// Marks the source at the span as possibly secret: renderers show where, not what.
    pub fn conceal(mut self) -> Diagnostic {
        self.conceal = true;
        self
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// A list of diagnostics, kept in source order.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Adds one.
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    /// Whether any is an error.
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    /// Sorts by file, position, then severity (errors first) so that output is stable.
    pub fn sort(&mut self) {
        self.0.sort_by(|a, b| {
            let key = |d: &Diagnostic| {
                d.span
                    .as_ref()
                    .map_or((usize::MAX, 0), |s| (s.file, s.range.start))
            };
            key(a)
                .cmp(&key(b))
                .then(b.severity.cmp(&a.severity))
                .then(a.summary.cmp(&b.summary))
        });
        self.0.dedup();
    }
}

/// Levenshtein distance, for "did you mean" hints.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The closest candidate within a third of the word's length, if any.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= (word.chars().count() / 3).max(1))
        .min()
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_in_characters() {
        let f = SourceFile::new("a.hcl".into(), "ab\n  é = x\n".into());
        assert_eq!(f.pos(0).line, 1);
        let x = f.text.find('x').unwrap();
        let p = f.pos(x);
        assert_eq!((p.line, p.column), (2, 7));
        assert_eq!(f.line_text(2), "  é = x");
        assert_eq!(f.offset(2, 7), x);
    }

    #[test]
    fn suggestions() {
        assert_eq!(did_you_mean("locl", ["local", "vault"]), Some("local"));
        assert_eq!(did_you_mean("zzzz", ["local", "vault"]), None);
    }
}
