//! The rules from the field, checked by `rotor validate` and before every plan.

use super::*;
use crate::diagnostics::{Diagnostic, did_you_mean};

pub(super) fn check(r: &Resolved, diags: &mut Diagnostics) {
    let spec = &r.spec;
    for c in &spec.consumers {
        if c.cache_ttl.is_none() {
            diags.push(
                Diagnostic::error(format!("consumer `{}` has no `cache_ttl`", c.name), Some(c.span.clone()))
                    .detail("every window rotor holds is derived from how long consumers cache what they read")
                    .hint("add `cache_ttl = \"5m\"` (how long it keeps a key set or credential before reading again; \"0s\" if it never caches)"),
            );
        }
        if c.accepts.is_empty() && c.emits.is_empty() {
            diags.push(
                Diagnostic::error(format!("consumer `{}` neither accepts nor emits a secret", c.name), Some(c.span.clone()))
                    .hint("add `accepts = secret.NAME` (it validates) and/or `emits = secret.NAME` (it signs or connects)"),
            );
        }
        if let Some(m) = &c.max_versions {
            if m.value == 0 {
                diags.push(Diagnostic::error(
                    "`max_versions` must be at least 1",
                    Some(m.span.clone()),
                ));
            } else if m.value == 1 && !c.accepts.is_empty() {
                let waived = c
                    .flag_day_reason
                    .as_ref()
                    .is_some_and(|r| !r.value.trim().is_empty());
                if !waived {
                    diags.push(
                        Diagnostic::error(
                            format!("consumer `{}` holds one version at a time: rotating it is a flag day", c.name),
                            Some(m.span.clone()),
                        )
                        .detail("a verifier that can hold only one version rejects either the old or the new version during every rotation")
                        .hint("raise `max_versions`, or accept the outage in writing with `flag_day_reason = \"…\"`"),
                    );
                }
            }
        }
        if let Some(h) = &c.hold_until {
            let reasoned = c
                .hold_reason
                .as_ref()
                .is_some_and(|r| !r.value.trim().is_empty());
            if !reasoned {
                diags.push(
                    Diagnostic::error(
                        format!("consumer `{}` holds old versions until {} without a reason", c.name, h.value.date()),
                        Some(h.span.clone()),
                    )
                    .hint("add `hold_reason = \"…\"`: the next person must know why revokes wait (e.g. \"app 4.2 in the field caches keys for 30 days\")"),
                );
            }
        }
        for v in &c.verify {
            for phase in &v.on {
                let role = match phase {
                    ProbePhase::Accept => !c.accepts.is_empty(),
                    ProbePhase::Emit => !c.emits.is_empty(),
                    ProbePhase::Drain | ProbePhase::Guard => {
                        !c.accepts.is_empty() || !c.emits.is_empty()
                    }
                };
                if !role {
                    diags.push(
                        Diagnostic::error(
                            format!(
                                "probe checks `{}` but consumer `{}` does not {}",
                                phase.as_str(),
                                c.name,
                                phase.as_str()
                            ),
                            Some(v.span.clone()),
                        )
                        .hint("fix `on`, or the consumer's `accepts`/`emits`"),
                    );
                }
            }
        }
    }
    for p in &spec.publishers {
        let Some(secret) = p
            .secret
            .as_ref()
            .and_then(|s| r.family_by_name(s.path.join(".").as_str()))
            .map(|f| &spec.secrets[f.secret])
        else {
            continue;
        };
        if p.kind == "jwks"
            && secret
                .generate
                .as_ref()
                .is_some_and(|g| !g.value.is_asymmetric())
        {
            diags.push(
                Diagnostic::error(
                    format!(
                        "`{}` publishes `{}`, whose versions ({}) have no public key",
                        p.address(),
                        secret.address(),
                        secret.generate.as_ref().map_or(String::new(), |g| g.value.to_string())
                    ),
                    Some(p.span.clone()),
                )
                .hint("a JWKS publishes public keys: use `generate \"rsa\"` or `generate \"ec\"`, or remove the publisher"),
            );
        }
    }
    for family in &r.families {
        family_rules(r, family, diags);
    }
}

fn family_rules(r: &Resolved, family: &Family, diags: &mut Diagnostics) {
    let s = &r.spec.secrets[family.secret];
    match (&s.active, s.versions.is_empty()) {
        (_, true) => diags.push(
            Diagnostic::error(
                format!("secret `{}` declares no versions", s.name),
                Some(s.span.clone()),
            )
            .detail("removing every version would leave consumers with nothing to accept")
            .hint("declare one with `version \"2026-11\" {}` and set `active = \"2026-11\"`"),
        ),
        (None, false) => diags.push(
            Diagnostic::error(
                format!("secret `{}` has no `active` version", s.name),
                Some(s.span.clone()),
            )
            .hint(format!(
                "add `active = \"{}\"`: the version emitters use",
                s.versions.last().expect("non-empty").id
            )),
        ),
        (Some(a), false) if !s.declares(&a.value) => {
            let ids: Vec<&str> = s.versions.iter().map(|v| v.id.as_str()).collect();
            diags.push(
                Diagnostic::error(
                    format!(
                        "`active` names version `{}`, which is not declared",
                        a.value
                    ),
                    Some(a.span.clone()),
                )
                .hint(match did_you_mean(a.value.as_str(), ids.iter().copied()) {
                    Some(m) => format!("did you mean `{m}`?"),
                    None => format!(
                        "declared versions: {}; or add `version \"{}\" {{}}`",
                        ids.join(", "),
                        a.value
                    ),
                }),
            );
        }
        _ => {}
    }
    let floor = r.overlap_floor(family);
    if let Some(o) = &s.overlap
        && o.value < floor.length
    {
        diags.push(
                Diagnostic::error(
                    format!("`overlap` of {} is shorter than the floor of {}", o.value, floor.length),
                    Some(o.span.clone()),
                )
                .label(format!("floor set by {}", floor.set_by))
                .detail("the old version must stay accepted until every emitter has switched and every token it signed has expired")
                .hint(format!("set `overlap = \"{}\"` or more, or lower that consumer's TTLs", floor.length)),
            );
    }
    if family.verifiers.is_empty() && family.emitters.is_empty() {
        diags.push(
            Diagnostic::warning(format!("secret `{}` has no consumers", s.name), Some(s.span.clone()))
                .detail("rotation without inventory misses someone: rotor cannot hold windows for consumers it does not know")
                .hint("declare each service that reads it with a `consumer` block"),
        );
    }
    if s.owner.is_none() {
        diags.push(
            Diagnostic::warning(
                format!("secret `{}` has no owner", s.name),
                Some(s.span.clone()),
            )
            .hint("add `owner = \"team-…\"`: someone must answer when rotation stalls"),
        );
    }
    if s.cadence.is_none() {
        diags.push(
            Diagnostic::warning(
                format!("secret `{}` has no cadence", s.name),
                Some(s.span.clone()),
            )
            .hint("add `cadence = \"90d\"`: when the next rotation is due"),
        );
    }
}
