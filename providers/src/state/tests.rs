//! The conformance suite every state backend passes: the same tests over
//! the embedded SQLite database and a real PostgreSQL (started by
//! `scripts/services/postgres`; `ROTOR_STATE_PG` names it).

use super::*;
use rotor_engine::state::{
    Approval, ApprovalRecord, Event, FamilyState, Phase, State, StateError, VersionState,
};
use rotor_engine::{FamilyName, StateBackend, Timestamp};
use std::ops::Deref;

/// One backend value: what one process holds.
enum Backend {
    Sqlite(SqliteState),
    #[cfg(feature = "postgres")]
    Pg(postgres::PgState),
}

impl Deref for Backend {
    type Target = dyn StateBackend;
    fn deref(&self) -> &Self::Target {
        match self {
            Backend::Sqlite(b) => b,
            #[cfg(feature = "postgres")]
            Backend::Pg(b) => b,
        }
    }
}

impl Backend {
    fn abandon(self) {
        match self {
            Backend::Sqlite(b) => b.abandon(),
            #[cfg(feature = "postgres")]
            Backend::Pg(b) => b.abandon(),
        }
    }
}

/// Where one test's state lives; `open` is one more process on it.
enum Fixture {
    Sqlite(tempfile::TempDir),
    #[cfg(feature = "postgres")]
    Pg(String),
}

impl Fixture {
    /// The directory of a SQLite fixture (tests of the embedded backend only).
    fn sqlite_dir(&self) -> &std::path::Path {
        match self {
            Fixture::Sqlite(dir) => dir.path(),
            #[cfg(feature = "postgres")]
            Fixture::Pg(_) => panic!("a SQLite fixture was expected"),
        }
    }

    fn sqlite() -> Fixture {
        Fixture::Sqlite(tempfile::tempdir().unwrap())
    }

    #[cfg(feature = "postgres")]
    fn pg() -> Fixture {
        // A schema of its own per test: the tests run in parallel.
        let schema = format!("t_{}", new_lineage().replace('-', "_"));
        Fixture::Pg(schema)
    }

    fn open_ttl(&self, ttl: Duration) -> Backend {
        match self {
            Fixture::Sqlite(dir) => Backend::Sqlite(
                SqliteState::open(dir.path().join(".rotor/state.db")).with_lease_ttl(ttl),
            ),
            #[cfg(feature = "postgres")]
            Fixture::Pg(schema) => {
                let conn = std::env::var("ROTOR_STATE_PG").unwrap_or_else(|_| {
                    panic!("ROTOR_STATE_PG is not set: run scripts/test, which starts PostgreSQL (scripts/services/postgres)")
                });
                Backend::Pg(
                    postgres::PgState::new(&conn, schema)
                        .unwrap()
                        .with_lease_ttl(ttl),
                )
            }
        }
    }

    fn open(&self) -> Backend {
        self.open_ttl(LEASE_TTL)
    }
}

fn version(id: &str) -> VersionState {
    VersionState::created(
        id.into(),
        "ES256".into(),
        "sha256:00".into(),
        Timestamp(1_000),
    )
}

fn family(serial: u64, versions: &[&str]) -> FamilyState {
    let mut f = FamilyState {
        serial,
        ..Default::default()
    };
    for v in versions {
        f.versions.insert((*v).into(), version(v));
    }
    f
}

fn elsewhere(command: &str) -> rotor_engine::state::LeaseHolder {
    let mut h = holder(command);
    h.host = "ci-runner-7".into();
    h.pid = 4242;
    h
}

/// Runs a suite test on both backends.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite_backend {
            $( #[test] fn $name() { super::$name(&super::Fixture::sqlite()); } )*
        }
        #[cfg(feature = "postgres")]
        mod postgres_backend {
            $( #[test] fn $name() { super::$name(&super::Fixture::pg()); } )*
        }
    };
}

conformance!(
    records_round_trip_one_family_at_a_time,
    a_stale_writer_is_refused,
    push_replaces_the_whole_state,
    a_lease_keeps_others_out_and_names_its_holder,
    disjoint_families_are_leased_and_saved_at_once,
    a_lease_lapses_after_its_holder_stops_renewing,
    a_lease_of_an_exited_local_process_is_taken_over_at_once,
    a_broken_lease_stops_its_holder_before_saving,
    approvals_need_no_lease_and_are_merged_on_load,
    rename_and_remove_carry_approvals_and_respect_leases,
    events_are_appended_and_read_back_per_family,
    saves_handed_on_together_are_each_judged_alone,
    two_writers_creating_one_family_at_once_one_wins,
);

/// Two processes save the same new family at the same moment: one record
/// is written, the other save is a conflict (never a silent overwrite).
fn two_writers_creating_one_family_at_once_one_wins(fx: &Fixture) {
    fx.open()
        .save_family("L", &"seed".into(), &family(1, &[]))
        .unwrap();
    for round in 0..5 {
        let name = FamilyName::from(format!("new{round}"));
        let (a, b) = (fx.open(), fx.open());
        let barrier = std::sync::Barrier::new(2);
        let results: Vec<Result<(), StateError>> = std::thread::scope(|s| {
            let handles: Vec<_> = [(&a, "a"), (&b, "b")]
                .into_iter()
                .map(|(backend, who)| {
                    let (barrier, name) = (&barrier, &name);
                    s.spawn(move || {
                        barrier.wait();
                        backend.save_family("L", name, &family(1, &[who]))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let ok = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(ok, 1, "{results:?}");
        assert!(
            results
                .iter()
                .any(|r| matches!(r, Err(StateError::Conflict { .. }))),
            "{results:?}"
        );
        assert_eq!(fx.open().load().unwrap().unwrap().families[&name].serial, 1);
    }
}

/// The apply's saves, handed on together (`save_family_soon`, committed in
/// groups): each is checked on its own, so one refused save leaves the
/// others in, and events queued between them are kept.
fn saves_handed_on_together_are_each_judged_alone(fx: &Fixture) {
    let b = fx.open();
    b.save_family("L", &"f00".into(), &family(1, &["v1"]))
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let results = runtime.block_on(futures_util::future::join_all((0..24).map(|i| {
        // f00 is at serial 1 already: saving it as serial 1 again is a conflict.
        b.save_family_soon("L".into(), format!("f{i:02}").into(), family(1, &["v1"]))
    })));
    assert!(
        matches!(&results[0], Err(StateError::Conflict { found: 1, .. })),
        "{:?}",
        results[0]
    );
    assert!(results[1..].iter().all(Result::is_ok), "{results:?}");
    b.append_event(&Event {
        at: Timestamp(9),
        family: "f01".into(),
        what: "create v1".into(),
        outcome: "done".into(),
        actor: "ci".into(),
        detail: String::new(),
    })
    .unwrap();
    drop(b);
    let other = fx.open();
    let s = other.load().unwrap().unwrap();
    assert_eq!(s.families.len(), 24);
    assert!(s.families.values().all(|f| f.serial == 1));
    assert_eq!(s.serial, 24);
    assert_eq!(other.events(Some(&"f01".into())).unwrap().len(), 1);
}

fn records_round_trip_one_family_at_a_time(fx: &Fixture) {
    let b = fx.open();
    assert_eq!(b.load().unwrap(), None);
    b.save_family("L", &"jwt".into(), &family(1, &["v1"]))
        .unwrap();
    b.save_family("L", &"db".into(), &family(1, &["p1"]))
        .unwrap();
    b.save_family("L", &"jwt".into(), &family(2, &["v1", "v2"]))
        .unwrap();
    let other = fx.open();
    let s = other.load().unwrap().unwrap();
    assert_eq!(s.lineage, "L");
    assert_eq!(s.serial, 3, "one workspace serial per save");
    assert_eq!(s.families["jwt"], family(2, &["v1", "v2"]));
    assert_eq!(s.families["db"].serial, 1);
    // Another lineage is refused.
    let err = other
        .save_family("M", &"x".into(), &family(1, &[]))
        .unwrap_err();
    assert!(err.to_string().contains("lineage L"), "{err}");
}

fn a_stale_writer_is_refused(fx: &Fixture) {
    let a = fx.open();
    let b = fx.open();
    a.save_family("L", &"jwt".into(), &family(1, &["v1"]))
        .unwrap();
    // b read serial 0 too, and saves what it thinks is serial 1.
    let err = b
        .save_family("L", &"jwt".into(), &family(1, &["other"]))
        .unwrap_err();
    assert_eq!(
        err,
        StateError::Conflict {
            family: "jwt".into(),
            expected: 0,
            found: 1
        }
    );
    let err = b
        .save_family("L", &"jwt".into(), &family(5, &["other"]))
        .unwrap_err();
    assert!(
        matches!(err, StateError::Conflict { found: 1, .. }),
        "{err:?}"
    );
    assert_eq!(
        a.load().unwrap().unwrap().families["jwt"],
        family(1, &["v1"])
    );
}

fn push_replaces_the_whole_state(fx: &Fixture) {
    let b = fx.open();
    b.save_family("L", &"old".into(), &family(1, &["v1"]))
        .unwrap();
    let mut s = State::new("P".into());
    s.serial = 40;
    s.families.insert("jwt".into(), family(7, &["v3"]));
    b.save(&s).unwrap();
    let back = fx.open().load().unwrap().unwrap();
    assert_eq!(back.lineage, "P");
    assert_eq!(back.serial, 40);
    assert_eq!(back.families.keys().collect::<Vec<_>>(), vec!["jwt"]);
    assert_eq!(back.families["jwt"].serial, 7);
}

fn a_lease_keeps_others_out_and_names_its_holder(fx: &Fixture) {
    let a = fx.open();
    let b = fx.open();
    a.save_family("L", &"jwt".into(), &family(1, &["v1"]))
        .unwrap();
    a.acquire(&["jwt".into()], &elsewhere("rotor apply"))
        .unwrap();
    let err = b
        .acquire(&["db".into(), "jwt".into()], &holder("rotor apply"))
        .unwrap_err();
    let StateError::Leased {
        family: leased,
        holder: who,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(leased, "jwt");
    assert!(who.starts_with("pid 4242 on host ci-runner-7 ("), "{who}");
    assert!(who.contains("`rotor apply`"), "{who}");
    // All or none: `db` was not leased either.
    assert!(a.leases().unwrap().iter().all(|l| l.family == "jwt"));
    // Writes by others are refused; the holder's go through.
    let err = b
        .save_family("L", &"jwt".into(), &family(2, &[]))
        .unwrap_err();
    assert!(matches!(err, StateError::Leased { .. }), "{err:?}");
    let err = b.remove_family(&"jwt".into()).unwrap_err();
    assert!(matches!(err, StateError::Leased { .. }), "{err:?}");
    a.save_family("L", &"jwt".into(), &family(2, &["v1", "v2"]))
        .unwrap();
    // Released: free for the next.
    a.release().unwrap();
    assert!(a.leases().unwrap().is_empty());
    b.acquire(&["jwt".into()], &holder("rotor apply")).unwrap();
}

fn disjoint_families_are_leased_and_saved_at_once(fx: &Fixture) {
    let a = fx.open();
    let b = fx.open();
    a.acquire(&["one".into()], &elsewhere("rotor apply"))
        .unwrap();
    b.acquire(&["two".into()], &holder("rotor apply")).unwrap();
    std::thread::scope(|s| {
        for (backend, name) in [(&a, "one"), (&b, "two")] {
            let name = FamilyName::from(name);
            s.spawn(move || {
                for serial in 1..=20 {
                    backend
                        .save_family("L", &name, &family(serial, &["v1"]))
                        .unwrap();
                }
            });
        }
    });
    let state = fx.open().load().unwrap().unwrap();
    assert_eq!(state.families["one"].serial, 20);
    assert_eq!(state.families["two"].serial, 20);
    assert_eq!(state.serial, 40);
}

fn a_lease_lapses_after_its_holder_stops_renewing(fx: &Fixture) {
    let ttl = Duration(1_500);
    let a = fx.open_ttl(ttl);
    a.acquire(&["jwt".into()], &elsewhere("rotor apply"))
        .unwrap();
    // Renewed while the holder lives: still held well past one ttl.
    std::thread::sleep(std::time::Duration::from_millis(2_000));
    let b = fx.open_ttl(ttl);
    assert!(matches!(
        b.acquire(&["jwt".into()], &holder("rotor apply")),
        Err(StateError::Leased { .. })
    ));
    // The holder is killed: no more heartbeats; the lease lapses.
    a.abandon();
    let started = std::time::Instant::now();
    loop {
        match b.acquire(&["jwt".into()], &holder("rotor apply")) {
            Ok(()) => break,
            Err(StateError::Leased { .. }) if started.elapsed().as_secs() < 10 => {
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            Err(e) => panic!("the lease never lapsed: {e}"),
        }
    }
    b.save_family("L", &"jwt".into(), &family(1, &["v1"]))
        .unwrap();
}

fn a_lease_of_an_exited_local_process_is_taken_over_at_once(fx: &Fixture) {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let a = fx.open();
    let mut h = holder("rotor apply");
    h.pid = dead;
    a.acquire(&["jwt".into()], &h).unwrap();
    a.abandon();
    let b = fx.open();
    b.acquire(&["jwt".into()], &holder("rotor apply")).unwrap();
}

fn a_broken_lease_stops_its_holder_before_saving(fx: &Fixture) {
    let a = fx.open();
    a.acquire(&["jwt".into()], &elsewhere("rotor apply"))
        .unwrap();
    a.save_family("L", &"jwt".into(), &family(1, &["v1"]))
        .unwrap();
    let b = fx.open();
    let broken = b
        .break_lease(&"jwt".into())
        .unwrap()
        .expect("a lease was held");
    assert_eq!(broken.holder.host, "ci-runner-7");
    b.acquire(&["jwt".into()], &holder("rotor apply")).unwrap();
    let err = a
        .save_family("L", &"jwt".into(), &family(2, &["v1", "v2"]))
        .unwrap_err();
    assert_eq!(err, StateError::LeaseLost("jwt".into()));
    assert_eq!(b.load().unwrap().unwrap().families["jwt"].serial, 1);
}

fn approval(family: &str, at: i64) -> ApprovalRecord {
    ApprovalRecord {
        family: family.into(),
        version: "v1".into(),
        gate: "accept.api".into(),
        approval: Approval {
            at: Timestamp(at),
            by: "ada".into(),
        },
    }
}

fn approvals_need_no_lease_and_are_merged_on_load(fx: &Fixture) {
    let a = fx.open();
    a.save_family("L", &"jwt".into(), &family(1, &["v1"]))
        .unwrap();
    a.acquire(&["jwt".into()], &elsewhere("rotor apply --wait"))
        .unwrap();
    let approver = fx.open();
    approver.add_approval(&approval("jwt", 5)).unwrap();
    approver.add_approval(&approval("jwt", 9)).unwrap();
    assert_eq!(
        a.approvals().unwrap(),
        vec![approval("jwt", 5), approval("jwt", 9)]
    );
    let s = a.load().unwrap().unwrap();
    assert_eq!(
        s.version("jwt", "v1").unwrap().approvals["accept.api"].at,
        Timestamp(9)
    );
}

fn rename_and_remove_carry_approvals_and_respect_leases(fx: &Fixture) {
    let b = fx.open();
    b.save_family("L", &"jwt".into(), &family(1, &["v1"]))
        .unwrap();
    b.save_family("L", &"db".into(), &family(1, &["p1"]))
        .unwrap();
    b.add_approval(&approval("jwt", 7)).unwrap();
    assert!(
        b.rename_family(&"jwt".into(), &"db".into())
            .unwrap_err()
            .to_string()
            .contains("already has a family db")
    );
    assert!(
        b.rename_family(&"nope".into(), &"x".into())
            .unwrap_err()
            .to_string()
            .contains("no family nope")
    );
    b.rename_family(&"jwt".into(), &"signing".into()).unwrap();
    let s = fx.open().load().unwrap().unwrap();
    assert!(!s.families.contains_key("jwt"));
    let moved = &s.families["signing"];
    assert_eq!(moved.serial, 2);
    assert_eq!(moved.versions["v1"].phase, Phase::Pending);
    assert_eq!(
        moved.versions["v1"].approvals["accept.api"].at,
        Timestamp(7)
    );
    // Leased by another: neither renamed nor removed.
    let holder_ = fx.open();
    holder_
        .acquire(&["db".into()], &elsewhere("rotor apply"))
        .unwrap();
    assert!(matches!(
        b.rename_family(&"db".into(), &"db2".into()),
        Err(StateError::Leased { .. })
    ));
    holder_.release().unwrap();
    b.remove_family(&"db".into()).unwrap();
    b.add_approval(&approval("signing", 8)).unwrap();
    b.remove_family(&"signing".into()).unwrap();
    let s = fx.open().load().unwrap().unwrap();
    assert!(s.families.is_empty());
    assert!(b.approvals().unwrap().is_empty());
}

fn events_are_appended_and_read_back_per_family(fx: &Fixture) {
    let b = fx.open();
    let event = |family: &str, what: &str| Event {
        at: Timestamp(5),
        family: family.into(),
        what: what.into(),
        outcome: "done".into(),
        actor: "ci".into(),
        detail: String::new(),
    };
    b.append_event(&event("jwt", "create v1")).unwrap();
    b.append_event(&event("db", "create p1")).unwrap();
    b.append_event(&event("jwt", "promote v1")).unwrap();
    let other = fx.open();
    assert_eq!(other.events(None).unwrap().len(), 3);
    let jwt: Vec<String> = other
        .events(Some(&"jwt".into()))
        .unwrap()
        .into_iter()
        .map(|e| e.what)
        .collect();
    assert_eq!(jwt, vec!["create v1", "promote v1"]);
}

#[test]
fn sqlite_refuses_a_record_edited_outside_rotor() {
    let fx = Fixture::sqlite();
    let b = fx.open();
    b.save_family("L", &"jwt".into(), &family(1, &["v1"]))
        .unwrap();
    let dir = fx.sqlite_dir();
    let conn = rusqlite::Connection::open(dir.join(".rotor/state.db")).unwrap();
    conn.execute(
        "UPDATE families SET record = replace(record, 'pending', 'destroyed')",
        [],
    )
    .unwrap();
    assert_eq!(
        fx.open().load(),
        Err(StateError::EditedRecord("jwt".into()))
    );
}

#[test]
fn sqlite_files_are_private_and_read_only_commands_create_nothing() {
    use std::os::unix::fs::PermissionsExt;
    let fx = Fixture::sqlite();
    let dir = fx.sqlite_dir();
    let b = fx.open();
    assert_eq!(b.load().unwrap(), None);
    assert!(b.leases().unwrap().is_empty());
    assert!(!dir.join(".rotor").exists());
    b.save_family("L", &"jwt".into(), &family(1, &["v1"]))
        .unwrap();
    let mode = |p: &str| std::fs::metadata(dir.join(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(".rotor"), 0o700);
    assert_eq!(mode(".rotor/state.db"), 0o600);
    assert_eq!(mode(".rotor/state.db-wal"), 0o600);
}

#[test]
fn sqlite_imports_a_state_json_of_an_earlier_rotor() {
    let fx = Fixture::sqlite();
    let dir = fx.sqlite_dir();
    let rotor = dir.join(".rotor");
    std::fs::create_dir_all(&rotor).unwrap();
    let mut old = State::new("lin-old".into());
    old.serial = 12;
    old.families.insert("jwt".into(), family(0, &["v1", "v2"]));
    std::fs::write(rotor.join("state.json"), old.to_json()).unwrap();
    std::fs::write(
        rotor.join("state.json.approvals"),
        serde_json::to_string(&approval("jwt", 3)).unwrap() + "\n",
    )
    .unwrap();
    // Read as it is before anything writes; nothing moves.
    let b = fx.open();
    let read = b.load().unwrap().unwrap();
    assert_eq!(read.lineage, "lin-old");
    assert!(rotor.join("state.json").exists());
    assert!(!rotor.join("state.db").exists());
    // The first write imports it, keeping lineage and serial.
    b.save_family("lin-old", &"db".into(), &family(1, &["p1"]))
        .unwrap();
    assert!(rotor.join("state.json.migrated").exists());
    assert!(rotor.join("state.json.approvals.migrated").exists());
    assert!(!rotor.join("state.json").exists());
    let s = fx.open().load().unwrap().unwrap();
    assert_eq!(s.lineage, "lin-old");
    assert_eq!(s.serial, 13);
    assert_eq!(s.families["jwt"].versions.len(), 2);
    assert_eq!(s.families["db"].serial, 1);
    assert_eq!(
        s.version("jwt", "v1").unwrap().approvals["accept.api"].at,
        Timestamp(3)
    );
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_errors_say_what_to_do_and_never_print_the_password() {
    let conn = std::env::var("ROTOR_STATE_PG").expect("ROTOR_STATE_PG: run scripts/test");
    let password = conn
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("password="))
        .unwrap()
        .to_string();
    // A role that may connect and nothing more.
    let reader = conn.replace("user=rotor_state", "user=rotor_reader");
    let b = postgres::PgState::new(&reader, "rotor").unwrap();
    let err = b.load().unwrap_err().to_string();
    assert!(err.contains("permission denied"), "{err}");
    assert!(err.contains("rotor state init --print-sql"), "{err}");
    assert!(!err.contains(&password), "{err}");
    // Nobody listening.
    let closed = conn.replace(
        &format!("port={}", std::env::var("ROTOR_PG_PORT").unwrap()),
        "port=1",
    );
    let err = postgres::PgState::new(&closed, "rotor")
        .unwrap()
        .load()
        .unwrap_err()
        .to_string();
    assert!(err.contains("connection refused"), "{err}");
    assert!(err.contains("resumes from the last saved step"), "{err}");
    assert!(!err.contains(&password), "{err}");
    // A wrong password.
    let wrong = conn.replace(&password, "not-the-password");
    let err = postgres::PgState::new(&wrong, "rotor")
        .unwrap()
        .load()
        .unwrap_err()
        .to_string();
    assert!(err.contains("password authentication failed"), "{err}");
    // A schema name that would be spliced into SQL.
    assert!(postgres::PgState::new(&conn, "rotor; drop table x").is_err());
}

#[test]
fn a_lineage_is_written_as_before() {
    // Hyphenated lowercase version-4 UUIDs, as the hand-written generator
    // wrote them: `xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx`.
    let l = new_lineage();
    let groups: Vec<usize> = l.split('-').map(str::len).collect();
    assert_eq!(groups, [8, 4, 4, 4, 12], "{l}");
    assert!(
        l.bytes()
            .all(|b| b == b'-' || b.is_ascii_digit() || b.is_ascii_lowercase())
    );
    assert_eq!(&l[14..15], "4", "{l}");
    assert!("89ab".contains(&l[19..20]), "{l}");
    assert_ne!(l, new_lineage());
    // A lineage is compared as a string and never parsed, so states saved
    // under any older value load (`push_replaces_the_whole_state` saves "P").
}

/// A save that fails in the server (here a constraint a DBA added) is
/// rolled back to its own savepoint and answered with the server's reason;
/// the saves and history lines committed with it stay.
#[cfg(feature = "postgres")]
#[test]
fn postgres_a_save_the_server_refuses_is_answered_alone() {
    let fx = Fixture::pg();
    let Fixture::Pg(schema) = &fx else {
        unreachable!()
    };
    let b = fx.open();
    b.save_family("L", &"f0".into(), &family(1, &[])).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let conn = std::env::var("ROTOR_STATE_PG").unwrap();
        let (client, connection) = tokio_postgres::connect(&conn, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client
            .batch_execute(&format!(
                "ALTER TABLE {schema}.families ADD CONSTRAINT no_bad CHECK (name <> 'bad')"
            ))
            .await
            .unwrap();
    });
    let line = |family: &str| Event {
        at: Timestamp(9),
        family: family.into(),
        what: "create v1".into(),
        outcome: "done".into(),
        actor: "ci".into(),
        detail: String::new(),
    };
    let (saves, lines) = runtime.block_on(async {
        let saves =
            ["ok1", "bad", "ok2"].map(|n| b.save_family_soon("L".into(), n.into(), family(1, &[])));
        let lines = ["ok1", "bad"].map(|n| b.append_event_soon(line(n)));
        tokio::join!(
            futures_util::future::join_all(saves),
            futures_util::future::join_all(lines)
        )
    });
    assert!(saves[0].is_ok() && saves[2].is_ok(), "{saves:?}");
    let err = saves[1].as_ref().unwrap_err().to_string();
    assert!(err.contains("no_bad"), "{err}");
    assert!(lines.iter().all(Result::is_ok), "{lines:?}");
    drop(b);
    let s = fx.open().load().unwrap().unwrap();
    let names: Vec<&str> = s.families.keys().map(FamilyName::as_str).collect();
    assert_eq!(names, ["f0", "ok1", "ok2"]);
    assert_eq!(fx.open().events(None).unwrap().len(), 2);
}

/// A PostgreSQL server that stops answering mid-command (packets dropped,
/// no reset) cannot hold the end of the command: the heartbeat gives up
/// after the lease's term and `release` after its limit, each with an
/// error, instead of waiting forever. Here a proxy between rotor and the
/// server goes silent after the lease is taken.
#[cfg(feature = "postgres")]
#[test]
fn postgres_a_server_that_stops_answering_does_not_hold_release() {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let conn = std::env::var("ROTOR_STATE_PG").expect("ROTOR_STATE_PG: run scripts/test");
    let field = |key: &str| {
        conn.split_whitespace()
            .find_map(|kv| kv.strip_prefix(key))
            .unwrap()
            .to_string()
    };
    let upstream = format!("{}:{}", field("host="), field("port="));
    let silent = Arc::new(AtomicBool::new(false));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    {
        let silent = silent.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let server = TcpStream::connect(&upstream).unwrap();
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    let silent = silent.clone();
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16 * 1024];
                        while let Ok(n @ 1..) = from.read(&mut buf) {
                            // Silent: read and drop, as a dead link would.
                            if !silent.load(Ordering::SeqCst) && to.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    });
                }
            }
        });
    }
    let proxied = conn.replace(&format!("port={}", field("port=")), &format!("port={port}"));
    let schema = format!("t_{}", new_lineage().replace('-', "_"));
    let b = postgres::PgState::new(&proxied, &schema)
        .unwrap()
        .with_lease_ttl(Duration(1_500));
    b.acquire(&["jwt".into()], &holder("rotor apply")).unwrap();
    silent.store(true, Ordering::SeqCst);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let released = b.release();
        drop(b);
        let _ = tx.send(released);
    });
    // A bound on the hang under test, not a timing of rotor: the limits
    // are 1.5 s (the heartbeat) and 10 s (the release).
    let released = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("release never returned from a silent server");
    let err = released.unwrap_err().to_string();
    assert!(err.contains("got no answer"), "{err}");
    assert!(!err.contains(&field("password=")), "{err}");
}
