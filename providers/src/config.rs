//! Reading a provider's settings from its spec block.
//!
//! The engine keeps each `store`, `publish` and `verify` block's attributes
//! as a generic map, so that a new provider kind never touches the engine.
//! Each provider reads its own settings here and reports a problem as a
//! [`ConfigError`] pointing at the attribute (or the block, for a missing
//! one), which [`crate::build_providers`] turns into a spec diagnostic.

use rotor_engine::Diagnostic;
use rotor_engine::Span;
use rotor_engine::diagnostics::did_you_mean;
use rotor_engine::spec::{Located, Value};
use std::fmt;

/// A provider setting that is missing, unknown or of the wrong type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// One line: what is wrong.
    pub message: String,
    /// The attribute at fault, or the block when an attribute is missing.
    pub span: Span,
    /// How to fix it.
    pub hint: Option<String>,
}

impl ConfigError {
    pub(crate) fn new(message: impl Into<String>, span: &Span) -> ConfigError {
        ConfigError {
            message: message.into(),
            span: span.clone(),
            hint: None,
        }
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> ConfigError {
        self.hint = Some(hint.into());
        self
    }

    /// The error as a spec diagnostic.
    pub fn into_diagnostic(self) -> Diagnostic {
        let d = Diagnostic::error(self.message, Some(self.span));
        match self.hint {
            Some(h) => d.hint(h),
            None => d,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// One error where a list is returned: a reader that can report several
/// problems (`build` in the registry) takes `?` on one that reports one.
impl From<ConfigError> for Vec<ConfigError> {
    fn from(e: ConfigError) -> Vec<ConfigError> {
        vec![e]
    }
}

/// The settings of one block, with what is needed to explain mistakes.
pub(crate) struct Settings<'a> {
    /// How the block is named in messages: `store "file"`.
    pub what: String,
    pub map: &'a rotor_engine::spec::Settings,
    pub block: &'a Span,
}

impl<'a> Settings<'a> {
    /// The settings of a `BLOCK "KIND"` block (`store "vault"`, `verify "http"`).
    pub fn of(
        block_type: &str,
        kind: &str,
        map: &'a rotor_engine::spec::Settings,
        block: &'a Span,
    ) -> Settings<'a> {
        Settings {
            what: format!("{block_type} \"{kind}\""),
            map,
            block,
        }
    }

    /// Fails on the first attribute that is neither `known` nor `engine_owned`
    /// (attributes the engine reads itself, which it may leave in the map).
    pub fn only(&self, known: &[&str], engine_owned: &[&str]) -> Result<(), ConfigError> {
        for (key, value) in self.map {
            if known.contains(&key.as_str()) || engine_owned.contains(&key.as_str()) {
                continue;
            }
            let err =
                ConfigError::new(format!("{} has no setting `{key}`", self.what), &value.span);
            return Err(match did_you_mean(key, known.iter().copied()) {
                Some(s) => err.hint(format!("did you mean `{s}`?")),
                None if known.is_empty() => err.hint(format!("{} takes no settings", self.what)),
                None => err.hint(format!("{} takes: {}", self.what, known.join(", "))),
            });
        }
        Ok(())
    }

    /// A string setting, if present.
    pub fn string(&self, key: &str) -> Result<Option<(&'a str, &'a Span)>, ConfigError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Located {
                value: Value::String(s),
                span,
            }) => Ok(Some((s.as_str(), span))),
            Some(other) => Err(self.wrong_type(key, other, "a string")),
        }
    }

    /// A string setting that must be present.
    pub fn required_string(
        &self,
        key: &str,
        example: &str,
    ) -> Result<(&'a str, &'a Span), ConfigError> {
        self.string(key)?.ok_or_else(|| {
            ConfigError::new(format!("{} needs a `{key}` setting", self.what), self.block)
                .hint(format!("add `{key} = {example}`"))
        })
    }

    /// A duration setting longer than zero (`"10s"`, `"2m"`), if present.
    pub fn duration(
        &self,
        key: &str,
    ) -> Result<Option<(rotor_engine::Duration, &'a Span)>, ConfigError> {
        let Some((text, span)) = self.string(key)? else {
            return Ok(None);
        };
        match rotor_engine::Duration::parse(text) {
            Ok(d) if d > rotor_engine::Duration::ZERO => Ok(Some((d, span))),
            Ok(_) => Err(
                ConfigError::new(format!("`{key}` must be longer than zero"), span)
                    .hint("write a duration such as \"10s\""),
            ),
            Err(e) => Err(
                ConfigError::new(format!("`{key}` is not a duration: {e}"), span)
                    .hint("write a duration such as \"10s\" or \"2m\""),
            ),
        }
    }

    /// A number setting, if present.
    pub fn number(&self, key: &str) -> Result<Option<(f64, &'a Span)>, ConfigError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Located {
                value: Value::Number(n),
                span,
            }) => Ok(Some((*n, span))),
            Some(other) => Err(self.wrong_type(key, other, "a number")),
        }
    }

    /// A TCP port (1 to 65535), as a number or a string of digits, if present.
    // Read by the postgres blocks only, so far.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub fn port(&self, key: &str) -> Result<Option<(u16, &'a Span)>, ConfigError> {
        let Some(located) = self.map.get(key) else {
            return Ok(None);
        };
        let parsed = match &located.value {
            Value::Number(n) if n.fract() == 0.0 && (1.0..=65535.0).contains(n) => Some(*n as u16),
            Value::String(s) => s.parse::<u16>().ok().filter(|p| *p > 0),
            Value::Number(_) => None,
            _ => return Err(self.wrong_type(key, located, "a number")),
        };
        match parsed {
            Some(port) => Ok(Some((port, &located.span))),
            None => Err(ConfigError::new(
                format!(
                    "`{key}` must be a TCP port from 1 to 65535, not {}",
                    describe(&located.value)
                ),
                &located.span,
            )),
        }
    }

    pub fn wrong_type(&self, key: &str, found: &Located<Value>, wanted: &str) -> ConfigError {
        ConfigError::new(
            format!(
                "`{key}` in {} must be {wanted}, not {}",
                self.what,
                describe(&found.value)
            ),
            &found.span,
        )
    }
}

/// `a number`, `a list`, … for messages. Never the value itself: a setting
/// may hold a token read through `env()`.
pub(crate) fn describe(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "a string",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
        Value::List(_) => "a list",
        Value::Ref(_) => "a reference",
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A span for tests: file 0, bytes `start..start + 1`.
    pub fn span(start: usize) -> Span {
        Span {
            file: 0,
            range: start..start + 1,
        }
    }

    /// A located string setting.
    pub fn string(s: &str, at: usize) -> Located<Value> {
        Located {
            value: Value::String(s.into()),
            span: span(at),
        }
    }

    /// String settings, the n-th (from 0) at byte `10 * (n + 1)`.
    pub fn settings(list: &[(&str, &str)]) -> rotor_engine::spec::Settings {
        let mut settings = rotor_engine::spec::Settings::default();
        for (i, (k, v)) in list.iter().enumerate() {
            settings.insert(k.to_string(), string(v, 10 * (i + 1)));
        }
        settings
    }

    /// A `store "KIND" "NAME"` block at byte 0 with [`settings`].
    pub fn store_spec(
        kind: &str,
        name: &str,
        list: &[(&str, &str)],
    ) -> rotor_engine::spec::StoreSpec {
        rotor_engine::spec::StoreSpec {
            kind: kind.into(),
            name: name.into(),
            settings: settings(list),
            span: span(0),
        }
    }

    /// The moto server `scripts/test` starts (`scripts/services/moto`): its
    /// endpoint, with the credentials it takes checked to be set.
    #[cfg(feature = "aws")]
    pub fn moto_endpoint() -> String {
        for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
            assert!(
                std::env::var_os(name).is_some(),
                "{name} is not set: run scripts/test, which starts moto and sets it"
            );
        }
        std::env::var("ROTOR_AWS_ENDPOINT").unwrap_or_else(|_| {
            panic!("ROTOR_AWS_ENDPOINT is not set: run scripts/test, which starts moto and sets it")
        })
    }

    #[test]
    fn unknown_and_mistyped_settings_point_at_the_attribute() {
        let mut map = rotor_engine::spec::Settings::default();
        map.insert("pth".to_string(), string("x", 7));
        let block = span(0);
        let s = Settings {
            what: "store \"file\"".into(),
            map: &map,
            block: &block,
        };
        let e = s.only(&["path"], &[]).unwrap_err();
        assert_eq!(e.message, "store \"file\" has no setting `pth`");
        assert_eq!(e.span, span(7));
        assert_eq!(e.hint.as_deref(), Some("did you mean `path`?"));

        map.clear();
        map.insert(
            "path".to_string(),
            Located {
                value: Value::Number(3.0),
                span: span(9),
            },
        );
        let s = Settings {
            what: "store \"file\"".into(),
            map: &map,
            block: &block,
        };
        let e = s.string("path").unwrap_err();
        assert_eq!(
            e.message,
            "`path` in store \"file\" must be a string, not a number"
        );
        assert_eq!(e.span, span(9));
    }
}
