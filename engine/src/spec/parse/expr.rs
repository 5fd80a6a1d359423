//! rotor's small expression language: literals, lists, references,
//! `${…}` interpolation and `env("NAME")`, each value located, and the rule
//! that material never sits in a spec.

use super::{Parser, TOP_LEVEL, range_of};
use crate::diagnostics::did_you_mean;
use crate::spec::{Located, RefKind, Reference, Value};
use hcl_edit::expr::{Expression, TraversalOperator};
use hcl_edit::template::Element;

/// Attribute names whose literal values would be material.
const SENSITIVE_KEYS: &[&str] = &[
    "password",
    "secret_value",
    "token",
    "api_key",
    "private_key",
    "key_material",
    "client_secret",
];

/// What a probe fills into its settings at run time.
pub const PROBE_PLACEHOLDERS: [&str; 4] = ["version", "kid", "family", "consumer"];

impl Parser<'_, '_> {
    /// Evaluates an expression. `key` is the attribute it belongs to, for the material rule.
    pub(super) fn eval(&mut self, expr: &Expression, key: &str) -> Option<Located<Value>> {
        let range = range_of(expr);
        let span = self.span(range.clone());
        let value = match expr {
            Expression::String(s) => {
                let text = s.value().clone();
                self.check_literal(key, &text, range.clone());
                Value::String(text)
            }
            Expression::StringTemplate(t) => {
                let mut out = String::new();
                for element in t.iter() {
                    match element {
                        Element::Literal(lit) => {
                            self.check_literal(key, lit.value(), range.clone());
                            out.push_str(lit.value());
                        }
                        Element::Interpolation(i)
                            if self.placeholders
                                && matches!(&i.expr, Expression::Variable(v) if PROBE_PLACEHOLDERS.contains(&v.as_str())) =>
                        {
                            out.push_str(&format!(
                                "${{{}}}",
                                i.expr.as_variable().expect("matched").as_str()
                            ));
                        }
                        Element::Interpolation(i) => match self.eval(&i.expr, key)?.value {
                            Value::String(s) => out.push_str(&s),
                            Value::Number(n) => out.push_str(&n.to_string()),
                            _ => {
                                self.error("only strings can be interpolated", range_of(&i.expr));
                                return None;
                            }
                        },
                        Element::Directive(_) => {
                            self.error("template directives are not supported", range.clone())
                                .hint = Some("write `$${` to keep a literal `${`".into());
                            return None;
                        }
                    }
                }
                Value::String(out)
            }
            Expression::HeredocTemplate(h) => {
                let mut out = String::new();
                for element in h.template.iter() {
                    match element.as_literal() {
                        Some(lit) => out.push_str(lit.value()),
                        None => {
                            self.error("heredocs with interpolations are not supported", range);
                            return None;
                        }
                    }
                }
                self.check_literal(key, &out, range.clone());
                Value::String(out)
            }
            Expression::Number(n) => Value::Number(n.value().as_f64().unwrap_or(f64::NAN)),
            Expression::Bool(b) => Value::Bool(*b.value()),
            Expression::Array(a) => {
                let mut items = Vec::new();
                for item in a.iter() {
                    items.push(self.eval(item, key)?);
                }
                Value::List(items)
            }
            Expression::Parenthesis(p) => return self.eval(p.inner(), key),
            Expression::FuncCall(call) => {
                let name = call.name.name.as_str();
                if name != "env" || call.name.is_namespaced() {
                    self.error(format!("unknown function `{name}`"), range).hint = Some(
                        "the one function is `env(\"NAME\")`, which reads an environment variable"
                            .into(),
                    );
                    return None;
                }
                let arg = match (call.args.len(), call.args.get(0)) {
                    (1, Some(Expression::String(s))) => s.value().clone(),
                    _ => {
                        self.error("`env` takes one string: the variable's name", range)
                            .hint = Some("write `env(\"VAULT_ADDR\")`".into());
                        return None;
                    }
                };
                match (self.env)(&arg) {
                    Some(v) => Value::String(v),
                    None => {
                        self.error(format!("environment variable `{arg}` is not set"), range)
                            .hint = Some(format!("export {arg}=… before running rotor"));
                        return None;
                    }
                }
            }
            Expression::Traversal(t) => {
                let Expression::Variable(root) = &t.expr else {
                    self.error("unsupported expression", range);
                    return None;
                };
                let mut path = Vec::new();
                for op in &t.operators {
                    match op.value() {
                        TraversalOperator::GetAttr(ident) => path.push(ident.as_str().to_string()),
                        _ => {
                            self.error(
                                "references are written `kind.name`, without indexes or splats",
                                range,
                            );
                            return None;
                        }
                    }
                }
                let kind = match root.as_str() {
                    "store" => RefKind::Store,
                    "secret" => RefKind::Secret,
                    "publish" => RefKind::Publish,
                    "consumer" => RefKind::Consumer,
                    other => {
                        let d = self.error(
                            format!("unknown reference `{other}.{}`", path.join(".")),
                            range,
                        );
                        d.hint = Some(match did_you_mean(other, TOP_LEVEL.iter().copied()) {
                            Some(s) => format!("did you mean `{s}.{}`?", path.join(".")),
                            None => "references start with store., secret., publish. or consumer."
                                .into(),
                        });
                        return None;
                    }
                };
                Value::Ref(Reference {
                    kind,
                    path,
                    span: span.clone(),
                })
            }
            Expression::Variable(v) => {
                let name = v.as_str();
                self.error(format!("`{name}` is not a value"), range).hint = Some(format!(
                    "quote it (\"{name}\") for a string, or write a reference such as `secret.{name}`"
                ));
                return None;
            }
            _ => {
                self.error("unsupported expression", range).hint =
                    Some("use a string, number, boolean, list, reference or env(\"NAME\")".into());
                return None;
            }
        };
        Some(Located { value, span })
    }

    /// The rule from the field: material never sits in a spec.
    fn check_literal(&mut self, key: &str, text: &str, range: std::ops::Range<usize>) {
        let sensitive = SENSITIVE_KEYS.iter().any(|k| {
            key.strip_suffix(k)
                .is_some_and(|rest| rest.is_empty() || rest.ends_with('_'))
        });
        let reason = if text.contains("-----BEGIN") || text.contains("PRIVATE KEY") {
            Some("it looks like a PEM key")
        } else if sensitive && !text.is_empty() {
            Some("the attribute holds a credential")
        } else if looks_random(text) {
            Some("it looks like key material (a long random-looking string)")
        } else {
            None
        };
        if let Some(reason) = reason {
            let d = self.error(
                format!("a literal in `{key}` looks like secret material: {reason}"),
                range,
            );
            d.conceal = true;
            d.hint = Some(format!(
                "material lives only in stores; read configuration with env(\"NAME\") instead of writing it in `{key}`"
            ));
        }
    }
}

/// 32 or more characters from a base64/hex alphabet, mixing digits and letters,
/// with no spaces: the shape of an API key, an HMAC secret or a private key body.
fn looks_random(text: &str) -> bool {
    if text.len() < 32 || text.contains(char::is_whitespace) {
        return false;
    }
    let alphabet = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '-' | '_'));
    let digits = text.chars().filter(char::is_ascii_digit).count();
    let upper = text.chars().filter(char::is_ascii_uppercase).count();
    let lower = text.chars().filter(char::is_ascii_lowercase).count();
    let hexish = text.chars().all(|c| c.is_ascii_hexdigit()) && digits > 0 && (upper + lower) > 0;
    alphabet && (hexish || (digits >= 4 && upper >= 4 && lower >= 4))
}
