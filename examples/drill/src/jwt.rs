//! RS256 JSON Web Tokens, as much of them as the drill needs: signing with a
//! PKCS#8 PEM private key (what rotor's file store holds), and verifying
//! against a JSON Web Key Set by `kid`. The cryptography is jsonwebtoken's
//! (on aws-lc): the drill measures rotor, so it must not share rotor's crypto.
//!
//! Claims are checked only for `exp`: the drill measures key rotation, and an
//! expired token is the client's fault, not the rotation's.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt;

/// Signs tokens with one version's private key; `kid` is the version id.
pub struct TokenSigner {
    kid: String,
    key: EncodingKey,
}

impl TokenSigner {
    /// Reads a PKCS#8 PEM RSA private key. The error never quotes the PEM.
    pub fn from_pem(kid: &str, pem: &str) -> Result<TokenSigner, String> {
        let not_a_key = |e: jsonwebtoken::errors::Error| {
            format!("version {kid}: not a PKCS#8 RSA private key ({e})")
        };
        let key = EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(not_a_key)?;
        // jsonwebtoken reads the key itself only when it first signs: read it
        // now (for its public half), so that a bad key is refused here.
        Jwk::from_encoding_key(&key, Algorithm::RS256).map_err(not_a_key)?;
        Ok(TokenSigner {
            kid: kid.to_string(),
            key,
        })
    }

    /// The version id this signer puts in the `kid` header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// A compact JWT over `claims`.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key)
            .expect("a key read by from_pem signs any JSON claims")
    }
}

/// The public JWK (`kty`, `n`, `e`, with `kid`, `alg` and `use`) of a PEM
/// RSA private key, as a JWKS lists it.
pub(crate) fn public_jwk(kid: &str, pem: &str) -> Result<Value, String> {
    let key = EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| e.to_string())?;
    let mut jwk = Jwk::from_encoding_key(&key, Algorithm::RS256).map_err(|e| e.to_string())?;
    jwk.common.key_id = Some(kid.to_string());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    serde_json::to_value(&jwk).map_err(|e| e.to_string())
}

impl fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSigner")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Not three base64url parts with a JSON header naming `RS256` and a `kid`.
    Malformed,
    /// The `kid` is not in the verifier's key set (as cached).
    UnknownKid,
    /// The signature does not verify with the key of that `kid`.
    BadSignature,
    /// `exp` is missing or past.
    Expired,
}

impl Rejection {
    /// A short name, for logs and response bodies.
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::Malformed => "malformed",
            Rejection::UnknownKid => "unknown kid",
            Rejection::BadSignature => "bad signature",
            Rejection::Expired => "expired",
        }
    }
}

/// Seconds a token is still accepted past its `exp`, as gateways allow for
/// clock skew and slow requests (jsonwebtoken's default leeway is 60 s, Envoy's
/// `clock_skew_seconds` 60 s). Small here, so that the drill still sees a
/// token expire: a token sent at its last moment and delayed on a loaded
/// machine is not a rejection the key caused.
pub const LEEWAY_SECS: u64 = 2;

/// A JSON Web Key Set, parsed: the RSA keys by `kid`, and the document.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: BTreeMap<String, (DecodingKey, Value)>,
}

impl KeySet {
    /// Parses `{"keys": [...]}`, keeping the RSA keys that have a `kid`;
    /// other keys are skipped, as a verifier that only knows RS256 would.
    pub fn parse(doc: &Value) -> Result<KeySet, String> {
        let list = doc["keys"]
            .as_array()
            .ok_or("a JWKS is an object with a `keys` array")?;
        let mut keys = BTreeMap::new();
        for jwk in list {
            let (Some(kid), Some("RSA")) = (jwk["kid"].as_str(), jwk["kty"].as_str()) else {
                continue;
            };
            let part = |name: &str| -> Result<Vec<u8>, String> {
                let text = jwk[name]
                    .as_str()
                    .ok_or_else(|| format!("key {kid}: `{name}` is missing"))?;
                URL_SAFE_NO_PAD
                    .decode(text)
                    .map_err(|e| format!("key {kid}: `{name}` is not base64url ({e})"))
            };
            let (n, e) = (part("n")?, part("e")?);
            // jsonwebtoken takes any bytes and fails only when it verifies:
            // a set with a key no RSA implementation accepts is refused whole,
            // here, so that the verifier keeps the set it has.
            rsa::PublicKey::new(
                rsa::BoxedUint::from_be_slice_vartime(&n),
                rsa::BoxedUint::from_be_slice_vartime(&e),
            )
            .map_err(|e| format!("key {kid}: not a usable RSA public key ({e})"))?;
            let key = DecodingKey::from_rsa_raw_components(&n, &e);
            keys.insert(kid.to_string(), (key, jwk.clone()));
        }
        Ok(KeySet { keys })
    }

    /// The kids, sorted.
    pub fn kids(&self) -> Vec<String> {
        self.keys.keys().cloned().collect()
    }

    /// The set as a JWKS document.
    pub fn document(&self) -> Value {
        json!({ "keys": self.keys.values().map(|(_, jwk)| jwk.clone()).collect::<Vec<_>>() })
    }

    /// Verifies a compact JWT at `now` (seconds since the epoch), allowing
    /// `LEEWAY_SECS` (2 s) past `exp`. Returns the token's `kid` with the
    /// verdict; the kid is empty for malformed tokens.
    ///
    /// jsonwebtoken checks the header and the signature; `exp` is compared
    /// here with `now`, because jsonwebtoken's own `exp` check (its
    /// `Validation::leeway`) reads the wall clock and the caller's `now`
    /// is what the drill (and its tests) mean.
    pub fn verify(&self, token: &str, now: u64) -> (String, Result<(), Rejection>) {
        if token.split('.').count() != 3 {
            return (String::new(), Err(Rejection::Malformed));
        }
        let Ok(header) = jsonwebtoken::decode_header(token) else {
            return (String::new(), Err(Rejection::Malformed));
        };
        let (Some(kid), Algorithm::RS256) = (header.kid, header.alg) else {
            return (String::new(), Err(Rejection::Malformed));
        };
        let Some((key, _)) = self.keys.get(&kid) else {
            return (kid, Err(Rejection::UnknownKid));
        };
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let claims = match jsonwebtoken::decode::<Value>(token, key, &validation) {
            Ok(data) => data.claims,
            // The signature held, but the claims are not JSON: no `exp`.
            Err(e) if matches!(e.kind(), ErrorKind::Json(_) | ErrorKind::Utf8(_)) => {
                return (kid, Err(Rejection::Expired));
            }
            Err(_) => return (kid, Err(Rejection::BadSignature)),
        };
        match claims["exp"].as_u64() {
            Some(exp) if now < exp + LEEWAY_SECS => (kid, Ok(())),
            _ => (kid, Err(Rejection::Expired)),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};

    /// A new RSA key (PKCS#8 PEM) and its public JWK under `kid`.
    pub(crate) fn key_pair(kid: &str) -> (String, Value) {
        let key = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).unwrap();
        let pem = key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
        let jwk = public_jwk(kid, &pem).unwrap();
        (pem, jwk)
    }

    #[test]
    fn signs_and_verifies_by_kid() {
        let (pem1, jwk1) = key_pair("v1");
        let (pem2, jwk2) = key_pair("v2");
        let signer1 = TokenSigner::from_pem("v1", &pem1).unwrap();
        let signer2 = TokenSigner::from_pem("v2", &pem2).unwrap();
        let set = KeySet::parse(&json!({ "keys": [jwk1] })).unwrap();
        assert_eq!(set.kids(), ["v1"]);

        let claims = json!({ "sub": "drill", "exp": 1_000 });
        assert_eq!(
            set.verify(&signer1.sign(&claims), 999),
            ("v1".into(), Ok(()))
        );
        assert_eq!(
            set.verify(&signer1.sign(&claims), 1_000 + LEEWAY_SECS - 1),
            ("v1".into(), Ok(()))
        );
        assert_eq!(
            set.verify(&signer1.sign(&claims), 1_000 + LEEWAY_SECS),
            ("v1".into(), Err(Rejection::Expired))
        );
        assert_eq!(
            set.verify(&signer2.sign(&claims), 999),
            ("v2".into(), Err(Rejection::UnknownKid))
        );
        // v2's signature under v1's kid.
        let forged = TokenSigner::from_pem("v1", &pem2).unwrap().sign(&claims);
        assert_eq!(
            set.verify(&forged, 999),
            ("v1".into(), Err(Rejection::BadSignature))
        );
        assert_eq!(
            set.verify("a.b", 0),
            (String::new(), Err(Rejection::Malformed))
        );

        let both = KeySet::parse(&json!({ "keys": [jwk2, set.document()["keys"][0]] })).unwrap();
        assert_eq!(both.kids(), ["v1", "v2"]);
        assert_eq!(both.verify(&signer2.sign(&claims), 5).1, Ok(()));
    }

    #[test]
    fn errors_do_not_quote_the_key() {
        let err = TokenSigner::from_pem(
            "v1",
            "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n",
        )
        .unwrap_err();
        assert!(
            err.starts_with("version v1: not a PKCS#8 RSA private key"),
            "{err}"
        );
        assert!(!err.contains("c2VjcmV0"), "{err}");
    }
}
