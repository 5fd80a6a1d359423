//! The `file` store: material in a local directory, the embedded default.
//!
//! ```hcl
//! store "file" "local" {
//!   path = ".rotor/secrets"   # relative to the spec directory; this is the default
//! }
//! ```
//!
//! # Layout
//!
//! The layout is stable: a service on the same machine may read it directly.
//!
//! ```text
//! <path>/                          0700
//!   <family>/                      0700, one per secret family
//!     keyset.json                  0600, the accepted set (see below)
//!     owner                        0600, the lineage of the state that manages the family
//!     primary                      0600, the primary version id and a newline
//!     versions/                    0700
//!       <id>.pem                   0600, a key pair's private key, PKCS#8 PEM
//!       <id>.key                   0600, a random secret, as encoded, no newline
//!       <id>.json                  0600, the version's metadata (see below)
//! ```
//!
//! `keyset.json` lists only the **enabled** versions, those every verifier
//! should accept, sorted by id. `primary` is the version emitters should use
//! (`null` until one is promoted). `file` is relative to the family directory.
//!
//! ```json
//! {
//!   "family": "session_signing_key",
//!   "primary": "2026-11",
//!   "versions": [
//!     { "id": "2026-08", "kid": "2026-08", "alg": "RS256",
//!       "fingerprint": "sha256:3f9a0c6e1b2d4a57", "file": "versions/2026-08.pem" },
//!     { "id": "2026-11", "kid": "2026-11", "alg": "RS256",
//!       "fingerprint": "sha256:b81e44d09c7a3f12", "file": "versions/2026-11.pem" }
//!   ]
//! }
//! ```
//!
//! `versions/<id>.json` describes one version, enabled or not:
//!
//! ```json
//! { "id": "2026-08", "kid": "2026-08", "alg": "RS256",
//!   "fingerprint": "sha256:3f9a0c6e1b2d4a57", "file": "versions/2026-08.pem",
//!   "jwk": { "kty": "RSA", "n": "…", "e": "AQAB" },
//!   "created": "2026-08-01T09:00:00Z", "enabled": false, "destroyed": false }
//! ```
//!
//! `jwk` holds the public key's JWK members and is absent for random secrets.
//!
//! # Lifecycle
//!
//! - `put` writes the material, then the metadata, then `keyset.json`: a
//!   version enters the key set only once its material is on disk. An id
//!   that has metadata already is refused: material is never replaced and
//!   ids are never reused, even after `destroy`.
//! - `disable` sets `enabled: false` and drops the version from
//!   `keyset.json`; the material stays, so `enable` can restore it. The
//!   primary cannot be disabled: promote another version first.
//! - `destroy` (of a disabled version only) overwrites the material file with
//!   zeros, removes it, and marks the metadata `destroyed: true`. A destroyed
//!   version is no longer reported by `read`.
//!
//! Every file is replaced atomically (temporary file, fsync, rename, fsync of
//! the directory), so a reader sees the old or the new `keyset.json`, never
//! a mix, and a crash at any point leaves a layout that `read` understands.
//! The metadata and `keyset.json`'s `primary` are the record; the key set's
//! list and the `primary` file are derived from them, and every read or
//! change first rewrites whichever a kill left behind, removes temporary
//! files and shreds material whose metadata was never written. A family is
//! held with an OS lock on `<family>/.lock` while it is read or changed.

use crate::clock;
use crate::config::{ConfigError, Settings};
use crate::fsutil::{self, PRIVATE_FILE, io_error};
use async_trait::async_trait;
use rotor_engine::provider::{
    ErrorKind, LiveFamily, LiveVersion, NewVersion, ProviderError, PublicKey, Store,
};
use rotor_engine::spec::StoreSpec;
use rotor_engine::{FamilyName, Jwk, SecretValue, Timestamp, VersionId};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Where the file store keeps material when the spec does not say.
pub const DEFAULT_PATH: &str = ".rotor/secrets";

/// A store in a local directory; see the [module docs](self) for the layout.
#[derive(Debug)]
pub struct FileStore {
    address: String,
    root: PathBuf,
    /// Serialises this value's tasks; other processes are kept apart by
    /// an OS lock per family (see [`FileStore::lock`]).
    write: Mutex<()>,
}

/// `versions/<id>.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Metadata {
    id: VersionId,
    kid: String,
    alg: String,
    fingerprint: String,
    file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jwk: Option<Jwk>,
    created: Timestamp,
    enabled: bool,
    #[serde(default)]
    destroyed: bool,
}

/// `keyset.json`.
#[derive(Debug, Serialize, Deserialize)]
struct Keyset {
    family: FamilyName,
    primary: Option<VersionId>,
    versions: Vec<KeysetEntry>,
}

/// One accepted version in `keyset.json`.
#[derive(Debug, Serialize, Deserialize)]
struct KeysetEntry {
    id: VersionId,
    kid: String,
    alg: String,
    fingerprint: String,
    file: String,
}

/// What is on disk for one family.
struct FamilyFiles {
    /// Every version with metadata, destroyed ones included, sorted by id.
    versions: Vec<Metadata>,
    primary: Option<VersionId>,
}

impl FileStore {
    /// A store at `root`, already resolved against the spec directory.
    pub fn new(address: String, root: PathBuf) -> FileStore {
        FileStore {
            address,
            root,
            write: Mutex::new(()),
        }
    }

    /// Reads a `store "file"` block; `path` is taken relative to `base_dir`.
    pub fn from_spec(spec: &StoreSpec, base_dir: &Path) -> Result<FileStore, ConfigError> {
        let settings = Settings::of("store", &spec.kind, &spec.settings, &spec.span);
        settings.only(&["path"], &[])?;
        let path = match settings.string("path")? {
            Some(("", span)) => {
                return Err(ConfigError::new("`path` of a file store is empty", span)
                    .hint(format!("leave it out to use \"{DEFAULT_PATH}\"")));
            }
            Some((p, _)) => p,
            None => DEFAULT_PATH,
        };
        Ok(FileStore::new(spec.address(), base_dir.join(path)))
    }

    /// The directory holding every family, so the CLI can check that it is
    /// ignored by git.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn family_dir(&self, family: &FamilyName) -> Result<PathBuf, ProviderError> {
        check_name("family", family.as_str())?;
        Ok(self.root.join(family.as_str()))
    }

    /// Holds one family for a read or a change: this value's tasks through a
    /// mutex, other processes (a `rotor plan` beside an apply, two applies on
    /// different families) through an OS lock on `<family>/.lock`. A read of
    /// a family that has no directory yet creates nothing and locks nothing.
    fn lock(&self, family: &FamilyName, create: bool) -> Result<FamilyLock<'_>, ProviderError> {
        // A panic in another task cannot leave the files half-written (every
        // write is atomic), so a poisoned lock is safe to take over.
        let guard = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let dir = self.family_dir(family)?;
        if !dir.is_dir() {
            if !create {
                return Ok(FamilyLock {
                    _guard: guard,
                    _file: None,
                });
            }
            fsutil::create_private_dir(&dir).map_err(|e| io_error("create", &dir, &e))?;
        }
        let path = dir.join(".lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(PRIVATE_FILE)
            .open(&path)
            .map_err(|e| io_error("open", &path, &e))?;
        file.lock().map_err(|e| io_error("lock", &path, &e))?;
        Ok(FamilyLock {
            _guard: guard,
            _file: Some(file),
        })
    }

    /// What is on disk for a family, after finishing whatever an interrupted
    /// change left half done; call with the family locked.
    fn load(&self, family: &FamilyName) -> Result<FamilyFiles, ProviderError> {
        let files = self.read_files(family)?;
        self.repair(family, &files)?;
        Ok(files)
    }

    /// Crash recovery, run before every read and change. The metadata files
    /// and `keyset.json`'s `primary` are the record; `keyset.json`'s list and
    /// the `primary` file are derived from them for readers, and a kill
    /// between two writes can leave them behind the record. Rewrite what
    /// differs, remove temporary files a killed write left, and shred
    /// material whose metadata was never written (a `put` killed in between:
    /// that version never existed for anyone).
    fn repair(&self, family: &FamilyName, files: &FamilyFiles) -> Result<(), ProviderError> {
        let dir = self.family_dir(family)?;
        if !dir.is_dir() {
            return Ok(());
        }
        let versions_dir = dir.join("versions");
        for d in [&dir, &versions_dir] {
            let Ok(entries) = fs::read_dir(d) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                let path = entry.path();
                if name.starts_with('.') && name.ends_with(".tmp") {
                    shred(&path).map_err(|e| io_error("remove", &path, &e))?;
                } else if *d == versions_dir
                    && let Some(id) = name
                        .strip_suffix(".pem")
                        .or_else(|| name.strip_suffix(".key"))
                    && !files.versions.iter().any(|m| m.id == id)
                {
                    shred(&path).map_err(|e| io_error("remove", &path, &e))?;
                }
            }
        }
        if files.versions.is_empty() && files.primary.is_none() {
            return Ok(());
        }
        let keyset_path = dir.join("keyset.json");
        let want = keyset_text(family, files);
        if fs::read_to_string(&keyset_path).ok().as_deref() != Some(want.as_str()) {
            fsutil::write_atomic(&keyset_path, want.as_bytes(), PRIVATE_FILE)
                .map_err(|e| io_error("write", &keyset_path, &e))?;
        }
        let primary_path = dir.join("primary");
        let want = files.primary.as_ref().map(|id| format!("{id}\n"));
        if fs::read_to_string(&primary_path).ok() != want {
            self.write_primary(&primary_path, files.primary.as_ref().map(VersionId::as_str))?;
        }
        Ok(())
    }

    fn write_primary(&self, path: &Path, primary: Option<&str>) -> Result<(), ProviderError> {
        match primary {
            Some(id) => fsutil::write_atomic(path, format!("{id}\n").as_bytes(), PRIVATE_FILE)
                .map_err(|e| io_error("write", path, &e)),
            None => match fs::remove_file(path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_error("remove", path, &e)),
                _ => Ok(()),
            },
        }
    }

    fn read_files(&self, family: &FamilyName) -> Result<FamilyFiles, ProviderError> {
        let dir = self.family_dir(family)?;
        let versions_dir = dir.join("versions");
        let mut versions = Vec::new();
        let entries = match fs::read_dir(&versions_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(FamilyFiles {
                    versions,
                    primary: None,
                });
            }
            Err(e) => return Err(io_error("read", &versions_dir, &e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| io_error("read", &versions_dir, &e))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            // Only metadata: never open material files, and skip temporaries.
            if name.starts_with('.') || !name.ends_with(".json") {
                continue;
            }
            versions.push(read_json::<Metadata>(&entry.path())?);
        }
        versions.sort_by(|a, b| a.id.cmp(&b.id));
        let keyset_path = dir.join("keyset.json");
        let primary = match fs::metadata(&keyset_path) {
            Ok(_) => read_json::<Keyset>(&keyset_path)?.primary,
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_error("read", &keyset_path, &e)),
        };
        Ok(FamilyFiles { versions, primary })
    }

    /// The version's metadata, which must exist and not be destroyed.
    fn version<'f>(
        &self,
        files: &'f mut FamilyFiles,
        family: &FamilyName,
        id: &VersionId,
    ) -> Result<&'f mut Metadata, ProviderError> {
        check_name("version id", id.as_str())?;
        match files.versions.iter_mut().find(|m| m.id == *id) {
            Some(m) if m.destroyed => Err(ProviderError::new(
                ErrorKind::NotFound,
                format!(
                    "version `{id}` of `{family}` in {} was destroyed",
                    self.address
                ),
            )),
            Some(m) => Ok(m),
            None => Err(ProviderError::new(
                ErrorKind::NotFound,
                format!("{} has no version `{id}` of `{family}`", self.address),
            )),
        }
    }

    fn write_metadata(&self, family: &FamilyName, meta: &Metadata) -> Result<(), ProviderError> {
        let path = self
            .family_dir(family)?
            .join("versions")
            .join(format!("{}.json", meta.id));
        write_json(&path, meta)
    }

    /// Rewrites `keyset.json` and `primary` from the metadata. The keyset is
    /// written first: it is the source of truth that `read` uses for the primary.
    fn write_keyset(&self, family: &FamilyName, files: &FamilyFiles) -> Result<(), ProviderError> {
        let dir = self.family_dir(family)?;
        let path = dir.join("keyset.json");
        fsutil::write_atomic(&path, keyset_text(family, files).as_bytes(), PRIVATE_FILE)
            .map_err(|e| io_error("write", &path, &e))?;
        self.write_primary(
            &dir.join("primary"),
            files.primary.as_ref().map(VersionId::as_str),
        )
    }
}

/// Holds a family (see [`FileStore::lock`]); released when dropped.
struct FamilyLock<'a> {
    _guard: std::sync::MutexGuard<'a, ()>,
    _file: Option<fs::File>,
}

/// The text of `keyset.json` for what the metadata says.
fn keyset_text(family: &FamilyName, files: &FamilyFiles) -> String {
    let keyset = Keyset {
        family: family.clone(),
        primary: files.primary.clone(),
        versions: files
            .versions
            .iter()
            .filter(|m| m.enabled && !m.destroyed)
            .map(|m| KeysetEntry {
                id: m.id.clone(),
                kid: m.kid.clone(),
                alg: m.alg.clone(),
                fingerprint: m.fingerprint.clone(),
                file: m.file.clone(),
            })
            .collect(),
    };
    let mut text = serde_json::to_string_pretty(&keyset).expect("store metadata serialises");
    text.push('\n');
    text
}

/// Family names and version ids become file names: keep them to a safe
/// alphabet so that no spec can write outside the store's directory.
/// Names are file names; 128 bytes leaves room under every file system's
/// 255 for the suffixes rotor adds.
const NAME_LIMIT: usize = 128;

fn check_name(what: &str, name: &str) -> Result<(), ProviderError> {
    if name.len() > NAME_LIMIT {
        return Err(ProviderError::new(
            ErrorKind::Invalid,
            format!(
                "the {what} `{name}` is {} bytes long; a file store allows at most {NAME_LIMIT}",
                name.len()
            ),
        ));
    }
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ProviderError::new(
            ErrorKind::Invalid,
            format!(
                "the {what} `{name}` cannot be a file name: use letters, digits, `.`, `_` and `-`, not starting with `.`"
            ),
        ))
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, ProviderError> {
    let text = fs::read_to_string(path).map_err(|e| io_error("read", path, &e))?;
    // These files hold no material, so serde's message (which may quote a
    // value) is safe to show.
    serde_json::from_str(&text).map_err(|e| {
        ProviderError::new(
            ErrorKind::Invalid,
            format!("{} is not valid: {e}", path.display()),
        )
    })
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), ProviderError> {
    let mut text = serde_json::to_string_pretty(value).expect("store metadata serialises");
    text.push('\n');
    fsutil::write_atomic(path, text.as_bytes(), PRIVATE_FILE)
        .map_err(|e| io_error("write", path, &e))
}

/// Overwrites a material file with zeros, flushes, then removes it. On a
/// copy-on-write or journalled file system the old blocks may survive the
/// overwrite; removing the file is what counts, the overwrite is best effort.
fn shred(path: &Path) -> io::Result<()> {
    let len = match fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut file = fs::OpenOptions::new().write(true).open(path)?;
    file.write_all(&vec![0u8; len as usize])?;
    file.sync_all()?;
    drop(file);
    fs::remove_file(path)?;
    fsutil::sync_dir(fsutil::parent(path))
}

#[async_trait]
impl Store for FileStore {
    fn address(&self) -> &str {
        &self.address
    }

    fn id_limit(&self) -> Option<(usize, &'static str)> {
        Some((NAME_LIMIT, "a file store's version ids are file names"))
    }

    async fn read(&self, family: &FamilyName) -> Result<LiveFamily, ProviderError> {
        let _lock = self.lock(family, false)?;
        let files = self.load(family)?;
        Ok(LiveFamily {
            versions: files
                .versions
                .into_iter()
                .filter(|m| !m.destroyed)
                .map(|m| LiveVersion {
                    thumbprint: m.jwk.as_ref().map(Jwk::thumbprint),
                    id: m.id,
                    fingerprint: m.fingerprint,
                    enabled: m.enabled,
                })
                .collect(),
            primary: files.primary,
        })
    }

    async fn put(
        &self,
        family: &FamilyName,
        version: &NewVersion<'_>,
    ) -> Result<(), ProviderError> {
        check_name("version id", version.id.as_str())?;
        let _lock = self.lock(family, true)?;
        let mut files = self.load(family)?;
        let id = version.id;
        if files.versions.iter().any(|m| m.id == *id) {
            return Err(ProviderError::new(
                ErrorKind::Conflict,
                format!(
                    "{} already has a version `{id}` of `{family}`; material is never replaced",
                    self.address
                ),
            ));
        }
        let versions_dir = self.family_dir(family)?.join("versions");
        fsutil::create_private_dir(&versions_dir)
            .map_err(|e| io_error("create", &versions_dir, &e))?;
        let generated = version.generated;
        let ext = if generated.public_jwk.is_some() {
            "pem"
        } else {
            "key"
        };
        let file = format!("versions/{id}.{ext}");
        let material_path = versions_dir.join(format!("{id}.{ext}"));
        // Material first: metadata that points at a missing file would be
        // worse than a stray file, which the next `put` simply replaces.
        fsutil::write_atomic(&material_path, generated.material.expose(), PRIVATE_FILE)
            .map_err(|e| io_error("write", &material_path, &e))?;
        let meta = Metadata {
            id: id.clone(),
            kid: version.kid.to_string(),
            alg: generated.algorithm.clone(),
            fingerprint: generated.fingerprint.clone(),
            file,
            jwk: generated.public_jwk.clone(),
            created: clock::now(),
            enabled: true,
            destroyed: false,
        };
        self.write_metadata(family, &meta)?;
        files.versions.push(meta);
        files.versions.sort_by(|a, b| a.id.cmp(&b.id));
        self.write_keyset(family, &files)
    }

    async fn set_primary(&self, family: &FamilyName, id: &VersionId) -> Result<(), ProviderError> {
        let _lock = self.lock(family, false)?;
        let mut files = self.load(family)?;
        let meta = self.version(&mut files, family, id)?;
        if !meta.enabled {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "version `{id}` of `{family}` in {} is disabled and cannot be the primary; enable it first",
                    self.address
                ),
            ));
        }
        files.primary = Some(id.clone());
        self.write_keyset(family, &files)
    }

    async fn disable(&self, family: &FamilyName, id: &VersionId) -> Result<(), ProviderError> {
        let _lock = self.lock(family, false)?;
        let mut files = self.load(family)?;
        if files.primary.as_ref() == Some(id) {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "version `{id}` is the primary of `{family}` in {} and cannot be disabled; promote another version first",
                    self.address
                ),
            ));
        }
        let meta = self.version(&mut files, family, id)?;
        if !meta.enabled {
            return Ok(());
        }
        meta.enabled = false;
        let meta = meta.clone();
        // Metadata before keyset: if we stop in between, `read` already
        // reports it disabled and the next disable rewrites the keyset.
        self.write_metadata(family, &meta)?;
        self.write_keyset(family, &files)
    }

    async fn enable(&self, family: &FamilyName, id: &VersionId) -> Result<(), ProviderError> {
        let _lock = self.lock(family, false)?;
        let mut files = self.load(family)?;
        let meta = self.version(&mut files, family, id)?;
        meta.enabled = true;
        let meta = meta.clone();
        self.write_metadata(family, &meta)?;
        self.write_keyset(family, &files)
    }

    async fn destroy(&self, family: &FamilyName, id: &VersionId) -> Result<(), ProviderError> {
        check_name("version id", id.as_str())?;
        let _lock = self.lock(family, false)?;
        let mut files = self.load(family)?;
        if files.versions.iter().any(|m| m.id == *id && m.destroyed) {
            return Ok(()); // already done; a resumed apply may ask again
        }
        let meta = self.version(&mut files, family, id)?;
        if meta.enabled {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "version `{id}` of `{family}` in {} is still enabled; disable it before destroying it",
                    self.address
                ),
            ));
        }
        let material_path = self.family_dir(family)?.join(&meta.file);
        shred(&material_path).map_err(|e| io_error("destroy", &material_path, &e))?;
        meta.destroyed = true;
        let meta = meta.clone();
        self.write_metadata(family, &meta)
    }

    async fn owner(&self, family: &FamilyName) -> Result<Option<String>, ProviderError> {
        let path = self.family_dir(family)?.join("owner");
        match fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text.trim().to_string()).filter(|l| !l.is_empty())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("read", &path, &e)),
        }
    }

    async fn claim(&self, family: &FamilyName, lineage: &str) -> Result<(), ProviderError> {
        let _lock = self.lock(family, true)?;
        let path = self.family_dir(family)?.join("owner");
        if fs::read_to_string(&path).is_ok_and(|t| t.trim() == lineage) {
            return Ok(());
        }
        fsutil::write_atomic(&path, format!("{lineage}\n").as_bytes(), PRIVATE_FILE)
            .map_err(|e| io_error("write", &path, &e))
    }

    async fn read_material(
        &self,
        family: &FamilyName,
        id: &VersionId,
    ) -> Result<SecretValue, ProviderError> {
        let _lock = self.lock(family, false)?;
        let mut files = self.load(family)?;
        let file = self.version(&mut files, family, id)?.file.clone();
        let path = self.family_dir(family)?.join(&file);
        fs::read(&path)
            .map(SecretValue::new)
            .map_err(|e| io_error("read", &path, &e))
    }

    async fn public_keys(&self, family: &FamilyName) -> Result<Vec<PublicKey>, ProviderError> {
        let _lock = self.lock(family, false)?;
        let files = self.load(family)?;
        Ok(files
            .versions
            .into_iter()
            .filter(|m| m.enabled && !m.destroyed)
            .filter_map(|m| {
                Some(PublicKey {
                    jwk: m.jwk?,
                    version: m.id,
                    kid: m.kid,
                    algorithm: m.alg,
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::KeyGenerator;
    use rotor_engine::Generator;
    use rotor_engine::provider::Generated;
    use rotor_engine::spec::Generate;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn ec() -> Generated {
        KeyGenerator
            .generate(
                &Generate::Ec {
                    curve: rotor_engine::spec::Curve::P256,
                },
                0,
            )
            .unwrap()
    }

    fn keyset(dir: &Path) -> serde_json::Value {
        serde_json::from_str(&fs::read_to_string(dir.join("keyset.json")).unwrap()).unwrap()
    }

    fn new_version<'a>(id: &'a VersionId, generated: &'a Generated) -> NewVersion<'a> {
        NewVersion {
            id,
            kid: id.as_str(),
            generated,
        }
    }

    /// The owner marker: absent until claimed, then the claiming lineage.
    #[tokio::test]
    async fn a_family_is_claimed_by_one_lineage() {
        let tmp = tempfile::tempdir().unwrap();
        let store = FileStore::new("store.file.local".into(), tmp.path().join("s"));
        assert_eq!(store.owner(&"signing".into()).await.unwrap(), None);
        store.claim(&"signing".into(), "lineage-a").await.unwrap();
        assert_eq!(
            store.owner(&"signing".into()).await.unwrap().as_deref(),
            Some("lineage-a")
        );
        store.claim(&"signing".into(), "lineage-b").await.unwrap();
        assert_eq!(
            store.owner(&"signing".into()).await.unwrap().as_deref(),
            Some("lineage-b")
        );
        assert_eq!(mode(&store.root().join("signing/owner")), 0o600);
    }

    /// What a kill between two writes leaves is finished by the next read:
    /// the derived files follow the metadata, temporaries and material
    /// without metadata are gone.
    #[tokio::test]
    async fn a_read_finishes_what_a_killed_change_left_half_done() {
        let tmp = tempfile::tempdir().unwrap();
        let store = FileStore::new("store.file.local".into(), tmp.path().join("s"));
        let dir = store.root().join("signing");
        let (g1, g2) = (ec(), ec());
        store
            .put(&"signing".into(), &new_version(&"v1".into(), &g1))
            .await
            .unwrap();
        store
            .set_primary(&"signing".into(), &"v1".into())
            .await
            .unwrap();
        let before_v2 = fs::read_to_string(dir.join("keyset.json")).unwrap();
        store
            .put(&"signing".into(), &new_version(&"v2".into(), &g2))
            .await
            .unwrap();
        let keyset_with_v2 = fs::read_to_string(dir.join("keyset.json")).unwrap();

        // A put killed after the metadata, before keyset.json.
        fs::write(dir.join("keyset.json"), &before_v2).unwrap();
        // A write killed before its rename, and material whose metadata never came.
        fs::write(dir.join(".keyset.json.tmp"), "half").unwrap();
        fs::write(dir.join("versions/.v3.pem.tmp"), "half").unwrap();
        fs::write(dir.join("versions/v3.pem"), "orphan").unwrap();
        let live = store.read(&"signing".into()).await.unwrap();
        assert_eq!(live.versions.len(), 2);
        assert_eq!(
            fs::read_to_string(dir.join("keyset.json")).unwrap(),
            keyset_with_v2
        );
        for gone in [
            ".keyset.json.tmp",
            "versions/.v3.pem.tmp",
            "versions/v3.pem",
        ] {
            assert!(!dir.join(gone).exists(), "{gone} left behind");
        }

        // A promote killed between keyset.json and the primary file.
        store
            .set_primary(&"signing".into(), &"v2".into())
            .await
            .unwrap();
        fs::write(dir.join("primary"), "v1\n").unwrap();
        store.read(&"signing".into()).await.unwrap();
        assert_eq!(fs::read_to_string(dir.join("primary")).unwrap(), "v2\n");

        // A disable killed after the metadata, before keyset.json: asked
        // again, the key set still loses the version.
        let listed = fs::read_to_string(dir.join("keyset.json")).unwrap();
        store
            .disable(&"signing".into(), &"v1".into())
            .await
            .unwrap();
        fs::write(dir.join("keyset.json"), &listed).unwrap();
        store
            .disable(&"signing".into(), &"v1".into())
            .await
            .unwrap();
        let ks = keyset(&dir);
        assert_eq!(ks["versions"].as_array().unwrap().len(), 1);
        assert_eq!(ks["versions"][0]["id"], "v2");
    }

    async fn subject() -> crate::store::conformance::Subject {
        let tmp = tempfile::tempdir().unwrap();
        let store = FileStore::new("store.file.local".into(), tmp.path().join(".rotor/secrets"));
        crate::store::conformance::Subject {
            store: Box::new(store),
            family: "signing".into(),
            secret: Generate::Random {
                length: 32,
                encoding: rotor_engine::spec::Encoding::Hex,
            },
            capabilities: crate::store::conformance::Capabilities {
                key_pairs: true,
                readable_material: true,
                tombstones: true,
            },
            keep_alive: Some(Box::new(tmp)),
        }
    }

    crate::store::conformance::store_conformance!(subject);

    /// What the conformance suite's lifecycle leaves on disk: the documented
    /// layout, private modes, and nothing else.
    #[tokio::test]
    async fn the_lifecycle_keeps_the_documented_layout() {
        let tmp = tempfile::tempdir().unwrap();
        let store = FileStore::new("store.file.local".into(), tmp.path().join(".rotor/secrets"));
        let dir = store.root().join("signing");

        let (g1, g2) = (ec(), ec());
        store
            .put(&"signing".into(), &new_version(&"v1".into(), &g1))
            .await
            .unwrap();
        let pem = dir.join("versions/v1.pem");
        assert_eq!(fs::read(&pem).unwrap(), g1.material.expose());
        assert_eq!(mode(&pem), 0o600);
        for d in [
            tmp.path().join(".rotor"),
            store.root().to_path_buf(),
            dir.clone(),
            dir.join("versions"),
        ] {
            assert_eq!(mode(&d), 0o700, "{}", d.display());
        }
        let ks = keyset(&dir);
        assert_eq!(ks["family"], "signing");
        assert_eq!(ks["primary"], serde_json::Value::Null);
        assert_eq!(ks["versions"][0]["file"], "versions/v1.pem");
        assert_eq!(ks["versions"][0]["fingerprint"], g1.fingerprint.as_str());
        assert!(!dir.join("primary").exists());

        store
            .set_primary(&"signing".into(), &"v1".into())
            .await
            .unwrap();
        assert_eq!(fs::read_to_string(dir.join("primary")).unwrap(), "v1\n");
        store
            .put(&"signing".into(), &new_version(&"v1".into(), &g2))
            .await
            .unwrap_err();
        assert_eq!(
            fs::read(&pem).unwrap(),
            g1.material.expose(),
            "material replaced"
        );

        store
            .put(&"signing".into(), &new_version(&"v2".into(), &g2))
            .await
            .unwrap();
        store
            .set_primary(&"signing".into(), &"v2".into())
            .await
            .unwrap();
        let ids = |ks: &serde_json::Value| -> Vec<String> {
            ks["versions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["id"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(ids(&keyset(&dir)), ["v1", "v2"]);
        assert_eq!(keyset(&dir)["primary"], "v2");

        let err = store
            .disable(&"signing".into(), &"v2".into())
            .await
            .unwrap_err();
        assert!(err.message.contains("primary"), "{}", err.message);

        store
            .disable(&"signing".into(), &"v1".into())
            .await
            .unwrap();
        assert_eq!(ids(&keyset(&dir)), ["v2"]);
        assert!(pem.exists(), "disable keeps the material");

        // Restorable until destroyed.
        store.enable(&"signing".into(), &"v1".into()).await.unwrap();
        assert_eq!(ids(&keyset(&dir)), ["v1", "v2"]);
        store
            .disable(&"signing".into(), &"v1".into())
            .await
            .unwrap();

        store
            .destroy(&"signing".into(), &"v1".into())
            .await
            .unwrap();
        assert!(!pem.exists());
        let meta: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(dir.join("versions/v1.json")).unwrap())
                .unwrap();
        assert_eq!(
            (meta["destroyed"].as_bool(), meta["enabled"].as_bool()),
            (Some(true), Some(false))
        );
        store
            .destroy(&"signing".into(), &"v1".into())
            .await
            .unwrap();
        store
            .put(&"signing".into(), &new_version(&"v1".into(), &g1))
            .await
            .unwrap_err();

        // Nothing but the documented files, and no temporaries left behind.
        let mut names: Vec<String> = fs::read_dir(dir.join("versions"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["v1.json", "v2.json", "v2.pem"]);
    }

    #[tokio::test]
    async fn random_secrets_use_key_files_and_have_no_public_keys() {
        let tmp = tempfile::tempdir().unwrap();
        let store = FileStore::new("store.file.local".into(), tmp.path().to_path_buf());
        let g = KeyGenerator
            .generate(
                &Generate::Random {
                    length: 32,
                    encoding: rotor_engine::spec::Encoding::Hex,
                },
                0,
            )
            .unwrap();
        store
            .put(&"webhook".into(), &new_version(&"a".into(), &g))
            .await
            .unwrap();
        let key = tmp.path().join("webhook/versions/a.key");
        assert_eq!(fs::read(&key).unwrap(), g.material.expose());
        assert_eq!(mode(&key), 0o600);
        assert!(
            store
                .public_keys(&"webhook".into())
                .await
                .unwrap()
                .is_empty()
        );
        let err = store
            .set_primary(&"webhook".into(), &"b".into())
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::NotFound);
    }

    #[tokio::test]
    async fn names_cannot_escape_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let store = FileStore::new("store.file.local".into(), tmp.path().join("s"));
        let g = ec();
        for (family, id) in [
            ("../x", "v1"),
            ("ok", "../v1"),
            (".hidden", "v1"),
            ("ok", "a/b"),
            ("", "v"),
        ] {
            let err = store
                .put(&family.into(), &new_version(&id.into(), &g))
                .await
                .unwrap_err();
            assert_eq!(err.kind, ErrorKind::Invalid, "{family} {id}");
        }
        assert!(!tmp.path().join("x").exists());
    }

    #[test]
    fn from_spec_reads_path_relative_to_the_spec() {
        use crate::config::tests::{span, string};
        let mut spec = StoreSpec {
            kind: "file".into(),
            name: "local".into(),
            settings: Default::default(),
            span: span(0),
        };
        let s = FileStore::from_spec(&spec, Path::new("/spec")).unwrap();
        assert_eq!(s.root(), Path::new("/spec/.rotor/secrets"));
        assert_eq!(s.address(), "store.file.local");
        spec.settings.insert("path".into(), string("keys", 5));
        let s = FileStore::from_spec(&spec, Path::new("/spec")).unwrap();
        assert_eq!(s.root(), Path::new("/spec/keys"));
        spec.settings.insert("mode".into(), string("x", 9));
        let err = FileStore::from_spec(&spec, Path::new("/spec")).unwrap_err();
        assert_eq!(err.span, span(9));
    }

    /// A version's metadata, byte for byte: the `jwk` members in
    /// lexicographic order, as rotor has always written them.
    #[test]
    fn metadata_keeps_its_bytes() {
        let text = r#"{
  "id": "2026-08",
  "kid": "2026-08",
  "alg": "ES256",
  "fingerprint": "sha256:0123456789abcdef",
  "file": "versions/2026-08.pem",
  "jwk": {
    "crv": "P-256",
    "kty": "EC",
    "x": "xx",
    "y": "yy"
  },
  "created": "2026-08-01T00:00:00Z",
  "enabled": true,
  "destroyed": false
}"#;
        let meta: Metadata = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_string_pretty(&meta).unwrap(), text);
    }
}
