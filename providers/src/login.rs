//! The material of a `generate "login"` version: `{"username", "password"}`.
//!
//! One format, written by the generator and read by everything that logs in
//! with it: the `postgres` store (which sets the role's password), the
//! `postgres` probe (which logs in) and the `http` probe's `basic`
//! credential (which sends both). The password travels in a
//! [`SecretValue`]; nothing here formats it into a message.

use rotor_engine::SecretValue;
use zeroize::Zeroizing;

/// A login: a user name and its password.
pub(crate) struct Login {
    pub username: String,
    pub password: SecretValue,
}

impl Login {
    /// Parses material; `None` when it is not a login. Other members are
    /// ignored.
    pub fn parse(material: &[u8]) -> Option<Login> {
        #[derive(serde::Deserialize)]
        struct Raw {
            username: String,
            password: String,
        }
        let raw: Raw = serde_json::from_slice(material).ok()?;
        Some(Login {
            username: raw.username,
            // Moved, not copied: the bytes are zeroed when the login is dropped.
            password: SecretValue::new(raw.password.into_bytes()),
        })
    }

    /// The material of a login, as [`Login::parse`] reads it.
    pub fn material(username: &str, password: &str) -> Zeroizing<String> {
        Zeroizing::new(
            serde_json::json!({ "username": username, "password": password }).to_string(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn material_reads_back_and_anything_else_is_not_a_login() {
        let m = Login::material("app_a", "canary-pw");
        let login = Login::parse(m.as_bytes()).unwrap();
        assert_eq!(login.username, "app_a");
        assert_eq!(login.password.expose(), b"canary-pw");
        assert!(Login::parse(b"canary-pw").is_none());
        assert!(Login::parse(br#"{"username":"app_a"}"#).is_none());
    }
}
