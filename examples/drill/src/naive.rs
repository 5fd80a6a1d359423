//! The flag-day swap, as a naive script does it: make a new key, point the
//! store at it, delete the old one and publish a key set without it, all at
//! once. Verifiers that cached the old key set reject the new kid until
//! their next refresh; tokens already issued with the old key are rejected
//! as soon as they refresh. This is the negative control of the drill.
//!
//! It writes the file store's files directly (it is the script rotor
//! replaces), and only `keyset.json`, `primary` and the material: it knows
//! nothing of rotor's per-version metadata.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use std::io;
use std::path::Path;

/// Replaces the family's key in place with a new version `new_id`: an RSA
/// key if the family held PEM keys, else a random 32-byte secret. When
/// `jwks` is given, it is rewritten to hold only the new key.
pub fn rotate(store: &Path, family: &str, new_id: &str, jwks: Option<&Path>) -> io::Result<()> {
    let dir = store.join(family);
    let keyset: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("keyset.json"))?)
        .map_err(io::Error::other)?;
    let old: Vec<String> = keyset["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["file"].as_str().map(str::to_string))
        .collect();
    let rsa = old.iter().any(|f| f.ends_with(".pem"));
    let (file, alg, jwk) = if rsa {
        let (pem, jwk) = rsa_key(new_id)?;
        let file = format!("versions/{new_id}.pem");
        write_private(&dir.join(&file), pem.as_bytes())?;
        (file, "RS256", Some(jwk))
    } else {
        let mut raw = zeroize::Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut *raw).map_err(io::Error::other)?;
        let file = format!("versions/{new_id}.key");
        write_private(&dir.join(&file), URL_SAFE_NO_PAD.encode(*raw).as_bytes())?;
        (file, "HS256", None)
    };
    let keyset = json!({
        "family": family,
        "primary": new_id,
        "versions": [{ "id": new_id, "kid": new_id, "alg": alg, "file": file }],
    });
    write_atomic(&dir.join("keyset.json"), keyset.to_string().as_bytes())?;
    write_atomic(&dir.join("primary"), format!("{new_id}\n").as_bytes())?;
    for f in old {
        let _ = std::fs::remove_file(dir.join(f));
    }
    if let (Some(path), Some(jwk)) = (jwks, jwk) {
        write_atomic(path, json!({ "keys": [jwk] }).to_string().as_bytes())?;
    }
    Ok(())
}

/// A new 2048-bit RSA key, as a script makes one with a library (the `rsa`
/// crate here), and its public JWK (jsonwebtoken's, as the verifier reads it).
fn rsa_key(kid: &str) -> io::Result<(zeroize::Zeroizing<String>, Value)> {
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    let key = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).map_err(io::Error::other)?;
    let pem = key.to_pkcs8_pem(LineEnding::LF).map_err(io::Error::other)?;
    let jwk = crate::jwt::public_jwk(kid, &pem).map_err(io::Error::other)?;
    Ok((zeroize::Zeroizing::new(pem.to_string()), jwk))
}

fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("naive-tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_key_in_place_and_forgets_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let family = dir.path().join("k");
        std::fs::create_dir_all(family.join("versions")).unwrap();
        std::fs::write(family.join("versions/v1.pem"), "old").unwrap();
        let keyset = json!({ "family": "k", "primary": "v1",
            "versions": [{ "id": "v1", "kid": "v1", "alg": "RS256", "file": "versions/v1.pem" }] });
        std::fs::write(family.join("keyset.json"), keyset.to_string()).unwrap();
        let jwks = dir.path().join("jwks.json");

        rotate(dir.path(), "k", "v2", Some(&jwks)).unwrap();

        let keyset: Value =
            serde_json::from_str(&std::fs::read_to_string(family.join("keyset.json")).unwrap())
                .unwrap();
        assert_eq!(keyset["primary"], "v2");
        assert_eq!(keyset["versions"].as_array().unwrap().len(), 1);
        assert!(!family.join("versions/v1.pem").exists());
        let pem = std::fs::read_to_string(family.join("versions/v2.pem")).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let jwks: Value = serde_json::from_str(&std::fs::read_to_string(&jwks).unwrap()).unwrap();
        assert_eq!(jwks["keys"][0]["kid"], "v2");
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    }
}
