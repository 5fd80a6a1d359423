//! File-system primitives shared by the file-backed providers: atomic writes,
//! private directories, and turning `io::Error`s into [`ProviderError`]s.
//!
//! Every file rotor owns is replaced, never edited in place: the new contents
//! go to a temporary file in the same directory, which is flushed to disk,
//! renamed over the old name, and then the directory itself is flushed. A
//! reader (a service reading `keyset.json`, a web server serving `jwks.json`)
//! therefore sees either the old file or the new one, never half of either,
//! and a crash or power cut leaves one of the two on disk.

use rotor_engine::provider::{ErrorKind, ProviderError};
use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Mode of files that hold material or describe it: owner read/write only.
pub(crate) const PRIVATE_FILE: u32 = 0o600;
/// Mode of directories rotor creates for private data.
pub(crate) const PRIVATE_DIR: u32 = 0o700;

/// Replaces `path` with `bytes` atomically; the file has exactly `mode`.
///
/// The temporary file is created with `mode` from the start (so material is
/// never readable by others, not even for a moment) and then set to `mode`
/// explicitly, because the creation mode is filtered by the umask and a
/// public artifact such as a JWKS must end up 0644 whatever the umask is.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let tmp = parent(path).join(format!(".{}.tmp", name.to_string_lossy()));
    write_atomic_via(path, &tmp, bytes, mode)
}

/// Replaces a file the user owns (a spec file, a saved plan) atomically
/// and durably, as rotor replaces its own: a temporary file beside it,
/// flushed, renamed over it, the directory flushed. The file keeps its
/// permission bits; a new one gets 0644.
pub fn replace_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mode = match fs::metadata(path) {
        Ok(m) => m.permissions().mode() & 0o7777,
        Err(e) if e.kind() == io::ErrorKind::NotFound => 0o644,
        Err(e) => return Err(e),
    };
    write_atomic(path, bytes, mode)
}

/// [`write_atomic`] through a temporary file of the caller's choosing, which
/// must be in the same directory as `path` (a rename does not cross file systems).
pub(crate) fn write_atomic_via(path: &Path, tmp: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    // A leftover from a crashed write was never visible under the real name.
    match fs::remove_file(tmp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(tmp)?;
        file.set_permissions(Permissions::from_mode(mode))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        rename_into_place(tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(tmp);
    }
    result
}

/// Renames a complete temporary file, already flushed to disk, over `path`
/// in the same directory, then flushes the directory so that the rename
/// survives a crash. The last step of every replacement rotor makes: the
/// bytes of [`write_atomic_via`], the SQLite state database's creation.
pub(crate) fn rename_into_place(tmp: &Path, path: &Path) -> io::Result<()> {
    fs::rename(tmp, path)?;
    sync_dir(parent(path))
}

/// Flushes a file's contents to disk.
pub(crate) fn sync_file(path: &Path) -> io::Result<()> {
    OpenOptions::new().write(true).open(path)?.sync_all()
}

/// Flushes a directory, so that a rename or removal in it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates a directory and any missing parents with mode 0700. Directories
/// that already exist are left as they are: they may be shared on purpose.
pub(crate) fn create_private_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR)
        .create(dir)
}

/// The directory a path lives in; `.` for a bare file name.
pub(crate) fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// `could not {what} {path}: {error}`, with a kind that tells the engine
/// whether retrying can help. An `io::Error` never carries file contents, so
/// this cannot leak material.
pub(crate) fn io_error(what: &str, path: &Path, e: &io::Error) -> ProviderError {
    let kind = match e.kind() {
        io::ErrorKind::PermissionDenied => ErrorKind::Denied,
        io::ErrorKind::NotFound => ErrorKind::NotFound,
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput => ErrorKind::Invalid,
        _ => ErrorKind::Unavailable,
    };
    ProviderError::new(kind, format!("could not {what} {}: {e}", path.display()))
}

/// A path with `.` and `..` components folded away (lexically, without the
/// file system: the file may not exist yet), so that two spellings of one
/// file compare equal.
pub(crate) fn normalize(path: &Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut out = std::path::PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A user's file (a spec, a saved plan) keeps its mode when replaced;
    /// a new one is 0644 whatever the umask.
    #[test]
    fn replacing_a_users_file_keeps_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rotor.hcl");
        replace_file(&path, b"new").unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o644
        );
        fs::set_permissions(&path, Permissions::from_mode(0o640)).unwrap();
        replace_file(&path, b"edited").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"edited");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o640
        );
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary left"
        );
    }

    #[test]
    fn atomic_write_sets_exact_mode_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        write_atomic(&path, b"one", 0o644).unwrap();
        write_atomic(&path, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.json")]);
    }

    #[test]
    fn private_dirs_are_0700() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("x/y");
        create_private_dir(&deep).unwrap();
        for d in [dir.path().join("x"), deep] {
            assert_eq!(fs::metadata(d).unwrap().permissions().mode() & 0o777, 0o700);
        }
    }
}
