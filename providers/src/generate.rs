//! [`KeyGenerator`]: new material for a version, from the OS random source.
//!
//! | `generate` | material | public JWK | `alg` | fingerprint over |
//! |---|---|---|---|---|
//! | `"rsa" { bits }` | PKCS#8 PEM private key | `kty`, `n`, `e` | RS256 | public key, SPKI DER |
//! | `"ec" { curve = "P-256" }` | PKCS#8 PEM private key | `kty`, `crv`, `x`, `y` | ES256 | public key, SPKI DER |
//! | `"random" { length, encoding }` | `length` random bytes, encoded | none | HS256 | the encoded material |
//! | `"login" { usernames, length }` | `{"username": …, "password": …}` | none | `password` | the whole JSON |
//!
//! A fingerprint is `sha256:` and the first 16 hex digits of a SHA-256. For
//! key pairs it is taken over the public key, so it can be recomputed by
//! anyone holding the JWKS. For random secrets it is taken over the material
//! itself: 64 bits of a hash reveal nothing useful about a secret of 16 or
//! more random bytes, and they let an operator match a store's file to the
//! state without opening it.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rotor_engine::provider::{ErrorKind, Generated, Generator, ProviderError};
use rotor_engine::spec::{Curve, Encoding, Generate};
use rotor_engine::state::hex;
use rotor_engine::{Jwk, SecretValue};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// RSA modulus sizes rotor generates: below 2048 is broken, above 4096 is
/// slow to generate and rarely supported by JWT libraries.
const RSA_BITS: [u32; 3] = [2048, 3072, 4096];

/// The most random bytes a `random` secret may ask for.
const MAX_RANDOM: u32 = 1024;

/// Generates RSA and P-256 key pairs and random secrets with the OS random
/// number generator (`getrandom`).
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyGenerator;

impl Generator for KeyGenerator {
    fn generate(&self, how: &Generate, ordinal: usize) -> Result<Generated, ProviderError> {
        match how {
            Generate::Rsa { bits } => rsa_key(*bits),
            Generate::Ec { curve } => ec_key(*curve),
            Generate::Random { length, encoding } => random_secret(*length, *encoding),
            Generate::Login { usernames, length } => login(usernames, *length, ordinal),
        }
    }
}

fn invalid(message: String) -> ProviderError {
    ProviderError::new(ErrorKind::Invalid, message)
}

/// `sha256:` + 16 hex digits.
pub(crate) fn fingerprint(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    format!("sha256:{}", &hex(&digest)[..16])
}

fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn rsa_key(bits: u32) -> Result<Generated, ProviderError> {
    if !RSA_BITS.contains(&bits) {
        return Err(invalid(format!(
            "an RSA key of {bits} bits is not supported; use 2048, 3072 or 4096"
        )));
    }
    let key = rsa::PrivateKey::new(&mut getrandom::SysRng, bits as usize)
        .map_err(|e| invalid(format!("could not generate an RSA key: {e}")))?;
    rsa_generated(&key)
}

fn rsa_generated(key: &rsa::PrivateKey) -> Result<Generated, ProviderError> {
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    use rsa::traits::PublicKeyParts;
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| invalid(format!("could not encode the RSA key: {e}")))?;
    let public = key.to_public_key();
    let spki = public
        .to_public_key_der()
        .map_err(|e| invalid(format!("could not encode the RSA public key: {e}")))?;
    let jwk = Jwk::Rsa {
        n: b64url(&public.n_bytes()),
        e: b64url(&public.e_bytes()),
    };
    Ok(Generated {
        material: SecretValue::new(pem.as_bytes().to_vec()),
        algorithm: "RS256".into(),
        public_jwk: Some(jwk),
        fingerprint: fingerprint(spki.as_bytes()),
    })
}

fn ec_key(curve: Curve) -> Result<Generated, ProviderError> {
    use p256::elliptic_curve::Generate as _;

    // The spec reads no other curve; a new one is a new arm here.
    let Curve::P256 = curve;
    let secret = p256::SecretKey::try_generate_from_rng(&mut getrandom::SysRng)
        .map_err(|e| invalid(format!("could not read the OS random source: {e}")))?;
    ec_generated(&secret)
}

fn ec_generated(secret: &p256::SecretKey) -> Result<Generated, ProviderError> {
    use p256::elliptic_curve::sec1::ToSec1Point;
    use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    let pem = secret
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| invalid(format!("could not encode the EC key: {e}")))?;
    let public = secret.public_key();
    let spki = public
        .to_public_key_der()
        .map_err(|e| invalid(format!("could not encode the EC public key: {e}")))?;
    let point = public.to_sec1_point(false);
    let (Some(x), Some(y)) = (point.x(), point.y()) else {
        return Err(invalid("the EC public key is the identity point".into()));
    };
    let jwk = Jwk::Ec {
        crv: "P-256".into(),
        x: b64url(x),
        y: b64url(y),
    };
    Ok(Generated {
        material: SecretValue::new(pem.as_bytes().to_vec()),
        algorithm: "ES256".into(),
        public_jwk: Some(jwk),
        fingerprint: fingerprint(spki.as_bytes()),
    })
}

fn random_secret(length: u32, encoding: Encoding) -> Result<Generated, ProviderError> {
    if length == 0 || length > MAX_RANDOM {
        return Err(invalid(format!(
            "a random secret of {length} bytes is not supported; use 1 to {MAX_RANDOM} (32 is usual)"
        )));
    }
    // Zeroizing: the raw bytes are material too, until they are encoded.
    let mut raw = Zeroizing::new(vec![0u8; length as usize]);
    getrandom::fill(&mut raw).map_err(|e| {
        ProviderError::new(
            ErrorKind::Unavailable,
            format!("could not read the OS random source: {e}"),
        )
    })?;
    let encoded = match encoding {
        Encoding::Base64Url => URL_SAFE_NO_PAD.encode(&*raw),
        Encoding::Base64 => STANDARD.encode(&*raw),
        Encoding::Hex => hex(&raw),
    };
    let encoded = Zeroizing::new(encoded);
    Ok(Generated {
        fingerprint: fingerprint(encoded.as_bytes()),
        material: SecretValue::new(encoded.as_bytes().to_vec()),
        algorithm: "HS256".into(),
        public_jwk: None,
    })
}

/// What rotor records of a value it did not generate (`rotor import`): a
/// PKCS#8 PEM private key, RSA or P-256, is a key pair (its public JWK and
/// fingerprint derived from it, the PEM re-encoded as rotor writes its own);
/// any other text is a random secret (HS256), kept byte for byte. Errors
/// name what the value is not, never what it is.
pub(crate) fn describe(material: &[u8]) -> Result<Generated, ProviderError> {
    let text = std::str::from_utf8(material)
        .map_err(|_| invalid("the value is not text (UTF-8); rotor keeps text only".into()))?;
    if text.trim().is_empty() {
        return Err(invalid("the value is empty".into()));
    }
    if text.contains("-----BEGIN PRIVATE KEY-----") {
        use p256::pkcs8::DecodePrivateKey as _;
        if let Ok(key) = rsa::PrivateKey::from_pkcs8_pem(text.trim()) {
            return rsa_generated(&key);
        }
        if let Ok(key) = p256::SecretKey::from_pkcs8_pem(text.trim()) {
            return ec_generated(&key);
        }
        return Err(invalid(
            "the value is a PKCS#8 private key, but neither an RSA nor a P-256 one".into(),
        ));
    }
    if text.contains("-----BEGIN") {
        return Err(invalid(
            "the value is a PEM block, but not an unencrypted PKCS#8 private key (BEGIN PRIVATE KEY); convert it with `openssl pkcs8 -topk8 -nocrypt`".into(),
        ));
    }
    Ok(Generated {
        fingerprint: fingerprint(material),
        material: SecretValue::new(material.to_vec()),
        algorithm: "HS256".into(),
        public_jwk: None,
    })
}

/// A login for the alternating-users strategy: the user name takes turns
/// with `ordinal`, the password is random base64url (no characters that need
/// quoting in a connection string).
fn login(usernames: &[String], length: u32, ordinal: usize) -> Result<Generated, ProviderError> {
    if usernames.is_empty() {
        return Err(invalid("a login needs at least one user name".into()));
    }
    let password = random_secret(length, Encoding::Base64Url)?;
    let username = &usernames[ordinal % usernames.len()];
    let password = std::str::from_utf8(password.material.expose()).expect("base64url is ASCII");
    let json = crate::login::Login::material(username, password);
    Ok(Generated {
        fingerprint: fingerprint(json.as_bytes()),
        material: SecretValue::new(json.as_bytes().to_vec()),
        algorithm: "password".into(),
        public_jwk: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn decoded_len(jwk: &Jwk, member: &str) -> usize {
        let text = jwk.member(member).unwrap();
        assert!(!text.contains('='), "{member} is padded");
        URL_SAFE_NO_PAD.decode(text).unwrap().len()
    }

    fn pem_body(g: &Generated) -> String {
        let text = std::str::from_utf8(g.material.expose()).unwrap();
        text.lines().nth(1).unwrap().to_string()
    }

    #[test]
    fn rsa_keys() {
        let a = KeyGenerator
            .generate(&Generate::Rsa { bits: 2048 }, 0)
            .unwrap();
        let b = KeyGenerator
            .generate(&Generate::Rsa { bits: 2048 }, 0)
            .unwrap();
        assert!(
            a.material
                .expose()
                .starts_with(b"-----BEGIN PRIVATE KEY-----\n")
        );
        assert_eq!(a.algorithm, "RS256");
        let jwk = a.public_jwk.as_ref().unwrap();
        assert_eq!(jwk.member("kty"), Some("RSA"));
        assert_eq!(decoded_len(jwk, "n"), 256);
        assert_eq!(
            URL_SAFE_NO_PAD.decode(jwk.member("e").unwrap()).unwrap(),
            [1, 0, 1]
        );
        assert!(a.fingerprint.starts_with("sha256:") && a.fingerprint.len() == 7 + 16);
        assert_ne!(a.fingerprint, b.fingerprint);
        let debug = format!("{a:?}");
        assert!(!debug.contains(&pem_body(&a)), "Debug shows the key");
        assert!(debug.contains("<redacted>"));
    }

    #[test]
    fn ec_keys() {
        let how = Generate::Ec { curve: Curve::P256 };
        let a = KeyGenerator.generate(&how, 0).unwrap();
        let b = KeyGenerator.generate(&how, 0).unwrap();
        assert!(
            a.material
                .expose()
                .starts_with(b"-----BEGIN PRIVATE KEY-----\n")
        );
        assert_eq!(a.algorithm, "ES256");
        let jwk = a.public_jwk.as_ref().unwrap();
        assert_eq!(
            (jwk.member("kty"), jwk.member("crv")),
            (Some("EC"), Some("P-256"))
        );
        assert_eq!(decoded_len(jwk, "x"), 32);
        assert_eq!(decoded_len(jwk, "y"), 32);
        assert_ne!(a.fingerprint, b.fingerprint);
        assert!(!format!("{a:?}").contains(&pem_body(&a)));
        // Another curve cannot reach the generator: the spec reads none.
        assert_eq!(Curve::from_name("P-384"), None);
    }

    #[test]
    fn logins_take_turns() {
        let how = Generate::Login {
            usernames: vec!["app_a".into(), "app_b".into()],
            length: 24,
        };
        let names: Vec<String> = (0..3)
            .map(|n| {
                let g = KeyGenerator.generate(&how, n).unwrap();
                assert_eq!(g.algorithm, "password");
                let v: Value = serde_json::from_slice(g.material.expose()).unwrap();
                assert_eq!(v["password"].as_str().unwrap().len(), 32);
                assert!(!format!("{g:?}").contains(v["password"].as_str().unwrap()));
                v["username"].as_str().unwrap().to_string()
            })
            .collect();
        assert_eq!(names, ["app_a", "app_b", "app_a"]);
    }

    #[test]
    fn random_secrets() {
        for (encoding, len) in [
            (Encoding::Base64Url, 43),
            (Encoding::Base64, 44),
            (Encoding::Hex, 64),
        ] {
            let how = Generate::Random {
                length: 32,
                encoding,
            };
            let a = KeyGenerator.generate(&how, 0).unwrap();
            let b = KeyGenerator.generate(&how, 0).unwrap();
            assert_eq!(a.material.len(), len, "{encoding}");
            assert_eq!(a.algorithm, "HS256");
            assert!(a.public_jwk.is_none());
            assert_eq!(a.fingerprint, fingerprint(a.material.expose()));
            assert_ne!(a.fingerprint, b.fingerprint);
            let text = std::str::from_utf8(a.material.expose())
                .unwrap()
                .to_string();
            assert!(!format!("{a:?}").contains(&text));
        }
        // Another encoding cannot reach the generator: the spec reads none.
        assert_eq!(Encoding::from_name("base32"), None);
        let bad = Generate::Random {
            length: 0,
            encoding: Encoding::Hex,
        };
        assert_eq!(
            KeyGenerator.generate(&bad, 0).unwrap_err().kind,
            ErrorKind::Invalid
        );
    }
}
