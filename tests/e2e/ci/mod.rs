//! The CI path, played on this machine as GitHub would play it (issue 13).
//!
//! The jobs are the example workflows themselves (examples/ci/github), read
//! from their YAML and run step by step by [`runner`]: each job in a fresh
//! clone of a throwaway spec repository, with no `.rotor/` from any earlier
//! job; only the PostgreSQL state (`ROTOR_STATE_PG`, from `scripts/test`),
//! the OpenBao store and the repository itself persist between jobs. rotor is
//! installed by rotor's own action from a release built of the binary under
//! test, checksum checked. GitHub's API is the simulated `gh` beside this
//! file (pull requests, comments, permissions, review requests).
//!
//! The story: a pull request adds a secret family → its plan comment; merge →
//! apply stops at a manual gate and asks for approval on the pull request; a
//! reader's `/rotor approve` is refused, a writer's opens the gate; the
//! schedule finishes the rotation; the rotation schedule opens (and then
//! updates) a pull request for the due family with the plan and the owner
//! as reviewer; its merge, approval by workflow_dispatch and scheduled
//! applies finish it, while a second scheduled apply started beside one
//! ends cleanly on the lease.

mod expr;
mod runner;

use runner::{Event, JobRun, Outcome, Runner, git};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

const REPO: &str = "acme/secrets";

fn spec(schema: &str, path: &str) -> String {
    format!(
        r#"state "postgres" {{
  conn   = env("ROTOR_STATE_PG")
  schema = "{schema}"
}}

store "vault" "main" {{
  address = env("VAULT_ADDR")
  token   = env("VAULT_TOKEN")
  path    = "{path}"
}}

secret "api_key" {{
  owner         = "@alice"
  store         = store.vault.main
  cadence       = "3s"
  overlap       = "2s"
  destroy_after = "1s"

  generate "random" {{
    length = 32
  }}

  version "v1" {{}}
  active = "v1"
}}

# Billing reads the key from Vault; a person confirms it accepts a new one.
consumer "billing" {{
  accepts   = secret.api_key
  cache_ttl = "1s"
  verify "manual" {{}}
}}
"#
    )
}

struct World {
    runner: Runner,
    _dir: tempfile::TempDir,
    dev: std::path::PathBuf,
}

impl World {
    fn new() -> World {
        let pg = std::env::var("ROTOR_STATE_PG")
            .expect("ROTOR_STATE_PG is not set: run scripts/test, which starts PostgreSQL");
        let vault_addr = std::env::var("VAULT_ADDR")
            .expect("VAULT_ADDR is not set: run scripts/test, which starts OpenBao");
        let vault_token = std::env::var("VAULT_TOKEN").expect("VAULT_TOKEN is not set");
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let dir = tempfile::tempdir().unwrap();
        let origin = dir.path().join("origin.git");
        git(
            dir.path(),
            &["init", "-q", "--bare", "-b", "main", "origin.git"],
        );

        // A developer's clone: main holds a README; the family comes in a pull request.
        let dev = dir.path().join("dev");
        git(
            dir.path(),
            &["clone", "-q", &origin.display().to_string(), "dev"],
        );
        std::fs::write(dev.join("README.md"), "secrets of acme\n").unwrap();
        git(&dev, &["add", "."]);
        git(&dev, &["commit", "-q", "-m", "start"]);
        git(&dev, &["push", "-q", "origin", "HEAD:main"]);

        // rotor's release, as the release workflow publishes it.
        let release = dir.path().join("releases/latest");
        std::fs::create_dir_all(&release).unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::copy(env!("CARGO_BIN_EXE_rotor"), bin.join("rotor")).unwrap();
        let target = match std::env::consts::ARCH {
            "x86_64" => "x86_64-unknown-linux-gnu",
            "aarch64" => "aarch64-unknown-linux-gnu",
            other => panic!("no release target for {other}"),
        };
        let archive = format!("rotor-{target}.tar.gz");
        sh(
            dir.path(),
            &format!(
                "tar -C bin -czf releases/latest/{archive} rotor && cd releases/latest && sha256sum {archive} > SHA256SUMS"
            ),
        );

        let github = dir.path().join("github.json");
        std::fs::write(
            &github,
            serde_json::to_string(&json!({
                "repository": REPO,
                "permissions": {"alice": "admin", "bob": "write", "mallory": "read"},
                "pulls": [],
                "comments": [],
            }))
            .unwrap(),
        )
        .unwrap();
        let work = dir.path().join("runs");
        std::fs::create_dir_all(&work).unwrap();
        let runner = Runner {
            root,
            origin,
            repository: REPO.into(),
            github,
            work,
            releases_url: format!("file://{}", dir.path().join("releases").display()),
            vars: json!({
                "VAULT_ADDR": vault_addr,
                "AWS_REGION": "eu-west-1",
                "ROTOR_AWS_PLAN_ROLE": "arn:aws:iam::123456789012:role/rotor-plan",
                "ROTOR_AWS_APPLY_ROLE": "arn:aws:iam::123456789012:role/rotor-apply",
            }),
            secrets: json!({"ROTOR_STATE_PG": pg}),
            vault_token,
            aws: BTreeMap::from([
                ("AWS_ACCESS_KEY_ID".to_string(), "ASIASIMULATED".to_string()),
                ("AWS_SECRET_ACCESS_KEY".to_string(), "simulated".to_string()),
                ("AWS_SESSION_TOKEN".to_string(), "simulated".to_string()),
            ]),
            runs: Default::default(),
        };
        World {
            runner,
            _dir: dir,
            dev,
        }
    }

    fn github(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(&self.runner.github).unwrap()).unwrap()
    }

    fn edit_github(&self, f: impl FnOnce(&mut Value)) {
        let mut db = self.github();
        f(&mut db);
        std::fs::write(&self.runner.github, serde_json::to_string(&db).unwrap()).unwrap();
    }

    fn main_sha(&self) -> String {
        git(&self.dev, &["ls-remote", "origin", "refs/heads/main"])
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    }

    /// A developer opens pull request `number` from `branch`.
    fn open_pr(&self, branch: &str, title: &str) -> u64 {
        let number = self.github()["pulls"].as_array().unwrap().len() as u64 + 1;
        self.edit_github(|db| {
            db["pulls"].as_array_mut().unwrap().push(json!({
                "number": number, "title": title, "body": "", "state": "open",
                "head": {"ref": branch}, "base": {"ref": "main"},
                "reviewers": [], "team_reviewers": [],
            }))
        });
        number
    }

    /// Merges pull request `number` (a merge commit on main, as GitHub's button makes).
    fn merge(&self, number: u64) -> String {
        let branch = self.github()["pulls"][number as usize - 1]["head"]["ref"]
            .as_str()
            .unwrap()
            .to_string();
        git(&self.dev, &["fetch", "-q", "origin"]);
        git(&self.dev, &["checkout", "-q", "-B", "main", "origin/main"]);
        git(
            &self.dev,
            &[
                "merge",
                "-q",
                "--no-ff",
                "-m",
                &format!("Merge pull request #{number}"),
                &format!("origin/{branch}"),
            ],
        );
        git(&self.dev, &["push", "-q", "origin", "main"]);
        let sha = self.main_sha();
        self.edit_github(|db| {
            let pr = &mut db["pulls"][number as usize - 1];
            pr["state"] = json!("closed");
            pr["merged"] = json!(true);
            pr["merge_commit_sha"] = json!(sha);
        });
        sha
    }

    fn pr_event(&self, number: u64) -> Event {
        let branch = self.github()["pulls"][number as usize - 1]["head"]["ref"]
            .as_str()
            .unwrap()
            .to_string();
        git(&self.dev, &["fetch", "-q", "origin"]);
        let sha = git(&self.dev, &["rev-parse", &format!("origin/{branch}")]);
        Event {
            name: "pull_request",
            payload: json!({"pull_request": {
                "number": number,
                "head": {"ref": branch, "sha": sha, "repo": {"full_name": REPO}},
            }}),
            sha,
            actor: "dev".into(),
            inputs: json!({}),
        }
    }

    fn push_event(&self) -> Event {
        Event {
            name: "push",
            payload: json!({"ref": "refs/heads/main"}),
            sha: self.main_sha(),
            actor: "dev".into(),
            inputs: json!({}),
        }
    }

    fn schedule_event(&self) -> Event {
        Event {
            name: "schedule",
            payload: json!({"schedule": "*/15 * * * *"}),
            sha: self.main_sha(),
            actor: "github-actions[bot]".into(),
            inputs: json!({}),
        }
    }

    fn comment_event(&self, number: u64, who: &str, body: &str) -> Event {
        Event {
            name: "issue_comment",
            payload: json!({
                "action": "created",
                "issue": {"number": number, "pull_request": {"url": "…"}},
                "comment": {"body": body, "user": {"login": who}},
            }),
            sha: self.main_sha(),
            actor: who.into(),
            inputs: json!({}),
        }
    }

    fn comments(&self, number: u64, marker: &str) -> Vec<String> {
        self.github()["comments"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["issue"] == json!(number))
            .map(|c| c["body"].as_str().unwrap().to_string())
            .filter(|b| b.starts_with(marker))
            .collect()
    }

    fn job(&self, workflow: &str, job: &str, event: &Event) -> JobRun {
        let run = self.runner.run_job(workflow, job, event);
        assert!(
            !run.workspace.join(".rotor").exists(),
            "a job left local state in its workspace: the state belongs in PostgreSQL\n{run}"
        );
        run
    }

    fn rotor(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_rotor"))
            .args(args)
            .current_dir(&self.dev)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    }
}

fn sh(dir: &Path, script: &str) {
    let ok = std::process::Command::new("bash")
        .args(["-ec", script])
        .current_dir(dir)
        .status()
        .unwrap()
        .success();
    assert!(ok, "{script}");
}

/// What `rotor apply` exited with in an apply job.
fn rc(run: &JobRun) -> String {
    run.outputs["apply"]["outputs"]["rc"]
        .as_str()
        .unwrap_or_else(|| panic!("no rc output\n{run}"))
        .to_string()
}

#[track_caller]
fn ok(run: &JobRun) {
    assert_eq!(run.outcome, Outcome::Success, "{run}");
}

/// Runs scheduled applies until one says the rotation is done (exit 0).
fn advance_until_done(w: &World) -> JobRun {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    loop {
        let run = w.job("rotor.yml", "apply", &w.schedule_event());
        ok(&run);
        if rc(&run) == "0" {
            return run;
        }
        assert!(std::time::Instant::now() < deadline, "not done:\n{run}");
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

#[test]
fn the_example_workflows_carry_a_rotation_from_pull_request_to_done() {
    let w = World::new();
    let schema = format!("ci_{}", std::process::id());
    let path = crate::vault::unique_path();

    // 1. A pull request adds the family: the plan job comments the plan.
    git(&w.dev, &["checkout", "-q", "-b", "add-api-key"]);
    std::fs::write(w.dev.join("rotor.hcl"), spec(&schema, &path)).unwrap();
    git(&w.dev, &["add", "rotor.hcl"]);
    git(&w.dev, &["commit", "-q", "-m", "rotor: the api_key family"]);
    git(&w.dev, &["push", "-q", "origin", "add-api-key"]);
    let pr = w.open_pr("add-api-key", "rotor: the api_key family");
    assert_eq!(
        w.runner
            .run_job("rotor.yml", "apply", &w.pr_event(pr))
            .outcome,
        Outcome::Skipped,
        "the apply job must not run on a pull request"
    );
    let plan = w.job("rotor.yml", "plan", &w.pr_event(pr));
    ok(&plan);
    let comments = w.comments(pr, "<!-- rotor-plan -->");
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert!(
        comments[0].contains("### secret.api_key"),
        "{}",
        comments[0]
    );
    assert!(
        comments[0].contains("/rotor approve api_key v1 accept.billing"),
        "the comment lists the approval the plan will wait for:\n{}",
        comments[0]
    );
    // A second push to the pull request edits the one comment.
    ok(&w.job("rotor.yml", "plan", &w.pr_event(pr)));
    assert_eq!(w.comments(pr, "<!-- rotor-plan -->").len(), 1);

    // 2. Merge: apply creates v1 and stops at the manual gate, asking on the pull request.
    w.merge(pr);
    let apply = w.job("rotor.yml", "apply", &w.push_event());
    ok(&apply);
    assert_eq!(rc(&apply), "2", "steps wait behind the gate\n{apply}");
    let asks = w.comments(pr, "<!-- rotor-apply -->");
    assert_eq!(asks.len(), 1, "{apply}");
    assert!(
        asks[0].contains("/rotor approve api_key v1 accept.billing"),
        "{}",
        asks[0]
    );
    assert!(
        apply
            .summary
            .contains("/rotor approve api_key v1 accept.billing")
    );

    // 3. A reader's approval is refused by the permission check; nothing is recorded.
    let refused = w.job(
        "rotor-approve.yml",
        "approve",
        &w.comment_event(pr, "mallory", "/rotor approve api_key v1 accept.billing"),
    );
    assert_eq!(refused.outcome, Outcome::Failure, "{refused}");
    assert!(refused.log.contains("mallory has read access"), "{refused}");
    assert_eq!(refused.steps["request"], Outcome::Success);
    let replies: Vec<_> = w.comments(pr, "rotor: ");
    assert!(
        replies.last().unwrap().contains("not approved"),
        "{replies:?}"
    );
    // A comment that is not three plain words never reaches a command line.
    let odd = w.job(
        "rotor-approve.yml",
        "approve",
        &w.comment_event(pr, "alice", "/rotor approve api_key v1 $(touch /tmp/x)"),
    );
    assert_eq!(odd.outcome, Outcome::Failure, "{odd}");
    assert!(
        odd.log
            .contains("expected: /rotor approve FAMILY VERSION GATE"),
        "{odd}"
    );
    assert_eq!(odd.steps["request"], Outcome::Failure);
    // Any other comment does not start the job.
    let chat = w.runner.run_job(
        "rotor-approve.yml",
        "approve",
        &w.comment_event(pr, "alice", "looks good"),
    );
    assert_eq!(chat.outcome, Outcome::Skipped);

    // 4. A writer's approval opens the gate; the schedule finishes the rotation.
    let approved = w.job(
        "rotor-approve.yml",
        "approve",
        &w.comment_event(pr, "alice", "/rotor approve api_key v1 accept.billing"),
    );
    ok(&approved);
    assert!(
        w.comments(pr, "rotor: ")
            .last()
            .unwrap()
            .starts_with("rotor: approved.")
    );
    advance_until_done(&w);

    // 5. The rotation schedule opens a pull request for the family once it is
    //    due (a 3 s cadence here), with the plan and the owner asked to review.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let pulls = loop {
        let rotate = w.job("rotor-rotate.yml", "rotate", &w.schedule_event());
        ok(&rotate);
        let pulls = w.github()["pulls"].as_array().unwrap().clone();
        if pulls.len() == 2 {
            break pulls;
        }
        assert!(std::time::Instant::now() < deadline, "never due:\n{rotate}");
        std::thread::sleep(std::time::Duration::from_secs(1));
    };
    let rotation = &pulls[1];
    let title = rotation["title"].as_str().unwrap().to_string();
    assert!(
        title.starts_with("rotor: rotate secret.api_key to "),
        "{title}"
    );
    let version = title.rsplit(' ').next().unwrap().to_string();
    assert_eq!(rotation["head"]["ref"], "rotor/rotate-api_key");
    assert_eq!(rotation["reviewers"], json!(["alice"]));
    let body = rotation["body"].as_str().unwrap();
    assert!(body.contains("Owner: @alice"), "{body}");
    assert!(
        body.contains(&format!("/rotor approve api_key {version} accept.billing")),
        "{body}"
    );
    // Run again: the same pull request is updated, not a second one opened.
    ok(&w.job("rotor-rotate.yml", "rotate", &w.schedule_event()));
    assert_eq!(w.github()["pulls"].as_array().unwrap().len(), 2);

    // 6. Its plan comment, its merge, and an apply that stops at the gate again.
    let n = rotation["number"].as_u64().unwrap();
    ok(&w.job("rotor.yml", "plan", &w.pr_event(n)));
    assert_eq!(w.comments(n, "<!-- rotor-plan -->").len(), 1);
    w.merge(n);
    let apply = w.job("rotor.yml", "apply", &w.push_event());
    ok(&apply);
    assert!(
        w.comments(n, "<!-- rotor-apply -->")[0]
            .contains(&format!("/rotor approve api_key {version} accept.billing"))
    );
    // While the family is rotating, the rotation schedule leaves it alone.
    ok(&w.job("rotor-rotate.yml", "rotate", &w.schedule_event()));
    assert_eq!(w.github()["pulls"].as_array().unwrap().len(), 2);

    // 7. Approval by workflow_dispatch, recorded with the actor.
    let dispatch = Event {
        name: "workflow_dispatch",
        payload: json!({}),
        sha: w.main_sha(),
        actor: "bob".into(),
        inputs: json!({"family": "api_key", "version": version, "gate": "accept.billing"}),
    };
    ok(&w.job("rotor-approve.yml", "approve", &dispatch));

    // 8. Two scheduled applies at once: one works, the other ends cleanly on
    //    the lease or finds nothing left to do; then the schedule finishes.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| w.job("rotor.yml", "apply", &w.schedule_event()));
        let b = s.spawn(|| w.job("rotor.yml", "apply", &w.schedule_event()));
        (a.join().unwrap(), b.join().unwrap())
    });
    ok(&a);
    ok(&b);
    for run in [&a, &b] {
        if rc(run) == "4" {
            assert!(
                run.log.contains("is being changed by pid")
                    || run.log.contains("changed while this plan was made"),
                "{run}"
            );
        }
    }
    advance_until_done(&w);

    // Anywhere: the new version is active, and the history names the approvers.
    git(&w.dev, &["checkout", "-q", "main"]);
    git(&w.dev, &["pull", "-q", "origin", "main"]);
    let events = w.rotor(&["show", "--events", "api_key"]);
    let events = String::from_utf8_lossy(&events.stdout).to_string();
    assert!(
        events.contains("approve v1 accept.billing  approved  by alice"),
        "{events}"
    );
    assert!(
        events.contains(&format!(
            "approve {version} accept.billing  approved  by bob"
        )),
        "{events}"
    );
    assert!(!events.contains("by mallory"), "{events}");
    let status = w.rotor(&["status", "--json"]);
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["families"][0]["active"], json!(version), "{status}");
}
