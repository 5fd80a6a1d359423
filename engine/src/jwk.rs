//! JWKs and their thumbprints (RFC 7638): how rotor tells one public key
//! from another.
//!
//! A `kid` is only a label: after a family is renamed, or `.rotor/` is lost
//! while a published JWKS survives, a key set can list the right kid with
//! the wrong key. Publishers, the planner and the `jwks` probe therefore
//! compare keys by thumbprint, never by kid alone.
//!
//! Rotor's own keys are a [`Jwk`]: what a generator makes, a store keeps and
//! a publisher writes. A key set fetched from elsewhere may hold any key
//! type, or a broken key; it is read as JSON and thumbprinted with
//! [`thumbprint_of_listed`], which never refuses one.

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The public half of a key pair rotor generates, as a JSON Web Key
/// (RFC 7517): the members that say which key it is, without `kid`, `alg`
/// or `use`, which belong to the version that holds it.
///
/// It serialises as a JSON object of its members in lexicographic order
/// (`{"crv","kty","x","y"}`, `{"e","kty","n"}`): the order stores and key
/// sets have always been written in (a `serde_json` map is sorted), and the
/// order of the RFC 7638 canonical form. Reading one ignores members it does
/// not know; a `kty` other than `RSA` or `EC` is an error.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kty")]
pub enum Jwk {
    /// `"kty": "RSA"`: modulus and public exponent, base64url big-endian.
    #[serde(rename = "RSA")]
    Rsa {
        /// The modulus.
        n: String,
        /// The public exponent.
        e: String,
    },
    /// `"kty": "EC"`: the curve and the point's coordinates, base64url.
    #[serde(rename = "EC")]
    Ec {
        /// The curve, `P-256`.
        crv: String,
        /// The x coordinate.
        x: String,
        /// The y coordinate.
        y: String,
    },
}

impl Jwk {
    /// Its members, `kty` included, name and value in lexicographic order
    /// of name.
    pub fn members(&self) -> Vec<(&'static str, &str)> {
        match self {
            Jwk::Rsa { n, e } => vec![("e", e), ("kty", "RSA"), ("n", n)],
            Jwk::Ec { crv, x, y } => vec![("crv", crv), ("kty", "EC"), ("x", x), ("y", y)],
        }
    }

    /// The value of one member (`kty`, `crv`, …), if it has it.
    pub fn member(&self, name: &str) -> Option<&str> {
        self.members()
            .into_iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// The RFC 7638 thumbprint: SHA-256 over the JSON of its required
    /// members in lexicographic order without whitespace, as `sha256:` and
    /// lowercase hex. A `Jwk` holds exactly its required members and
    /// serialises them in that order, so its compact JSON is the canonical
    /// form.
    pub fn thumbprint(&self) -> String {
        digest(&serde_json::to_string(self).expect("a JWK serialises"))
    }
}

impl Serialize for Jwk {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let members = self.members();
        let mut map = serializer.serialize_map(Some(members.len()))?;
        for (name, value) in members {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// The RFC 7638 thumbprint of a key as a foreign key set lists it (a
/// fetched or published JWKS), which may be any key type or a broken key:
/// its required members (by `kty`) are hashed as [`Jwk::thumbprint`] does,
/// a missing one as `null`; members that are not part of the key (`kid`,
/// `alg`, `use`) never change it. A `kty` rotor does not know is hashed over
/// every member but those three and `key_ops`, so that two different keys
/// still differ. For a well-formed [`Jwk`] it is the same as its own.
pub fn thumbprint_of_listed(jwk: &Map<String, Value>) -> String {
    let required: &[&str] = match jwk.get("kty").and_then(Value::as_str) {
        Some("RSA") => &["e", "kty", "n"],
        Some("EC") => &["crv", "kty", "x", "y"],
        Some("OKP") => &["crv", "kty", "x"],
        Some("oct") => &["k", "kty"],
        _ => &[],
    };
    let mut canonical = Map::new();
    if required.is_empty() {
        for (k, v) in jwk {
            if !matches!(k.as_str(), "kid" | "alg" | "use" | "key_ops") {
                canonical.insert(k.clone(), v.clone());
            }
        }
    } else {
        for k in required {
            canonical.insert(
                (*k).to_string(),
                jwk.get(*k).cloned().unwrap_or(Value::Null),
            );
        }
    }
    // serde_json's map is ordered by key, and `to_string` writes no whitespace.
    digest(&serde_json::to_string(&Value::Object(canonical)).expect("a JWK serialises"))
}

/// `sha256:` and the lowercase hex SHA-256 of a canonical JWK text.
fn digest(canonical: &str) -> String {
    format!(
        "sha256:{}",
        crate::state::hex(&Sha256::digest(canonical.as_bytes()))
    )
}

/// The first characters of a thumbprint, for messages.
pub fn short(thumbprint: &str) -> &str {
    let end = thumbprint.len().min("sha256:".len() + 12);
    &thumbprint[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn rfc_7638_example() {
        // The example key of RFC 7638 section 3.1.
        let jwk = map(json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        }));
        let expected_b64 = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
        let expected: Vec<u8> = {
            // base64url decode without a dependency: the test's own tiny decoder.
            let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let mut bits = 0u32;
            let mut n = 0;
            let mut out = Vec::new();
            for c in expected_b64.bytes() {
                bits = (bits << 6) | alphabet.iter().position(|a| *a == c).unwrap() as u32;
                n += 6;
                if n >= 8 {
                    n -= 8;
                    out.push((bits >> n) as u8);
                }
            }
            out
        };
        let expected = format!("sha256:{}", crate::state::hex(&expected));
        assert_eq!(thumbprint_of_listed(&jwk), expected);
        let typed: Jwk = serde_json::from_value(Value::Object(jwk)).unwrap();
        assert!(matches!(typed, Jwk::Rsa { .. }));
        assert_eq!(typed.thumbprint(), expected);
    }

    /// The typed key and the tolerant reading agree on every well-formed
    /// key, so a key rotor publishes is recognised when it is read back.
    #[test]
    fn a_typed_key_and_its_listing_have_one_thumbprint() {
        let rsa = Jwk::Rsa {
            n: "nn".into(),
            e: "AQAB".into(),
        };
        let ec = Jwk::Ec {
            crv: "P-256".into(),
            x: "xx".into(),
            y: "yy".into(),
        };
        for jwk in [rsa, ec] {
            let Value::Object(mut listed) = serde_json::to_value(&jwk).unwrap() else {
                panic!("a JWK is an object");
            };
            listed.insert("kid".into(), "k".into());
            listed.insert("alg".into(), "ES256".into());
            assert_eq!(jwk.thumbprint(), thumbprint_of_listed(&listed));
        }
    }

    /// Written as a sorted map always was; read ignoring members it does not
    /// know, refusing a key type it does not.
    #[test]
    fn serialises_sorted_and_reads_leniently() {
        let ec = Jwk::Ec {
            crv: "P-256".into(),
            x: "xx".into(),
            y: "yy".into(),
        };
        let text = r#"{"crv":"P-256","kty":"EC","x":"xx","y":"yy"}"#;
        assert_eq!(serde_json::to_string(&ec).unwrap(), text);
        let rsa = Jwk::Rsa {
            n: "nn".into(),
            e: "AQAB".into(),
        };
        assert_eq!(
            serde_json::to_string(&rsa).unwrap(),
            r#"{"e":"AQAB","kty":"RSA","n":"nn"}"#
        );
        let read: Jwk =
            serde_json::from_str(r#"{"y":"yy","kty":"EC","x":"xx","crv":"P-256","kid":"1"}"#)
                .unwrap();
        assert_eq!(read, ec);
        assert_eq!(read.member("crv"), Some("P-256"));
        assert_eq!(read.member("kty"), Some("EC"));
        assert_eq!(read.member("n"), None);
        assert!(serde_json::from_str::<Jwk>(r#"{"kty":"OKP","crv":"Ed25519","x":"xx"}"#).is_err());
        assert!(serde_json::from_str::<Jwk>(r#"{"kty":"EC","crv":"P-256"}"#).is_err());
    }

    #[test]
    fn labels_do_not_change_it_and_keys_do() {
        let a = map(json!({"kty": "EC", "crv": "P-256", "x": "ax", "y": "ay", "kid": "1"}));
        let same = map(
            json!({"kty": "EC", "crv": "P-256", "x": "ax", "y": "ay", "kid": "2", "use": "sig"}),
        );
        let other = map(json!({"kty": "EC", "crv": "P-256", "x": "bx", "y": "ay", "kid": "1"}));
        assert_eq!(thumbprint_of_listed(&a), thumbprint_of_listed(&same));
        assert_ne!(thumbprint_of_listed(&a), thumbprint_of_listed(&other));
        let fake_a = map(json!({"kty": "oct-fake", "n": 1}));
        let fake_b = map(json!({"kty": "oct-fake", "n": 2}));
        assert_ne!(thumbprint_of_listed(&fake_a), thumbprint_of_listed(&fake_b));
    }
}
