//! A small harness: a fresh temporary directory per test, the real `rotor`
//! binary run inside it, and its exit code, stdout and stderr captured.
//!
//! ```ignore
//! let t = Test::quickstart();
//! t.run(["apply", "--auto-approve", "--wait"]).success();
//! t.edit(ROTATE_FROM, ROTATE_TO);
//! t.run(["plan", "--detailed-exitcode"]).code(2);
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The quickstart spec, as shipped in `examples/quickstart/rotor.hcl`.
pub const QUICKSTART: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../examples/quickstart/rotor.hcl"
));

/// The quickstart declares one version; these two strings rotate it to the next.
pub const ROTATE_FROM: &str = "version \"2026-08\" {}\n  active = \"2026-08\"";
/// See [`ROTATE_FROM`].
pub const ROTATE_TO: &str = "version \"2026-11\" {}\n  active = \"2026-11\"";

/// The quickstart family's directory in the local store.
pub const FAMILY_DIR: &str = ".rotor/secrets/session_signing_key";

/// One test's directory, removed when the test ends.
pub struct Test {
    dir: tempfile::TempDir,
}

impl Test {
    /// An empty directory.
    pub fn new() -> Test {
        Test {
            dir: tempfile::Builder::new()
                .prefix("rotor-e2e-")
                .tempdir()
                .expect("create a temporary directory"),
        }
    }

    /// A directory holding the quickstart spec as `rotor.hcl`.
    pub fn quickstart() -> Test {
        Test::new().spec(QUICKSTART)
    }

    /// Writes `rotor.hcl`.
    pub fn spec(self, text: &str) -> Test {
        self.write("rotor.hcl", text);
        self
    }

    /// The test's directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the test's directory.
    pub fn join(&self, rel: &str) -> PathBuf {
        self.path().join(rel)
    }

    /// Writes a file, relative to the test's directory.
    pub fn write(&self, rel: &str, text: &str) {
        let path = self.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Reads a file, relative to the test's directory.
    pub fn read(&self, rel: &str) -> String {
        let path = self.join(rel);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }

    /// Whether a file or directory exists, relative to the test's directory.
    pub fn exists(&self, rel: &str) -> bool {
        self.join(rel).exists()
    }

    /// Replaces `from` with `to` in `rotor.hcl`; `from` must occur exactly once.
    pub fn edit(&self, from: &str, to: &str) {
        let spec = self.read("rotor.hcl");
        assert_eq!(
            spec.matches(from).count(),
            1,
            "`{from}` should occur once in rotor.hcl:\n{spec}"
        );
        self.write("rotor.hcl", &spec.replacen(from, to, 1));
    }

    /// `rotor ARGS` in the test's directory, as a command not yet run.
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.command_of(env!("CARGO_BIN_EXE_rotor"), args)
    }

    /// Like [`Test::command`], with another rotor binary (an installed one).
    pub fn command_of<I, S>(&self, rotor: impl AsRef<std::ffi::OsStr>, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = Command::new(rotor);
        cmd.args(args)
            .current_dir(self.path())
            .env("NO_COLOR", "1")
            .env_remove("CLICOLOR_FORCE")
            // Keep git from finding a repository above the temporary directory:
            // rotor warns when its store is inside an unignored work tree.
            .env(
                "GIT_CEILING_DIRECTORIES",
                self.path().parent().unwrap_or(self.path()),
            )
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `rotor ARGS` to completion.
    pub fn run<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.run_of(env!("CARGO_BIN_EXE_rotor"), args)
    }

    /// Like [`Test::run`], with another rotor binary (an installed one).
    pub fn run_of<I, S>(&self, rotor: impl AsRef<std::ffi::OsStr>, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = self.command_of(rotor, args);
        let line = describe(&cmd);
        let out = cmd.output().expect("run rotor");
        Output::new(line, out)
    }

    /// Starts `rotor ARGS` in the background, stdout and stderr piped.
    pub fn spawn<I, S>(&self, args: I) -> Child
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn rotor")
    }

    /// Runs `rotor ARGS`, killing it and failing the test if it has not
    /// exited within `limit`: for commands that could wait forever.
    #[track_caller]
    pub fn run_within<I, S>(&self, limit: Duration, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = self.command(args);
        let line = describe(&cmd);
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn rotor");
        let start = Instant::now();
        while child.try_wait().expect("wait for rotor").is_none() {
            if start.elapsed() > limit {
                child.kill().expect("kill rotor");
                let out = finish(child, &line);
                panic!("still running after {limit:?}, killed\n{out}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        finish(child, &line)
    }

    /// The state in `.rotor/state.db`, read straight from the database as
    /// `{lineage, serial, families: {NAME: record}}` (the shape `rotor state
    /// pull` prints); `None` while there is no state yet. Each save is one
    /// transaction, so a read sees whole records even while rotor runs.
    pub fn state_file(&self) -> Option<serde_json::Value> {
        let path = self.join(".rotor/state.db");
        if !path.exists() {
            return None;
        }
        let conn = rusqlite::Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("open state.db");
        conn.busy_timeout(Duration::from_secs(10)).unwrap();
        let (lineage, serial): (String, i64) = conn
            .query_row(
                "SELECT lineage, serial FROM workspace WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .ok()?;
        let mut families = serde_json::Map::new();
        let mut stmt = conn.prepare("SELECT name, record FROM families").unwrap();
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .unwrap();
        for row in rows {
            let (name, record) = row.unwrap();
            families.insert(
                name,
                serde_json::from_str(&record).expect("a record is JSON"),
            );
        }
        // The whole state's serial: the workspace's base plus every family's.
        let serial = serial
            + families
                .values()
                .map(|f| f["serial"].as_i64().unwrap_or(0))
                .sum::<i64>();
        Some(serde_json::json!({"lineage": lineage, "serial": serial, "families": families}))
    }

    /// Rewrites one family's record in the state database, checksum and
    /// all, as a rotor on another machine could have written it.
    pub fn edit_record(
        &self,
        family: &str,
        change: impl FnOnce(&mut rotor_engine::state::FamilyState),
    ) {
        let conn = rusqlite::Connection::open(self.join(".rotor/state.db")).expect("open state.db");
        let record: String = conn
            .query_row(
                "SELECT record FROM families WHERE name = ?1",
                [family],
                |r| r.get(0),
            )
            .expect("the family has a record");
        let mut state: rotor_engine::state::FamilyState = serde_json::from_str(&record).unwrap();
        change(&mut state);
        let (record, checksum) = state.to_record(&family.into());
        conn.execute(
            "UPDATE families SET record = ?1, checksum = ?2 WHERE name = ?3",
            rusqlite::params![record, checksum, family],
        )
        .unwrap();
    }

    /// Every byte of the state database (and its write-ahead log), as text:
    /// what a leak check searches.
    pub fn state_bytes(&self) -> String {
        let mut out = String::new();
        for name in [".rotor/state.db", ".rotor/state.db-wal"] {
            if let Ok(bytes) = std::fs::read(self.join(name)) {
                out.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
        out
    }

    /// `rotor show --json`, parsed.
    pub fn show_json(&self) -> serde_json::Value {
        self.run(["show", "--json"]).success().json()
    }

    /// The file names in a directory, sorted.
    pub fn list(&self, rel: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.join(rel))
            .unwrap_or_else(|e| panic!("list {rel}: {e}"))
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Insta settings for this test: snapshots in `tests/e2e/snapshots/`,
    /// with what varies between runs replaced by placeholders.
    pub fn settings(&self) -> insta::Settings {
        let mut s = insta::Settings::clone_current();
        s.set_snapshot_path("snapshots");
        s.set_prepend_module_to_snapshot(false);
        s.set_omit_expression(true);
        let dir = self.path().to_string_lossy().into_owned();
        s.add_filter(&regex_escape(&dir), "[TEMP]");
        s.add_filter(
            r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?( UTC|Z)?",
            "[TIME]",
        );
        s.add_filter(r"sha256:[0-9a-f]+", "[FP]");
        s.add_filter(
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            "[LINEAGE]",
        );
        // The number of state writes depends on how many polls a window took.
        s.add_filter(r"serial \d+", "serial [SERIAL]");
        s.add_filter(r#""serial": \d+"#, r#""serial": "[SERIAL]""#);
        s
    }
}

fn regex_escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn describe(cmd: &Command) -> String {
    let args: Vec<String> = cmd
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    format!("rotor {}", args.join(" "))
}

/// What one run of rotor printed, and how it exited.
pub struct Output {
    /// `rotor ARGS`, for failure messages.
    pub command: String,
    /// The exit code; -1 when killed by a signal.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn new(command: String, out: std::process::Output) -> Output {
        Output {
            command,
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
        }
    }

    /// Asserts the exit code.
    #[track_caller]
    pub fn code(self, expected: i32) -> Output {
        assert_eq!(self.code, expected, "unexpected exit code\n{self}");
        self
    }

    /// Asserts exit code 0.
    #[track_caller]
    pub fn success(self) -> Output {
        self.code(0)
    }

    /// Asserts exit code 1, rotor's code for every error.
    #[track_caller]
    pub fn failure(self) -> Output {
        self.code(1)
    }

    /// Asserts that stderr contains `text`.
    #[track_caller]
    pub fn stderr_has(self, text: &str) -> Output {
        assert!(
            self.stderr.contains(text),
            "stderr should contain {text:?}\n{self}"
        );
        self
    }

    /// Asserts that stdout contains `text`.
    #[track_caller]
    pub fn stdout_has(self, text: &str) -> Output {
        assert!(
            self.stdout.contains(text),
            "stdout should contain {text:?}\n{self}"
        );
        self
    }

    /// Asserts that stdout or stderr contains each of `texts`.
    #[track_caller]
    pub fn says<T: AsRef<str>>(self, texts: &[T]) -> Output {
        let all = format!("{}{}", self.stdout, self.stderr);
        for text in texts {
            let text = text.as_ref();
            assert!(all.contains(text), "{text:?} missing\n{self}");
        }
        self
    }

    /// Stdout, parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON: {e}\n{self}"))
    }

    /// The form snapshots take: exit code, stdout, stderr.
    pub fn snapshot(&self) -> String {
        format!(
            "exit code: {}\n----- stdout -----\n{}\n----- stderr -----\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "$ {}\n{}", self.command, self.snapshot())
    }
}

/// Collects a background rotor's output once it has exited.
pub fn finish(child: Child, command: &str) -> Output {
    let out = child.wait_with_output().expect("wait for rotor");
    Output::new(command.to_string(), out)
}

/// Polls `check` every 50ms until it returns `Some`, for at most `limit`.
#[track_caller]
pub fn poll<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Milliseconds since the epoch of an RFC 3339 UTC timestamp as rotor writes
/// it (`2026-11-26T14:00:05.123Z`, milliseconds optional).
#[track_caller]
pub fn millis(value: &serde_json::Value) -> i64 {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{value} is not a timestamp string"));
    let bad = || -> ! { panic!("{text} is not an RFC 3339 UTC timestamp") };
    let (date, time) = text.split_once('T').unwrap_or_else(|| bad());
    let time = time.strip_suffix('Z').unwrap_or_else(|| bad());
    let n = |s: &str| s.parse::<i64>().unwrap_or_else(|_| bad());
    let d: Vec<i64> = date.split('-').map(n).collect();
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let t: Vec<i64> = hms.split(':').map(n).collect();
    let ms = n(&format!("{frac:0<3}")[..3]);
    // Days from civil (Howard Hinnant).
    let (y, m) = if d[1] <= 2 {
        (d[0] - 1, d[1])
    } else {
        (d[0], d[1])
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d[2] - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 24 + t[0]) * 60 + t[1]) * 60_000 + t[2] * 1000 + ms
}

#[test]
fn millis_reads_rotor_timestamps() {
    use serde_json::json;
    assert_eq!(millis(&json!("1970-01-01T00:00:00Z")), 0);
    assert_eq!(millis(&json!("1970-01-02T00:00:01.5Z")), 86_401_500);
    assert_eq!(
        millis(&json!("2026-11-26T01:42:52.565Z")),
        1_795_657_372_565
    );
}
