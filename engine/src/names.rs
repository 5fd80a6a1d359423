//! The names that identify things across the engine, typed so that one is
//! not passed where another is meant: a [`FamilyName`], a [`VersionId`], a
//! [`ConsumerName`].
//!
//! Each is its text and nothing more. It is written as that text
//! everywhere: serde sees the bare string (`#[serde(transparent)]`), so the
//! state, saved plans and `plan --json` hold exactly the bytes they held
//! when these were `String`s, and `{}` and `{:?}` print what the string
//! printed. It borrows as a `str`, so a map keyed by names is read with a
//! `&str` (`families.get("session_signing_key")`). Making one checks
//! nothing: the spec parser checks the names a spec declares, and a name
//! read from state or given on the command line is looked up, not trusted.

use serde::{Deserialize, Serialize};
use std::borrow::Borrow;
use std::fmt;

/// The shared shape of a name: a `String` inside, and the conversions that
/// make it read like one without being one.
macro_rules! name {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The name's text, owned.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        /// As the string it is: `"session_signing_key"`.
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl From<String> for $name {
            fn from(text: String) -> $name {
                $name(text)
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> $name {
                $name(text.to_string())
            }
        }

        impl From<$name> for String {
            fn from(name: $name) -> String {
                name.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

name! {
    /// A secret family: one `secret "NAME"` block, and everything rotor
    /// keeps about it under that name — its record in the state, its
    /// versions in each store, its plan, its lease and its history.
    FamilyName
}

name! {
    /// One version of a family: the label of a `version "ID"` block, chosen
    /// by whoever writes the spec (`rotor rotate` picks a free `YYYY-MM` when
    /// not given one), or the id a store reports for a version found there
    /// without a history. Rotor writes the version's material to every store
    /// under it, keys its record in the state by it, and publishes its key
    /// with it as the `kid` — though a `kid` is its own thing, kept as text,
    /// since a publisher may list kids rotor never wrote. Unique within its
    /// family; stores that keep a tombstone (file, Vault, AWS) refuse to
    /// take a destroyed id again, the postgres store does not.
    VersionId
}

name! {
    /// A consumer: one `consumer "NAME"` block, a service, job or third
    /// party that accepts a family's versions (a verifier), emits with its
    /// active one (an emitter), or both. Unique among consumers: its name
    /// keys its evidence in a version's state, its probes among the
    /// providers, and is part of its gate ids (`accept.NAME`).
    ConsumerName
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn is_written_and_read_as_its_text() {
        let mut map = BTreeMap::new();
        map.insert(FamilyName::from("b"), 2);
        map.insert(FamilyName::from("a"), 1);
        let json = serde_json::to_string(&map).unwrap();
        assert_eq!(json, r#"{"a":1,"b":2}"#);
        let back: BTreeMap<FamilyName, i32> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, map);
        assert_eq!(map.get("a"), Some(&1));
        let name = FamilyName::from("session_signing_key");
        assert_eq!(name.to_string(), "session_signing_key");
        assert_eq!(format!("{name:?}"), r#""session_signing_key""#);
        assert_eq!(name, "session_signing_key");
    }
}
