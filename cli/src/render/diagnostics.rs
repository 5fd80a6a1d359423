//! Diagnostics with source snippets, and their JSON form.

use crate::style;
use rotor_engine::diagnostics::{Diagnostic, Diagnostics, Severity, SourceMap};
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
pub fn render_one(d: &Diagnostic, sources: &SourceMap) -> String {
    let mut out = String::new();
    let head = match d.severity {
        Severity::Error => style::red(&style::bold("error:")),
        Severity::Warning => style::yellow(&style::bold("warning:")),
    };
    out.push_str(&format!("{head} {}\n", style::bold(&d.summary)));
    if let Some(span) = &d.span {
        let file = sources.file(span);
        let start = file.pos(span.range.start);
        let width = start.line.to_string().len();
        let pad = " ".repeat(width);
        out.push_str(&format!(
            "{pad}{} {}:{}:{}\n",
            style::cyan("-->"),
            file.path.display(),
            start.line,
            start.column
        ));
        if d.conceal {
            out.push_str(&format!(
                "{pad} {} (source not shown: it may hold secret material)\n",
                style::cyan("=")
            ));
        }
    }
    if let Some(span) = d.span.as_ref().filter(|_| !d.conceal) {
        let file = sources.file(span);
        let start = file.pos(span.range.start);
        let end = file.pos(span.range.end.max(span.range.start));
        let width = start.line.to_string().len();
        let pad = " ".repeat(width);
        out.push_str(&format!("{pad} {}\n", style::cyan("|")));
        let line = file.line_text(start.line);
        out.push_str(&format!(
            "{} {} {line}\n",
            style::cyan(&start.line.to_string()),
            style::cyan("|")
        ));
        let len = if end.line == start.line {
            (end.column.saturating_sub(start.column)).max(1)
        } else {
            (line.chars().count() + 1)
                .saturating_sub(start.column)
                .max(1)
        };
        let caret = format!("{}{}", " ".repeat(start.column - 1), "^".repeat(len));
        let label = d
            .label
            .as_deref()
            .map(|l| format!(" {l}"))
            .unwrap_or_default();
        let marked = match d.severity {
            Severity::Error => style::red(&format!("{caret}{label}")),
            Severity::Warning => style::yellow(&format!("{caret}{label}")),
        };
        out.push_str(&format!("{pad} {} {marked}\n", style::cyan("|")));
    }
    if let Some(detail) = &d.detail {
        out.push_str(&format!("  {detail}\n"));
    }
    if let Some(hint) = &d.hint {
        out.push_str(&format!("  {} {hint}\n", style::cyan("hint:")));
    }
    out
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
