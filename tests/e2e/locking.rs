//! Leases, not one lock: an apply leases the families it changes. A second
//! apply on the same family fails at once naming the holder; one on other
//! families runs at the same time; a killed holder's lease is taken over.

use crate::harness::{ROTATE_FROM, ROTATE_TO, Test, finish, poll};
use std::time::Duration;

const FAMILY: &str = "session_signing_key";

#[test]
fn a_second_apply_on_the_same_family_fails_fast_naming_the_holder() {
    let t = Test::quickstart();
    t.run(["apply", "--auto-approve", "--wait"]).success();
    t.edit(ROTATE_FROM, ROTATE_TO);

    // The rotation waits in windows for several seconds, holding the lease.
    let mut first = t.spawn(["apply", "--auto-approve", "--wait"]);
    let pid = first.id();
    poll(Duration::from_secs(30), "the first apply's lease", || {
        if let Some(status) = first.try_wait().unwrap() {
            panic!("the first apply exited ({status}) before leasing");
        }
        let list = t.run(["state", "list"]);
        list.stdout
            .contains(&format!("leased by pid {pid} on host "))
            .then_some(())
    });

    let second = t
        .run(["apply", "--auto-approve"])
        .code(4)
        .stderr_has(&format!(
            "family {FAMILY} is being changed by pid {pid} on host "
        ))
        .stderr_has("`rotor apply`")
        .stderr_has("hint: wait for it to finish");
    assert!(
        !second.stderr.contains("Apply complete"),
        "nothing should run while leased\n{second}"
    );
    // Readers take no lease: plan works meanwhile.
    t.run(["plan"]).success();
    assert!(
        first.try_wait().unwrap().is_none(),
        "the second apply should fail while the first still runs"
    );
    finish(first, "rotor apply --auto-approve --wait (first)")
        .success()
        .stderr_has("Apply complete");
    // Released on exit.
    assert!(
        !t.run(["state", "list"])
            .success()
            .stdout
            .contains("leased by")
    );
    t.run(["apply", "--auto-approve"])
        .success()
        .stdout_has("No changes.");
}

/// Two workspaces (two machines, two CI jobs) on one state, each rotating
/// its own family: both hold their lease at the same moment and both finish.
#[test]
fn applies_on_disjoint_families_of_one_state_run_at_once() {
    let shared = Test::new();
    let state = shared.join("shared/state.db");
    let state = state.to_str().unwrap();
    let a = Test::new().spec(&crate::harness::QUICKSTART.replace(FAMILY, "key_a"));
    let b = Test::new().spec(&crate::harness::QUICKSTART.replace(FAMILY, "key_b"));
    for t in [&a, &b] {
        t.run(["--state", state, "apply", "--auto-approve", "--wait"])
            .success();
        t.edit(ROTATE_FROM, ROTATE_TO);
    }
    let first = a.spawn(["--state", state, "apply", "--auto-approve", "--wait"]);
    let second = b.spawn(["--state", state, "apply", "--auto-approve", "--wait"]);
    poll(Duration::from_secs(30), "both leases at once", || {
        let list = a.run(["--state", state, "state", "list"]).success().stdout;
        let held = list.lines().filter(|l| l.contains("leased by pid")).count();
        (held == 2).then_some(())
    });
    finish(first, "apply a")
        .success()
        .stderr_has("Apply complete");
    finish(second, "apply b")
        .success()
        .stderr_has("Apply complete");
    let list = a.run(["--state", state, "state", "list"]).success().stdout;
    assert!(list.contains("key_a\tactive 2026-11"), "{list}");
    assert!(list.contains("key_b\tactive 2026-11"), "{list}");
    // Each workspace's plan covers its own families only.
    a.run(["--state", state, "plan", "--detailed-exitcode"])
        .code(0);
}

/// An apply killed with SIGKILL in the middle of a rotation leaves its
/// lease behind; on the same host a dead holder holds nothing, so the next
/// apply takes over at once and resumes, creating nothing twice.
#[test]
fn a_killed_holders_lease_is_taken_over_and_the_rotation_resumes() {
    let t = Test::quickstart();
    t.run(["apply", "--auto-approve", "--wait"]).success();
    t.edit(ROTATE_FROM, ROTATE_TO);
    let mut first = t.spawn(["apply", "--auto-approve", "--wait"]);
    poll(Duration::from_secs(30), "2026-11 created", || {
        t.exists(&format!(".rotor/secrets/{FAMILY}/versions/2026-11.json"))
            .then_some(())
    });
    first.kill().unwrap();
    first.wait().unwrap();
    let written = t.read(&format!(".rotor/secrets/{FAMILY}/versions/2026-11.json"));
    let leftover = t.run(["state", "list"]).success().stdout;
    assert!(
        leftover.contains("leased by pid"),
        "the lease stays behind\n{leftover}"
    );
    t.run(["apply", "--auto-approve", "--wait"])
        .success()
        .stderr_has("Apply complete");
    // Created once: the version the killed apply wrote is the one in use
    // (a kill between the step's record and its history line may leave the
    // history without it, never with two).
    assert_eq!(
        t.read(&format!(".rotor/secrets/{FAMILY}/versions/2026-11.json")),
        written,
        "2026-11 was written again"
    );
    let events = t.run(["show", "--events", FAMILY]).success().stdout;
    assert!(
        events.matches("create 2026-11  done").count() <= 1,
        "created twice\n{events}"
    );
    assert_eq!(
        t.read(&format!(".rotor/secrets/{FAMILY}/primary")),
        "2026-11\n"
    );
}

/// `rotor state unlock` breaks a lease only with --force, saying whose.
#[test]
fn unlock_needs_force_and_names_the_lease_it_broke() {
    let t = Test::quickstart();
    t.run(["apply", "--auto-approve", "--wait"]).success();
    t.edit(ROTATE_FROM, ROTATE_TO);
    let mut first = t.spawn(["apply", "--auto-approve", "--wait"]);
    let pid = first.id();
    poll(Duration::from_secs(30), "the lease", || {
        t.run(["state", "list"])
            .stdout
            .contains("leased by")
            .then_some(())
    });
    t.run(["state", "unlock", FAMILY])
        .code(1)
        .stderr_has("needs --force");
    t.run(["state", "unlock", FAMILY, "--force"])
        .success()
        .stderr_has(&format!(
            "broke the lease on secret.{FAMILY} held by pid {pid}"
        ));
    // The holder stops at its next save instead of writing over whoever
    // takes the family next.
    let out = poll(Duration::from_secs(60), "the first apply to stop", || {
        first.try_wait().unwrap()
    });
    let done = finish(first, "rotor apply --wait (unlocked)");
    assert!(!out.success(), "{done}");
    done.stderr_has("no longer holds the lease on family session_signing_key");
    t.run(["apply", "--auto-approve", "--wait"]).success();
}
