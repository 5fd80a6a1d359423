//! The embedded default: `.rotor/state.db`, a SQLite database in WAL mode.
//!
//! - **One row per family.** A step saves its family's record alone, checked
//!   against the record's serial (another writer got there first: refused)
//!   and the family's lease (broken: refused). An apply's saves go to one
//!   committer thread, which gathers them for [`GATHER`] and commits them
//!   in one transaction, each in a savepoint of its own: one disk flush for many
//!   families. A step costs the same at 10 or 10,000 families.
//! - **Crash-safe.** Every commit is durable before it returns
//!   (`synchronous = FULL`); a process killed mid-transaction leaves the
//!   previous commit.
//! - **Leases, not one lock.** An apply leases the families it changes; a
//!   second one on other families proceeds. A lease is renewed by a
//!   heartbeat thread and lapses [`LEASE_TTL`] after its holder stopped —
//!   at once when the holder was a process on this host that has exited.
//! - **Approvals and history** are rows of their own, appended without a
//!   lease: `rotor approve` never waits for an apply.
//! - **Migration.** A `state.json` beside the database, from an earlier
//!   rotor, is read when there is no database yet and imported by the first
//!   command that writes, then kept as `state.json.migrated`.
//!
//! The file and its `-wal`/`-shm` companions are created 0600 in a 0700
//! directory.

use super::{
    GATHER, LEASE_TTL, Leases, backend_error, base_serial, host_name, pid_alive, whole_serial,
};
use crate::fsutil::{self, PRIVATE_FILE};
use rotor_engine::state::{
    ApprovalRecord, Event, FamilyState, Lease, LeaseHolder, STATE_FORMAT_VERSION, State, StateError,
};
use rotor_engine::{Duration, FamilyName, StateBackend, Timestamp};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::fs::{self, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};

/// Where the embedded default lives, relative to the spec directory.
pub const DEFAULT_PATH: &str = ".rotor/state.db";

/// The schema. `user_version` says which one a database has.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS workspace (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    format_version INTEGER NOT NULL,
    lineage TEXT NOT NULL,
    serial INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS families (
    name TEXT PRIMARY KEY,
    serial INTEGER NOT NULL,
    record TEXT NOT NULL,
    checksum TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS approvals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    family TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS leases (
    family TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    holder TEXT NOT NULL,
    heartbeat INTEGER NOT NULL,
    expires INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    family TEXT NOT NULL,
    event TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_family ON events (family, id);
PRAGMA user_version = 1;
";

/// State in a SQLite database.
pub struct SqliteState {
    path: PathBuf,
    /// Opened on first use: a read-only command on a workspace with no
    /// state creates nothing.
    conn: Mutex<Option<Connection>>,
    leases: Arc<Leases>,
    ttl: Duration,
    /// The group-commit thread, started by the first `save_family_soon`.
    committer: Mutex<Option<(mpsc::Sender<Job>, std::thread::JoinHandle<()>)>>,
}

/// Work for the committer thread.
enum Job {
    Save {
        lineage: String,
        name: FamilyName,
        family: FamilyState,
        reply: futures_channel::oneshot::Sender<Result<(), StateError>>,
    },
    Event {
        event: Event,
        /// Told once the event is committed, when someone waits for it.
        reply: Option<futures_channel::oneshot::Sender<Result<(), StateError>>>,
    },
}

fn sql_error(path: &Path, e: rusqlite::Error) -> StateError {
    StateError::Backend(format!("{}: {e}", path.display()))
}

impl SqliteState {
    /// The database at `path` (created by the first write).
    pub fn open(path: PathBuf) -> SqliteState {
        SqliteState {
            path,
            conn: Mutex::new(None),
            leases: Arc::new(Leases::default()),
            ttl: LEASE_TTL,
            committer: Mutex::new(None),
        }
    }

    /// Leases lapse `ttl` after their holder's last heartbeat.
    pub fn with_lease_ttl(mut self, ttl: Duration) -> SqliteState {
        self.ttl = ttl;
        self
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The `state.json` of an earlier rotor, beside the database: the same
    /// name with `.json` (`state.db` → `state.json`).
    fn legacy(&self) -> PathBuf {
        self.path.with_extension("json")
    }

    /// Runs `f` on the connection, opening (and with `create`, creating) the
    /// database first. `None` when there is no database and `create` is off.
    fn with<R>(
        &self,
        create: bool,
        f: impl FnOnce(&mut Connection) -> Result<R, StateError>,
    ) -> Result<Option<R>, StateError> {
        let mut guard = self.conn.lock().expect("connection lock");
        if guard.is_none() {
            if !self.path.exists() {
                if !create {
                    return Ok(None);
                }
                self.create()?;
            }
            *guard = Some(connect(&self.path)?);
            if create {
                self.finish_migration(guard.as_mut().expect("just opened"))?;
            }
        } else if create {
            self.finish_migration(guard.as_mut().expect("open"))?;
        }
        f(guard.as_mut().expect("open")).map(Some)
    }

    /// Creates the database (0600, in a 0700 directory), importing a
    /// `state.json` of an earlier rotor found beside it. Built under a
    /// temporary name and renamed into place, so a crash leaves either no
    /// database (the import runs again) or a whole one.
    fn create(&self) -> Result<(), StateError> {
        let dir = fsutil::parent(&self.path).to_path_buf();
        fsutil::create_private_dir(&dir).map_err(|e| backend_error("create", &dir, &e))?;
        let tmp = self.path.with_extension("db.tmp");
        let _ = fs::remove_file(&tmp);
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(PRIVATE_FILE)
            .open(&tmp)
            .map_err(|e| backend_error("create", &tmp, &e))?;
        {
            // No WAL until the file is in place: a rename must carry all of it.
            let mut conn = Connection::open(&tmp).map_err(|e| sql_error(&tmp, e))?;
            conn.execute_batch(SCHEMA).map_err(|e| sql_error(&tmp, e))?;
            if let Some(state) = self.read_legacy()? {
                write_whole(&mut conn, &state, &tmp)?;
            }
        }
        fsutil::sync_file(&tmp).map_err(|e| backend_error("write", &tmp, &e))?;
        fsutil::rename_into_place(&tmp, &self.path).map_err(|e| backend_error("rename", &tmp, &e))
    }

    /// The `state.json` of an earlier rotor, approvals merged, if there is one.
    fn read_legacy(&self) -> Result<Option<State>, StateError> {
        let legacy = self.legacy();
        let text = match fs::read_to_string(&legacy) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(backend_error("read", &legacy, &e)),
        };
        let mut state = State::from_json(&text).map_err(|e| match e {
            StateError::Backend(m) => StateError::Backend(m),
            other => StateError::Corrupt(format!(
                "{} (to be imported into {}): {other}",
                legacy.display(),
                self.path.display()
            )),
        })?;
        let approvals = sibling(&legacy, ".approvals");
        if let Ok(text) = fs::read_to_string(&approvals) {
            let records: Vec<ApprovalRecord> = text
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect();
            state.merge_approvals(&records);
        }
        Ok(Some(state))
    }

    /// Moves an imported `state.json` aside once the database holds its
    /// lineage: the import is complete, and the file must not be mistaken
    /// for the state again.
    fn finish_migration(&self, conn: &mut Connection) -> Result<(), StateError> {
        let legacy = self.legacy();
        let Ok(text) = fs::read_to_string(&legacy) else {
            return Ok(());
        };
        let Ok(old) = State::from_json(&text) else {
            return Ok(());
        };
        let lineage: Option<String> = conn
            .query_row("SELECT lineage FROM workspace WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| sql_error(&self.path, e))?;
        if lineage.as_deref() == Some(old.lineage.as_str()) {
            for suffix in ["", ".approvals", ".backup"] {
                let from = sibling(&legacy, suffix);
                if from.exists() {
                    let to = sibling(&from, ".migrated");
                    fs::rename(&from, &to).map_err(|e| backend_error("rename", &from, &e))?;
                }
            }
        }
        Ok(())
    }

    fn conflicting_lease(
        &self,
        tx: &rusqlite::Transaction,
        family: &FamilyName,
        now: Timestamp,
    ) -> Result<Option<Lease>, StateError> {
        let lease = read_lease(tx, family).map_err(|e| sql_error(&self.path, e))?;
        Ok(lease.filter(|l| {
            !self.leases.holds_token(&l.holder.token) && l.expires > now && holder_alive(&l.holder)
        }))
    }
}

impl SqliteState {
    /// The committer's queue, starting it (and creating the database) first.
    fn committer(&self) -> Result<mpsc::Sender<Job>, StateError> {
        let mut guard = self.committer.lock().expect("committer");
        if let Some((tx, _)) = guard.as_ref() {
            return Ok(tx.clone());
        }
        // Created and migrated here, so the committer only opens it.
        self.with(true, |_| Ok(()))?;
        let mut conn = connect(&self.path)?;
        let (tx, rx) = mpsc::channel::<Job>();
        let (path, leases) = (self.path.clone(), self.leases.clone());
        let handle = std::thread::Builder::new()
            .name("rotor-state-commit".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    std::thread::sleep(GATHER);
                    while batch.len() < 256 {
                        match rx.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                    commit_batch(&mut conn, &path, &leases, batch);
                }
            })
            .map_err(|e| {
                StateError::Backend(format!("could not start the state committer: {e}"))
            })?;
        *guard = Some((tx.clone(), handle));
        Ok(tx)
    }
}

/// Commits a batch in one transaction: each save in a savepoint of its own,
/// so one refused save (a conflict, a lost lease) leaves the others in.
/// Each caller hears about its own save once the commit is on disk.
fn commit_batch(conn: &mut Connection, path: &Path, leases: &Leases, batch: Vec<Job>) {
    let now = crate::clock::now();
    let mut replies = Vec::new();
    let result = (|| -> Result<(), StateError> {
        let q = |e| sql_error(path, e);
        let mut tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(q)?;
        for job in batch {
            match job {
                Job::Event { event, reply } => {
                    let json = serde_json::to_string(&event).expect("an event serialises");
                    // The history is for people: a failed insert loses one line.
                    let inserted = tx
                        .execute(
                            "INSERT INTO events (at, family, event) VALUES (?1, ?2, ?3)",
                            params![event.at.0, event.family.as_str(), json],
                        )
                        .map(|_| ())
                        .map_err(q);
                    if let Some(reply) = reply {
                        replies.push((reply, inserted));
                    }
                }
                Job::Save {
                    lineage,
                    name,
                    family,
                    reply,
                } => {
                    let sp = tx.savepoint().map_err(q)?;
                    let saved = save_one(&sp, path, leases, &lineage, &name, &family, now);
                    if saved.is_ok() {
                        sp.commit().map_err(q)?;
                    } // dropped uncommitted: rolled back to the savepoint
                    replies.push((reply, saved));
                }
            }
        }
        tx.set_drop_behavior(rusqlite::DropBehavior::Rollback);
        tx.commit().map_err(q)
    })();
    for (reply, saved) in replies {
        let _ = reply.send(match &result {
            Ok(()) => saved,
            Err(e) => Err(e.clone()),
        });
    }
}

/// One family's save inside a transaction: the lineage, the lease, the
/// serial, then the record and the workspace serial.
fn save_one(
    tx: &rusqlite::Connection,
    path: &Path,
    leases: &Leases,
    lineage: &str,
    name: &FamilyName,
    family: &FamilyState,
    now: Timestamp,
) -> Result<(), StateError> {
    let q = |e| sql_error(path, e);
    let stored: Option<String> = tx
        .query_row("SELECT lineage FROM workspace WHERE id = 1", [], |r| {
            r.get(0)
        })
        .optional()
        .map_err(q)?;
    match stored {
        None => {
            tx.execute(
                "INSERT INTO workspace (id, format_version, lineage, serial) VALUES (1, ?1, ?2, 0)",
                params![STATE_FORMAT_VERSION, lineage],
            )
            .map_err(q)?;
        }
        Some(l) if l != lineage => {
            return Err(StateError::Backend(format!(
                "{} holds another state (lineage {l}, not {lineage}): it was replaced while this command ran",
                path.display()
            )));
        }
        Some(_) => {}
    }
    let lease = read_lease(tx, name).map_err(q)?;
    if leases.holds(name) {
        if !lease.is_some_and(|l| leases.holds_token(&l.holder.token)) {
            return Err(StateError::LeaseLost(name.clone()));
        }
    } else if let Some(l) = lease.filter(|l| {
        !leases.holds_token(&l.holder.token) && l.expires > now && holder_alive(&l.holder)
    }) {
        return Err(StateError::leased(&l));
    }
    let found: i64 = tx
        .query_row(
            "SELECT serial FROM families WHERE name = ?1",
            params![name.as_str()],
            |r| r.get(0),
        )
        .optional()
        .map_err(q)?
        .unwrap_or(0);
    if found as u64 + 1 != family.serial {
        return Err(StateError::Conflict {
            family: name.clone(),
            expected: family.serial.saturating_sub(1),
            found: found as u64,
        });
    }
    let (record, checksum) = family.to_record(name);
    tx.execute(
        "INSERT INTO families (name, serial, record, checksum) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (name) DO UPDATE SET serial = ?2, record = ?3, checksum = ?4",
        params![name.as_str(), family.serial as i64, record, checksum],
    )
    .map_err(q)?;
    Ok(())
}

/// `path` + `suffix`, in the same directory.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

fn connect(path: &Path) -> Result<Connection, StateError> {
    let conn = Connection::open(path).map_err(|e| sql_error(path, e))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(|e| sql_error(path, e))?;
    // WAL: readers never wait for a writer. FULL: a commit is on disk
    // before the step that made it is reported done.
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
        .map_err(|e| sql_error(path, e))?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| sql_error(path, e))?;
    match version {
        0 => conn.execute_batch(SCHEMA).map_err(|e| sql_error(path, e))?,
        1 => {}
        v => {
            return Err(StateError::Backend(format!(
                "{} has schema version {v}; this rotor reads version 1 (upgrade rotor)",
                path.display()
            )));
        }
    }
    Ok(conn)
}

/// A process on this host that has exited holds nothing.
fn holder_alive(holder: &LeaseHolder) -> bool {
    holder.host != host_name() || pid_alive(holder.pid)
}

fn read_lease(conn: &Connection, family: &FamilyName) -> rusqlite::Result<Option<Lease>> {
    conn.query_row(
        "SELECT holder, heartbeat, expires FROM leases WHERE family = ?1",
        params![family.as_str()],
        |r| {
            let holder: String = r.get(0)?;
            Ok((holder, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        },
    )
    .optional()
    .map(|row| {
        row.and_then(|(holder, heartbeat, expires)| {
            Some(Lease {
                family: family.clone(),
                holder: serde_json::from_str(&holder).ok()?,
                heartbeat: Timestamp(heartbeat),
                expires: Timestamp(expires),
            })
        })
    })
}

fn write_whole(conn: &mut Connection, state: &State, path: &Path) -> Result<(), StateError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| sql_error(path, e))?;
    let run = |tx: &rusqlite::Transaction| -> rusqlite::Result<()> {
        tx.execute("DELETE FROM families", [])?;
        tx.execute("DELETE FROM approvals", [])?;
        tx.execute(
            "INSERT INTO workspace (id, format_version, lineage, serial) VALUES (1, ?1, ?2, ?3)
             ON CONFLICT (id) DO UPDATE SET format_version = ?1, lineage = ?2, serial = ?3",
            params![STATE_FORMAT_VERSION, state.lineage, base_serial(state)],
        )?;
        let mut insert = tx.prepare(
            "INSERT INTO families (name, serial, record, checksum) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for (name, family) in &state.families {
            let (record, checksum) = family.to_record(name);
            insert.execute(params![
                name.as_str(),
                family.serial as i64,
                record,
                checksum
            ])?;
        }
        Ok(())
    };
    run(&tx).map_err(|e| sql_error(path, e))?;
    tx.commit().map_err(|e| sql_error(path, e))
}

impl StateBackend for SqliteState {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    fn load(&self) -> Result<Option<State>, StateError> {
        let path = self.path.clone();
        let loaded = self.with(false, |conn| {
            let q = |e| sql_error(&path, e);
            let workspace: Option<(u32, String, i64)> = conn
                .query_row(
                    "SELECT format_version, lineage, serial FROM workspace WHERE id = 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(q)?;
            let Some((format, lineage, serial)) = workspace else {
                return Ok(None);
            };
            if format != STATE_FORMAT_VERSION {
                return Err(StateError::FormatVersion { found: format });
            }
            // One read transaction: the records and the approvals agree.
            let tx = conn.transaction().map_err(q)?;
            let mut state = State::new(lineage);
            let base: i64 = serial;
            {
                let mut rows = tx
                    .prepare("SELECT name, record, checksum FROM families")
                    .map_err(q)?;
                let rows = rows
                    .query_map([], |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                        ))
                    })
                    .map_err(q)?;
                for row in rows {
                    let (name, record, checksum) = row.map_err(q)?;
                    let name = FamilyName::from(name);
                    let family = FamilyState::from_record(&name, &record, &checksum)?;
                    state.families.insert(name, family);
                }
            }
            state.serial = whole_serial(base, &state);
            let approvals = read_approvals(&tx).map_err(q)?;
            state.merge_approvals(&approvals);
            Ok(Some(state))
        })?;
        match loaded {
            Some(state) => Ok(state),
            // No database yet: an earlier rotor's state.json, read as it is
            // (the first command that writes imports it).
            None => self.read_legacy(),
        }
    }

    fn save(&self, state: &State) -> Result<(), StateError> {
        let path = self.path.clone();
        self.with(true, |conn| write_whole(conn, state, &path))
            .map(|_| ())
    }

    fn save_family(
        &self,
        lineage: &str,
        name: &FamilyName,
        family: &FamilyState,
    ) -> Result<(), StateError> {
        let path = self.path.clone();
        let now = crate::clock::now();
        self.with(true, |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| sql_error(&path, e))?;
            save_one(&tx, &path, &self.leases, lineage, name, family, now)?;
            tx.commit().map_err(|e| sql_error(&path, e))
        })
        .map(|_| ())
    }

    /// Queues the event with the committer's next commit and waits for it.
    fn append_event_soon(
        &self,
        event: Event,
    ) -> futures_util::future::BoxFuture<'_, Result<(), StateError>> {
        let running = self
            .committer
            .lock()
            .expect("committer")
            .as_ref()
            .map(|c| c.0.clone());
        let Some(tx) = running else {
            return Box::pin(async move { self.append_event(&event) });
        };
        let (reply, answer) = futures_channel::oneshot::channel();
        let sent = tx.send(Job::Event {
            event,
            reply: Some(reply),
        });
        Box::pin(async move {
            sent.map_err(|_| StateError::Backend("the state committer stopped".into()))?;
            super::answered(answer, "the state committer").await
        })
    }

    /// Hands the save to the committer thread, which commits the saves
    /// gathered over [`GATHER`] in one transaction (each checked on its own,
    /// in a savepoint): one disk flush for many families, and the apply's
    /// other families go on meanwhile.
    fn save_family_soon(
        &self,
        lineage: String,
        name: FamilyName,
        family: FamilyState,
    ) -> futures_util::future::BoxFuture<'_, Result<(), StateError>> {
        let (reply, answer) = futures_channel::oneshot::channel();
        let sent = self.committer().and_then(|tx| {
            tx.send(Job::Save {
                lineage,
                name,
                family,
                reply,
            })
            .map_err(|_| {
                StateError::Backend(format!("{}: the committer stopped", self.path.display()))
            })
        });
        Box::pin(async move {
            sent?;
            super::answered(answer, "the state committer").await
        })
    }

    fn remove_family(&self, name: &FamilyName) -> Result<(), StateError> {
        let path = self.path.clone();
        let now = crate::clock::now();
        self.with(true, |conn| {
            let q = |e| sql_error(&path, e);
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(q)?;
            if let Some(l) = self.conflicting_lease(&tx, name, now)? {
                return Err(StateError::leased(&l));
            }
            // The whole state's serial is the base plus every record's:
            // the removed record's serial moves into the base, plus one.
            let gone: i64 = tx
                .query_row(
                    "SELECT serial FROM families WHERE name = ?1",
                    params![name.as_str()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(q)?
                .unwrap_or(0);
            tx.execute(
                "DELETE FROM families WHERE name = ?1",
                params![name.as_str()],
            )
            .map_err(q)?;
            tx.execute(
                "DELETE FROM approvals WHERE family = ?1",
                params![name.as_str()],
            )
            .map_err(q)?;
            tx.execute(
                "UPDATE workspace SET serial = serial + ?1 + 1 WHERE id = 1",
                params![gone],
            )
            .map_err(q)?;
            tx.commit().map_err(q)
        })
        .map(|_| ())
    }

    fn rename_family(&self, old: &FamilyName, new: &FamilyName) -> Result<(), StateError> {
        let path = self.path.clone();
        let now = crate::clock::now();
        self.with(true, |conn| {
            let q = |e| sql_error(&path, e);
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(q)?;
            for name in [old, new] {
                if let Some(l) = self.conflicting_lease(&tx, name, now)? {
                    return Err(StateError::leased(&l));
                }
            }
            let taken: bool = tx
                .query_row(
                    "SELECT 1 FROM families WHERE name = ?1",
                    params![new.as_str()],
                    |_| Ok(()),
                )
                .optional()
                .map_err(q)?
                .is_some();
            if taken {
                return Err(StateError::Backend(format!(
                    "the state already has a family {new}"
                )));
            }
            let row: Option<(String, String)> = tx
                .query_row(
                    "SELECT record, checksum FROM families WHERE name = ?1",
                    params![old.as_str()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(q)?;
            let Some((record, checksum)) = row else {
                return Err(StateError::Backend(format!(
                    "the state has no family {old}"
                )));
            };
            let approvals = read_approvals(&tx).map_err(q)?;
            let family =
                FamilyState::from_record(old, &record, &checksum)?.renamed(old, &approvals);
            let (record, checksum) = family.to_record(new);
            tx.execute(
                "DELETE FROM families WHERE name = ?1",
                params![old.as_str()],
            )
            .map_err(q)?;
            tx.execute(
                "DELETE FROM approvals WHERE family = ?1",
                params![old.as_str()],
            )
            .map_err(q)?;
            tx.execute(
                "INSERT INTO families (name, serial, record, checksum) VALUES (?1, ?2, ?3, ?4)",
                params![new.as_str(), family.serial as i64, record, checksum],
            )
            .map_err(q)?;
            tx.commit().map_err(q)
        })
        .map(|_| ())
    }

    fn approvals(&self) -> Result<Vec<ApprovalRecord>, StateError> {
        let path = self.path.clone();
        Ok(self
            .with(false, |conn| {
                read_approvals(conn).map_err(|e| sql_error(&path, e))
            })?
            .unwrap_or_default())
    }

    fn add_approval(&self, record: &ApprovalRecord) -> Result<(), StateError> {
        let path = self.path.clone();
        let json = serde_json::to_string(record).expect("an approval serialises");
        self.with(true, |conn| {
            conn.execute(
                "INSERT INTO approvals (family, record) VALUES (?1, ?2)",
                params![record.family.as_str(), json],
            )
            .map(|_| ())
            .map_err(|e| sql_error(&path, e))
        })
        .map(|_| ())
    }

    fn acquire(&self, families: &[FamilyName], holder: &LeaseHolder) -> Result<(), StateError> {
        let path = self.path.clone();
        let now = crate::clock::now();
        let ttl = self.ttl;
        self.with(true, |conn| {
            let q = |e| sql_error(&path, e);
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(q)?;
            for family in families {
                if let Some(l) = self.conflicting_lease(&tx, family, now)? {
                    return Err(StateError::leased(&l));
                }
            }
            let json = serde_json::to_string(holder).expect("a holder serialises");
            for family in families {
                tx.execute(
                    "INSERT INTO leases (family, token, holder, heartbeat, expires) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (family) DO UPDATE SET token = ?2, holder = ?3, heartbeat = ?4, expires = ?5",
                    params![family.as_str(), holder.token, json, now.0, (now + ttl).0],
                )
                .map_err(q)?;
            }
            tx.commit().map_err(q)
        })?;
        self.leases.add(families, &holder.token);
        // The heartbeat renews on a connection of its own.
        let path = self.path.clone();
        self.leases.keep(ttl, move |token| {
            let conn = connect(&path)?;
            let now = crate::clock::now();
            let n = conn
                .execute(
                    "UPDATE leases SET heartbeat = ?1, expires = ?2 WHERE token = ?3",
                    params![now.0, (now + ttl).0, token],
                )
                .map_err(|e| sql_error(&path, e))?;
            Ok(n)
        });
        Ok(())
    }

    fn release(&self) -> Result<(), StateError> {
        let Some(token) = self.leases.stop() else {
            return Ok(());
        };
        let path = self.path.clone();
        self.with(false, |conn| {
            conn.execute("DELETE FROM leases WHERE token = ?1", params![token])
                .map(|_| ())
                .map_err(|e| sql_error(&path, e))
        })
        .map(|_| ())
    }

    fn leases(&self) -> Result<Vec<Lease>, StateError> {
        let path = self.path.clone();
        Ok(self
            .with(false, |conn| {
                let q = |e| sql_error(&path, e);
                let mut stmt = conn
                    .prepare("SELECT family FROM leases ORDER BY family")
                    .map_err(q)?;
                let names: Vec<FamilyName> = stmt
                    .query_map([], |r| r.get::<_, String>(0).map(FamilyName::from))
                    .map_err(q)?
                    .collect::<Result<_, _>>()
                    .map_err(q)?;
                let mut out = Vec::new();
                for name in names {
                    if let Some(l) = read_lease(conn, &name).map_err(q)? {
                        out.push(l);
                    }
                }
                Ok(out)
            })?
            .unwrap_or_default())
    }

    fn break_lease(&self, family: &FamilyName) -> Result<Option<Lease>, StateError> {
        let path = self.path.clone();
        Ok(self
            .with(false, |conn| {
                let q = |e| sql_error(&path, e);
                let lease = read_lease(conn, family).map_err(q)?;
                conn.execute(
                    "DELETE FROM leases WHERE family = ?1",
                    params![family.as_str()],
                )
                .map_err(q)?;
                Ok(lease)
            })?
            .flatten())
    }

    fn append_event(&self, event: &Event) -> Result<(), StateError> {
        // With the committer running, events go with the next commit.
        if let Some(tx) = self
            .committer
            .lock()
            .expect("committer")
            .as_ref()
            .map(|c| c.0.clone())
        {
            return tx
                .send(Job::Event {
                    event: event.clone(),
                    reply: None,
                })
                .map_err(|_| StateError::Backend("the state committer stopped".into()));
        }
        let path = self.path.clone();
        let json = serde_json::to_string(event).expect("an event serialises");
        self.with(true, |conn| {
            conn.execute(
                "INSERT INTO events (at, family, event) VALUES (?1, ?2, ?3)",
                params![event.at.0, event.family.as_str(), json],
            )
            .map(|_| ())
            .map_err(|e| sql_error(&path, e))
        })
        .map(|_| ())
    }

    fn events(&self, family: Option<&FamilyName>) -> Result<Vec<Event>, StateError> {
        let path = self.path.clone();
        Ok(self
            .with(false, |conn| {
                let q = |e| sql_error(&path, e);
                let mut stmt = conn
                    .prepare("SELECT event FROM events WHERE ?1 IS NULL OR family = ?1 ORDER BY id")
                    .map_err(q)?;
                let rows: Vec<String> = stmt
                    .query_map(params![family.map(FamilyName::as_str)], |r| r.get(0))
                    .map_err(q)?
                    .collect::<Result<_, _>>()
                    .map_err(q)?;
                rows.iter()
                    .map(|t| {
                        serde_json::from_str(t)
                            .map_err(|e| StateError::Corrupt(format!("an event: {e}")))
                    })
                    .collect()
            })?
            .unwrap_or_default())
    }
}

fn read_approvals(conn: &Connection) -> rusqlite::Result<Vec<ApprovalRecord>> {
    let mut stmt = conn.prepare("SELECT record FROM approvals ORDER BY id")?;
    let rows: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    // A row that does not parse was not written by rotor: skipped, as an
    // approval that never was (the gate stays closed).
    Ok(rows
        .iter()
        .filter_map(|t| serde_json::from_str(t).ok())
        .collect())
}

impl SqliteState {
    /// Drops this value as a killed process would: the heartbeat stops,
    /// the leases stay until they lapse. For tests of lease expiry.
    pub fn abandon(self) {
        let _ = self.leases.stop();
        std::mem::forget(self);
    }
}

impl Drop for SqliteState {
    fn drop(&mut self) {
        // Everything queued is committed before the leases go.
        if let Some((tx, handle)) = self.committer.lock().expect("committer").take() {
            drop(tx);
            let _ = handle.join();
        }
        let _ = self.release();
    }
}
