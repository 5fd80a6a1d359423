//! The `postgres` store and `verify "postgres"` probe against a real
//! PostgreSQL, which `scripts/test` starts (`scripts/services/postgres`) and
//! points at with `ROTOR_PG_HOST`, `ROTOR_PG_PORT`, `ROTOR_PG_PASSWORD` and
//! `ROTOR_PG_SOCKET_DIR`. The spec is `examples/postgres/rotor.hcl`, with
//! login roles of the test's own (made as a DBA would, over the superuser
//! socket), so tests run in parallel and again on the same server.

use crate::harness::{Output, Test, finish, poll};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

/// The example, as shipped.
const EXAMPLE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../examples/postgres/rotor.hcl"
));

const USERNAMES: &str = "usernames = [\"app_a\", \"app_b\"]";
const ROTATE_FROM: &str = "version \"v1\" {}\n  active = \"v1\"";
const ROTATE_TO: &str = "version \"v2\" {}\n  active = \"v2\"";

/// A variable `scripts/test` sets; missing is a failure, not a skip.
fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run scripts/test, which starts PostgreSQL (scripts/services/postgres) and sets ROTOR_PG_HOST, ROTOR_PG_PORT, ROTOR_PG_PASSWORD and ROTOR_PG_SOCKET_DIR"
        )
    })
}

fn port() -> u16 {
    env("ROTOR_PG_PORT")
        .parse()
        .expect("ROTOR_PG_PORT is a port")
}

/// A login from the application's store: (username, password).
struct Login {
    username: String,
    password: String,
}

impl Login {
    fn read(t: &Test, version: &str) -> Login {
        let text = t.read(&format!(
            ".rotor/secrets/db_password/versions/{version}.key"
        ));
        let v: serde_json::Value = serde_json::from_str(&text).expect("a login is JSON");
        Login {
            username: v["username"].as_str().unwrap().into(),
            password: v["password"].as_str().unwrap().into(),
        }
    }

    /// A new session over TCP, as the application would open one.
    async fn connect(&self) -> Result<tokio_postgres::Client, String> {
        let (client, conn) = tokio_postgres::Config::new()
            .host(env("ROTOR_PG_HOST"))
            .port(port())
            .dbname("app")
            .user(&self.username)
            .password(&self.password)
            .connect_timeout(Duration::from_secs(5))
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(|e| match e.as_db_error() {
                Some(db) => db.message().to_string(),
                None => e.to_string(),
            })?;
        tokio::spawn(conn);
        Ok(client)
    }
}

/// Two fresh NOLOGIN roles with the same grants, made by the DBA (the
/// superuser, over the server's Unix socket) for rotor_admin to manage.
async fn fresh_roles(tag: &str) -> [String; 2] {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let names = ["a", "b"].map(|s| format!("e2e_{tag}_{}_{n}_{s}", std::process::id()));
    let (su, conn) = tokio_postgres::Config::new()
        .host_path(env("ROTOR_PG_SOCKET_DIR"))
        .port(port())
        .user("postgres")
        .dbname("app")
        .connect(tokio_postgres::NoTls)
        .await
        .expect("the superuser over the server's socket");
    tokio::spawn(conn);
    for name in &names {
        su.batch_execute(&format!(
            "CREATE ROLE {name} NOLOGIN; GRANT CONNECT ON DATABASE app TO {name}; \
             GRANT {name} TO rotor_admin WITH ADMIN OPTION"
        ))
        .await
        .unwrap();
    }
    names
}

fn spec_for(roles: &[String]) -> String {
    assert!(
        EXAMPLE.contains(USERNAMES),
        "the example names app_a and app_b"
    );
    assert!(EXAMPLE.contains(ROTATE_FROM), "the example declares v1");
    EXAMPLE.replace(
        USERNAMES,
        &format!("usernames = [\"{}\", \"{}\"]", roles[0], roles[1]),
    )
}

#[test]
fn a_session_opened_with_the_old_login_works_through_the_overlap_and_the_old_login_is_revoked() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let roles = rt.block_on(fresh_roles("rot"));
    let t = Test::new().spec(&spec_for(&roles));
    let mut outputs: Vec<Output> = Vec::new();

    outputs.push(
        t.run_within(
            Duration::from_secs(60),
            ["apply", "--auto-approve", "--wait"],
        )
        .success()
        .stderr_has("consumer.database accepts v1: postgres probe passed")
        .stderr_has("Apply complete: 4 steps ran."),
    );
    let old = Login::read(&t, "v1");
    assert_eq!(
        old.username, roles[0],
        "the first version takes the first role"
    );

    // The application's session, opened with the old login before the rotation.
    let session = rt.block_on(old.connect()).expect("log in with v1");
    let stop = Arc::new(AtomicBool::new(false));
    let worker = {
        let stop = stop.clone();
        rt.spawn(async move {
            let (mut ok, mut failures) = (0u32, Vec::new());
            while !stop.load(Ordering::Relaxed) {
                match session.simple_query("SELECT 1").await {
                    Ok(_) => ok += 1,
                    Err(e) => failures.push(e.to_string()),
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (ok, failures, session)
        })
    };

    t.edit(ROTATE_FROM, ROTATE_TO);
    let started = std::time::Instant::now();
    let child = t.spawn(["apply", "--auto-approve", "--wait"]);
    // Revoked and not yet destroyed (restorable for 2s): new logins with v1
    // are refused already, by NOLOGIN.
    poll(Duration::from_secs(90), "v1 revoked", || {
        t.state_file()
            .filter(|s| s["families"]["db_password"]["versions"]["v1"]["phase"] == "revoked")
    });
    let after_revoke = rt.block_on(old.connect());
    let Err(refused) = after_revoke else {
        panic!("v1 is revoked: a new login with it should fail");
    };
    assert!(
        refused.contains(&format!("role \"{}\" is not permitted to log in", roles[0])),
        "{refused}"
    );
    outputs.push(
        finish(child, "rotor apply --auto-approve --wait")
            .success()
            .stderr_has("consumer.database accepts v2: postgres probe passed")
            .stderr_has("held v1 for 4s")
            .stderr_has("revoked v1")
            .stderr_has("destroyed v1")
            .stderr_has("Apply complete: 7 steps ran."),
    );
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (ok, failures, session) = rt.block_on(worker).unwrap();
    assert!(
        failures.is_empty(),
        "the session opened with v1 failed during the rotation: {failures:?}"
    );
    // One query every ~100ms through the whole apply, overlap (4s) included.
    assert!(
        took >= Duration::from_secs(4) && u128::from(ok) * 150 >= took.as_millis(),
        "only {ok} queries in {took:?}"
    );
    // PostgreSQL checks logins when a session starts: the open one still works.
    rt.block_on(session.simple_query("SELECT 1"))
        .expect("an open session survives the revoke");

    let new = Login::read(&t, "v2");
    assert_eq!(
        new.username, roles[1],
        "the second version takes the other role"
    );
    assert_ne!(new.password, old.password);
    rt.block_on(new.connect()).expect("log in with v2");
    let Err(err) = rt.block_on(old.connect()) else {
        panic!("v1 is revoked: a new login with it should fail");
    };
    assert!(
        err.contains(&format!(
            "password authentication failed for user \"{}\"",
            roles[0]
        )),
        "{err}"
    );
    assert!(!t.exists(".rotor/secrets/db_password/versions/v1.key"));

    outputs.push(
        t.run(["plan", "--detailed-exitcode"])
            .success()
            .stdout_has("No changes. Every family matches its spec."),
    );
    outputs.push(t.run(["show", "--json"]).success());

    // Canary: neither password ever reaches rotor's output or its state.
    let state = t.state_bytes();
    for password in [&old.password, &new.password] {
        for out in &outputs {
            assert!(
                !out.stdout.contains(password.as_str()) && !out.stderr.contains(password.as_str()),
                "a password leaked\n{out}"
            );
        }
        assert!(
            !state.contains(password.as_str()),
            "a password is in the state"
        );
    }
}

#[test]
fn a_missing_login_role_is_named_with_the_sql_to_create_it() {
    let missing = [
        "rotor_e2e_missing_a".to_string(),
        "rotor_e2e_missing_b".to_string(),
    ];
    let t = Test::new().spec(&spec_for(&missing));
    let out = t.run(["plan"]).failure();
    out.says(&[
        "role rotor_e2e_missing_a of `db_password` does not exist",
        "CREATE ROLE \"rotor_e2e_missing_a\" NOLOGIN;",
    ]);
}

#[test]
fn a_family_kept_in_postgres_must_generate_logins() {
    env("ROTOR_PG_PASSWORD");
    let spec = EXAMPLE.replace(
        &format!("generate \"login\" {{\n    {USERNAMES} # version by version, in turn\n  }}"),
        "generate \"random\" {}",
    );
    assert_ne!(spec, EXAMPLE);
    let t = Test::new().spec(&spec);
    t.run(["validate"]).failure().stderr_has(
        "secret.db_password is kept in store.postgres.db, which holds database logins, but generates random",
    );
}
