//! Format-preserving edits to a spec file: add or remove a `version` block,
//! point `active` at another version.
//!
//! A spec is reviewed like code, so an edit made by `rotor rotate`, `rotor
//! retire` or `rotor rollback` must read as if a person had made it: only the
//! bytes that need to change are changed, and every comment, blank line and
//! alignment around them is kept. Each function parses the file's text with
//! hcl-edit to find the byte ranges of the blocks and expressions involved and
//! splices new text into the original string; nothing is re-printed from a
//! syntax tree. The result is plain text: callers validate it with
//! `rotor_engine::spec::load` before writing it.

use hcl_edit::expr::Expression;
use hcl_edit::structure::{Block, Body};
use std::ops::Range;

/// Why an edit could not be made. The text is left as it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// The file does not parse.
    #[error("the file does not parse: {0}")]
    Syntax(String),
    /// No `secret "NAME"` block in the file.
    #[error("no `secret \"{0}\"` block in this file")]
    NoSecret(String),
    /// The version is already declared in the family.
    #[error("version `{0}` is already declared")]
    Declared(String),
    /// The version is not declared in the family.
    #[error("version `{0}` is not declared")]
    NotDeclared(String),
    /// `active` is written as something other than a string literal
    /// (`env("X")`, a template): rotor will not guess how to rewrite it.
    #[error("`active` is not a plain string literal")]
    ActiveNotLiteral,
    /// The block is laid out so that no line could hold the new text
    /// (`secret "x" {}` on one line).
    #[error("cannot find where to insert into `secret \"{0}\"`; edit the file by hand")]
    NoRoom(String),
}

/// Adds `version "ID" {}` to a family, on its own line right after the
/// family's last `version` block, with the same indentation.
pub fn add_version(text: &str, family: &str, id: &str) -> Result<String, EditError> {
    let body = parse(text)?;
    let secret = find_secret(&body, family)?;
    if version_block(secret, id).is_some() {
        return Err(EditError::Declared(id.to_string()));
    }
    let line = format!("version {} {{}}", quote(id));
    let at = match secret
        .body
        .blocks()
        .filter(|b| b.ident.as_str() == "version")
        .last()
    {
        Some(last) => range(last),
        // No version yet: before `active`, else before the closing brace.
        None => match secret.body.get_attribute("active") {
            Some(active) => {
                let r = range(active);
                return Ok(insert_line_before(text, r.start, &line));
            }
            None => return insert_before_close(text, secret, family, &line),
        },
    };
    Ok(insert_line_after(text, at, &line))
}

/// Removes a family's `version "ID"` block: the block's whole line (with a
/// comment at the end of that line, which hcl-edit also counts as the
/// block's) and its newline. Comments on other lines are kept.
pub fn remove_version(text: &str, family: &str, id: &str) -> Result<String, EditError> {
    let body = parse(text)?;
    let secret = find_secret(&body, family)?;
    let block = version_block(secret, id).ok_or_else(|| EditError::NotDeclared(id.to_string()))?;
    let r = range(block);
    let line_start = text[..r.start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[r.end..]
        .find('\n')
        .map_or(text.len(), |i| r.end + i + 1);
    let before = &text[line_start..r.start];
    let after = text[r.end..line_end].trim();
    let owns_line = before.trim().is_empty()
        && (after.is_empty() || after.starts_with('#') || after.starts_with("//"));
    let cut = if owns_line {
        line_start..line_end
    } else {
        r.start..r.end
    };
    Ok(format!("{}{}", &text[..cut.start], &text[cut.end..]))
}

/// Points a family's `active` at `id`: replaces the string literal, or, when
/// the family has no `active` yet, adds `active = "ID"` after its last
/// version block. Does not check that `id` is declared: validation does.
pub fn set_active(text: &str, family: &str, id: &str) -> Result<String, EditError> {
    let body = parse(text)?;
    let secret = find_secret(&body, family)?;
    match secret.body.get_attribute("active") {
        Some(attr) => {
            if !matches!(attr.value, Expression::String(_)) {
                return Err(EditError::ActiveNotLiteral);
            }
            let r = range(&attr.value);
            Ok(format!(
                "{}{}{}",
                &text[..r.start],
                quote(id),
                &text[r.end..]
            ))
        }
        None => {
            let line = format!("active = {}", quote(id));
            match secret
                .body
                .blocks()
                .filter(|b| b.ident.as_str() == "version")
                .last()
            {
                Some(last) => Ok(insert_line_after(text, range(last), &line)),
                None => insert_before_close(text, secret, family, &line),
            }
        }
    }
}

/// The `active` value as written, if it is a string literal.
pub fn active(text: &str, family: &str) -> Result<Option<String>, EditError> {
    let body = parse(text)?;
    let secret = find_secret(&body, family)?;
    Ok(
        match secret.body.get_attribute("active").map(|a| &a.value) {
            Some(Expression::String(s)) => Some(s.value().clone()),
            _ => None,
        },
    )
}

fn parse(text: &str) -> Result<Body, EditError> {
    hcl_edit::parser::parse_body(text).map_err(|e| EditError::Syntax(e.message().to_string()))
}

fn find_secret<'a>(body: &'a Body, family: &str) -> Result<&'a Block, EditError> {
    body.blocks()
        .find(|b| {
            b.ident.as_str() == "secret" && b.labels.len() == 1 && b.labels[0].as_str() == family
        })
        .ok_or_else(|| EditError::NoSecret(family.to_string()))
}

fn version_block<'a>(secret: &'a Block, id: &str) -> Option<&'a Block> {
    secret.body.blocks().find(|b| {
        b.ident.as_str() == "version" && b.labels.len() == 1 && b.labels[0].as_str() == id
    })
}

fn range(x: &impl hcl_edit::Span) -> Range<usize> {
    x.span().unwrap_or(0..0)
}

/// A string literal: quotes, with `\`, `"` and template openers escaped.
fn quote(s: &str) -> String {
    let escaped = s
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace("${", "$${")
        .replace("%{", "%%{");
    format!("\"{escaped}\"")
}

/// The whitespace that starts the line holding `offset`, up to `offset`;
/// `None` when something other than whitespace precedes it on its line.
fn indent_at(text: &str, offset: usize) -> Option<&str> {
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let indent = &text[line_start..offset];
    indent
        .chars()
        .all(|c| c == ' ' || c == '\t')
        .then_some(indent)
}

/// Inserts `line` on a new line after the line where `after` ends (after any
/// comment on it), indented like the line where `after` starts.
fn insert_line_after(text: &str, after: Range<usize>, line: &str) -> String {
    let indent = indent_at(text, after.start).unwrap_or("  ");
    match text[after.end..].find('\n') {
        Some(i) => {
            let at = after.end + i + 1;
            format!("{}{indent}{line}\n{}", &text[..at], &text[at..])
        }
        None => format!("{text}\n{indent}{line}\n"),
    }
}

/// Inserts `line` on a new line above the line holding `offset`, indented like it.
fn insert_line_before(text: &str, offset: usize, line: &str) -> String {
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let indent = indent_at(text, offset).unwrap_or("  ");
    format!(
        "{}{indent}{line}\n{}",
        &text[..line_start],
        &text[line_start..]
    )
}

/// Inserts `line` as the last line of a block's body, indented like the body's
/// first attribute or block (two spaces deeper than the header otherwise).
fn insert_before_close(
    text: &str,
    block: &Block,
    family: &str,
    line: &str,
) -> Result<String, EditError> {
    let r = range(block);
    let close = r.end.saturating_sub(1);
    let no_room = || EditError::NoRoom(family.to_string());
    if text.as_bytes().get(close) != Some(&b'}') {
        return Err(no_room());
    }
    // The closing brace must start its own line.
    indent_at(text, close).ok_or_else(no_room)?;
    let first = block
        .body
        .iter()
        .map(|s| range(s).start)
        .find(|&start| start > r.start);
    let indent = match first.and_then(|start| indent_at(text, start)) {
        Some(indent) => indent.to_string(),
        None => format!("{}  ", indent_at(text, r.start).unwrap_or("")),
    };
    let line_start = text[..close].rfind('\n').map_or(0, |i| i + 1);
    Ok(format!(
        "{}{indent}{line}\n{}",
        &text[..line_start],
        &text[line_start..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"# The team's key.
secret "k" {
  owner = "me"
  generate "rsa" { bits = 2048 }

  # the first one
  version "2026-08" {} # kid
  active  = "2026-08"  # emitters use this
}

# Another family.
secret "other" {
	generate "ec" {}
	version "a" {}
	version "b" {
	}
	active = "b"
}
"#;

    #[test]
    fn add_version_goes_after_the_last_version_with_its_indentation() {
        let out = add_version(SPEC, "k", "2026-11").unwrap();
        assert_eq!(
            out,
            SPEC.replace(
                "  version \"2026-08\" {} # kid\n",
                "  version \"2026-08\" {} # kid\n  version \"2026-11\" {}\n"
            )
        );
        // Tabs, and a last block over two lines.
        let out = add_version(SPEC, "other", "c").unwrap();
        assert!(out.contains("\tversion \"b\" {\n\t}\n\tversion \"c\" {}\n\tactive = \"b\"\n"));
        assert!(out.contains("# The team's key.") && out.contains("# the first one"));
    }

    #[test]
    fn set_active_replaces_only_the_literal() {
        let out = set_active(SPEC, "k", "2026-11").unwrap();
        assert_eq!(
            out,
            SPEC.replace(
                "active  = \"2026-08\"  # emitters",
                "active  = \"2026-11\"  # emitters"
            )
        );
        assert_eq!(active(&out, "k").unwrap().as_deref(), Some("2026-11"));
        assert_eq!(active(&out, "other").unwrap().as_deref(), Some("b"));
    }

    #[test]
    fn set_active_adds_the_attribute_when_missing() {
        let text = "secret \"k\" {\n  version \"v1\" {}\n}\n";
        assert_eq!(
            set_active(text, "k", "v1").unwrap(),
            "secret \"k\" {\n  version \"v1\" {}\n  active = \"v1\"\n}\n"
        );
    }

    #[test]
    fn set_active_refuses_an_expression() {
        let text = "secret \"k\" {\n  version \"v1\" {}\n  active = env(\"X\")\n}\n";
        assert_eq!(
            set_active(text, "k", "v1"),
            Err(EditError::ActiveNotLiteral)
        );
    }

    #[test]
    fn add_version_without_versions_goes_before_active_or_the_brace() {
        let text = "secret \"k\" {\n    owner = \"me\"\n    active = \"v1\"\n}\n";
        assert_eq!(
            add_version(text, "k", "v1").unwrap(),
            "secret \"k\" {\n    owner = \"me\"\n    version \"v1\" {}\n    active = \"v1\"\n}\n"
        );
        let text = "secret \"k\" {\n    owner = \"me\"\n}\n";
        assert_eq!(
            add_version(text, "k", "v1").unwrap(),
            "secret \"k\" {\n    owner = \"me\"\n    version \"v1\" {}\n}\n"
        );
        assert_eq!(
            add_version("secret \"k\" {}\n", "k", "v1"),
            Err(EditError::NoRoom("k".into()))
        );
    }

    #[test]
    fn remove_version_takes_its_line_and_keeps_other_comments() {
        let out = remove_version(SPEC, "k", "2026-08").unwrap();
        assert_eq!(out, SPEC.replace("  version \"2026-08\" {} # kid\n", ""));
        assert!(out.contains("  # the first one\n  active"));
        // A block over several lines goes whole.
        let out = remove_version(SPEC, "other", "b").unwrap();
        assert_eq!(out, SPEC.replace("\tversion \"b\" {\n\t}\n", ""));
    }

    #[test]
    fn add_then_remove_gives_back_the_text() {
        let added = add_version(SPEC, "k", "2026-11").unwrap();
        assert_eq!(remove_version(&added, "k", "2026-11").unwrap(), SPEC);
    }

    #[test]
    fn refusals_leave_nothing_to_write() {
        let added = add_version(SPEC, "k", "2026-11").unwrap();
        assert_eq!(
            add_version(&added, "k", "2026-11"),
            Err(EditError::Declared("2026-11".into()))
        );
        let removed = remove_version(SPEC, "k", "2026-08").unwrap();
        assert_eq!(
            remove_version(&removed, "k", "2026-08"),
            Err(EditError::NotDeclared("2026-08".into()))
        );
        assert_eq!(
            add_version(SPEC, "nope", "x"),
            Err(EditError::NoSecret("nope".into()))
        );
        // A version of another family is not this family's.
        assert_eq!(
            remove_version(SPEC, "k", "a"),
            Err(EditError::NotDeclared("a".into()))
        );
        assert!(matches!(
            add_version("secret \"k\" {", "k", "x"),
            Err(EditError::Syntax(_))
        ));
    }

    #[test]
    fn ids_are_quoted_as_literals() {
        assert_eq!(quote("a\"b${c}"), "\"a\\\"b$${c}\"");
    }
}
