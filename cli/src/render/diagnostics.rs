//! Diagnostics with source snippets, and their JSON form.

use crate::style;
use annotate_snippets::renderer::AnsiColor;
use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
use rotor_engine::diagnostics::{Diagnostic, Diagnostics, Severity, SourceMap, Span};
use serde_json::{Value, json};

/// Renders every diagnostic on stderr, errors and warnings in source order.
pub fn human(diags: &Diagnostics, sources: &SourceMap) {
    let mut out = String::new();
    for d in &diags.0 {
        out.push_str(&render_one(d, sources));
        out.push('\n');
    }
    let errors = diags.0.iter().filter(|d| d.is_error()).count();
    if errors > 0 {
        out.push_str(&format!(
            "{} spec has {errors} error{}; nothing was planned or applied\n",
            style::red(&style::bold("error:")),
            if errors == 1 { "" } else { "s" }
        ));
    }
    eprint!("{out}");
}

/// One diagnostic, as text (used by snapshots too).
///
/// The header, detail and hint lines are ours; the snippet under the header
/// (`-->` location, gutter, source line, carets and label) is drawn by
/// annotate-snippets, as rustc draws its own.
pub fn render_one(d: &Diagnostic, sources: &SourceMap) -> String {
    let mut out = String::new();
    let head = match d.severity {
        Severity::Error => style::red(&style::bold("error:")),
        Severity::Warning => style::yellow(&style::bold("warning:")),
    };
    out.push_str(&format!("{head} {}\n", style::bold(&d.summary)));
    if let Some(span) = &d.span {
        if d.conceal {
            out.push_str(&concealed(span, sources));
        } else {
            out.push_str(&snippet(d, span, sources));
        }
    }
    if let Some(detail) = &d.detail {
        out.push_str(&format!("  {detail}\n"));
    }
    if let Some(hint) = &d.hint {
        out.push_str(&format!("  {} {hint}\n", style::cyan("hint:")));
    }
    out
}

/// Where a concealed diagnostic points, and nothing of what is there.
///
/// Drawn by hand on purpose: the source line may hold a secret, so its text
/// is never handed to the snippet renderer at all.
fn concealed(span: &Span, sources: &SourceMap) -> String {
    let file = sources.file(span);
    let start = file.pos(span.range.start);
    let pad = " ".repeat(start.line.to_string().len());
    format!(
        "{pad}{} {}:{}:{}\n{pad} {} (source not shown: it may hold secret material)\n",
        style::cyan("-->"),
        file.path.display(),
        start.line,
        start.column,
        style::cyan("="),
    )
}

/// The snippet of the span's first line, ending in a newline.
///
/// Only that one line is given to annotate-snippets, numbered as in the file:
/// a span over several lines is underlined from its start to the end of its
/// first line (an empty span, or one starting at a line's end, gets one caret),
/// rather than drawn as a multi-line bracket.
fn snippet(d: &Diagnostic, span: &Span, sources: &SourceMap) -> String {
    let file = sources.file(span);
    let start = file.pos(span.range.start);
    let end = file.pos(span.range.end.max(span.range.start));
    let line = file.line_text(start.line);
    let line_start = file.offset(start.line, 1);
    // Byte offsets within `line`, on character boundaries (they come from
    // `pos`), and within it: annotate-snippets panics on a range past the end.
    let from = (start.byte - line_start).min(line.len());
    let to = if end.line == start.line {
        (end.byte - line_start).clamp(from, line.len())
    } else {
        line.len()
    };
    let mut mark = AnnotationKind::Primary.span(from..to);
    if let Some(label) = &d.label {
        mark = mark.label(label.as_str());
    }
    let level = match d.severity {
        Severity::Error => Level::ERROR,
        Severity::Warning => Level::WARNING,
    };
    let report = [Group::with_level(level).element(
        Snippet::source(line)
            .line_start(start.line)
            .path(file.path.display().to_string())
            .annotation(mark),
    )];
    let mut text = renderer().render(&report);
    text.push('\n');
    text
}

/// annotate-snippets in our palette: cyan gutter, red or yellow carets.
fn renderer() -> Renderer {
    let renderer = if style::enabled() {
        Renderer::styled()
            .error(AnsiColor::Red.on_default())
            .warning(AnsiColor::Yellow.on_default())
            .line_num(AnsiColor::Cyan.on_default())
    } else {
        Renderer::plain()
    };
    // A terminal width only decides where a long line is cut with `...`: we
    // print whole lines, as a reader of a spec error needs them (the width
    // is doubled inside, so not usize::MAX).
    renderer.term_width(1 << 20)
}

/// The JSON form: Terraform-like ranges (file, start/end line, column, byte).
pub fn json(diags: &Diagnostics, sources: &SourceMap) -> Value {
    let items: Vec<Value> = diags
        .0
        .iter()
        .map(|d| {
            let range = d.span.as_ref().map(|span| {
                let file = sources.file(span);
                json!({
                    "filename": file.path.display().to_string(),
                    "start": file.pos(span.range.start),
                    "end": file.pos(span.range.end),
                })
            });
            json!({
                "severity": d.severity,
                "summary": d.summary,
                "detail": d.detail,
                "hint": d.hint,
                "label": d.label,
                "range": range,
            })
        })
        .collect();
    let errors = diags.0.iter().filter(|d| d.is_error()).count();
    json!({
        "format_version": "1.0",
        "valid": errors == 0,
        "error_count": errors,
        "warning_count": diags.0.len() - errors,
        "diagnostics": items,
    })
}

#[cfg(test)]
mod tests {
    //! Exact bytes of the human form (colour is off in tests), so that a change
    //! of how snippets are drawn shows here before it shows in a snapshot.

    use super::*;
    use rotor_engine::diagnostics::SourceFile;
    use std::sync::Arc;

    fn sources(text: &str) -> SourceMap {
        SourceMap {
            files: vec![Arc::new(SourceFile::new("rotor.hcl".into(), text.into()))],
        }
    }

    /// The span of the first `needle` in `text`.
    fn span(text: &str, needle: &str) -> Span {
        let start = text.find(needle).expect("needle in text");
        Span {
            file: 0,
            range: start..start + needle.len(),
        }
    }

    const SPEC: &str =
        "secret \"a\" {\n  store   = store.file.locl\n  overlap = \"10 minutes\"\n}\n";

    #[test]
    fn an_error_with_label_and_hint() {
        let d = Diagnostic::error(
            "unknown reference `store.file.locl`",
            Some(span(SPEC, "store.file.locl")),
        )
        .label("no store with this name")
        .hint("did you mean `store.file.local`?");
        assert_eq!(
            render_one(&d, &sources(SPEC)),
            "error: unknown reference `store.file.locl`\n \
             --> rotor.hcl:2:13\n  \
             |\n\
             2 |   store   = store.file.locl\n  \
             |             ^^^^^^^^^^^^^^^ no store with this name\n  \
             hint: did you mean `store.file.local`?\n"
        );
    }

    #[test]
    fn a_warning_with_detail_and_no_label() {
        let d = Diagnostic::warning(
            "secret `a` has no consumers",
            Some(span(SPEC, "secret \"a\"")),
        )
        .detail("rotation without inventory misses someone")
        .hint("declare each service that reads it with a `consumer` block");
        assert_eq!(
            render_one(&d, &sources(SPEC)),
            "warning: secret `a` has no consumers\n \
             --> rotor.hcl:1:1\n  \
             |\n\
             1 | secret \"a\" {\n  \
             | ^^^^^^^^^^\n  \
             rotation without inventory misses someone\n  \
             hint: declare each service that reads it with a `consumer` block\n"
        );
    }

    #[test]
    fn the_gutter_widens_with_the_line_number() {
        let text = format!("{}  colour = \"blue\"\n", "\n".repeat(15));
        let d = Diagnostic::error("unknown attribute `colour`", Some(span(&text, "colour")));
        assert_eq!(
            render_one(&d, &sources(&text)),
            "error: unknown attribute `colour`\n  \
             --> rotor.hcl:16:3\n   \
             |\n\
             16 |   colour = \"blue\"\n   \
             |   ^^^^^^\n"
        );
    }

    #[test]
    fn a_span_over_several_lines_is_drawn_on_its_first() {
        let d = Diagnostic::error("block", Some(span(SPEC, "{\n  store")));
        assert_eq!(
            render_one(&d, &sources(SPEC)),
            "error: block\n \
             --> rotor.hcl:1:12\n  \
             |\n\
             1 | secret \"a\" {\n  \
             |            ^\n"
        );
    }

    #[test]
    fn an_empty_span_gets_one_caret() {
        let at = SPEC.find("= store").unwrap();
        let mid = Diagnostic::error(
            "here",
            Some(Span {
                file: 0,
                range: at..at,
            }),
        );
        assert!(
            render_one(&mid, &sources(SPEC)).ends_with("  |           ^\n"),
            "{}",
            render_one(&mid, &sources(SPEC))
        );
        // At the end of a line: one caret just past its last character.
        let eol = SPEC.find('\n').unwrap();
        let end = Diagnostic::error(
            "here",
            Some(Span {
                file: 0,
                range: eol..eol,
            }),
        );
        assert_eq!(
            render_one(&end, &sources(SPEC)),
            "error: here\n \
             --> rotor.hcl:1:13\n  \
             |\n\
             1 | secret \"a\" {\n  \
             |             ^\n"
        );
    }

    #[test]
    fn a_diagnostic_without_a_span_has_no_snippet() {
        let d = Diagnostic::error("no .hcl files found", None).hint("run `rotor init`");
        assert_eq!(
            render_one(&d, &sources(SPEC)),
            "error: no .hcl files found\n  hint: run `rotor init`\n"
        );
    }

    /// Where annotate-snippets draws differently from the hand-written
    /// renderer it replaced; none of these cases is in a snapshot.
    #[test]
    fn lines_are_drawn_as_a_terminal_shows_them() {
        let one = |text: &str, needle: &str| {
            let d = Diagnostic::error("x", Some(span(text, needle)));
            let out = render_one(&d, &sources(text));
            out.lines().skip(3).collect::<Vec<_>>().join("\n")
        };
        // A tab is four spaces, and the caret stays under its character.
        assert_eq!(one("\tx = 1\n", "x"), "1 |     x = 1\n  |     ^");
        // Carets count display columns: a wide character takes two.
        assert_eq!(one("  漢 = x\n", "x"), "1 |   漢 = x\n  |        ^");
        // Control characters are shown, not sent: an escape in a spec cannot
        // drive the terminal.
        assert_eq!(one("a = \"\u{1b}[2J\"\n", "a"), "1 | a = \"␛[2J\"\n  | ^");
        // An empty line has no trailing space after its gutter.
        let text = "a = 1\n\nb = 2\n";
        let at = text.find("\n\n").unwrap() + 1;
        let d = Diagnostic::error(
            "x",
            Some(Span {
                file: 0,
                range: at..at,
            }),
        );
        assert!(render_one(&d, &sources(text)).ends_with("2 |\n  | ^\n"));
        // A long line is printed whole, however wide.
        let long = format!("d = \"{}\"\n", "a".repeat(300));
        assert!(one(&long, "d").contains(&"a".repeat(300)));
        // Indentation deeper than 26 columns starts with `...` in place of
        // some of it (rustc's rule, whatever the width): here 30 columns are
        // drawn as 22. A spec is rarely nested so deep.
        let deep = format!("{}x = 1\n", " ".repeat(30));
        assert_eq!(
            one(&deep, "x"),
            format!("1 | ...{}x = 1\n  | {}^", " ".repeat(19), " ".repeat(22))
        );
    }

    /// Canary: a concealed diagnostic says where, never what.
    #[test]
    fn a_concealed_line_is_located_but_never_printed() {
        let secret = "q8Zt3LmX0vR7wYp2KcN5bH9sJ4dF6gA1";
        let text = format!("secret \"a\" {{\n  description = \"{secret}\"\n}}\n");
        let d = Diagnostic::error(
            "a literal in `description` looks like secret material",
            Some(span(&text, &format!("\"{secret}\""))),
        )
        .label("this literal")
        .hint("material lives only in stores")
        .conceal();
        let out = render_one(&d, &sources(&text));
        assert_eq!(
            out,
            "error: a literal in `description` looks like secret material\n \
             --> rotor.hcl:2:17\n  \
             = (source not shown: it may hold secret material)\n  \
             hint: material lives only in stores\n"
        );
        assert!(!out.contains("q8Zt3"), "{out}");
        assert!(!out.contains("description ="), "{out}");
    }
}
