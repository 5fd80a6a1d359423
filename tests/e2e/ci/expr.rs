//! GitHub Actions expressions (`${{ … }}` and `if:`), as far as the example
//! workflows use them: context paths (`github.event.pull_request.number`,
//! `steps.plan.outputs.rc`), string and number literals, `!`, `==`, `!=`,
//! `&&`, `||` (which return an operand, as GitHub's do), parentheses, and the
//! functions `startsWith`, `contains`, `always`, `success`, `failure`,
//! `cancelled`. Anything else panics naming the expression, so a workflow
//! that starts using more fails the test instead of being misread.

use serde_json::Value;

/// The values expressions read: `{"github": {...}, "vars": {...}, ...}`, and
/// whether the job has failed so far (for `success()` / `failure()`).
pub struct Context<'a> {
    pub values: &'a Value,
    pub failed: bool,
}

/// Replaces every `${{ expr }}` in `text` with its value as a string.
pub fn interpolate(text: &str, cx: &Context) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 3..];
        let end = after
            .find("}}")
            .unwrap_or_else(|| panic!("unclosed ${{{{ in {text:?}"));
        out.push_str(&to_string(&eval(&after[..end], cx)));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// An `if:` condition: with no status function in it, GitHub reads it as
/// `success() && (condition)`.
pub fn condition(text: &str, cx: &Context) -> bool {
    let text = text.trim();
    let text = text
        .strip_prefix("${{")
        .and_then(|t| t.strip_suffix("}}"))
        .unwrap_or(text);
    let status = ["always()", "success()", "failure()", "cancelled()"]
        .iter()
        .any(|f| text.contains(f));
    let value = truthy(&eval(text, cx));
    if status { value } else { !cx.failed && value }
}

pub fn eval(text: &str, cx: &Context) -> Value {
    let tokens = lex(text);
    let mut p = Parser {
        tokens: &tokens,
        at: 0,
        cx,
        text,
    };
    let v = p.or();
    assert!(
        p.at == tokens.len(),
        "unexpected {:?} in expression {text:?}",
        tokens.get(p.at)
    );
    v
}

pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

pub fn to_string(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Num(f64),
    Op(&'static str),
}

fn lex(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' {
            let mut s = String::new();
            i += 1;
            loop {
                assert!(i < chars.len(), "unclosed string in {text:?}");
                if chars[i] == '\'' {
                    if chars.get(i + 1) == Some(&'\'') {
                        s.push('\'');
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                s.push(chars[i]);
                i += 1;
            }
            out.push(Token::Str(s));
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let n: String = chars[start..i].iter().collect();
            out.push(Token::Num(n.parse().unwrap()));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || "_-".contains(chars[i])) {
                i += 1;
            }
            out.push(Token::Ident(chars[start..i].iter().collect()));
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let op = ["==", "!=", "&&", "||"]
                .into_iter()
                .find(|o| *o == two)
                .inspect(|_| i += 2)
                .or_else(|| {
                    let one = ["!", "(", ")", ".", ",", "[", "]"]
                        .into_iter()
                        .find(|o| o.starts_with(c))?;
                    i += 1;
                    Some(one)
                })
                .unwrap_or_else(|| panic!("unexpected {c:?} in expression {text:?}"));
            out.push(Token::Op(op));
        }
    }
    out
}

struct Parser<'t, 'c> {
    tokens: &'t [Token],
    at: usize,
    cx: &'t Context<'c>,
    text: &'t str,
}

impl Parser<'_, '_> {
    fn peek_op(&self, op: &str) -> bool {
        matches!(self.tokens.get(self.at), Some(Token::Op(o)) if *o == op)
    }

    fn expect(&mut self, op: &str) {
        assert!(self.peek_op(op), "expected {op} in {:?}", self.text);
        self.at += 1;
    }

    fn or(&mut self) -> Value {
        let mut left = self.and();
        while self.peek_op("||") {
            self.at += 1;
            let right = self.and();
            if !truthy(&left) {
                left = right;
            }
        }
        left
    }

    fn and(&mut self) -> Value {
        let mut left = self.compare();
        while self.peek_op("&&") {
            self.at += 1;
            let right = self.compare();
            if truthy(&left) {
                left = right;
            }
        }
        left
    }

    fn compare(&mut self) -> Value {
        let left = self.unary();
        for (op, equal) in [("==", true), ("!=", false)] {
            if self.peek_op(op) {
                self.at += 1;
                let right = self.unary();
                return Value::Bool(loose_eq(&left, &right) == equal);
            }
        }
        left
    }

    fn unary(&mut self) -> Value {
        if self.peek_op("!") {
            self.at += 1;
            return Value::Bool(!truthy(&self.unary()));
        }
        self.primary()
    }

    fn primary(&mut self) -> Value {
        let token = self
            .tokens
            .get(self.at)
            .cloned()
            .unwrap_or_else(|| panic!("expression {:?} ends early", self.text));
        self.at += 1;
        match token {
            Token::Str(s) => Value::String(s),
            Token::Num(n) => serde_json::json!(n),
            Token::Op("(") => {
                let v = self.or();
                self.expect(")");
                v
            }
            Token::Ident(name) if self.peek_op("(") => self.call(&name),
            Token::Ident(name) => match name.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                _ => self.path(name),
            },
            Token::Op(op) => panic!("unexpected {op} in expression {:?}", self.text),
        }
    }

    fn path(&mut self, root: String) -> Value {
        let mut v = self.cx.values.get(&root).cloned().unwrap_or(Value::Null);
        loop {
            if self.peek_op(".") {
                self.at += 1;
                let Some(Token::Ident(key)) = self.tokens.get(self.at).cloned() else {
                    panic!("expected a name after . in {:?}", self.text);
                };
                self.at += 1;
                v = v.get(&key).cloned().unwrap_or(Value::Null);
            } else if self.peek_op("[") {
                self.at += 1;
                let key = self.or();
                self.expect("]");
                v = match key {
                    Value::String(k) => v.get(&k).cloned(),
                    Value::Number(n) => v.get(n.as_f64().unwrap() as usize).cloned(),
                    _ => None,
                }
                .unwrap_or(Value::Null);
            } else {
                return v;
            }
        }
    }

    fn call(&mut self, name: &str) -> Value {
        self.expect("(");
        let mut args = Vec::new();
        while !self.peek_op(")") {
            args.push(self.or());
            if self.peek_op(",") {
                self.at += 1;
            }
        }
        self.expect(")");
        let text = |i: usize| to_string(&args[i]).to_lowercase();
        match (name, args.len()) {
            ("always", 0) => Value::Bool(true),
            ("success", 0) => Value::Bool(!self.cx.failed),
            ("failure", 0) => Value::Bool(self.cx.failed),
            ("cancelled", 0) => Value::Bool(false),
            ("startsWith", 2) => Value::Bool(text(0).starts_with(&text(1))),
            ("contains", 2) => Value::Bool(match &args[0] {
                Value::Array(items) => items.iter().any(|i| loose_eq(i, &args[1])),
                _ => text(0).contains(&text(1)),
            }),
            _ => panic!(
                "function {name} with {} arguments is not simulated ({:?})",
                args.len(),
                self.text
            ),
        }
    }
}

/// GitHub compares strings case-insensitively and numbers by value.
fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Number(x), Value::String(y)) | (Value::String(y), Value::Number(x)) => {
            y.trim().parse::<f64>().ok() == x.as_f64()
        }
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        _ => to_string(a).to_lowercase() == to_string(b).to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expressions_read_as_github_reads_them() {
        let values = json!({
            "github": {"event_name": "pull_request", "event": {"pull_request": {"number": 7}}},
            "vars": {},
            "steps": {"plan": {"outputs": {"rc": "2"}}},
        });
        let cx = Context {
            values: &values,
            failed: false,
        };
        assert_eq!(to_string(&eval("vars.ROTOR_DIR || '.'", &cx)), ".");
        assert_eq!(
            interpolate("n=${{ github.event.pull_request.number }}", &cx),
            "n=7"
        );
        assert!(condition(
            "github.event_name == 'pull_request' && steps.plan.outputs.rc != '0'",
            &cx
        ));
        assert!(!condition("startsWith('/rotor x', '/rotor approve ')", &cx));
        let failed = Context {
            values: &values,
            failed: true,
        };
        assert!(!condition("github.event_name == 'pull_request'", &failed));
        assert!(condition("always() && steps.plan.outputs.rc == 2", &failed));
    }
}
