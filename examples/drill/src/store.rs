//! Reading rotor's file store directly, as a service on the same machine
//! may (the layout is stable; see `rotor_providers::store::file`):
//! `<store>/<family>/keyset.json` lists the enabled versions and the
//! primary, and each version's material is in the file it names.

use serde::Deserialize;
use std::io;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// One family's directory in a file store.
#[derive(Debug, Clone)]
pub struct FamilyDir {
    dir: PathBuf,
}

#[derive(Debug, Deserialize)]
struct KeysetFile {
    primary: Option<String>,
    versions: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    id: String,
    file: String,
}

/// A version's material, as stored: PEM text or an encoded random secret.
pub struct Material {
    /// The version id (the JWT `kid`).
    pub id: String,
    /// The file's bytes, wiped on drop.
    pub bytes: Zeroizing<Vec<u8>>,
}

impl FamilyDir {
    /// `<store>/<family>`.
    pub fn new(store: &Path, family: &str) -> FamilyDir {
        FamilyDir {
            dir: store.join(family),
        }
    }

    /// The family directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    fn keyset(&self) -> io::Result<KeysetFile> {
        let path = self.dir.join("keyset.json");
        let text = std::fs::read_to_string(&path)?;
        serde_json::from_str(&text).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        })
    }

    fn material(&self, entry: &Entry) -> io::Result<Material> {
        let bytes = std::fs::read(self.dir.join(&entry.file))?;
        Ok(Material {
            id: entry.id.clone(),
            bytes: Zeroizing::new(bytes),
        })
    }

    /// The primary version's material, what an emitter signs with; `None`
    /// while the store has no family or no primary yet.
    pub fn primary(&self) -> io::Result<Option<Material>> {
        let keyset = match self.keyset() {
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(primary) = keyset.primary else {
            return Ok(None);
        };
        let entry = keyset
            .versions
            .iter()
            .find(|v| v.id == primary)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("primary {primary} is not in keyset.json"),
                )
            })?;
        self.material(entry).map(Some)
    }

    /// The primary version id without reading material; `None` as in [`FamilyDir::primary`].
    pub fn primary_id(&self) -> io::Result<Option<String>> {
        match self.keyset() {
            Ok(k) => Ok(k.primary),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every enabled version's material, what a verifier of shared secrets
    /// accepts; empty while the family does not exist.
    pub fn enabled(&self) -> io::Result<Vec<Material>> {
        let keyset = match self.keyset() {
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        keyset.versions.iter().map(|v| self.material(v)).collect()
    }
}
