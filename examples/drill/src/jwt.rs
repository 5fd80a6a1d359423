//! RS256 JSON Web Tokens, as much of them as the drill needs: signing with a
//! PKCS#8 PEM private key (what rotor's file store holds), and verifying
//! against a JSON Web Key Set by `kid`.
//!
//! Claims are checked only for `exp`: the drill measures key rotation, and an
//! expired token is the client's fault, not the rotation's.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer as _, Verifier as _};
use rsa::{BoxedUint, PrivateKey, PublicKey};
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::fmt;

/// Signs tokens with one version's private key; `kid` is the version id.
pub struct TokenSigner {
    kid: String,
    key: SigningKey<Sha256>,
}

impl TokenSigner {
    /// Reads a PKCS#8 PEM RSA private key. The error never quotes the PEM.
    pub fn from_pem(kid: &str, pem: &str) -> Result<TokenSigner, String> {
        let key = PrivateKey::from_pkcs8_pem(pem)
            .map_err(|e| format!("version {kid}: not a PKCS#8 RSA private key ({e})"))?;
        Ok(TokenSigner {
            kid: kid.to_string(),
            key: SigningKey::new(key),
        })
    }

    /// The version id this signer puts in the `kid` header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// A compact JWT over `claims`.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({ "alg": "RS256", "typ": "JWT", "kid": self.kid });
        let input = format!("{}.{}", b64_json(&header), b64_json(claims));
        let signature: Signature = self.key.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }
}

impl fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSigner")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn b64_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
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
    keys: BTreeMap<String, (VerifyingKey<Sha256>, Value)>,
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
            let part = |name: &str| -> Result<BoxedUint, String> {
                let text = jwk[name]
                    .as_str()
                    .ok_or_else(|| format!("key {kid}: `{name}` is missing"))?;
                let bytes = URL_SAFE_NO_PAD
                    .decode(text)
                    .map_err(|e| format!("key {kid}: `{name}` is not base64url ({e})"))?;
                Ok(BoxedUint::from_be_slice_vartime(&bytes))
            };
            let key = PublicKey::new(part("n")?, part("e")?)
                .map_err(|e| format!("key {kid}: not a usable RSA public key ({e})"))?;
            keys.insert(kid.to_string(), (VerifyingKey::new(key), jwk.clone()));
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
    /// [`LEEWAY_SECS`] past `exp`. Returns the token's `kid` with the
    /// verdict; the kid is empty for malformed tokens.
    pub fn verify(&self, token: &str, now: u64) -> (String, Result<(), Rejection>) {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return (String::new(), Err(Rejection::Malformed));
        };
        let json = |part: &str| -> Option<Value> {
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
        };
        let Some(head) = json(header) else {
            return (String::new(), Err(Rejection::Malformed));
        };
        let (Some(kid), Some("RS256")) = (head["kid"].as_str(), head["alg"].as_str()) else {
            return (String::new(), Err(Rejection::Malformed));
        };
        let kid = kid.to_string();
        let Some((key, _)) = self.keys.get(&kid) else {
            return (kid, Err(Rejection::UnknownKid));
        };
        let signed = &token[..header.len() + 1 + payload.len()];
        let valid = URL_SAFE_NO_PAD
            .decode(signature)
            .ok()
            .and_then(|bytes| Signature::try_from(bytes.as_slice()).ok())
            .is_some_and(|sig| key.verify(signed.as_bytes(), &sig).is_ok());
        if !valid {
            return (kid, Err(Rejection::BadSignature));
        }
        match json(payload).and_then(|claims| claims["exp"].as_u64()) {
            Some(exp) if now < exp + LEEWAY_SECS => (kid, Ok(())),
            _ => (kid, Err(Rejection::Expired)),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    use rsa::traits::PublicKeyParts;

    pub(crate) fn key_pair(kid: &str) -> (String, Value) {
        let key = PrivateKey::new(&mut getrandom::SysRng, 2048).unwrap();
        let pem = key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
        let public = key.to_public_key();
        let jwk = json!({
            "kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
            "n": URL_SAFE_NO_PAD.encode(public.n_bytes()),
            "e": URL_SAFE_NO_PAD.encode(public.e_bytes()),
        });
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
