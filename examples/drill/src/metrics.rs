//! `drill_verifications_total{kid, result}`: the counter every drill
//! service exports, in the Prometheus text format, for rotor's prometheus
//! probes to query.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// The metric's name.
pub const METRIC: &str = "drill_verifications_total";

/// Verification counts by kid (the version id) and result (`ok`, `rejected`).
#[derive(Debug, Default)]
pub struct Verifications {
    counts: Mutex<BTreeMap<(String, &'static str), u64>>,
}

impl Verifications {
    /// Counts one verification of a credential made with `kid` (empty when
    /// the credential named none, or matched no version).
    pub fn record(&self, kid: &str, ok: bool) {
        let result = if ok { "ok" } else { "rejected" };
        let mut counts = self.counts.lock().expect("metrics lock");
        *counts.entry((kid.to_string(), result)).or_default() += 1;
    }

    /// The Prometheus text exposition of the counters.
    pub fn render(&self) -> String {
        let counts = self.counts.lock().expect("metrics lock");
        let mut out = format!(
            "# HELP {METRIC} Credentials verified, by kid (version id) and result.\n# TYPE {METRIC} counter\n"
        );
        for ((kid, result), n) in counts.iter() {
            let kid = kid
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            let _ = writeln!(out, "{METRIC}{{kid=\"{kid}\",result=\"{result}\"}} {n}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_by_kid_and_result() {
        let m = Verifications::default();
        m.record("v1", true);
        m.record("v1", true);
        m.record("v\"2", false); // sorts before v1: '"' < '1'
        assert_eq!(
            m.render(),
            "# HELP drill_verifications_total Credentials verified, by kid (version id) and result.\n\
             # TYPE drill_verifications_total counter\n\
             drill_verifications_total{kid=\"v\\\"2\",result=\"rejected\"} 1\n\
             drill_verifications_total{kid=\"v1\",result=\"ok\"} 2\n"
        );
    }
}
