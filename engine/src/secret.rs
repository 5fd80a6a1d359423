//! [`SecretValue`]: the only type that carries key material.

use std::fmt;
use zeroize::Zeroize;

/// Material of one version: a private key in PEM, a random secret.
///
/// It cannot be printed (`Debug` redacts, there is no `Display`), cannot be
/// serialised (no `Serialize`), is compared in constant time and is zeroed when
/// dropped. The only way to the bytes is [`SecretValue::expose`], which a store
/// or a probe calls at the moment it hands them to the outside system.
pub struct SecretValue(Vec<u8>);

impl SecretValue {
    /// Wraps material.
    pub fn new(bytes: Vec<u8>) -> SecretValue {
        SecretValue(bytes)
    }

    /// The raw bytes; call only where the material leaves for a store or a probe.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Drop for SecretValue {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

impl PartialEq for SecretValue {
    fn eq(&self, other: &Self) -> bool {
        // Constant time in the contents; the length is not secret.
        self.0.len() == other.0.len()
            && self
                .0
                .iter()
                .zip(&other.0)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

impl Eq for SecretValue {}

/// The longest probe output rotor keeps or prints, in characters: the tail.
pub const KEPT_OUTPUT: usize = 200;

/// Shortest run of material that is redacted wherever it appears.
const WINDOW: usize = 16;

/// Makes text from outside (a probe's output) safe to print and store:
/// every run of 16 or more characters that also occurs in one of
/// `materials` (or in the body of a PEM among them) is replaced by
/// `[redacted]`, as is any line that looks like a PEM armour or body line,
/// and only the last [`KEPT_OUTPUT`] characters are kept.
pub fn redact(text: &str, materials: &[&SecretValue]) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut hidden = vec![false; chars.len()];
    // Every 16-character window of every material, PEM bodies also with
    // their line breaks taken out (a probe may print the key on one line).
    let mut windows = std::collections::HashSet::new();
    for m in materials {
        let Ok(m) = std::str::from_utf8(m.expose()) else {
            continue;
        };
        let joined: String = m
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<Vec<_>>()
            .concat();
        for form in [m, joined.as_str()] {
            let c: Vec<char> = form.chars().collect();
            for w in c.windows(WINDOW) {
                windows.insert(w.iter().collect::<String>());
            }
        }
    }
    if !windows.is_empty() {
        for start in 0..chars.len().saturating_sub(WINDOW - 1) {
            let w: String = chars[start..start + WINDOW].iter().collect();
            if windows.contains(&w) {
                hidden[start..start + WINDOW].fill(true);
            }
        }
    }
    // PEM armour and base64 body lines, whatever key they belong to.
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let n = line.chars().count();
        let t = line.trim();
        let body = t.len() >= 40
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
        if body || (t.starts_with("-----") && t.contains("KEY")) {
            hidden[offset..offset + n].fill(true);
        }
        offset += n;
    }
    let mut out = String::new();
    let mut in_hidden = false;
    for (c, h) in chars.iter().zip(&hidden) {
        if *h {
            if !in_hidden {
                out.push_str("[redacted]");
            }
        } else {
            out.push(*c);
        }
        in_hidden = *h;
    }
    let count = out.chars().count();
    if count > KEPT_OUTPUT {
        let tail: String = out.chars().skip(count - KEPT_OUTPUT).collect();
        out = format!("…{tail}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_material_windows_and_pem_lines() {
        let key = SecretValue::new(
            b"-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgabcdefghijkl\nmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefgh\n-----END PRIVATE KEY-----\n"
                .to_vec(),
        );
        let secret = SecretValue::new(b"Zq8vN2kLm4pR7sT1uW3xY5zA".to_vec());
        let out = redact(
            "exit 1: got Zq8vN2kLm4pR7sT1uW3x and MIGHAgEAMBMGByqGSM49AgEGCCqG in the log",
            &[&key, &secret],
        );
        assert_eq!(out, "exit 1: got [redacted] and [redacted] in the log");
        // A PEM body line of a key rotor does not hold is hidden by its shape.
        let out = redact(
            "line\nQUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODkwYWJjZGVm\nend",
            &[],
        );
        assert_eq!(out, "line\n[redacted]end");
        // Short or ordinary output is left alone; long output keeps its tail.
        assert_eq!(redact("exit 0", &[&secret]), "exit 0");
        let long = "x ".repeat(300);
        assert_eq!(redact(&long, &[]).chars().count(), KEPT_OUTPUT + 1);
    }

    #[test]
    fn debug_redacts() {
        let s = SecretValue::new(b"canary-7f3a".to_vec());
        assert_eq!(format!("{s:?}"), "SecretValue(<redacted>)");
        assert!(!format!("{s:?}").contains("canary"));
        assert_eq!(s, SecretValue::new(b"canary-7f3a".to_vec()));
        assert_ne!(s, SecretValue::new(b"canary-7f3b".to_vec()));
    }
}
