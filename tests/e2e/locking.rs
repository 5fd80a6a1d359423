//! One writer at a time: a second apply fails at once, naming the holder.

use crate::harness::{ROTATE_FROM, ROTATE_TO, Test, finish, poll};
use std::time::Duration;

#[test]
fn a_second_apply_fails_fast_naming_the_holder_then_works_once_it_exits() {
    let t = Test::quickstart();
    t.run(["apply", "--auto-approve", "--wait"]).success();
    t.edit(ROTATE_FROM, ROTATE_TO);

    // The rotation waits in windows for several seconds, holding the lock.
    let mut first = t.spawn(["apply", "--auto-approve", "--wait"]);
    let pid = first.id();
    // The holder writes its record into the lock file once it holds the lock
    // (the bootstrap's record, of an exited process, is there until then).
    poll(
        Duration::from_secs(30),
        "the lock record of the first apply",
        || {
            if let Some(status) = first.try_wait().unwrap() {
                panic!("the first apply exited ({status}) before taking the lock");
            }
            std::fs::read_to_string(t.join(".rotor/state.json.lock"))
                .ok()
                .filter(|r| r.contains(&format!("\"pid\":{pid},")))
        },
    );

    let second = t
        .run(["apply", "--auto-approve"])
        .failure()
        .stderr_has(&format!("error: the state is locked by pid {pid} on host "))
        .stderr_has("`rotor apply`")
        .stderr_has("hint: wait for it to finish");
    assert_eq!(
        second.stdout, "",
        "nothing should be planned while locked\n{second}"
    );
    // Readers take no lock: plan works meanwhile.
    t.run(["plan"]).success();
    assert!(
        first.try_wait().unwrap().is_none(),
        "the second apply should fail while the first still runs"
    );

    finish(first, "rotor apply --auto-approve --wait (first)")
        .success()
        .stderr_has("Apply complete");
    // The OS released the lock when the holder exited; the file left behind is harmless.
    assert!(t.exists(".rotor/state.json.lock"));
    t.run(["apply", "--auto-approve"])
        .success()
        .stdout_has("No changes.");
}
