//! JWK thumbprints (RFC 7638): how rotor tells one public key from another.
//!
//! A `kid` is only a label: after a family is renamed, or `.rotor/` is lost
//! while a published JWKS survives, a key set can list the right kid with
//! the wrong key. Publishers, the planner and the `jwks` probe therefore
//! compare keys by thumbprint, never by kid alone.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The RFC 7638 thumbprint of a JWK: SHA-256 over the JSON of its required
/// members (by `kty`) in lexicographic order without whitespace, as
/// `sha256:` and lowercase hex. Members that are not part of the key
/// (`kid`, `alg`, `use`) never change it. A `kty` rotor does not know is
/// hashed over every member but those three, so that two different keys
/// still differ.
pub fn thumbprint(jwk: &Map<String, Value>) -> String {
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
    let text = serde_json::to_string(&Value::Object(canonical)).expect("a JWK serialises");
    format!(
        "sha256:{}",
        crate::state::hex(&Sha256::digest(text.as_bytes()))
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
        assert_eq!(
            thumbprint(&jwk),
            format!("sha256:{}", crate::state::hex(&expected))
        );
    }

    #[test]
    fn labels_do_not_change_it_and_keys_do() {
        let a = map(json!({"kty": "EC", "crv": "P-256", "x": "ax", "y": "ay", "kid": "1"}));
        let same = map(
            json!({"kty": "EC", "crv": "P-256", "x": "ax", "y": "ay", "kid": "2", "use": "sig"}),
        );
        let other = map(json!({"kty": "EC", "crv": "P-256", "x": "bx", "y": "ay", "kid": "1"}));
        assert_eq!(thumbprint(&a), thumbprint(&same));
        assert_ne!(thumbprint(&a), thumbprint(&other));
        let fake_a = map(json!({"kty": "oct-fake", "n": 1}));
        let fake_b = map(json!({"kty": "oct-fake", "n": 2}));
        assert_ne!(thumbprint(&fake_a), thumbprint(&fake_b));
    }
}
