//! The local state backend: `.rotor/state.json` beside the spec.
//!
//! - **Atomic saves.** The state is written to `state.json.tmp`, flushed,
//!   renamed over `state.json`, and the directory is flushed. Before that the
//!   previous state is copied to `state.json.backup`, as Terraform keeps
//!   `terraform.tfstate.backup`, so one bad apply can be undone by hand.
//! - **One command at a time.** A command that may write takes an OS file
//!   lock (`flock`) on `state.json.lock` for as long as it runs, and writes
//!   who holds it into that file. A second command fails at once, naming the
//!   holder. The OS drops the lock when the holder exits, however it exits,
//!   so a lock file left behind by a dead process is harmless and is never
//!   deleted by hand.

use crate::clock;
use crate::fsutil::{self, PRIVATE_FILE};
use rotor_engine::state::{ApprovalRecord, State, StateError};
use rotor_engine::{StateBackend, Timestamp};
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Where the local backend keeps state when nothing else is configured,
/// relative to the spec directory.
pub const DEFAULT_PATH: &str = ".rotor/state.json";

/// State in a local JSON file, optionally locked for the life of the value.
#[derive(Debug)]
pub struct LocalState {
    path: PathBuf,
    /// Held open for as long as the lock must be held; closing it releases it.
    _lock: Option<File>,
}

/// Who holds the lock, as written into the lock file.
#[derive(Debug, Serialize, Deserialize)]
struct Holder {
    pid: u32,
    host: String,
    user: String,
    command: String,
    since: Timestamp,
}

/// `state.json` + `suffix`, in the same directory.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

fn backend_error(what: &str, path: &Path, e: &io::Error) -> StateError {
    StateError::Backend(format!("could not {what} {}: {e}", path.display()))
}

fn host_name() -> String {
    fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

impl LocalState {
    /// Opens the state at `path`.
    ///
    /// With `lock`, creates the state's directory (0700) if needed and takes the state lock or fails at once, naming the process
    /// that holds it; `command` (such as `rotor apply`) is recorded for the
    /// next one to see. Read-only commands (`plan`, `show`) pass `false`.
    pub fn open(path: PathBuf, command: &str, lock: bool) -> Result<LocalState, StateError> {
        let lock = if lock {
            // Read-only commands leave no trace: only a command that may write creates the directory.
            let dir = fsutil::parent(&path).to_path_buf();
            fsutil::create_private_dir(&dir).map_err(|e| backend_error("create", &dir, &e))?;
            Some(take_lock(&path, command)?)
        } else {
            None
        };
        Ok(LocalState { path, _lock: lock })
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn take_lock(path: &Path, command: &str) -> Result<File, StateError> {
    let lock_path = sibling(path, ".lock");
    // No truncate here: until we hold the lock, the record belongs to the holder.
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(PRIVATE_FILE)
        .open(&lock_path)
        .map_err(|e| backend_error("open", &lock_path, &e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Err(locked_error(&lock_path)),
        Err(TryLockError::Error(e)) => return Err(backend_error("lock", &lock_path, &e)),
    }
    let holder = Holder {
        pid: std::process::id(),
        host: host_name(),
        user: std::env::var("USER").unwrap_or_else(|_| "unknown".into()),
        command: command.to_string(),
        since: clock::now(),
    };
    let record = serde_json::to_string(&holder).expect("a lock record serialises") + "\n";
    // The record is informative only (the lock is the flock), so a failure
    // to write it is reported rather than silently leaving a stale record.
    let written = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(record.as_bytes()))
        .and_then(|()| file.sync_all());
    written.map_err(|e| backend_error("write", &lock_path, &e))?;
    Ok(file)
}

fn locked_error(lock_path: &Path) -> StateError {
    let hint = "hint: wait for it to finish; if that process is stuck, stop it. \
                The lock is released when the process exits, so there is no file to delete.";
    let holder = fs::read_to_string(lock_path)
        .ok()
        .and_then(|t| serde_json::from_str::<Holder>(&t).ok());
    StateError::Backend(match holder {
        Some(h) => format!(
            "the state is locked by pid {} on host {} (user {}, `{}`, since {})\n  {hint}",
            h.pid, h.host, h.user, h.command, h.since
        ),
        // The holder may be between taking the lock and writing its record.
        None => format!(
            "the state is locked by another rotor process ({})\n  {hint}",
            lock_path.display()
        ),
    })
}

impl StateBackend for LocalState {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    fn load(&self) -> Result<Option<State>, StateError> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(backend_error("read", &self.path, &e)),
        };
        // The checks' errors are returned unchanged, variants intact, for
        // callers that match on them (`Edited` has its own advice); callers
        // name the file with `describe()`, so the path is not repeated here.
        let mut state = State::from_json(&text)?;
        state.merge_approvals(&self.approvals()?);
        Ok(Some(state))
    }

    /// `state.json.approvals`: one JSON approval per line, appended by
    /// `rotor approve` without the state's lock.
    fn approvals(&self) -> Result<Vec<ApprovalRecord>, StateError> {
        let path = sibling(&self.path, ".approvals");
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(backend_error("read", &path, &e)),
        };
        // A line cut short by a crash mid-append (JSON that ends too soon)
        // is skipped; every other line must be an approval.
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            match serde_json::from_str::<ApprovalRecord>(line) {
                Ok(r) => out.push(r),
                Err(e) if e.is_eof() => {}
                Err(e) => {
                    return Err(StateError::Corrupt(format!(
                        "{} line {}: {e}",
                        path.display(),
                        i + 1
                    )));
                }
            }
        }
        Ok(out)
    }

    fn add_approval(&self, record: &ApprovalRecord) -> Result<(), StateError> {
        let path = sibling(&self.path, ".approvals");
        let dir = fsutil::parent(&path).to_path_buf();
        fsutil::create_private_dir(&dir).map_err(|e| backend_error("create", &dir, &e))?;
        let mut line = serde_json::to_string(record).expect("an approval serialises") + "\n";
        // After a line cut short by a crash, start on a line of its own.
        if fs::read(&path).is_ok_and(|b| !b.is_empty() && !b.ends_with(b"\n")) {
            line.insert(0, '\n');
        }
        let mut file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(PRIVATE_FILE)
            .open(&path)
            .map_err(|e| backend_error("open", &path, &e))?;
        file.write_all(line.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| backend_error("write", &path, &e))
    }

    fn save(&self, state: &State) -> Result<(), StateError> {
        let text = state.to_json();
        match fs::read(&self.path) {
            Ok(previous) => {
                let backup = sibling(&self.path, ".backup");
                fsutil::write_atomic(&backup, &previous, PRIVATE_FILE)
                    .map_err(|e| backend_error("write", &backup, &e))?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(backend_error("read", &self.path, &e)),
        }
        // Through the documented `state.json.tmp` name rather than a hidden
        // temporary, so a user who finds one after a crash knows what it is.
        let tmp = sibling(&self.path, ".tmp");
        fsutil::write_atomic_via(&self.path, &tmp, text.as_bytes(), PRIVATE_FILE)
            .map_err(|e| backend_error("write", &self.path, &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::new_lineage;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn save_and_load_round_trip_with_backup() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(".rotor/state.json");
        let backend = LocalState::open(path.clone(), "rotor apply", true).unwrap();
        assert_eq!(backend.load().unwrap(), None);
        assert_eq!(
            fs::metadata(tmp.path().join(".rotor"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );

        let mut state = State::new(new_lineage());
        state.serial = 1;
        backend.save(&state).unwrap();
        // `load` returns the sealed state, checksum included.
        assert_eq!(
            backend.load().unwrap(),
            Some(State::from_json(&state.to_json()).unwrap())
        );
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(!tmp.path().join(".rotor/state.json.backup").exists());

        state.serial = 2;
        backend.save(&state).unwrap();
        assert_eq!(backend.load().unwrap().unwrap().serial, 2);
        let backup =
            State::from_json(&fs::read_to_string(sibling(&path, ".backup")).unwrap()).unwrap();
        assert_eq!(backup.serial, 1);
        assert!(!sibling(&path, ".tmp").exists());
    }

    /// Approvals are appended without the lock and merged into every load;
    /// a line cut short by a crash is skipped, and the next one starts anew.
    #[test]
    fn approvals_are_appended_beside_the_state_and_merged_on_load() {
        use rotor_engine::state::{Approval, VersionState};
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(".rotor/state.json");
        let locked = LocalState::open(path.clone(), "rotor apply", true).unwrap();
        let mut state = State::new(new_lineage());
        state
            .families
            .entry("k".into())
            .or_default()
            .versions
            .insert(
                "v1".into(),
                VersionState::created(
                    "v1".into(),
                    "ES256".into(),
                    "sha256:00".into(),
                    Timestamp(1),
                ),
            );
        locked.save(&state).unwrap();
        // Another process, without the lock.
        let other = LocalState::open(path.clone(), "rotor approve", false).unwrap();
        let record = |at: i64| ApprovalRecord {
            family: "k".into(),
            version: "v1".into(),
            gate: "accept.api".into(),
            approval: Approval {
                at: Timestamp(at),
                by: "ada".into(),
            },
        };
        other.add_approval(&record(5)).unwrap();
        let approvals = sibling(&path, ".approvals");
        let mut text = fs::read_to_string(&approvals).unwrap();
        text.push_str("{\"family\": \"k\", \"vers");
        fs::write(&approvals, text).unwrap();
        assert_eq!(other.approvals().unwrap(), vec![record(5)]);
        other.add_approval(&record(9)).unwrap();
        assert_eq!(other.approvals().unwrap(), vec![record(5), record(9)]);
        let loaded = locked.load().unwrap().unwrap();
        let v = loaded.version("k", "v1").unwrap();
        assert_eq!(v.approvals["accept.api"].at, Timestamp(9));
        assert_eq!(
            fs::metadata(&approvals).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn a_second_lock_fails_fast_naming_the_holder() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("state.json");
        let first = LocalState::open(path.clone(), "rotor apply", true).unwrap();
        let err = LocalState::open(path.clone(), "rotor apply", true).unwrap_err();
        let StateError::Backend(message) = &err else {
            panic!("{err:?}")
        };
        let pid = std::process::id();
        assert!(
            message.starts_with(&format!("the state is locked by pid {pid} on host ")),
            "{message}"
        );
        assert!(message.contains("`rotor apply`, since "), "{message}");
        assert!(
            message.contains("\n  hint: wait for it to finish"),
            "{message}"
        );
        // Unlocked readers are not blocked.
        LocalState::open(path.clone(), "rotor plan", false).unwrap();
        // Dropping the holder releases the lock; the file left behind is harmless.
        drop(first);
        assert!(sibling(&path, ".lock").exists());
        // Another test of this process may fork (probe tests run commands) while the
        // holder is open: the child shares the lock until its exec closes it. Allow that moment.
        let mut again = LocalState::open(path.clone(), "rotor apply", true);
        for _ in 0..50 {
            if again.is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            again = LocalState::open(path.clone(), "rotor apply", true);
        }
        again.unwrap();
    }

    #[test]
    fn tampered_and_corrupt_files_are_rejected() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("state.json");
        let backend = LocalState::open(path.clone(), "rotor apply", false).unwrap();
        let mut state = State::new(new_lineage());
        state.serial = 7;
        backend.save(&state).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        fs::write(&path, text.replace("\"serial\": 7", "\"serial\": 8")).unwrap();
        assert_eq!(backend.load(), Err(StateError::Edited));
        fs::write(&path, "{ not json").unwrap();
        assert!(matches!(backend.load(), Err(StateError::Corrupt(_))));
    }
}
