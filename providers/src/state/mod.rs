//! State backends: where rotor keeps what cannot be observed live.
//!
//! Each backend is one file here and implements [`rotor_engine::StateBackend`]:
//! [`SqliteState`] (the embedded default, `.rotor/state.db`) and, with the
//! `postgres` feature, [`PgState`](postgres::PgState) for teams and CI. Both
//! pass the same conformance suite (`tests` below).

#[cfg(feature = "postgres")]
pub mod postgres;
pub mod sqlite;
#[cfg(test)]
mod tests;

#[cfg(feature = "postgres")]
pub use postgres::schema_sql;
pub use sqlite::SqliteState;

use rotor_engine::state::{LeaseHolder, StateError};
use rotor_engine::{Duration, FamilyName};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Mutex;
use std::sync::mpsc;
use std::thread::JoinHandle;

/// How long a lease outlives its holder's last heartbeat, unless the state
/// block sets `lease_ttl`. The holder renews it four times per period.
pub const LEASE_TTL: Duration = Duration(60_000);

/// How long a committer waits, after the first save of a batch arrives, for
/// the saves of the apply's other families to join it before committing.
///
/// Each step waits for its own save, so without a wait most batches hold
/// one save and every step costs a disk flush (measured: 16,300 fsyncs for
/// 12,000 steps over 2,000 families). Two milliseconds, a fraction of a
/// step's store round trips, gathers the saves of the families in flight
/// into one commit; a lone apply pays it once per step. MySQL's
/// `binlog_group_commit_sync_delay` and PostgreSQL's `commit_delay` are the
/// same idea.
pub(crate) const GATHER: std::time::Duration = std::time::Duration::from_millis(2);

/// A fresh state lineage: a random UUID (version 4) from the OS random source.
///
/// A lineage is fixed when a state is created, so that a saved plan or a
/// backup from another state is recognised and refused.
pub fn new_lineage() -> String {
    // Hyphenated lowercase, as lineages have always been written; a lineage
    // is compared as a string and never parsed, so any older value loads.
    // `new_v4` panics if the OS random source fails: not something rotor can
    // work around, as every key it would generate next would fail the same way.
    uuid::Uuid::new_v4().to_string()
}

/// This process as a lease holder: pid, host, who (the CI actor where one
/// is set, else the OS user) and the command.
pub fn holder(command: &str) -> LeaseHolder {
    LeaseHolder {
        token: new_lineage(),
        pid: std::process::id(),
        host: host_name(),
        who: actor(),
        command: command.to_string(),
        since: crate::clock::now(),
    }
}

/// Who is acting: `--actor` aside, the CI's actor (`GITHUB_ACTOR`,
/// `GITLAB_USER_LOGIN`), else `user@host`.
pub fn actor() -> String {
    for var in ["GITHUB_ACTOR", "GITLAB_USER_LOGIN"] {
        if let Ok(v) = std::env::var(var)
            && !v.trim().is_empty()
        {
            return v.trim().to_string();
        }
    }
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(os_user)
        .unwrap_or_else(|| "unknown".into());
    format!("{user}@{}", host_name())
}

/// This process's user name from `/etc/passwd`, by its real uid.
fn os_user() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_string();
    std::fs::read_to_string("/etc/passwd")
        .ok()?
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 2 && f[2] == uid).then(|| f[0].to_string())
        })
}

pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// Whether a process of this host is running (Linux `/proc`).
pub(crate) fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// The whole state's serial: the workspace's base plus every family's.
/// Saves raise one family's serial only, so no row is shared by every save
/// (parallel saves on PostgreSQL would queue on it); a removed family's
/// serial moves into the base, so the sum never goes back.
pub(crate) fn whole_serial(base: i64, state: &rotor_engine::State) -> u64 {
    let families: u64 = state.families.values().map(|f| f.serial).sum();
    (base + families as i64).max(0) as u64
}

/// The base to store for a whole state (`state push`, migration).
pub(crate) fn base_serial(state: &rotor_engine::State) -> i64 {
    let families: u64 = state.families.values().map(|f| f.serial).sum();
    state.serial as i64 - families as i64
}

pub(crate) fn backend_error(what: &str, path: &Path, e: &std::io::Error) -> StateError {
    StateError::Backend(format!("could not {what} {}: {e}", path.display()))
}

/// Waits for a worker's answer (the SQLite committer, the PostgreSQL
/// runtime); one that went away without answering is an error naming it.
pub(crate) async fn answered(
    answer: futures_channel::oneshot::Receiver<Result<(), StateError>>,
    worker: &str,
) -> Result<(), StateError> {
    answer.await.unwrap_or_else(|_| {
        Err(StateError::Backend(format!(
            "{worker} stopped before answering"
        )))
    })
}

/// The leases one backend value took, and the thread that renews them.
#[derive(Default)]
pub(crate) struct Leases {
    inner: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    token: Option<String>,
    families: BTreeSet<FamilyName>,
    keeper: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
}

impl Leases {
    /// Whether this value leased `family`.
    pub(crate) fn holds(&self, family: &FamilyName) -> bool {
        self.inner
            .lock()
            .expect("lease lock")
            .families
            .contains(family)
    }

    /// Whether `token` is this value's.
    pub(crate) fn holds_token(&self, token: &str) -> bool {
        self.inner.lock().expect("lease lock").token.as_deref() == Some(token)
    }

    /// This value's lease token, once it took a lease.
    #[cfg(feature = "postgres")]
    pub(crate) fn token(&self) -> Option<String> {
        self.inner.lock().expect("lease lock").token.clone()
    }

    pub(crate) fn add(&self, families: &[FamilyName], token: &str) {
        let mut held = self.inner.lock().expect("lease lock");
        held.token = Some(token.to_string());
        held.families.extend(families.iter().cloned());
    }

    /// Starts the heartbeat (once): `renew(token)` every quarter of `ttl`
    /// until [`stop`](Self::stop). A failed renewal is tried again at the
    /// next beat; a lease that lapsed meanwhile is caught by the save that
    /// checks it.
    pub(crate) fn keep(
        &self,
        ttl: Duration,
        renew: impl Fn(&str) -> Result<usize, StateError> + Send + 'static,
    ) {
        let mut held = self.inner.lock().expect("lease lock");
        if held.keeper.is_some() {
            return;
        }
        let Some(token) = held.token.clone() else {
            return;
        };
        let (tx, rx) = mpsc::channel::<()>();
        let beat = std::time::Duration::from_millis((ttl.0 / 4).max(50) as u64);
        let handle = std::thread::spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(beat) {
                let _ = renew(&token);
            }
        });
        held.keeper = Some((tx, handle));
    }

    /// Stops the heartbeat and forgets the leases; returns the token whose
    /// rows the caller deletes.
    pub(crate) fn stop(&self) -> Option<String> {
        let mut held = self.inner.lock().expect("lease lock");
        if let Some((tx, handle)) = held.keeper.take() {
            drop(tx);
            let _ = handle.join();
        }
        held.families.clear();
        held.token.take()
    }
}

/// Why a state backend could not be opened.
pub enum OpenError {
    /// The spec's `state` block is wrong: diagnostics at its attributes.
    Spec(Vec<rotor_engine::Diagnostic>),
    /// `--state` is wrong.
    Flag(String),
}

/// Whether `--state` names a PostgreSQL database rather than a file.
pub fn is_postgres(flag: &str) -> bool {
    flag.starts_with("postgres://") || flag.starts_with("postgresql://") || flag.contains("host=")
}

/// The state backend: `flag` (`--state`) if given, else the spec's `state`
/// block, else `.rotor/state.db` in `base_dir`.
///
/// ```hcl
/// state "local" {
///   path      = ".rotor/state.db"   # the default
///   lease_ttl = "60s"               # the default
/// }
/// state "postgres" {
///   conn      = env("ROTOR_STATE_PG")  # postgres://… or host=… user=… dbname=…
///   schema    = "rotor"                # the default; created on first use
///   lease_ttl = "60s"
/// }
/// ```
///
/// A `--state` naming a `state.json` of an earlier rotor opens the database
/// beside it (`state.db`), which imports it on first write.
pub fn open(
    flag: Option<&str>,
    block: Option<&rotor_engine::spec::StateSpec>,
    base_dir: &Path,
) -> Result<Box<dyn rotor_engine::StateBackend>, OpenError> {
    use crate::config::{ConfigError, Settings};
    let spec_error = |e: ConfigError| OpenError::Spec(vec![e.into_diagnostic()]);
    // `.rotor/state.db`, not `./.rotor/state.db`, in messages.
    let in_dir = |p: &str| {
        if base_dir == Path::new(".") {
            std::path::PathBuf::from(p)
        } else {
            base_dir.join(p)
        }
    };
    let (mut schema, mut ttl) = ("rotor".to_string(), LEASE_TTL);
    if let Some(block) = block {
        let settings = Settings::of("state", &block.kind, &block.settings, &block.span);
        let known: &[&str] = match block.kind.as_str() {
            "local" => &["path", "lease_ttl"],
            "postgres" => &["conn", "schema", "lease_ttl"],
            other => {
                let err = ConfigError::new(format!("unknown state kind `{other}`"), &block.span);
                return Err(spec_error(
                    match rotor_engine::diagnostics::did_you_mean(other, ["local", "postgres"]) {
                        Some(s) => err.hint(format!("did you mean `{s}`?")),
                        None => err.hint("state kinds are local (the default) and postgres"),
                    },
                ));
            }
        };
        settings.only(known, &[]).map_err(spec_error)?;
        if let Some((d, _)) = settings.duration("lease_ttl").map_err(spec_error)? {
            ttl = d;
        }
        if let Some((s, span)) = settings.string("schema").map_err(spec_error)? {
            if !valid_schema_name(s) {
                return Err(spec_error(
                    ConfigError::new(format!("schema {s:?} is not a plain SQL name"), span)
                        .hint("use lowercase letters, digits and _, such as \"rotor\""),
                ));
            }
            schema = s.to_string();
        }
        if flag.is_none() {
            match block.kind.as_str() {
                "postgres" => {
                    let (conn, span) = settings
                        .required_string("conn", "env(\"ROTOR_STATE_PG\")")
                        .map_err(spec_error)?;
                    return open_postgres(conn, &schema, ttl).map_err(|e| {
                        spec_error(ConfigError::new(e, span).hint(
                            "write postgres://USER:PASSWORD@HOST:PORT/DB, or read it with env(\"ROTOR_STATE_PG\")",
                        ))
                    });
                }
                _ => {
                    let path = match settings.string("path").map_err(spec_error)? {
                        Some((p, _)) => in_dir(p),
                        None => in_dir(sqlite::DEFAULT_PATH),
                    };
                    return Ok(Box::new(SqliteState::open(path).with_lease_ttl(ttl)));
                }
            }
        }
    }
    match flag {
        Some(flag) if is_postgres(flag) => {
            open_postgres(flag, &schema, ttl).map_err(OpenError::Flag)
        }
        Some(flag) => {
            let mut path = std::path::PathBuf::from(flag);
            if path.extension().is_some_and(|e| e == "json") {
                path.set_extension("db");
            }
            Ok(Box::new(SqliteState::open(path).with_lease_ttl(ttl)))
        }
        None => Ok(Box::new(
            SqliteState::open(in_dir(sqlite::DEFAULT_PATH)).with_lease_ttl(ttl),
        )),
    }
}

fn valid_schema_name(s: &str) -> bool {
    #[cfg(feature = "postgres")]
    {
        postgres::valid_schema(s)
    }
    #[cfg(not(feature = "postgres"))]
    {
        !s.is_empty()
    }
}

#[cfg(feature = "postgres")]
fn open_postgres(
    conn: &str,
    schema: &str,
    ttl: Duration,
) -> Result<Box<dyn rotor_engine::StateBackend>, String> {
    postgres::PgState::new(conn, schema)
        .map(|b| Box::new(b.with_lease_ttl(ttl)) as Box<dyn rotor_engine::StateBackend>)
        .map_err(|e| e.to_string())
}

#[cfg(not(feature = "postgres"))]
fn open_postgres(
    _conn: &str,
    _schema: &str,
    _ttl: Duration,
) -> Result<Box<dyn rotor_engine::StateBackend>, String> {
    Err(
        "this rotor was built without the `postgres` feature: it has no PostgreSQL state backend"
            .into(),
    )
}
