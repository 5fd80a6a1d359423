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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts() {
        let s = SecretValue::new(b"canary-7f3a".to_vec());
        assert_eq!(format!("{s:?}"), "SecretValue(<redacted>)");
        assert!(!format!("{s:?}").contains("canary"));
        assert_eq!(s, SecretValue::new(b"canary-7f3a".to_vec()));
        assert_ne!(s, SecretValue::new(b"canary-7f3b".to_vec()));
    }
}
