//! The id of a probe's gate: how `rotor approve` names it, and the key the
//! state files its approvals, last attempts and baselines under.

use crate::names::ConsumerName;
use crate::spec::ProbePhase;
use std::fmt;
use std::str::FromStr;

/// A probe's gate: `accept.api_gateway`, or `emit.issuer#1` for the
/// consumer's second probe (by its place among the consumer's `verify`
/// blocks) that proves the phase.
///
/// Written by [`fmt::Display`] and read back by [`FromStr`], the one pair
/// that turns it into text and back: the state keeps the text as map keys,
/// byte for byte as earlier versions wrote it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GateId {
    /// The phase the probe proves.
    pub phase: ProbePhase,
    /// The consumer whose probe it is.
    pub consumer: ConsumerName,
    /// The probe's place among the consumer's `verify` blocks, from 0.
    pub index: usize,
}

impl GateId {
    /// The gate of `consumer`'s probe number `index` for `phase`.
    pub fn new(phase: ProbePhase, consumer: &ConsumerName, index: usize) -> GateId {
        GateId {
            phase,
            consumer: consumer.clone(),
            index,
        }
    }
}

impl fmt::Display for GateId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.phase.as_str(), self.consumer)?;
        if self.index > 0 {
            write!(f, "#{}", self.index)?;
        }
        Ok(())
    }
}

/// Why a text is not a gate id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a gate id: {reason}")]
pub struct GateIdError {
    /// The text given.
    pub text: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl FromStr for GateId {
    type Err = GateIdError;

    /// Reads `PHASE.CONSUMER` or `PHASE.CONSUMER#N`, only as
    /// [`fmt::Display`] writes it: a name cannot hold `#`, and a `#0` or
    /// `#01` is refused, so that equal ids are equal texts.
    fn from_str(text: &str) -> Result<GateId, GateIdError> {
        let fail = |reason| GateIdError {
            text: text.to_string(),
            reason,
        };
        let (phase, rest) = text
            .split_once('.')
            .ok_or_else(|| fail("it is written PHASE.CONSUMER, like `accept.api_gateway`"))?;
        let phase = ProbePhase::from_name(phase)
            .ok_or_else(|| fail("it starts with a phase: accept, emit, drain or guard"))?;
        let (consumer, index) = match rest.split_once('#') {
            None => (rest, 0),
            Some((consumer, n)) => {
                let index = n
                    .parse::<usize>()
                    .ok()
                    .filter(|i| *i > 0 && i.to_string() == n)
                    .ok_or_else(|| fail("the number after `#` counts probes from 1"))?;
                (consumer, index)
            }
        };
        if consumer.is_empty() {
            return Err(fail("it names no consumer after the phase"));
        }
        Ok(GateId {
            phase,
            consumer: consumer.into(),
            index,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads_the_ids_rotor_approve_takes() {
        for (text, id) in [
            (
                "accept.api_gateway",
                GateId::new(ProbePhase::Accept, &"api_gateway".into(), 0),
            ),
            (
                "emit.issuer#1",
                GateId::new(ProbePhase::Emit, &"issuer".into(), 1),
            ),
            (
                "guard.db.main#12",
                GateId::new(ProbePhase::Guard, &"db.main".into(), 12),
            ),
        ] {
            assert_eq!(id.to_string(), text);
            assert_eq!(text.parse::<GateId>(), Ok(id));
        }
    }

    #[test]
    fn refuses_what_display_never_writes() {
        for text in [
            "accept",
            "promote.api",
            "accept.",
            "accept.api#0",
            "accept.api#01",
            "accept.api#x",
            "accept.api#1#2",
        ] {
            assert!(text.parse::<GateId>().is_err(), "{text}");
        }
        assert_eq!(
            "hold.api".parse::<GateId>().unwrap_err().to_string(),
            "`hold.api` is not a gate id: it starts with a phase: accept, emit, drain or guard"
        );
    }
}
