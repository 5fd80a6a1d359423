//! The `jwks` publisher: a JSON Web Key Set file for verifiers to fetch.
//!
//! ```hcl
//! publish "jwks" "public" {
//!   secret = secret.session_signing_key
//!   path   = "public/.well-known/jwks.json"   # relative to the spec directory
//! }
//! ```
//!
//! The file is the JWKS document every publisher writes (`document.rs`).
//! It is replaced atomically and is mode 0644, because a web server usually
//! serves it as a static file.

use super::document;
use crate::config::{ConfigError, Settings};
use crate::fsutil::{self, io_error};
use async_trait::async_trait;
use rotor_engine::provider::{ErrorKind, ListedKey, ProviderError, PublicKey, Publisher};
use rotor_engine::spec::PublishSpec;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Mode of a published JWKS: public by nature.
const PUBLIC_FILE: u32 = 0o644;

/// A JWKS document on the local file system.
#[derive(Debug, Clone)]
pub struct JwksFile {
    address: String,
    path: PathBuf,
}

impl JwksFile {
    /// A JWKS at `path` (already resolved against the spec directory).
    pub fn new(address: String, path: PathBuf) -> JwksFile {
        JwksFile { address, path }
    }

    /// Reads a `publish "jwks"` block; `path` is required, relative to `base_dir`.
    pub fn from_spec(spec: &PublishSpec, base_dir: &Path) -> Result<JwksFile, ConfigError> {
        let settings = Settings::of("publish", &spec.kind, &spec.settings, &spec.span);
        settings.only(&["path"], &["secret"])?;
        let (path, span) = settings.required_string("path", "\"public/.well-known/jwks.json\"")?;
        if path.is_empty() {
            return Err(
                ConfigError::new("`path` of a jwks publisher is empty", span).hint(
                    "name the file a web server serves, such as \"public/.well-known/jwks.json\"",
                ),
            );
        }
        Ok(JwksFile::new(spec.address(), base_dir.join(path)))
    }

    /// Where the file is written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn invalid(&self, why: impl std::fmt::Display) -> ProviderError {
        ProviderError::new(
            ErrorKind::Invalid,
            format!("{} is not a valid JWKS: {why}", self.path.display()),
        )
    }
}

#[async_trait]
impl Publisher for JwksFile {
    fn address(&self) -> &str {
        &self.address
    }

    async fn read_keys(&self) -> Result<Option<Vec<ListedKey>>, ProviderError> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error("read", &self.path, &e)),
        };
        document::parse(&text)
            .map(Some)
            .map_err(|why| self.invalid(why))
    }

    async fn publish(&self, keys: &[PublicKey]) -> Result<(), ProviderError> {
        let dir = fsutil::parent(&self.path);
        // Public directories get the usual 0755, not rotor's private 0700.
        fs::create_dir_all(dir).map_err(|e| io_error("create", dir, &e))?;
        fsutil::write_atomic(&self.path, document::render(keys).as_bytes(), PUBLIC_FILE)
            .map_err(|e| io_error("write", &self.path, &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::document::tests::key;
    use serde_json::{Value, json};
    use std::os::unix::fs::PermissionsExt;

    #[tokio::test]
    async fn publish_and_read_back() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("public/.well-known/jwks.json");
        let jwks = JwksFile::new("publish.jwks.public".into(), path.clone());
        assert_eq!(jwks.read_keys().await.unwrap(), None);

        jwks.publish(&[key("b"), key("a")]).await.unwrap();
        let listed = jwks.read_keys().await.unwrap().unwrap();
        let kids: Vec<&str> = listed.iter().map(|k| k.kid.as_str()).collect();
        assert_eq!(kids, ["a", "b"]);
        // Listed by key: the thumbprint is the key's, whatever its kid.
        assert_eq!(listed[0].thumbprint, key("z").jwk.thumbprint());
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o644
        );
        let doc: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            doc["keys"][0],
            json!({"kty": "EC", "crv": "P-256", "x": "xx", "y": "yy", "kid": "a", "alg": "ES256", "use": "sig"})
        );

        jwks.publish(&[]).await.unwrap();
        assert_eq!(jwks.read_keys().await.unwrap(), Some(vec![]));
    }

    #[tokio::test]
    async fn malformed_files_are_invalid_and_named() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("jwks.json");
        let jwks = JwksFile::new("publish.jwks.public".into(), path.clone());
        for text in [
            "{not json",
            "{\"keys\": 3}",
            "{\"keys\": [{\"kty\": \"EC\"}]}",
        ] {
            fs::write(&path, text).unwrap();
            let err = jwks.read_keys().await.unwrap_err();
            assert_eq!(err.kind, ErrorKind::Invalid, "{text}");
            assert!(
                err.message.contains(&path.display().to_string()),
                "{}",
                err.message
            );
        }
    }

    #[test]
    fn from_spec_requires_a_path() {
        use crate::config::tests::{span, string};
        let mut spec = PublishSpec {
            kind: "jwks".into(),
            name: "public".into(),
            secret: None,
            settings: Default::default(),
            span: span(3),
        };
        let err = JwksFile::from_spec(&spec, Path::new("/spec")).unwrap_err();
        assert_eq!(err.span, span(3));
        assert!(err.message.contains("`path`"), "{}", err.message);
        spec.settings
            .insert("path".into(), string("out/jwks.json", 8));
        let jwks = JwksFile::from_spec(&spec, Path::new("/spec")).unwrap();
        assert_eq!(jwks.path(), Path::new("/spec/out/jwks.json"));
        assert_eq!(jwks.address(), "publish.jwks.public");
    }
}
