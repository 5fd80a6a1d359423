//! Canonical formatting of `.hcl` text, for `rotor fmt`: comments kept.
//!
//! The style is Terraform's: two spaces per nesting level, one space around
//! `=`, the `=` of consecutive single-line attributes aligned, one blank line
//! between top-level blocks and never two in a row, no trailing whitespace,
//! one newline at the end of the file.
//!
//! hcl-edit parses the text into blocks and attributes, each with the byte
//! range it came from. We re-emit the text ourselves: names, labels and
//! expressions are copied from the source as written, comments are read from
//! the gaps between the ranges, and only the whitespace between those pieces
//! is rewritten. Inside a multi-line expression (a list over several lines),
//! lines are re-indented by bracket depth; lines inside a string, a heredoc or
//! a `/* */` comment are copied untouched, since their whitespace may be data.
//!
//! The result is checked before it is returned: it must parse, hold the same
//! blocks, labels and attributes, and the same tokens and comments once the
//! whitespace outside strings is removed. Formatting never changes meaning;
//! if that check fails the text is refused, not rewritten.

use crate::scan::{Class, lex};
use hcl_edit::Span as _;
use hcl_edit::structure::{Attribute, Block, Body, Structure};
use std::ops::Range;

/// Why a text could not be formatted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// The text is not valid HCL.
    #[error("syntax error: {message}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// The formatted text would not mean the same as the original: a bug in
    /// the formatter, caught before anything is written.
    #[error("formatting would change the file's meaning ({detail}); this is a bug in rotor fmt")]
    Unsafe {
        /// What differed.
        detail: String,
    },
}

/// Formats one file's text canonically.
pub fn format(text: &str) -> Result<String, FormatError> {
    let body = hcl_edit::parser::parse_body(text).map_err(|e| FormatError::Syntax {
        line: e.location().line(),
        column: e.location().column(),
        message: e.message().to_string(),
    })?;
    let mut f = Formatter { text };
    let structures: Vec<&Structure> = body.iter().collect();
    let (_, lines) = f.body(&structures, 0..text.len(), 0, false)?;
    let mut out = lines.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    verify(text, &body, &out)?;
    Ok(out)
}

fn unsafe_err(detail: impl Into<String>) -> FormatError {
    FormatError::Unsafe {
        detail: detail.into(),
    }
}

/// Checks that `out` means what `text` (parsed as `body`) meant.
fn verify(text: &str, body: &Body, out: &str) -> Result<(), FormatError> {
    let parsed = hcl_edit::parser::parse_body(out)
        .map_err(|e| unsafe_err(format!("the result does not parse: {}", e.message())))?;
    let mut before = Vec::new();
    let mut after = Vec::new();
    dump(text, body, &mut before);
    dump(out, &parsed, &mut after);
    if before != after {
        let at = before.iter().zip(&after).position(|(a, b)| a != b);
        return Err(unsafe_err(format!(
            "structure differs at {}",
            at.and_then(|i| before.get(i))
                .map_or("the end", |s| s.as_str())
        )));
    }
    if squash(text) != squash(out) {
        return Err(unsafe_err("tokens or comments differ"));
    }
    Ok(())
}

/// The structure of a body, one line per block and attribute, with each
/// expression's whitespace outside strings removed.
fn dump(text: &str, body: &Body, out: &mut Vec<String>) {
    for s in body.iter() {
        match s {
            Structure::Attribute(a) => {
                let value = a.value.span().map_or("", |r| &text[r]);
                out.push(format!("{} = {}", a.key.as_str(), squash(value)));
            }
            Structure::Block(b) => {
                let labels: Vec<String> = b
                    .labels
                    .iter()
                    .map(|l| {
                        format!(
                            "{}{:?}",
                            if l.is_string() { "" } else { "ident:" },
                            l.as_str()
                        )
                    })
                    .collect();
                out.push(format!("{} {} {{", b.ident.as_str(), labels.join(" ")));
                dump(text, &b.body, out);
                out.push("}".to_string());
            }
        }
    }
}

/// The text without whitespace, except inside strings and heredocs.
fn squash(text: &str) -> String {
    let lex = lex(text);
    text.char_indices()
        .filter(|&(i, c)| !c.is_whitespace() || matches!(lex.class[i], Class::Str | Class::Heredoc))
        .map(|(_, c)| c)
        .collect()
}

/// A piece of the text between the structures: whitespace is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok<'a> {
    Newline,
    Comment(&'a str),
}

/// Reads comments and newlines from `start` up to `end`, or up to the first
/// `stop` byte (returning its position). Anything else is an error: the
/// parser's ranges left no other text between the pieces.
fn trivia(
    text: &str,
    start: usize,
    end: usize,
    stop: Option<u8>,
) -> Result<(Vec<Tok<'_>>, usize), FormatError> {
    let bytes = text.as_bytes();
    let mut toks = Vec::new();
    let mut i = start;
    while i < end {
        let b = bytes[i];
        if Some(b) == stop {
            return Ok((toks, i));
        }
        match b {
            b'\n' => {
                toks.push(Tok::Newline);
                i += 1;
            }
            b' ' | b'\t' | b'\r' => i += 1,
            b'#' => i = line_comment(text, i, end, &mut toks),
            b'/' if bytes.get(i + 1) == Some(&b'/') => i = line_comment(text, i, end, &mut toks),
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let close = text[i + 2..end]
                    .find("*/")
                    .map(|p| i + 2 + p + 2)
                    .ok_or_else(|| unsafe_err("unterminated comment"))?;
                toks.push(Tok::Comment(&text[i..close]));
                i = close;
            }
            _ => {
                return Err(unsafe_err(format!(
                    "unexpected text {:?} between structures",
                    &text[i..end.min(i + 20)]
                )));
            }
        }
    }
    match stop {
        Some(s) => Err(unsafe_err(format!("expected `{}`", s as char))),
        None => Ok((toks, end)),
    }
}

fn line_comment<'a>(text: &'a str, i: usize, end: usize, toks: &mut Vec<Tok<'a>>) -> usize {
    let stop = text[i..end].find('\n').map_or(end, |p| i + p);
    toks.push(Tok::Comment(text[i..stop].trim_end()));
    stop
}

fn joined(comments: &[&str]) -> String {
    comments.join(" ")
}

/// One output line of a body.
enum Line<'s> {
    Blank,
    /// Only comments.
    Comment(String),
    Item {
        /// `/* */` comments before the structure on its line.
        lead: Vec<&'s str>,
        structure: &'s Structure,
        /// Comments after it.
        trail: Vec<&'s str>,
    },
}

struct Formatter<'t> {
    text: &'t str,
}

fn indent(depth: usize) -> String {
    "  ".repeat(depth)
}

impl<'t> Formatter<'t> {
    fn span(&self, s: &impl hcl_edit::Span) -> Result<Range<usize>, FormatError> {
        s.span()
            .filter(|r| r.end <= self.text.len())
            .ok_or_else(|| unsafe_err("a parsed item has no source range"))
    }

    /// Formats the structures of a body found in `region`. With `in_block`,
    /// comments before the first newline belong to the `{` line and are
    /// returned apart. Returns whole lines, indented for `depth`.
    fn body<'s>(
        &mut self,
        structures: &[&'s Structure],
        region: Range<usize>,
        depth: usize,
        in_block: bool,
    ) -> Result<(Vec<&'t str>, Vec<String>), FormatError>
    where
        't: 's,
    {
        // Events in source order: trivia tokens and structures.
        let mut lines: Vec<Line<'s>> = Vec::new();
        let mut header: Vec<&'t str> = Vec::new();
        let mut seen_newline = !in_block;
        let mut lead: Vec<&'s str> = Vec::new();
        let mut current: Option<&'s Structure> = None;
        let mut trail: Vec<&'s str> = Vec::new();
        let mut cursor = region.start;
        let mut push_toks = |toks: Vec<Tok<'t>>,
                             lines: &mut Vec<Line<'s>>,
                             lead: &mut Vec<&'s str>,
                             current: &mut Option<&'s Structure>,
                             trail: &mut Vec<&'s str>| {
            for tok in toks {
                match tok {
                    Tok::Newline if !seen_newline => seen_newline = true,
                    Tok::Comment(c) if !seen_newline => header.push(c),
                    Tok::Newline => match current.take() {
                        Some(structure) => lines.push(Line::Item {
                            lead: std::mem::take(lead),
                            structure,
                            trail: std::mem::take(trail),
                        }),
                        None if lead.is_empty() => lines.push(Line::Blank),
                        None => lines.push(Line::Comment(joined(&std::mem::take(lead)))),
                    },
                    Tok::Comment(c) if current.is_some() => trail.push(c),
                    Tok::Comment(c) => lead.push(c),
                }
            }
        };
        for &s in structures {
            let range = self.span(s)?;
            let (toks, _) = trivia(self.text, cursor, range.start, None)?;
            push_toks(toks, &mut lines, &mut lead, &mut current, &mut trail);
            if current.is_some() {
                return Err(unsafe_err("two structures on one line"));
            }
            current = Some(s);
            cursor = range.end;
        }
        let (toks, _) = trivia(self.text, cursor, region.end, None)?;
        push_toks(toks, &mut lines, &mut lead, &mut current, &mut trail);
        match current.take() {
            Some(structure) => lines.push(Line::Item {
                lead,
                structure,
                trail,
            }),
            None if !lead.is_empty() => lines.push(Line::Comment(joined(&lead))),
            None => {}
        }
        let header = header;
        let lines = tidy(lines, !in_block);
        Ok((header, self.emit(&lines, depth)?))
    }

    fn emit(&mut self, lines: &[Line<'_>], depth: usize) -> Result<Vec<String>, FormatError> {
        let pad = indent(depth);
        // Each line's attribute key and the rest, for alignment.
        let mut parts: Vec<Option<(String, String)>> = Vec::new();
        for line in lines {
            parts.push(match line {
                Line::Item {
                    lead,
                    structure: Structure::Attribute(a),
                    ..
                } if lead.is_empty() => {
                    let (key, rest) = self.attribute(a, depth)?;
                    (!rest.contains('\n')).then_some((key, rest))
                }
                _ => None,
            });
        }
        let mut out = Vec::new();
        let mut i = 0;
        while i < lines.len() {
            if parts[i].is_some() {
                // A run of single-line attributes: align their `=`.
                let run_end = (i..lines.len())
                    .find(|&j| parts[j].is_none())
                    .unwrap_or(lines.len());
                let width = parts[i..run_end]
                    .iter()
                    .flatten()
                    .map(|(k, _)| k.chars().count())
                    .max()
                    .unwrap_or(0);
                for j in i..run_end {
                    let (key, rest) = parts[j].as_ref().expect("in run");
                    let fill = " ".repeat(width - key.chars().count());
                    let Line::Item { trail, .. } = &lines[j] else {
                        unreachable!("runs hold attributes")
                    };
                    out.push(with_trail(format!("{pad}{key}{fill}{rest}"), trail));
                }
                i = run_end;
                continue;
            }
            match &lines[i] {
                Line::Blank => out.push(String::new()),
                Line::Comment(c) => out.push(format!("{pad}{c}")),
                Line::Item {
                    lead,
                    structure,
                    trail,
                } => {
                    let mut first = pad.clone();
                    for c in lead {
                        first.push_str(c);
                        first.push(' ');
                    }
                    let text = match structure {
                        Structure::Attribute(a) => {
                            let (key, rest) = self.attribute(a, depth)?;
                            format!("{first}{key}{rest}")
                        }
                        Structure::Block(b) => format!("{first}{}", self.block(b, depth)?),
                    };
                    out.push(with_trail(text, trail));
                }
            }
            i += 1;
        }
        Ok(out)
    }

    /// An attribute as its key and the rest (` = value`); the value's inner
    /// lines are indented for `depth`.
    fn attribute(&self, a: &Attribute, depth: usize) -> Result<(String, String), FormatError> {
        let key = self.span(&a.key)?;
        let value = self.span(&a.value)?;
        let (before, eq) = trivia(self.text, key.end, value.start, Some(b'='))?;
        let (after, _) = trivia(self.text, eq + 1, value.start, None)?;
        if before.iter().chain(&after).any(|t| *t == Tok::Newline) {
            return Err(unsafe_err("a newline inside an attribute"));
        }
        let mut rest = String::new();
        for t in &before {
            if let Tok::Comment(c) = t {
                rest.push(' ');
                rest.push_str(c);
            }
        }
        rest.push_str(" = ");
        for t in &after {
            if let Tok::Comment(c) = t {
                rest.push_str(c);
                rest.push(' ');
            }
        }
        rest.push_str(&reindent(&self.text[value], depth));
        Ok((self.text[key].to_string(), rest))
    }

    /// A block, from its identifier to its closing brace; inner lines are
    /// indented for `depth + 1`, the closing brace for `depth`.
    fn block(&mut self, b: &Block, depth: usize) -> Result<String, FormatError> {
        let range = self.span(b)?;
        let ident = self.span(&b.ident)?;
        let mut out = self.text[ident.clone()].to_string();
        let mut cursor = ident.end;
        for label in &b.labels {
            let r = self.span(label)?;
            self.inline_comments(cursor, r.start, &mut out)?;
            out.push(' ');
            out.push_str(&self.text[r.clone()]);
            cursor = r.end;
        }
        let (toks, open) = trivia(self.text, cursor, range.end, Some(b'{'))?;
        push_inline(&toks, &mut out)?;
        let close = range.end - 1;
        if self.text.as_bytes().get(close) != Some(&b'}') {
            return Err(unsafe_err("a block without a closing brace"));
        }
        let structures: Vec<&Structure> = b.body.iter().collect();
        if b.body.prefer_oneline() {
            // `ident "label" { key = value }` stays on one line.
            let mut inner = String::new();
            let mut cursor = open + 1;
            for s in &structures {
                let r = self.span(*s)?;
                self.inline_comments(cursor, r.start, &mut inner)?;
                let Structure::Attribute(a) = s else {
                    return Err(unsafe_err("a block inside a one-line block"));
                };
                let (key, rest) = self.attribute(a, depth + 1)?;
                inner.push(' ');
                inner.push_str(&key);
                inner.push_str(&rest);
                cursor = r.end;
            }
            self.inline_comments(cursor, close, &mut inner)?;
            if inner.is_empty() {
                out.push_str(" {}");
            } else {
                out.push_str(&format!(" {{{inner} }}"));
            }
            return Ok(out);
        }
        let (header, lines) = self.body(&structures, open + 1..close, depth + 1, true)?;
        out.push_str(" {");
        if header.is_empty() && lines.is_empty() {
            out.push('}');
            return Ok(out);
        }
        for c in header {
            out.push(' ');
            out.push_str(c);
        }
        for line in lines {
            out.push('\n');
            out.push_str(&line);
        }
        out.push('\n');
        out.push_str(&indent(depth));
        out.push('}');
        Ok(out)
    }

    /// Appends the `/* */` comments between two pieces of one line.
    fn inline_comments(
        &self,
        start: usize,
        end: usize,
        out: &mut String,
    ) -> Result<(), FormatError> {
        let (toks, _) = trivia(self.text, start, end, None)?;
        push_inline(&toks, out)
    }
}

fn push_inline(toks: &[Tok<'_>], out: &mut String) -> Result<(), FormatError> {
    for t in toks {
        match t {
            Tok::Comment(c) if c.starts_with("/*") => {
                out.push(' ');
                out.push_str(c);
            }
            _ => return Err(unsafe_err("a line break inside a block header")),
        }
    }
    Ok(())
}

fn with_trail(mut line: String, trail: &[&str]) -> String {
    for c in trail {
        line.push(' ');
        line.push_str(c);
    }
    line
}

/// Drops blank lines at the start and end and collapses runs of them; at the
/// top level, puts one blank line after every block.
fn tidy(lines: Vec<Line<'_>>, top: bool) -> Vec<Line<'_>> {
    let is_block = |l: &Line<'_>| {
        matches!(
            l,
            Line::Item {
                structure: Structure::Block(_),
                ..
            }
        )
    };
    let is_attr = |l: &Line<'_>| {
        matches!(
            l,
            Line::Item {
                structure: Structure::Attribute(_),
                ..
            }
        )
    };
    let mut out: Vec<Line<'_>> = Vec::new();
    for line in lines {
        let blank = matches!(line, Line::Blank);
        match out.last() {
            None | Some(Line::Blank) if blank => continue,
            Some(prev)
                if top && !blank && (is_block(prev) || (is_attr(prev) && is_block(&line))) =>
            {
                out.push(Line::Blank);
            }
            _ => {}
        }
        out.push(line);
    }
    while matches!(out.last(), Some(Line::Blank)) {
        out.pop();
    }
    out
}

/// An expression's text with its continuation lines indented by bracket
/// depth below `depth`; lines inside strings, heredocs and `/* */` comments
/// are kept as they are.
fn reindent(expr: &str, depth: usize) -> String {
    if !expr.contains('\n') {
        return expr.to_string();
    }
    let lex = lex(expr);
    let mut out = String::new();
    let mut start = 0;
    let mut verbatim = false;
    let mut nesting = 0usize;
    let mut previous_blank = false;
    for (n, end) in expr
        .match_indices('\n')
        .map(|(i, _)| i)
        .chain([expr.len()])
        .enumerate()
    {
        let line = &expr[start..end];
        // Whether the whitespace at the end of this line is free to drop.
        let trim_end = end == expr.len() || !verbatim_class(lex.class[end]);
        let line = if trim_end { line.trim_end() } else { line };
        if n == 0 {
            out.push_str(line);
        } else if verbatim {
            out.push('\n');
            out.push_str(line);
            previous_blank = false;
        } else {
            let body = line.trim_start();
            if body.is_empty() {
                if !previous_blank {
                    out.push('\n');
                }
                previous_blank = true;
            } else {
                let closers = body
                    .chars()
                    .take_while(|c| matches!(c, ')' | ']' | '}'))
                    .count();
                out.push('\n');
                out.push_str(&indent(depth + nesting.saturating_sub(closers)));
                out.push_str(body);
                previous_blank = false;
            }
        }
        if end < expr.len() {
            verbatim = verbatim_class(lex.class[end]);
            nesting = lex.depth_at(end);
        }
        start = end + 1;
    }
    out
}

fn verbatim_class(c: Class) -> bool {
    matches!(c, Class::Str | Class::Heredoc | Class::BlockComment)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(text: &str) -> String {
        let out = format(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(format(&out).unwrap(), out, "not idempotent:\n{out}");
        out
    }

    #[test]
    fn aligns_runs_of_attributes() {
        let text = "secret \"k\" {\n  owner = \"a\"\n    cadence=\"90d\"\n\n  destroy_after   =   \"7d\"\n  overlap = \"2h\"\n}\n";
        assert_eq!(
            fmt(text),
            "secret \"k\" {\n  owner   = \"a\"\n  cadence = \"90d\"\n\n  destroy_after = \"7d\"\n  overlap       = \"2h\"\n}\n"
        );
    }

    #[test]
    fn blocks_and_comment_lines_break_runs() {
        let text = "s {\n  a = 1\n  # about bbb\n  bbb = 2\n  x {}\n  cc = 3\n}\n";
        assert_eq!(
            fmt(text),
            "s {\n  a = 1\n  # about bbb\n  bbb = 2\n  x {}\n  cc = 3\n}\n"
        );
    }

    #[test]
    fn collapses_blank_lines_and_separates_top_level_blocks() {
        let text = "\n\na {}\nb {\n\n\n  x = 1\n\n\n\n  y = 2\n\n}\n\n\n\nc {}\n\n\n";
        assert_eq!(fmt(text), "a {}\n\nb {\n  x = 1\n\n  y = 2\n}\n\nc {}\n");
    }

    #[test]
    fn keeps_comments() {
        let text = "# head\n\nstore \"file\" \"local\" { # why\n  path = \"x\"   # trailing\n  // between\n  mode=\"0600\"/* inline */\n  /* before */ z = 1\n}\n# at the end\n   # and more  \n";
        assert_eq!(
            fmt(text),
            "# head\n\nstore \"file\" \"local\" { # why\n  path = \"x\" # trailing\n  // between\n  mode = \"0600\" /* inline */\n  /* before */ z = 1\n}\n\n# at the end\n# and more\n"
        );
    }

    #[test]
    fn comment_between_attributes_and_at_end_of_file_without_newline() {
        let text = "a {\n  x = 1\n  # note\n  yy = 2\n}\n# last";
        assert_eq!(fmt(text), "a {\n  x = 1\n  # note\n  yy = 2\n}\n\n# last\n");
    }

    #[test]
    fn one_line_and_empty_blocks() {
        let text = "generate   \"rsa\"{bits=2048}\nv \"1\" {  }\nw \"2\" {\n}\n";
        assert_eq!(
            fmt(text),
            "generate \"rsa\" { bits = 2048 }\n\nv \"1\" {}\n\nw \"2\" {}\n"
        );
    }

    #[test]
    fn reindents_lists_but_not_heredocs() {
        let text = "a {\nverify \"command\" {\n        command = [\n   \"sh\",   \n\"-c\",\n          ]\n  script = <<-EOT\n      keep   \n   this\n    EOT\n  }\n}\n";
        assert_eq!(
            fmt(text),
            "a {\n  verify \"command\" {\n    command = [\n      \"sh\",\n      \"-c\",\n    ]\n    script = <<-EOT\n      keep   \n   this\n    EOT\n  }\n}\n"
        );
    }

    #[test]
    fn nested_values_and_comments_inside_lists() {
        let text = "a {\nx = {\nk = [1,\n2], # two\n  /* keep\n     this */\n    m = f(\n\"a\",\n    )\n}\ny = [<<EOT\n  raw\nEOT\n, \"b\"] # after\n}\n";
        assert_eq!(
            fmt(text),
            "a {\n  x = {\n    k = [1,\n      2], # two\n    /* keep\n     this */\n    m = f(\n      \"a\",\n    )\n  }\n  y = [<<EOT\n  raw\nEOT\n    , \"b\"] # after\n}\n"
        );
    }

    #[test]
    fn strings_keep_their_spaces() {
        let text = "a {\n  x = \"  #  not a comment  \"\n  y = \"${foo(\"}\")}  x\"\n}\n";
        assert_eq!(fmt(text), text);
    }

    #[test]
    fn trailing_whitespace_and_crlf() {
        let text = "a {  \r\n  x = 1   \r\n}\t\r\n";
        assert_eq!(fmt(text), "a {\n  x = 1\n}\n");
    }

    #[test]
    fn empty_file_stays_empty() {
        assert_eq!(fmt(""), "");
        assert_eq!(fmt("\n\n"), "");
        assert_eq!(fmt("# only\n\n\n"), "# only\n");
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let err = format("a {\n  x = \n}\n").unwrap_err();
        assert!(
            matches!(err, FormatError::Syntax { line: 2, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn the_quickstart_is_already_canonical() {
        let text = include_str!("../../examples/quickstart/rotor.hcl");
        assert_eq!(fmt(text), text);
    }

    #[test]
    fn every_example_formats() {
        for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples"))
            .unwrap()
            .flatten()
        {
            for file in std::fs::read_dir(entry.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let path = file.path();
                if path.extension().is_some_and(|e| e == "hcl") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    let _ = fmt(&text);
                }
            }
        }
    }
}
