//! The one hand-written scanner of HCL text: enough of a lexer to know which
//! bytes are code, strings, heredocs or comments, and how deep in brackets
//! each line starts.
//!
//! hcl-edit does the parsing. This scanner serves the two jobs a syntax tree
//! cannot: the formatter re-indents the lines of a multi-line expression and
//! must know which of them are data ([`lex`]), and a large spec file is cut
//! between its top-level blocks *before* it is parsed, so that the pieces can
//! be parsed in parallel ([`split_top_level`]). Both used to carry their own
//! copy of the rules for strings, interpolations, heredocs and comments; a
//! brace inside any of them must not count, and now there is one place that
//! says where they end.

use std::ops::Range;

/// What a byte of HCL text is part of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Code,
    Comment,
    /// Inside a `/* */` comment, whose line breaks we keep as they are.
    BlockComment,
    /// A quoted string or template, interpolations included.
    Str,
    Heredoc,
}

/// The text, classified byte by byte.
pub(crate) struct Lexed {
    /// One entry per byte of the text.
    pub(crate) class: Vec<Class>,
    /// Bracket depth at each newline in code, by byte offset.
    depths: Vec<(usize, usize)>,
    /// A string, heredoc or `/* */` comment runs on to the end of the text:
    /// the text is not valid HCL, and its classes from there on are a guess.
    pub(crate) unterminated: bool,
}

impl Lexed {
    pub(crate) fn depth_at(&self, offset: usize) -> usize {
        self.depths
            .iter()
            .find(|(o, _)| *o == offset)
            .map_or(0, |(_, d)| *d)
    }
}

/// Byte ranges that together cover the text, each at least `min` bytes long
/// and each ending after a top-level block's closing brace and its line (the
/// last one ends at the end of the text). `None` when the text is shorter
/// than `2 * min` or does not scan cleanly (a string, heredoc or comment left
/// open, or unbalanced braces): the caller then parses it in one piece.
///
/// A cut is made only where the rest of the closing brace's line is blank,
/// so a comment after a block's `}` stays with that block. Braces inside
/// strings, interpolations, heredocs and comments do not count.
pub fn split_top_level(text: &str, min: usize) -> Option<Vec<Range<usize>>> {
    if text.len() < min.saturating_mul(2) {
        return None;
    }
    let lexed = lex(text);
    if lexed.unterminated {
        return None;
    }
    let mut chunks = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, &b) in text.as_bytes().iter().enumerate() {
        if lexed.class[i] != Class::Code {
            continue;
        }
        match b {
            b'{' => depth += 1,
            b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    let end = text[i + 1..]
                        .find('\n')
                        .map_or(text.len(), |p| i + 1 + p + 1);
                    if end - start >= min && text[i + 1..end].trim().is_empty() {
                        chunks.push(start..end);
                        start = end;
                    }
                }
            }
            _ => {}
        }
    }
    if depth != 0 {
        return None;
    }
    if start < text.len() {
        chunks.push(start..text.len());
    }
    Some(chunks)
}

/// Classifies each byte of HCL text.
pub(crate) fn lex(text: &str) -> Lexed {
    let b = text.as_bytes();
    let mut class = vec![Class::Code; b.len()];
    let mut depths = Vec::new();
    let mut depth = 0usize;
    let mut unterminated = false;
    let mut i = 0;
    let mark = |class: &mut Vec<Class>, r: Range<usize>, c: Class| {
        for x in &mut class[r] {
            *x = c;
        }
    };
    while i < b.len() {
        match b[i] {
            b'\n' => {
                depths.push((i, depth));
                i += 1;
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                i += 1;
            }
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'#' => {
                let end = text[i..].find('\n').map_or(b.len(), |p| i + p);
                mark(&mut class, i..end, Class::Comment);
                i = end;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                let end = text[i..].find('\n').map_or(b.len(), |p| i + p);
                mark(&mut class, i..end, Class::Comment);
                i = end;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let end = text[i + 2..].find("*/").map(|p| i + 2 + p + 2);
                unterminated |= end.is_none();
                let end = end.unwrap_or(b.len());
                mark(&mut class, i..end, Class::BlockComment);
                i = end;
            }
            b'"' => {
                let end = string_end(b, i);
                unterminated |= end.is_none();
                let end = end.unwrap_or(b.len());
                mark(&mut class, i..end, Class::Str);
                i = end;
            }
            b'<' if b.get(i + 1) == Some(&b'<') => match heredoc(text, i) {
                Some((end, closed)) => {
                    unterminated |= !closed;
                    // The heredoc's first line break is its own: the lines
                    // after it, through the closing marker, are data.
                    let first = text[i..].find('\n').map_or(b.len(), |p| i + p);
                    mark(&mut class, first..end, Class::Heredoc);
                    i = end;
                }
                None => i += 2,
            },
            _ => i += 1,
        }
    }
    Lexed {
        class,
        depths,
        unterminated,
    }
}

/// The end of the quoted string starting at `start` (just after its closing
/// quote); `None` when it is not closed before the end of the text.
fn string_end(b: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            b'$' | b'%' if b.get(i + 1) == Some(&b'{') => {
                if i > 0 && b[i - 1] == b[i] {
                    // `$${` and `%%{` are literal text.
                    i += 2;
                } else {
                    i = interpolation_end(b, i + 2)?;
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// The end of a `${ … }` interpolation whose body starts at `start`; `None`
/// when it is not closed before the end of the text.
fn interpolation_end(b: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = start;
    while i < b.len() {
        match b[i] {
            b'"' => i = string_end(b, i)?,
            b'{' => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i + 1),
            b'}' => {
                depth -= 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
    None
}

/// For `<<EOT` or `<<-EOT` at `start` followed by a line break: the offset
/// just after the closing marker's line (before its line break), and whether
/// that marker was found (if not, the heredoc runs to the end of the text).
fn heredoc(text: &str, start: usize) -> Option<(usize, bool)> {
    let rest = &text[start + 2..];
    let rest = rest.strip_prefix('-').unwrap_or(rest);
    let marker_len = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(rest.len());
    let marker = &rest[..marker_len];
    let after = &rest[marker_len..];
    if marker.is_empty() || !(after.starts_with('\n') || after.starts_with("\r\n")) {
        return None;
    }
    let mut line_start = text.len() - after.len() + after.find('\n')? + 1;
    loop {
        let line_end = text[line_start..]
            .find('\n')
            .map_or(text.len(), |p| line_start + p);
        if text[line_start..line_end].trim() == marker {
            return Some((line_end, true));
        }
        if line_end == text.len() {
            return Some((text.len(), false));
        }
        line_start = line_end + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(i: usize) -> String {
        format!(
            "# comment with {{ brace\nconsumer \"c{i}\" {{\n  accepts = secret.s // }} not a brace\n  /* {{ */ cache_ttl = \"1s\"\n  verify \"command\" {{\n    command = [\"sh\", \"-c\", \"echo '}}' \\\" {{\"]\n  }}\n}}\n\n"
        )
    }

    #[test]
    fn cutting_between_top_level_blocks_keeps_every_block_whole() {
        let text: String = (0..400).map(block).collect();
        let chunks = split_top_level(&text, 4096).expect("scans");
        assert!(chunks.len() > 2, "{} chunks", chunks.len());
        assert_eq!(chunks.first().unwrap().start, 0);
        assert_eq!(chunks.last().unwrap().end, text.len());
        for w in chunks.windows(2) {
            assert_eq!(w[0].end, w[1].start);
        }
        for c in &chunks {
            assert!(c.len() >= 4096 || c.end == text.len());
            hcl_edit::parser::parse_body(&text[c.clone()]).expect("each piece parses");
        }
    }

    #[test]
    fn text_that_does_not_scan_is_parsed_whole() {
        assert!(split_top_level("a = \"unterminated\n}", 1).is_none());
        assert!(split_top_level(&"x {}\n".repeat(10), 1_000_000).is_none());
        let heredoc = format!("{}z = <<EOT\n}} {{ \"\nEOT\n", "b {}\n".repeat(100));
        let chunks = split_top_level(&heredoc, 64).unwrap();
        assert_eq!(chunks.last().unwrap().end, heredoc.len());
    }

    #[test]
    fn anything_left_open_or_unbalanced_does_not_scan() {
        let blocks = "b {}\n".repeat(20);
        for tail in [
            "z = <<EOT\nno closing marker\n",
            "/* no end\n",
            "z = \"${f(\"}\")\n",
            "}\n",
            "c {\n",
        ] {
            assert!(
                split_top_level(&format!("{blocks}{tail}"), 8).is_none(),
                "{tail:?}"
            );
        }
    }

    #[test]
    fn braces_in_interpolations_and_comments_after_a_block_stay_whole() {
        let a = "a {\n  x = \"${f(\"}\")} {\"\n}\n";
        let b = "b {\n  y = 1\n} # about b\nc {}\n";
        let text = format!("{a}{b}");
        let chunks = split_top_level(&text, 8).unwrap();
        assert_eq!(chunks, vec![0..a.len(), a.len()..text.len()]);
    }
}
