//! The `vault` store against a real OpenBao dev server, which `scripts/test`
//! starts (`scripts/services/openbao`) and points at with `VAULT_ADDR` and
//! `VAULT_TOKEN`. Each test uses its own KV path, so they run in parallel.

use crate::harness::{Output, QUICKSTART, ROTATE_FROM, ROTATE_TO, Test};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU32, Ordering};

const FAMILY: &str = "session_signing_key";

/// `VAULT_ADDR` and `VAULT_TOKEN`; missing is a failure, not a skip.
fn server() -> (String, String) {
    let get = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: run scripts/test, which starts OpenBao and sets VAULT_ADDR and VAULT_TOKEN")
        })
    };
    (get("VAULT_ADDR"), get("VAULT_TOKEN"))
}

/// A KV path no other test (or run) uses.
pub(crate) fn unique_path() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "rotor-e2e-{}-{}-{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A minimal HTTP/1.1 client for the test's own calls to the server (plain http only).
pub(crate) fn http(method: &str, path: &str, token: &str, body: Option<&Value>) -> (u16, Value) {
    let (addr, _) = server();
    let host = addr
        .strip_prefix("http://")
        .expect("VAULT_ADDR is http://…")
        .trim_end_matches('/');
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut stream = TcpStream::connect(host).unwrap_or_else(|e| panic!("connect {host}: {e}"));
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nX-Vault-Token: {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, rest) = response.split_once("\r\n\r\n").expect("an HTTP response");
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let text = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n").unwrap();
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
}

fn root() -> String {
    server().1
}

/// The family's KV secret: (document, KV version).
fn document(path: &str) -> (Value, u64) {
    let (status, body) = http(
        "GET",
        &format!("/v1/secret/data/{path}/{FAMILY}"),
        &root(),
        None,
    );
    assert_eq!(status, 200, "{body}");
    (
        body["data"]["data"].clone(),
        body["data"]["metadata"]["version"].as_u64().unwrap(),
    )
}

/// Writes the family's document behind rotor's back.
fn write_document(path: &str, doc: &Value, cas: u64) {
    let (status, body) = http(
        "POST",
        &format!("/v1/secret/data/{path}/{FAMILY}"),
        &root(),
        Some(&json!({ "options": { "cas": cas }, "data": doc })),
    );
    assert_eq!(status, 200, "{body}");
}

/// The quickstart on a vault store at `path`; the emitter probe passes
/// (the quickstart's reads the file store's `primary` file).
fn quickstart(address: &str, token: &str, path: &str) -> Test {
    let store = "store \"file\" \"local\" {\n  path = \".rotor/secrets\" # material lives here, files of mode 0600\n}";
    assert!(QUICKSTART.contains(store));
    let emit_probe = "command = [\"sh\", \"-c\", \"test \\\"$(cat .rotor/secrets/session_signing_key/primary)\\\" = \\\"$ROTOR_VERSION\\\"\"]";
    assert!(QUICKSTART.contains(emit_probe));
    let spec = QUICKSTART
        .replace(
            store,
            &format!(
                "store \"vault\" \"main\" {{\n  address = {address}\n  token   = {token}\n  mount   = \"secret\"\n  path    = \"{path}\"\n}}"
            ),
        )
        .replace("store         = store.file.local", "store         = store.vault.main")
        .replace(emit_probe, "command = [\"true\"]");
    Test::new().spec(&spec)
}

fn env_quickstart(path: &str) -> Test {
    server();
    quickstart("env(\"VAULT_ADDR\")", "env(\"VAULT_TOKEN\")", path)
}

#[test]
fn quickstart_rotates_on_openbao_and_really_destroys_the_old_material() {
    let path = unique_path();
    let t = env_quickstart(&path);
    t.run(["apply", "--auto-approve", "--wait"])
        .success()
        .stderr_has("Apply complete: 5 steps ran.");
    let (doc, _) = document(&path);
    assert_eq!(doc["primary"], "2026-08");
    assert!(
        doc["versions"]["2026-08"]["material"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );
    assert!(!t.exists(".rotor/secrets"), "nothing in the file store");

    t.edit(ROTATE_FROM, ROTATE_TO);
    t.run(["apply", "--auto-approve", "--wait"])
        .success()
        .stderr_has("Apply complete: 9 steps ran.");
    t.run(["plan", "--detailed-exitcode"])
        .success()
        .stdout_has("No changes. Every family matches its spec.");

    let (doc, current) = document(&path);
    assert_eq!(doc["primary"], "2026-11");
    let new = &doc["versions"]["2026-11"];
    assert_eq!(new["enabled"], true, "{doc:#}");
    assert!(new["material"].is_string(), "{doc:#}");
    assert_eq!(new["jwk"]["kty"], "RSA");
    let old = &doc["versions"]["2026-08"];
    assert_eq!(
        (&old["enabled"], &old["destroyed"]),
        (&json!(false), &json!(true))
    );
    assert!(
        old.get("material").is_none(),
        "tombstone keeps no material: {old:#}"
    );
    assert_eq!(doc["versions"].as_object().unwrap().len(), 2);

    // KV history that held 2026-08's material is destroyed too.
    let (status, meta) = http(
        "GET",
        &format!("/v1/secret/metadata/{path}/{FAMILY}"),
        &root(),
        None,
    );
    assert_eq!(status, 200, "{meta}");
    // The last KV version is the tombstone (no material of 2026-08); every
    // one before it is destroyed.
    for (n, v) in meta["data"]["versions"].as_object().unwrap() {
        let n: u64 = n.parse().unwrap();
        assert_eq!(
            v["destroyed"],
            n < current,
            "KV version {n} of {current}: {meta:#}"
        );
    }
    let state = t.show_json();
    assert_eq!(
        state["families"][FAMILY]["versions"]["2026-08"]["phase"],
        "destroyed"
    );
}

#[test]
fn an_unreachable_server_blocks_the_plan_naming_its_address() {
    // Port 1 on loopback: nothing listens there.
    let t = quickstart(
        "\"http://127.0.0.1:1\"",
        "env(\"VAULT_TOKEN\")",
        &unique_path(),
    );
    let out = t.run(["plan"]).failure();
    out.says(&[
        "cannot read",
        "store.vault.main is unavailable",
        "http://127.0.0.1:1",
    ]);
}

#[test]
fn a_read_only_token_is_denied_with_a_clear_message() {
    let (_, root_token) = server();
    let (status, body) = http(
        "PUT",
        "/v1/sys/policy/rotor-e2e-ro",
        &root_token,
        Some(&json!({ "policy": "path \"secret/*\" { capabilities = [\"read\", \"list\"] }" })),
    );
    assert!(status == 200 || status == 204, "{status} {body}");
    let (status, body) = http(
        "POST",
        "/v1/auth/token/create",
        &root_token,
        Some(&json!({ "policies": ["rotor-e2e-ro"], "ttl": "10m" })),
    );
    assert_eq!(status, 200, "{body}");
    let ro = body["auth"]["client_token"].as_str().unwrap().to_string();
    let path = unique_path();
    let t = quickstart("env(\"VAULT_ADDR\")", "env(\"ROTOR_E2E_RO_TOKEN\")", &path);
    let mut cmd = t.command(["apply", "--auto-approve", "--wait"]);
    cmd.env("ROTOR_E2E_RO_TOKEN", &ro);
    let out = Output::new("rotor apply".into(), cmd.output().unwrap()).failure();
    let want = format!("the token lacks permission on secret/{path}/{FAMILY}: check its policy");
    let out = out.says(&[&want]);
    assert!(
        !out.stderr.contains(&ro) && !out.stdout.contains(&ro),
        "token leaked\n{out}"
    );
}

#[test]
fn a_version_deleted_by_hand_is_reported_as_drift() {
    let path = unique_path();
    let t = env_quickstart(&path);
    t.run(["apply", "--auto-approve", "--wait"]).success();
    let (mut doc, version) = document(&path);
    doc["versions"].as_object_mut().unwrap().remove("2026-08");
    doc["primary"] = Value::Null;
    write_document(&path, &doc, version);
    t.run(["plan"]).failure().says(&[
        "drift: version 2026-08 is recorded in state (active) but missing from store.vault.main",
    ]);
}

/// A TCP forwarder to the OpenBao server that a test can take down and bring
/// back on the same port: the server "goes down" for rotor, for real sockets.
struct Proxy {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<TcpStream>>>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    fn start(port: u16) -> Proxy {
        use std::sync::atomic::AtomicBool;
        use std::sync::{Arc, Mutex};
        let (addr, _) = server();
        let target = addr
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let accept = {
            let (stop, conns) = (stop.clone(), conns.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let Ok((client, _)) = listener.accept() else {
                        std::thread::sleep(std::time::Duration::from_millis(10));
                        continue;
                    };
                    client.set_nonblocking(false).unwrap();
                    let Ok(upstream) = TcpStream::connect(&target) else {
                        continue;
                    };
                    let mut held = conns.lock().unwrap();
                    held.push(client.try_clone().unwrap());
                    held.push(upstream.try_clone().unwrap());
                    for (mut from, mut to) in [
                        (client.try_clone().unwrap(), upstream.try_clone().unwrap()),
                        (upstream, client),
                    ] {
                        std::thread::spawn(move || {
                            let _ = std::io::copy(&mut from, &mut to);
                            let _ = to.shutdown(std::net::Shutdown::Both);
                        });
                    }
                }
            })
        };
        Proxy {
            port,
            stop,
            conns,
            accept: Some(accept),
        }
    }

    /// Stops listening and cuts every open connection.
    fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.accept.take() {
            h.join().unwrap();
        }
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}

#[test]
fn the_server_going_down_mid_apply_is_a_clear_error_and_the_next_apply_resumes() {
    use crate::harness::{finish, poll};
    let path = unique_path();
    let mut proxy = Proxy::start(0);
    let address = format!("\"http://127.0.0.1:{}\"", proxy.port);
    let t = quickstart(&address, "env(\"VAULT_TOKEN\")", &path);
    t.run(["apply", "--auto-approve", "--wait"]).success();

    // Rotate; the server goes away once the new version is written and recorded.
    t.edit(ROTATE_FROM, ROTATE_TO);
    let child = t.spawn(["apply", "--auto-approve", "--wait"]);
    poll(
        std::time::Duration::from_secs(60),
        "2026-11 in state",
        || {
            t.state_file()
                .filter(|s| !s["families"][FAMILY]["versions"]["2026-11"].is_null())
        },
    );
    proxy.stop();
    let out = finish(child, "rotor apply (server down)").failure();
    out.says(&["store.vault.main is unavailable", "rotor apply"]);
    // State is consistent: the new version is recorded, the old one is still active.
    let state = t.show_json();
    let family = &state["families"][FAMILY];
    assert_eq!(family["active"], "2026-08", "{family:#}");
    assert_eq!(
        family["versions"]["2026-11"]["phase"], "pending",
        "{family:#}"
    );

    // Back on the same address: the next apply finishes the rotation.
    let port = proxy.port;
    drop(proxy);
    let _proxy = Proxy::start(port);
    t.run(["apply", "--auto-approve", "--wait"]).success();
    let (doc, _) = document(&path);
    assert_eq!(doc["primary"], "2026-11");
    assert_eq!(doc["versions"].as_object().unwrap().len(), 2, "{doc:#}");
    assert_eq!(doc["versions"]["2026-08"]["destroyed"], true, "{doc:#}");
    let state = t.show_json();
    assert_eq!(state["families"][FAMILY]["active"], "2026-11");
}

#[test]
fn the_vault_example_keeps_both_stores_identical_through_a_rotation() {
    server();
    let example = |name: &str| {
        std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../examples/vault")
                .join(name),
        )
        .unwrap()
    };
    let path = unique_path();
    let t = Test::new().spec(&example("rotor.hcl").replace("rotor-example", &path));
    t.write(
        "primary.py",
        &example("primary.py").replace("rotor-example", &path),
    );
    t.run(["apply", "--auto-approve", "--wait"]).success();
    t.edit(ROTATE_FROM, ROTATE_TO);
    t.run(["apply", "--auto-approve", "--wait"]).success();
    let state = t.show_json();
    assert_eq!(
        state["families"][FAMILY]["versions"]["2026-11"]["last_attempt"]["emit.auth_service"]["outcome"],
        "passed",
        "the emitter probe found the new primary in Vault"
    );
    let (doc, _) = document(&path);
    assert_eq!(doc["primary"], "2026-11");
    let keyset: Value =
        serde_json::from_str(&t.read(".rotor/secrets/session_signing_key/keyset.json")).unwrap();
    assert_eq!(keyset["primary"], "2026-11", "{keyset:#}");
    let file_versions = keyset["versions"].as_array().unwrap();
    assert_eq!(file_versions.len(), 1, "{keyset:#}");
    assert_eq!(
        file_versions[0]["fingerprint"], doc["versions"]["2026-11"]["fingerprint"],
        "both stores hold the same version"
    );
    assert_eq!(
        t.read(".rotor/secrets/session_signing_key/versions/2026-11.pem"),
        doc["versions"]["2026-11"]["material"].as_str().unwrap(),
        "and the same material"
    );
}
