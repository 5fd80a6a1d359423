//! Reading a block's attributes by name, typed and located.

use super::{Parser, range_of};
use crate::Span;
use crate::diagnostics::{Diagnostic, did_you_mean};
use crate::spec::{Located, RefKind, Reference, Settings, Value};
use crate::time::Duration;
use hcl_edit::Span as _;
use hcl_edit::structure::{Attribute, Body};

/// Reads a block body attribute by attribute, reporting duplicates and unknown keys.
pub(super) struct BodyReader<'p, 'a, 'e, 'b> {
    pub(super) p: &'p mut Parser<'a, 'e>,
    pub(super) body: &'b Body,
    attrs: Vec<&'b Attribute>,
    taken: Vec<String>,
    known: &'static [&'static str],
    generic: bool,
}

impl<'p, 'a, 'e, 'b> BodyReader<'p, 'a, 'e, 'b> {
    pub(super) fn new(
        p: &'p mut Parser<'a, 'e>,
        body: &'b Body,
        known: &'static [&'static str],
        generic: bool,
    ) -> Self {
        let mut attrs: Vec<&Attribute> = Vec::new();
        for a in body.attributes() {
            if let Some(first) = attrs.iter().find(|f| f.key.as_str() == a.key.as_str()) {
                let first_line = p.line_of(range_of(*first).start + p.base);
                let range = range_of(a);
                p.error(format!("`{}` is set twice", a.key.as_str()), range)
                    .detail = Some(format!("first set on line {first_line}; remove one"));
                continue;
            }
            attrs.push(a);
        }
        BodyReader {
            p,
            body,
            attrs,
            taken: Vec::new(),
            known,
            generic,
        }
    }

    fn get(&mut self, key: &str) -> Option<&'b Attribute> {
        self.taken.push(key.to_string());
        self.attrs.iter().copied().find(|a| a.key.as_str() == key)
    }

    /// Where attribute `key` is written, from its name to the end of its
    /// value; `None` when it is not. Does not count as reading it.
    pub(super) fn span_of(&self, key: &str) -> Option<Span> {
        let attr = self.attrs.iter().find(|a| a.key.as_str() == key)?;
        Some(self.p.span(range_of(*attr)))
    }

    fn value(&mut self, key: &str) -> Option<Located<Value>> {
        let attr = self.get(key)?;
        self.p.eval(&attr.value, key)
    }

    fn type_error(&mut self, key: &str, want: &str, span: &Span) {
        self.p.diags.push(
            Diagnostic::error(format!("`{key}` must be {want}"), Some(span.clone()))
                .label(format!("expected {want}")),
        );
    }

    pub(super) fn string(&mut self, key: &str) -> Option<Located<String>> {
        let v = self.value(key)?;
        match v.value {
            Value::String(s) => Some(Located {
                value: s,
                span: v.span,
            }),
            _ => {
                self.type_error(key, "a string", &v.span);
                None
            }
        }
    }

    pub(super) fn strings(&mut self, key: &str) -> Vec<Located<String>> {
        let Some(v) = self.value(key) else {
            return Vec::new();
        };
        let items = match v.value {
            Value::List(items) => items,
            Value::String(_) => vec![v.clone()],
            _ => {
                self.type_error(key, "a string or a list of strings", &v.span);
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for item in items {
            match item.value {
                Value::String(s) => out.push(Located {
                    value: s,
                    span: item.span,
                }),
                _ => self.type_error(key, "a list of strings", &item.span),
            }
        }
        out
    }

    pub(super) fn integer(&mut self, key: &str) -> Option<Located<u32>> {
        let v = self.value(key)?;
        match v.value {
            Value::Number(n) if n.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(&n) => {
                Some(Located {
                    value: n as u32,
                    span: v.span,
                })
            }
            _ => {
                self.type_error(key, "a whole number", &v.span);
                None
            }
        }
    }

    pub(super) fn duration(&mut self, key: &str) -> Option<Located<Duration>> {
        let s = self.string(key)?;
        match Duration::parse(&s.value) {
            Ok(d) => Some(Located {
                value: d,
                span: s.span,
            }),
            Err(e) => {
                self.p.diags.push(
                    Diagnostic::error(format!("`{key}`: {e}"), Some(s.span))
                        .hint("write a duration such as \"90s\", \"10m\", \"2h\" or \"90d\""),
                );
                None
            }
        }
    }

    pub(super) fn references(
        &mut self,
        key: &str,
        kind: RefKind,
        required: bool,
    ) -> Vec<Reference> {
        let Some(v) = self.value(key) else {
            if required {
                self.missing(
                    key,
                    &format!("a reference such as `{}.NAME`", kind.keyword()),
                );
            }
            return Vec::new();
        };
        let items = match v.value {
            Value::List(items) => items,
            _ => vec![v],
        };
        let mut out = Vec::new();
        for item in items {
            match item.value {
                Value::Ref(r) if r.kind == kind => out.push(r),
                Value::Ref(r) => {
                    self.p.diags.push(
                        Diagnostic::error(
                            format!(
                                "`{key}` must name a {}, not a {}",
                                kind.keyword(),
                                r.kind.keyword()
                            ),
                            Some(item.span),
                        )
                        .label(format!("this is {r}"))
                        .hint(format!(
                            "write `{} = {}.NAME`",
                            key,
                            kind.keyword()
                        )),
                    );
                }
                Value::String(s) => {
                    self.p.diags.push(
                        Diagnostic::error(
                            format!("`{key}` must be a reference, not a string"),
                            Some(item.span),
                        )
                        .hint(format!(
                            "remove the quotes: `{key} = {}.{s}`",
                            kind.keyword()
                        )),
                    );
                }
                _ => self.type_error(
                    key,
                    &format!("a reference to a {}", kind.keyword()),
                    &item.span,
                ),
            }
        }
        out
    }

    pub(super) fn reference(
        &mut self,
        key: &str,
        kind: RefKind,
        required: bool,
    ) -> Option<Reference> {
        let mut refs = self.references(key, kind, required);
        if refs.len() > 1 {
            let span = refs[1].span.clone();
            self.p.diags.push(Diagnostic::error(
                format!("`{key}` takes one reference"),
                Some(span),
            ));
        }
        if refs.is_empty() {
            None
        } else {
            Some(refs.swap_remove(0))
        }
    }

    fn missing(&mut self, key: &str, what: &str) {
        let block_start = self.body.span().map_or(0, |r| r.start.saturating_sub(1));
        let span = self.p.span(block_start..block_start + 1);
        self.p.diags.push(
            Diagnostic::error(format!("missing required attribute `{key}`"), Some(span))
                .hint(format!("add `{key} = …`: {what}")),
        );
    }

    /// Every attribute not yet read, evaluated, for provider settings.
    pub(super) fn all_settings(&mut self) -> Settings {
        let mut out = Settings::default();
        let attrs = self.attrs.clone();
        for a in attrs {
            let key = a.key.as_str().to_string();
            if self.taken.contains(&key) || !(self.generic || self.known.contains(&key.as_str())) {
                continue;
            }
            if let Some(v) = self.p.eval(&a.value, &key) {
                out.insert(key.clone(), v);
            }
            self.taken.push(key);
        }
        out
    }

    /// Reports attributes nobody read and blocks not in `blocks`.
    pub(super) fn finish(self, blocks: &[&str]) {
        for a in &self.attrs {
            let key = a.key.as_str();
            if self.taken.iter().any(|t| t == key) || (self.generic && self.known.is_empty()) {
                continue;
            }
            let range = range_of(&a.key);
            let hint = match did_you_mean(key, self.known.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None if self.known.is_empty() => "this block takes no attributes".into(),
                None => format!("known attributes here: {}", self.known.join(", ")),
            };
            self.p
                .error(format!("unknown attribute `{key}`"), range)
                .hint = Some(hint);
        }
        for b in self.body.blocks() {
            let ident = b.ident.as_str();
            if blocks.contains(&ident) {
                continue;
            }
            let range = range_of(&b.ident);
            let hint = match did_you_mean(ident, blocks.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None if blocks.is_empty() => "this block takes no nested blocks".into(),
                None => format!("blocks allowed here: {}", blocks.join(", ")),
            };
            self.p
                .error(format!("unexpected block `{ident}`"), range)
                .hint = Some(hint);
        }
    }
}
