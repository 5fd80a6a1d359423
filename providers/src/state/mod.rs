//! State backends: where rotor keeps what cannot be observed live.
//!
//! Each backend is one file here and implements [`rotor_engine::StateBackend`].

pub mod local;

pub use local::LocalState;

/// A fresh state lineage: a random UUID (version 4) from the OS random source.
///
/// A lineage is fixed when a state is created, so that a saved plan or a
/// backup from another state is recognised and refused.
pub fn new_lineage() -> String {
    let mut b = [0u8; 16];
    // The OS random source failing is not something rotor can work around;
    // every key it would generate next would fail the same way.
    getrandom::fill(&mut b).expect("the OS random source is unavailable");
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    let h = rotor_engine::state::hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lineages_look_like_uuids_and_differ() {
        let a = new_lineage();
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(a, new_lineage());
    }
}
