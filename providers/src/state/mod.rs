//! State backends: where rotor keeps what cannot be observed live.
//!
//! Each backend is one file here and implements [`rotor_engine::StateBackend`]:
//! [`SqliteState`] (the embedded default, `.rotor/state.db`) and, with the
//! `postgres` feature, [`PgState`](postgres::PgState) for teams and CI. Both
//! pass the same conformance suite (`tests` below).

pub mod sqlite;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(test)]
mod tests;

pub use sqlite::SqliteState;

use rotor_engine::state::{LeaseHolder, StateError};
use rotor_engine::Duration;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Mutex;
use std::sync::mpsc;
use std::thread::JoinHandle;

/// How long a lease outlives its holder's last heartbeat, unless the state
/// block sets `lease_ttl`. The holder renews it four times per period.
pub const LEASE_TTL: Duration = Duration(60_000);

/// A fresh state lineage: a random UUID (version 4) from the OS random source.
///
/// A lineage is fixed when a state is created, so that a saved plan or a
/// backup from another state is recognised and refused.
pub fn new_lineage() -> String {
    let mut b = [0u8; 16];
    // The OS random source failing is not something rotor can work around;
    // every key it would generate next would fail the same way.
    getrandom::fill(&mut b).expect("the OS random source is unavailable");
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    let h = rotor_engine::state::hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
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
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    format!("{user}@{}", host_name())
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

pub(crate) fn backend_error(what: &str, path: &Path, e: &std::io::Error) -> StateError {
    StateError::Backend(format!("could not {what} {}: {e}", path.display()))
}

/// The leases one backend value took, and the thread that renews them.
#[derive(Default)]
pub(crate) struct Leases {
    inner: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    token: Option<String>,
    families: BTreeSet<String>,
    keeper: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
}

impl Leases {
    /// Whether this value leased `family`.
    pub(crate) fn holds(&self, family: &str) -> bool {
        self.inner.lock().expect("lease lock").families.contains(family)
    }

    /// Whether `token` is this value's.
    pub(crate) fn holds_token(&self, token: &str) -> bool {
        self.inner.lock().expect("lease lock").token.as_deref() == Some(token)
    }

    /// This value's lease token, once it took a lease.
    pub(crate) fn token(&self) -> Option<String> {
        self.inner.lock().expect("lease lock").token.clone()
    }

    pub(crate) fn add(&self, families: &[String], token: &str) {
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
