//! `rotor runbook`: the one-page runbook per family, as Markdown and as a
//! printable HTML page that a real headless Chromium renders to PDF.

use crate::harness::Test;
use std::process::Command;

/// The runbook's sections, in the field's order.
const SECTIONS: [&str; 9] = [
    "Scope",
    "Storage and distribution",
    "Consumers and blast radius",
    "Format and identification",
    "Rollout order",
    "Overlap window",
    "Verification",
    "Rollback",
    "Schedule and owner",
];

/// The quickstart with a review date that does not pass while these tests live.
fn quickstart() -> Test {
    Test::new().spec(&crate::harness::QUICKSTART.replace("2027-02-01", "2099-02-01"))
}

fn bootstrapped() -> Test {
    let t = quickstart();
    t.run(["apply", "--auto-approve", "--wait"]).success();
    t
}

#[test]
fn markdown_runbook_fills_every_field_from_spec_and_state() {
    let t = bootstrapped();
    let out = t.run(["runbook"]).success();
    let md = &out.stdout;
    let mut at = 0;
    for s in SECTIONS {
        let found = md[at..]
            .find(&format!("### {s}\n"))
            .unwrap_or_else(|| panic!("section {s} missing or out of order:\n{md}"));
        at += found;
    }
    // The rollout order is the real planner's next rotation, in order.
    let order: Vec<&str> = [
        "create next",
        "accept next by consumer.api_gateway",
        "promote next",
        "hold 2026-08",
        "revoke 2026-08",
        "destroy 2026-08",
    ]
    .into_iter()
    .collect();
    let mut at = md.find("### Rollout order").unwrap();
    for step in order {
        at += md[at..]
            .find(step)
            .unwrap_or_else(|| panic!("{step} missing or out of order:\n{md}"));
    }
    // Consumers, the floor and who sets it, probes, owner and schedule.
    for text in [
        "| consumer.api_gateway | verifier | 2s |",
        "| consumer.auth_service | emitter | 2s | 3s |",
        "Floor: 5s, set by consumer.auth_service (cache_ttl 2s + token_ttl 3s)",
        "| consumer.api_gateway | accept | command |",
        "Owner: team-identity",
        "Cadence: 90d",
        "Review by: 2099-02-01",
        "rotor rollback session_signing_key",
    ] {
        assert!(md.contains(text), "missing {text:?} in\n{md}");
    }
    // Where the spec is silent, the runbook says so.
    assert!(
        md.contains("no `blast_radius` for consumer.api_gateway"),
        "{md}"
    );
    assert!(md.contains("no `rollback` notes"), "{md}");
    t.settings()
        .bind(|| insta::assert_snapshot!("runbook_markdown", out.snapshot()));
}

#[test]
fn a_consumer_without_a_probe_is_a_stated_gap_and_hold_until_is_shown() {
    let spec = crate::harness::QUICKSTART
        .replace(
            "  verify \"command\" {\n    command = [\"sh\", \"-c\", \"grep",
            "  hold_until  = \"2099-01-01\"\n  hold_reason = \"app 4.2 caches keys for a month\"\n  verify \"command\" {\n    command = [\"sh\", \"-c\", \"grep",
        );
    assert_ne!(spec, crate::harness::QUICKSTART, "the edit applied");
    let emitter_probe = spec
        .find("  # Emission is proven")
        .expect("emitter probe comment");
    let end = spec[emitter_probe..].find("  }\n").unwrap() + emitter_probe + 4;
    let spec = format!("{}{}", &spec[..emitter_probe], &spec[end..]);
    let t = Test::new().spec(&spec);
    let md = t.run(["runbook", "session_signing_key"]).success().stdout;
    assert!(
        md.contains("no verification probe for consumer.auth_service (emit): emission would be assumed after its 2s cache window"),
        "{md}"
    );
    assert!(md.contains("held until 2099-01-01 00:00:00 UTC for consumer.api_gateway: app 4.2 caches keys for a month"), "{md}");
    assert!(md.contains("Not yet bootstrapped"), "{md}");
    t.run(["runbook", "session_signing_kee"])
        .failure()
        .stderr_has("did you mean `session_signing_key`?");
}

fn chromium() -> String {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return name.into();
        }
    }
    panic!(
        "the HTML runbook is checked in a real headless Chromium: install Debian's `chromium` (scripts/test does)"
    );
}

#[test]
fn html_runbook_renders_in_a_real_headless_browser() {
    let t = bootstrapped();
    let out = t.run(["runbook", "--format", "html"]).success();
    let html = &out.stdout;
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<h2>secret.session_signing_key</h2>"));
    assert!(!html.contains("<script"), "self-contained, no scripts");
    for s in SECTIONS {
        assert!(html.contains(&format!("<h3>{s}</h3>")), "{s}");
    }
    t.write("runbook.html", html);
    t.settings()
        .bind(|| insta::assert_snapshot!("runbook_html", out.snapshot()));

    let pdf = t.join("runbook.pdf");
    let profile = t.join("chromium-profile");
    let browser = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-pdf-header-footer",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", t.join("runbook.html").display()))
        .output()
        .expect("run chromium");
    assert!(
        browser.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&browser.stderr)
    );
    let bytes = std::fs::read(&pdf).expect("chromium wrote the PDF");
    assert!(bytes.starts_with(b"%PDF-"), "not a PDF");
    // A blank page is about 1 KiB; the runbook's text and tables are far more.
    assert!(
        bytes.len() > 10_000,
        "PDF of {} bytes: did the page render?",
        bytes.len()
    );
}
