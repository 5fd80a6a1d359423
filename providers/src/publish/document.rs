//! The JWKS document every publisher writes, and reading one back.
//!
//! The document is `{"keys": [...]}` with one key per accepted version,
//! sorted by `kid`; each key has its JWK members (`kty`, `n`, `e` or `crv`,
//! `x`, `y`) and `kid`, `alg`, `use: "sig"`. Publishers differ only in where
//! they put it (a file, an S3 object), so building and parsing live here, once.

use rotor_engine::provider::{ListedKey, PublicKey};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// A JWKS document as rotor writes it.
#[derive(Serialize)]
struct Document<'a> {
    /// One key per version, sorted by kid.
    keys: Vec<Member<'a>>,
}

/// One key of the document: its JWK members with `kid`, `alg` and `use`, by
/// name. A sorted map, not a struct: the members have always been written
/// in lexicographic order (`alg`, `crv`, `kid`, `kty`, `use`, `x`, `y`),
/// the JWK's own interleaved with the version's, and the bytes stay so.
type Member<'a> = BTreeMap<&'static str, &'a str>;

/// The JWKS document for a set of keys.
fn document(keys: &[PublicKey]) -> Document<'_> {
    let mut keys: Vec<&PublicKey> = keys.iter().collect();
    keys.sort_by(|a, b| a.kid.cmp(&b.kid));
    let keys = keys
        .into_iter()
        .map(|k| {
            let mut member: Member<'_> = k.jwk.members().into_iter().collect();
            member.insert("kid", &k.kid);
            member.insert("alg", &k.algorithm);
            member.insert("use", "sig");
            member
        })
        .collect();
    Document { keys }
}

/// The document as published: pretty JSON, ending in a newline.
pub(crate) fn render(keys: &[PublicKey]) -> String {
    let mut text = serde_json::to_string_pretty(&document(keys)).expect("a JWKS serialises");
    text.push('\n');
    text
}

/// The keys a published document lists, by kid and thumbprint; `Err` says
/// why the text is not a JWKS, for the caller to name where it read it.
/// Read as JSON, not as a [`Document`]: a document written by hand or by
/// another tool may list keys rotor does not make, and their thumbprints are
/// still what tells them apart.
pub(crate) fn parse(text: &str) -> Result<Vec<ListedKey>, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let keys = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("it has no `keys` list")?;
    keys.iter()
        .enumerate()
        .map(|(i, key)| {
            let member = key
                .as_object()
                .ok_or_else(|| format!("key {} is not an object", i + 1))?;
            let kid = member
                .get("kid")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("key {} has no `kid`", i + 1))?;
            Ok(ListedKey {
                kid: kid.to_string(),
                thumbprint: rotor_engine::jwk::thumbprint_of_listed(member),
            })
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rotor_engine::Jwk;
    use serde_json::json;

    /// An EC public key listed under `kid`; its JWK is the same for every kid.
    pub(crate) fn key(kid: &str) -> PublicKey {
        PublicKey {
            version: kid.into(),
            kid: kid.into(),
            algorithm: "ES256".into(),
            jwk: Jwk::Ec {
                crv: "P-256".into(),
                x: "xx".into(),
                y: "yy".into(),
            },
        }
    }

    #[test]
    fn renders_sorted_by_kid_and_parses_back() {
        let text = render(&[key("b"), key("a")]);
        assert!(text.ends_with("}\n"), "{text}");
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            doc["keys"][0],
            json!({"kty": "EC", "crv": "P-256", "x": "xx", "y": "yy", "kid": "a", "alg": "ES256", "use": "sig"})
        );
        let listed = parse(&text).unwrap();
        let kids: Vec<&str> = listed.iter().map(|k| k.kid.as_str()).collect();
        assert_eq!(kids, ["a", "b"]);
        // Listed by key: the thumbprint is the key's, whatever its kid.
        assert_eq!(listed[0].thumbprint, key("z").jwk.thumbprint());
        assert_eq!(parse(&render(&[])).unwrap(), vec![]);
    }

    /// The published bytes, pinned: members in lexicographic order (the
    /// order rotor has always written them in), pretty, two-space indent.
    #[test]
    fn renders_the_same_bytes_as_ever() {
        let mut rsa = key("r");
        rsa.algorithm = "RS256".into();
        rsa.jwk = Jwk::Rsa {
            n: "nn".into(),
            e: "AQAB".into(),
        };
        let expected = r#"{
  "keys": [
    {
      "alg": "ES256",
      "crv": "P-256",
      "kid": "a",
      "kty": "EC",
      "use": "sig",
      "x": "xx",
      "y": "yy"
    },
    {
      "alg": "RS256",
      "e": "AQAB",
      "kid": "r",
      "kty": "RSA",
      "n": "nn",
      "use": "sig"
    }
  ]
}
"#;
        assert_eq!(render(&[rsa, key("a")]), expected);
        assert_eq!(render(&[]), "{\n  \"keys\": []\n}\n");
    }

    #[test]
    fn says_why_a_text_is_not_a_jwks() {
        for (text, why) in [
            ("{not json", "key must be a string"),
            ("{\"keys\": 3}", "it has no `keys` list"),
            ("[1]", "it has no `keys` list"),
            ("{\"keys\": [1]}", "key 1 is not an object"),
            ("{\"keys\": [{\"kty\": \"EC\"}]}", "key 1 has no `kid`"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
    }
}
