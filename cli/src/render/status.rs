//! `rotor status`: one row per family, as a table or JSON.

use crate::style;
use rotor_engine::inventory::{FamilyStatus, Flag};
use rotor_engine::{Duration, Timestamp};

/// The JSON document: `{"format_version": "1.0", "families": [...]}`, each
/// family in the shape documented in `rotor_engine::inventory`.
pub fn json(families: &[FamilyStatus]) -> impl serde::Serialize + '_ {
    /// A struct rather than `json!`, to keep `format_version` first.
    #[derive(serde::Serialize)]
    struct Doc<'a> {
        format_version: &'static str,
        families: &'a [FamilyStatus],
    }
    Doc {
        format_version: "1.0",
        families,
    }
}

const HEADERS: [&str; 7] = [
    "FAMILY",
    "ACTIVE",
    "IN FLIGHT",
    "NEXT DUE",
    "OWNER",
    "REVIEW",
    "FLAGS",
];

/// The table, columns padded to their widest cell; colour (red overdue,
/// yellow due soon) is applied after padding so that it never shifts columns.
pub fn human(families: &[FamilyStatus], now: Timestamp) -> String {
    if families.is_empty() {
        return "No secret families in the spec.\n".into();
    }
    let rows: Vec<[String; 7]> = families.iter().map(|f| row(f, now)).collect();
    let mut widths = HEADERS.map(str::len);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: &[String; 7], paint: &dyn Fn(usize, &str) -> String| -> String {
        let last = cells.len() - 1;
        let mut l = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let padded = if i == last {
                cell.clone()
            } else {
                format!("{cell:<w$}  ", w = widths[i])
            };
            l.push_str(&paint(i, &padded));
        }
        l.trim_end().to_string() + "\n"
    };
    out.push_str(&line(&HEADERS.map(String::from), &|_, c| style::bold(c)));
    for (f, cells) in families.iter().zip(&rows) {
        let colour = |t: &str| -> String {
            if f.flags.contains(&Flag::Overdue) || f.flags.contains(&Flag::Blocked) {
                style::red(t)
            } else if f.flags.contains(&Flag::Due) {
                style::yellow(t)
            } else {
                t.to_string()
            }
        };
        out.push_str(&line(cells, &|i, c| match i {
            3 | 6 => colour(c),
            _ => c.to_string(),
        }));
    }
    out
}

fn row(f: &FamilyStatus, now: Timestamp) -> [String; 7] {
    let dash = || "-".to_string();
    let active = match (&f.active, f.active_age) {
        (Some(a), Some(age)) => format!("{a} ({})", coarse(age)),
        (Some(a), None) => a.to_string(),
        (None, _) => "none".into(),
    };
    let in_flight = f
        .in_flight
        .as_ref()
        .map_or_else(dash, |i| i.summary.clone());
    let next_due = match (f.next_due, f.cadence) {
        (Some(due), Some(c)) if due < now => {
            format!("{} ({} ago)", when(due, c), coarse(now - due))
        }
        (Some(due), Some(c)) => format!("{} (in {})", when(due, c), coarse(due - now)),
        (Some(due), None) => due.human(),
        (None, Some(c)) => format!("{c} after first promote"),
        (None, None) => "never (no cadence)".into(),
    };
    let flags = if f.flags.is_empty() {
        dash()
    } else {
        f.flags
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    [
        f.family.to_string(),
        active,
        in_flight,
        next_due,
        f.owner.clone().unwrap_or_else(dash),
        f.review_by.map_or_else(dash, |r| r.date()),
        flags,
    ]
}

/// A due time: its date, or the full time for a cadence under a day (where
/// the date alone would not say whether it has passed).
fn when(t: Timestamp, cadence: Duration) -> String {
    if cadence < Duration::seconds(86_400) {
        t.human()
    } else {
        t.date()
    }
}

/// A duration to its two largest units: `89d23h`, `4h12m`, `37s`.
pub fn coarse(d: Duration) -> String {
    const UNITS: [(&str, i64); 4] = [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ];
    let mut rest = d.as_millis().max(0);
    if rest < 1_000 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut parts = 0;
    for (unit, ms) in UNITS {
        if parts == 2 {
            break;
        }
        if rest >= ms {
            out.push_str(&format!("{}{unit}", rest / ms));
            rest %= ms;
            parts += 1;
        } else if parts == 1 {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::coarse;
    use rotor_engine::Duration;

    #[test]
    fn coarse_durations() {
        assert_eq!(coarse(Duration::seconds(0)), "0s");
        assert_eq!(coarse(Duration::seconds(37)), "37s");
        assert_eq!(coarse(Duration::seconds(4 * 3600 + 12 * 60 + 5)), "4h12m");
        assert_eq!(coarse(Duration::seconds(89 * 86_400 + 23 * 3600)), "89d23h");
        assert_eq!(coarse(Duration::seconds(86_400 + 5)), "1d");
    }
}
