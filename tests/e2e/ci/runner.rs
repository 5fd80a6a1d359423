//! A GitHub Actions job, played on this machine from the workflow file.
//!
//! Each job starts in a new directory with nothing from earlier jobs: the
//! workspace is empty until `actions/checkout` clones the repository, HOME
//! and RUNNER_TEMP are new, and the environment holds only what a runner
//! gives (PATH, HOME, the `GITHUB_*` variables) plus the workflow's, the
//! job's and the step's `env:`. Every `run:` step runs as GitHub runs it
//! (`bash --noprofile --norc -eo pipefail`), with `GITHUB_OUTPUT`,
//! `GITHUB_ENV`, `GITHUB_PATH` and `GITHUB_STEP_SUMMARY` read back after it.
//!
//! The `uses:` steps cannot run here and are played by what they do:
//! checkout clones the repository; rotor's own action runs its composite
//! steps from `action.yml` (the real `scripts/install-rotor`, against a
//! release directory built from the binary under test); the AWS and Vault
//! login actions export the short-lived credentials they would obtain. An
//! action not listed here panics, so a workflow cannot drift into using
//! something this simulation does not play.

use super::expr::{self, Context};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Everything that persists between jobs, and the repository's settings.
pub struct Runner {
    /// rotor's source tree: the workflows and the action are read from here.
    pub root: PathBuf,
    /// The spec repository (a bare git repository), as GitHub holds it.
    pub origin: PathBuf,
    /// `owner/name`.
    pub repository: String,
    /// The JSON file the simulated `gh` answers from.
    pub github: PathBuf,
    /// Where jobs run, one directory each.
    pub work: PathBuf,
    /// Releases of rotor to install from (`ROTOR_RELEASES_URL`).
    pub releases_url: String,
    /// Repository variables (`vars.*`) and secrets (`secrets.*`).
    pub vars: Value,
    pub secrets: Value,
    /// What the login actions hand out: `VAULT_TOKEN`, `AWS_*`.
    pub vault_token: String,
    pub aws: BTreeMap<String, String>,
    pub runs: AtomicUsize,
}

/// What triggered a workflow run.
pub struct Event {
    pub name: &'static str,
    pub payload: Value,
    pub sha: String,
    pub actor: String,
    pub inputs: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Skipped,
}

pub struct JobRun {
    pub outcome: Outcome,
    pub log: String,
    pub workspace: PathBuf,
    pub summary: String,
    /// Each step's outcome, by id (or `#index`).
    pub steps: BTreeMap<String, Outcome>,
    /// The `steps` context at the end: `outputs["apply"]["outputs"]["rc"]`.
    pub outputs: Value,
}

impl std::fmt::Display for JobRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "job {:?}\n{}", self.outcome, self.log)
    }
}

pub fn read_yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let yaml: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::to_value(yaml).unwrap()
}

struct Job<'a> {
    runner: &'a Runner,
    values: Value,
    env: BTreeMap<String, String>,
    path: Vec<PathBuf>,
    dir: PathBuf,
    workspace: PathBuf,
    failed: bool,
    log: String,
    steps: BTreeMap<String, Outcome>,
}

impl Runner {
    /// Runs `job` of `workflow` (a file under examples/ci/github) for `event`.
    pub fn run_job(&self, workflow: &str, job: &str, event: &Event) -> JobRun {
        let file = self.root.join("examples/ci/github").join(workflow);
        let wf = read_yaml(&file);
        assert!(
            wf["on"].get(event.name).is_some(),
            "{workflow} is not triggered by {}",
            event.name
        );
        let spec = wf["jobs"]
            .get(job)
            .unwrap_or_else(|| panic!("{workflow} has no job {job}"))
            .clone();
        let n = self.runs.fetch_add(1, Ordering::SeqCst);
        let dir = self.work.join(format!("{n:02}-{workflow}-{job}"));
        let workspace = dir.join("workspace");
        for d in ["workspace", "temp", "home"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        let mut github = json!({
            "event_name": event.name,
            "event": event.payload,
            "repository": self.repository,
            "repository_owner": self.repository.split('/').next().unwrap(),
            "server_url": "https://github.com",
            "run_id": format!("{}", 9000 + n),
            "sha": event.sha,
            "actor": event.actor,
            "token": "ghs_simulated",
            "ref_name": "main",
        });
        if let Some(pr) = event.payload.get("pull_request") {
            github["ref_name"] = json!(format!("{}/merge", pr["number"]));
        }
        let mut j = Job {
            runner: self,
            values: json!({
                "github": github,
                "vars": self.vars,
                "secrets": self.secrets,
                "inputs": event.inputs,
                "steps": {},
                "job": {"status": "success"},
                "runner": {"temp": dir.join("temp"), "os": "Linux"},
                "matrix": {},
                "env": {},
            }),
            env: BTreeMap::new(),
            path: Vec::new(),
            dir: dir.clone(),
            workspace: workspace.clone(),
            failed: false,
            log: String::new(),
            steps: BTreeMap::new(),
        };
        if let Some(cond) = spec.get("if")
            && !expr::condition(&expr::to_string(cond), &j.context())
        {
            return JobRun {
                outcome: Outcome::Skipped,
                log: format!("{workflow} {job}: skipped by its if\n"),
                workspace,
                summary: String::new(),
                steps: BTreeMap::new(),
                outputs: json!({}),
            };
        }
        for scope in [&wf["env"], &spec["env"]] {
            j.add_env(scope);
        }
        let steps = spec["steps"].as_array().cloned().unwrap_or_default();
        for (i, step) in steps.iter().enumerate() {
            let id = step["id"]
                .as_str()
                .map_or_else(|| format!("#{i}"), str::to_string);
            let run = match step.get("if") {
                Some(cond) => expr::condition(&expr::to_string(cond), &j.context()),
                None => !j.failed,
            };
            let outcome = if !run {
                Outcome::Skipped
            } else {
                let label = step["name"]
                    .as_str()
                    .or(step["uses"].as_str())
                    .unwrap_or("run")
                    .to_string();
                j.log.push_str(&format!("── step {id}: {label}\n"));
                let ok = j.step(step);
                if !ok {
                    j.failed = true;
                    j.values["job"]["status"] = json!("failure");
                }
                if ok {
                    Outcome::Success
                } else {
                    Outcome::Failure
                }
            };
            j.values["steps"]
                .as_object_mut()
                .unwrap()
                .entry(id.clone())
                .or_insert_with(|| json!({"outputs": {}}))["outcome"] = json!(match outcome {
                Outcome::Success => "success",
                Outcome::Failure => "failure",
                Outcome::Skipped => "skipped",
            });
            j.steps.insert(id, outcome);
        }
        let summary = std::fs::read_to_string(dir.join("temp/summary.md")).unwrap_or_default();
        JobRun {
            outcome: if j.failed {
                Outcome::Failure
            } else {
                Outcome::Success
            },
            log: j.log,
            workspace,
            summary,
            steps: j.steps,
            outputs: j.values["steps"].clone(),
        }
    }
}

impl Job<'_> {
    fn context(&self) -> Context<'_> {
        Context {
            values: &self.values,
            failed: self.failed,
        }
    }

    fn add_env(&mut self, scope: &Value) {
        let Some(map) = scope.as_object() else {
            return;
        };
        for (k, v) in map {
            let value = expr::interpolate(&expr::to_string(v), &self.context());
            self.env.insert(k.clone(), value.clone());
            self.values["env"][k] = json!(value);
        }
    }

    /// The environment a process of this job sees: a runner's, nothing of the test's.
    fn process_env(&self, step_env: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let temp = self.dir.join("temp");
        let mut path: Vec<String> = self.path.iter().map(|p| p.display().to_string()).collect();
        path.push(self.runner.root.join("tests/e2e/ci").display().to_string());
        path.push(std::env::var("PATH").unwrap_or_default());
        let mut env = BTreeMap::new();
        let github = &self.values["github"];
        for (k, v) in [
            ("PATH", path.join(":")),
            ("HOME", self.dir.join("home").display().to_string()),
            ("LANG", "C.UTF-8".into()),
            ("CI", "true".into()),
            ("GITHUB_ACTIONS", "true".into()),
            ("GITHUB_WORKSPACE", self.workspace.display().to_string()),
            ("GITHUB_REPOSITORY", self.runner.repository.clone()),
            ("GITHUB_SHA", expr::to_string(&github["sha"])),
            ("GITHUB_EVENT_NAME", expr::to_string(&github["event_name"])),
            ("GITHUB_ACTOR", expr::to_string(&github["actor"])),
            ("GITHUB_SERVER_URL", "https://github.com".into()),
            ("GITHUB_RUN_ID", expr::to_string(&github["run_id"])),
            ("RUNNER_TEMP", temp.display().to_string()),
            ("GITHUB_OUTPUT", temp.join("output").display().to_string()),
            ("GITHUB_ENV", temp.join("env").display().to_string()),
            ("GITHUB_PATH", temp.join("path").display().to_string()),
            (
                "GITHUB_STEP_SUMMARY",
                temp.join("summary.md").display().to_string(),
            ),
            // Where the simulated GitHub keeps its answers, and where rotor's releases are.
            ("ROTOR_SIM_GITHUB", self.runner.github.display().to_string()),
            ("ROTOR_RELEASES_URL", self.runner.releases_url.clone()),
        ] {
            env.insert(k.to_string(), v);
        }
        env.extend(self.env.clone());
        env.extend(step_env.clone());
        env
    }

    fn step(&mut self, step: &Value) -> bool {
        let mut step_env = BTreeMap::new();
        if let Some(map) = step["env"].as_object() {
            for (k, v) in map {
                step_env.insert(
                    k.clone(),
                    expr::interpolate(&expr::to_string(v), &self.context()),
                );
            }
        }
        let with: BTreeMap<String, String> = step["with"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            expr::interpolate(&expr::to_string(v), &self.context()),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        if let Some(uses) = step["uses"].as_str() {
            return self.action(uses, &with, &step_env);
        }
        let script = expr::interpolate(
            step["run"].as_str().expect("a step has run or uses"),
            &self.context(),
        );
        let id = step["id"].as_str().map(str::to_string);
        let cwd = match step["working-directory"].as_str() {
            Some(d) => self.workspace.join(d),
            None => self.workspace.clone(),
        };
        self.run_script(&script, &cwd, &step_env, id.as_deref())
    }

    fn run_script(
        &mut self,
        script: &str,
        cwd: &Path,
        step_env: &BTreeMap<String, String>,
        id: Option<&str>,
    ) -> bool {
        let temp = self.dir.join("temp");
        for f in ["output", "env", "path"] {
            std::fs::write(temp.join(f), "").unwrap();
        }
        let file = temp.join("step.sh");
        std::fs::write(&file, script).unwrap();
        let out = Command::new("bash")
            .args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&file)
            .current_dir(cwd)
            .env_clear()
            .envs(self.process_env(step_env))
            .output()
            .unwrap();
        self.log.push_str(&String::from_utf8_lossy(&out.stdout));
        self.log.push_str(&String::from_utf8_lossy(&out.stderr));
        self.log
            .push_str(&format!("   (exit {})\n", out.status.code().unwrap_or(-1)));
        let outputs = read_outputs(&temp.join("output"));
        if let Some(id) = id {
            let entry = self.values["steps"]
                .as_object_mut()
                .unwrap()
                .entry(id.to_string())
                .or_insert_with(|| json!({"outputs": {}}));
            for (k, v) in &outputs {
                entry["outputs"][k] = json!(v);
            }
        }
        for (k, v) in read_outputs(&temp.join("env")) {
            self.env.insert(k.clone(), v.clone());
            self.values["env"][k] = json!(v);
        }
        for line in std::fs::read_to_string(temp.join("path")).unwrap().lines() {
            if !line.trim().is_empty() {
                self.path.insert(0, PathBuf::from(line.trim()));
            }
        }
        out.status.success()
    }

    fn action(
        &mut self,
        uses: &str,
        with: &BTreeMap<String, String>,
        step_env: &BTreeMap<String, String>,
    ) -> bool {
        let name = uses.split('@').next().unwrap();
        match name {
            "actions/checkout" => {
                let reference = with
                    .get("ref")
                    .cloned()
                    .unwrap_or_else(|| expr::to_string(&self.values["github"]["sha"]));
                let _ = std::fs::remove_dir_all(&self.workspace);
                git(
                    &self.dir,
                    &[
                        "clone",
                        "-q",
                        &self.runner.origin.display().to_string(),
                        &self.workspace.display().to_string(),
                    ],
                );
                git(&self.workspace, &["checkout", "-q", &reference]);
                self.log.push_str(&format!("   checked out {reference}\n"));
                true
            }
            "OWNER/rotor" => {
                // rotor's own action: its composite steps, as action.yml has them.
                let action = read_yaml(&self.runner.root.join("action.yml"));
                let mut inputs = Map::new();
                for (k, spec) in action["inputs"].as_object().unwrap() {
                    let v = with
                        .get(k)
                        .cloned()
                        .unwrap_or_else(|| expr::to_string(&spec["default"]));
                    inputs.insert(k.clone(), json!(v));
                }
                let saved = self.values.clone();
                self.values["inputs"] = Value::Object(inputs);
                self.values["github"]["action_repository"] = json!("OWNER/rotor");
                let mut ok = true;
                for (i, s) in action["runs"]["steps"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .enumerate()
                {
                    let mut env = step_env.clone();
                    if let Some(map) = s["env"].as_object() {
                        for (k, v) in map {
                            env.insert(
                                k.clone(),
                                expr::interpolate(&expr::to_string(v), &self.context()),
                            );
                        }
                    }
                    env.insert(
                        "GITHUB_ACTION_PATH".into(),
                        self.runner.root.display().to_string(),
                    );
                    let script = s["run"].as_str().unwrap_or_else(|| {
                        panic!("action.yml step {i} has no run");
                    });
                    let cwd = self.workspace.clone();
                    ok &= self.run_script(script, &cwd, &env, None);
                    if !ok {
                        break;
                    }
                }
                let path = self.path.clone();
                self.values = saved;
                self.path = path;
                ok
            }
            "aws-actions/configure-aws-credentials" => {
                assert!(
                    !with.get("role-to-assume").is_none_or(|r| r.is_empty()),
                    "configure-aws-credentials without role-to-assume"
                );
                let region = with.get("aws-region").cloned().unwrap_or_default();
                assert!(
                    !region.is_empty(),
                    "configure-aws-credentials without aws-region"
                );
                for (k, v) in &self.runner.aws {
                    self.env.insert(k.clone(), v.clone());
                }
                self.env.insert("AWS_REGION".into(), region.clone());
                self.env.insert("AWS_DEFAULT_REGION".into(), region);
                true
            }
            "hashicorp/vault-action" => {
                assert_eq!(with.get("method").map(String::as_str), Some("jwt"));
                assert_eq!(with.get("exportToken").map(String::as_str), Some("true"));
                assert!(
                    with.get("url").is_some_and(|u| u.starts_with("http")),
                    "vault-action url is {:?}",
                    with.get("url")
                );
                self.env
                    .insert("VAULT_TOKEN".into(), self.runner.vault_token.clone());
                true
            }
            other => panic!("the simulation does not play the action {other}"),
        }
    }
}

/// `key=value` lines and `key<<DELIMITER` … `DELIMITER` blocks.
fn read_outputs(file: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let mut out = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((k, delimiter)) = line.split_once("<<") {
            let mut value = Vec::new();
            for l in lines.by_ref() {
                if l == delimiter {
                    break;
                }
                value.push(l);
            }
            out.insert(k.to_string(), value.join("\n"));
        } else if let Some((k, v)) = line.split_once('=') {
            out.insert(k.to_string(), v.to_string());
        }
    }
    out
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "dev")
        .env("GIT_AUTHOR_EMAIL", "dev@example.com")
        .env("GIT_COMMITTER_NAME", "dev")
        .env("GIT_COMMITTER_EMAIL", "dev@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
